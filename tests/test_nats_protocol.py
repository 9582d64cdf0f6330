"""NB201 / NATS-Bench's search protocol on converted tables: what a query reads and costs,
the report read from another table, and a metric the table never measured refused.

The fixture (``test_tabular._nats_fixture``) covers the eight cells of the NB201 space over
``none`` and ``skip_connect``; cell ``i`` was trained at the seeds ``SEEDS[i % 3]``.
Expected values come from the fixture's construction and from ``nats_bench``'s own
``simulate_train_eval`` and ``get_more_info``.
"""

import random

import jax
import numpy as np
import pytest
from test_tabular import _nats_fixture

from nas_jax import spaces
from nas_jax.estimators import TabularEstimator
from nas_jax.tabular import nats
from nas_jax.tabular.table import Table, TableError

TWO = ('none', 'skip_connect')
SEEDS = {0: (777, 888, 999), 1: (777,), 2: (888, 999)}


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
  """The fixture file, its cells (genotype strings by NATS index) and three tables."""
  space = spaces.get('nb201', TWO)
  cells = sorted(space.to_genotype(a).to_string() for a in space.unique().values())
  assert len(cells) == 8
  src = str(tmp_path_factory.mktemp('nats') / 'NATS-tss-v1_0-fixture.pickle.pbz2')
  _nats_fixture(src, cells, seeds=lambda i: SEEDS[i % 3])
  tables = {
      'search': nats.convert(src, 'cifar10-valid', hp='12', primitives=TWO),
      'report': nats.convert(src, 'cifar10', hp='200', primitives=TWO),
      'c100': nats.convert(src, 'cifar100', hp='12', primitives=TWO),
  }
  archs = np.asarray([space.from_genotype(space.load_genotype(c)) for c in cells], np.int32)
  return dict(src=src, cells=cells, archs=archs, space=space, **tables)


def _api(src):
  from nats_bench.api_topology import NATStopology

  return NATStopology(src, fast_mode=False, verbose=False)


def _draws(estimator, archs, n=48, epochs=None):
  """{cell: {(value, cost)}} over ``n`` queries of every cell (one key, independent draws)."""
  batch = np.repeat(archs, n, axis=0)
  out = estimator(batch, jax.random.key(0), None if epochs is None else np.full(len(batch), epochs))
  pairs = {}
  for j, (v, c) in enumerate(zip(np.asarray(out.value), np.asarray(out.cost))):
    pairs.setdefault(j // n, set()).add((round(float(v), 5), round(float(c), 3)))
  return pairs


def _by_hand(i, dataset='cifar10-valid', train=2.0, epochs=None):
  """{(x-valid accuracy, cost)} of cell i at its seeds, from the fixture's construction: the
  last (third) epoch's accuracy base + i + 2 + s / 1000 + 1, and train-all-time (the three
  epochs of train + i + e / 2 + (s - 777) / 1000) plus valid-per-time (the mean over the
  epochs of 0.5 + e / 10 + i / 100); at ``epochs`` of 3, a share of the train seconds."""
  base = {'cifar10-valid': 50.0, 'cifar100': 30.0}[dataset]
  out = set()
  for s in SEEDS[i % 3]:
    acc = (base + i + 2 + s / 1000 + 1) / 100
    train_all = 3 * train + 3 * i + 1.5 + 3 * (s - 777) / 1000
    if epochs is not None:
      train_all *= epochs / 3
    out.add((round(acc, 5), round(train_all + 0.6 + i / 100, 3)))
  return out


def test_a_query_reads_one_of_its_cells_seeds_and_costs_train_plus_valid_time(bench):
  estimator = TabularEstimator(bench['search'])  # val_acc, a random seed per query
  draws = _draws(estimator, bench['archs'])
  for i in range(8):
    # every draw is one of the cell's own seeds (never another's seed-mean fill), all of them drawn
    assert draws[i] == _by_hand(i), i
  # at 1 of the 3 epochs: a third of the train seconds, and one evaluation
  low = _draws(estimator, bench['archs'][:3], epochs=1)
  for i in range(3):
    assert {c for _, c in low[i]} == {c for _, c in _by_hand(i, epochs=1)}, i
  # cifar100: its own x-valid, its train seconds (3 + i + e / 2 per epoch)
  draws = _draws(TabularEstimator(bench['c100']), bench['archs'])
  for i in range(8):
    assert draws[i] == _by_hand(i, 'cifar100', train=3.0), i


@pytest.mark.parametrize('dataset, table', [('cifar10', 'search'), ('cifar100', 'c100')])
def test_queries_match_nats_bench_simulate_train_eval(bench, dataset, table):
  """NATS-Bench's own simulated query (``dataset='cifar10'`` reads cifar10-valid): the same
  (accuracy, seconds) pairs, at the cells' own seeds, as the estimator's."""
  api = _api(bench['src'])
  draws = _draws(TabularEstimator(bench[table]), bench['archs'])
  state = random.getstate()
  try:
    for i, cell in enumerate(bench['cells']):
      theirs = set()
      for k in range(40):
        random.seed(k)
        acc, _, cost, _ = api.simulate_train_eval(cell, dataset, hp='12')
        theirs.add((round(acc / 100, 5), round(cost, 3)))
      assert draws[i] == theirs, (i, cell)
  finally:
    random.setstate(state)


def test_the_report_comes_from_the_report_table(bench):
  """Search cifar10-valid at 12 epochs, report cifar10's 200-epoch test accuracy (what
  NATS-Bench's algorithms report: ``get_more_info(arch, 'cifar10', hp='200',
  is_random=False)['test-accuracy']``)."""
  api = _api(bench['src'])
  estimator = TabularEstimator(bench['search'], report_table=bench['report'])
  archs = bench['archs']
  out = estimator(archs, jax.random.key(1))
  # by hand: 60 + 10 + i + 3 (the fourth epoch) + the cell's seed mean / 1000 + 2 (ori-test)
  hand = [(75 + i + np.mean(SEEDS[i % 3]) / 1000) / 100 for i in range(8)]
  theirs = [api.get_more_info(c, 'cifar10', hp='200', is_random=False) for c in bench['cells']]
  np.testing.assert_allclose(out.report, hand, rtol=1e-6)
  np.testing.assert_allclose(out.report, [t['test-accuracy'] / 100 for t in theirs], rtol=1e-6)
  assert estimator.best_report == pytest.approx(hand[7])
  np.testing.assert_allclose(estimator.true_points()[np.asarray(estimator.rows(archs)), 0], hand)
  # the search still reads the search table (x-valid of cifar10-valid at 12 epochs)
  assert {round(float(v), 5) for v in out.value[:1]} <= {a for a, _ in _by_hand(0)}
  # the report increases with the cell index: cell i is at least as good as i + 1 of 8
  pct = estimator.report_percentiles()[np.asarray(estimator.rows(archs))]
  np.testing.assert_allclose(pct, [100 * (i + 1) / 8 for i in range(8)])
  rows = np.asarray(estimator.rows(archs))
  np.testing.assert_array_equal(estimator.report_table.hashes, bench['search'].hashes)
  assert estimator.report_table.percentile(archs[2], 'test_acc') == pytest.approx(300 / 8)
  # without a report table: the search table's own 12-epoch ori-test (50 + i + 2 + mean + 2)
  plain = TabularEstimator(bench['search'])
  np.testing.assert_allclose(
      np.asarray(plain.true_points())[rows, 0],
      [(54 + i + np.mean(SEEDS[i % 3]) / 1000) / 100 for i in range(8)],
      rtol=1e-6,
  )


def test_a_report_table_missing_rows_reports_nan(bench):
  report = bench['report']
  keep = slice(0, 5)  # the first five rows by hash
  partial = Table(
      report.hashes[keep],
      report.archs[keep],
      report.seeds,
      {k: v[keep] for k, v in report.epoch.items()},
      {k: v[keep] for k, v in report.seed.items()},
      {k: v[keep] for k, v in report.arch.items()},
      report.metadata,
  )
  estimator = TabularEstimator(bench['search'], report_table=partial)
  out = estimator(bench['archs'], jax.random.key(0))
  have = np.isin(
      np.asarray([bench['search'].hashes[r] for r in estimator.rows(bench['archs'])]),
      report.hashes[keep],
  )
  assert have.sum() == 5
  full = TabularEstimator(bench['search'], report_table=report)(bench['archs'], jax.random.key(0))
  np.testing.assert_allclose(np.asarray(out.report)[have], np.asarray(full.report)[have])
  assert np.isnan(np.asarray(out.report)[~have]).all()
  assert estimator.best_report == pytest.approx(np.max(np.asarray(full.report)[have]))
  # five of the eight rows measured: their percentiles over those five, the rest 0
  pct = estimator.report_percentiles()
  assert np.count_nonzero(pct) == 5 and pct.max() == 100.0
  # a random architecture of the space (64 decision vectors) is measured where its cell is kept
  space = bench['space']
  kept = sum(space.hash(a) in set(report.hashes[keep]) for a in space.enumerate())
  assert estimator.report_table.random_baseline('test_acc')['measured'] == kept < 64


def test_report_tables_that_cannot_be_matched_are_refused(bench):
  report = bench['report']
  other_rule = Table(
      report.hashes,
      report.archs,
      report.seeds,
      report.epoch,
      report.seed,
      report.arch,
      dict(report.metadata, hash_rule='functional'),
  )
  with pytest.raises(TableError, match="report table's hash_rule is 'functional'"):
    TabularEstimator(bench['search'], report_table=other_rule)
  stranger = Table(
      ['not-a-hash'],
      report.archs[:1],
      report.seeds,
      {k: v[:1] for k, v in report.epoch.items()},
      {},
      {},
      report.metadata,
  )
  with pytest.raises(TableError, match="has none of the search table's 8 rows"):
    TabularEstimator(bench['search'], report_table=stranger)


def test_a_metric_the_table_never_measured_is_refused(bench):
  """NATS-Bench's cifar10 has no validation split: its val_acc is NaN in every row."""
  with pytest.raises(TableError) as err:
    TabularEstimator(bench['report'])  # metric='val_acc'
  message = str(err.value)
  assert '\n' not in message
  assert message.startswith('val_acc is NaN in every row of the table (dataset cifar10, hp=200')
  assert 'search a cifar10-valid table and report this one' in message
  with pytest.raises(TableError, match='val_loss is NaN in every row.*dataset cifar10'):
    TabularEstimator(bench['report'], metric='val_loss', seed='mean')
  # a report the report table never measured either
  with pytest.raises(TableError, match='report metric val_acc is NaN in every row of the report'):
    TabularEstimator(bench['search'], report='val_acc', report_table=bench['report'])
  # its test accuracy is searchable (not the protocol, but measured)
  assert TabularEstimator(bench['report'], metric='test_acc').best_report > 0


def test_launcher_config_reads_the_report_from_another_table(bench, tmp_path):
  from experiments.configs import discrete_rea
  from nas_jax import components

  bench['search'].save(tmp_path / 'search.npz')
  bench['report'].save(tmp_path / 'report.npz')
  c = discrete_rea.get_config()
  c.estimator.table = str(tmp_path / 'search.npz')
  c.estimator.report_table = str(tmp_path / 'report.npz')
  _, est, _ = components.discrete_search(c)
  api = _api(bench['src'])
  index = {api.meta_archs[i]: i for i in api.evaluated_indexes}
  for cell, arch in zip(bench['cells'], bench['archs']):  # cifar10 hp=200, seed mean
    want = api.get_more_info(index[cell], 'cifar10', hp='200', is_random=False)['test-accuracy']
    got = float(est(arch[None], jax.random.key(0)).report[0])
    assert got == pytest.approx(want / 100, abs=1e-5), cell
  c.estimator.report_table = ''
  _, own, _ = components.discrete_search(c)  # without it, the search table's own test accuracy
  assert own.best_report != pytest.approx(est.best_report)
