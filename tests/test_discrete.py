"""Discrete search: the ask/tell strategies, the tabular estimator and the loop."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from test_tabular import TINY  # the tabular tests' tiny protocol (tests/ is on sys.path)

from nas_jax import discrete, pareto, spaces, tabular
from nas_jax.estimators import TabularEstimator
from nas_jax.strategies import discrete as ds
from nas_jax.strategies.discrete import bananas, base, hyperband, reinforce
from nas_jax.tabular.table import Table, TableError

THREE = ('none', 'skip_connect', 'nor_conv_3x3')


@pytest.fixture(scope='module')
def space():
  return spaces.get('nb201', THREE)  # 729 archs, 127 classes under NB201's rule


def synthetic_table(space, seed=0, noise=0.0, seeds=(0, 1)):
  """A table over ``space`` whose value is additive over decisions: each class scores the
  best additive value among its archs, so the optimum is the class of the best arch."""
  rng = np.random.default_rng(seed)
  weights = rng.normal(size=(len(space.options), max(space.options)))
  unique = space.unique()
  hashes = sorted(unique)
  row = {h: i for i, h in enumerate(hashes)}
  value = np.full(len(hashes), -np.inf)
  for arch in space.enumerate():
    i = row[space.hash(arch)]
    value[i] = max(value[i], weights[np.arange(len(arch)), arch].sum())
  value = (value - value.min()) / (value.max() - value.min())  # in [0, 1], optimum 1
  s = len(seeds)
  per_seed = value[:, None] + noise * rng.normal(size=(len(hashes), s))
  epoch = {
      'val_acc': np.repeat(per_seed[:, :, None], 2, axis=2).astype(np.float32),
      'test_acc': np.repeat(np.repeat(value[:, None, None], s, 1), 2, 2).astype(np.float32),
  }
  seed_metrics = {'train_seconds': np.full((len(hashes), s), 10.0, np.float32)}
  meta = dict(space=space.name, primitives=list(space.primitives), hash_rule=space.hash_rule)
  archs = np.asarray([unique[h] for h in hashes])
  return Table(hashes, archs, seeds, epoch, seed_metrics, {}, meta)


@pytest.fixture(scope='module')
def table(space):
  return synthetic_table(space)


@pytest.fixture(scope='module')
def estimator(table):
  return TabularEstimator(table, metric='val_acc', seed='mean')


# --- the array forms of the space's operations -------------------------------------------------
def test_array_ops_equal_the_space_ops(space):
  for i in range(10):
    key = jax.random.key(i)
    archs = np.asarray(base.sample(key, space, 5))
    assert [tuple(a) for a in archs.tolist()] == space.sample(key, 5)
    arch = archs[0]
    assert tuple(np.asarray(base.mutate(key, space, jnp.asarray(arch))).tolist()) == space.mutate(
        key, tuple(arch.tolist())
    )
    moves = base.neighbour_moves(space)
    mine = {tuple(np.asarray(base.apply_move(space, jnp.asarray(arch), m)).tolist()) for m in moves}
    assert mine == set(space.neighbours(tuple(arch.tolist())))
    assert len(moves) == sum(n - 1 for n in space.options)
  # class ids partition the space exactly as the hashes do
  every = np.asarray(list(space.enumerate()))
  ids = np.asarray(base.class_of(space, every))
  hashes = [space.hash(tuple(a)) for a in every.tolist()]
  assert base.num_classes(space) == len(set(hashes)) == 127
  pairs = set(zip(ids.tolist(), hashes))
  assert len(pairs) == 127  # one hash per id and one id per hash


def test_get_validates_settings():
  assert set(ds.NAMES) >= {'random', 'rea', 'local_search', 'reinforce'}
  assert ds.get('rea').population == 10 and ds.get('rea').sample == 3  # NB201's settings
  with pytest.raises(ValueError, match="unknown discrete strategy 'ea'"):
    ds.get('ea')
  with pytest.raises(
      ValueError,
      match=r"discrete strategy rea: unknown setting 'pop' \(its settings: population, sample\)",
  ):
    ds.get('rea', pop=3)
  with pytest.raises(ValueError, match="unknown setting 'populaton'; did you mean 'population'"):
    ds.get('rea', populaton=3)
  with pytest.raises(ValueError, match='rea.sample must be a positive integer, got 0'):
    ds.get('rea', sample=0)
  with pytest.raises(ValueError, match=r'reinforce.momentum must be in \[0, 1\)'):
    ds.get('reinforce', momentum=1.0)


# --- regularized evolution -----------------------------------------------------------------------
def test_rea_oldest_member_leaves(space):
  rea = ds.get('rea', population=4, sample=2)
  state = rea.init(jax.random.key(0), space)
  archs = np.asarray(base.sample(jax.random.key(1), space, 6))
  scores = np.asarray([0.9, 0.1, 0.5, 0.3, 0.2, 0.4], np.float32)
  state = rea.tell(state, jnp.asarray(archs[:4]), jnp.asarray(scores[:4]))
  np.testing.assert_array_equal(state.archs, archs[:4])
  # the fifth member replaces the first (the oldest), though it is the best; the sixth the second
  state = rea.tell(state, jnp.asarray(archs[4:]), jnp.asarray(scores[4:]))
  np.testing.assert_array_equal(state.archs, np.concatenate([archs[4:], archs[2:4]]))
  np.testing.assert_allclose(state.scores, [0.2, 0.4, 0.5, 0.3])
  np.testing.assert_array_equal(state.born, [4, 5, 2, 3])


def test_rea_tournament_winner_is_the_best_of_the_sample(space):
  p, s = 4, 2
  rea = ds.get('rea', population=p, sample=s)
  state = rea.init(jax.random.key(0), space)
  archs = jnp.asarray([[k] * 6 for k in range(3)] + [[0, 1, 2, 0, 1, 2]])  # >= 4 apart
  scores = jnp.asarray([0.3, 0.9, 0.1, 0.5])  # ranks: member 1, 3, 0, 2
  state = rea.tell(state, archs, scores)
  keys = jax.random.split(jax.random.key(7), 8000)
  winners = np.asarray(jax.vmap(lambda k: rea.parent(state, k))(keys))
  index = {tuple(a): i for i, a in enumerate(np.asarray(archs).tolist())}
  counts = np.bincount([index[tuple(w)] for w in winners.tolist()], minlength=p)
  # with replacement, the k-th best wins iff it is drawn and nothing better is:
  # ((p - k + 1) / p)^s - ((p - k) / p)^s
  for member, k in zip((1, 3, 0, 2), (1, 2, 3, 4)):
    expected = ((p - k + 1) / p) ** s - ((p - k) / p) ** s
    sigma = np.sqrt(expected * (1 - expected) / len(keys))
    assert abs(counts[member] / len(keys) - expected) < 4 * sigma, (member, counts)
  # a child differs from some member in exactly one decision
  child, _ = rea.ask(state, jax.random.key(3), 16)
  distance = (np.asarray(child)[:, None, :] != np.asarray(archs)[None]).sum(-1).min(-1)
  assert (distance == 1).all()


def test_rea_asks_random_while_filling(space):
  rea = ds.get('rea', population=5)
  state = rea.init(jax.random.key(0), space)
  archs, _ = rea.ask(state, jax.random.key(1), 5)
  assert len({tuple(a) for a in np.asarray(archs).tolist()}) > 1


# --- local search ---------------------------------------------------------------------------------
def test_local_search_stops_at_local_optima(space, table, estimator):
  ls = ds.get('local_search')
  values = table.values('val_acc')
  value = {tuple(a): values[table.row(tuple(a))] for a in space.enumerate()}
  restarts = []

  def on_round(state, i, trace):
    if int(state.optima) > len(restarts):  # the ask of round i found a local optimum
      restarts.append((i, tuple(np.asarray(state.optimum).tolist())))

  # 110 queries of the 127 cells: before the space runs out of cells never queried
  _, trace = discrete.run_python(ls, estimator, space, jax.random.key(0), 110, on_round=on_round)
  assert len(restarts) >= 3, 'few sweeps ended at a local optimum within 110 queries'
  asked = [tuple(a) for a in np.asarray(trace.archs).tolist()]
  for i, arch in restarts:
    # a restart happens only once every neighbour's cell has been queried (naszilla skips
    # the queried ones), and no neighbour queried after the optimum itself beats it
    before = {space.hash(a) for a in asked[:i]}
    assert all(space.hash(n) in before for n in space.neighbours(arch)), arch
    since = asked[asked.index(arch) : i] if arch in asked[:i] else []
    hashes = {space.hash(n) for n in space.neighbours(arch)}
    assert all(value[a] <= value[arch] for a in since if space.hash(a) in hashes), arch
  with pytest.raises(ValueError, match='one architecture at a time'):
    ls.ask(ls.init(jax.random.key(0), space), jax.random.key(1), 2)


# --- REINFORCE ------------------------------------------------------------------------------------
def test_reinforce_gradient_equals_finite_differences():
  space = spaces.get('nb201', ('none', 'nor_conv_3x3'))  # 64 archs: the expectation is exact
  rng = np.random.default_rng(0)
  every = np.asarray(list(space.enumerate()))
  reward = rng.random(len(every))
  logits = rng.normal(size=(len(space.options), max(space.options)))

  def expected_reward(theta):  # float64, by enumeration: sum_a pi(a) r(a)
    p = np.exp(theta - theta.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return float((np.prod(p[np.arange(every.shape[1]), every], axis=1) * reward).sum())

  fd = np.zeros_like(logits)
  for d, k in itertools.product(*map(range, logits.shape)):
    e = np.zeros_like(logits)
    e[d, k] = 1e-5
    fd[d, k] = (expected_reward(logits + e) - expected_reward(logits - e)) / 2e-5
  theta = jnp.asarray(logits, jnp.float32)
  grads = jax.vmap(lambda a: reinforce.log_prob_grad(space, theta, a))(jnp.asarray(every))
  logp = jax.vmap(lambda a: reinforce.log_prob(space, theta, a))(jnp.asarray(every))
  pi = np.exp(np.asarray(logp, np.float64))
  assert pi.sum() == pytest.approx(1.0, abs=1e-5)
  baseline = 0.37  # any constant baseline leaves the expected gradient unbiased
  estimate = np.einsum('a,a,adk->dk', pi, reward - baseline, np.asarray(grads, np.float64))
  np.testing.assert_allclose(estimate, fd, atol=2e-5)
  # the closed form is the gradient of log pi
  auto = jax.grad(lambda t: reinforce.log_prob(space, t, jnp.asarray(every[5])))(theta)
  np.testing.assert_allclose(grads[5], auto, atol=1e-6)


def test_reinforce_first_reward_is_its_own_baseline(space):
  rl = ds.get('reinforce')
  state = rl.init(jax.random.key(0), space)
  arch = jnp.asarray([[2, 2, 2, 2, 2, 2]])
  after = rl.tell(state, arch, jnp.asarray([0.5]))
  np.testing.assert_array_equal(after.logits, state.logits)  # advantage 0: no step
  better = rl.tell(after, arch, jnp.asarray([0.9]))  # above the baseline: more likely
  assert reinforce.log_prob(space, better.logits, arch[0]) > reinforce.log_prob(
      space, after.logits, arch[0]
  )


# --- random search -------------------------------------------------------------------------------
def test_random_search_never_repeats_a_class(space, estimator):
  _, trace = discrete.run(ds.get('random'), estimator, space, jax.random.key(0), 127)
  ids = np.asarray(base.class_of(space, trace.archs))
  assert len(set(ids.tolist())) == 127  # every class once in 127 queries


# --- BANANAS --------------------------------------------------------------------------------------
SMALL_BANANAS = dict(layers=3, width=20, epochs=100, max_queries=100)


def test_bananas_encoding_and_predictor(space, table, estimator):
  every = np.asarray(list(space.enumerate()))
  np.testing.assert_array_equal(
      bananas.encode(space, every[:50]), np.stack([space.encode(a, 'path') for a in every[:50]])
  )
  b = ds.get('bananas', **SMALL_BANANAS)
  state = b.init(jax.random.key(0), space)
  told = np.random.default_rng(0).permutation(len(every))[:100]
  scores = estimator(every[told], jax.random.key(0)).score
  state = b.tell(state, jnp.asarray(every[told]), scores)
  assert int(state.told) == 100
  params, _, _ = b.fit(state)
  mean, std = b.predict(params, state, jnp.asarray(every))
  truth = np.asarray(estimator(every, jax.random.key(0)).score)
  # fitted on 100 of 729 archs, the ensemble ranks all of them well above chance
  assert scipy.stats.spearmanr(np.asarray(mean), truth)[0] > 0.6
  assert (np.asarray(std) >= 0).all() and np.asarray(std).max() > 0
  # asks after the random starts are distinct mutations of told architectures
  archs, _ = b.ask(state, jax.random.key(1), 10)
  archs = np.asarray(archs)
  assert len({tuple(a) for a in archs.tolist()}) == 10
  distance = (archs[:, None, :] != every[told][None]).sum(-1).min(-1)
  assert (distance <= 1).all()
  with pytest.raises(ValueError, match="bananas.acquisition must be 'its' or 'ucb'"):
    ds.get('bananas', acquisition='ei')


def test_bananas_features_join_the_encoding(space, table, estimator):
  """``bananas.Features.from_rows``: per-row values ranked to [0, 1] (NaN lowest) and spread
  over each class's architectures; the predictor's inputs are the path encoding then
  those. A feature that is the truth itself makes 20 told cells rank all the others."""
  every = np.asarray(list(space.enumerate()))
  truth = table.values('test_acc')
  values = np.stack([truth, -truth], axis=1)
  values[0, 1] = np.nan
  feats = bananas.Features.from_rows(table, values, ('truth', 'negated'))
  n = len(table)
  by_hand = np.stack(
      [
          scipy.stats.rankdata(np.where(np.isnan(v), -np.inf, v), method='ordinal') - 1
          for v in values.T
      ],
      axis=1,
  ) / (n - 1)
  rows = np.asarray([table.row(tuple(a)) for a in every[::7]])
  b = ds.get('bananas', features=feats, **SMALL_BANANAS)
  got = np.asarray(b.inputs(space, jnp.asarray(every[::7])))
  np.testing.assert_array_equal(got[:, :-2], bananas.encode(space, every[::7]))
  np.testing.assert_allclose(got[:, -2:], by_hand[rows], rtol=1e-6)
  assert by_hand[0, 1] == 0.0  # the NaN ranks lowest
  told = np.random.default_rng(1).permutation(len(every))[:20]
  scores = estimator(every[told], jax.random.key(0)).score
  rho = {}
  for name, strategy in (('plain', ds.get('bananas', **SMALL_BANANAS)), ('features', b)):
    state = strategy.tell(strategy.init(jax.random.key(0), space), jnp.asarray(every[told]), scores)
    params, _, _ = strategy.fit(state)
    mean, _ = strategy.predict(params, state, jnp.asarray(every))
    rho[name] = scipy.stats.spearmanr(np.asarray(mean), truth[table.dense_rows()])[0]
  assert rho['features'] > 0.75 and rho['features'] > rho['plain'] + 0.15, rho  # 0.85, 0.55
  with pytest.raises(base.ConfigError, match='one row per table row'):
    bananas.Features.from_rows(table, values[:5])
  with pytest.raises(base.ConfigError, match='rows, the nb201 space'):
    ds.get('bananas', features=bananas.Features(np.zeros((3, 1)))).init(jax.random.key(0), space)


def test_bananas_finds_the_optimum(space, estimator):
  b = ds.get('bananas', **SMALL_BANANAS)
  trace = discrete.run_seeds(b, estimator, space, discrete.seed_keys(range(20)), 100, batch=10)
  found = discrete.at_budget(trace, 100) == estimator.best_report
  assert found.sum() >= 14, found.sum()  # 85 of 100 seeds when this was set
  key = discrete.seed_keys([3])
  _, alone = discrete.run_python(b, estimator, space, key[0], 30, batch=10)
  one = discrete.run_seeds(b, estimator, space, key, 30, batch=10)
  np.testing.assert_array_equal(np.asarray(one.archs[0]), alone.archs)
  # vmapped over 20 seeds the ensemble's matmuls are batched and round differently, so only
  # the random starts are certain to agree with the single run (see bananas' docstring)
  np.testing.assert_array_equal(np.asarray(trace.archs[3, :10]), alone.archs[:10])


# --- multi-objective ------------------------------------------------------------------------------
def test_pareto_ranks_crowding_and_hypervolume_by_hand():
  pts = jnp.asarray([[1, 5], [2, 4], [3, 3], [2, 2], [1, 1], [4, 1], [0, 6]], jnp.float32)
  # front: (0,6) (1,5) (2,4) (3,3) (4,1); (2,2) behind (2,4) and (3,3); (1,1) behind (2,2)
  np.testing.assert_array_equal(pareto.ranks(pts), [0, 0, 0, 1, 2, 0, 0])
  # sorted by x the front is (0,6) (1,5) (2,4) (3,3) (4,1); ranges 4 and 5
  crowd = np.asarray(pareto.crowding(pts, pareto.ranks(pts)))
  np.testing.assert_allclose(crowd[[0, 1, 2]], [2 / 4 + 2 / 5, 2 / 4 + 2 / 5, 2 / 4 + 3 / 5])
  assert np.isinf(crowd[[3, 4, 5, 6]]).all()  # the ends of each rank (ranks 1 and 2: alone)
  np.testing.assert_array_equal(sorted(pareto.front(np.asarray(pts))), [0, 1, 2, 5, 6])
  # the staircase above (0, 0): x-strips 4*1 + 3*(3-1) + 2*(4-3) + 1*(5-4) + 0 = 13
  assert pareto.hypervolume(np.asarray(pts), (0, 0)) == pytest.approx(13.0)
  assert pareto.hypervolume(np.asarray([[1.0, 1.0]]), (2, 0)) == 0.0  # not past the reference
  # constrained domination: a feasible point beats any infeasible one; then less violation wins
  violation = jnp.asarray([0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.5])
  rank = np.asarray(pareto.ranks(pts, violation))
  assert rank[[0, 1, 4, 5]].max() < rank[[2, 3, 6]].min()
  assert rank[6] < rank[3] < rank[2]


def _two_objective_table(space):
  """A synthetic table whose second objective (``params``) counts the 3x3 convolutions of
  the class representative, so the front trades accuracy against convolutions."""
  t = synthetic_table(space)
  convs = (t.archs == space.primitives.index('nor_conv_3x3')).sum(1).astype(float)
  return Table(t.hashes, t.archs, t.seeds, t.epoch, t.seed, {'params': convs}, t.metadata)


def test_nsga2_finds_the_front_of_a_synthetic_table(space):
  table = _two_objective_table(space)
  est = TabularEstimator(table, metric='val_acc', seed='mean', objectives=('params',))
  truth = np.stack([table.values('val_acc'), -table.values('params')], 1)
  true_front = {tuple(p) for p in truth[pareto.front(truth)].tolist()}
  nsga = ds.get('nsga2', population=20)
  trace = discrete.run_seeds(nsga, est, space, discrete.seed_keys(range(10)), 300, batch=20)
  assert trace.score.shape == (10, 300, 2)
  complete = 0
  for scores in np.asarray(trace.score):
    found = {tuple(p) for p in scores[pareto.front(scores)].tolist()}
    complete += found == true_front
  assert complete >= 8, complete  # the whole front in 9 of 10 seeds when this was set
  # a hard limit: at most 2 convolutions; every survivor of the last generation meets it
  limited = ds.get('nsga2', population=20, limits=(None, -2.0))
  state, _ = discrete.run(limited, est, space, jax.random.key(0), 200, 20)
  assert (np.asarray(state.scores)[:, 1] >= -2).all()
  with pytest.raises(ValueError, match='nsga2 asks whole generations'):
    nsga.ask(nsga.init(jax.random.key(0), space), jax.random.key(1), 5)


# --- Hyperband ------------------------------------------------------------------------------------
def test_hyperband_brackets_match_the_paper():
  # Li et al. 2018, Table 1: R = 81, eta = 3
  assert hyperband.brackets(81, 3) == [
      [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
      [(34, 3), (11, 9), (3, 27), (1, 81)],
      [(15, 9), (5, 27), (1, 81)],
      [(8, 27), (2, 81)],
      [(5, 81)],
  ]
  assert hyperband.brackets(3, 3) == [[(3, 1), (1, 3)], [(2, 3)]]
  assert hyperband.brackets(81, 3, only_sh=True) == hyperband.brackets(81, 3)[:1]
  with pytest.raises(ValueError, match='hyperband.eta must be >= 2'):
    ds.get('hyperband', eta=1)


def test_hyperband_promotes_the_best_and_reads_lower_fidelities(space):
  table = synthetic_table(space)
  # epoch 1 reads a scrambled copy of the final values: a low fidelity that misleads
  table.epoch['val_acc'][:, :, 0] = table.epoch['val_acc'][::-1, :, 1]
  est = TabularEstimator(table, seed='mean')
  hb = ds.get('hyperband', max_epochs=2, eta=2)  # rungs: 2 at 1 epoch, 1 at 2; then 2 at 2
  assert hyperband.brackets(2, 2) == [[(2, 1), (1, 2)], [(2, 2)]]
  _, trace = discrete.run(hb, est, space, jax.random.key(0), 10)
  np.testing.assert_array_equal(trace.full, [0, 0, 1, 1, 1, 0, 0, 1, 1, 1])
  np.testing.assert_allclose(trace.cost, np.where(trace.full, 10.0, 5.0))  # epochs charged
  archs, score = np.asarray(trace.archs), np.asarray(trace.score)
  for first in (0, 5):  # the rung-1 architecture is the better of the two at 1 epoch
    best = first + int(np.argmax(score[first : first + 2]))
    np.testing.assert_array_equal(archs[first + 2], archs[best])
    low = table.values('val_acc', epoch=1)[table.row(tuple(archs[best]))]
    assert score[best] == pytest.approx(low)
  # the incumbent comes from full-fidelity queries only
  best, _ = discrete.incumbent(trace)
  assert best[-1] == pytest.approx(score[np.asarray(trace.full)].max())


# --- the loop -------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', ['random', 'rea', 'local_search', 'reinforce', 'hyperband'])
def test_vmapped_seeds_equal_single_runs(name, space, table):
  estimator = TabularEstimator(table, seed='random')  # the per-query seed draw is keyed too
  strategy = ds.get(name)
  keys = discrete.seed_keys([0, 1, 2])
  together = discrete.run_seeds(strategy, estimator, space, keys, 40)
  for i in range(3):
    _, alone = discrete.run_python(strategy, estimator, space, keys[i], 40)
    for field in discrete.Trace._fields:
      np.testing.assert_array_equal(getattr(together, field)[i], getattr(alone, field))


def test_resume_from_a_round_equals_an_uninterrupted_run(space, estimator):
  rea = ds.get('rea')
  key = jax.random.key(4)
  _, whole = discrete.run_python(rea, estimator, space, key, 30)
  saved = {}
  discrete.run_python(rea, estimator, space, key, 12, on_round=lambda s, i, t: saved.update({i: s}))
  _, rest = discrete.run_python(rea, estimator, space, key, 30, start=(saved[11], 12))
  np.testing.assert_array_equal(rest.archs, whole.archs[12:])


def test_query_loop_records_resumes_and_stops_at_a_seconds_budget(space, estimator, tmp_path):
  # The resumable search writes every query of the plain loop, its incumbent is the best
  # score so far (computed here from the trace by hand), a rerun on a finished directory
  # asks nothing more, and a budget in simulated seconds ends the round that reaches it.
  from nas_jax import metrics as metrics_lib
  from nas_jax.runner import QueryLoop

  rea, key = ds.get('rea'), jax.random.key(6)
  _, trace = discrete.run_python(rea, estimator, space, key, 24, 2)
  lines = []
  loop = QueryLoop(str(tmp_path / 'a'), 24, 2, checkpoint_every=5, log=lines.append)
  os.makedirs(loop.workdir)
  best = loop.run(rea, estimator, space, key)
  history = metrics_lib.read_metrics(loop.history_path)
  assert [r['arch'] for r in history] == np.asarray(trace.archs).tolist()
  scores = np.asarray(trace.score, np.float64)
  first = int(np.argmax(scores))  # argmax: the first of equal scores, as the loop keeps it
  assert best['step'] == first + 1 and best['score'] == scores[first]
  assert best['report'] == pytest.approx(float(trace.report[first]))
  percentile, regret = (
      metrics_lib.read_metrics(os.path.join(loop.workdir, 'metrics.jsonl'))[-1][k]
      for k in ('percentile', 'regret')
  )
  assert regret == pytest.approx(estimator.best_report - best['report'], abs=1e-6)
  assert 0 <= percentile <= 100
  lines.clear()
  again = loop.run(rea, estimator, space, key)  # finished: resumes past its last round
  assert again['step'] == best['step'] and len(metrics_lib.read_metrics(loop.history_path)) == 24
  assert lines == [
      f'resumed from the checkpoint at step 24 (round 12) in {loop.workdir}/checkpoints'
  ]
  cost = np.cumsum(np.asarray(trace.cost, np.float64))
  budget = float(cost[9])  # reached by the 10th query: the end of round 5
  short = QueryLoop(str(tmp_path / 'b'), 24, 2, budget_seconds=budget, log=lines.append)
  os.makedirs(short.workdir)
  short.run(rea, estimator, space, key)
  assert len(metrics_lib.read_metrics(short.history_path)) == 10


# The budget (queries) within which each strategy finds the optimum of the 127-class synthetic
# table in at least 19 of 20 seeds (random search: every class once in 127 queries; the others
# found it in 98-100 of 100 seeds at these budgets when they were set).
BUDGETS = {'random': 127, 'rea': 400, 'local_search': 200, 'reinforce': 600}


@pytest.mark.parametrize('name', sorted(BUDGETS))
def test_each_strategy_finds_the_optimum(name, space, estimator):
  budget = BUDGETS[name]
  trace = discrete.run_seeds(ds.get(name), estimator, space, discrete.seed_keys(range(20)), budget)
  found = discrete.at_budget(trace, budget) == estimator.best_report
  assert found.sum() >= 19, (name, found.sum())


def test_incumbent_and_budgets_by_hand():
  trace = discrete.Trace(
      archs=np.zeros((5, 1), np.int32),
      score=np.asarray([0.2, np.nan, 0.5, 0.5, 0.4], np.float32),
      report=np.asarray([0.1, 0.9, 0.3, 0.8, 0.7], np.float32),
      cost=np.asarray([1.0, 2.0, 3.0, 4.0, 5.0], np.float32),
      full=np.ones(5, bool),
  )
  best, report = discrete.incumbent(trace)
  np.testing.assert_allclose(best, [0.2, 0.2, 0.5, 0.5, 0.5])
  np.testing.assert_allclose(report, [0.1, 0.1, 0.3, 0.3, 0.3])  # a tie keeps the first
  assert discrete.at_budget(trace, 2) == pytest.approx(0.1)
  # a seconds budget keeps the query that crosses it (NATS-Bench's `while cost < budget`):
  # the queries start at 0, 1, 3, 6 and 10 s
  assert discrete.at_budget(trace, 6.0, 'seconds') == pytest.approx(0.3)  # 3 started before 6
  assert discrete.at_budget(trace, 5.0, 'seconds') == pytest.approx(0.3)  # the third crosses 5
  assert discrete.at_budget(trace, 2.5, 'seconds') == pytest.approx(0.1)  # 2 started
  assert discrete.at_budget(trace, 0.5, 'seconds') == pytest.approx(0.1)  # the first crosses it
  assert np.isnan(discrete.at_budget(trace, 0.0, 'seconds'))
  np.testing.assert_array_equal(
      [discrete.queries_within(trace, b, 'seconds') for b in (0.0, 0.5, 1.0, 1.5, 10.0, 10.5)],
      [0, 1, 1, 2, 4, 5],
  )
  with pytest.raises(ValueError, match='past the 5 queries run'):
    discrete.at_budget(trace, 6)
  with pytest.raises(ValueError, match='past what the run spent'):
    discrete.at_budget(trace, 100.0, 'seconds')


def test_tabular_estimator_reads_the_table(space, table):
  est = TabularEstimator(table, metric='val_acc', seed=1)
  archs = jnp.asarray(space.sample(jax.random.key(0), 8))
  out = est(archs, jax.random.key(1))
  for a, v, r, c in zip(np.asarray(archs).tolist(), out.value, out.report, out.cost):
    assert v == pytest.approx(table.query(tuple(a), 'val_acc', seed=1))
    assert r == pytest.approx(table.query(tuple(a), 'test_acc'))
    assert c == pytest.approx(10.0)
  half = TabularEstimator(table, metric='val_acc', epoch=1)
  assert np.allclose(half(archs, jax.random.key(1)).cost, 5.0)  # 1 of 2 epochs
  loss = TabularEstimator(table, metric='val_acc', seed='mean')
  mean = [table.query(tuple(a), 'val_acc') for a in np.asarray(archs).tolist()]
  np.testing.assert_allclose(loss(archs, jax.random.key(1)).score, mean, rtol=1e-6)
  with pytest.raises(TableError, match="no per-seed metric 'params'"):
    TabularEstimator(table, metric='params')
  with pytest.raises(TableError, match='epoch must be in 1..2'):
    TabularEstimator(table, epoch=3)
  with pytest.raises(TableError, match="seed must be 'random', 'mean' or one of"):
    TabularEstimator(table, seed=5)


# --- the launcher ---------------------------------------------------------------------------------
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _launch(workdir, *overrides, config='experiments/configs/discrete_rea.py', wait=True):
  cmd = [sys.executable, '-m', 'experiments.discrete', f'--config={config}']
  cmd += [f'--workdir={workdir}', *overrides]
  env = dict(os.environ, PYTHONPATH=ROOT)
  if not wait:
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
  return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_launcher_resumes_after_sigkill_identically(tmp_path):
  # under early stopping: the rule's history must come back with the checkpoint, or the
  # resumed run stops other queries
  args = ('--config.budget=150', '--config.checkpoint_every=3', '--config.log_every=1000')
  args += ('--config.early_stop.epoch=1',)
  whole = _launch(tmp_path / 'whole', *args)
  assert whole.returncode == 0, whole.stderr[-2000:]
  proc = _launch(tmp_path / 'cut', *args, wait=False)
  history = tmp_path / 'cut' / 'history.jsonl'
  deadline = time.time() + 240
  while time.time() < deadline and proc.poll() is None:
    if history.exists() and history.read_text().count('\n') >= 40:
      break
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert history.read_text().count('\n') < 150, 'the run ended before the kill'
  again = _launch(tmp_path / 'cut', *args)
  assert again.returncode == 0, again.stderr[-2000:]
  assert 'resumed from the checkpoint' in again.stdout
  for name in ('history.jsonl', 'metrics.jsonl', 'best.json', 'best_genotype.txt'):
    assert (tmp_path / 'cut' / name).read_text() == (tmp_path / 'whole' / name).read_text(), name
  best = json.loads((tmp_path / 'whole' / 'best.json').read_text())
  records = [json.loads(line) for line in (tmp_path / 'whole' / 'history.jsonl').open()]
  stopped = [not r['full'] for r in records]
  assert not any(stopped[:10]) and 30 < sum(stopped) < 120  # 10 warm-up queries, then ~half
  assert best['early_stopped'] == sum(stopped) and best['early_stop_epoch'] == 1
  assert f'{sum(stopped)} of 150 queries stopped after epoch 1' in whole.stdout
  assert not any(r['step'] == best['found_at_query'] and not r['full'] for r in records)
  t = tabular.load_shipped()
  assert best['report'] == pytest.approx(t.query(tuple(best['arch']), 'test_acc'))
  assert best['percentile'] == pytest.approx(t.percentile(tuple(best['arch'])))
  assert (tmp_path / 'whole' / 'best_so_far.png').stat().st_size > 0


def test_launcher_many_seeds_and_errors(tmp_path):
  out = _launch(
      tmp_path / 'many',
      '--config.seeds=8',
      '--config.budget=30',
      '--config.report_at=(10, 30)',
      config='experiments/configs/discrete_local_search.py',
  )
  assert out.returncode == 0, out.stderr[-2000:]
  summary = json.loads((tmp_path / 'many' / 'seeds.json').read_text())
  assert summary['seeds'] == 8 and [r['budget'] for r in summary['rows']] == [10, 30]
  assert summary['rows'][1]['regret_mean'] <= summary['rows'][0]['regret_mean']
  for overrides, message in (
      (('--config.strategy_name=evolution',), "unknown discrete strategy 'evolution'"),
      (('--config.strategy.tournament=3',), "unknown config key 'strategy.tournament'"),
      (('--config.budget_unit=hours',), "config.budget_unit must be 'queries' or 'seconds'"),
      (('--config.estimator.seed=7',), "seed must be 'random', 'mean' or one of"),
  ):
    bad = _launch(tmp_path / 'bad', *overrides)
    assert bad.returncode == 2, (overrides, bad.stderr[-1000:])
    lines = bad.stderr.strip().splitlines()
    assert lines[-1].startswith('error: ') and message in lines[-1], lines[-3:]
  assert not (tmp_path / 'bad').exists() or not os.listdir(tmp_path / 'bad')


def test_launcher_multi_objective_front(tmp_path):
  # The shipped table's training peak memory (XLA's analysis) as the cost objective.
  out = _launch(
      tmp_path / 'front',
      '--config.budget=60',
      '--config.report_at=(60,)',
      "--config.objectives=('memory_training',)",
      config='experiments/configs/discrete_nsga2.py',
  )
  assert out.returncode == 0, out.stderr[-2000:]
  front = json.loads((tmp_path / 'front' / 'front.json').read_text())
  assert front['objectives'] == ['test_acc', 'memory_training']
  assert (tmp_path / 'front' / 'pareto.png').exists()
  history = [json.loads(line) for line in (tmp_path / 'front' / 'history.jsonl').open()]
  t = tabular.load_shipped()
  points = {
      r['hash']: (t.query(r['hash'], 'test_acc'), -t.query(r['hash'], 'memory_training'))
      for r in history
  }
  pts = np.asarray(list(points.values()))
  expected = {list(points)[i] for i in pareto.front(pts)}
  assert {c['hash'] for c in front['found']} == expected  # the non-dominated cells queried
  true = {c['hash'] for c in front['true_front']}
  assert true == {t.hashes[i] for i in t.pareto('test_acc', 'memory_training')}
  assert 0 < front['hypervolume_ratio'] <= 1
  bad = _launch(
      tmp_path / 'bad', '--config.objectives=()', config='experiments/configs/discrete_nsga2.py'
  )
  assert (
      bad.returncode == 2 and 'nsga2 optimizes 2 objective(s), but the config gives 1' in bad.stderr
  )


def test_an_unmeasured_cell_never_leads(space):
  nan = jnp.asarray([jnp.nan])
  arch = jnp.asarray([[2, 2, 2, 2, 2, 2]])
  rl = ds.get('reinforce')
  state = rl.tell(rl.init(jax.random.key(0), space), arch, jnp.asarray([0.5]))
  after = rl.tell(state, arch, nan)
  for new, old in zip(jax.tree.leaves(after), jax.tree.leaves(state)):
    np.testing.assert_array_equal(new, old)
  rea = ds.get('rea', population=2, sample=2)
  state = rea.tell(
      rea.init(jax.random.key(0), space),
      jnp.asarray([[0] * 6, [1] * 6]),
      jnp.asarray([0.1, jnp.nan]),
  )
  winners = jax.vmap(lambda k: rea.parent(state, k))(jax.random.split(jax.random.key(1), 400))
  # the unmeasured member wins only when both draws are it (1/4), not whenever drawn (3/4)
  assert abs((np.asarray(winners)[:, 0] == 1).mean() - 0.25) < 0.08


def test_live_training_estimator_in_the_loop():
  from nas_jax.estimators import TrainEstimator
  from nas_jax.tabular.protocol import Protocol
  from nas_jax.tabular.trainer import Member

  tiny = dict(TINY, train_split='train[:256]', val_split='train[256:320]', test_split='test[:64]')
  small = spaces.get('nb201', ('none', 'nor_conv_1x1'))
  est = TrainEstimator(small, Protocol.from_dict(tiny), seed=3)
  rea = ds.get('rea', population=2, sample=2)
  _, trace = discrete.run_python(rea, est, small, jax.random.key(0), 3)
  assert trace.archs.shape == (3, 6) and np.asarray(trace.full).all()
  # each query is what the population trainer gives that member, trained alone
  alone = est.trainer.train([Member(tuple(int(a) for a in trace.archs[2]), 3)])[0]
  assert trace.score[2] == pytest.approx(float(alone['val_acc'][-1]))
  assert trace.report[2] == pytest.approx(float(alone['test_acc'][-1]))
  # a lower fidelity is the same training stopped early: the first epoch's value
  early = est(trace.archs[2:], None, np.asarray([1]))
  assert early.score[0] == pytest.approx(float(alone['val_acc'][0])) and not early.full[0]
  with pytest.raises(ValueError, match='runs outside jit'):
    discrete.run_seeds(rea, est, small, discrete.seed_keys([0]), 2)


# --- warm starts ----------------------------------------------------------------------------------
def test_warm_start_asks_the_given_cells_first_and_hands_over(space, table, estimator):
  values = estimator.metric_values()[:, 0, -1]
  top = np.argsort(-values)[:5]  # the five best rows: what a perfect proxy would pick
  warm = tuple(tuple(int(a) for a in table.archs[r]) for r in top)
  rea = ds.get('rea', population=10, sample=3)
  strategy = ds.WarmStart(rea, warm)
  assert strategy.name == 'rea+warm' and strategy.batch_ask
  _, trace = discrete.run(strategy, estimator, space, jax.random.key(0), 30)
  np.testing.assert_array_equal(np.asarray(trace.archs[:5]), np.asarray(warm))
  # the population holds them: the incumbent is the best cell from the first query on
  assert float(discrete.incumbent(trace)[1][0]) == pytest.approx(float(values[top[0]]))
  # after the warm cells, REA's own asks (random while its population fills, then mutants)
  _, plain = discrete.run(rea, estimator, space, jax.random.key(0), 30)
  np.testing.assert_array_equal(np.asarray(trace.archs[5:10]), np.asarray(plain.archs[5:10]))
  # vmapped over seeds it is the same program for each seed
  many = discrete.run_seeds(strategy, estimator, space, discrete.seed_keys([0, 1]), 30)
  np.testing.assert_array_equal(np.asarray(many.archs[0]), np.asarray(trace.archs))
  # local search starts its sweep from the best warm cell
  ls = ds.WarmStart(ds.get('local_search', num_init=5), warm)
  _, lt = discrete.run(ls, estimator, space, jax.random.key(1), 8)
  first_sweep = np.asarray(lt.archs[5])
  assert np.sum(first_sweep != np.asarray(warm[0])) == 1  # a neighbour of the best warm cell
  # a no-repeat strategy never asks a warm cell's class again (120 of the 127 classes)
  for inner in (ds.get('local_search', num_init=5), ds.get('random')):
    _, t = discrete.run(ds.WarmStart(inner, warm), estimator, space, jax.random.key(2), 120)
    assert len(set(np.asarray(base.class_of(space, t.archs)).tolist())) == 120, inner.name
  with pytest.raises(ds.base.ConfigError, match='decisions'):
    ds.WarmStart(rea, ((0, 1),)).init(jax.random.key(0), space)


def test_every_strategy_state_checkpoints_in_a_space_too_big_to_index(tmp_path):
  """The DARTS space has no class index; every state a strategy starts there with must save
  and restore (Orbax refuses zero-size arrays: random search's unused ``seen`` once was one)."""
  from nas_jax import checkpoint

  big = spaces.get('darts')
  assert base.num_classes(big) is None
  for name in ('random', 'rea', 'local_search', 'reinforce'):
    strategy = ds.get(name)
    state = strategy.init(jax.random.key(0), big)
    archs, state = strategy.ask(state, jax.random.key(1), 1)
    state = strategy.tell(state, archs, jnp.asarray([0.5]))
    ckpt = checkpoint.Checkpoints(str(tmp_path / name))
    ckpt.save(1, state, {'round': 1})
    ckpt.close()
    restored, position, step = checkpoint.Checkpoints(str(tmp_path / name)).restore(
        strategy.init(jax.random.key(0), big)
    )
    assert step == 1 and position == {'round': 1}
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(state)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
