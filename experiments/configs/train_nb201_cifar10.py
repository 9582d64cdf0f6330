"""Retraining a NAS-Bench-201 cell on CIFAR-10 with the benchmark's recipe (Dong & Yang, ICLR 2020).

Command:
  python -m experiments.train --config=experiments/configs/train_nb201_cifar10.py \
      --workdir=runs/nb201_resnet \
      --config.genotype='|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'

Settings (NB201's "200-epoch" training): the NB201 network with N=5 cells per
stage and C=16 (16, 32, 64 channels); batch 256, 200 epochs, SGD with
Nesterov momentum 0.9, weight decay 5e-4, learning rate 0.1 cosine to 0, no
gradient clipping; random crop and flip, no cutout, no auxiliary head, no
drop path; the whole 50,000-image train split, tested on the 10,000 test
images. Two differences from the benchmark's code: the cosine learning rate
is stepped once per epoch (NB201 steps it per iteration), and a partial last
batch is dropped (195 steps per epoch instead of 196).

Expected result: about 94 % test accuracy for the default (ResNet-like)
cell; the NB201 paper lists 93.97 % for it and 94.37 % for the best cell of
the space. `python -m experiments.inspect --config=<this file> --genotype=...`
reports 0.802 M parameters and 114.0 M multiply-adds for it (1.532 M and
220.1 M for the all-nor_conv_3x3 cell, 0.073 M and 7.8 M for the all-none
cell).

Cost: 195 steps per epoch, 39,000 steps. On this project's 2-core CPU one
step of the default cell takes 13.1 s after a 12 s cold compile (measured;
25.7 s for the all-nor_conv_3x3 cell), about 6 days for the run, so the full
run is a GPU job (not measured here).

Rerunning the same command resumes from the newest checkpoint. CIFAR-10 must
be prepared in TFDS' data_dir beforehand (this machine is offline).
"""

from experiments.configs import common


def get_config(arg=None):
  del arg
  c = common.train_defaults()
  common.set_component(c, 'space', 'nb201')  # its one network, 'nb201'
  # The ResNet-like cell of the NB201 paper; pass any NB201 string or file instead.
  c.genotype = (
      '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+'
      '|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
  )
  c.layers = 5  # cells per stage N
  c.init_channels = 16  # C
  c.epochs = 200
  c.batch_size = 256
  c.learning_rate = 0.1
  c.learning_rate_min = 0.0
  c.lr_schedule = 'cosine'
  c.momentum = 0.9
  c.nesterov = True
  c.weight_decay = 5e-4
  c.grad_clip = 0.0
  c.auxiliary_weight = 0.0
  c.drop_path_prob = 0.0
  c.cutout_length = 0
  c.scan_cells = False  # XLA:CPU runs convolutions inside a scan ~50x slower
  c.checkpoint_every = 500
  return c
