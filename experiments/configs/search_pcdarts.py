"""PC-DARTS search (Xu et al., ICLR 2020): partial channels and edge normalization.

Commands:
  DARTS space: python -m experiments.search --config=experiments/configs/search_pcdarts.py:darts --workdir=runs/pcdarts_darts
  NB201 space: python -m experiments.search --config=experiments/configs/search_pcdarts.py:nb201 --workdir=runs/pcdarts_nb201

Settings (the PC-DARTS code): K=4 partial channels; edge weights beta;
alpha and beta frozen for the first 15 epochs; batch 256; SGD 0.1 cosine ->
0 (here 0.001), momentum 0.9, wd 3e-4, clip 5; arch Adam 6e-4, betas
(0.5, 0.999), wd 1e-3; 50 epochs, 8 cells, C=16.

Expected result (published): DARTS space 2.57 +- 0.07 % test error with
3.6 M parameters (the PC_DARTS genotype ships in nas_jax.spaces.darts.genotype); NB201
CIFAR-10 93.41 +- 0.30 %.

Cost: a GPU job at paper size (``common.PAPER_COST``).
"""

from experiments.configs import common


def get_config(arg=None):
  """``arg``: 'darts' (default) or 'nb201'."""
  settings = dict(
      strategy=dict(partial_channels=4),
      arch_warmup_epochs=15,
      batch_size=256,
      learning_rate=0.1,
      arch_learning_rate=0.0006,
  )
  return common.paper_search('pcdarts', arg, settings)
