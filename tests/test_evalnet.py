"""The evaluation network: parameter and multiply-add counts, shapes, drop path, cell scanning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas_jax import evalnet
from nas_jax.genotype import (DARTS_V1, DARTS_V2, NAMED_GENOTYPES, PC_DARTS, PDARTS, Genotype,
                              GenotypeError)


def hand_count(genotype, channels, layers, size, in_channels=3, classes=10):
  """Parameters (aux head excluded) and multiply-adds of NetworkCIFAR, from DARTS' op formulas.

  Written from the op definitions (quark0/darts operations.py / model.py), not
  from nas_jax: each conv's weight count times its output area.
  """
  params = macs = 0

  def conv(weights, area):
    nonlocal params, macs
    params += weights
    macs += weights * area

  def bn(c):
    nonlocal params
    params += 2 * c

  c_stem = 3 * channels
  conv(3 * 3 * in_channels * c_stem, size * size)
  bn(c_stem)
  c_pp, c_p, c = c_stem, c_stem, channels
  reduction_prev = False
  res = size
  for i in range(layers):
    reduction = i in (layers // 3, 2 * layers // 3)
    if reduction:
      c *= 2
    area = res * res
    if reduction_prev:  # factorized reduce: two 1x1 convs to c/2 each
      conv(2 * c_pp * (c // 2), area)
    else:
      conv(c_pp * c, area)
    bn(c)
    conv(c_p * c, area)
    bn(c)
    pairs, concat = ((genotype.reduce, genotype.reduce_concat) if reduction
                     else (genotype.normal, genotype.normal_concat))
    out_area = (res // 2) ** 2 if reduction else area
    for name, j in pairs:
      stride = 2 if reduction and j < 2 else 1
      a = out_area if stride == 2 or not reduction else out_area
      if name.startswith('sep_conv'):
        k = int(name[-1])
        conv(2 * (k * k * c + c * c), a)
        bn(c)
        bn(c)
      elif name.startswith('dil_conv'):
        k = int(name[-1])
        conv(k * k * c + c * c, a)
        bn(c)
      elif name == 'skip_connect' and stride == 2:
        conv(2 * c * (c // 2), a)
        bn(c)
    c_pp, c_p = c_p, len(concat) * c
    if reduction:
      res //= 2
    reduction_prev = reduction
  conv(c_p * classes, 1)
  params += classes
  return params, macs


def shapes(model, size, in_channels=3):
  return evalnet.param_shapes(model, (size, size, in_channels))


@pytest.mark.parametrize('name', ['DARTS_V1', 'DARTS_V2', 'PC_DARTS', 'PDARTS'])
def test_cifar_param_and_mac_counts_match_hand_count(name):
  g = NAMED_GENOTYPES[name]
  model = evalnet.NetworkCIFAR(g, num_classes=10, channels=36, layers=20)
  params, macs = hand_count(g, 36, 20, 32)
  assert evalnet.count_params(shapes(model, 32)) == params
  assert evalnet.count_macs(model, (32, 32, 3)) == macs


def test_published_parameter_counts():
  # Papers: DARTS_V2 3.3 M (quark0/darts logs 3.349342 M), P-DARTS 3.4 M, PC-DARTS 3.6 M on
  # CIFAR-10; DARTS_V2 4.7 M in the ImageNet mobile setting.
  cifar = lambda g: evalnet.count_params(
      shapes(evalnet.NetworkCIFAR(g, 10, channels=36, layers=20), 32)) / 1e6
  assert abs(cifar(DARTS_V2) - 3.3) < 0.1
  assert cifar(DARTS_V2) == pytest.approx(3.349342, abs=1e-6)
  assert abs(cifar(PDARTS) - 3.4) < 0.1
  assert abs(cifar(PC_DARTS) - 3.6) < 0.1
  imagenet = evalnet.NetworkImageNet(DARTS_V2, 1000, channels=48, layers=14)
  assert abs(evalnet.count_params(shapes(imagenet, 224)) / 1e6 - 4.7) < 0.1
  # The auxiliary head exists (train mode) but is not counted.
  tree = shapes(evalnet.NetworkCIFAR(DARTS_V2, 10, channels=36, layers=20), 32)
  assert evalnet.AUX_NAME in tree
  assert evalnet.count_params(tree, exclude=None) > evalnet.count_params(tree)


def tiny(g=DARTS_V2, layers=5, scan_cells=True, auxiliary=True, **kw):
  return evalnet.NetworkCIFAR(g, num_classes=10, channels=4, layers=layers, auxiliary=auxiliary,
                              scan_cells=scan_cells, **kw)


def init(model, x):
  return model.init({'params': jax.random.key(0)}, x, train=True)


def test_output_and_aux_shapes_and_eval_mode():
  model = tiny()
  x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 16, 16, 3)), jnp.float32)
  v = init(model, x)
  (logits, aux), _ = model.apply(v, x, train=True, drop_prob=0.2, mutable=['batch_stats'],
                                 rngs={'dropout': jax.random.key(1)})
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
  run = lambda p: model.apply(v, x, train=True, drop_prob=p, mutable=['batch_stats'],
                              rngs={'dropout': jax.random.key(3)})[0][0]
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
  assert evalnet.count_params(v['params']) == evalnet.count_params(reference['params'])
  np.testing.assert_allclose(scanned.apply(v, x)[0], flat.apply(v_flat, x)[0], rtol=2e-5,
                             atol=2e-5)
  # Training mode (batch statistics, aux head); drop path off, since the two
  # draw their per-cell keys differently.
  (a, a_aux), a_stats = scanned.apply(v, x, train=True, mutable=['batch_stats'])
  (b, b_aux), b_stats = flat.apply(v_flat, x, train=True, mutable=['batch_stats'])
  # (batch statistics of 2 examples amplify summation-order differences)
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(a_aux, b_aux, rtol=1e-4, atol=1e-4)
  unscanned_stats = dict(a_stats['batch_stats'], cells=_unscan(a_stats['batch_stats']['cells']))
  jax.tree.map(lambda p, q: np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-4),
               unscanned_stats, b_stats['batch_stats'])


def test_pool_has_no_batchnorm_and_reduction_ops_have_stride_two():
  g = Genotype(normal=[('max_pool_3x3', 0), ('avg_pool_3x3', 1)], normal_concat=[2],
               reduce=[('max_pool_3x3', 0), ('skip_connect', 1)], reduce_concat=[2])
  model = evalnet.NetworkCIFAR(g, 10, channels=4, layers=3, auxiliary=False, scan_cells=False)
  tree = shapes(model, 8)['cells']
  # Pools carry no parameters; skip_connect at stride 2 is a factorized reduce.
  assert 'op_0' not in tree['cell_0'] and 'op_1' not in tree['cell_0']
  assert set(tree['cell_1']['op_1']) == {'conv_1', 'conv_2', 'bn'}
  params, macs = hand_count(g, 4, 3, 8)
  assert evalnet.count_params(shapes(model, 8)) == params
  assert evalnet.count_macs(model, (8, 8, 3)) == macs


def test_unknown_op_is_a_one_line_error():
  g = Genotype(normal=[('conv_9x9', 0), ('skip_connect', 1)], normal_concat=[2],
               reduce=[('max_pool_3x3', 0), ('skip_connect', 1)], reduce_concat=[2])
  with pytest.raises(GenotypeError, match="unknown op 'conv_9x9'") as e:
    evalnet.build('cifar', g)
  assert '\n' not in str(e.value)
  with pytest.raises(ValueError, match='network kind'):
    evalnet.build('mobile', DARTS_V1)
