"""Zero-cost proxies against independent computations on a network small enough to check."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas_jax import ops
from nas_jax.estimators import proxies


class MLP(nn.Module):

  @nn.compact
  def __call__(self, x, train=False):
    del train
    x = ops.ReLU()(nn.Dense(4, name='d1')(x))
    return nn.Dense(3, name='d2')(x)


def _np_forward(p, x):
  h = np.maximum(x @ p['d1']['kernel'] + p['d1']['bias'], 0.0)
  return h @ p['d2']['kernel'] + p['d2']['bias']


def _np_loss(p, x, y):
  z = _np_forward(p, x)
  z = z - z.max(1, keepdims=True)
  logp = z - np.log(np.exp(z).sum(1, keepdims=True))
  return -logp[np.arange(len(y)), y].mean()


def _fd(f, p, eps=1e-6):
  """Central finite differences of scalar ``f`` with respect to every entry of ``p``."""
  out = {}
  for layer, leaves in p.items():
    out[layer] = {}
    for name, value in leaves.items():
      g = np.zeros_like(value)
      for i in np.ndindex(value.shape):
        up = {k: {n: v.copy() for n, v in d.items()} for k, d in p.items()}
        down = {k: {n: v.copy() for n, v in d.items()} for k, d in p.items()}
        up[layer][name][i] += eps
        down[layer][name][i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
      out[layer][name] = g
  return out


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


def test_grad_norm_and_snip_against_finite_differences(setup):
  forward, params, x, y, p64, x64, y64 = setup
  g = _fd(lambda p: _np_loss(p, x64, y64), p64)
  want_norm = sum(np.linalg.norm(v) for v in _leaves(g))
  want_snip = sum(np.abs(a * b).sum() for a, b in zip(_leaves(p64), _leaves(g)))
  assert float(proxies.grad_norm(forward, params, x, y)) == pytest.approx(want_norm, rel=1e-4)
  assert float(proxies.snip(forward, params, x, y)) == pytest.approx(want_snip, rel=1e-4)


def test_grasp_against_a_finite_difference_hessian_product(setup):
  forward, params, x, y, p64, x64, y64 = setup
  grad = lambda p: _fd(lambda q: _np_loss(q, x64, y64), p, eps=1e-5)
  g = grad(p64)
  eps = 1e-4
  shift = lambda s: jax.tree.map(lambda a, d: a + s * eps * d, p64, g)
  hg = jax.tree.map(lambda a, b: (a - b) / (2 * eps), grad(shift(1.0)), grad(shift(-1.0)))
  want = -sum((a * b).sum() for a, b in zip(_leaves(p64), _leaves(hg)))
  assert float(proxies.grasp(forward, params, x, y)) == pytest.approx(want, rel=2e-3, abs=1e-6)


def test_synflow_sums_path_products_of_absolute_weights(setup):
  """With |theta| and a ones input every unit is active, so R is linear in each weight:
  the score is sum |theta| dR/d|theta|, here by finite differences of the NumPy net."""
  forward, params, x, y, p64, _, _ = setup
  absolute = jax.tree.map(np.abs, p64)
  ones = np.ones((1, 3))
  r = lambda p: _np_forward(p, ones).sum()
  d = _fd(r, absolute)
  want = sum((a * b).sum() for a, b in zip(_leaves(absolute), _leaves(d)))
  # by hand for two layers: each weight's share of R is its own path products
  w1, b1 = absolute['d1']['kernel'], absolute['d1']['bias']
  w2, b2 = absolute['d2']['kernel'], absolute['d2']['bias']
  out_weight = w2.sum(1)  # (4,): each hidden unit's summed outgoing weight
  hand = (w1 * out_weight).sum() + (b1 * out_weight).sum()  # first layer
  hand += (w2 * (w1.sum(0) + b1)[:, None]).sum() + b2.sum()  # second layer
  assert want == pytest.approx(hand, rel=1e-6)
  assert float(proxies.synflow(forward, params, x, y)) == pytest.approx(hand, rel=1e-5)
  # the sign convention: flipping a weight's sign does not change the score
  flipped = jax.tree.map(lambda a: -a, params)
  assert float(proxies.synflow(forward, flipped, x, y)) == pytest.approx(hand, rel=1e-5)


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
  protocol = Protocol.from_config(
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
  layer output; by central differences of the NumPy net with those masks."""
  forward, params, x, y, p64, x64, y64 = setup

  def loss(m1, m2):
    h = (x64 @ p64['d1']['kernel'] + p64['d1']['bias']) * m1
    z = (np.maximum(h, 0.0) @ p64['d2']['kernel'] + p64['d2']['bias']) * m2
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -logp[np.arange(len(y64)), y64].mean()

  masks = [np.ones((5, 4)), np.ones((5, 3))]
  want = 0.0
  for which in range(2):
    g = np.zeros_like(masks[which])
    for i in np.ndindex(g.shape):
      up = [m.copy() for m in masks]
      down = [m.copy() for m in masks]
      up[which][i] += 1e-6
      down[which][i] -= 1e-6
      g[i] = (loss(*up) - loss(*down)) / 2e-6
    want += 0.5 * np.sum(np.mean(g**2, axis=0))
  assert float(proxies.fisher(forward, params, x, y)) == pytest.approx(want, rel=1e-3)
