"""Demo retraining on the offline MNIST-5k dataset, sized for 2 CPU cores.

Command:
  python -m experiments.train --config=experiments/configs/train_demo.py --workdir=runs/demo/train \
      --config.genotype=runs/demo/search/genotype.json

Data: the 4,000 training images of the bundled MNIST-5k subset at 16x16;
the 1,000 test images for the test accuracy. Network: 6 cells, C=16, the
auxiliary head (weight 0.4), drop path 0.2 and cutout 4; 3 epochs of 62
steps at batch 64.

Expected cost and result on a 2-core CPU (measured, cold compilation cache):
about 60 s (the first epoch about 30 s with the compile, then 15 s per epoch;
2026-12-01) and 0.94-0.96 test accuracy (searched cell 0.947, random cell 0.939
in `make demo`).
"""

from experiments.configs import common, train_nb201_demo

OTHER_SPACES = {'nb201': train_nb201_demo.get_config}  # the demo retraining in another space


def get_config(arg=None):
  """``arg``: the space whose demo retraining to give, 'darts' (default) or 'nb201'
  (``train_nb201_demo``)."""
  if arg in OTHER_SPACES:
    return OTHER_SPACES[arg]()
  if arg not in (None, '', 'darts'):
    raise ValueError(f'unknown config variant {arg!r}; use :darts or :nb201')
  c = common.train_defaults()
  c.dataset = 'mnist5k'
  c.image_size = 16
  c.layers = 6
  c.init_channels = 16
  c.batch_size = 64
  c.epochs = 3
  c.cutout_length = 4
  c.checkpoint_every = 20
  c.log_every = 20
  return c
