"""beta-DARTS search (Ye et al., CVPR 2022): the beta-decay regularization.

Commands:
  DARTS space: python -m experiments.search --config=experiments/configs/search_beta_darts.py:darts --workdir=runs/beta_darts_darts
  NB201 space: python -m experiments.search --config=experiments/configs/search_beta_darts.py:nb201 --workdir=runs/beta_darts_nb201

Settings (the beta-DARTS code): lambda * mean_e logsumexp(alpha_e) added to
the architecture loss, lambda rising linearly 0 -> 50 over the epochs; NB201:
100 epochs, batch 64, SGD 0.025, arch Adam 3e-4, wd 1e-3; DARTS space: 50
epochs otherwise as DARTS.

Expected result (published): NB201 CIFAR-10 94.36 +- 0.00 %; DARTS space
2.53 +- 0.08 % test error.

Cost: a GPU job at paper size (``common.PAPER_COST``).
"""

from experiments.configs import common


def get_config(arg=None):
  """``arg``: 'darts' (default) or 'nb201'."""
  return common.paper_search(
      'beta_darts', arg, dict(strategy=dict(beta_decay_max=50.0)), nb201={'epochs': 100}
  )
