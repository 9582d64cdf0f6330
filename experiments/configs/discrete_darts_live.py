"""Discrete search in the DARTS space with live training, at demo size.

Command (``:rea`` or ``:random``; the strategy's paper defaults):
  python -m experiments.discrete --config=experiments/configs/discrete_darts_live.py:rea \
      --workdir=runs/darts_live/rea_0 [--config.seed=1]

Each query trains its cell from scratch (``nas_jax.estimators.TrainEstimator`` with the
DARTS arch network, one compiled program for every cell of the space) on the offline
MNIST-5k data at 16x16: 5 cells, C=8, the 8 DARTS ops, one epoch of 46 steps at batch 64
(NB201's SGD recipe), and is scored by its validation accuracy; the answer is the cell with
the best validation accuracy. ``experiments.reports.discrete_live`` runs REA against random
search at the same budget over several seeds and retrains every answer as ``make demo``
retrains its cell (``experiments/configs/train_demo.py``).

Expected cost on a 2-core CPU (2026-12-02): the arch network compiles in about 4 minutes
(once; the persistent compilation cache keeps it), then a query takes about 12 s (9 s of
training, 3 s of evaluation), so the 24 queries take about 5 minutes. Expected result: the
best validation accuracy after 24 queries is about 0.92 for either strategy; see the
README's live DARTS table for the measured one.
"""

import ml_collections

from experiments.configs import common, discrete_rea

STRATEGIES = ('rea', 'random')


def get_config(arg=None):
  strategy = arg or 'rea'
  if strategy not in STRATEGIES:
    raise ValueError(f'discrete_darts_live takes one of {STRATEGIES}, got {strategy!r}')
  c = discrete_rea.get_config()
  # the strategy's paper defaults (REA: P=10, S=3)
  common.set_component(c, 'strategy', strategy, registry='discrete_strategy')
  c.estimator_name = 'train'
  c.estimator = discrete_rea.estimator_section('train')
  common.set_component(c.estimator, 'space', 'darts')  # the 8 DARTS ops, 4 steps, multiplier 4
  c.estimator.protocol = ml_collections.ConfigDict(
      dict(
          dataset='mnist5k',
          train_split='train[:75%]',
          val_split='train[75%:]',
          test_split='test',
          image_size=16,
          channels=8,
          cells_per_stage=5,  # the DARTS space's layers: 5 cells in all
          epochs=1,
          batch_size=64,
          eval_batch=500,
      )
  )
  c.budget = 24.0
  c.report_at = (12, 24)
  c.checkpoint_every = 2
  return c
