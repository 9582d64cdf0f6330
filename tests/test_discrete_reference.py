"""The discrete strategies against their reference implementations' rules.

Each test checks one rule of a reference (naszilla's BANANAS and local search, NATS-Bench's
REA and REINFORCE, pymoo's NSGA-II, Hyperband's fidelity) against an independent
computation: a NumPy re-implementation of the rule on a tiny case, a hand-computed value,
or a known count (127 isomorphism classes in the 3-op NB201 space).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_discrete import THREE, synthetic_table

from nas_jax import discrete, spaces
from nas_jax.estimators import TabularEstimator
from nas_jax.strategies import discrete as ds
from nas_jax.strategies.discrete import bananas, base

SMALL_BANANAS = dict(layers=3, width=20, epochs=30, max_queries=120)


@pytest.fixture(scope='module')
def space():
  return spaces.get('nb201', THREE)  # 729 archs, 127 classes


@pytest.fixture(scope='module')
def table(space):
  return synthetic_table(space)


@pytest.fixture(scope='module')
def estimator(table):
  return TabularEstimator(table, metric='val_acc', seed='mean')


def _classes(space, archs):
  return [space.hash(tuple(a)) for a in np.asarray(archs).reshape(-1, 6).tolist()]


# --- never paying twice for a cell (naszilla's get_candidates and local_search) ----------------
@pytest.mark.parametrize(
    'name, settings, batch',
    [('bananas', SMALL_BANANAS, 10), ('local_search', {}, 1), ('random', {}, 1)],
)
def test_no_class_is_queried_twice(name, settings, batch, space, estimator):
  # 120 queries in a space of 127 classes: without the rule repeats are all but certain
  _, trace = discrete.run(ds.get(name, **settings), estimator, space, jax.random.key(3), 120, batch)
  hashes = _classes(space, trace.archs)
  assert len(set(hashes)) == 120, (name, 120 - len(set(hashes)))
  assert int(discrete.distinct_classes(space, trace.archs)) == 120


def test_bananas_candidates_skip_every_queried_class(space, estimator):
  b = ds.get('bananas', **SMALL_BANANAS)
  every = np.asarray(list(space.enumerate()))
  told = every[np.random.default_rng(0).permutation(len(every))[:60]]
  state = b.init(jax.random.key(0), space)
  state = b.tell(state, jnp.asarray(told), estimator(told, jax.random.key(0)).score)
  state = state.replace(seen=base.mark(space, state.seen, jnp.asarray(told)))
  cands, keep = b.candidate_pool(state, jax.random.key(1))
  cands, keep = np.asarray(cands), np.asarray(keep)
  queried = set(_classes(space, told))
  kept = _classes(space, cands[keep])
  assert 0 < len(kept) <= b.candidates
  assert not queried & set(kept) and len(set(kept)) == len(kept)
  # every mutation left out is a queried class, a repeat, or past the first `candidates`
  first = {}
  for i, h in enumerate(_classes(space, cands)):
    first.setdefault(h, i)
  for i, h in enumerate(_classes(space, cands)):
    if not keep[i]:
      assert h in queried or first[h] < i or len(kept) == b.candidates


def test_bananas_defaults_are_naszillas():
  b = ds.get('bananas')
  # naszilla's meta_neuralnet_params('standard') and acquisition_functions.py
  assert (b.num_init, b.ensemble, b.layers, b.width) == (10, 5, 10, 20)
  assert (b.epochs, b.batch_size, b.learning_rate) == (150, 32, 0.01)
  assert (b.candidates, b.acquisition, b.ucb_beta) == (100, 'its', 0.5)


def test_bananas_fit_is_naszillas_minibatch_adam_in_numpy():
  """One member, one hidden layer, 2 epochs of 40 rows at batch 32 (a full batch, then a
  partial one of 8 each epoch: 4 steps), re-done in NumPy: the MAE over the batch, Adam
  with beta_2 = 0.99, the rows in the order the member's key draws."""
  rng = np.random.default_rng(0)
  rows, told, features = 48, 40, 5
  x = rng.normal(size=(rows, features)).astype(np.float32)
  y = rng.normal(size=rows).astype(np.float32)
  mask = (np.arange(rows) < told).astype(np.float32)
  key = jax.random.key(7)
  params = bananas.fit_ensemble(key[None], x, y, mask, 1, 4, 2, 0.01, 32)
  assert int(bananas.minibatch_steps(told, 2, 32)) == 4

  init_key, order_key = jax.random.split(key)
  p0 = bananas.MLP(1, 4).init(init_key, x[:1])['params']
  layer = {'w1': ('Dense_0', 'kernel'), 'b1': ('Dense_0', 'bias')}
  layer |= {'w2': ('Dense_1', 'kernel'), 'b2': ('Dense_1', 'bias')}
  w = {k: np.asarray(p0[a][b], np.float64) for k, (a, b) in layer.items()}
  m = {k: np.zeros_like(v) for k, v in w.items()}
  v2 = {k: np.zeros_like(v) for k, v in w.items()}
  t = 0
  for epoch in range(2):
    noise = np.asarray(jax.random.uniform(jax.random.fold_in(order_key, epoch), (rows,)))
    order = np.argsort(np.where(mask > 0, noise, 2.0), kind='stable')[:told]
    for batch in (order[:32], order[32:]):
      xb, yb = x[batch].astype(np.float64), y[batch].astype(np.float64)
      h_pre = xb @ w['w1'] + w['b1']
      h = np.maximum(h_pre, 0)
      out = (h @ w['w2'] + w['b2'])[:, 0]
      d_out = np.sign(out - yb) / len(batch)  # d mean|out - y| / d out
      g = {'w2': h.T @ d_out[:, None], 'b2': np.asarray([d_out.sum()])}
      d_h = d_out[:, None] @ w['w2'].T * (h_pre > 0)
      g['w1'], g['b1'] = xb.T @ d_h, d_h.sum(0)
      t += 1
      for k in w:
        m[k] = 0.9 * m[k] + 0.1 * g[k]
        v2[k] = 0.99 * v2[k] + 0.01 * g[k] ** 2
        m_hat, v_hat = m[k] / (1 - 0.9**t), v2[k] / (1 - 0.99**t)
        w[k] = w[k] - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8)
  got = params['params']
  np.testing.assert_allclose(got['Dense_0']['kernel'][0], w['w1'], atol=2e-5)
  np.testing.assert_allclose(got['Dense_0']['bias'][0], w['b1'], atol=2e-5)
  np.testing.assert_allclose(got['Dense_1']['kernel'][0], w['w2'], atol=2e-5)
  np.testing.assert_allclose(got['Dense_1']['bias'][0], w['b2'], atol=2e-5)


def test_bananas_history_overflow_is_an_error(space, estimator):
  b = ds.get('bananas', **dict(SMALL_BANANAS, max_queries=20))
  state = b.init(jax.random.key(0), space)
  archs = jnp.asarray(base.sample(jax.random.key(1), space, 15))
  state = b.tell(state, archs, jnp.zeros(15))
  with pytest.raises(ValueError, match='max_queries=20 results; telling 10 more after 15'):
    b.tell(state, jnp.concatenate([archs[:10]]), jnp.zeros(10))
  with pytest.raises(ValueError, match='bananas.max_queries=20 holds fewer than the 30 queries'):
    discrete.run(b, estimator, space, jax.random.key(0), 30, 10)


# --- NSGA-II: pymoo's duplicate elimination and Deb's crowded tournament --------------------------
def test_nsga2_offspring_are_new_cells(space, table):
  table.seed['params'] = np.linspace(1, 2, len(table), dtype=np.float32)[:, None].repeat(2, 1)
  est = TabularEstimator(table, 'val_acc', seed='mean', objectives=('params',))
  nsga = ds.get('nsga2', population=20)
  parents = {}

  def on_round(state, i, trace):
    parents[i + 1] = _classes(space, state.archs)

  _, trace = discrete.run_python(nsga, est, space, jax.random.key(0), 200, 20, on_round=on_round)
  generations = np.asarray(trace.archs).reshape(10, 20, 6)
  for g, archs in enumerate(generations):
    hashes = _classes(space, archs)
    assert len(set(hashes)) == 20, g  # no two offspring of one class
    if g:  # and none of a parent's class (pymoo's default elimination)
      assert not set(hashes) & set(parents[g]), g


def test_nsga2_eliminating_against_history_never_repeats_a_class(space, table):
  table.seed['params'] = np.linspace(1, 2, len(table), dtype=np.float32)[:, None].repeat(2, 1)
  est = TabularEstimator(table, 'val_acc', seed='mean', objectives=('params',))
  for eliminate, expected in (('history', 120), ('population', None)):
    nsga = ds.get('nsga2', population=20, eliminate=eliminate)
    _, trace = discrete.run(nsga, est, space, jax.random.key(0), 120, 20)
    distinct = int(discrete.distinct_classes(space, trace.archs))
    if expected:  # 120 queries of 127 classes, each once
      assert distinct == expected
    else:  # pymoo's default may breed a class that left the population again
      assert distinct < 120


def test_nsga2_tournament_prefers_the_larger_crowding_distance(space):
  nsga = ds.get('nsga2', population=2)
  state = nsga.init(jax.random.key(0), space)
  state = state.replace(rank=jnp.asarray([0, 0]), crowd=jnp.asarray([1.0, 0.0]))
  keys = jax.random.split(jax.random.key(1), 4000)
  wins = np.asarray(jax.vmap(lambda k: nsga._tournament(state, k))(keys))  # pylint: disable=protected-access
  # two draws with replacement: member 0 wins unless both draws are member 1 (p = 3/4)
  sigma = np.sqrt(0.75 * 0.25 / len(keys))
  assert abs((wins == 0).mean() - 0.75) < 4 * sigma
  state = state.replace(rank=jnp.asarray([1, 0]))  # the lower rank wins before crowding
  wins = np.asarray(jax.vmap(lambda k: nsga._tournament(state, k))(keys))  # pylint: disable=protected-access
  assert abs((wins == 1).mean() - 0.75) < 4 * sigma


# --- REA: the tournament draws from members already told ------------------------------------------
def test_rea_batch_children_come_from_told_members(space):
  rea = ds.get('rea', population=4, sample=3)
  members = jnp.asarray([[1, 2, 1, 2, 1, 2], [2, 1, 2, 1, 2, 1]])  # far from the empty 0-vector
  state = rea.tell(rea.init(jax.random.key(0), space), members, jnp.asarray([0.5, 0.7]))
  near = []
  for k in range(40):
    archs = np.asarray(rea.ask(state, jax.random.key(k), 4)[0])
    distance = (archs[:, None, :] != np.asarray(members)[None]).sum(-1).min(-1)
    # slots 2 and 3 fill the population (2 told + i < 4): random; 4 and 5 are children
    near.append(distance[:2] <= 1)
    assert (distance[2:] == 1).all(), (k, archs)
  # a random arch lies within one decision of a member with p = 2 * 13 / 729
  assert np.mean(near) < 0.2


# --- REINFORCE: NATS-Bench's rule in NumPy ---------------------------------------------------------
def test_reinforce_matches_nats_bench_rule_in_numpy(space):
  rl = ds.get('reinforce', learning_rate=0.01, momentum=0.9)
  state = rl.init(jax.random.key(5), space)
  theta = np.asarray(state.logits, np.float64)
  assert 0 < theta.std() < 3e-3  # 1e-3 * N(0, 1), as reinforce.py's Policy
  rng = np.random.default_rng(0)
  archs = rng.integers(0, 3, size=(6, 6))
  rewards = rng.random(6)
  num = den = 0.0
  m = np.zeros_like(theta)
  v = np.zeros_like(theta)
  for t, (arch, r) in enumerate(zip(archs, rewards), 1):
    num, den = 0.9 * num + 0.1 * r, 0.9 * den + 0.1  # ExponentialMovingAverage.update
    baseline = num / den
    p = np.exp(theta - theta.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = -(r - baseline) * (np.eye(3)[arch] - p)  # d(-log pi(a) (r - b)) / d theta
    m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
    theta = theta - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
  state = rl.tell(state, jnp.asarray(archs), jnp.asarray(rewards, jnp.float32))
  np.testing.assert_allclose(np.asarray(state.logits), theta, atol=1e-6)
  np.testing.assert_allclose(float(state.ema[0] / state.ema[1]), num / den, rtol=1e-6)


# --- Hyperband: the top fidelity is the estimator's -----------------------------------------------
def test_hyperband_takes_its_top_fidelity_from_the_estimator(space):
  three = synthetic_table(space)
  twelve = synthetic_table(space)
  twelve.epoch = {k: np.repeat(v[:, :, -1:], 12, axis=2) for k, v in three.epoch.items()}
  hb = ds.get('hyperband')
  assert hb.bind(TabularEstimator(three, seed='mean')).max_epochs == 2
  est12 = TabularEstimator(twelve, seed='mean')
  assert hb.bind(est12).max_epochs == 12
  assert hb.bind(TabularEstimator(twelve, epoch=4, seed='mean')).max_epochs == 4
  with pytest.raises(ValueError, match=r"max_epochs=3 is not the estimator's fidelity \(12"):
    ds.get('hyperband', max_epochs=3).bind(est12)
  # bound, every bracket ends at the search's own fidelity, so an answer exists
  _, trace = discrete.run(hb, est12, space, jax.random.key(0), 60)
  assert np.asarray(trace.full).any()
  best, index = discrete.incumbent_index(trace)
  assert (index[np.argmax(trace.full) :] >= 0).all()


def test_no_incumbent_before_a_full_fidelity_query():
  trace = discrete.Trace(
      archs=np.zeros((4, 1), np.int32),
      score=np.asarray([1.0, 0.9, 0.5, 0.7], np.float32),
      report=np.asarray([0.86, 0.9, 0.3, 0.8], np.float32),
      cost=np.ones(4, np.float32),
      full=np.asarray([False, False, True, True]),
  )
  best, report = discrete.incumbent(trace)
  np.testing.assert_allclose(best, [np.nan, np.nan, 0.5, 0.7])
  np.testing.assert_allclose(report, [np.nan, np.nan, 0.3, 0.8])
  assert np.isnan(discrete.at_budget(trace, 2)) and discrete.at_budget(trace, 3) == pytest.approx(
      0.3
  )


# --- the report: distinct classes and a signed regret ---------------------------------------------
def test_distinct_classes_and_regret_of_a_loss(space, table):
  every = np.asarray(list(space.enumerate()))
  a, b = every[0], every[1]  # two archs of different classes
  assert space.hash(tuple(a)) != space.hash(tuple(b))
  archs = np.stack([np.stack([a, b, a, a]), np.stack([b, b, b, b])])
  np.testing.assert_array_equal(discrete.distinct_classes(space, archs), [2, 1])
  np.testing.assert_array_equal(discrete.distinct_classes(space, archs, 1), [1, 1])
  loss = synthetic_table(space)
  loss.epoch['test_loss'] = 1.0 - loss.epoch['test_acc']
  est = TabularEstimator(loss, metric='val_acc', seed='mean', report='test_loss')
  assert est.best_report == pytest.approx(0.0)
  _, trace = discrete.run(ds.get('random'), est, space, jax.random.key(0), 20)
  rows = discrete.summarize(trace, est, [20])
  got = np.asarray(trace.report)[int(discrete.budget_index(trace, 20))]
  assert rows[0]['regret_mean'] == pytest.approx(got - 0.0) and got > 0
  assert rows[0]['distinct_mean'] == 20 and rows[0]['queries_mean'] == 20
