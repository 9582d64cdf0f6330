"""Learned predictors and learning-curve estimators on hand-made tables with a known order."""

import numpy as np
import pytest
from test_discrete import synthetic_table

from nas_jax import spaces
from nas_jax.estimators import curves, predictors, ranking
from nas_jax.tabular.table import Table

THREE = ('none', 'skip_connect', 'nor_conv_3x3')


@pytest.mark.parametrize('name', predictors.PREDICTORS)
def test_predictor_recovers_an_additive_order(name):
  """The target is additive over the one-hot encoding (a known order); trained on 60 cells,
  each predictor ranks the other 67 with Spearman > 0.8, and far above a shuffled target."""
  space = spaces.get('nb201', THREE)
  archs = list(space.unique().values())
  x = np.stack([space.encode(a, 'onehot') for a in archs])
  w = np.random.default_rng(0).normal(size=x.shape[1])
  y = x @ w
  train, test = np.arange(60), np.arange(60, len(archs))
  pred = predictors.fit_predict(name, x[train], y[train], x[test], seed=0)
  assert pred.shape == (len(test),)
  rho = ranking.correlations(pred, y[test])['spearman']
  assert rho > 0.8, (name, rho)
  shuffled = np.random.default_rng(1).permutation(y[train])
  noise = predictors.fit_predict(name, x[train], shuffled, x[test], seed=0)
  # (a constant prediction, the GP's answer to noise, ranks nothing: NaN, read as 0)
  assert abs(np.nan_to_num(ranking.correlations(noise, y[test])['spearman'])) < rho - 0.4
  with pytest.raises(ValueError, match='unknown predictor'):
    predictors.fit_predict('xgboost', x[train], y[train], x[test])


def test_learning_curves_read_the_table():
  space = spaces.get('nb201', THREE)
  t = synthetic_table(space, seeds=(0, 1))
  n = len(t)
  losses = np.stack([np.arange(n) + 10 * e + s for s in range(2) for e in range(2)]).reshape(
      2, 2, n
  )  # (seed, epoch, row)
  epoch = dict(t.epoch, train_loss=losses.transpose(2, 0, 1).astype(np.float32))
  t = Table(t.hashes, t.archs, t.seeds, epoch, t.seed, t.arch, t.metadata)
  # row r: loss r + 10 e + s; the seed mean at epoch e (1-based) is r + 10 (e - 1) + 0.5
  np.testing.assert_allclose(curves.sotl(t, 2), -(2 * np.arange(n) + 10 + 1.0))
  np.testing.assert_allclose(curves.sotl(t, 2, window=1), -(np.arange(n) + 10.5))
  np.testing.assert_allclose(curves.early_val(t, 1), t.values('val_acc', 1))
  np.testing.assert_allclose(curves.epoch_cost(t, 1), 5.0)  # 10 s for 2 epochs
  with pytest.raises(ValueError, match='epoch must be in 1..2'):
    curves.sotl(t, 3)


def tiny_report_table(path):
  """The synthetic 3-op table (validation accuracy = test accuracy) with the tiny protocol's
  data, saved at ``path``."""
  from test_tabular import TINY

  space = spaces.get('nb201', THREE)
  t = synthetic_table(space)
  protocol = dict(
      TINY, train_split='train[:128]', val_split='train[128:192]', test_split='test[:64]'
  )
  t = Table(
      t.hashes, t.archs, t.seeds, t.epoch, t.seed, t.arch, dict(t.metadata, protocol=protocol)
  )
  t.save(path)


def test_estimator_report_ranks_every_estimator_on_a_small_table(tmp_path):
  """``experiments.reports.estimator_report`` at tiny size: a synthetic table whose validation
  accuracy equals its test accuracy (so that row ranks perfectly), the tiny protocol's data
  for the proxies, two predictor sizes."""
  import os
  import subprocess
  import sys

  from test_discrete import ROOT

  tiny_report_table(tmp_path / 't.npz')
  out = tmp_path / 'report.md'
  cmd = [
      sys.executable,
      '-m',
      'experiments.reports.estimator_report',
      f'--table={tmp_path / "t.npz"}',
      '--predictor_seeds=1',
      '--train_sizes=10',
      '--batch=16',
      '--proxies=synflow,jacov',  # the cheap ones: test_proxies checks every proxy
      '--weight_sharing=spos',  # the supernet mapping is test_weight_sharing's
      '--spos_epochs=1',
      '--encodings=onehot',
      f'--out={out}',
  ]
  env = dict(os.environ, PYTHONPATH=ROOT)
  done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  text = out.read_text()
  assert '| table | val_acc (final epoch) | 1.000 | 1.000 | 1.00 |' in text
  for name in ('synflow', 'jacov'):
    assert f'| proxy | {name} |' in text, name
  for bn in ('inherited', 'recalibrated'):
    assert f'| sharing | SPOS (1 epochs), {bn} BN |' in text, bn
  for name in predictors.PREDICTORS:
    assert f'| {name} | onehot |' in text
