"""Zero-cost proxies against independent computations on a network small enough to check."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas_jax import ops
from nas_jax.estimators import proxies

BIAS_INIT = nn.initializers.normal(0.3)  # not zeros: a proxy that sums biases is then caught


class MLP(nn.Module):

  @nn.compact
  def __call__(self, x, train=False):
    del train
    x = ops.ReLU()(nn.Dense(4, bias_init=BIAS_INIT, name='d1')(x))
    return nn.Dense(3, bias_init=BIAS_INIT, name='d2')(x)


def _np_forward(p, x):
  h = np.maximum(x @ p['d1']['kernel'] + p['d1']['bias'], 0.0)
  return h @ p['d2']['kernel'] + p['d2']['bias']


def _np_loss(p, x, y):
  z = _np_forward(p, x)
  z = z - z.max(1, keepdims=True)
  logp = z - np.log(np.exp(z).sum(1, keepdims=True))
  return -logp[np.arange(len(y)), y].mean()


def _fd(f, p, eps=1e-6):
  """Central finite differences of scalar ``f`` with respect to every entry of the tree ``p``."""
  leaves, treedef = jax.tree.flatten(p)
  grads = []
  for k, value in enumerate(leaves):
    g = np.zeros_like(value)
    for i in np.ndindex(value.shape):

      def at(step):
        shifted = value.copy()
        shifted[i] += step
        return f(jax.tree.unflatten(treedef, leaves[:k] + [shifted] + leaves[k + 1 :]))

      g[i] = (at(eps) - at(-eps)) / (2 * eps)
    grads.append(g)
  return jax.tree.unflatten(treedef, grads)


@pytest.fixture(scope='module')
def setup():
  net = MLP()
  x = np.asarray(jax.random.normal(jax.random.key(0), (5, 3)), np.float64)
  y = np.asarray([0, 1, 2, 1, 0])
  variables = net.init(jax.random.key(1), jnp.asarray(x, jnp.float32))
  forward = proxies.forward_of(net, variables)
  p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), variables['params'])
  return forward, variables['params'], jnp.asarray(x, jnp.float32), jnp.asarray(y), p64, x, y


def _leaves(tree):
  return [np.asarray(v) for v in jax.tree_util.tree_leaves(tree)]


def _kernels(tree):
  """The dense weights (zero-cost-nas visits ``nn.Linear.weight`` only, no bias)."""
  return [tree[layer]['kernel'] for layer in sorted(tree)]


def test_grad_norm_and_snip_against_finite_differences(setup):
  """Over the weights only: the biases have gradients too, and add nothing."""
  forward, params, x, y, p64, x64, y64 = setup
  g = _fd(lambda p: _np_loss(p, x64, y64), p64)
  want_norm = sum(np.linalg.norm(v) for v in _kernels(g))
  want_snip = sum(np.abs(a * b).sum() for a, b in zip(_kernels(p64), _kernels(g)))
  assert want_norm < 0.9 * sum(np.linalg.norm(v) for v in _leaves(g))  # the biases matter
  assert float(proxies.grad_norm(forward, params, x, y)) == pytest.approx(want_norm, rel=1e-4)
  assert float(proxies.snip(forward, params, x, y)) == pytest.approx(want_snip, rel=1e-4)


def _weights_only(tree):
  """``tree`` with its leaves other than the weights (``kernel``) zeroed."""
  return jax.tree_util.tree_map_with_path(
      lambda path, v: v if path[-1].key == 'kernel' else np.zeros_like(v), tree
  )


def test_grasp_against_a_finite_difference_hessian_product(setup):
  """``H`` and ``g`` over the weights only (zero-cost-nas differentiates with respect to the
  conv and linear weights): the product ``H g`` along the weights' gradient, read at the
  weights."""
  forward, params, x, y, p64, x64, y64 = setup
  grad = lambda p: _fd(lambda q: _np_loss(q, x64, y64), p, eps=1e-5)
  g = _weights_only(grad(p64))
  eps = 1e-4
  shift = lambda s: jax.tree.map(lambda a, d: a + s * eps * d, p64, g)
  hg = jax.tree.map(lambda a, b: (a - b) / (2 * eps), grad(shift(1.0)), grad(shift(-1.0)))
  want = -sum((a * b).sum() for a, b in zip(_kernels(p64), _kernels(hg)))
  assert float(proxies.grasp(forward, params, x, y)) == pytest.approx(want, rel=2e-3, abs=1e-6)


def test_synflow_sums_path_products_of_absolute_weights(setup):
  """With |theta| and a ones input every unit is active, so R is linear in each weight:
  the score is sum |W| dR/d|W| over the weights (the biases, absolute too, feed R but are
  not summed), here by finite differences of the NumPy net; reported as log(1 + score)."""
  forward, params, x, y, p64, _, _ = setup
  absolute = jax.tree.map(np.abs, p64)
  ones = np.ones((1, 3))
  r = lambda p: _np_forward(p, ones).sum()
  d = _fd(r, absolute)
  want = sum((a * b).sum() for a, b in zip(_kernels(absolute), _kernels(d)))
  # by hand for two layers: each weight's share of R is its own path products
  w1, b1 = absolute['d1']['kernel'], absolute['d1']['bias']
  w2 = absolute['d2']['kernel']
  out_weight = w2.sum(1)  # (4,): each hidden unit's summed outgoing weight
  hand = (w1 * out_weight).sum()  # first layer
  hand += (w2 * (w1.sum(0) + b1)[:, None]).sum()  # second layer
  assert want == pytest.approx(hand, rel=1e-6)
  assert float(proxies.synflow(forward, params, x, y)) == pytest.approx(np.log1p(hand), rel=1e-6)
  # the sign convention: flipping a weight's sign does not change the score
  flipped = jax.tree.map(lambda a: -a, params)
  assert float(proxies.synflow(forward, flipped, x, y)) == pytest.approx(np.log1p(hand), rel=1e-6)


class WideMLP(nn.Module):
  """A hidden layer wide enough that every example has its own ReLU pattern (and so its own
  input Jacobian)."""

  @nn.compact
  def __call__(self, x, train=False):
    del train
    return nn.Dense(3, name='d2')(ops.ReLU()(nn.Dense(16, name='d1')(x)))


def test_jacov_against_numpy_correlation_eigenvalues():
  """Three examples of eight inputs: a correlation matrix of full rank (with more examples
  than inputs it is singular, and ``1 / (l + k)`` of its zero eigenvalues is float32 noise)."""
  x64 = np.asarray(jax.random.normal(jax.random.key(2), (3, 8)), np.float64)
  variables = WideMLP().init(jax.random.key(3), jnp.asarray(x64, jnp.float32))
  forward = proxies.forward_of(WideMLP(), variables)
  p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), variables['params'])
  jac = np.zeros_like(x64)
  eps = 1e-6
  for n, d in np.ndindex(x64.shape):
    up, down = x64.copy(), x64.copy()
    up[n, d] += eps
    down[n, d] -= eps
    jac[n, d] = (_np_forward(p64, up)[n].sum() - _np_forward(p64, down)[n].sum()) / (2 * eps)
  eig = np.linalg.eigvalsh(np.corrcoef(jac))
  assert eig.min() > 1e-2  # well conditioned: the comparison below means something
  want = -np.sum(np.log(eig + 1e-5) + 1.0 / (eig + 1e-5))
  got = float(proxies.jacov(forward, variables['params'], jnp.asarray(x64, jnp.float32), None))
  assert got == pytest.approx(want, rel=1e-3)


# --- ranking against scipy --------------------------------------------------------------------
def test_rank_correlations_match_scipy_with_ties():
  from scipy import stats

  from nas_jax.estimators import ranking

  rng = np.random.default_rng(0)
  for n, levels in ((7, 3), (40, 10), (200, 1000), (1500, 10**6)):  # 1500: past int32 counts
    a = rng.integers(0, levels, n).astype(np.float64)  # ties
    b = a + rng.normal(0, 2.0, n).round()
    assert float(ranking.spearman(a, b)) == pytest.approx(stats.spearmanr(a, b).statistic, 1e-5)
    assert float(ranking.kendall(a, b)) == pytest.approx(stats.kendalltau(a, b).statistic, 1e-5)
  np.testing.assert_allclose(ranking.rank(np.asarray([3.0, 1.0, 3.0, 2.0])), [3.5, 1, 3.5, 2])


def test_precision_at_top_and_nan_handling():
  from nas_jax.estimators import ranking

  truth = np.arange(20.0)  # the best two are 19 and 18
  estimate = truth.copy()
  estimate[19] = -1.0  # the estimator misses the best
  assert float(ranking.precision_at_top(estimate, truth, 0.1)) == 0.5
  estimate[3] = np.nan
  out = ranking.correlations(estimate, truth)
  assert out['n'] == 19 and out['precision'] == 0.5


# --- on a space's arch network ------------------------------------------------------------------
class DeepMLP(nn.Module):
  """Two ReLU layers (NASWOT sums both) and one plain ``nn.relu``, which is no site."""

  @nn.compact
  def __call__(self, x, train=False):
    del train
    x = ops.ReLU()(nn.Dense(12, name='d1')(x))
    x = ops.ReLU()(nn.Dense(9, name='d2')(x))
    return nn.Dense(3, name='d3')(nn.relu(x))


def _np_code_kernel(acts):
  """NASWOT's K from the ReLU inputs, one (N, units) array each: agreements counted unit by
  unit (N_A minus the Hamming distance)."""
  codes = np.concatenate([a.reshape(a.shape[0], -1) > 0 for a in acts], axis=1)
  n = len(codes)
  return np.asarray([[np.sum(codes[i] == codes[j]) for j in range(n)] for i in range(n)])


def test_naswot_kernel_counts_agreeing_relu_codes():
  net = DeepMLP()
  x = jax.random.normal(jax.random.key(2), (6, 5))
  variables = net.init(jax.random.key(3), x)
  p = jax.tree.map(np.asarray, variables['params'])
  h1 = np.asarray(x) @ p['d1']['kernel'] + p['d1']['bias']
  h2 = np.maximum(h1, 0) @ p['d2']['kernel'] + p['d2']['bias']
  want = _np_code_kernel([h1, h2])
  assert want.max() == 21 and want.min() < 21  # both layers' units, and codes differ
  forward = proxies.forward_of(net, variables)
  got = jax.jit(lambda q: proxies.naswot_kernel(forward, q, x))(variables['params'])
  np.testing.assert_array_equal(got, want)
  sign, logdet = np.linalg.slogdet(want.astype(np.float64))
  assert sign > 0
  assert float(proxies.naswot(forward, variables['params'], x, None)) == pytest.approx(
      logdet, rel=1e-5
  )


def _recorded_relu_inputs(module, variables, *args):
  """Every ``ops.ReLU`` input of an eager forward pass (training mode), as (N, units)."""
  acts = []

  def record(next_fun, call_args, kwargs, context):
    if isinstance(context.module, ops.ReLU):
      a = np.asarray(call_args[0])
      acts.append(np.moveaxis(a, 1, 0) if a.ndim == 4 else a)  # CNHW to NCHW
    return next_fun(*call_args, **kwargs)

  with nn.intercept_methods(record):
    module.apply(variables, *args, True, mutable=['batch_stats'])
  return acts


def test_arch_network_proxies_equal_the_cells_own_network():
  """A cell scored through the arch network (every candidate op present) equals the score of
  its evaluation network under the mapped weights: the unused candidates add nothing."""
  from test_tabular import TINY

  from nas_jax import spaces
  from nas_jax.tabular.protocol import Protocol

  space = spaces.get('nb201', ('none', 'skip_connect', 'nor_conv_1x1'))
  protocol = Protocol.from_dict(
      dict(TINY, train_split='train[:128]', val_split='train[128:192]', test_split='test[:64]')
  )
  names = tuple(sorted(proxies.PROXIES))
  est = proxies.ProxyEstimator(space, protocol, names, batch=16, seed=3)
  # the second cell's nodes 1 and 2 are dead (every path from them meets a none edge), so
  # their convs' ReLUs reach no output: NASWOT still counts them, as a forward hook would
  archs = np.asarray([(2, 1, 2, 0, 2, 1), (2, 0, 2, 2, 0, 0)], np.int32)
  got = est(archs)
  np.testing.assert_array_equal(got.value, est.last_values[:, 0])
  x, y = est.batch
  for arch, values in zip(archs, est.last_values):  # NASWOT's codes, read in eager mode
    ev = space.evalnet(space.to_genotype(tuple(arch)), 10, channels=4, layers=1)
    acts = _recorded_relu_inputs(ev, space.evalnet_variables(est.variables(arch), arch), x)
    logdet = np.linalg.slogdet(_np_code_kernel(acts).astype(np.float64))[1]
    assert values[names.index('naswot')] == pytest.approx(logdet, rel=1e-5), arch
  for arch, values in zip(archs[:1], est.last_values):  # one cell's network: one more compile
    ev = space.evalnet(space.to_genotype(tuple(arch)), 10, channels=4, layers=1)
    mapped = space.evalnet_variables(est.variables(arch), arch)

    @jax.jit
    def every(params):
      forward = proxies.forward_of(ev, mapped)
      return jnp.stack([proxies.PROXIES[n](forward, params, x, y) for n in names])

    np.testing.assert_allclose(values, every(mapped['params']), rtol=2e-3, atol=1e-5)
  assert np.isnan(got.report).all() and (got.cost > 0).all()
  with pytest.raises(ValueError, match='unknown proxy'):
    proxies.ProxyEstimator(space, protocol, 'zen')


def test_fisher_against_finite_differences_of_channel_masks(setup):
  """``g_nk`` is the derivative of the loss with respect to a mask on unit k of example n's
  layer output; by central differences of the NumPy net with those masks. Each unit's
  ``0.5 mean_n g_nk^2`` counts once per weight of its row (zero-cost-nas broadcasts it over
  ``weight.shape[1:]``): the dense layers' fan-ins, 3 and 4."""
  forward, params, x, y, p64, x64, y64 = setup

  def loss(m1, m2):
    h = (x64 @ p64['d1']['kernel'] + p64['d1']['bias']) * m1
    z = (np.maximum(h, 0.0) @ p64['d2']['kernel'] + p64['d2']['bias']) * m2
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -logp[np.arange(len(y64)), y64].mean()

  masks = [np.ones((5, 4)), np.ones((5, 3))]
  want = 0.0
  for which, fan_in in enumerate((3, 4)):
    g = np.zeros_like(masks[which])
    for i in np.ndindex(g.shape):
      up = [m.copy() for m in masks]
      down = [m.copy() for m in masks]
      up[which][i] += 1e-6
      down[which][i] -= 1e-6
      g[i] = (loss(*up) - loss(*down)) / 2e-6
    want += fan_in * 0.5 * np.sum(np.mean(g**2, axis=0))
  assert float(proxies.fisher(forward, params, x, y)) == pytest.approx(want, rel=1e-3)


# --- a convolutional network with BatchNorm ---------------------------------------------------
class ConvNet(nn.Module):
  """Every weight kind of ``nas_jax.ops`` with BatchNorm: a 3x3 conv (fan-in 18), a depthwise
  3x3 (fan-in 9), a pointwise conv (fan-in 4) and a dense classifier (fan-in 5)."""

  @nn.compact
  def __call__(self, x, train=False):
    x = ops.to_cnhw(x)
    x = ops.ReLU()(ops.BatchNorm(True, name='bn1')(ops.Conv(4, 3, name='conv')(x), train))
    x = ops.DepthwiseConv(3, impl='shift', name='dw')(x)
    x = ops.ReLU()(ops.BatchNorm(True, name='bn2')(ops.PointwiseConv(5, name='pw')(x), train))
    return nn.Dense(3, bias_init=BIAS_INIT, name='dense')(jnp.mean(x, axis=(2, 3)).T)


CONV_FAN_INS = {'conv': 18, 'dw': 9, 'pw': 4, 'dense': 5}


def _jitted(proxy, forward, params, x, y) -> float:
  """``proxy`` as one compiled program (op by op, these tests took several times as long)."""
  return float(jax.jit(lambda p: proxy(forward, p, x, y))(params))


def _np_conv(x, kernel, stride=1):
  """A k x k convolution of CNHW ``x`` with an HWIO ``kernel``, zero padding (k - 1) / 2."""
  k = kernel.shape[0]
  pad = (k - 1) // 2
  xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  ho, wo = ((size + 2 * pad - k) // stride + 1 for size in x.shape[2:])
  views = lambda i, j: xp[
      :, :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride
  ]
  return sum(
      np.einsum('co,cnhw->onhw', kernel[i, j], views(i, j)) for i in range(k) for j in range(k)
  )


def _np_depthwise(x, kernel):
  """A k x k depthwise convolution of CNHW ``x`` with a (k, k, C) ``kernel``, padding 1."""
  xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
  h, w = x.shape[2:]
  return sum(
      kernel[i, j][:, None, None, None] * xp[:, :, i : i + h, j : j + w]
      for i in range(3)
      for j in range(3)
  )


def _np_batch_norm(h, bn):
  """Training mode: each channel standardized over the batch and space (biased variance)."""
  mu = h.mean(axis=(1, 2, 3), keepdims=True)
  var = h.var(axis=(1, 2, 3), keepdims=True)
  scale, bias = (bn[name][:, None, None, None] for name in ('scale', 'bias'))
  return (h - mu) / np.sqrt(var + 1e-5) * scale + bias


def _np_convnet(p, x, masks=None):
  """``ConvNet`` in training mode on NHWC ``x``; ``masks`` (N, C) multiply each conv and
  dense layer's output channels (fisher's ``g_nk`` are the loss's derivatives in them)."""
  masks = masks or {}
  mask = lambda h, name: h * masks[name].T[:, :, None, None] if name in masks else h
  h = mask(_np_conv(np.moveaxis(x, 3, 0), p['conv']['kernel']), 'conv')
  h = np.maximum(_np_batch_norm(h, p['bn1']['bn']), 0.0)
  h = mask(_np_depthwise(h, p['dw']['kernel']), 'dw')
  h = mask(np.einsum('oc,cnhw->onhw', p['pw']['kernel'], h), 'pw')
  h = np.maximum(_np_batch_norm(h, p['bn2']['bn']), 0.0)
  z = h.mean(axis=(2, 3)).T @ p['dense']['kernel'] + p['dense']['bias']
  return z * masks['dense'] if 'dense' in masks else z


def _np_cross_entropy(z, y):
  z = z - z.max(1, keepdims=True)
  return -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(len(y)), y].mean()


@pytest.fixture(scope='module')
def conv_setup():
  """``ConvNet`` on four 4x4 two-channel examples, its BatchNorms' scales and biases away from
  1 and 0 and its running statistics away from 0 and 1 (so that no BatchNorm mode is close to
  another, nor to removing it)."""
  net = ConvNet()
  x64 = np.asarray(jax.random.normal(jax.random.key(4), (4, 4, 4, 2)), np.float64)
  y64 = np.asarray([0, 2, 1, 2])
  variables = net.init(jax.random.key(5), jnp.asarray(x64, jnp.float32))
  rng = np.random.default_rng(6)
  params, stats = variables['params'], variables['batch_stats']
  for bn in ('bn1', 'bn2'):
    shape = params[bn]['bn']['scale'].shape
    params[bn]['bn'] = {
        'scale': rng.uniform(0.5, 2.0, shape),
        'bias': rng.uniform(-0.3, 0.3, shape),
    }
    stats[bn]['bn'] = {'mean': rng.uniform(-1, 1, shape), 'var': rng.uniform(0.5, 2.0, shape)}
  p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  variables = jax.tree.map(
      lambda a: jnp.asarray(a, jnp.float32), {'params': params, 'batch_stats': stats}
  )
  x, y = jnp.asarray(x64, jnp.float32), jnp.asarray(y64)
  return proxies.forward_of(net, variables), variables['params'], x, y, p64, x64, y64


def test_conv_proxies_sum_conv_and_dense_weights_only(conv_setup):
  """grad_norm, snip and grasp by central differences of the NumPy network in training mode,
  over the four weights; BatchNorm's scales and biases and the dense bias have gradients too,
  and add nothing (zero-cost-nas visits ``nn.Conv2d`` and ``nn.Linear`` weights only)."""
  forward, params, x, y, p64, x64, y64 = conv_setup
  loss = lambda p: _np_cross_entropy(_np_convnet(p, x64), y64)
  grad = lambda p: _fd(loss, p, eps=1e-5)
  g = grad(p64)
  names = sorted(CONV_FAN_INS)
  want_norm = sum(np.linalg.norm(g[n]['kernel']) for n in names)
  want_snip = sum(np.abs(p64[n]['kernel'] * g[n]['kernel']).sum() for n in names)
  eps = 1e-4
  shift = lambda s: jax.tree.map(lambda a, d: a + s * eps * d, p64, _weights_only(g))
  hg = jax.tree.map(lambda a, b: (a - b) / (2 * eps), grad(shift(1.0)), grad(shift(-1.0)))
  want_grasp = -sum((p64[n]['kernel'] * hg[n]['kernel']).sum() for n in names)
  assert _jitted(proxies.grad_norm, forward, params, x, y) == pytest.approx(want_norm, rel=1e-4)
  assert _jitted(proxies.snip, forward, params, x, y) == pytest.approx(want_snip, rel=1e-4)
  assert _jitted(proxies.grasp, forward, params, x, y) == pytest.approx(want_grasp, rel=2e-3)


def _np_synflow_dual(v, t, layer, kernel):
  """One linear layer of the synflow network on dual numbers ``(v, t)``: the value and its
  derivative in ``s`` when every weight is scaled by ``1 + s``. At ``s = 0``,
  ``d/ds layer((1 + s) W, v(s)) = layer(W, v + t)``; the derivative of R is
  ``sum_W W dR/dW``, the synflow score."""
  return layer(v, kernel), layer(v + t, kernel)


def test_synflow_removes_batch_norm_as_the_reference(conv_setup):
  """zero-cost-nas scores synflow with ``bn=False``: every BatchNorm's forward is the identity
  (and its parameters and statistics unused). The NumPy network here has none, runs on
  |theta| and an all-ones example in float64, and gets the score as a forward-mode derivative
  (:func:`_np_synflow_dual`). BatchNorm in training mode (one all-ones example), or in
  inference mode (the fixture's scales and statistics), gives another value."""
  forward, params, x, _, p64, _, _ = conv_setup
  a = {n: np.abs(p64[n]['kernel']) for n in CONV_FAN_INS}
  v, t = np.ones((2, 1, 4, 4)), np.zeros((2, 1, 4, 4))
  v, t = _np_synflow_dual(v, t, _np_conv, a['conv'])
  v, t = _np_synflow_dual(v, t, _np_depthwise, a['dw'])
  v, t = _np_synflow_dual(v, t, lambda h, k: np.einsum('oc,cnhw->onhw', k, h), a['pw'])
  assert v.min() > 0  # every ReLU passes its input on
  pooled, dpooled = v.mean(axis=(2, 3)).T, t.mean(axis=(2, 3)).T
  score = float(((pooled + dpooled) @ a['dense']).sum())  # d/ds of R; the bias is constant
  got = _jitted(proxies.synflow, forward, params, x, None)
  assert got == pytest.approx(np.log1p(score), rel=1e-6)


def test_fisher_weights_each_channel_by_its_fan_in(conv_setup):
  """zero-cost-nas's fisher: ``0.5 mean_n g_nk^2`` per output channel of every conv and
  linear layer (training mode), broadcast over the channel's ``weight.shape[1:]`` and summed:
  times ``in_ch * k * k`` (18 for the conv, 9 for the depthwise conv, whose torch weight is
  (C, 1, 3, 3), 4 for the pointwise conv and 5 for the dense layer). ``g_nk`` by central
  differences of the NumPy network's loss in per-example channel masks."""
  forward, params, x, y, p64, x64, y64 = conv_setup
  channels = {'conv': 4, 'dw': 4, 'pw': 5, 'dense': 3}
  ones = {n: np.ones((len(y64), c)) for n, c in channels.items()}
  want = 0.0
  for name, fan_in in CONV_FAN_INS.items():
    g = np.zeros_like(ones[name])
    for i in np.ndindex(g.shape):
      up = {n: m.copy() for n, m in ones.items()}
      down = {n: m.copy() for n, m in ones.items()}
      up[name][i] += 1e-6
      down[name][i] -= 1e-6
      z_up, z_down = _np_convnet(p64, x64, up), _np_convnet(p64, x64, down)
      g[i] = (_np_cross_entropy(z_up, y64) - _np_cross_entropy(z_down, y64)) / 2e-6
    want += fan_in * 0.5 * np.sum(np.mean(g**2, axis=0))
  assert _jitted(proxies.fisher, forward, params, x, y) == pytest.approx(want, rel=1e-3)


def test_jacov_reads_one_batch_gradient_in_training_mode(conv_setup):
  """Mellor et al.'s first version and zero-cost-nas: the gradient of the batch's summed
  logits with respect to the input batch, in training mode (BatchNorm on batch statistics, so
  the rows are coupled); row n is example n's. By central differences of the NumPy network."""
  forward, params, x, _, p64, x64, _ = conv_setup
  jac = np.zeros_like(x64)
  for i in np.ndindex(x64.shape):
    up, down = x64.copy(), x64.copy()
    up[i] += 1e-6
    down[i] -= 1e-6
    jac[i] = (_np_convnet(p64, up).sum() - _np_convnet(p64, down).sum()) / 2e-6
  eig = np.linalg.eigvalsh(np.corrcoef(jac.reshape(len(jac), -1)))
  assert eig.min() > 1e-2  # well conditioned
  want = -np.sum(np.log(eig + 1e-5) + 1.0 / (eig + 1e-5))
  assert _jitted(proxies.jacov, forward, params, x, None) == pytest.approx(want, rel=1e-3)


# --- synflow at NB201's own size ----------------------------------------------------------------
def _np_avg_pool_2x2(x):
  return (x[:, :, ::2, ::2] + x[:, :, 1::2, ::2] + x[:, :, ::2, 1::2] + x[:, :, 1::2, 1::2]) / 4


def _np_nb201_synflow(p, cells):
  """``R`` and the synflow score of the NB201 network of all-``nor_conv_3x3`` cells (stem,
  three stages of ``cells`` cells with a residual block before the second and third, global
  pooling, a linear classifier) on |theta| and one all-ones 32x32 example, without BatchNorm,
  in float64: dual numbers (:func:`_np_synflow_dual`), every ReLU's input non-negative."""
  a = lambda w: np.abs(np.asarray(w, np.float64))
  conv = lambda v, t, w, stride=1: _np_synflow_dual(v, t, lambda h, k: _np_conv(h, k, stride), a(w))
  pointwise = lambda h, k: np.einsum('oc,cnhw->onhw', k, h)
  v, t = conv(np.ones((3, 1, 32, 32)), np.zeros((3, 1, 32, 32)), p['stem_conv']['kernel'])
  for stage in range(3):
    if stage:
      block = p[f'reduce_{stage}']
      b = conv(v, t, block['conv_a']['conv']['kernel'], 2)
      b = conv(*b, block['conv_b']['conv']['kernel'])
      short = _np_synflow_dual(
          _np_avg_pool_2x2(v), _np_avg_pool_2x2(t), pointwise, a(block['shortcut']['kernel'])
      )
      v, t = b[0] + short[0], b[1] + short[1]
    for i in range(cells):
      cell = p[f'cell_{stage}_{i}']
      nodes = [(v, t)]
      for target in (1, 2, 3):
        ins = [conv(*nodes[s], cell[f'edge_{s}_{target}']['conv']['kernel']) for s in range(target)]
        nodes.append((sum(e[0] for e in ins), sum(e[1] for e in ins)))
      v, t = nodes[-1]
  assert v.min() > 0
  pooled, dpooled = v.mean(axis=(2, 3)).T, t.mean(axis=(2, 3)).T
  kernel, bias = a(p['classifier']['kernel']), a(p['classifier']['bias'])
  return float((pooled @ kernel + bias).sum()), float(((pooled + dpooled) @ kernel).sum())


def test_synflow_is_finite_in_float64_at_nb201_size():
  """C=16, N=5, 32x32, every edge nor_conv_3x3: the score is about 1e50, past float32's
  3.4e38 (in float32 the gradient overflowed and the score was NaN). zero-cost-nas computes
  in double precision, as synflow does now; the value reported is log(1 + score), which
  float32 holds to a few parts in 1e6 of the score. The weights are drawn here (uniform
  with torch's default bounds, BatchNorm scales and biases away from 1 and 0): no compiled
  init, and the NumPy network reads the same arrays."""
  from nas_jax import spaces

  space = spaces.get('nb201')
  net = space.evalnet(space.to_genotype((space.primitives.index('nor_conv_3x3'),) * 6), 10)
  assert (net.channels, net.cells_per_stage) == (16, 5)
  x = jnp.zeros((1, 32, 32, 3))
  shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), x))
  rng = np.random.default_rng(7)

  def draw(path, leaf):
    name = path[-1].key
    if name == 'kernel':  # HWIO convs, (out, in) pointwise, (in, out) dense
      fan_in = leaf.shape[1] if path[-2].key == 'shortcut' else np.prod(leaf.shape[:-1])
      bound = 1 / np.sqrt(fan_in)
    else:
      bound = {'scale': 2.0, 'bias': 0.5, 'mean': 1.0, 'var': 2.0}[name]
    return rng.uniform(0.5 if name in ('scale', 'var') else -bound, bound, leaf.shape)

  p64 = jax.tree_util.tree_map_with_path(draw, shapes)
  r, want = _np_nb201_synflow(p64['params'], cells=5)
  assert want > r > float(np.finfo(np.float32).max)  # float32 overflows
  variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), p64)
  forward = proxies.forward_of(net, variables)
  got = _jitted(proxies.synflow, forward, variables['params'], x, None)
  assert np.isfinite(got)
  assert got == pytest.approx(np.log1p(want), abs=2e-5)  # the score to 2e-5, relative
