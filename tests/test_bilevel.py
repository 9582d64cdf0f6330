"""The bilevel step against independent computations (float64 finite differences)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nas_jax import bilevel, spaces
from nas_jax.spaces.darts.supernet import SearchNetwork
from nas_jax.strategies.darts import DARTS

LR, MOMENTUM, WD = 0.05, 0.9, 3e-4
# One parametric op: a dilated conv (half a separable one: 20 % less compile, pilot under load).
PRIMS = ('none', 'max_pool_3x3', 'skip_connect', 'dil_conv_3x3')
DARTS_ = DARTS(spaces.get('darts', PRIMS, steps=2, multiplier=2), epochs=1)  # the supernet's


def _setup():
  """A tiny float64 supernet after one real step (so the momentum buffer is non-zero)."""
  model = SearchNetwork(
      num_classes=3,
      channels=2,
      layers=3,
      primitives=PRIMS,
      steps=2,
      multiplier=2,
      stem_multiplier=1,
  )
  rng = np.random.default_rng(0)
  batch = lambda: (jnp.asarray(rng.normal(size=(4, 8, 8, 3))), jnp.asarray(rng.integers(0, 3, 4)))
  train, val = batch(), batch()
  schedule = lambda step: jnp.asarray(LR, jnp.float64)
  weight_tx = bilevel.weight_optimizer(schedule, momentum=MOMENTUM, weight_decay=WD, grad_clip=None)
  arch_tx = optax.sgd(1.0)  # so alpha_new = alpha - g: the step's arch gradient is readable
  state = jax.jit(lambda k: bilevel.init_state(model, k, train[0], weight_tx, arch_tx, DARTS_))(
      jax.random.key(0, impl='rbg')
  )
  state = jax.tree.map(
      lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, state
  )
  # Larger alpha than the 1e-3 init so the softmax is far from uniform.
  state = state.replace(
      arch=jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape)), state.arch)
  )
  warm = jax.jit(
      bilevel.make_search_step(
          model,
          weight_tx,
          arch_tx,
          schedule,
          order=1,
          hyper=bilevel.Hyper(MOMENTUM, WD),
          strategy=DARTS_,
      )
  )
  state, _ = warm(state, batch(), batch())
  return model, state, train, val, weight_tx, arch_tx, schedule


def _unrolled_objective(model, state, train, val):
  """F(alpha) = L_val(w - lr (mu m + dL_train/dw + wd w), alpha), written out directly."""
  loss_fn = bilevel.make_loss_fn(model, DARTS_)
  m = bilevel.momentum_buffer(state.weight_opt_state, state.params)

  def objective(arch):
    g = jax.grad(lambda p: loss_fn(p, state.batch_stats, arch, *train)[0])(state.params)
    w2 = jax.tree.map(lambda w, m, g: w - LR * (MOMENTUM * m + g + WD * w), state.params, m, g)
    return loss_fn(w2, state.batch_stats, arch, *val)[0]

  return objective


def _central_differences(f, arch, eps=1e-5):
  flat, unravel = jax.flatten_util.ravel_pytree(arch)
  f_flat = jax.jit(lambda v: f(unravel(v)))
  grads = np.zeros(flat.shape)
  for i in range(flat.size):
    e = np.zeros(flat.shape)
    e[i] = eps
    grads[i] = (f_flat(flat + e) - f_flat(flat - e)) / (2 * eps)
  return grads


def _rel_err(a, b):
  return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope='module')
def setup():
  import jax.flatten_util  # noqa: F401

  with jax.enable_x64(True):
    yield _setup()


def test_second_order_hypergradient_matches_finite_differences(setup):
  model, state, train, val, weight_tx, arch_tx, schedule = setup
  with jax.enable_x64(True):
    loss_fn = bilevel.make_loss_fn(model, DARTS_)
    g, _, _ = jax.jit(
        lambda s: bilevel.arch_gradient(
            loss_fn,
            s,
            train,
            val,
            order=2,
            learning_rate=jnp.asarray(LR),
            hyper=bilevel.Hyper(MOMENTUM, WD),
        )
    )(state)
    fd = _central_differences(_unrolled_objective(model, state, train, val), state.arch)
    flat_g = jax.flatten_util.ravel_pytree(g)[0]
    assert _rel_err(np.asarray(flat_g), fd) < 1e-4
    # And it differs from the first-order gradient (the mixed term matters here).
    g1, _, _ = jax.jit(
        lambda s: bilevel.arch_gradient(
            loss_fn,
            s,
            train,
            val,
            order=1,
            learning_rate=jnp.asarray(LR),
            hyper=bilevel.Hyper(MOMENTUM, WD),
        )
    )(state)
    assert _rel_err(np.asarray(jax.flatten_util.ravel_pytree(g1)[0]), fd) > 1e-3


def test_first_order_gradient_matches_finite_differences(setup):
  model, state, train, val, *_ = setup
  with jax.enable_x64(True):
    loss_fn = bilevel.make_loss_fn(model, DARTS_)
    g, _, _ = jax.jit(
        lambda s: bilevel.arch_gradient(
            loss_fn,
            s,
            train,
            val,
            order=1,
            learning_rate=jnp.asarray(LR),
            hyper=bilevel.Hyper(MOMENTUM, WD),
        )
    )(state)
    f = lambda arch: loss_fn(state.params, state.batch_stats, arch, *val)[0]
    fd = _central_differences(f, state.arch)
    assert _rel_err(np.asarray(jax.flatten_util.ravel_pytree(g)[0]), fd) < 1e-4


@pytest.mark.parametrize('order,unroll', [(1, False), (2, False), (1, True), (2, True)])
def test_search_step_applies_the_exact_gradients_in_order(setup, order, unroll):
  """The step (phase scan, or unrolled phases) equals: arch update with arch_gradient, then a
  weight step at the new alpha."""
  model, state, train, val, weight_tx, arch_tx, schedule = setup
  with jax.enable_x64(True):
    hyper = bilevel.Hyper(MOMENTUM, WD)
    step = jax.jit(
        bilevel.make_search_step(
            model,
            weight_tx,
            arch_tx,
            schedule,
            order=order,
            hyper=hyper,
            strategy=DARTS_,
            unroll_phases=unroll,
        )
    )
    new, metrics = step(state, train, val)
    loss_fn = bilevel.make_loss_fn(model, DARTS_)
    g, val_loss, _ = jax.jit(
        lambda s: bilevel.arch_gradient(
            loss_fn, s, train, val, order=order, learning_rate=jnp.asarray(LR), hyper=hyper
        )
    )(state)
    expected_arch = jax.tree.map(lambda a, g: a - g, state.arch, g)
    for k in ('normal', 'reduce'):
      np.testing.assert_allclose(new.arch[k], expected_arch[k], rtol=1e-10, atol=1e-12)
    (loss, _), g_w = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
        state.params, state.batch_stats, expected_arch, *train
    )
    m = bilevel.momentum_buffer(state.weight_opt_state, state.params)
    # torch SGD: buf = mu * buf + (g + wd * w); w -= lr * buf.
    expected_w = jax.tree.map(
        lambda w, m, g: w - LR * (MOMENTUM * m + g + WD * w), state.params, m, g_w
    )
    for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(expected_w)):
      np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(metrics['train_loss'], loss, rtol=1e-12)
    np.testing.assert_allclose(metrics['val_loss'], val_loss, rtol=1e-12)
    assert int(new.step) == int(state.step) + 1
