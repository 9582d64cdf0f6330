"""Weight-sharing estimation: SPOS's uniform paths, inherited-weight scoring, supernet weights."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from test_tabular import TINY

from nas_jax import ops, spaces
from nas_jax.estimators import weight_sharing as ws
from nas_jax.tabular.protocol import Protocol

OPS = ('none', 'skip_connect', 'nor_conv_1x1', 'avg_pool_3x3')
SMALL = dict(TINY, train_split='train[:256]', val_split='train[256:320]', test_split='test[:64]')


@pytest.fixture(scope='module')
def space():
  return spaces.get('nb201', OPS)


@pytest.fixture(scope='module')
def spos(space):
  return ws.train_spos(space, Protocol.from_dict(SMALL), epochs=2, seed=4)


def test_spos_paths_are_uniform_over_every_decision(space):
  """Chi-square per decision over 4,000 draws; the paths ``train_spos`` trains are them."""
  archs = ws.spos_archs(space, seed=0, steps=4000)
  assert archs.shape == (4000, 6)
  for d, k in enumerate(space.options):
    counts = np.bincount(archs[:, d], minlength=k)
    assert len(counts) == k
    assert scipy.stats.chisquare(counts).pvalue > 1e-3, (d, counts)
  # pairs of decisions are independent too: the 16 joint cells of decisions 0 and 5
  joint = np.bincount(archs[:, 0] * 4 + archs[:, 5], minlength=16)
  assert scipy.stats.chisquare(joint).pvalue > 1e-3


def test_spos_trains_the_drawn_paths(space, spos):
  steps = 256 // 64
  np.testing.assert_array_equal(spos.archs, ws.spos_archs(space, seed=4, steps=2 * steps))
  assert len(spos.epoch_loss) == 2 and all(np.isfinite(spos.epoch_loss))
  assert spos.seconds > 0
  with pytest.raises(ValueError, match='SPOS epochs must be >= 1'):
    ws.train_spos(space, Protocol.from_dict(SMALL), epochs=0)


@pytest.mark.parametrize('bn', ['recalibrated', 'inherited'])
def test_inherited_weight_score_is_the_cells_own_network(space, spos, bn):
  """A cell's score is the accuracy of its evaluation network under the copied weights (and,
  recalibrated, its own statistics)."""
  est = ws.SharedWeightEstimator(
      space, Protocol.from_dict(SMALL), spos.variables, bn=bn, recalibrate_batches=2
  )
  archs = np.asarray([(2, 1, 2, 0, 2, 1), (3, 2, 2, 1, 0, 2)], np.int32)
  got = est(archs)
  xs, ys, wts = est.trainer._eval_sets['val']
  for arch, value in zip(archs, got.value):
    ev = space.evalnet(space.to_genotype(tuple(arch)), 10, channels=4, layers=1)
    mapped = space.evalnet_variables(est.variables(arch), arch)
    hits = sum(
        float(np.sum(w * (np.argmax(ev.apply(mapped, x, train=False)[0], -1) == y)))
        for x, y, w in zip(xs, ys, wts)
    )
    assert value == pytest.approx(hits / wts.sum(), abs=1e-6)
  assert (got.cost > 0).all() and ((0 <= got.report) & (got.report <= 1)).all()
  if bn == 'inherited':
    assert est.variables(archs[0]) is est.shared
  with pytest.raises(ValueError, match='bn must be one of'):
    ws.SharedWeightEstimator(space, Protocol.from_dict(SMALL), spos.variables, bn='batch')


def test_recalibrated_statistics_are_the_mean_of_batch_statistics(space, spos):
  """The stem BatchNorm's recalibrated mean and variance: the mean over the recalibration
  batches of its input's per-channel batch mean and (biased) variance."""
  est = ws.SharedWeightEstimator(
      space, Protocol.from_dict(SMALL), spos.variables, bn='recalibrated', recalibrate_batches=3
  )
  arch = jnp.asarray((2, 1, 2, 0, 2, 1), jnp.int32)
  seen = []

  def record(next_fun, args, kwargs, context):
    if isinstance(context.module, ops.BatchNorm) and context.module.name == 'stem_bn':
      seen.append(np.asarray(args[0]))
    return next_fun(*args, **kwargs)

  for x in est._recal_batches:
    with nn.intercept_methods(record):
      est.trainer.net.apply(est.shared, x, arch, True, mutable=['batch_stats'])
  assert len(seen) == 3
  means = [a.mean(axis=(1, 2, 3)) for a in seen]
  variances = [a.var(axis=(1, 2, 3)) for a in seen]
  stats = est.variables(arch)['batch_stats']['stem_bn']['bn']
  np.testing.assert_allclose(stats['mean'], np.mean(means, 0), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(stats['var'], np.mean(variances, 0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('mode', ['weighted', 'hard'])
def test_supernet_weights_in_the_arch_network_compute_the_one_hot_supernet(space, mode):
  """A DARTS (weighted) or GDAS (hard) supernet's weights, mapped: the arch network's logits
  are the supernet's under the cell's one-hot op weights, in both BatchNorm modes."""
  sup = space.supernet(10, channels=4, layers=1, mode=mode)
  x = jax.random.normal(jax.random.key(0), (4, 8, 8, 1))
  w0 = {'cell': jnp.full((6, 4), 0.25)}
  variables = sup.init(jax.random.key(1), x, w0, True)
  # random running statistics and BN-free weights, so that nothing matches by accident
  keys = iter(jax.random.split(jax.random.key(2), 200))
  variables = jax.tree.map(
      lambda a: jnp.abs(a + 0.3 * jax.random.normal(next(keys), a.shape)) + 0.1, variables
  )
  net = space.arch_network(10, channels=4, layers=1)
  template = jax.eval_shape(lambda: net.init(jax.random.key(0), x, jnp.zeros(6, jnp.int32), True))
  mapped = ws.from_supernet(space, variables, template)
  assert jax.tree_util.tree_structure(mapped) == jax.tree_util.tree_structure(template)
  for arch in [(2, 1, 2, 0, 2, 1), (3, 2, 0, 2, 1, 3)]:
    onehot = {'cell': jax.nn.one_hot(jnp.asarray(arch), 4)}
    for train in (False, True):
      want = sup.apply(variables, x, onehot, train, mutable=['batch_stats'])[0]
      got = net.apply(mapped, x, jnp.asarray(arch, jnp.int32), train, mutable=['batch_stats'])[0]
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f'{arch} {train}')


def test_from_supernet_errors_name_what_is_wrong(space):
  net = space.arch_network(10, channels=4, layers=1)
  x = jnp.zeros((2, 8, 8, 1))
  template = jax.eval_shape(lambda: net.init(jax.random.key(0), x, jnp.zeros(6, jnp.int32), True))
  with pytest.raises(ValueError, match='the supernet has no variable for batch_stats/cell_0_0/'):
    ws.from_supernet(space, {'params': {}, 'batch_stats': {}}, template)
  with pytest.raises(ValueError, match='the darts space maps no supernet into its arch network'):
    ws.from_supernet(spaces.get('darts'), {}, template)
