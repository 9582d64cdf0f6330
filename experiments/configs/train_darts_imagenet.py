"""Retraining a cell on ImageNet in the mobile setting (DARTS, Liu et al., ICLR 2019).

Command:
  python -m experiments.train --config=experiments/configs/train_darts_imagenet.py \
      --workdir=runs/darts_v2_imagenet --config.genotype=DARTS_V2

Settings (DARTS ``train_imagenet.py``): the two-stage stride-8 stem, 14 cells,
C=48, batch 128, 250 epochs, SGD 0.1 decayed by 0.97 per epoch, momentum 0.9,
wd 3e-5, clip 5, label smoothing 0.1, auxiliary weight 0.4, no drop path, no
cutout; 224x224 inputs.

Expected result (paper): 26.7 % top-1 / 8.7 % top-5 error for DARTS_V2 with
4.7 M parameters and 574 M multiply-adds (`python -m experiments.inspect
--genotype=DARTS_V2 --config=experiments/configs/train_darts_imagenet.py`
reports 4.719 M parameters and 530 M multiply-adds: the convolutions and the
classifier only). Published cost: about 12 GPU-days. ImageNet must be
prepared in TFDS' data_dir (``imagenet2012``) beforehand; the data pipeline
here holds whole splits in memory and resizes to a square, so a full ImageNet
run needs a streaming input pipeline first.
"""

from experiments.configs import common


def get_config(arg=None):
  del arg
  c = common.train_defaults()
  c.dataset = 'imagenet2012'
  c.image_size = 224
  c.train_split = 'train'
  c.test_split = 'validation'
  c.network = 'imagenet'  # the darts space's NetworkImageNet
  c.layers = 14
  c.init_channels = 48
  c.batch_size = 128
  c.epochs = 250
  c.learning_rate = 0.1
  c.lr_schedule = 'exponential'
  c.lr_decay = 0.97
  c.weight_decay = 3e-5
  c.label_smoothing = 0.1
  c.drop_path_prob = 0.0
  c.cutout_length = 0
  return c
