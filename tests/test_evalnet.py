"""The evaluation networks (CIFAR and ImageNet): parameter and multiply-add counts by hand, shapes,
the auxiliary head, drop path, cell scanning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas_jax import netstats, spaces
from nas_jax.spaces.darts import evalnet
from nas_jax.spaces.darts.genotype import (
    DARTS_V1,
    DARTS_V2,
    NAMED_GENOTYPES,
    PC_DARTS,
    PDARTS,
    Genotype,
    GenotypeError,
)


class _Counter:
  """Running totals of parameters and multiply-adds (each conv: weights x output area)."""

  def __init__(self):
    self.params = self.macs = 0

  def conv(self, weights, area):
    self.params += weights
    self.macs += weights * area

  def bn(self, c):
    self.params += 2 * c


def _count_cells(n, genotype, layers, c, c_pp, c_p, res, reduction_prev):
  """Adds DARTS' cell stack to counter ``n``; returns (channels out, resolution out, aux in).

  ``res`` is the resolution of the second cell input (s1); ``aux in`` is the
  (channels, resolution) of the cell at 2L/3, which the auxiliary head reads.
  """
  aux_in = None
  for i in range(layers):
    reduction = i in (layers // 3, 2 * layers // 3)
    if reduction:
      c *= 2
    area = res * res
    if reduction_prev:  # factorized reduce: two 1x1 convs to c/2 each
      n.conv(2 * c_pp * (c // 2), area)
    else:
      n.conv(c_pp * c, area)
    n.bn(c)
    n.conv(c_p * c, area)
    n.bn(c)
    pairs, concat = (
        (genotype.reduce, genotype.reduce_concat)
        if reduction
        else (genotype.normal, genotype.normal_concat)
    )
    out_area = (res // 2) ** 2 if reduction else area
    for name, j in pairs:
      stride = 2 if reduction and j < 2 else 1
      if name.startswith('sep_conv'):  # two (depthwise k x k, pointwise, BN) stacks
        k = int(name[-1])
        n.conv(2 * (k * k * c + c * c), out_area)
        n.bn(c)
        n.bn(c)
      elif name.startswith('dil_conv'):  # one depthwise (dilated) k x k, pointwise, BN
        k = int(name[-1])
        n.conv(k * k * c + c * c, out_area)
        n.bn(c)
      elif name == 'skip_connect' and stride == 2:  # factorized reduce
        n.conv(2 * c * (c // 2), out_area)
        n.bn(c)
    c_pp, c_p = c_p, len(concat) * c
    if reduction:
      res //= 2
    reduction_prev = reduction
    if i == 2 * layers // 3:
      aux_in = (c_p, res)
  return c_p, res, aux_in


def hand_count(genotype, channels, layers, size, in_channels=3, classes=10):
  """Parameters (aux head excluded) and multiply-adds of NetworkCIFAR, from DARTS' op formulas.

  Written from the op definitions (quark0/darts operations.py / model.py), not
  from nas_jax: each conv's weight count times its output area.
  """
  n = _Counter()
  c_stem = 3 * channels
  n.conv(3 * 3 * in_channels * c_stem, size * size)
  n.bn(c_stem)
  c_p, _, _ = _count_cells(n, genotype, layers, channels, c_stem, c_stem, size, False)
  n.conv(c_p * classes, 1)
  n.params += classes
  return n.params, n.macs


def hand_count_imagenet(genotype, channels, layers, size, classes=1000):
  """(params, multiply-adds, aux head params) of NetworkImageNet, from quark0/darts model.py.

  The stem is two stages of stride-2 3x3 convs (3 -> C/2 -> C at size/4, then
  C -> C at size/8); the first cell factorized-reduces s0. The auxiliary head
  (AuxiliaryHeadImageNet): ReLU, 5x5 average pool with stride 2 (when the map
  is at least 5 wide), 1x1 conv to 128, BN, a conv to 768 covering the map
  that is left (no BN), ReLU, linear.
  """
  n = _Counter()
  half, quarter, eighth = size // 2, size // 4, size // 8
  n.conv(3 * 3 * 3 * (channels // 2), half * half)
  n.bn(channels // 2)
  n.conv(3 * 3 * (channels // 2) * channels, quarter * quarter)
  n.bn(channels)
  n.conv(3 * 3 * channels * channels, eighth * eighth)
  n.bn(channels)
  c_p, _, (c_aux, r_aux) = _count_cells(
      n, genotype, layers, channels, channels, channels, eighth, True
  )
  n.conv(c_p * classes, 1)
  n.params += classes
  k = (r_aux - 5) // 2 + 1 if r_aux >= 5 else r_aux
  aux = c_aux * 128 + 2 * 128 + k * k * 128 * 768 + 768 * classes + classes
  return n.params, n.macs, aux


def shapes(model, size, in_channels=3):
  return netstats.param_shapes(model, (size, size, in_channels))


@pytest.mark.parametrize('name', ['DARTS_V1', 'DARTS_V2', 'PC_DARTS', 'PDARTS'])
def test_cifar_param_and_mac_counts_match_hand_count(name):
  g = NAMED_GENOTYPES[name]
  model = evalnet.NetworkCIFAR(g, num_classes=10, channels=36, layers=20)
  params, macs = hand_count(g, 36, 20, 32)
  assert netstats.count_params(shapes(model, 32)) == params
  assert netstats.count_macs(model, (32, 32, 3)) == macs


def test_published_parameter_counts():
  # Papers: DARTS_V2 3.3 M (quark0/darts logs 3.349342 M), P-DARTS 3.4 M, PC-DARTS 3.6 M on
  # CIFAR-10; DARTS_V2 4.7 M in the ImageNet mobile setting.
  cifar = (
      lambda g: netstats.count_params(
          shapes(evalnet.NetworkCIFAR(g, 10, channels=36, layers=20), 32)
      )
      / 1e6
  )
  assert abs(cifar(DARTS_V2) - 3.3) < 0.1
  assert cifar(DARTS_V2) == pytest.approx(3.349342, abs=1e-6)
  assert abs(cifar(PDARTS) - 3.4) < 0.1
  assert abs(cifar(PC_DARTS) - 3.6) < 0.1
  imagenet = evalnet.NetworkImageNet(DARTS_V2, 1000, channels=48, layers=14)
  assert abs(netstats.count_params(shapes(imagenet, 224)) / 1e6 - 4.7) < 0.1
  # The auxiliary head exists (train mode) but is not counted.
  tree = shapes(evalnet.NetworkCIFAR(DARTS_V2, 10, channels=36, layers=20), 32)
  assert evalnet.AUX_NAME in tree
  assert netstats.count_params(tree, exclude=None) > netstats.count_params(tree)


@pytest.mark.parametrize(
    'name,channels,layers,size',
    [
        ('DARTS_V2', 48, 14, 224),  # the mobile setting
        ('PC_DARTS_IMAGENET', 48, 14, 224),
        ('PC_DARTS_IMAGENET', 4, 3, 224),  # the aux head pools its 7x7 map to 2x2
        ('DARTS_V2', 4, 5, 64),  # a 2x2 map at the aux head: no pool
    ],
)
def test_imagenet_param_and_mac_counts_match_hand_count(name, channels, layers, size):
  g = NAMED_GENOTYPES[name]
  model = evalnet.NetworkImageNet(g, num_classes=1000, channels=channels, layers=layers)
  params, macs, aux = hand_count_imagenet(g, channels, layers, size)
  tree = shapes(model, size)
  assert netstats.count_params(tree) == params
  assert netstats.count_params(tree, exclude=None) - params == aux
  assert netstats.count_macs(model, (size, size, 3)) == macs
  if channels == 48 and name == 'PC_DARTS_IMAGENET':
    # PC-DARTS paper, ImageNet: 5.3 M parameters, 597 M FLOPs (which count more than the
    # convolutions and classifier counted here, as DARTS_V2's 574 M vs 530 M does).
    assert abs(params / 1e6 - 5.3) < 0.1 and 500e6 < macs < 597e6


def _aux_head_numpy(feature, p):
  """The ImageNet auxiliary head in train mode (batch statistics), written in NumPy (CNHW in)."""
  x = np.maximum(np.asarray(feature, np.float64), 0.0)
  if x.shape[2] >= 5:  # 5x5 average pool, stride 2, no padding
    r = (x.shape[2] - 5) // 2 + 1
    x = np.stack(
        [
            np.stack(
                [x[:, :, 2 * a : 2 * a + 5, 2 * b : 2 * b + 5].mean(axis=(2, 3)) for b in range(r)],
                -1,
            )
            for a in range(r)
        ],
        -2,
    )
  x = np.einsum('oi,inhw->onhw', p['conv_1']['kernel'], x)
  mean = x.mean(axis=(1, 2, 3), keepdims=True)
  var = x.var(axis=(1, 2, 3), keepdims=True)
  bn = p['bn_1']['bn']
  x = (x - mean) / np.sqrt(var + 1e-5) * bn['scale'][:, None, None, None] + bn['bias'][
      :, None, None, None
  ]
  x = np.maximum(x, 0.0)
  x = np.maximum(np.einsum('inhw,hwio->no', x, p['conv_2']['kernel']), 0.0)  # VALID, no BN
  return x @ p['classifier']['kernel'] + p['classifier']['bias']


# Parameter-free ops only: the test is about the stem and the heads, and this compiles fast.
POOL_CELLS = Genotype(
    normal=[('skip_connect', 0), ('avg_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2)],
    normal_concat=[2, 3],
    reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('avg_pool_3x3', 2), ('skip_connect', 0)],
    reduce_concat=[2, 3],
)


def test_imagenet_forward_shapes_and_auxiliary_head():
  # L=3 at 224: the stem ends at 28, the cells at 28, 14 and 7; the aux head reads cell 2
  # (2L/3), a 7x7 map, which it pools to 2x2.
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 224, 224, 3)), jnp.float32)
  model = evalnet.NetworkImageNet(POOL_CELLS, num_classes=7, channels=4, layers=3)
  plain = model.clone(auxiliary=False)
  key = jax.random.key(0, impl='rbg')
  v = jax.jit(lambda x: model.init({'params': key}, x, train=True))(x)
  v_plain = {
      col: {k: t for k, t in tree.items() if k != evalnet.AUX_NAME} for col, tree in v.items()
  }

  @jax.jit
  def forward(v, v_plain, x):  # one compile for the three modes
    train = model.apply(
        v, x, train=True, mutable=['batch_stats', 'intermediates'], capture_intermediates=True
    )
    return (
        train,
        model.apply(v, x, train=False),
        plain.apply(v_plain, x, train=True, mutable=['batch_stats']),
    )

  ((logits, aux), state), (eval_logits, eval_aux), ((plain_logits, plain_aux), _) = forward(
      v, v_plain, x
  )
  assert logits.shape == (2, 7) and aux.shape == (2, 7)
  cell2 = state['intermediates']['cells']['cell_2']['__call__'][0]
  assert cell2.shape == (2 * 16, 2, 7, 7)  # 2 concatenated nodes of 4C channels, CNHW
  p = jax.tree.map(np.asarray, v['params'][evalnet.AUX_NAME])
  np.testing.assert_allclose(aux, _aux_head_numpy(cell2, p), rtol=1e-4, atol=1e-5)
  # Eval mode: no aux logits.
  assert eval_logits.shape == (2, 7) and eval_aux is None
  # Without the head: no aux parameters, no aux logits, and the same main logits.
  assert jax.tree.structure(
      jax.eval_shape(lambda: plain.init({'params': key}, x, train=True))
  ) == jax.tree.structure(v_plain)
  assert plain_aux is None
  np.testing.assert_allclose(plain_logits, logits, rtol=1e-5, atol=1e-6)


def tiny(g=DARTS_V2, layers=5, scan_cells=True, auxiliary=True, **kw):
  return evalnet.NetworkCIFAR(
      g, num_classes=10, channels=4, layers=layers, auxiliary=auxiliary, scan_cells=scan_cells, **kw
  )


def init(model, x):
  return model.init({'params': jax.random.key(0)}, x, train=True)


def test_output_and_aux_shapes_and_eval_mode():
  model = tiny()
  x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 16, 16, 3)), jnp.float32)
  v = init(model, x)
  (logits, aux), _ = model.apply(
      v, x, train=True, drop_prob=0.2, mutable=['batch_stats'], rngs={'dropout': jax.random.key(1)}
  )
  assert logits.shape == (3, 10) and aux.shape == (3, 10)
  logits, aux = model.apply(v, x, train=False, drop_prob=0.2)
  assert logits.shape == (3, 10) and aux is None
  # No auxiliary head at all when disabled.
  assert evalnet.AUX_NAME not in init(tiny(auxiliary=False), x)['params']


def test_drop_path_is_identity_at_eval_and_scales_in_training():
  model = tiny()
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 16, 16, 3)), jnp.float32)
  v = init(model, x)
  plain, _ = model.apply(v, x, train=False)
  dropped, _ = model.apply(v, x, train=False, drop_prob=0.5)
  np.testing.assert_array_equal(plain, dropped)
  # drop_prob=0 in training is exactly no drop path.
  run = lambda p: model.apply(
      v, x, train=True, drop_prob=p, mutable=['batch_stats'], rngs={'dropout': jax.random.key(3)}
  )[0][0]
  np.testing.assert_array_equal(run(0.0), run(None))
  assert not np.allclose(run(0.4), run(None))
  # The function itself: every example is either zero or x / keep.
  y = np.asarray(jax.random.normal(jax.random.key(0), (2, 2000, 3, 3)))
  out = np.asarray(evalnet.drop_path(jnp.asarray(y), jnp.float32(0.3), jax.random.key(5)))
  kept = np.all(out == 0, axis=(0, 2, 3))
  assert 0.25 < kept.mean() < 0.35
  np.testing.assert_allclose(out[:, ~kept], y[:, ~kept] / 0.7, rtol=1e-6)


def _unscan(tree):
  """Maps the scanned cell stacks back onto per-cell names (cells_a_b/cell[k] -> cell_{a+k})."""
  out = {}
  for name, sub in tree.items():
    if name.startswith('cells_'):
      a, b = (int(t) for t in name.split('_')[1:])
      for k in range(b - a + 1):
        out[f'cell_{a + k}'] = jax.tree.map(lambda x: x[k], sub['cell'])
    else:
      out[name] = sub
  return out


def test_scanned_cells_equal_unrolled_cells():
  # L=11: reductions at 3 and 7, so cells 5-6 and 9-10 have equal input shapes and are scanned.
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 8, 8, 3)), jnp.float32)
  scanned, flat = tiny(layers=11), tiny(layers=11, scan_cells=False)
  v = init(scanned, x)
  assert {'cells_5_6', 'cells_9_10'} <= set(v['params']['cells'])
  v_flat = {col: dict(tree, cells=_unscan(tree['cells'])) for col, tree in v.items()}
  reference = init(flat, x)
  assert jax.tree.structure(v_flat) == jax.tree.structure(reference)
  assert netstats.count_params(v['params']) == netstats.count_params(reference['params'])
  np.testing.assert_allclose(scanned.apply(v, x)[0], flat.apply(v_flat, x)[0], rtol=2e-5, atol=2e-5)
  # Training mode (batch statistics, aux head); drop path off, since the two
  # draw their per-cell keys differently.
  (a, a_aux), a_stats = scanned.apply(v, x, train=True, mutable=['batch_stats'])
  (b, b_aux), b_stats = flat.apply(v_flat, x, train=True, mutable=['batch_stats'])
  # (batch statistics of 2 examples amplify summation-order differences)
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(a_aux, b_aux, rtol=1e-4, atol=1e-4)
  unscanned_stats = dict(a_stats['batch_stats'], cells=_unscan(a_stats['batch_stats']['cells']))
  jax.tree.map(
      lambda p, q: np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-4),
      unscanned_stats,
      b_stats['batch_stats'],
  )


def test_pool_has_no_batchnorm_and_reduction_ops_have_stride_two():
  g = Genotype(
      normal=[('max_pool_3x3', 0), ('avg_pool_3x3', 1)],
      normal_concat=[2],
      reduce=[('max_pool_3x3', 0), ('skip_connect', 1)],
      reduce_concat=[2],
  )
  model = evalnet.NetworkCIFAR(g, 10, channels=4, layers=3, auxiliary=False, scan_cells=False)
  tree = shapes(model, 8)['cells']
  # Pools carry no parameters; skip_connect at stride 2 is a factorized reduce.
  assert 'op_0' not in tree['cell_0'] and 'op_1' not in tree['cell_0']
  assert set(tree['cell_1']['op_1']) == {'conv_1', 'conv_2', 'bn'}
  params, macs = hand_count(g, 4, 3, 8)
  assert netstats.count_params(shapes(model, 8)) == params
  assert netstats.count_macs(model, (8, 8, 3)) == macs


def test_unknown_op_is_a_one_line_error():
  g = Genotype(
      normal=[('conv_9x9', 0), ('skip_connect', 1)],
      normal_concat=[2],
      reduce=[('max_pool_3x3', 0), ('skip_connect', 1)],
      reduce_concat=[2],
  )
  with pytest.raises(GenotypeError, match="unknown op 'conv_9x9'") as e:
    spaces.get('darts').evalnet(g, 10, kind='cifar')
  assert '\n' not in str(e.value)
  with pytest.raises(
      ValueError, match="unknown network kind 'mobile'; known: cifar, imagenet, nb201"
  ):
    spaces.for_network('mobile')
  with pytest.raises(ValueError, match='the darts space has network kinds cifar, imagenet'):
    spaces.get('darts').evalnet(DARTS_V1, 10, kind='nb201')
