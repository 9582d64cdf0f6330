"""FairDARTS search (Chu et al., ECCV 2020): sigmoid op weights and the zero-one loss.

Commands:
  DARTS space: python -m experiments.search --config=experiments/configs/search_fairdarts.py:darts --workdir=runs/fairdarts_darts
  NB201 space: python -m experiments.search --config=experiments/configs/search_fairdarts.py:nb201 --workdir=runs/fairdarts_nb201

Settings (the FairDARTS code): independent sigmoids, zero-one loss weight
10; no `none` op (7 ops in the DARTS space, 4 in NB201); arch Adam 3e-3,
betas (0.9, 0.999), wd 1e-3; SGD 0.005 -> 0.001, batch 128, 50 epochs, wd 3e-4.

Expected result (published): DARTS space 2.54 +- 0.05 % test error with
about 3.3 M parameters. NB201 is not reported in the paper.

Cost: a GPU job at paper size (``common.PAPER_COST``).
"""

from experiments.configs import common
from nas_jax import spaces


def get_config(arg=None):
  """``arg``: 'darts' (default) or 'nb201'."""
  settings = dict(
      strategy=dict(zero_one_weight=10.0),
      arch_learning_rate=0.003,
      arch_beta1=0.9,
      learning_rate=0.005,
  )
  without_none = {
      name: {
          'space': {
              'primitives': tuple(p for p in spaces.get(name).default_primitives if p != 'none')
          }
      }
      for name in spaces.NETWORK_NAMES
  }
  return common.paper_search('fairdarts', arg, dict(settings, batch_size=128), **without_none)
