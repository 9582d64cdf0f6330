"""Each search strategy's distinctive math against an independent computation."""

import json
import os
import re

from config_helpers import bare  # tests/ is on sys.path under pytest
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds
from test_search import tiny_config

from nas_jax import bilevel, components, search, spaces, strategies, supernet
from nas_jax.spaces import nb201
from nas_jax.spaces.darts import genotype as genotype_lib
from nas_jax.spaces.darts import ops as darts_ops
from nas_jax.spaces.darts import supernet as darts_supernet
from nas_jax.strategies import base, beta_darts, drnas, fairdarts, gdas, snas

SMALL_DARTS = ('none', 'max_pool_3x3', 'skip_connect', 'sep_conv_3x3')
# The end-to-end runs and the one-level step check the loop around each strategy (outputs,
# metrics, genotypes, updates); the ops are tested elsewhere. Small op sets with one cheap
# convolution at most keep their compiles short.
E2E_DARTS = ('none', 'max_pool_3x3', 'skip_connect', 'avg_pool_3x3')
E2E_NB201 = ('none', 'skip_connect', 'nor_conv_1x1', 'avg_pool_3x3')


def _config(**kw):
  defaults = dict(epochs=4, primitives=list(SMALL_DARTS), steps=2, multiplier=2)
  if kw.get('space') == 'nb201':
    defaults = dict(epochs=4)
  names = {k: kw.pop(k) for k in ('space', 'strategy') if k in kw}
  return bare(**{**defaults, **kw, **names})


def _strategy(name, space='darts', **kw):
  prims = list(nb201.NB201_PRIMITIVES) if space == 'nb201' else list(SMALL_DARTS)
  return components.strategy(_config(strategy=name, space=space, primitives=prims, **kw))


# --- GDAS --------------------------------------------------------------------------------------


def _run_counting(model, variables, x, weights):
  ran = []

  def interceptor(next_fun, args, kwargs, context):
    parent = context.module.parent
    if context.method_name == '__call__' and isinstance(parent, supernet._Candidates):
      k = [i for i, op in enumerate(parent.ops) if op is context.module]
      if k:
        jax.debug.callback(lambda i: ran.append(parent.edge.primitives[int(i)]), k[0])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(interceptor):
    out = jax.jit(lambda v, w: model.apply(v, x, w, mutable=['batch_stats'])[0])(variables, weights)
  jax.block_until_ready(out)
  jax.effects_barrier()
  return ran


def _small_darts_supernet(st):
  """A 3-cell DARTS-space supernet (C=4, 2 steps, :data:`SMALL_DARTS`) built for strategy ``st``."""
  return darts_supernet.SearchNetwork(
      3,
      channels=4,
      layers=3,
      primitives=SMALL_DARTS,
      steps=2,
      multiplier=2,
      stem_multiplier=1,
      **st.network_options(),
  )


@pytest.mark.parametrize('space', ['darts', 'nb201'])
def test_gdas_computes_exactly_one_op_per_edge(space):
  """A runtime callback in every candidate op counts the ops a forward pass actually runs."""
  st = _strategy('gdas', space)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 3)), jnp.float32)
  arch = st.init(jax.random.key(1, impl='rbg'))
  weights = st.weights(arch, jax.random.key(2, impl='rbg'), jnp.asarray(0))
  if space == 'darts':
    model = _small_darts_supernet(st)
    cells = {'normal': 1, 'reduce': 2}  # layers 1 and 2 are the reductions
    variables = model.init(jax.random.key(0), x, weights)
    ran = _run_counting(model, variables, x, weights)
  else:
    model = nb201.NB201SearchNetwork(3, channels=4, cells_per_stage=1, **st.network_options())
    variables = model.init(jax.random.key(0), x, weights)
    ran = _run_counting(model, variables, x, weights)
    cells = {'cell': 3}
    # Structure: one real conditional per edge in the compiled program (6 edges x 3 cells).
    hlo = (
        jax.jit(lambda v, w: model.apply(v, x, w, mutable=['batch_stats'])[0])
        .lower(variables, weights)
        .compile()
        .as_text()
    )
    assert len(re.findall(r'= .*conditional\(', hlo)) == 18
  expected = []
  for cell, times in cells.items():
    chosen = [st.space.primitives[k] for k in np.argmax(np.asarray(weights[cell]), -1)]
    assert np.allclose(np.sort(np.asarray(weights[cell]), -1)[:, -1], 1.0)  # one-hot in value
    expected += chosen * times
  assert len(ran) == st.space.num_edges * sum(cells.values())
  assert sorted(ran) == sorted(expected)


@pytest.mark.parametrize('space', ['darts', 'nb201'])
def test_gdas_alpha_gradient_is_the_straight_through_estimator(space):
  """d loss / d alpha from the hard mixed op equals the estimator written out by hand.

  With u_k = dL/dh_k (the selected op: <R, op_k(x)>; an op not run: sum(R) in
  NB201's estimator, 0 in the DARTS-space one) and p the tempered softmax,
  dL/dalpha = p * (u - <p, u>) / tau.
  """
  prims = (
      nb201.NB201_PRIMITIVES
      if space == 'nb201'
      else ('none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect')
  )
  st = components.strategy(_config(strategy='gdas', space=space, primitives=list(prims), epochs=5))
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(4, 2, 6, 6)), jnp.float32)
  r = jnp.asarray(rng.normal(size=(4, 2, 6, 6)), jnp.float32)
  arch = {c: jnp.asarray(rng.normal(size=st.space.shape()), jnp.float32) for c in st.space.cells}
  key, epoch = jax.random.key(5, impl='rbg'), jnp.asarray(2)
  cell = st.space.cells[0]
  # The DARTS-space supernet builds its edges with hard_others=False (the test below).
  opts = supernet.EdgeOptions(prims, st.space.registry, mode='hard', hard_others=space == 'nb201')
  mixed = supernet.MixedOp(4, 1, opts)
  variables = mixed.init(jax.random.key(0), x, st.weights(arch, key, epoch)[cell][0])

  def loss(a):
    w = st.weights(a, key, epoch)[cell][0]
    out, _ = mixed.apply(variables, x, w, mutable=['batch_stats'])
    return jnp.sum(out * r)

  got = jax.grad(loss)(arch)[cell][0]
  tau = float(st.tau(epoch))
  assert tau == pytest.approx(10.0 - (10.0 - 0.1) * 2 / 4)
  keys = jax.random.split(key, len(st.space.cells))
  _, probs = gdas.hard_gumbel(arch[cell], keys[0], tau)
  p = np.asarray(probs[0], np.float64)
  chosen = int(np.argmax(p))
  outputs = []
  for name in prims:  # each candidate alone, with the mixed op's variables
    op = st.space.registry.make(name, 4, 1)
    v = {
        col: tree['candidates'][name]
        for col, tree in variables.items()
        if name in tree['candidates']
    }
    outputs.append(np.asarray(op.apply(v, x, True, mutable=['batch_stats'])[0], np.float64))
  r64 = np.asarray(r, np.float64)
  u = np.full(len(prims), r64.sum() if space == 'nb201' else 0.0)
  u[chosen] = np.sum(outputs[chosen] * r64)
  expected = p * (u - p @ u) / tau
  np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-4, atol=1e-5)
  # The value is the chosen op's output alone.
  out, _ = mixed.apply(variables, x, st.weights(arch, key, epoch)[cell][0], mutable=['batch_stats'])
  np.testing.assert_allclose(np.asarray(out), outputs[chosen], rtol=1e-5, atol=1e-5)


def test_gdas_darts_supernet_gives_only_the_sampled_ops_weight_a_gradient():
  """The GDAS code's DARTS-space cell computes ``h_k* op_k*(x)`` alone: in the DARTS
  supernet, dL/dh is exactly 0 for every op that was not sampled (NB201's cell adds them)."""
  st = _strategy('gdas', 'darts')
  rng = np.random.default_rng(4)
  x = jnp.asarray(rng.normal(size=(2, 8, 8, 3)), jnp.float32)
  model = _small_darts_supernet(st)
  weights = st.weights(st.init(jax.random.key(1, impl='rbg')), jax.random.key(2, impl='rbg'), 0)
  variables = model.init(jax.random.key(0), x, weights)
  r = jnp.asarray(rng.normal(size=(2, 3)), jnp.float32)
  loss = lambda w: jnp.sum(model.apply(variables, x, w, mutable=['batch_stats'])[0] * r)
  grads = jax.jit(jax.grad(loss))(weights)
  for cell in st.space.cells:
    w, g = np.asarray(weights[cell]), np.asarray(grads[cell])
    sampled = np.arange(w.shape[1])[None, :] == np.argmax(w, -1)[:, None]
    assert np.all(g[~sampled] == 0.0)
    assert np.any(g[sampled] != 0.0)


# --- SNAS --------------------------------------------------------------------------------------


def test_snas_concrete_sample_follows_the_gumbel_max_law_and_anneals():
  """argmax of the concrete sample is distributed as softmax(alpha) at any temperature."""
  alpha = jnp.asarray([0.5, -1.0, 1.5, 0.0])
  keys = jax.random.split(jax.random.key(0, impl='rbg'), 40000)
  z = jax.vmap(lambda k: snas.concrete(alpha, k, 0.7))(keys)
  np.testing.assert_allclose(np.asarray(z.sum(-1)), 1.0, rtol=1e-5)
  freq = np.bincount(np.asarray(jnp.argmax(z, -1)), minlength=4) / len(keys)
  np.testing.assert_allclose(freq, np.asarray(jax.nn.softmax(alpha)), atol=0.01)
  st = _strategy('snas', epochs=11)
  assert float(st.tau(0)) == pytest.approx(1.0)
  assert float(st.tau(10)) == pytest.approx(0.03)
  assert float(st.tau(5)) == pytest.approx(0.515)
  assert st.one_level and st.stochastic
  # The forward weights use tau(epoch): softmax((alpha + g) / tau) with the cell's Gumbel draw.
  arch = {
      c: jnp.asarray(np.random.default_rng(6).normal(size=(5, 4)), jnp.float32)
      for c in ('normal', 'reduce')
  }
  key = jax.random.key(3, impl='rbg')
  for epoch in (0, 5, 10):
    w = st.weights(arch, key, jnp.asarray(epoch))
    for cell, k in zip(('normal', 'reduce'), jax.random.split(key, 2)):
      z = (np.asarray(arch[cell], np.float64) + np.asarray(base.gumbel(k, (5, 4)), np.float64)) / (
          1.0 - 0.097 * epoch
      )  # tau: 1 -> 0.03 linearly over epochs 0..10
      p = np.exp(z - z.max(-1, keepdims=True))
      np.testing.assert_allclose(
          np.asarray(w[cell]), p / p.sum(-1, keepdims=True), rtol=1e-4, atol=1e-6
      )
  # A lower temperature gives sharper samples (same noise).
  sharp = np.asarray(st.weights(arch, key, jnp.asarray(10))['normal']).max(-1)
  soft = np.asarray(st.weights(arch, key, jnp.asarray(0))['normal']).max(-1)
  assert np.all(sharp >= soft) and sharp.mean() > soft.mean() + 0.1


def test_one_level_step_and_arch_warmup():
  """SNAS' step: w and alpha take the gradient of one training loss; alpha frozen in warm-up."""
  st = components.strategy(
      _config(strategy='snas', space='nb201', primitives=list(E2E_NB201), epochs=3)
  )
  model = nb201.NB201SearchNetwork(
      3, channels=4, cells_per_stage=1, primitives=E2E_NB201, **st.network_options()
  )
  rng = np.random.default_rng(0)
  batch = lambda: (
      jnp.asarray(rng.normal(size=(4, 8, 8, 3)), jnp.float32),
      jnp.asarray(rng.integers(0, 3, 4)),
  )
  train, val = batch(), batch()
  weight_tx, arch_tx = optax.sgd(0.1), optax.sgd(1.0)
  state = bilevel.init_state(model, jax.random.key(0, impl='rbg'), train[0], weight_tx, arch_tx, st)
  step = jax.jit(
      bilevel.make_search_step(
          model,
          weight_tx,
          arch_tx,
          lambda s: 0.1,
          order=1,
          hyper=bilevel.Hyper(),
          strategy=st,
          steps_per_epoch=1,
          arch_warmup_epochs=1,
      )
  )
  loss_fn = bilevel.make_loss_fn(model, st)

  def expected(state):
    key = jax.random.fold_in(jax.random.fold_in(bilevel.unwrap_key(state.key), state.step), 1)
    g_w, g_a = jax.grad(
        lambda p, a: loss_fn(p, state.batch_stats, a, *train, key, state.step)[0], argnums=(0, 1)
    )(state.params, state.arch)
    return (
        jax.tree.map(lambda w, g: w - 0.1 * g, state.params, g_w),
        jax.tree.map(lambda a, g: a - g, state.arch, g_a),
    )

  for epoch in range(2):
    params, arch = expected(state)
    new, metrics = step(state, train, val)
    for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(params)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    if epoch == 0:  # warm-up: alpha unchanged
      np.testing.assert_array_equal(new.arch['cell'], state.arch['cell'])
    else:
      assert not np.allclose(new.arch['cell'], state.arch['cell'])
      np.testing.assert_allclose(new.arch['cell'], arch['cell'], rtol=1e-4, atol=1e-6)
    assert np.isfinite(metrics['val_loss'])
    state = new


# --- PC-DARTS ----------------------------------------------------------------------------------


def test_partial_channels_split_and_shuffle_is_a_permutation():
  c, k = 8, 4
  x = jnp.arange(c * 2 * 3 * 3, dtype=jnp.float32).reshape(c, 2, 3, 3)
  mixed = supernet.MixedOp(c, 1, supernet.EdgeOptions(('skip_connect',), darts_ops.OPS, partial=k))
  out = mixed.apply(mixed.init(jax.random.key(0), x, jnp.ones(1)), x, jnp.ones(1))
  # Hand-derived: output channel o = i * K + g holds input channel g * (C / K) + i.
  perm = [(o % k) * (c // k) + o // k for o in range(c)]
  assert sorted(perm) == list(range(c))
  np.testing.assert_array_equal(np.asarray(out), np.asarray(x)[perm])
  np.testing.assert_array_equal(np.asarray(supernet.channel_shuffle(x, k)), np.asarray(x)[perm])


def test_partial_channels_only_send_a_quarter_through_the_ops():
  mixed = supernet.MixedOp(8, 2, supernet.EdgeOptions(SMALL_DARTS, darts_ops.OPS, partial=4))
  x = jnp.asarray(np.random.default_rng(1).normal(size=(8, 2, 6, 6)), jnp.float32)
  w = jnp.full((4,), 0.25)
  variables = mixed.init(jax.random.key(0), x, w)
  kernel = variables['params']['sep_conv_3x3']['pw_0']['kernel']
  assert kernel.shape == (2, 2)  # C / K channels
  out = mixed.apply(variables, x, w, mutable=['batch_stats'])[0]
  bypass = np.asarray(supernet.max_pool_2x2(x[2:]))
  kept = [o for o in range(8) if o % 4]  # output o holds concat channel (o % 4) * 2 + o // 4
  np.testing.assert_allclose(
      np.asarray(out)[kept], bypass[[(o % 4) * 2 + o // 4 - 2 for o in kept]], rtol=1e-6
  )


def test_edge_normalization_decides_the_kept_inputs():
  st = _strategy('pcdarts', epochs=50)
  assert st.partial == 4
  arch = st.init(jax.random.key(0, impl='rbg'))
  assert set(arch) == {'normal', 'reduce', 'beta_normal', 'beta_reduce'}
  alpha = np.zeros((5, 4), np.float32)
  alpha[:, 3] = 2.0  # sep_conv_3x3 strongest on every edge, equally
  for favoured, expected in (((2, 4), [0, 2]), ((3, 4), [1, 2])):
    beta = np.zeros(5, np.float32)
    beta[list(favoured)] = 3.0  # node 1's edges are rows 2, 3, 4 (inputs 0, 1, 2)
    a = {'normal': alpha, 'reduce': alpha, 'beta_normal': beta, 'beta_reduce': beta}
    g = st.derive(a)
    assert sorted(j for _, j in g.normal[2:]) == expected
    assert all(op == 'sep_conv_3x3' for op, _ in g.normal)
    # Plain DARTS on the same alpha cannot tell the edges apart: the first two win.
    assert sorted(j for _, j in _strategy('darts').derive(a).normal[2:]) == [0, 1]
  # The forward weights carry softmax(beta) within each node.
  w, scale = st.weights(a, None, 0)['normal']
  np.testing.assert_allclose(np.asarray(scale[:2]), [0.5, 0.5], rtol=1e-6)
  e = np.exp([0.0, 3.0, 3.0])
  np.testing.assert_allclose(np.asarray(scale[2:]), e / e.sum(), rtol=1e-6)


# --- DrNAS -------------------------------------------------------------------------------------


def test_drnas_pathwise_gradient_matches_finite_differences_in_expectation():
  """E[f(w)], w ~ Dir(elu(alpha) + 1): the mean pathwise gradient over a fixed set of keys
  against central differences of the same Monte Carlo mean and against the closed form.

  The differences use a wide step (0.05): at a fixed key the gamma sampler's
  rejection step makes single samples jump as alpha moves, so narrow
  differences of the Monte Carlo mean are dominated by a few jumps.
  """
  with jax.enable_x64(True):
    alpha = jnp.asarray([0.3, -0.5, 1.2, 0.0], jnp.float64)
    coef = jnp.asarray([1.0, -2.0, 0.5, 3.0], jnp.float64)
    keys = jax.random.split(jax.random.key(0), 20000)

    def mc(a):
      w = jax.vmap(lambda k: jax.random.dirichlet(k, drnas.concentration(a)))(keys)
      return jnp.mean(jnp.sum(coef * w**2, -1))

    def exact(a):  # E[w_i^2] = c_i (c_i + 1) / (S (S + 1))
      c = drnas.concentration(a)
      s = jnp.sum(c)
      return jnp.sum(coef * c * (c + 1) / (s * (s + 1)))

    pathwise = np.asarray(jax.jit(jax.grad(mc))(alpha))
    mc_jit, eps = jax.jit(mc), 0.05
    fd = np.array(
        [
            (mc_jit(alpha.at[i].add(eps)) - mc_jit(alpha.at[i].add(-eps))) / (2 * eps)
            for i in range(4)
        ]
    )
    closed = np.asarray(jax.grad(exact)(alpha))
  np.testing.assert_allclose(pathwise, fd, rtol=0.05, atol=2e-3)
  np.testing.assert_allclose(pathwise, closed, rtol=0.05, atol=2e-3)


def test_drnas_regularizers():
  c = jnp.asarray([[0.7, 2.0, 1.3], [1.0, 1.0, 1.0]])
  kl = np.asarray(drnas.dirichlet_kl(c, jnp.ones_like(c)))
  assert kl[1] == pytest.approx(0.0, abs=1e-6)
  samples = jax.random.dirichlet(jax.random.key(1), c[0], (200000,))
  logq = jax.scipy.stats.dirichlet.logpdf(samples.T, c[0])
  logp = jax.scipy.stats.dirichlet.logpdf(samples.T, jnp.ones(3))
  assert kl[0] == pytest.approx(float(jnp.mean(logq - logp)), rel=0.02)
  arch = {
      'normal': jnp.asarray([[0.5, -1.0, 2.0, 0.1]]),
      'reduce': jnp.asarray([[0.0, 0.3, -0.2, 1.0]]),
  }
  l2 = _strategy('drnas', reg_scale=0.1)
  expected = 0.1 * 0.5 * sum(float(jnp.sum(a**2)) for a in arch.values())
  assert float(l2.regularizer(arch, 0)) == pytest.approx(expected, rel=1e-6)
  st = _strategy('drnas', reg='kl', reg_scale=0.1)
  conc = {k: jax.nn.elu(v) + 1 for k, v in arch.items()}
  expected = 0.1 * sum(float(drnas.dirichlet_kl(v, jnp.ones_like(v)).sum()) for v in conc.values())
  assert float(st.regularizer(arch, 0)) == pytest.approx(expected, rel=1e-6)
  w = st.weights(arch, jax.random.key(0, impl='rbg'), 0)
  np.testing.assert_allclose(np.asarray(w['normal'].sum(-1)), 1.0, rtol=1e-5)
  with pytest.raises(ValueError, match="config.strategy.reg must be 'l2' or 'kl'"):
    _strategy('drnas', reg='l1')


# --- FairDARTS, beta-DARTS, DARTS- --------------------------------------------------------------


def test_fairdarts_zero_one_loss_value_and_gradient():
  rng = np.random.default_rng(2)
  arch = {'normal': rng.normal(size=(5, 4)), 'reduce': rng.normal(size=(5, 4))}
  st = _strategy('fairdarts', zero_one_weight=10.0)
  with jax.enable_x64(True):
    a64 = {k: jnp.asarray(v) for k, v in arch.items()}
    value = float(st.regularizer(a64, 0))
    grad = jax.grad(lambda a: st.regularizer(a, 0))(a64)
  s = {k: 1 / (1 + np.exp(-v)) for k, v in arch.items()}
  n = sum(v.size for v in arch.values())
  assert value == pytest.approx(
      -10.0 * sum(np.sum((v - 0.5) ** 2) for v in s.values()) / n, rel=1e-12
  )
  for k in arch:  # d/da of -(s - 1/2)^2 / n is -2 (s - 1/2) s (1 - s) / n
    np.testing.assert_allclose(
        grad[k], -10.0 * 2 * (s[k] - 0.5) * s[k] * (1 - s[k]) / n, rtol=1e-10
    )
  w = st.weights({k: jnp.asarray(v) for k, v in arch.items()}, None, 0)
  np.testing.assert_allclose(np.asarray(w['normal']), s['normal'], rtol=1e-6)
  assert fairdarts.zero_one_loss({'x': jnp.zeros(3)}, ['x']) == 0.0


def test_beta_decay_regularizer_gradient_is_softmax_over_edges():
  rng = np.random.default_rng(4)
  arch = {
      'normal': jnp.asarray(rng.normal(size=(5, 4))),
      'reduce': jnp.asarray(rng.normal(size=(5, 4))),
  }
  st = _strategy('beta_darts', epochs=10, beta_decay_max=50.0)
  assert float(st.coefficient(4)) == pytest.approx(20.0)
  grad = jax.grad(lambda a: st.regularizer(a, 4))(arch)
  for k, a in arch.items():
    p = np.exp(a) / np.exp(a).sum(-1, keepdims=True)
    np.testing.assert_allclose(grad[k], 20.0 * p / 10, rtol=1e-5)
  lse = np.log(np.exp(np.concatenate([arch['normal'], arch['reduce']])).sum(-1))
  assert float(beta_darts.beta_decay_loss(arch, ['normal', 'reduce'])) == pytest.approx(
      lse.mean(), rel=1e-5
  )


def test_darts_minus_auxiliary_skip():
  st = _strategy('darts_minus', epochs=50)
  assert [float(st.aux_coef(e)) for e in (0, 25, 49)] == pytest.approx([1.0, 0.5, 0.02])
  x = jnp.asarray(np.random.default_rng(5).normal(size=(4, 2, 6, 6)), jnp.float32)
  w = jax.nn.softmax(jnp.asarray([0.2, -0.4, 1.0, 0.3]))
  plain = supernet.MixedOp(4, 1, supernet.EdgeOptions(SMALL_DARTS, darts_ops.OPS))
  aux = supernet.MixedOp(4, 1, supernet.EdgeOptions(SMALL_DARTS, darts_ops.OPS, aux_skip=True))
  v = plain.init(jax.random.key(0), x, w)
  a = plain.apply(v, x, w, mutable=['batch_stats'])[0]
  b = aux.apply(v, x, w, None, jnp.asarray(0.3), mutable=['batch_stats'])[0]
  np.testing.assert_allclose(np.asarray(b), np.asarray(a + 0.3 * x), rtol=1e-5, atol=1e-6)


# --- strategy interface and end to end --------------------------------------------------------


def test_registry_and_config_errors():
  assert set(strategies.NAMES) == {
      'darts',
      'gdas',
      'snas',
      'pcdarts',
      'drnas',
      'darts_minus',
      'fairdarts',
      'beta_darts',
  }
  cases = [
      ({'strategy_name': 'enas'}, "config.strategy_name: unknown strategy 'enas'"),
      (
          {'space_name': 'nb101'},
          "config.space_name: unknown search space 'nb101'; did you mean 'nb201'?",
      ),
      ({'space_name': 'nbgraph'}, 'config.space_name: the nbgraph space has no supernet'),
      ({'strategy': 'snas', 'order': 2}, 'config.order must be 1 for the one-level strategy'),
      (
          {'space': 'nb201', 'primitives': ('none', 'max_pool_3x3')},
          "config.space.primitives: unknown op 'max_pool_3x3'",
      ),
      ({'strategy': 'pcdarts', 'init_channels': 4}, 'must be a multiple of 8'),
      ({'arch_warmup_epochs': -1}, 'config.arch_warmup_epochs must be'),
  ]
  for overrides, message in cases:
    with pytest.raises(search.ConfigError, match=message.replace('(', r'\(').replace(')', r'\)')):
      search.validate_config(tiny_config(**overrides))


def _space_config(space, strategy):
  if space == 'nb201':
    return tiny_config(
        strategy=strategy,
        space='nb201',
        primitives=list(E2E_NB201),
        layers=1,
        init_channels=4,
        epochs=1,
    )
  return tiny_config(
      strategy=strategy,
      layers=3,
      steps=2,
      multiplier=2,
      primitives=list(E2E_DARTS),
      init_channels=8,
      epochs=1,
  )


@pytest.mark.parametrize('space', ['darts', 'nb201'])
@pytest.mark.parametrize(
    'strategy',
    ['darts', 'gdas', 'snas', 'pcdarts', 'drnas', 'darts_minus', 'fairdarts', 'beta_darts'],
)
def test_every_strategy_searches_end_to_end(tmp_path, strategy, space):
  config = _space_config(space, strategy)
  if strategy == 'pcdarts':
    config.strategy.partial_channels = 2
  with tfds.testing.mock_data(num_examples=16):
    result = search.run_search(config, str(tmp_path), log=lambda line: None)
  text = open(tmp_path / 'genotype.txt').read().strip()
  plots = (
      {'alphas.png', 'cell.png'}
      if space == 'nb201'
      else {'alphas.png', 'cell_normal.png', 'cell_reduce.png'}
  )
  assert plots <= set(os.listdir(tmp_path))
  assert not ({'cell.png', 'cell_normal.png', 'cell_reduce.png'} - plots) & set(
      os.listdir(tmp_path)
  )
  if space == 'nb201':
    g = nb201.NB201Genotype.from_string(text)
    assert g == result['genotype'] and len(g.edges()) == 6
  else:
    g = genotype_lib.load_genotype(str(tmp_path / 'genotype.json'))
    assert g == result['genotype'] and len(g.normal) == 4
  assert result['space'].to_text(result['genotype']) == text
  record = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')][-1]
  cells = ('cell',) if space == 'nb201' else ('normal', 'reduce')
  for cell in cells:
    assert np.asarray(record[f'alpha_{cell}']).shape == (
        6 if space == 'nb201' else 5,
        len(config.space.primitives),
    )
  assert np.isfinite(record['train_loss']) and np.isfinite(record['val_loss'])
  saved = np.load(tmp_path / 'alphas.npz')
  assert set(saved.files) >= set(cells)
  if strategy == 'pcdarts':
    assert {f'beta_{c}' for c in cells} <= set(saved.files)


def test_collapse_counts_and_nb201_seed_summary():
  # DARTS_V1's normal cell keeps three skip connections (and no other parameter-free op).
  assert search.collapse_counts(genotype_lib.DARTS_V1, spaces.get('darts')) == {
      'skip': 3,
      'param_free': 3,
      'edges': 8,
  }
  g = nb201.NB201Genotype.from_string(
      '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
  )
  assert search.collapse_counts(g, spaces.get('nb201')) == {'skip': 2, 'param_free': 3, 'edges': 6}
  s = search.summarize_seeds([0, 1], [g, g], [0.5, 0.7], spaces.get('nb201'))
  assert s['op_counts'] == {'cell': {'nor_conv_3x3': 6, 'skip_connect': 4, 'avg_pool_3x3': 2}}
  assert s['edge_counts']['cell']['node3<-2'] == 2 and len(s['edge_counts']['cell']) == 6
  assert s['genotypes']['1'] == str(g)
  assert s['collapse']['0']['skip'] == 2
