"""The tabular benchmark: arch network, population trainer, table, builder, NATS reader, costs."""

import bz2
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nas_jax import netstats, spaces
from nas_jax.tabular import builder, costs, latency, nats
from nas_jax.tabular.protocol import Protocol
from nas_jax.tabular.table import Table, TableError
from nas_jax.tabular.trainer import Member, PopulationTrainer, load_splits

FOUR = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(
    dataset='mnist5k',
    train_split='train[:1024]',
    val_split='train[1024:1152]',
    test_split='test[:128]',
    image_size=8,
    channels=4,
    cells_per_stage=1,
    epochs=2,
    batch_size=64,
    eval_batch=64,
    crop_padding=1,
)


@pytest.fixture(scope='module')
def space():
  return spaces.get('nb201', FOUR)


@pytest.fixture(scope='module')
def protocol():
  return Protocol(**TINY)


@pytest.fixture(scope='module')
def splits(protocol):
  return load_splits(protocol)


@pytest.fixture(scope='module')
def trainer(space, protocol, splits):
  return PopulationTrainer(space, protocol, splits, form='sequential')


# --- the arch network computes the evaluation network's function -------------------------------
@pytest.mark.parametrize('mode', ['switch', 'masked'])
def test_arch_network_equals_evalnet_logits_and_gradients(space, mode):
  net = space.arch_network(10, channels=4, layers=1, mode=mode)
  x = jax.random.normal(jax.random.key(1), (6, 8, 8, 1))
  y = jnp.arange(6) % 10
  variables = net.init(jax.random.key(0), x, jnp.zeros(6, jnp.int32), True)
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

  for arch in [(3, 2, 3, 1, 3, 2), (1, 0, 2, 0, 0, 3)]:
    a = jnp.asarray(arch, jnp.int32)
    ev = space.evalnet(space.to_genotype(arch), 10, channels=4, layers=1)
    ev_vars = space.evalnet_variables(variables, arch)
    # the mapped tree has exactly the evaluation network's structure
    ref = jax.eval_shape(lambda: ev.init(jax.random.key(5), x, train=True))
    assert jax.tree_util.tree_structure(ref) == jax.tree_util.tree_structure(ev_vars)

    def eval_loss(p):
      out = ev.apply(
          {'params': p, 'batch_stats': ev_vars['batch_stats']},
          x,
          train=train,
          mutable=['batch_stats'],
      )[0][0]
      return optax.softmax_cross_entropy_with_integer_labels(out, y).mean(), out

    (_, la), ga = arch_loss_grad(variables['params'], a)
    (_, le), ge = jax.jit(jax.value_and_grad(eval_loss, has_aux=True))(ev_vars['params'])
    np.testing.assert_allclose(la, le, rtol=1e-5, atol=1e-5)
    mapped = space.evalnet_variables({'params': ga}, arch)['params']
    for (path, g1), g2 in zip(
        jax.tree_util.tree_leaves_with_path(mapped), jax.tree_util.tree_leaves(ge)
    ):
      np.testing.assert_allclose(g1, g2, rtol=1e-3, atol=1e-5, err_msg=str(path))


def test_unchosen_ops_get_no_gradient(space):
  net = space.arch_network(10, channels=4, layers=1)
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 1))
  arch = (2, 0, 2, 0, 0, 2)  # edges 0->1, 1->2 and 2->3 run conv 1x1
  v = net.init(jax.random.key(0), x, jnp.zeros(6, jnp.int32), True)
  g = jax.jit(
      jax.grad(
          lambda p: net.apply(
              {'params': p, 'batch_stats': v['batch_stats']},
              x,
              jnp.asarray(arch),
              True,
              mutable=['batch_stats'],
          )[0].sum()
      )
  )(v['params'])
  cell = g['cell_0_0']
  assert np.abs(cell['edge_0_1']['op_2']['conv']['kernel']).sum() > 0
  assert np.abs(cell['edge_0_1']['op_3']['conv']['kernel']).sum() == 0
  assert np.abs(cell['edge_1_2']['op_3']['conv']['kernel']).sum() == 0
  assert np.abs(cell['edge_0_2']['op_2']['conv']['kernel']).sum() == 0


def test_conv_im2col_equals_lax_conv():
  from nas_jax import ops

  x = jax.random.normal(jax.random.key(0), (3, 2, 9, 9))
  k = jax.random.normal(jax.random.key(1), (3, 3, 3, 5))
  for stride, pad in ((1, 1), (2, 1), (1, 0)):
    ref = jax.lax.conv_general_dilated(
        x, k, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=ops.CNHW
    )
    np.testing.assert_allclose(ops.conv_im2col(x, k, stride, pad), ref, rtol=1e-5, atol=1e-5)


# --- the population trainer ----------------------------------------------------------------------
def test_population_equals_members_trained_alone(space, protocol, splits, trainer):
  members = [Member((3, 2, 3, 1, 3, 2), 0), Member((1, 3, 0, 2, 1, 3), 1)]
  # the vmapped program: one initialization and one SGD step of both members, against each
  # member's own (sequential) initialization and step on its own batch
  pop = PopulationTrainer(space, protocol, splits, form='vmap')
  seeds = jnp.asarray([m.seed for m in members], jnp.uint32)
  archs = jnp.asarray([m.arch for m in members], jnp.int32)
  batches = [trainer._stream(m.seed).batch(0, 0) for m in members]
  x = np.stack([b[0] for b in batches])
  y = np.stack([b[1] for b in batches])
  stacked, metrics = pop._step(pop._init(seeds), x, y, archs)
  for j, m in enumerate(members):
    alone, alone_metrics = trainer._step(trainer.init_state(m.seed), x[j], y[j], archs[j])
    np.testing.assert_allclose(metrics[j], alone_metrics, rtol=1e-5)
    for a, p in zip(jax.tree_util.tree_leaves(alone), jax.tree_util.tree_leaves(stacked)):
      np.testing.assert_allclose(a, p[j], rtol=1e-4, atol=1e-6)
  # deterministic, and a member's result does not depend on its neighbours
  full = trainer.train(members)
  again = trainer.train(members[1:])
  np.testing.assert_array_equal(again[0]['test_loss'], full[1]['test_loss'])
  assert full[0]['test_loss'][-1] != full[1]['test_loss'][-1]
  assert not np.isnan(full[0]['test_loss']).any()
  # an early-stopped member: the epoch it stops in is measured, the rest NaN
  short = trainer.train(members[:1], max_steps=3)[0]
  assert not np.isnan(short['test_loss'][0]) and np.isnan(short['test_loss'][1])


def test_training_learns_and_records_every_epoch(trainer):
  r = trainer.train([Member((3, 3, 3, 3, 3, 3), 0)])[0]
  assert r['train_loss'].shape == (2,) and r['test_acc'].shape == (2,)
  assert r['train_loss'][1] < r['train_loss'][0]
  assert r['test_acc'][-1] > 0.3  # 10 classes: 0.1 is chance
  none = trainer.train([Member((0, 0, 0, 0, 0, 0), 0)])[0]
  # no path from the input: the classifier sees a constant; accuracy is one class's share
  assert none['test_acc'][-1] < 0.25
  assert r['train_seconds'] > 0


def test_fgsm_at_zero_equals_clean_and_falls_with_eps(trainer):
  arch = (3, 3, 2, 1, 3, 2)
  trainer.train([Member(arch, 0)])
  state, a = trainer.last_state, jnp.asarray(arch, jnp.int32)
  clean = float(np.asarray(trainer._evaluate(state, *trainer._eval_sets['test'], a))[1])
  accs = [float(trainer.fgsm_accuracy(state, a, eps)) for eps in (0.0, 0.05, 0.2)]
  assert accs[0] == pytest.approx(clean, abs=1e-7)
  assert accs[0] > accs[1] > accs[2]


def test_protocol_errors_are_one_line():
  with pytest.raises(ValueError, match=r'protocol.epochs must be a positive integer'):
    Protocol(epochs=0)
  with pytest.raises(ValueError, match=r'image_size must be a multiple of 4'):
    Protocol(image_size=10)
  with pytest.raises(ValueError, match=r'unknown keys lr'):
    Protocol.from_dict({'lr': 0.1})
  assert Protocol().digest() != Protocol(epochs=4).digest()


# --- costs and latency ---------------------------------------------------------------------------
def test_additive_costs_equal_direct_counts(space, protocol):
  shape = (8, 8, 1)
  tables = costs.additive_costs(space, protocol, 10, shape)
  rng = np.random.default_rng(0)
  for arch in [tuple(rng.integers(0, 4, 6)) for _ in range(5)] + [(0,) * 6, (3,) * 6]:
    net = space.evalnet(space.to_genotype(arch), 10, channels=4, layers=1)
    params = netstats.count_params(netstats.param_shapes(net, shape))
    flops = netstats.count_macs(net, shape)
    assert costs.predict(*tables['params'], np.asarray([arch]))[0] == params
    assert costs.predict(*tables['flops'], np.asarray([arch]))[0] == flops
  # by hand: one 3x3 conv edge at C=4 adds 3*3*4*4 weights + BN scale/bias (8) per stage's C
  base, c = tables['params']
  assert c[0, 3] == sum(9 * ch * ch + 2 * ch for ch in (4, 8, 16))


def test_latency_table_positive_and_monotone(space, protocol):
  lut = latency.measure(space, protocol, 10, (8, 8, 1), batches=(1, 8), repeats=2, runs=3)
  none = space.primitives.index('none')
  for b in (1, 8):
    assert (lut.ops[b] > 0).all() and lut.base[b] > 0
    # 'none' is the floor by construction, so no op is cheaper than it: replacing 'none'
    # by any op never lowers the prediction, however loaded the machine was.
    np.testing.assert_array_equal(lut.ops[b][:, none], latency._MIN_ENTRY)
    assert (lut.ops[b] >= lut.ops[b][:, [none]]).all()
  # The prediction, by hand on a fixed table: base + N * sum over stages and edges.
  fixed = latency.LatencyTable(
      {1: np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 10.0, 20.0, 30.0], [0.0, 100.0, 200.0, 300.0]])},
      {1: 5.0},
      dict(cells_per_stage=2),
  )
  arch = np.zeros(6, np.int32)
  prev = fixed.predict(arch, 1)
  assert prev == 5.0
  for e in range(6):  # a 3x3 conv on one more edge each time: 2 cells x (3 + 30 + 300) more
    arch[e] = 3
    now = fixed.predict(arch, 1)
    assert now == pytest.approx(prev + 2 * 333.0)
    prev = now
  lut2 = latency.LatencyTable(
      {int(k): v for k, v in json.loads(lut.to_json())['ops'].items()}, lut.base, lut.metadata
  )
  np.testing.assert_allclose(
      lut2.predict(np.ones((3, 6), int), 1), lut.predict(np.ones((3, 6), int), 1)
  )
  with pytest.raises(ValueError, match='measured for channels'):
    lut.check(space, Protocol(**dict(TINY, channels=8)))


# --- the table -----------------------------------------------------------------------------------
def _random_table(space, seeds=(0, 1), epochs=3):
  unique = space.unique()
  hashes = sorted(unique)
  a, s = len(hashes), len(seeds)
  rng = np.random.default_rng(0)
  epoch = {k: rng.random((a, s, epochs)).astype(np.float32) for k in ('test_acc', 'val_loss')}
  seed = {'train_seconds': rng.random((a, s)).astype(np.float32)}
  arch = {'params': rng.integers(1, 100, a).astype(float)}
  meta = dict(space=space.name, primitives=list(space.primitives), hash_rule=space.hash_rule)
  archs = np.asarray([unique[h] for h in hashes])
  return Table(hashes, archs, seeds, epoch, seed, arch, meta)


def test_table_round_trip_and_queries(tmp_path):
  space = spaces.get('nb201', ('none', 'skip_connect', 'nor_conv_3x3'))
  t = _random_table(space)
  assert len(t) == 127  # NB201's rule on 3 ops: 127 unique of 729
  path = tmp_path / 't.npz'
  t.save(path)
  u = Table.load(path)
  assert u.hashes == t.hashes and u.seeds == t.seeds and u.metadata['format_version'] == 1
  for k in t.epoch:
    np.testing.assert_array_equal(u.epoch[k], t.epoch[k])
  np.testing.assert_array_equal(u.arch['params'], t.arch['params'])
  # query agrees with the stored rows, for every arch of the space (isomorphic archs share a row)
  all_archs = np.asarray(list(space.enumerate()))
  f = u.lookup('test_acc', epoch=2, seed=1)
  vec = np.asarray(jax.jit(f)(all_archs))
  for i in range(0, len(all_archs), 37):
    arch = tuple(all_archs[i])
    row = t.hashes.index(space.hash(arch))
    assert u.query(arch, 'test_acc', epoch=2, seed=1) == pytest.approx(
        t.epoch['test_acc'][row, 1, 1]
    )
    assert u.query(arch, 'test_acc') == pytest.approx(t.epoch['test_acc'][row, :, 2].mean())
    assert vec[i] == pytest.approx(u.query(arch, 'test_acc', epoch=2, seed=1))
  g = space.to_genotype(tuple(all_archs[5]))
  assert u.query(g, 'params') == u.query(tuple(all_archs[5]), 'params')
  with pytest.raises(TableError, match='epoch must be in 1..3'):
    u.query(tuple(all_archs[0]), 'test_acc', epoch=4)
  with pytest.raises(TableError, match='unknown table metric'):
    u.values('accuracy')


def test_table_summaries_by_hand():
  space = spaces.get('nb201', ('none', 'skip_connect', 'nor_conv_3x3'))
  t = _random_table(space)
  v = t.values('test_acc')
  best = int(np.argmax(v))
  assert t.best('test_acc')[0][0] == t.hashes[best]
  assert t.rank(t.hashes[best]) == 1 and t.percentile(t.hashes[best]) == 100.0
  worst = int(np.argmin(v))
  assert t.rank(t.hashes[worst]) == len(t)
  assert t.percentile(t.hashes[worst]) == pytest.approx(100.0 / len(t))
  # lower is better for a loss
  assert t.best('val_loss')[0][0] == t.hashes[int(np.argmin(t.values('val_loss')))]
  s = t.summary()
  assert s['best']['value'] == v.max() and s['worst']['value'] == v.min()
  assert s['quantiles']['0.5'] == pytest.approx(np.median(v))


def test_random_baseline_counts_every_architecture():
  # 3 ops: 729 architectures in 127 rows; the baseline weighs each row by its isomorphic forms.
  space = spaces.get('nb201', ('none', 'skip_connect', 'nor_conv_3x3'))
  t = _random_table(space)
  forms = np.zeros(len(t))
  for arch in space.enumerate():
    forms[t.hashes.index(space.hash(arch))] += 1
  assert forms.sum() == 729 and forms.max() > 1
  for metric, better in (('test_acc', np.greater_equal), ('val_loss', np.less_equal)):
    v = t.values(metric)
    r = t.random_baseline(metric)
    assert r['archs'] == r['measured'] == 729
    assert r['mean'] == pytest.approx(np.sum(forms * v) / 729)
    # the percentile of a row: the share of rows it is at least as good as
    pct = np.asarray([100.0 * np.mean(better(x, v)) for x in v])
    assert r['percentile'] == pytest.approx(np.sum(forms * pct) / 729)
    best = v.max() if better is np.greater_equal else v.min()
    assert r['regret'] == pytest.approx(np.sum(forms * np.abs(v - best)) / 729)
  # unmeasured rows are left out of the baseline
  t.epoch['test_acc'][:10] = np.nan
  assert t.random_baseline()['measured'] == 729 - forms[:10].sum()


def test_pareto_front_by_hand():
  space = spaces.get('nb201', ('none', 'skip_connect', 'nor_conv_3x3'))
  t = _random_table(space)
  acc = np.full((len(t), 2, 3), np.nan, np.float32)
  params = np.full(len(t), np.nan)
  # (params, accuracy): rows 0-5; the front is 1 (cheapest), 3, 4; row 5 ties 4's accuracy
  # at a higher cost, row 2 is dominated by 3, row 0 costs as much as 1 for less accuracy
  for row, (p, a) in enumerate([(1, 0.5), (1, 0.6), (3, 0.65), (2, 0.7), (4, 0.9), (5, 0.9)]):
    params[row], acc[row] = p, a
  t.epoch['test_acc'], t.arch['params'] = acc, params
  assert t.pareto('test_acc', 'params') == [1, 3, 4]
  # Row 6 ties row 3 on both: neither dominates the other, so both are on the front (as
  # nas_jax.pareto.front, the launcher's, keeps them; the animal table has such a pair).
  params[6], acc[6] = 2, 0.7
  assert t.pareto('test_acc', 'params') == [1, 3, 6, 4]


def test_table_file_errors(tmp_path):
  bad = tmp_path / 'bad.npz'
  bad.write_bytes(b'not a zip')
  with pytest.raises(TableError, match='not a readable table file'):
    Table.load(bad)
  with pytest.raises(TableError, match='no table file'):
    Table.load(tmp_path / 'missing.npz')
  np.savez(tmp_path / 'other.npz', x=np.zeros(3))
  with pytest.raises(TableError, match='missing hashes'):
    Table.load(tmp_path / 'other.npz')


# --- NATS-Bench -----------------------------------------------------------------------------------
# The fixture's evaluation sets per dataset (NATS-Bench's names) and each one's accuracy offset k
NATS_SETS = {
    'cifar10-valid': {'x-valid': 1, 'ori-test': 2},
    'cifar10': {'ori-test': 2},
    'cifar100': {'x-valid': 1, 'ori-test': 2, 'x-test': 3},
    'ImageNet16-120': {'x-valid': 1, 'ori-test': 2, 'x-test': 3},
}
NATS_BASE = {'cifar10-valid': 50.0, 'cifar10': 60.0, 'cifar100': 30.0, 'ImageNet16-120': 20.0}
NATS_TRAIN = {'cifar10-valid': 2.0, 'cifar10': 4.0, 'cifar100': 3.0, 'ImageNet16-120': 6.0}


def _nats_fixture(path, archs, seeds=(777, 888), epochs=3, step=1.0):
  """A NATS-Bench topology file in the package's own format (nats_bench's classes, bz2 pickle).

  Every cell is trained on the four datasets at both hps: ``hp='12'`` for ``epochs`` epochs,
  ``hp='200'`` for ``epochs + 1``, at ``seeds`` (a tuple, or ``index -> tuple``). With
  ``H = 10`` at ``hp='200'`` (0 at ``'12'``), cell ``i``, seed ``s``, epoch ``e`` (0-based):

  * accuracy (percent): ``NATS_BASE[dataset] + H + step * i + e + s / 1000 + k``, ``k`` 0 for
    train and ``NATS_SETS`` for an evaluation set (1 x-valid, 2 ori-test, 3 x-test);
  * train seconds of epoch e: ``NATS_TRAIN[dataset] + H + i + e / 2 + (s - 777) / 1000``;
  * eval seconds of a set at epoch e: ``k / 2 + e / 10 + i / 100``;
  * params ``0.1 + i`` (millions), flops ``10 + i``, latency ``0.01 * (i + 1)``.
  """
  from nats_bench.api_utils import ArchResults, ResultsCount

  infos = {}
  for index, arch_str in enumerate(archs):
    hp_results = {}
    for hp, extra in (('12', 0), ('200', 1)):
      res = ArchResults(index, arch_str)
      h = 10.0 if hp == '200' else 0.0
      n = epochs + extra
      for dataset, sets in NATS_SETS.items():
        for seed in seeds(index) if callable(seeds) else seeds:
          value = lambda e, k: NATS_BASE[dataset] + h + step * index + e + seed / 1000 + k  # noqa: B023
          r = ResultsCount(
              dataset,
              None,
              {e: value(e, 0) for e in range(n)},
              {e: 2.0 - value(e, 0) / 100 for e in range(n)},
              0.1 + index,
              10.0 + index,
              {'arch_str': arch_str},
              seed,
              n,
              [0.01 * (index + 1)],
          )
          train_times = {
              e: NATS_TRAIN[dataset] + h + index + e / 2 + (seed - 777) / 1000 for e in range(n)
          }
          r.update_train_info(r.train_acc1es, None, r.train_losses, train_times)
          accs, losses, times = {}, {}, {}
          for name, k in sets.items():
            for e in range(n):
              accs[f'{name}@{e}'] = value(e, k)
              losses[f'{name}@{e}'] = 1.0 / value(e, k)
              times[f'{name}@{e}'] = k / 2 + e / 10 + index / 100
          r.update_eval(accs, losses, times)
          res.update(dataset, seed, r)
      hp_results[hp] = res.state_dict()
    infos[index] = hp_results
  data = dict(meta_archs=list(archs), arch2infos=infos, evaluated_indexes=list(range(len(archs))))
  with bz2.BZ2File(path, 'wb') as f:
    pickle.dump(data, f)


NATS_ARCHS = [
    '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|',
    '|none~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_1x1~2|',
    '|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|',
]
# per cell: cell 1 is the first row (the lowest hash) and has one seed; cell 2 lacks 777
NATS_SEEDS = {0: (777, 888, 999), 1: (777,), 2: (888, 999)}


@pytest.fixture(scope='module')
def nats_source(tmp_path_factory):
  src = tmp_path_factory.mktemp('nats') / 'NATS-tss-v1_0-fixture.pickle.pbz2'
  _nats_fixture(src, NATS_ARCHS, seeds=NATS_SEEDS.get)
  return str(src)


def _nats_rows(table):
  space = spaces.get('nb201')
  return [table.row(space.from_genotype(space.load_genotype(text))) for text in NATS_ARCHS]


def test_nats_fixture_converts(tmp_path, nats_source):
  t = nats.convert(nats_source, 'cifar10-valid', hp='12', path=tmp_path / 'nats.npz')
  t = Table.load(tmp_path / 'nats.npz')
  r = _nats_rows(t)
  # the union of the cells' seeds, not the first row's (cell 1: 777 only)
  assert r[1] == 0 and len(t) == 3 and t.seeds == [777, 888, 999] and t.num_epochs == 3
  assert t.metadata['members_measured'] == 6 and t.metadata['members_total'] == 9
  # ori-test after the last epoch (2): 50 + i + 2 + s / 1000 + 2, the mean over the cell's seeds
  test = t.values('test_acc')
  assert test[r[0]] == pytest.approx((54 + (0.777 + 0.888 + 0.999) / 3) / 100)
  assert test[r[1]] == pytest.approx(55.777 / 100)
  assert test[r[2]] == pytest.approx((56 + (0.888 + 0.999) / 2) / 100)
  assert np.isnan(t.values('test_acc', seed=888)[r[1]]) and np.isnan(
      t.values('val_acc', 1, 777)[r[2]]
  )
  assert t.values('test_acc', seed=888)[r[2]] == pytest.approx(56.888 / 100)
  assert t.values('val_acc', 1, 999)[r[0]] == pytest.approx(51.999 / 100)  # x-valid, epoch 0
  assert t.values('train_acc', 1)[r[2]] == pytest.approx((52 + (0.888 + 0.999) / 2) / 100)
  for i in range(3):
    assert t.values('params')[r[i]] == pytest.approx((0.1 + i) * 1e6)
  # train-all-time: sum over e of 2 + i + e / 2 + (s - 777) / 1000 = 7.5 + 3 i + 3 (s - 777) / 1000
  assert t.values('train_seconds', seed=888)[r[0]] == pytest.approx(7.5 + 0.333)
  assert t.values('train_seconds', seed=777)[r[1]] == pytest.approx(10.5)
  # valid-per-time: the x-valid eval seconds 0.5 + e / 10 + i / 100 averaged over the 3 epochs
  assert t.values('eval_seconds', seed=999)[r[2]] == pytest.approx(0.62)
  assert np.isnan(t.values('eval_seconds', seed=777)[r[2]])
  with pytest.raises(TableError, match='dataset must be one of'):
    nats.convert(nats_source, 'cifar-10')
  with pytest.raises(TableError, match='cannot read NATS-Bench'):
    nats.convert(str(tmp_path / 'nats.npz'))


def test_nats_hps_are_different_tables(nats_source):
  """hp='12' and hp='200' are two trainings (the fixture: 3 and 4 epochs, accuracies 10 apart)."""
  short, full = nats.convert(nats_source, hp='12'), nats.convert(nats_source, hp='200')
  assert (short.num_epochs, full.num_epochs) == (3, 4)
  assert short.metadata['protocol']['hp'] == '12' and full.metadata['protocol']['hp'] == '200'
  r, q = _nats_rows(short), _nats_rows(full)
  assert short.values('test_acc', seed=777)[r[0]] == pytest.approx(54.777 / 100)
  assert full.values('test_acc', seed=777)[q[0]] == pytest.approx(65.777 / 100)  # 50+10+3+.777+2
  assert full.values('val_acc', 1, 888)[q[2]] == pytest.approx(63.888 / 100)  # 50+10+2+0+.888+1
  # train-all-time: sum over 4 epochs of 2 + 10 + 1 + e / 2; valid-per-time 0.5 + 0.15 + 0.01
  assert full.values('train_seconds', seed=777)[q[1]] == pytest.approx(55.0)
  assert full.values('eval_seconds', seed=777)[q[1]] == pytest.approx(0.66)


@pytest.mark.parametrize(
    'dataset, val, test, train',
    [
        # x-valid (k=1) and x-test (k=3), not ori-test (k=2): 30 + 2 + 0.777 + k
        ('cifar100', 33.777, 35.777, 10.5),
        ('ImageNet16-120', 23.777, 25.777, 19.5),
        # trained on train + valid: no validation column, test is ori-test (k=2)
        ('cifar10', None, 64.777, 13.5),
    ],
)
def test_nats_datasets_read_their_own_splits(nats_source, dataset, val, test, train):
  from nats_bench.api_topology import NATStopology

  t = nats.convert(nats_source, dataset, hp='12')
  r = _nats_rows(t)
  assert t.metadata['dataset'] == dataset
  assert t.values('test_acc', seed=777)[r[0]] == pytest.approx(test / 100)
  # train-all-time: 3 epochs of NATS_TRAIN[dataset] + e / 2 (cell 0, seed 777)
  assert t.values('train_seconds', seed=777)[r[0]] == pytest.approx(train)
  if val is None:
    assert np.isnan(t.epoch['val_acc']).all() and 'eval_seconds' not in t.seed
  else:
    assert t.values('val_acc', seed=777)[r[0]] == pytest.approx(val / 100)
    assert t.values('eval_seconds', seed=777)[r[0]] == pytest.approx(0.6)
  # nats_bench's own reading: get_more_info's seed means (is_random=False)
  api = NATStopology(nats_source, fast_mode=False, verbose=False)
  for i, text in enumerate(NATS_ARCHS):
    info = api.get_more_info(text, dataset, hp='12', is_random=False)
    assert t.values('test_acc')[r[i]] == pytest.approx(info['test-accuracy'] / 100)
    if val is not None:
      assert t.values('val_acc')[r[i]] == pytest.approx(info['valid-accuracy'] / 100)


# --- the builder ----------------------------------------------------------------------------------
def _plan(primitives=('none', 'skip_connect', 'nor_conv_1x1'), seeds=(0, 1), **protocol):
  space = spaces.get('nb201', primitives, hash_rule='nb201')
  return builder.plan(space, Protocol(**{**TINY, 'epochs': 1, **protocol}), seeds)


BUILD = dict(population='sequential', edge_mode='switch', group=8, log_every=0)


def test_builder_small_space_and_corrupt_result(tmp_path):
  plan = _plan(('none', 'nor_conv_1x1'))
  space = spaces.get('nb201', ('none', 'nor_conv_1x1'))
  n = len(space.unique())
  lines = []
  result = builder.build(plan, str(tmp_path / 'w'), **BUILD, log=lines.append)
  assert result['complete'] and result['done'] == 2 * n
  t = Table.load(tmp_path / 'w' / 'table.npz')
  assert len(t) == n and t.complete() and t.metadata['members_measured'] == 2 * n
  # a corrupt result is found, removed and retrained; the others are kept
  files = sorted((tmp_path / 'w' / 'results' / 'seed1').glob('*.npz'))
  truncated, edited = files[0], files[1]
  truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
  with np.load(edited) as f:
    arrays = {k: f[k] for k in f.files}
  arrays['test_acc'] = arrays['test_acc'] + 0.5  # a changed value under the old checksum
  with open(edited, 'wb') as f:
    np.savez(f, **arrays)
  kept = {p: p.stat().st_mtime_ns for p in files[2:]}
  lines.clear()
  result = builder.build(plan, str(tmp_path / 'w'), **BUILD, log=lines.append)
  assert result['corrupt'] == 2 and result['trained'] == 2 and result['complete']
  assert Table.load(tmp_path / 'w' / 'table.npz').values('test_acc').max() <= 1.0
  assert any('corrupt' in line for line in lines)
  assert all(p.stat().st_mtime_ns == m for p, m in kept.items())
  # The table unpacks into result files losslessly: a build seeded from it trains nothing and
  # assembles the same table; unpacking into a build with one more seed leaves only that seed.
  original = Table.load(tmp_path / 'w' / 'table.npz')
  assert builder.unpack(plan, str(tmp_path / 'u'), str(tmp_path / 'w' / 'table.npz')) == 2 * n
  again = builder.build(plan, str(tmp_path / 'u'), **BUILD, log=lines.append)
  assert again['trained'] == 0 and again['complete']
  rebuilt = Table.load(tmp_path / 'u' / 'table.npz')
  assert rebuilt.hashes == original.hashes
  for group in ('epoch', 'seed', 'arch'):
    for name, values in getattr(original, group).items():
      np.testing.assert_array_equal(getattr(rebuilt, group)[name], values, err_msg=name)
  assert rebuilt.metadata['build_train_seconds'] == original.metadata['build_train_seconds']
  assert builder.unpack(plan, str(tmp_path / 'u'), str(tmp_path / 'w' / 'table.npz')) == 0
  plan3 = _plan(('none', 'nor_conv_1x1'), (0, 1, 2))
  assert builder.unpack(plan3, str(tmp_path / 'x'), str(tmp_path / 'w' / 'table.npz')) == 2 * n
  extended = builder.build(plan3, str(tmp_path / 'x'), **BUILD, log=lines.append, max_members=0)
  assert extended['done'] == 2 * n and extended['members'] == 3 * n and not extended['complete']
  wider = Table.load(tmp_path / 'x' / 'table.npz')
  np.testing.assert_array_equal(wider.epoch['test_acc'][:, :2], original.epoch['test_acc'])
  assert np.isnan(wider.epoch['test_acc'][:, 2]).all()
  plan1 = _plan(('none', 'nor_conv_1x1'), (1,))  # the table's seed 0 has no place in it
  with pytest.raises(builder.BuildError, match=r'seeds \[0\] that this build does not have'):
    builder.unpack(plan1, str(tmp_path / 'y'), str(tmp_path / 'w' / 'table.npz'))
  assert not (tmp_path / 'y').exists()  # refused before anything is written
  # another protocol in the same directory is refused, and so is a table of another protocol
  plan2 = _plan(('none', 'nor_conv_1x1'), epochs=2)
  with pytest.raises(builder.BuildError, match='different protocol_digest'):
    builder.build(plan2, str(tmp_path / 'w'), **BUILD, log=lines.append)
  with pytest.raises(builder.BuildError, match='different protocol_digest .* cannot seed'):
    builder.unpack(plan2, str(tmp_path / 'z'), str(tmp_path / 'w' / 'table.npz'))


def _children_of(workdir) -> list[str]:
  """The command lines of running --local_processes children building ``workdir``."""
  out = []
  for pid in os.listdir('/proc'):
    try:
      with open(f'/proc/{pid}/cmdline', 'rb') as f:
        cmd = f.read().decode(errors='replace')
    except OSError:
      continue
    if '--part=' in cmd and f'--workdir={workdir}' in cmd:
      out.append(cmd)
  return out


def test_builder_resumes_after_sigkill(tmp_path):
  workdir = tmp_path / 'w'
  cfg = tmp_path / 'cfg.py'
  cfg.write_text(
      'import ml_collections\n'
      'from experiments.configs import tabulate_nb201_mnist as base\n'
      'def get_config(arg=None):\n'
      '  c = base.get_config()\n'
      "  c.space.primitives = ('none', 'nor_conv_1x1')\n"
      '  c.seeds = (0,)\n'
      f'  c.protocol.update({dict(TINY, epochs=1)!r})\n'
      '  c.log_every = 0\n'
      '  return c\n'
  )
  env = dict(os.environ, PYTHONPATH=ROOT)
  cmd = [sys.executable, '-m', 'experiments.tabulate', f'--config={cfg}', f'--workdir={workdir}']
  cmd += ['--local_processes=2']  # two one-core children: the build's own form on this CPU
  # SIGKILL the build (its parent process) once 3 members are written: its children die with
  # it, so no cell is trained after the kill.
  parent = subprocess.Popen(
      cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
  )
  results = workdir / 'results' / 'seed0'
  deadline = time.time() + 240
  while time.time() < deadline and len(list(results.glob('*.npz'))) < 3:
    time.sleep(0.2)
  parent.send_signal(signal.SIGKILL)
  parent.wait()
  deadline = time.time() + 20
  while time.time() < deadline and _children_of(workdir):
    time.sleep(0.2)
  assert not _children_of(workdir), 'a --local_processes child outlived its parent'
  finished = {p.name: p.stat().st_mtime_ns for p in results.glob('*.npz')}
  assert len(finished) >= 3
  # The rerun resumes: the two children split the pending members, keep every finished one,
  # and the parent assembles the table.
  out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  assert f'[0/2] {spaces.get("nb201", ("none", "nor_conv_1x1")).name} space' in out.stdout
  assert out.stdout.count(f'{len(finished)} done') == 2  # each child saw the finished cells
  trained = [int(out.stdout.split(f'[{k}/2] trained ')[1].split()[0]) for k in range(2)]
  n = len(spaces.get('nb201', ('none', 'nor_conv_1x1')).unique())
  assert sum(trained) == n - len(finished) and abs(trained[0] - trained[1]) <= 1
  assert 'complete table' in out.stdout
  for name, mtime in finished.items():  # no finished cell was trained again
    assert (results / name).stat().st_mtime_ns == mtime
  t = Table.load(workdir / 'table.npz')
  space = spaces.get('nb201', ('none', 'nor_conv_1x1'))
  assert len(t) == len(space.unique()) and t.complete()
