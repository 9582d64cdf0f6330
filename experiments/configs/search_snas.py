"""SNAS search (Xie et al., ICLR 2019): concrete op weights, one-level.

Commands:
  DARTS space: python -m experiments.search --config=experiments/configs/search_snas.py:darts --workdir=runs/snas_darts
  NB201 space: python -m experiments.search --config=experiments/configs/search_snas.py:nb201 --workdir=runs/snas_nb201

Settings (the SNAS code): one loss on the training batch updates weights
and alpha together; tau 1 -> 0.03 linearly; arch Adam 3e-4, betas
(0.5, 0.999), wd 1e-3; SGD 0.025 -> 0.001, momentum 0.9, wd 3e-4, clip 5;
batch 64, 150 epochs, 8 cells, C=16. The resource constraint is not
implemented (see nas_jax/strategies/snas.py).

Expected result (published): DARTS space 2.85 +- 0.02 % test error with
2.8 M parameters (moderate constraint); NB201 CIFAR-10 92.77 +- 0.83 %.

Cost: a GPU job at paper size (``common.PAPER_COST``).
"""

from experiments.configs import common


def get_config(arg=None):
  """``arg``: 'darts' (default) or 'nb201'."""
  return common.paper_search('snas', arg, dict(epochs=150))
