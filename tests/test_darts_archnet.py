"""The DARTS arch network computes the evaluation network of the arch's genotype."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nas_jax import spaces

# every op kind the cell builds: a pool, skip (factorized reduce at stride 2), sep and dil conv
OPS = ('none', 'max_pool_3x3', 'skip_connect', 'sep_conv_3x3', 'dil_conv_3x3')
STEPS = 3  # node 2's lower slot reads a cell input or node 0: both stride groups


@pytest.fixture(scope='module')
def space():
  return spaces.get('darts', OPS, steps=STEPS, multiplier=STEPS)


def _archs(space):
  """Two hand-picked archs: every slot on a cell input in one cell type while every slot reads
  the latest intermediate nodes in the other (both stride groups of the reduction cell)."""
  n = len(space.options) // 2
  low = [0] * n  # pair 0 everywhere: inputs (0, 1); ops: max pool
  high = []
  for i in range(STEPS):
    pairs = space.options[3 * i]
    high += [pairs - 1, 3, 2]  # the last pair (the two latest nodes); dil conv, sep conv
  return [tuple(low + high), tuple(high + low)]


@pytest.mark.parametrize('mode', ['switch', 'masked'])
def test_arch_network_equals_evalnet_logits_and_gradients(space, mode):
  net = space.arch_network(10, channels=4, layers=3, mode=mode)
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 1))
  y = jnp.arange(4) % 10
  a0 = jnp.zeros(len(space.options), jnp.int32)
  # The set-up and the reference run jitted: one program each instead of hundreds of eager ones.
  variables = jax.jit(net.init, static_argnums=3)(jax.random.key(0), x, a0, True)
  train = mode == 'switch'  # batch statistics in one mode, running ones in the other

  @jax.jit
  def arch_loss_grad(p, a):
    def loss(p):
      out = net.apply(
          {'params': p, 'batch_stats': variables['batch_stats']},
          x,
          a,
          train,
          mutable=['batch_stats'],
      )[0]
      return optax.softmax_cross_entropy_with_integer_labels(out, y).mean(), out

    return jax.value_and_grad(loss, has_aux=True)(p)

  for arch in _archs(space):
    g = space.to_genotype(arch)
    ev = space.evalnet(g, 10, channels=4, layers=3, auxiliary=False, scan_cells=False)
    ev_vars = space.evalnet_variables(variables, arch)
    ref = jax.eval_shape(lambda: ev.init(jax.random.key(5), x, train=True))
    assert jax.tree_util.tree_structure(ref) == jax.tree_util.tree_structure(ev_vars), arch
    for r, v in zip(jax.tree_util.tree_leaves(ref), jax.tree_util.tree_leaves(ev_vars)):
      assert r.shape == v.shape, arch

    def eval_loss(p):
      out = ev.apply(
          {'params': p, 'batch_stats': ev_vars['batch_stats']},
          x,
          train=train,
          mutable=['batch_stats'],
      )[0][0]
      return optax.softmax_cross_entropy_with_integer_labels(out, y).mean(), out

    (la, oa), ga = arch_loss_grad(variables['params'], jnp.asarray(arch, jnp.int32))
    if mode == 'switch' and arch == _archs(space)[0]:
      _check_unchosen_ops_get_no_gradient(ga)
    (le, oe), ge = jax.jit(jax.value_and_grad(eval_loss, has_aux=True))(ev_vars['params'])
    np.testing.assert_allclose(oa, oe, rtol=1e-4, atol=1e-5, err_msg=str(arch))
    np.testing.assert_allclose(la, le, rtol=1e-5, atol=1e-5)
    mapped = space.evalnet_variables({'params': ga}, arch)['params']
    for (path, g1), g2 in zip(
        jax.tree_util.tree_leaves_with_path(mapped), jax.tree_util.tree_leaves(ge)
    ):
      np.testing.assert_allclose(g1, g2, rtol=1e-3, atol=1e-5, err_msg=f'{arch} {path}')


def _check_unchosen_ops_get_no_gradient(grads):
  """For ``_archs()[0]``: normal cells run max pool everywhere (no parameters), the reduction
  cell's node 2 slot a reads node 1 (stride 1) with a dil conv."""
  normal = grads['cells']['cell_0']
  assert all(np.abs(leaf).sum() == 0 for leaf in jax.tree_util.tree_leaves(normal['op_0']))
  reduce_slot = grads['cells']['cell_1']['op_4']
  assert np.abs(reduce_slot['op_3']['dw']['kernel']).sum() > 0
  assert np.abs(reduce_slot['op_3_s2']['dw']['kernel']).sum() == 0
  assert np.abs(reduce_slot['op_2']['dw_0']['kernel']).sum() == 0


def test_arch_network_needs_the_derived_form():
  with pytest.raises(ValueError, match='multiplier == steps'):
    spaces.get('darts', OPS, steps=3, multiplier=2).arch_network(10, channels=4, layers=3)
