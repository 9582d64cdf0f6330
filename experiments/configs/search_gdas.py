"""GDAS search (Dong & Yang, CVPR 2019): one Gumbel-sampled op per edge.

Commands:
  DARTS space: python -m experiments.search --config=experiments/configs/search_gdas.py:darts --workdir=runs/gdas_darts
  NB201 space: python -m experiments.search --config=experiments/configs/search_gdas.py:nb201 --workdir=runs/gdas_nb201

Settings (the GDAS code): tau 10 -> 0.1 linearly over the epochs; arch Adam
3e-4, betas (0.5, 0.999), wd 1e-3; SGD 0.025 -> 0.001, momentum 0.9, wd 5e-4
(Nesterov in the code), clip 5; 250 epochs; DARTS space: batch 256, 6 cells
(N=2 per stage), C=16; NB201: batch 64, C=16, N=5.

Expected result (published): NB201 CIFAR-10 test accuracy 93.61 +- 0.09 %
(NB201 paper); DARTS space 2.93 % test error with 3.4 M parameters after the
usual 600-epoch retraining.

Cost: a GPU job at paper size (``common.PAPER_COST``).
"""

from experiments.configs import common


def get_config(arg=None):
  """``arg``: 'darts' (default) or 'nb201'."""
  return common.paper_search(
      'gdas', arg, dict(epochs=250, weight_decay=0.0005), darts={'batch_size': 256, 'layers': 6}
  )
