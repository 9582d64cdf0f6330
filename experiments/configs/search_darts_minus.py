"""DARTS- search (Chu et al., ICLR 2021): an auxiliary skip with a decaying coefficient.

Commands:
  DARTS space: python -m experiments.search --config=experiments/configs/search_darts_minus.py:darts --workdir=runs/darts_minus_darts
  NB201 space: python -m experiments.search --config=experiments/configs/search_darts_minus.py:nb201 --workdir=runs/darts_minus_nb201

Settings (the DARTS- code): every edge adds beta * skip(x), beta = (50 -
epoch) / 50; otherwise DARTS' first-order settings (50 epochs, batch 64,
SGD 0.025 -> 0.001, arch Adam 3e-4, wd 1e-3).

Expected result (published): DARTS space 2.59 +- 0.08 % test error with
3.5 M parameters; NB201 CIFAR-10 93.80 +- 0.40 %.

Cost: a GPU job at paper size (``common.PAPER_COST``).
"""

from experiments.configs import common


def get_config(arg=None):
  """``arg``: 'darts' (default) or 'nb201'."""
  return common.paper_search('darts_minus', arg, dict(strategy=dict(aux_skip_beta=1.0)))
