"""The wiring between strategies, the jitted step and the networks, against hand computations.

Each strategy's own math is tested in ``test_strategies.py``; these tests
check that what a strategy computes actually reaches the step and the cells:
the regularizer enters the architecture loss, DARTS-' coefficient reaches
every edge, PC-DARTS' edge scales multiply every edge, the warm-up freezes
Adam's state, clipping and the schedules are DARTS', and unrolled phases
compute what the phase scan does.
"""

from config_helpers import bare  # tests/ is on sys.path under pytest
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from nas_jax import bilevel, components, search, supernet
from nas_jax.spaces import nb201
from nas_jax.spaces.darts import ops as darts_ops
from nas_jax.spaces.darts import supernet as darts_supernet

SMALL_DARTS = ('none', 'max_pool_3x3', 'skip_connect', 'sep_conv_3x3')
# The step tests check wiring, not ops: parameter-free candidates compile several times faster.
CHEAP = ('none', 'max_pool_3x3', 'skip_connect', 'avg_pool_3x3')
SKIP = SMALL_DARTS.index('skip_connect')
EPOCHS = 4


def _strategy(name, space='darts', **kw):
  prims = list(nb201.NB201_PRIMITIVES) if space == 'nb201' else list(CHEAP)
  darts_only = dict(steps=2, multiplier=2) if space == 'darts' else {}
  c = bare(space=space, strategy=name, epochs=EPOCHS, primitives=prims, **darts_only, **kw)
  return components.strategy(c)


def _batches(seed=0, n=4, size=8):
  rng = np.random.default_rng(seed)
  batch = lambda: (
      jnp.asarray(rng.normal(size=(n, size, size, 3)), jnp.float32),
      jnp.asarray(rng.integers(0, 3, n)),
  )
  return batch(), batch()


def _model(st):
  return darts_supernet.SearchNetwork(
      3,
      channels=4,
      layers=3,
      primitives=CHEAP,
      steps=2,
      multiplier=2,
      stem_multiplier=1,
      **st.network_options(),
  )


def _flat(tree):
  return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def _sigmoid(a):
  return 1 / (1 + np.exp(-a))


def _hand_regularizer(name, arch, epoch):
  """Each strategy's regularizer written out from its paper's formula (jnp, for jax.grad)."""
  cells = ('normal', 'reduce')
  if name == 'fairdarts':  # -w01 mean (sigmoid - 1/2)^2, w01 = 10
    s = jnp.concatenate([jax.nn.sigmoid(arch[c]).ravel() for c in cells])
    return -10.0 * jnp.mean((s - 0.5) ** 2)
  if name == 'beta_darts':  # lambda(epoch) mean_e logsumexp(alpha_e), lambda = 50 epoch / E
    lse = jnp.concatenate([jnp.log(jnp.sum(jnp.exp(arch[c]), -1)) for c in cells])
    return 50.0 * epoch / EPOCHS * jnp.mean(lse)
  if name == 'drnas':  # reg_scale / 2 ||alpha||^2, reg_scale = 1e-3 (the code's Adam decay)
    return 1e-3 / 2 * sum(jnp.sum(arch[c] ** 2) for c in cells)
  return 0.0


# Strategies whose wiring into the step differs from DARTS': a regularizer (fairdarts,
# beta_darts, drnas), the auxiliary skip coefficient (darts_minus), edge scales (pcdarts).
@pytest.mark.parametrize('name', ['fairdarts', 'beta_darts', 'drnas', 'darts_minus', 'pcdarts'])
def test_step_updates_alpha_by_the_gradient_of_cross_entropy_plus_regularizer(name):
  """alpha_new = alpha - d/d alpha [CE(val) + R(alpha)], with R and the network inputs by hand."""
  kw = {'partial_channels': 2} if name == 'pcdarts' else {}
  st = _strategy(name, **kw)
  model = _model(st)
  train, val = _batches()
  weight_tx = bilevel.weight_optimizer(
      lambda s: 0.05, momentum=0.9, weight_decay=3e-4, grad_clip=None
  )
  arch_tx = optax.sgd(1.0)  # alpha_new = alpha - g: the step's gradient is readable
  state = bilevel.init_state(model, jax.random.key(0, impl='rbg'), train[0], weight_tx, arch_tx, st)
  rng = np.random.default_rng(1)
  epoch = 2  # beta-DARTS' lambda and DARTS-' coefficient are non-zero and not at their ends
  state = state.replace(
      step=jnp.asarray(epoch, jnp.int32),
      arch=jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape), jnp.float32), state.arch),
  )
  hyper = bilevel.Hyper(0.9, 3e-4)
  make = lambda unroll: jax.jit(
      bilevel.make_search_step(
          model,
          weight_tx,
          arch_tx,
          lambda s: 0.05,
          order=1,
          hyper=hyper,
          strategy=st,
          steps_per_epoch=1,
          unroll_phases=unroll,
      )
  )
  new, metrics = make(False)(state, train, val)

  # The architecture phase is the step's first: its key is fold_in(fold_in(key, step), 0).
  key = jax.random.fold_in(jax.random.fold_in(bilevel.unwrap_key(state.key), epoch), 0)
  aux = 1.0 * (EPOCHS - epoch) / EPOCHS if name == 'darts_minus' else None  # beta0 (E - e) / E

  def cross_entropy(arch, aux_coef=aux):
    logits, _ = model.apply(
        {'params': state.params, 'batch_stats': state.batch_stats},
        val[0],
        st.weights(arch, key, epoch),
        train=True,
        aux_coef=aux_coef,
        mutable=['batch_stats'],
    )
    return optax.softmax_cross_entropy_with_integer_labels(logits, val[1]).mean()

  total = lambda arch: cross_entropy(arch) + _hand_regularizer(name, arch, epoch)
  g_total = jax.jit(jax.grad(total))(state.arch)
  expected = jax.tree.map(lambda a, g: a - g, state.arch, g_total)
  for k in state.arch:
    np.testing.assert_allclose(new.arch[k], expected[k], rtol=1e-4, atol=2e-6, err_msg=k)
  # The regularizer really shapes the update (it is not lost in the tolerance).
  if name in ('fairdarts', 'beta_darts', 'drnas'):
    g_reg = _flat(jax.grad(lambda a: _hand_regularizer(name, a, epoch))(state.arch))
    assert np.linalg.norm(g_reg) > 1e-2 * np.linalg.norm(_flat(g_total) - g_reg)
    assert float(metrics['arch_reg']) == pytest.approx(
        float(_hand_regularizer(name, new.arch, epoch)), rel=1e-5
    )
  if name == 'darts_minus':  # the coefficient reaches the network: aux 0 is another loss
    assert abs(float(cross_entropy(state.arch, 0.0)) - float(cross_entropy(state.arch))) > 1e-3
  if name == 'pcdarts':  # beta gets a gradient through the cells' edge scales
    for cell in ('normal', 'reduce'):
      assert np.abs(np.asarray(g_total[f'beta_{cell}'])).min() > 1e-7
  if name == 'drnas':  # stochastic: unrolled phases draw the same samples as the scan
    unrolled, _ = make(True)(state, train, val)
    for a, b in zip(jax.tree.leaves(unrolled), jax.tree.leaves(new)):  # float noise only
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# --- the cells, by hand ----------------------------------------------------------------------


def _one_hot(rows, k, num_ops):
  return jnp.asarray(np.eye(num_ops, dtype=np.float32)[np.full(rows, k)])


@pytest.mark.parametrize(
    'node_edges,mode', [('scan', 'weighted'), ('unroll', 'weighted'), ('scan', 'hard')]
)
def test_darts_cell_scales_every_edge_and_adds_the_auxiliary_skip(node_edges, mode):
  """Every edge on skip_connect: node i = sum_j (s_e + c) * input_j, by hand.

  With one-hot weights on skip_connect each edge's output is its input, times
  the PC-DARTS edge scale s_e, plus DARTS-' auxiliary skip c * input.
  """
  c, aux = 4, 0.3
  edge = supernet.EdgeOptions(SMALL_DARTS, darts_ops.OPS, mode=mode, aux_skip=True)
  cell = darts_supernet.SearchCell(
      c, False, False, edge, steps=2, multiplier=2, node_edges=node_edges
  )
  rng = np.random.default_rng(0)
  s0, s1 = (jnp.asarray(rng.normal(size=(c, 2, 6, 6)), jnp.float32) for _ in range(2))
  weights = _one_hot(5, SKIP, len(SMALL_DARTS))
  scale = jnp.asarray(rng.uniform(0.2, 2.0, size=5), jnp.float32)
  variables = cell.init(jax.random.key(0), s0, s1, weights, scale, jnp.asarray(aux))
  out, state = cell.apply(
      variables,
      s0,
      s1,
      weights,
      scale,
      jnp.asarray(aux),
      mutable=['batch_stats', 'intermediates'],
      capture_intermediates=True,
  )
  p0 = np.asarray(state['intermediates']['preprocess0']['__call__'][0])
  p1 = np.asarray(state['intermediates']['preprocess1']['__call__'][0])
  s = np.asarray(scale) + aux
  # DARTS edge order: node 0 <- (in0: e0, in1: e1); node 1 <- (in0: e2, in1: e3, node 0: e4).
  node0 = s[0] * p0 + s[1] * p1
  node1 = s[2] * p0 + s[3] * p1 + s[4] * node0
  np.testing.assert_allclose(np.asarray(out), np.concatenate([node0, node1]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('scan', [False, True])
def test_nb201_cell_scales_every_edge_and_adds_the_auxiliary_skip(scan):
  c, aux = 4, 0.7
  cell = nb201.NB201SearchCell(
      c, supernet.EdgeOptions(nb201.NB201_PRIMITIVES, nb201.OPS, aux_skip=True), scan=scan
  )
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(c, 2, 5, 5)), jnp.float32)
  weights = _one_hot(6, nb201.NB201_PRIMITIVES.index('skip_connect'), len(nb201.NB201_PRIMITIVES))
  scale = jnp.asarray(rng.uniform(0.2, 2.0, size=6), jnp.float32)
  variables = cell.init(jax.random.key(0), x, weights, scale, jnp.asarray(aux))
  out, _ = cell.apply(variables, x, weights, scale, jnp.asarray(aux), mutable=['batch_stats'])
  s = np.asarray(scale) + aux
  nodes = [np.asarray(x)]
  for t in range(1, 4):  # nb201.EDGES: (0,1), (0,2), (1,2), (0,3), (1,3), (2,3)
    nodes.append(sum(s[nb201.EDGES.index((j, t))] * nodes[j] for j in range(t)))
  np.testing.assert_allclose(np.asarray(out), nodes[3], rtol=1e-5, atol=1e-5)


def _factorized_reduce_by_hand(x, k1, k2):
  """ReLU; two 1x1 convs at stride 2, the second offset by one pixel; concat; BN (batch stats)."""
  x = np.maximum(x, 0.0)
  a = np.einsum('oc,cnhw->onhw', k1, x[:, :, ::2, ::2])
  b = np.einsum('oc,cnhw->onhw', k2, x[:, :, 1::2, 1::2])
  z = np.concatenate([a, b])
  mean = z.mean(axis=(1, 2, 3), keepdims=True)
  var = z.var(axis=(1, 2, 3), keepdims=True)
  return (z - mean) / np.sqrt(var + 1e-5)


def test_stride_two_auxiliary_skip_is_a_factorized_reduce():
  """DARTS- at stride 2: MixedOp(aux_skip) = plain mixed op + c * FactorizedReduce(x), by hand."""
  c, aux = 4, 0.4
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(c, 3, 6, 6)), jnp.float32)
  w = jax.nn.softmax(jnp.asarray([0.2, -0.4, 1.0, 0.3]))
  plain = supernet.MixedOp(c, 2, supernet.EdgeOptions(SMALL_DARTS, darts_ops.OPS))
  mixed = supernet.MixedOp(c, 2, supernet.EdgeOptions(SMALL_DARTS, darts_ops.OPS, aux_skip=True))
  variables = mixed.init(jax.random.key(0), x, w, None, jnp.asarray(aux))
  got, _ = mixed.apply(variables, x, w, None, jnp.asarray(aux), mutable=['batch_stats'])
  plain_vars = {
      col: {k: v for k, v in tree.items() if k != 'aux_skip'} for col, tree in variables.items()
  }
  base_out, _ = plain.apply(plain_vars, x, w, mutable=['batch_stats'])
  skip = variables['params']['aux_skip']
  fr = _factorized_reduce_by_hand(
      np.asarray(x, np.float64),
      np.asarray(skip['conv_1']['kernel'], np.float64),
      np.asarray(skip['conv_2']['kernel'], np.float64),
  )
  assert fr.shape == (c, 3, 3, 3)
  np.testing.assert_allclose(np.asarray(got), np.asarray(base_out) + aux * fr, rtol=1e-4, atol=1e-5)


def test_nb201_genotype_does_not_depend_on_the_edge_scores():
  """NB201 keeps every edge of a node, so PC-DARTS' beta (a positive per-row factor) cannot
  change a row's argmax: the derived NB201 cell is the argmax of alpha alone."""
  st = _strategy('pcdarts', 'nb201')
  rng = np.random.default_rng(3)
  for _ in range(5):
    alpha = rng.normal(size=(6, 5)).astype(np.float32)
    beta = (3 * rng.normal(size=6)).astype(np.float32)
    g = st.derive({'cell': alpha, 'beta_cell': beta})
    by_hand = [nb201.NB201_PRIMITIVES[k] for k in alpha.argmax(-1)]
    assert [
        op for _, _, op in sorted(g.edges(), key=lambda e: nb201.edge_index(e[0], e[1]))
    ] == by_hand


def test_fairdarts_derives_from_sigmoid_not_softmax():
  """Node 1 keeps two of its three inputs by their strongest non-none op. By hand:

  ========  ========================  =====================  =====================
  input     alpha                     sigmoid (FairDARTS)    softmax (DARTS)
  ========  ========================  =====================  =====================
  0         [0, 5, 4, 4.5]            0.993 (max_pool)       0.49
  1         [-5, 1, -5, -5]           0.731 (max_pool)       0.994
  node 0    [-5, -5, 0.5, -5]         0.622 (skip)           0.992
  ========  ========================  =====================  =====================

  so FairDARTS keeps inputs 0 and 1 and a softmax rule would keep 1 and node 0.
  """
  st = _strategy('fairdarts')
  weak = [-5.0] * 4
  normal = np.asarray(
      [weak, weak, [0.0, 5.0, 4.0, 4.5], [-5.0, 1.0, -5.0, -5.0], [-5.0, -5.0, 0.5, -5.0]],
      np.float32,
  )
  arch = {'normal': normal, 'reduce': normal}
  g = st.derive(arch)
  assert sorted((j, op) for op, j in g.normal[2:]) == [(0, 'max_pool_3x3'), (1, 'max_pool_3x3')]
  softmax_rule = _strategy('darts').derive(arch)
  assert sorted((j, op) for op, j in softmax_rule.normal[2:]) == [
      (1, 'max_pool_3x3'),
      (2, 'skip_connect'),
  ]
  np.testing.assert_allclose(np.asarray(st.strengths(arch)['normal']), _sigmoid(normal), rtol=1e-6)


# --- optimizers, schedules, warm-up ----------------------------------------------------------


def test_weight_schedule_is_cosine_stepped_per_epoch():
  c = ml_collections.ConfigDict({'learning_rate': 0.025, 'learning_rate_min': 0.001, 'epochs': 5})
  schedule = search.weight_schedule(search.Bilevel.from_config(c), steps_per_epoch=3)
  for step in range(18):
    e = min(step // 3, 5)  # torch CosineAnnealingLR(T_max=5, eta_min) stepped per epoch
    expected = 0.001 + (0.025 - 0.001) * (1 + np.cos(np.pi * e / 5)) / 2
    assert float(schedule(step)) == pytest.approx(expected, rel=1e-6), step


def test_weight_optimizer_clips_then_decays_then_momentum():
  """torch: clip_grad_norm_(5) then SGD(momentum, weight_decay), over two steps, by hand."""
  tx = bilevel.weight_optimizer(lambda s: 0.1, momentum=0.9, weight_decay=0.01, grad_clip=1.0)
  w = {'a': jnp.asarray([1.0, -2.0]), 'b': jnp.asarray([[0.5]])}
  grads = [
      {'a': jnp.asarray([3.0, 4.0]), 'b': jnp.asarray([[0.0]])},  # norm 5: clipped to 1
      {'a': jnp.asarray([0.3, 0.0]), 'b': jnp.asarray([[-0.4]])},
  ]  # norm 0.5: kept
  state = tx.init(w)
  wn = {k: np.asarray(v, np.float64) for k, v in w.items()}
  buf = {k: np.zeros_like(v) for k, v in wn.items()}
  for g in grads:
    updates, state = tx.update(g, state, w)
    w = optax.apply_updates(w, updates)
    norm = np.sqrt(sum(np.sum(np.asarray(v, np.float64) ** 2) for v in g.values()))
    for k in wn:
      clipped = np.asarray(g[k], np.float64) * min(1.0, 1.0 / norm)
      buf[k] = 0.9 * buf[k] + clipped + 0.01 * wn[k]
      wn[k] = wn[k] - 0.1 * buf[k]
    for k in wn:
      np.testing.assert_allclose(np.asarray(w[k]), wn[k], rtol=1e-6)


def _adam_l2_by_hand(alpha, grads, lr, b1, b2, wd, eps=1e-8):
  """torch.optim.Adam(weight_decay=wd): g += wd * alpha, then bias-corrected Adam."""
  m = np.zeros_like(alpha)
  v = np.zeros_like(alpha)
  for t, g in enumerate(grads, 1):
    g = g + wd * alpha
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    alpha = alpha - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
  return alpha


def test_arch_optimizer_is_adam_with_l2():
  tx = bilevel.arch_optimizer(learning_rate=3e-4, b1=0.5, b2=0.999, weight_decay=1e-3)
  rng = np.random.default_rng(4)
  alpha0 = rng.normal(size=(5, 4))
  grads = [rng.normal(size=(5, 4)) * s for s in (1.0, 0.1, 3.0)]
  with jax.enable_x64(True):
    a = jnp.asarray(alpha0)
    state = tx.init(a)
    for g in grads:
      updates, state = tx.update(jnp.asarray(g), state, a)
      a = optax.apply_updates(a, updates)
  np.testing.assert_allclose(
      np.asarray(a), _adam_l2_by_hand(alpha0, grads, 3e-4, 0.5, 0.999, 1e-3), rtol=1e-12, atol=1e-15
  )


def test_warmup_freezes_alpha_and_adams_state_then_adam_starts_fresh():
  """Epoch 0 (warm-up): alpha and Adam's moments and count unchanged. Epochs 1, 2: alpha takes
  exactly Adam's first and second steps (by hand) on the first-order gradients, and the
  weights the clipped SGD step."""
  st = _strategy('darts')
  model = _model(st)
  train, val = _batches(5)
  lr, clip = 0.05, 0.1
  weight_tx = bilevel.weight_optimizer(
      lambda s: lr, momentum=0.9, weight_decay=3e-4, grad_clip=clip
  )
  # A large learning rate, so that Adam's steps dominate float noise.
  arch_tx = bilevel.arch_optimizer(learning_rate=0.05, b1=0.5, b2=0.999, weight_decay=1e-3)
  state = bilevel.init_state(model, jax.random.key(1, impl='rbg'), train[0], weight_tx, arch_tx, st)
  hyper = bilevel.Hyper(0.9, 3e-4)
  step = jax.jit(
      bilevel.make_search_step(
          model,
          weight_tx,
          arch_tx,
          lambda s: lr,
          order=1,
          hyper=hyper,
          strategy=st,
          steps_per_epoch=1,
          arch_warmup_epochs=1,
      )
  )
  loss_fn = bilevel.make_loss_fn(model, st)
  arch_grad = jax.jit(
      lambda s: bilevel.arch_gradient(
          loss_fn, s, train, val, order=1, learning_rate=lr, hyper=hyper
      )[0]
  )
  weight_grad = jax.jit(lambda p, bs, a: jax.grad(lambda q: loss_fn(q, bs, a, *train)[0])(p))

  alpha0 = {k: np.asarray(v, np.float64) for k, v in state.arch.items()}
  grads = {k: [] for k in alpha0}
  for epoch in range(3):
    g_arch = arch_grad(state)
    new, _ = step(state, train, val)
    g_w = weight_grad(state.params, state.batch_stats, new.arch)  # at the updated alpha
    if epoch == 0:
      for a, b in zip(jax.tree.leaves(new.arch_opt_state), jax.tree.leaves(state.arch_opt_state)):
        np.testing.assert_array_equal(a, b)
      for k in alpha0:
        np.testing.assert_array_equal(new.arch[k], state.arch[k])
    else:
      for k in alpha0:
        grads[k].append(np.asarray(g_arch[k], np.float64))
        np.testing.assert_allclose(
            new.arch[k],
            _adam_l2_by_hand(alpha0[k], grads[k], 0.05, 0.5, 0.999, 1e-3),
            # The hand gradient comes from another compiled program (float32, rounded its own
            # way). A wrong moment or a warm-up that advanced Adam's state is off by far more;
            # the L2 term (tiny at alpha ~ 1e-3) is checked in float64 by
            # test_arch_optimizer_is_adam_with_l2.
            rtol=1e-5,
            atol=5e-6,
        )
    # The weight step: clipped to norm 0.1 (the raw gradient is far larger), decay, momentum.
    norm = float(optax.tree.norm(g_w))
    assert norm > 3 * clip
    buf = bilevel.momentum_buffer(state.weight_opt_state, state.params)
    expected = jax.tree.map(
        lambda w, m, g: w - lr * (0.9 * m + g * clip / norm + 3e-4 * w), state.params, buf, g_w
    )
    for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(expected)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    state = new
  assert int(optax.tree_utils.tree_get(state.arch_opt_state, 'count')) == 2
