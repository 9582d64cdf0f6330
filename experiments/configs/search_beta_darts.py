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

Cost on this project's 2-core CPU: the paper-size supernets are GPU jobs
(a DARTS-space step takes about 36 s here, see the README); the
``experiments.compare`` table runs every strategy at demo size instead.
CIFAR-10 must be prepared in TFDS' data_dir beforehand (this machine is offline).
"""

from experiments.configs import common


def get_config(arg=None):
  """``arg``: 'darts' (default) or 'nb201'."""
  c = common.search_defaults()
  c.strategy = 'beta_darts'
  c.beta_decay_max = 50.0
  return common.space_variant(c, arg, nb201={'epochs': 100}, darts={})
