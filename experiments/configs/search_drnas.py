"""DrNAS search (Chen et al., ICLR 2021): Dirichlet op weights.

Commands:
  DARTS space: python -m experiments.search --config=experiments/configs/search_drnas.py:darts --workdir=runs/drnas_darts
  NB201 space: python -m experiments.search --config=experiments/configs/search_drnas.py:nb201 --workdir=runs/drnas_nb201

Settings (the DrNAS code): concentrations elu(alpha) + 1, one Dirichlet
sample per cell type and forward pass, pathwise gradients; the L2
regularizer at scale 1e-3 (the code applies it as Adam weight decay on
alpha; here it is the strategy's regularizer and arch_weight_decay is 0);
arch Adam 3e-4 (NB201) / 6e-4 (DARTS space), betas (0.5, 0.999); NB201:
100 epochs, batch 64; DARTS space: 50 epochs, C=36, 20 cells, batch 64, lr
0.1, partial channels 6 (without the progressive schedule, not implemented).

Expected result (published): NB201 CIFAR-10 94.36 +- 0.00 %; DARTS space
2.54 +- 0.03 % test error with 4.0 M parameters (without progressive
learning; 2.46 % with it).

Cost: a GPU job at paper size (``common.PAPER_COST``).
"""

from experiments.configs import common


def get_config(arg=None):
  """``arg``: 'darts' (default) or 'nb201'."""
  darts = dict(
      epochs=50,
      init_channels=36,
      layers=20,
      learning_rate=0.1,
      arch_learning_rate=0.0006,
      strategy=dict(partial_channels=6),
  )
  settings = dict(arch_weight_decay=0.0, strategy=dict(reg='l2', reg_scale=0.001))
  return common.paper_search('drnas', arg, settings, nb201={'epochs': 100}, darts=darts)
