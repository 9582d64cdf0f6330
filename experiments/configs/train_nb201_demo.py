"""Demo retraining of a NAS-Bench-201 cell on the offline MNIST-5k dataset (2 CPU cores).

Command:
  python -m experiments.train --config=experiments/configs/train_nb201_demo.py \
      --workdir=runs/demo/train_nb201 \
      --config.genotype='|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'

Data: the 4,000 training images of the bundled MNIST-5k subset at 16x16;
the 1,000 test images for the test accuracy. Network: the NB201 network
with N=1 cell per stage and C=8 (8, 16, 32 channels); no auxiliary head, no
drop path, no cutout. Optimizer: NB201's (SGD, Nesterov momentum 0.9, weight
decay 5e-4, learning rate 0.1 cosine to 0, no clipping); 2 epochs of 62 steps
at batch 64.

Expected cost and result on a 2-core CPU (measured, cold compilation cache):
about 40 s wall (8.6 s of it compiling the step, 17 s training) and 0.79
test accuracy at seed 0 (0.85 and 0.90 at seeds 1 and 2: two epochs of a
0.055 M-parameter network are noisy).
"""

from experiments.configs import common


def get_config(arg=None):
  del arg
  c = common.train_defaults()
  common.set_component(c, 'space', 'nb201')  # its one network, 'nb201'
  c.genotype = (
      '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+'
      '|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
  )
  c.dataset = 'mnist5k'
  c.image_size = 16
  c.layers = 1  # cells per stage N
  c.init_channels = 8  # C
  c.batch_size = 64
  c.epochs = 2
  c.learning_rate = 0.1
  c.learning_rate_min = 0.0
  c.momentum = 0.9
  c.nesterov = True
  c.weight_decay = 5e-4
  c.grad_clip = 0.0
  c.auxiliary_weight = 0.0
  c.drop_path_prob = 0.0
  c.cutout_length = 0
  c.scan_cells = False  # XLA:CPU runs convolutions inside a scan ~50x slower
  c.checkpoint_every = 20
  c.log_every = 20
  return c
