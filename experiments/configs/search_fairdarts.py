"""FairDARTS search (Chu et al., ECCV 2020): sigmoid op weights and the zero-one loss.

Commands:
  DARTS space: python -m experiments.search --config=experiments/configs/search_fairdarts.py:darts --workdir=runs/fairdarts_darts
  NB201 space: python -m experiments.search --config=experiments/configs/search_fairdarts.py:nb201 --workdir=runs/fairdarts_nb201

Settings (the FairDARTS code): independent sigmoids, zero-one loss weight
10; no `none` op (7 ops in the DARTS space, 4 in NB201); arch Adam 3e-3,
betas (0.9, 0.999), wd 1e-3; SGD 0.005 -> 0.001, batch 128, 50 epochs, wd 3e-4.

Expected result (published): DARTS space 2.54 +- 0.05 % test error with
about 3.3 M parameters. NB201 is not reported in the paper.

Cost on this project's 2-core CPU: the paper-size supernets are GPU jobs
(a DARTS-space step takes about 36 s here, see the README); the
``experiments.compare`` table runs every strategy at demo size instead.
CIFAR-10 must be prepared in TFDS' data_dir beforehand (this machine is offline).
"""

from experiments.configs import common
from nas_jax import spaces


def get_config(arg=None):
  """``arg``: 'darts' (default) or 'nb201'."""
  c = common.search_defaults()
  c.strategy = 'fairdarts'
  c.zero_one_weight = 10.0
  c.arch_learning_rate = 0.003
  c.arch_beta1 = 0.9
  c.learning_rate = 0.005
  c.batch_size = 128
  without_none = {
      name: {'primitives': tuple(p for p in spaces.get(name).default_primitives if p != 'none')}
      for name in spaces.NETWORK_NAMES
  }
  return common.space_variant(c, arg, **without_none)
