"""Regularized evolution with live training: each query trains its cell under the shipped
table's protocol (NB201 cell over none, skip, 3x3 conv and 3x3 average pooling, N=1, C=8,
the animal silhouettes at 8x8, 10 epochs).

Command:
  python -m experiments.discrete --config=experiments/configs/discrete_rea_live.py \
      --workdir=runs/discrete_rea_live
  (another space's data or protocol: --config.estimator.protocol.KEY=VALUE; another strategy:
  --config.strategy_name=random)

The estimator is ``nas_jax.estimators.TrainEstimator``: the population trainer, one
compiled program for every cell, so the search compiles once. A query costs what a member
of the table cost, about 14 s of training plus evaluation on a 2-core CPU (8.4 wall s per
member with two build processes), so the 50 queries here take about 12-15 minutes. There is no table behind it, so
the run reports the best cell found and its test accuracy, without a percentile or regret;
look the cell up in the shipped table (``experiments.reports.table_report --cell=...``) to compare.
The run checkpoints and resumes like every discrete search.
"""

from experiments.configs import discrete_rea


def get_config(arg=None):
  c = discrete_rea.get_config(arg)
  c.estimator_name = 'train'
  c.estimator = discrete_rea.estimator_section('train')
  c.budget = 50.0
  c.report_at = (25, 50)
  c.checkpoint_every = 5
  return c
