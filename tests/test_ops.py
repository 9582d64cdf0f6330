"""Op semantics and shapes, depthwise implementations, supernet shapes and parameter counts."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas_jax import ops
from nas_jax.spaces.darts import ops as darts_ops
from nas_jax.spaces.darts.discretize import num_edges
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES
from nas_jax.spaces.darts.supernet import SearchNetwork, input_edge_table, node_edge_table


def _apply(op, x, train=True):
  variables = op.init(jax.random.key(0), x, train)
  out, _ = op.apply(variables, x, train, mutable=['batch_stats'])
  return out, variables


@pytest.mark.parametrize('name', DARTS_PRIMITIVES)
@pytest.mark.parametrize('stride', [1, 2])
def test_op_output_shapes(name, stride):
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2, 8, 8)), jnp.float32)  # CNHW
  out, _ = _apply(darts_ops.OPS.make(name, 4, stride), x)
  assert out.shape == (4, 2, 8 // stride, 8 // stride)
  if name == 'none':
    assert not np.any(np.asarray(out))


def test_skip_connect_is_identity_then_factorized_reduce():
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 6, 6, 4)), jnp.float32)  # NHWC
  cnhw = lambda a: np.transpose(a, (3, 0, 1, 2))
  x = cnhw(x)
  out, variables = _apply(darts_ops.OPS.make('skip_connect', 4, 1), x)
  np.testing.assert_array_equal(out, x)
  assert 'params' not in variables
  reduce = darts_ops.OPS.make('skip_connect', 4, 2)
  out, variables = _apply(reduce, x)
  assert isinstance(reduce, ops.FactorizedReduce)
  # Two 1x1 convs of C -> C/2 each, no bias; search-time BN has no affine parameters.
  shapes = jax.tree.map(lambda a: a.shape, variables['params'])
  assert shapes == {'conv_1': {'kernel': (2, 4)}, 'conv_2': {'kernel': (2, 4)}}  # (C_out, C_in)
  # Independent computation of the reduce in NHWC: relu, offset stride-2 sampling, matmul, BN.
  p = variables['params']
  r = np.maximum(np.transpose(np.asarray(x), (1, 2, 3, 0)), 0)
  a = r[:, ::2, ::2] @ np.asarray(p['conv_1']['kernel']).T
  b = r[:, 1::2, 1::2] @ np.asarray(p['conv_2']['kernel']).T
  y = np.concatenate([a, b], -1)
  y = (y - y.mean((0, 1, 2))) / np.sqrt(y.var((0, 1, 2)) + 1e-5)
  np.testing.assert_allclose(out, cnhw(y), rtol=1e-4, atol=1e-5)


def test_pooling_semantics_and_batchnorm():
  x = jnp.arange(2 * 4 * 4 * 1, dtype=jnp.float32).reshape(1, 2, 4, 4)  # CNHW
  # Average pooling excludes padding: the corner averages a 2x2 block.
  avg = ops.avg_pool_3x3(x, 1)
  np.testing.assert_allclose(avg[0, 0, 0, 0], np.mean([0, 1, 4, 5]))
  np.testing.assert_allclose(avg[0, 0, 1, 1], np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))
  mx = ops.max_pool_3x3(x, 2)
  np.testing.assert_allclose(mx[0, 0], [[5, 7], [13, 15]])
  # Pool ops are followed by a BN without affine parameters: batch-normalized output.
  out, variables = _apply(darts_ops.OPS.make('max_pool_3x3', 1, 1), x)
  assert 'params' not in variables
  np.testing.assert_allclose(np.mean(out), 0.0, atol=1e-5)
  np.testing.assert_allclose(np.var(out), 1.0, rtol=1e-3)


@pytest.mark.parametrize('kernel,dilation', [(3, 1), (5, 1), (3, 2), (5, 2)])
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('impl', ['shift', 'toeplitz'])
def test_depthwise_implementations_match_grouped_conv(kernel, dilation, stride, impl):
  rng = np.random.default_rng(kernel * 10 + dilation)
  x = jnp.asarray(rng.normal(size=(3, 2, 8, 8)), jnp.float32)  # CNHW
  w = jnp.asarray(rng.normal(size=(kernel, kernel, 3)), jnp.float32)
  pad = dilation * (kernel - 1) // 2
  fns = {'shift': ops.depthwise_conv_shift, 'toeplitz': ops.depthwise_conv_toeplitz}
  kw = dict(stride=stride, dilation=dilation, padding=pad)
  ref = ops.depthwise_conv_grouped(x, w, **kw)
  got = fns[impl](x, w, **kw)
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
  # Gradients agree too (the search differentiates through them).
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w, **kw)))
  g_ref = jax.grad(loss(ops.depthwise_conv_grouped), argnums=(0, 1))(x, w)
  g_got = jax.grad(loss(fns[impl]), argnums=(0, 1))(x, w)
  for a, b in zip(g_got, g_ref):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_ops_take_the_depthwise_factory_they_are_given(monkeypatch):
  # The networks' depthwise choice is a module factory chosen once: one shared factory per
  # implementation, 'auto' resolved on the backend, and the op built with it runs that one.
  assert ops.depthwise_conv('shift') is ops.depthwise_conv('shift')
  assert ops.depthwise_conv() is ops.depthwise_conv(ops.resolve_depthwise_impl('auto'))
  with pytest.raises(ValueError, match='depthwise_impl must be one of'):
    ops.depthwise_conv('fft')
  x = jnp.asarray(np.random.default_rng(3).normal(size=(4, 2, 8, 8)), jnp.float32)
  calls = []
  for name in ('shift', 'grouped', 'toeplitz'):
    real = getattr(ops, f'depthwise_conv_{name}')
    monkeypatch.setattr(
        ops,
        f'depthwise_conv_{name}',
        lambda *a, n=name, f=real, **k: (calls.append(n), f(*a, **k))[1],
    )
  outs = {}
  for impl in ('shift', 'grouped', 'toeplitz'):
    calls.clear()
    op = darts_ops.OPS.make('sep_conv_3x3', 4, 1, dw_conv=ops.depthwise_conv(impl))
    variables = op.init(jax.random.key(0), x, True)
    outs[impl], _ = op.apply(variables, x, True, mutable=['batch_stats'])
    assert calls == [impl, impl]  # both depthwise convolutions of the separable conv
  np.testing.assert_allclose(outs['shift'], outs['grouped'], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(outs['toeplitz'], outs['grouped'], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('kernel,dilation,stride', [(3, 1, 1), (5, 2, 2)])
def test_grouped_depthwise_matches_nhwc_convolution(kernel, dilation, stride):
  # The reference of the depthwise tests, checked against an NHWC convolution
  # with one explicit kernel per channel (no feature groups, no CNHW numbers).
  rng = np.random.default_rng(5)
  x = rng.normal(size=(2, 9, 9, 3)).astype(np.float32)
  w = rng.normal(size=(kernel, kernel, 3)).astype(np.float32)
  pad = dilation * (kernel - 1) // 2
  got = ops.depthwise_conv_grouped(
      ops.to_cnhw(jnp.asarray(x)), jnp.asarray(w), stride=stride, dilation=dilation, padding=pad
  )
  per_channel = [
      jax.lax.conv_general_dilated(
          x[..., c : c + 1],
          w[:, :, c, None, None],
          (stride, stride),
          ((pad, pad), (pad, pad)),
          rhs_dilation=(dilation, dilation),
          dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      )
      for c in range(3)
  ]
  np.testing.assert_allclose(
      ops.to_nhwc(got), np.concatenate(per_channel, -1), rtol=1e-5, atol=1e-5
  )


@pytest.mark.parametrize('stride', [1, 2])
def test_avg_pool_matches_flax_excluding_padding(stride):
  x = np.random.default_rng(stride).normal(size=(2, 7, 8, 3)).astype(np.float32)  # NHWC, odd H
  ref = nn.avg_pool(
      x, (3, 3), strides=(stride, stride), padding=((1, 1), (1, 1)), count_include_pad=False
  )
  np.testing.assert_allclose(
      ops.to_nhwc(ops.avg_pool_3x3(ops.to_cnhw(x), stride)), ref, rtol=1e-6, atol=1e-6
  )


@pytest.mark.parametrize('stride', [1, 2])
def test_max_pool_matches_reduce_window(stride):
  rng = np.random.default_rng(stride)
  x = jnp.asarray(rng.normal(size=(2, 7, 8, 3)), jnp.float32)  # odd size: ragged last window
  ref = lambda x: nn.max_pool(x, (3, 3), strides=(stride, stride), padding=((1, 1), (1, 1)))
  ours = lambda x: ops.to_nhwc(ops.max_pool_3x3(ops.to_cnhw(x), stride))
  np.testing.assert_array_equal(ours(x), ref(x))
  # Without ties the gradient goes to the same single input of each window.
  loss = lambda f: lambda x: jnp.sum(jnp.cos(f(x)))
  np.testing.assert_allclose(jax.grad(loss(ours))(x), jax.grad(loss(ref))(x), rtol=1e-5, atol=1e-6)


def test_unknown_op_is_one_line_error():
  with pytest.raises(ValueError, match="unknown op 'conv_9x9'") as e:
    darts_ops.OPS.validate(['none', 'conv_9x9'])
  assert '\n' not in str(e.value)


def test_edge_tables_cover_every_edge_once():
  table = input_edge_table(4)
  edges, src, tgt = node_edge_table(4)
  assert table.tolist() == [[0, 2, 5, 9], [1, 3, 6, 10]]
  assert edges.tolist() == [4, 7, 8, 11, 12, 13]
  assert src.tolist() == [0, 0, 1, 0, 1, 2] and tgt.tolist() == [1, 2, 2, 3, 3, 3]
  assert sorted(table.ravel().tolist() + edges.tolist()) == list(range(14))


def _uniform_weights(model):
  shape = (num_edges(model.steps), len(model.primitives))
  return {c: jnp.full(shape, 1.0 / shape[1]) for c in ('normal', 'reduce')}


def _param_count(model, image_shape):
  variables = jax.eval_shape(
      lambda k: model.init(k, jnp.zeros((1,) + image_shape), _uniform_weights(model)),
      jax.random.key(0),
  )
  return sum(math.prod(a.shape) for a in jax.tree.leaves(variables['params'])), variables


def test_darts_search_network_matches_published_parameter_count():
  # quark0/darts reports "param size = 1.930618MB" for its CIFAR-10 search net (L=8, C=16).
  count, variables = _param_count(SearchNetwork(num_classes=10, channels=16, layers=8), (32, 32, 3))
  assert count == 1_930_618
  assert set(variables) == {'params', 'batch_stats'}  # the architecture is not a network variable


def test_mixed_op_is_softmax_weighted_sum_of_ops():
  from nas_jax.supernet import EdgeOptions, MixedOp

  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(4, 2, 8, 8)), jnp.float32)  # CNHW
  weights = jax.nn.softmax(jnp.asarray(rng.normal(size=(8,)), jnp.float32))
  mixed = MixedOp(4, 1, EdgeOptions(DARTS_PRIMITIVES, darts_ops.OPS))
  variables = mixed.init(jax.random.key(0), x, weights)
  out, _ = mixed.apply(variables, x, weights, mutable=['batch_stats'])
  expected = 0
  for k, name in enumerate(DARTS_PRIMITIVES):
    op = darts_ops.OPS.make(name, 4, 1)
    sub = {c: variables[c][name] for c in variables if name in variables[c]}
    y, _ = op.apply(sub, x, True, mutable=['batch_stats'])
    expected = expected + weights[k] * y
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_unrolled_node_edges_equal_the_scan():
  # The two node-edge structures compute the same cell: map the scan's stacked
  # edge parameters onto the per-source vmaps and compare outputs.
  from nas_jax.spaces.darts.supernet import SearchCell
  from nas_jax.supernet import EdgeOptions

  prims = ('none', 'skip_connect', 'avg_pool_3x3', 'sep_conv_3x3')
  rng = np.random.default_rng(4)
  s0, s1 = (jnp.asarray(rng.normal(size=(4, 2, 6, 6)), jnp.float32) for _ in range(2))
  weights = jax.nn.softmax(jnp.asarray(rng.normal(size=(14, 4)), jnp.float32), -1)
  edge = EdgeOptions(prims, darts_ops.OPS)
  scan = SearchCell(4, False, False, edge, node_edges='scan')
  unroll = SearchCell(4, False, False, edge, node_edges='unroll')
  v = scan.init(jax.random.key(0), s0, s1, weights)
  edges, src, _ = node_edge_table(4)
  u = {}
  for col in v:
    u[col] = {k: a for k, a in v[col].items() if k != 'node_edges'}
    for j in range(3):  # scan rows whose source is node j, in target order
      rows = np.flatnonzero(src == j)
      u[col][f'node{j}_edges'] = jax.tree.map(lambda a: a[rows], v[col]['node_edges']['mixed_op'])
  assert jax.tree.map(jnp.shape, u) == jax.tree.map(
      jnp.shape, unroll.init(jax.random.key(0), s0, s1, weights)
  )
  a, _ = scan.apply(v, s0, s1, weights, mutable=['batch_stats'])
  b, _ = unroll.apply(u, s0, s1, weights, mutable=['batch_stats'])
  assert a.shape == (16, 2, 6, 6)
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_remat_network_has_the_same_gradients():
  prims = ('none', 'skip_connect', 'sep_conv_3x3')
  x = jnp.asarray(np.random.default_rng(6).normal(size=(2, 8, 8, 3)), jnp.float32)
  nets = [
      SearchNetwork(
          num_classes=3, channels=4, layers=3, primitives=prims, steps=2, multiplier=2, remat=r
      )
      for r in (False, True)
  ]
  arch = jax.tree.map(
      lambda w: jnp.asarray(np.random.default_rng(7).normal(size=w.shape), jnp.float32),
      _uniform_weights(nets[0]),
  )
  weights = lambda a: {k: jax.nn.softmax(v, -1) for k, v in a.items()}
  v = nets[0].init(jax.random.key(0), x, weights(arch))
  grads = []
  for net in nets:
    loss = lambda p, a: jnp.sum(
        net.apply({**v, 'params': p}, x, weights(a), mutable=['batch_stats'])[0] ** 2
    )
    grads.append(jax.jit(jax.grad(loss, argnums=(0, 1)))(v['params'], arch))
  for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
