"""Early stopping: the median rule by hand, and over a table replayed independently."""

import jax
import numpy as np
import pytest

from nas_jax import components, discrete, spaces
from nas_jax.estimators import TabularEstimator
from nas_jax.estimators.early_stopping import EarlyStopped, MedianStopping
from nas_jax.strategies import discrete as ds
from nas_jax.tabular.table import Table

SMALL = ('none', 'nor_conv_1x1')


@pytest.fixture(scope='module')
def table():
  """Three epochs, two seeds, random curves: val_acc, test_acc, train_loss, train seconds."""
  space = spaces.get('nb201', SMALL)
  unique = space.unique()
  hashes = sorted(unique)
  a = len(hashes)
  rng = np.random.default_rng(0)
  val = np.sort(rng.uniform(0.1, 0.9, size=(a, 2, 3)), axis=2).astype(np.float32)
  loss = np.sort(rng.uniform(0.2, 2.0, size=(a, 2, 3)), axis=2)[:, :, ::-1].astype(np.float32)
  epoch = dict(val_acc=val, test_acc=val[:, ::-1] * 0.9, train_loss=np.ascontiguousarray(loss))
  seconds = rng.uniform(3.0, 9.0, size=(a, 2)).astype(np.float32)
  meta = dict(space=space.name, primitives=list(space.primitives), hash_rule=space.hash_rule)
  archs = np.asarray([unique[h] for h in hashes])
  return Table(hashes, archs, (0, 1), epoch, {'train_seconds': seconds}, {}, meta)


def test_median_rule_by_hand():
  rule = MedianStopping(epoch=1, warmup=2, quantile=0.5)
  np.testing.assert_array_equal(rule.keep([0.0, -1.0]), [True, True])  # warming up
  rule.record([0.1, 0.3])
  assert rule.threshold() == pytest.approx(0.2)
  np.testing.assert_array_equal(rule.keep([0.15, 0.25, np.nan, 0.2]), [False, True, False, True])
  rule.record([0.15, 0.25, np.nan, 0.05])  # NaN skipped
  assert rule.seen == [0.1, 0.3, 0.15, 0.25, 0.05]
  assert rule.threshold() == pytest.approx(0.15)
  q = MedianStopping(epoch=2, warmup=0, quantile=0.75, signal='sotl')
  np.testing.assert_array_equal(q.keep([-5.0]), [True])  # no history yet
  curves = np.asarray([[1.0, 0.5, 0.1], [2.0, 1.0, 0.0]])
  np.testing.assert_allclose(q.signal(None, curves, 1.0), [-1.5, -3.0])
  np.testing.assert_allclose(
      MedianStopping(epoch=2).signal(curves, None, -1.0), [-0.5, -1.0]
  )  # a lower-is-better metric, negated
  for kwargs, match in (
      (dict(epoch=0), 'epoch must be a positive'),
      (dict(epoch=1, warmup=-1), 'warmup'),
      (dict(epoch=1, quantile=1.5), 'quantile'),
      (dict(epoch=1, signal='loss'), 'signal must be one of'),
  ):
    with pytest.raises(ValueError, match=match):
      MedianStopping(**kwargs)
  with pytest.raises(ValueError, match='must be below the epoch the search reads'):
    MedianStopping(epoch=3).check_epochs(3)


@pytest.mark.parametrize('signal', ['metric', 'sotl'])
def test_early_stopped_search_equals_a_numpy_replay_of_the_rule(table, signal):
  """REA over the table under the rule (epoch 1 of 3, warm-up 5, the median): every query,
  replayed from the table's arrays in NumPy at the seed its lookup drew, is stopped exactly
  when its signal falls below the median of the signals before it; a stopped query reads
  epoch 1 and is charged a third of its seconds, a finished one the last epoch and all."""
  base = TabularEstimator(table, seed='random')
  first = EarlyStopped(base, MedianStopping(epoch=1, warmup=5))
  first(table.archs[:3], jax.random.key(0))
  est = first.with_rule(MedianStopping(epoch=1, warmup=5, signal=signal))  # fresh history
  assert first.queries == 3 and first.rule.seen and not est.rule.seen
  space = table.space
  strategy = ds.get('rea', population=5, sample=2)
  key = jax.random.key(3)
  _, trace = discrete.run_python(strategy, est, space, key, 40)
  rows = np.asarray(base.rows(trace.archs))
  # the seed each query read: its round's estimator key, as run_python derives it
  _, loop_key = jax.random.split(key)
  columns = []
  for i in range(40):
    est_key = jax.random.split(jax.random.fold_in(loop_key, i))[1]
    columns.append(int(jax.random.bits(est_key, (1,))[0]) % 2)  # batch 1, two seeds
  columns = np.asarray(columns)
  val = table.epoch['val_acc'][rows, columns]  # (Q, 3)
  if signal == 'metric':
    signals = val[:, 0].astype(np.float64)
  else:
    signals = -table.epoch['train_loss'][rows, columns, 0].astype(np.float64)
  seconds = table.seed['train_seconds'][rows, columns]
  keep = np.asarray([i < 5 or signals[i] >= np.median(signals[:i]) for i in range(40)])
  assert 0 < (~keep).sum() < 35
  np.testing.assert_array_equal(np.asarray(trace.full), keep)
  np.testing.assert_allclose(trace.score, np.where(keep, val[:, 2], val[:, 0]), rtol=1e-6)
  np.testing.assert_allclose(trace.cost, np.where(keep, seconds, seconds / 3), rtol=1e-5)
  np.testing.assert_allclose(trace.report, table.values('test_acc')[rows], rtol=1e-6)
  assert est.stopped == (~keep).sum() and est.queries == 40
  # Hyperband-style asks at their own epochs pass through untouched
  direct = base(trace.archs[:4], key, np.asarray([1, 2, 3, 2]))
  wrapped = est(trace.archs[:4], key, np.asarray([1, 2, 3, 2]))
  np.testing.assert_allclose(wrapped.value, direct.value)


def test_early_stopped_refuses_what_it_cannot_stop(table):
  with pytest.raises(ValueError, match='single-objective'):
    EarlyStopped(TabularEstimator(table, objectives=('val_acc',)), MedianStopping(epoch=1))
  with pytest.raises(ValueError, match='must be below'):
    EarlyStopped(TabularEstimator(table, epoch=1), MedianStopping(epoch=1))
  t = table
  no_loss = Table(
      t.hashes,
      t.archs,
      t.seeds,
      {k: v for k, v in t.epoch.items() if k != 'train_loss'},
      t.seed,
      t.arch,
      t.metadata,
  )
  with pytest.raises(ValueError, match="'sotl' signal needs the table's train_loss"):
    EarlyStopped(TabularEstimator(no_loss), MedianStopping(epoch=1, signal='sotl'))
  with pytest.raises(ValueError, match='jit'):
    discrete.run(
        ds.get('random'),
        EarlyStopped(TabularEstimator(table), MedianStopping(1)),
        table.space,
        jax.random.key(0),
        4,
    )


def test_launcher_config_builds_the_rule_and_refuses_bad_ones():
  from experiments.configs import discrete_rea
  from nas_jax.config_checks import ConfigError

  c = discrete_rea.get_config()
  assert components.discrete_search(c)[1].__class__ is TabularEstimator  # epoch 0: off
  c.early_stop.update(epoch=2, warmup=4, quantile=0.25, signal='metric')
  _, est, _ = components.discrete_search(c)
  assert isinstance(est, EarlyStopped) and est.early_stop is est.rule
  rule = est.rule
  assert (rule.epoch, rule.warmup, rule.quantile, rule.signal_name) == (2, 4, 0.25, 'metric')
  # the wrapped estimator's attributes are the wrapper's (what the launcher reads)
  assert est.best_report == est.estimator.best_report and est.table is est.estimator.table
  rule.record([0.5, 0.7])
  rule.restore([0.1, 0.2, 0.3])
  assert rule.seen == [0.1, 0.2, 0.3]
  with pytest.raises(ValueError, match='finite signals only'):
    rule.restore([0.1, float('nan')])
  for change, message in (
      (dict(epoch=10), r'config.early_stop: early stopping epoch 10 must be below .* \(10\)'),
      (dict(signal='loss'), 'config.early_stop: early stopping signal must be one of'),
      (dict(quantile=2.0), r'config.early_stop: early stopping quantile must be in \[0, 1\]'),
  ):
    bad = discrete_rea.get_config()
    bad.early_stop.update({'epoch': 1, **change})
    with pytest.raises(ConfigError, match=message):
      components.discrete_search(bad)
  many = discrete_rea.get_config()
  many.early_stop.epoch, many.seeds = 1, 4
  with pytest.raises(ConfigError, match='one search at a time: config.seeds must be 1'):
    components.discrete_search(many)
  train = discrete_rea.get_config()
  train.estimator_name, train.early_stop.epoch = 'train', 10  # refused before any data is loaded
  train.estimator = discrete_rea.estimator_section('train')
  with pytest.raises(ConfigError, match='config.early_stop: early stopping epoch 10 must be'):
    components.discrete_search(train)


def test_early_stopping_report_on_a_small_table(table, tmp_path):
  """``experiments.reports.early_stopping_report`` at tiny size: both signals, 3 seeds; its rows
  parse, every run's regret is in range and some queries are stopped; a bad flag exits
  with one line."""
  import os
  import re
  import subprocess
  import sys

  from test_discrete import ROOT

  path, out = tmp_path / 't.npz', tmp_path / 'es.md'
  table.save(path)
  env = dict(os.environ, PYTHONPATH=ROOT)
  base = [sys.executable, '-m', 'experiments.reports.early_stopping_report', f'--table={path}']
  args = ['--seeds=3', '--queries=60', '--budgets=3,8', '--warmup=4', f'--out={out}']
  done = subprocess.run(base + args, cwd=ROOT, env=env, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-2000:]
  text = out.read_text()
  best = TabularEstimator(table).best_report
  for strategy in ('random', 'rea'):
    for label in ('plain', 'median stop (metric)', 'median stop (sotl)'):
      row = re.search(rf'^\| {strategy} \| {re.escape(label)} \| (.*)$', text, re.M)
      assert row, (strategy, label)
      cells = row.group(1).split(' | ')
      regrets = [float(c.split(' ± ')[0]) for c in cells[:2]]
      assert all(0.0 <= r <= best for r in regrets), row.group(0)
      if label != 'plain':
        assert 0.0 < float(cells[3]) < 1.0, row.group(0)  # the share stopped
  bad = subprocess.run(
      base + ['--signals=loss', f'--out={tmp_path / "bad.md"}'],
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
  )
  assert bad.returncode != 0 and 'unknown signal' in bad.stderr
  assert not (tmp_path / 'bad.md').exists()
