"""Cost-aware search: exact cost tables against whole-network counts and a hand count, the cost
term's forms against NumPy and finite differences, and the term in a search (a weight of 0
changes nothing; a large one drives the derived cell to the cheapest ops), the hard target's
derived cell against brute force, and fitted (memory) tables against known additive costs."""

import dataclasses
import json
import re

from config_helpers import configure  # tests/ is on sys.path under pytest
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from test_search import tiny_config

from experiments.configs import search_demo
from nas_jax import bilevel, components, costs, data, netstats, search, spaces, strategies
from nas_jax.config_checks import ConfigError
from nas_jax.spaces.darts import evalnet as darts_evalnet


def _whole(model, shape):
  return (
      netstats.count_params(netstats.param_shapes(model, shape)),
      netstats.count_macs(model, shape),
  )


@pytest.mark.parametrize('space_name', ['darts', 'nb201'])
def test_one_hot_expected_cost_is_the_networks_exact_count(space_name):
  space = spaces.get(space_name)
  shape = (16, 16, 1)
  size = dict(channels=8, layers=4 if space_name == 'darts' else 1)
  genotypes = [space.to_genotype(space.sample(jax.random.key(i), 1)[0]) for i in range(4)]
  ref = genotypes[0]
  tables = costs.exact_tables(space, space.evalnet(ref, 10, **size), shape, ref)
  for g in genotypes[1:]:
    params, macs = _whole(space.evalnet(g, 10, **size), shape)  # counted from scratch
    assert tables['params'].of_genotype(space, g) == params
    assert tables['flops'].of_genotype(space, g) == macs
    one_hot = {c: jnp.asarray(w) for c, w in space.one_hot(g).items()}
    assert float(tables['params'].expected(one_hot)) == pytest.approx(params, rel=1e-6)


def test_a_sep_conv_entry_is_its_hand_count():
  # DARTS' sep_conv_3x3 at C channels: twice (3x3 depthwise, 1x1 pointwise, BN scale and bias).
  c, h = 8, 6
  params, macs = netstats.op_costs(
      darts_evalnet._eval_op('sep_conv_3x3', c, 1, None, 'op'), (c, 1, h, h)
  )
  assert params == 2 * (9 * c + c * c + 2 * c)
  assert macs == 2 * (h * h * c * 9 + h * h * c * c)


def _numpy_term(table_ops, base, logits, target, weight, form, loss=2.0):
  """The cost term by NumPy in float64: softmax op weights, E[c], and the form."""
  e = base
  for cell, t in table_ops.items():
    z = logits[cell] - logits[cell].max(-1, keepdims=True)
    w = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    e += float((w * t).sum())
  if form == 'additive':
    return loss + weight * (e / target - 1.0)
  return loss * (np.log(e) / np.log(target)) ** weight


@pytest.mark.parametrize('form,weight', [('additive', 0.7), ('multiplicative', 0.6)])
def test_cost_term_value_and_gradient_match_numpy_and_finite_differences(form, weight):
  rng = np.random.RandomState(1)
  ops_ = {'a': rng.uniform(0, 50, (3, 4)), 'b': rng.uniform(0, 50, (2, 4))}
  table = costs.CostTable('flops', 120.0, ops_)
  term = costs.CostTerm(table, 150.0, weight, form)
  logits = {k: rng.randn(*v.shape) for k, v in ops_.items()}

  def jax_loss(lg):
    w = {k: jax.nn.softmax(v, axis=-1) for k, v in lg.items()}
    return term.apply(jnp.asarray(2.0, jnp.float32), w)

  value = float(jax_loss({k: jnp.asarray(v, jnp.float32) for k, v in logits.items()}))
  assert value == pytest.approx(_numpy_term(ops_, 120.0, logits, 150.0, weight, form), rel=1e-5)
  grads = jax.grad(jax_loss)({k: jnp.asarray(v, jnp.float32) for k, v in logits.items()})
  eps = 1e-6
  for cell, lg in logits.items():
    for idx in np.ndindex(lg.shape):
      up = {k: v.copy() for k, v in logits.items()}
      down = {k: v.copy() for k, v in logits.items()}
      up[cell][idx] += eps
      down[cell][idx] -= eps
      fd = (
          _numpy_term(ops_, 120.0, up, 150.0, weight, form)
          - _numpy_term(ops_, 120.0, down, 150.0, weight, form)
      ) / (2 * eps)
      assert float(grads[cell][idx]) == pytest.approx(fd, rel=1e-3, abs=1e-6)


def _tiny(**overrides):
  """test_search's tiny search in the NB201 space over 4 ops (N=1, C=4), 2 epochs of 3 steps."""
  return tiny_config(
      space='nb201',
      primitives=['none', 'skip_connect', 'nor_conv_3x3', 'avg_pool_3x3'],
      layers=1,
      max_steps_per_epoch=3,
      tensorboard=False,
      **overrides,
  )


def _search(tmp_path, run, **cost):
  config = _tiny(arch_learning_rate=0.1)
  for key, value in cost.items():
    config.cost[key] = value
  with tfds.testing.mock_data(num_examples=16):
    return search.run_search(config, str(tmp_path / run), log=lambda line: None)


def test_a_zero_weight_cost_leaves_alpha_bit_identical_and_is_reported(tmp_path):
  plain = _search(tmp_path, 'plain')
  zero = _search(tmp_path, 'zero', name='params', target=1000.0, weight=0.0)
  a, b = jax.device_get(plain['state'].arch), jax.device_get(zero['state'].arch)
  for cell in a:
    np.testing.assert_array_equal(a[cell], b[cell])
  assert 'cost_expected' not in plain['metrics'][-1]
  assert zero['metrics'][-1]['cost_derived'] > 0 and zero['metrics'][-1]['cost_expected'] > 0


def test_a_large_cost_weight_drives_the_derived_cell_to_the_cheapest_ops(tmp_path):
  out = _search(tmp_path, 'heavy', name='flops', target=1000.0, weight=50.0)
  last = out['metrics'][-1]
  # Every edge holds a multiply-add-free op (none, skip or pooling): the cell costs the base.
  assert all(op != 'nor_conv_3x3' for op, _, _ in _edges(out['genotype']))
  assert last['cost_derived'] < out['metrics'][0]['cost_expected']
  assert last['cost_expected'] < out['metrics'][0]['cost_expected']


def _edges(genotype):
  return [
      (op, target, source) for target, node in enumerate(genotype.nodes, 1) for op, source in node
  ]


@pytest.mark.parametrize(
    'cost,message',
    [
        (dict(name='params', target=0.0), 'config.cost.target must be > 0'),
        (dict(name='params', target=-5.0), 'config.cost.target must be > 0'),
        (dict(name='bytes', target=1.0), 'config.cost.name must be one of params, flops, latency'),
        (
            dict(name='params', target=1.0, form='multiplicative', weight=1.0),
            'must be > 1 parameters for the multiplicative form',
        ),
    ],
)
def test_bad_cost_settings_are_one_line(cost, message):
  config = _tiny()
  for key, value in cost.items():
    config.cost[key] = value
  with pytest.raises(ConfigError, match=message):
    components.cost_term(config, spaces.get('nb201'), 10, (8, 8, 3))


def test_a_latency_table_from_another_width_or_backend_is_refused(tmp_path):
  from nas_jax.tabular.latency import LatencyTable

  space = spaces.get('nb201', primitives=('none', 'skip_connect', 'nor_conv_3x3', 'avg_pool_3x3'))
  meta = dict(
      space='nb201',
      primitives=list(space.primitives),
      channels=4,
      cells_per_stage=1,
      image_size=8,
      image_shape=[8, 8, 3],
      machine=f'{jax.default_backend()}: {jax.devices()[0].device_kind}',
  )
  lut = LatencyTable({1: np.full((3, 4), 1e-5)}, {1: 2e-4}, meta)
  config = _tiny()
  config.cost.name = 'latency'
  config.cost.target = 300.0
  config.cost.latency_table = str(tmp_path / 'lut.json')
  lut.save(config.cost.latency_table)
  table = components.cost_term(config, space, 10, (8, 8, 3)).table
  # 6 edges x 3 stages x 1 cell of 10 us each on top of the base's 200 us
  assert table.of_genotype(space, space.to_genotype((1,) * 6)) == pytest.approx(200 + 180)
  for key, value, what in (
      ('channels', 8, 'width (channels) 8'),
      ('machine', 'gpu: H100', "backend 'gpu: H100'"),
  ):
    LatencyTable(lut.ops, lut.base, dict(meta, **{key: value})).save(config.cost.latency_table)
    with pytest.raises(ConfigError, match=re.escape(f'was measured for {what};')):
      components.cost_term(config, space, 10, (8, 8, 3))


@pytest.mark.parametrize('name', strategies.NAMES)
def test_every_strategy_adds_the_cost_of_its_own_pass_weights(name):
  """In the architecture's loss, the cost term enters through the strategy's op weights of
  that pass (its sample, for the sampling strategies), and only there."""
  prims = ('none', 'skip_connect', 'nor_conv_1x1', 'avg_pool_3x3')
  strategy = components.strategy(
      configure(search_demo.get_config(), space='nb201', primitives=list(prims), strategy=name)
  )
  space = strategy.space
  model = space.supernet(10, channels=4, layers=1, **strategy.network_options())
  rng = np.random.RandomState(3)
  table = costs.CostTable('flops', 50.0, {'cell': rng.uniform(1, 20, space.shape())})
  term = costs.CostTerm(table, 80.0, 0.5)
  x = jnp.asarray(rng.randn(4, 8, 8, 3), jnp.float32)
  y = jnp.asarray([0, 1, 2, 3])
  key = jax.random.key(5, impl='rbg')
  arch = strategy.init(jax.random.key(1, impl='rbg'))
  weights0 = strategy.weights(arch, key, jnp.asarray(0))
  variables = model.init(
      jax.random.key(2), x, weights0, train=True, aux_coef=strategy.aux_coef(jnp.asarray(0))
  )
  with_cost = bilevel.make_loss_fn(model, strategy, term)
  plain = bilevel.make_loss_fn(model, strategy)

  @jax.jit
  def grads(arch):
    g = lambda fn, phase: jax.grad(
        lambda a: fn(variables['params'], variables['batch_stats'], a, x, y, key, 0, phase)[0]
    )(arch)
    direct = jax.grad(lambda a: term.apply(0.0, strategy.weights(a, key, jnp.asarray(0))))(arch)
    # The weights' passes keep the task loss (checked once: the gate is the strategy's own).
    weight_phase = g(with_cost, False) if name == 'darts' else None
    return g(with_cost, True), g(plain, True), weight_phase, direct

  g_cost, g_plain, g_weight_phase, g_direct = grads(arch)
  for k in arch:
    np.testing.assert_allclose(g_cost[k] - g_plain[k], g_direct[k], rtol=1e-4, atol=1e-6)
    if g_weight_phase is not None:
      np.testing.assert_array_equal(g_weight_phase[k], g_plain[k])
  assert any(float(jnp.abs(g_direct[k]).max()) > 0 for k in arch)


def test_a_measured_latency_table_is_whole_at_its_base_cell_and_checked_on_load(tmp_path):
  prims = ('none', 'skip_connect', 'nor_conv_3x3', 'avg_pool_3x3')
  space = spaces.get('nb201', primitives=prims)
  genotype = space.to_genotype((2, 1, 3, 0, 2, 1))
  model = space.evalnet(genotype, 10, channels=4, layers=1)
  table = costs.measure_latency(
      space, model, (8, 8, 3), genotype, 2, runs=2, repeats=2, network=dict(channels=4, layers=1)
  )
  # The base is what the measured network leaves after its cell's entries.
  assert table.of_genotype(space, genotype) == pytest.approx(table.metadata['measured_network_us'])
  # 'none' is folded away: the floor, once per cell (3 stages of N=1).
  np.testing.assert_allclose(table.ops['cell'][:, 0], 3 * costs._FLOOR_SECONDS * 1e6)
  assert (table.ops['cell'] > 0).all()
  # Every NB201 edge is the same place: one entry per op, repeated on the 6 edges.
  assert (table.ops['cell'] == table.ops['cell'][0]).all()
  path = str(tmp_path / 'lut.json')
  costs.save_table(table, path)
  config = _tiny()
  config.cost.name = 'latency'
  config.cost.target = 500.0
  config.cost.latency_table = path
  config.cost.latency_batch = 2
  loaded = components.cost_term(config, space, 10, (8, 8, 3)).table
  np.testing.assert_array_equal(loaded.ops['cell'], table.ops['cell'])
  config.cost.latency_batch = 1
  with pytest.raises(ConfigError, match=re.escape('was measured for batch 2; this search has 1')):
    components.cost_term(config, space, 10, (8, 8, 3))


def _nb201_case(seed=0):
  space = spaces.get('nb201')
  rng = np.random.default_rng(seed)
  strengths = {'cell': rng.dirichlet(np.ones(5), size=6)}
  table = costs.CostTable('flops', 40.0, {'cell': rng.uniform(0, 30, (6, 5))})
  return space, strengths, table


def test_the_hard_target_cell_is_the_strongest_of_all_cells_that_cost_no_more():
  """Brute force over all 5**6 NB201 cells, in NumPy: the cell derived within the budget meets
  it, and no cell that costs no more than it has a larger sum of log strengths (the Lagrangian
  solution's guarantee)."""
  space, strengths, table = _nb201_case()
  logp, c = np.log(strengths['cell']), table.ops['cell']
  archs = np.stack(np.meshgrid(*[np.arange(5)] * 6, indexing='ij'), -1).reshape(-1, 6)
  score = logp[np.arange(6), archs].sum(-1)
  cost = table.base + c[np.arange(6), archs].sum(-1)
  plain = table.of_genotype(space, space.derive(strengths))
  for target in (plain - 1.0, plain - 20.0, float(np.percentile(cost, 5))):
    found = costs.constrained_derive(space, strengths, table, target)
    arch = np.asarray(space.from_genotype(found.genotype))
    assert found.feasible and found.multiplier > 0
    assert found.cost == pytest.approx(table.base + c[np.arange(6), arch].sum())
    assert found.cost <= target
    mine = logp[np.arange(6), arch].sum()
    assert mine == pytest.approx(score[cost <= found.cost + 1e-9].max())
  # A budget the unconstrained cell meets leaves it as it is; one nothing meets is reported.
  met = costs.constrained_derive(space, strengths, table, plain)
  assert met.genotype == space.derive(strengths) and met.multiplier == 0.0
  low = costs.constrained_derive(space, strengths, table, float(cost.min()) - 1.0)
  assert not low.feasible and low.cost == pytest.approx(cost.min())


def test_filling_the_gap_keeps_the_budget_and_closes_part_of_it_by_brute_force():
  """``fill=True`` against brute force over all 5**6 NB201 cells, 6 random cases x 10 budgets:
  the filled cell is within the budget, at least as strong as the Lagrangian's cell and no
  stronger than the best cell within the budget; over the 60 budgets it reaches that best
  cell more often and leaves a smaller mean gap."""
  space = spaces.get('nb201')
  archs = np.stack(np.meshgrid(*[np.arange(5)] * 6, indexing='ij'), -1).reshape(-1, 6)
  gaps = []
  for seed in range(6):
    _, strengths, table = _nb201_case(seed)
    logp, c = np.log(strengths['cell']), table.ops['cell']
    score = logp[np.arange(6), archs].sum(-1)
    cost = table.base + c[np.arange(6), archs].sum(-1)
    strength = lambda g: logp[np.arange(6), np.asarray(space.from_genotype(g))].sum()
    for q in np.linspace(0.05, 0.95, 10):
      target = float(np.quantile(cost, q))
      hull = costs.constrained_derive(space, strengths, table, target)
      filled = costs.constrained_derive(space, strengths, table, target, fill=True)
      best = score[cost <= target].max()
      assert filled.feasible and filled.cost <= target
      assert filled.cost == pytest.approx(table.of_genotype(space, filled.genotype))
      assert strength(hull.genotype) - 1e-9 <= strength(filled.genotype) <= best + 1e-9
      gaps.append((best - strength(hull.genotype), best - strength(filled.genotype)))
  gaps = np.asarray(gaps)
  assert (gaps[:, 1] < 1e-9).sum() > (gaps[:, 0] < 1e-9).sum()
  assert gaps[:, 1].mean() < gaps[:, 0].mean()


def test_a_hard_target_in_the_darts_space_is_met_by_its_derived_cell():
  space = spaces.get('darts')
  rng = np.random.default_rng(1)
  shape = space.shape()
  strengths = {c: rng.dirichlet(np.ones(shape[1]), size=shape[0]) for c in space.cells}
  table = costs.CostTable('params', 1e4, {c: rng.uniform(0, 500, shape) for c in space.cells})
  plain = table.of_genotype(space, space.derive(strengths))
  cheapest = costs.constrained_derive(space, strengths, table, 0.0)  # nothing meets 0
  assert not cheapest.feasible and cheapest.cost < plain
  target = 0.5 * (plain + cheapest.cost)
  found = costs.constrained_derive(space, strengths, table, target)
  assert found.feasible and found.cost <= target
  # The cost of the genotype, counted by hand over its kept (op, input) pairs.
  index = lambda node, j: node * (node + 3) // 2 + j  # edges into node n: 2 + n of them
  by_hand = table.base + sum(
      table.ops[cell][index(k // 2, j), space.primitives.index(op)]
      for cell in space.cells
      for k, (op, j) in enumerate(getattr(found.genotype, cell))
  )
  assert found.cost == pytest.approx(by_hand)
  # Filling the gap keeps the budget and the kept pairs' summed log strength does not fall,
  # both counted by hand over the kept pairs.
  filled = costs.constrained_derive(space, strengths, table, target, fill=True)

  def by_hand_of(genotype, values):
    return sum(
        values[cell][index(k // 2, j), space.primitives.index(op)]
        for cell in space.cells
        for k, (op, j) in enumerate(getattr(genotype, cell))
    )

  logs = {c: np.log(v) for c, v in strengths.items()}
  assert filled.feasible and table.base + by_hand_of(filled.genotype, table.ops) <= target
  assert by_hand_of(filled.genotype, logs) >= by_hand_of(found.genotype, logs) - 1e-9


def test_a_hard_target_search_records_and_returns_a_cell_within_it(tmp_path):
  loose = _search(tmp_path, 'loose', name='flops', target=1e12, weight=0.0)
  space = loose['space']
  config = _tiny()
  config.cost.update(name='flops', target=1e12)
  table = components.cost_term(config, space, 10, (8, 8, 3)).table
  plain = loose['metrics'][-1]['cost_derived']
  cheapest = table.base + sum(float(t.min(axis=1).sum()) for t in table.ops.values())
  assert plain > cheapest  # the unconstrained cell holds a convolution
  target = 0.5 * (plain + cheapest)
  out = _search(tmp_path, 'hard', name='flops', target=target, weight=0.0, hard=True)
  last = out['metrics'][-1]
  assert last['cost_feasible'] and last['cost_derived'] <= target and last['cost_multiplier'] > 0
  assert table.of_genotype(space, out['genotype']) == pytest.approx(last['cost_derived'])
  assert out['genotype'] != loose['genotype']
  with open(tmp_path / 'hard' / 'cost.json') as f:
    written = json.load(f)
  assert written['feasible'] and written['rounds'] == [] and written['target'] == target
  assert written['predicted'] == pytest.approx(last['cost_derived'])


def test_fit_table_recovers_an_additive_cost_and_keeps_op_costs_non_negative():
  """Values made by hand from a known per-op cost are fitted back exactly."""
  space = spaces.get('nb201')
  rng = np.random.default_rng(2)
  genotypes = [space.to_genotype(tuple(rng.integers(0, 5, 6))) for _ in range(60)]
  per_op = np.array([0.0, 10.0, 300.0, 40.0, 25.0])
  values = [1000.0 + per_op[np.asarray(space.from_genotype(g))].sum() for g in genotypes]
  fitted = costs.fit_table(space, genotypes, values, 'memory_training')
  np.testing.assert_allclose(fitted.ops['cell'], np.tile(per_op, (6, 1)), atol=1e-6)
  assert fitted.base == pytest.approx(1000.0)
  # Untied: one entry per edge and op; the fit explains the values just as well.
  untied = costs.fit_table(space, genotypes, values, 'memory_training', tie_edges=False)
  np.testing.assert_allclose([untied.of_genotype(space, g) for g in genotypes], values, rtol=1e-6)
  # Edges that are different places (a measured table's distinct rows) get their own entries.
  measured = costs.CostTable('latency', 0.0, {'cell': np.array([[1.0] * 5] * 3 + [[2.0] * 5] * 3)})
  groups = costs.edge_groups(measured)
  np.testing.assert_array_equal(groups['cell'], [0, 0, 0, 1, 1, 1])
  per_group = np.array([per_op, 2 * per_op])
  values = [
      1000.0 + per_group[(np.arange(6) >= 3).astype(int), np.asarray(space.from_genotype(g))].sum()
      for g in genotypes
  ]
  grouped = costs.fit_table(space, genotypes, values, 'latency', groups=groups)
  np.testing.assert_allclose(grouped.ops['cell'], per_group[[0, 0, 0, 1, 1, 1]], atol=1e-6)
  # A negative effect cannot be represented: that op's cost is 0, not below it.
  values = [
      v - 50.0 * (np.asarray(space.from_genotype(g)) == 1).sum() for g, v in zip(genotypes, values)
  ]
  assert (costs.fit_table(space, genotypes, values, 'memory_training').ops['cell'] >= 0).all()


def _with_memory_column(table, training):
  """``table`` with a made-up ``memory_training`` column, as measured on this backend, in
  place of its own memory columns."""
  from nas_jax.tabular import costs as table_costs

  backend = f'{jax.default_backend()}: {jax.devices()[0].device_kind}'
  return table.with_arch_columns(
      {'memory_training': training}, drop=table_costs.MEMORY_METRICS, memory_backend=backend
  )


def test_a_memory_cost_is_fitted_from_table_columns_and_checked_on_load(tmp_path):
  from nas_jax import tabular
  from nas_jax.tabular import costs as table_costs

  table = tabular.load('shipped')
  space = table.space
  per_op = np.array([0.0, 3e4, 2e5, 5e4])
  training = 2e6 + per_op[np.asarray(table.archs)].sum(-1)
  with_memory = _with_memory_column(table, training)
  fitted, fit = table_costs.memory_cost_table(with_memory, 'memory_training')
  assert fit['mean_abs_error'] < 1e-9 and fit['kendall_tau'] > 0.999  # ties: float noise
  np.testing.assert_allclose(fitted.ops['cell'][0], per_op, atol=1e-3)
  # Three held-out cells at 10x their additive value: the fit on the other half is still
  # exact, so each of the three is off by |1 - 10| / 10 = 0.9 and every other cell by 0.
  held_out = np.random.default_rng(0).permutation(len(table))[len(table) // 2 :]
  spiked = training.copy()
  spiked[held_out[:3]] *= 10
  _, fit = table_costs.memory_cost_table(_with_memory_column(table, spiked), 'memory_training')
  assert fit['max_abs_error'] == pytest.approx(0.9) and fit['p95_abs_error'] < 1e-9
  assert fit['median_abs_error'] < 1e-9
  worst = {space.to_text(space.to_genotype(tuple(table.archs[i]))) for i in held_out[:3]}
  assert {cell['genotype'] for cell in fit['worst'][:3]} == worst
  assert all(c['value'] == pytest.approx(10 * c['predicted']) for c in fit['worst'][:3])
  path = str(tmp_path / 'memory.json')
  costs.save_table(fitted, path)
  protocol = table.metadata['protocol']
  config = _tiny()
  config.cost.update(
      name='memory_training',
      target=3e6,
      weight=1.0,
      memory_table=path,
      channels=protocol['channels'],
      layers=protocol['cells_per_stage'],
      memory_batch=protocol['batch_size'],
  )
  shape = data.input_shape(protocol['dataset'], protocol['image_size'])
  term = components.cost_term(config, space, 10, shape)
  arch = tuple(int(a) for a in table.archs[7])
  assert term.table.of_genotype(space, space.to_genotype(arch)) == pytest.approx(training[7])
  config.cost.memory_batch = 32
  with pytest.raises(ConfigError, match=re.escape('was measured for batch 64; this search has 32')):
    components.cost_term(config, space, 10, shape)
  with pytest.raises(ConfigError, match='has no memory_inference column'):
    table_costs.memory_cost_table(with_memory, 'memory_inference')


def test_the_memory_table_launcher_prints_its_fit_and_refuses_a_table_without_the_column(
    tmp_path,
):
  import subprocess
  import sys

  from test_launchers import REPO, launcher

  from nas_jax import tabular

  table = tabular.load('shipped')
  training = 1e6 + 2e5 * (np.asarray(table.archs) == 2).sum(-1)
  backend = f'{jax.default_backend()}: {jax.devices()[0].device_kind}'
  _with_memory_column(table, training).save(str(tmp_path / 'with_memory.npz'))
  lines = []
  with launcher('memory_table') as memory_table:
    fit = memory_table.fit(
        str(tmp_path / 'with_memory.npz'),
        'memory_training',
        str(tmp_path / 'memory.json'),
        0.5,
        0,
        lines.append,
    )
  assert fit['mean_abs_error'] < 1e-9
  assert lines[0].startswith('memory_training of 1236 cells: fitted on 618, held out 618')
  assert 'nor_conv_3x3 0.191 MiB' in lines[6]  # 2e5 bytes, after the 5 worst held-out cells
  assert lines[1].startswith('  held out: |')
  saved = costs.load_table(str(tmp_path / 'memory.json'))
  assert saved.metadata['fit']['held_out_cells'] == 618 and saved.metadata['backend'] == backend
  # A table without the column: one line, exit status 2, nothing written.
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.memory_table',
          '--table=mnist',
          f'--out={tmp_path}/bad.json',
      ],
      cwd=REPO,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert proc.stderr.strip().splitlines() == [
      'error: the table has no memory_training column of a known backend: add it with '
      'python -m experiments.table_memory'
  ]
  assert not (tmp_path / 'bad.json').exists()
  # --networks without the retraining config whose network it compiles: one line.
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.memory_table',
          '--networks=8',
          f'--out={tmp_path}/n.json',
      ],
      cwd=REPO,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
      'error: --networks needs --config, the retraining config whose network is compiled'
  ]
  assert not (tmp_path / 'n.json').exists()


def test_a_measured_hard_target_tightens_the_budget_until_the_measurement_meets_it():
  """A device twice as slow as the table says: the budget on the prediction is halved (by
  measured / target) until the measured cell is within the target, as computed by hand."""
  space, strengths, table = _nb201_case()
  plain = table.of_genotype(space, space.derive(strengths))
  cheapest = costs.constrained_derive(space, strengths, table, 0.0).cost
  # The plain cell measures 2 * plain > target; cells predicted within half of it exist.
  target = plain + cheapest
  slow = lambda g: 2.0 * table.of_genotype(space, g)
  found = costs.measured_derive(space, strengths, table, target, slow)
  assert found.feasible and slow(found.genotype) <= target
  predicted, measured = zip(*found.rounds)
  assert measured[-1] == pytest.approx(2 * predicted[-1]) and measured[-1] <= target
  assert all(m > target for m in measured[:-1]) and len(found.rounds) == 2
  # Round 1 is the table's hard target (met by the plain cell); round 2's budget is its
  # prediction scaled by target / measured: half the target.
  assert predicted[0] == pytest.approx(plain) and predicted[1] <= target / 2
  for (p0, m0), (p1, _) in zip(found.rounds, found.rounds[1:]):
    assert p1 <= p0 * target / m0 + 1e-9
  # A device no cell can satisfy: the cheapest measured cell, reported as missing it.
  hopeless = costs.measured_derive(space, strengths, table, target, lambda g: 1e9, rounds=3)
  assert not hopeless.feasible and len(hopeless.rounds) <= 3
  # Through the config: measured needs a latency or memory cost with a hard target.
  config = _tiny()
  config.cost.update(name='flops', target=100.0, measured=True, hard=True)
  with pytest.raises(ConfigError, match='measured needs a latency or memory cost'):
    components.cost_term(config, space, 10, (8, 8, 3))
  config.cost.update(measured=False, hard=False, fill=True)
  with pytest.raises(ConfigError, match=re.escape('config.cost.fill improves a hard target')):
    components.cost_term(config, space, 10, (8, 8, 3))


def test_a_rerun_of_a_finished_search_keeps_its_measured_cell(tmp_path):
  """The measured cell is read back from cost.json when the cost, target and architecture are
  the same (a rerun measures nothing); another architecture or target is measured again."""
  import types

  from nas_jax.search import _final_derive, _write_cost

  space, strengths, table = _nb201_case()
  strategy = types.SimpleNamespace(space=space, strengths=lambda arch: arch)
  plain = table.of_genotype(space, space.derive(strengths))
  target = plain + costs.constrained_derive(space, strengths, table, 0.0).cost
  calls = []
  slow = lambda g: calls.append(g) or 2.0 * table.of_genotype(space, g)
  term = costs.CostTerm(table, target, 0.0, hard=True, measure=slow)
  first = _final_derive(str(tmp_path), term, strategy, strengths)
  assert calls and first.feasible
  _write_cost(str(tmp_path), term, first, space, strengths)
  calls.clear()
  # A device that now measures differently does not change the finished search's cell.
  fickle = costs.CostTerm(table, target, 0.0, hard=True, measure=lambda g: calls.append(g) or 1e9)
  again = _final_derive(str(tmp_path), fickle, strategy, strengths)
  assert not calls and again == first
  other = {'cell': strengths['cell'][::-1].copy()}
  _final_derive(str(tmp_path), fickle, strategy, other)
  assert calls
  calls.clear()
  tighter = costs.CostTerm(table, 0.9 * target, 0.0, hard=True, measure=slow)
  _final_derive(str(tmp_path), tighter, strategy, strengths)
  assert calls


def test_a_measured_memory_target_compiles_the_cell_as_the_table_column_did():
  """The shipped memory fit under-predicts some cells; with ``measured`` the final cell's
  training program is compiled and XLA's peak read, which is the table's own column (recorded
  by a separate pass, python -m experiments.table_memory), and the cell is re-derived until
  that column is within the target."""
  from nas_jax import tabular

  table = tabular.load('shipped')
  space, protocol = table.space, table.metadata['protocol']
  column = table.arch['memory_training']
  truth = lambda g: column[table.row(space.from_genotype(g))]
  fit = costs.load_table(tabular.SHIPPED_MEMORY_TABLES['memory_training'])
  strengths = {'cell': np.random.default_rng(2).uniform(0.1, 1.0, (6, 4))}
  # The first target (of the column's quantiles) whose fitted-hard cell truly exceeds it.
  for target in np.quantile(column, np.linspace(0.1, 0.95, 35)):
    if truth(costs.constrained_derive(space, strengths, fit, target).genotype) > target:
      break
  else:
    pytest.fail('the fit met every target: pick other strengths')
  config = _tiny()
  config.cost.update(
      name='memory_training',
      target=float(target),
      hard=True,
      measured=True,
      memory_table=tabular.SHIPPED_MEMORY_TABLES['memory_training'],
      channels=protocol['channels'],
      layers=protocol['cells_per_stage'],
      memory_batch=protocol['batch_size'],
  )
  shape = data.input_shape(protocol['dataset'], protocol['image_size'])
  term = components.cost_term(
      config, space, data.dataset_meta(protocol['dataset']).num_classes, shape
  )
  found = costs.measured_derive(space, strengths, term.table, term.target, term.measure)
  assert found.feasible and len(found.rounds) >= 2 and truth(found.genotype) <= target
  predicted, measured = zip(*found.rounds)
  assert measured[0] > target and measured[-1] == truth(found.genotype)
  assert measured[0] == truth(costs.constrained_derive(space, strengths, fit, target).genotype)
  # A table without the recipe it was measured with cannot be measured again.
  bare = dataclasses.replace(
      term.table, metadata={k: v for k, v in term.table.metadata.items() if k != 'recipe'}
  )
  with pytest.raises(ConfigError, match='does not record the training recipe'):
    components._memory_measure('memory_training', bare, space, 10, 8, 1, shape)


def test_a_memory_table_fitted_on_compiled_networks_holds_their_peaks_and_resumes(tmp_path):
  """``memory_table --networks``: each network's peaks are XLA's analysis of the retraining
  config's own network (auxiliary head included), compiled here directly; the measured hard
  target compiles the same network from the table's record; a rerun compiles nothing."""
  from test_launchers import launcher

  from experiments.configs import train_demo
  from nas_jax import memory, train

  config = train_demo.get_config()
  config.update(layers=3, init_channels=8, batch_size=8)
  space, _ = train.network(config)
  shape = data.input_shape(config.dataset, config.image_size)
  out, lines = str(tmp_path / 'memory.json'), []
  with launcher('memory_table') as memory_table:
    fit = memory_table.fit_networks(
        config, 4, str(tmp_path / 'nets'), 'memory_training', out, 0.5, 0, lines.append
    )
    assert fit['fitted_cells'] == 2 and fit['held_out_cells'] == 2
    assert lines[0] == f'darts evaluation network of 4 genotypes, results in {tmp_path}/nets'
    saved = costs.load_table(out)
    assert saved.metadata['evalnet']['auxiliary'] is True and saved.metadata['batch'] == 8
    assert saved.metadata['recipe']['auxiliary_weight'] == 0.4
    genotype = costs.op_mixes(space, 4)[0]
    net = train.build_model(config, genotype, 10)
    direct = memory.network_memory(net, train.Recipe.from_config(config), shape, 8, ('training',))
    kept = [json.loads(p.read_text()) for p in sorted((tmp_path / 'nets').iterdir())]
    assert len(kept) == 4
    assert direct['training']['peak'] in [k['memory_training'] for k in kept]
    measure = components._memory_measure('memory_training', saved, space, 10, 8, 3, shape)
    assert measure(genotype) == direct['training']['peak']
    calls, original = [], memory.network_memory
    try:
      memory.network_memory = lambda *a, **k: calls.append(a) or original(*a, **k)
      again = memory_table.fit_networks(
          config, 4, str(tmp_path / 'nets'), 'memory_training', out, 0.5, 0, lines.append
      )
    finally:
      memory.network_memory = original
    assert not calls and again == fit
    with pytest.raises(ConfigError, match='--networks must be at least 4'):
      memory_table.fit_networks(config, 3, str(tmp_path / 'nets'), 'memory_training', out, 0.5, 0)
