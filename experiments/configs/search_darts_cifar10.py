"""DARTS search on CIFAR-10 with the paper's settings (Liu et al., ICLR 2019).

Commands:
  1st order:
    python -m experiments.search --config=experiments/configs/search_darts_cifar10.py --workdir=runs/darts1
  2nd order:
    python -m experiments.search --config=experiments/configs/search_darts_cifar10.py:order=2 --workdir=runs/darts2

Settings: 8 cells, C=16, batch 64, 50 epochs, SGD 0.025 -> 0.001 (cosine),
momentum 0.9, wd 3e-4, clip 5; arch Adam 3e-4, betas (0.5, 0.999), wd 1e-3;
train[:50%] trains the weights, train[50%:] the architecture.

Expected result (paper, after retraining the found cell for 600 epochs with
20 cells, C=36): 3.00 +/- 0.14 % test error for 1st order and
2.76 +/- 0.09 % for 2nd order (DARTS_V2).

Published cost: 1.5 GPU-days (1st order) and 4 GPU-days (2nd order) on a
1080Ti. On this project's 2-core CPU a 1st-order step takes about 36 s (the
README's performance table: 19,500 steps, about 8 days), so the full search is
a GPU job.

The node-to-node edges are unrolled (``node_edges='unroll'``): measured on
the 2-core CPU, it compiles in about 2 minutes instead of 1 and then runs
about 6 % faster per step, which pays for itself within the first epoch.

CIFAR-10 must be prepared in TFDS' data_dir beforehand (this machine is offline).
"""

from experiments.configs import common


def get_config(arg=None):
  """``arg``: optional ``order=2`` (or ``order=1``)."""
  c = common.search_defaults()
  c.node_edges = 'unroll'
  if arg:
    for item in arg.split(','):
      key, _, value = item.partition('=')
      if key != 'order' or value not in ('1', '2'):
        raise ValueError(f'unknown config variant {item!r}; use order=1 or order=2')
      c.order = int(value)
  return c
