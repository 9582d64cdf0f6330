"""NAS-Bench-Graph: the space (its hash against the package's keys) and the table reader."""

import itertools
import pickle

import jax
import numpy as np
import pytest

from nas_jax import discrete, estimators, spaces
from nas_jax.spaces import nbgraph
from nas_jax.strategies.discrete import base as ds
from nas_jax.tabular import nbgraph as reader
from nas_jax.tabular import safe_pickle
from nas_jax.tabular.table import TableError

SPACE = spaces.get('nbgraph')
PROTEINS = spaces.get('nbgraph', nbgraph.PROTEINS_OPS)


def _installed():
  try:
    return reader.bench_path('cora')
  except TableError:
    return None


needs_package = pytest.mark.skipif(_installed() is None, reason='nas-bench-graph not installed')


@pytest.fixture(scope='module')
def cora():
  return reader.read('cora')


# -- the space ----------------------------------------------------------------------------------


def test_space_shape_and_round_trips(tmp_path):
  assert SPACE.options == (2, 3, 4, 9, 9, 9, 9) and SPACE.size() == 24 * 9**4
  assert PROTEINS.options == (2, 3, 4, 5, 5, 5, 5) and PROTEINS.size() == 24 * 5**4
  for arch in SPACE.sample(jax.random.key(0), 20):
    g = SPACE.to_genotype(arch)
    assert SPACE.from_genotype(g) == arch
    assert SPACE.from_genotype(SPACE.derive(SPACE.one_hot(g))) == arch
    assert SPACE.load_genotype(SPACE.to_text(g)) == g
    assert nbgraph.NBGraphGenotype.from_json(g.to_json()) == g
  path = tmp_path / 'g.json'
  path.write_text(g.to_json(indent=2))
  assert SPACE.load_genotype(str(path)) == g
  assert SPACE.to_text(nbgraph.NBGraphGenotype((0, 0, 1, 2), ('gcn', 'gat', 'sage', 'fc'))) == (
      '|gcn~0|+|gat~0|+|sage~1|+|fc~2|'
  )
  onehot, path_enc = SPACE.encode(arch, 'onehot'), SPACE.encode(arch, 'path')
  assert onehot.shape == (9 + 4 * 9,) and onehot.sum() == 7
  assert path_enc.shape == (9 + 81 + 729 + 6561,) and 1 <= path_enc.sum() <= 3
  with pytest.raises(ValueError, match="unknown op 'conv' in primitives"):
    spaces.get('nbgraph', ('gcn', 'conv'))
  with pytest.raises(ValueError, match='node 3 must read the input'):
    nbgraph.NBGraphGenotype((0, 0, 3, 0), ('gcn',) * 4)
  with pytest.raises(ValueError, match='not in this space'):
    PROTEINS.from_genotype(nbgraph.NBGraphGenotype((0, 0, 0, 0), ('gat',) * 4))


def test_hash_by_hand():
  g = nbgraph.NBGraphGenotype
  # the same chain numbered two ways: nodes 1->3 and 2->4 (0, 0, 1, 2) vs (0, 0, 2, 1)
  a = g((0, 0, 1, 2), ('gcn', 'gat', 'sage', 'fc'))
  b = g((0, 0, 2, 1), ('gat', 'gcn', 'sage', 'fc'))
  assert nbgraph.canonical_key(a) == nbgraph.canonical_key(b) == 30174
  assert nbgraph.from_key(30174) == g((0, 0, 1, 2), ('gat', 'gcn', 'fc', 'sage'))
  # three leaves off the input: the order of their ops does not matter
  assert nbgraph.canonical_key(g((0, 0, 0, 0), ('sage', 'gcn', 'gat', 'fc'))) == 147
  # cells of skips only are one class outside the benchmark's keys
  assert {SPACE.hash(SPACE.from_genotype(g(lk, ('skip',) * 4))) for lk in _links()} == {'88888'}


def _links():
  return [(0,) + rest for rest in itertools.product(range(2), range(3), range(4))]


@needs_package
@pytest.mark.parametrize(
    'dataset,space,count', [('cora', SPACE, 26_206), ('proteins', PROTEINS, 2_021)]
)
def test_hash_classes_are_the_packages_keys(dataset, space, count):
  """Every key of the real file is our hash of some cell, and our classes (less the one of
  skips only) are exactly its keys."""
  keys = {str(k) for k in safe_pickle.load(reader.bench_path(dataset))}
  assert len(keys) == count
  _, hashes = space.class_index()
  assert set(hashes) == keys | {'88888'}
  # the canonical member of each class hashes to its own key
  for key in sorted(keys)[::97]:
    assert SPACE.hash(SPACE.from_genotype(nbgraph.from_key(int(key)))) == key


def test_hash_matches_the_packages_rule_on_a_sample():
  arch_module = pytest.importorskip('nas_bench_graph.architecture')  # random and json only
  for arch in SPACE.sample(jax.random.key(1), 3000):
    g = SPACE.to_genotype(arch)
    if nbgraph.is_all_skip(g):
      continue
    theirs = arch_module.Arch(list(g.links), list(g.ops)).valid_hash()
    assert SPACE.hash(arch) == str(theirs)


# -- the reader ---------------------------------------------------------------------------------

FIXTURE = {
    30174: {'valid_perf': 0.7, 'perf': 0.71, 'latency': 0.004, 'para': np.float64(1.5)},
    147: {'valid_perf': 0.8, 'perf': 0.79, 'latency': 0.002, 'para': np.float64(0.25)},
    88887: {'valid_perf': 0.5, 'perf': 0.52, 'latency': 0.003, 'para': 0.75},
}


def test_reader_on_a_fixture_file(tmp_path):
  path = tmp_path / 'cora.bench'
  path.write_bytes(pickle.dumps(FIXTURE))
  t = reader.read('cora', source=path)
  assert len(t) == 26_207 and t.metadata['measured'] == 3 and t.metadata['space'] == 'nbgraph'
  assert t.space == SPACE and t.seeds == [0] and t.num_epochs == 1
  a = nbgraph.NBGraphGenotype((0, 0, 2, 1), ('gat', 'gcn', 'sage', 'fc'))  # key 30174
  assert t.query(a, 'val_acc') == pytest.approx(0.7)
  assert t.query(SPACE.from_genotype(a), 'test_acc') == pytest.approx(0.71)
  assert t.query('147', 'params') == 250_000 and t.query('147', 'latency') == pytest.approx(0.002)
  assert t.query('88887', 'params') == 750_000
  assert np.isnan(t.query('88888', 'val_acc')) and np.isnan(t.query('0', 'test_acc'))
  assert (t.dense_rows() >= 0).all()
  saved = tmp_path / 't.npz'
  t.save(saved)
  assert type(t).load(saved).query('147', 'val_acc') == pytest.approx(0.8)


def test_reader_bad_input(tmp_path):
  with pytest.raises(TableError, match='must be one of cora, citeseer.*proteins, got .mnist.'):
    reader.read('mnist')
  garbage = tmp_path / 'garbage.bench'
  garbage.write_bytes(b'\x00not a pickle at all')
  with pytest.raises(TableError, match='not a readable pickle'):
    reader.read('cora', source=garbage)

  class Evil:

    def __reduce__(self):
      import os  # pylint: disable=import-outside-toplevel

      return (os.system, ('echo owned',))

  evil = tmp_path / 'evil.bench'
  evil.write_bytes(pickle.dumps({0: Evil()}))
  with pytest.raises(TableError, match='names (posix|nt).system, which is not admitted'):
    reader.read('cora', source=evil)
  for bad, message in (
      ([1, 2], 'not a NAS-Bench-Graph table'),
      ({'x': FIXTURE[147]}, 'not a NAS-Bench-Graph table'),
      ({147: {'perf': 0.5}}, 'is not a dict of valid_perf'),
      ({147: dict(FIXTURE[147], perf='high')}, 'non-number'),
      ({88889: FIXTURE[147]}, 'no architecture of the nbgraph space'),  # op digit 9
      ({1: FIXTURE[147]}, 'no architecture of the nbgraph space'),  # a gin op in proteins
  ):
    path = tmp_path / 'bad.bench'
    path.write_bytes(pickle.dumps(bad))
    with pytest.raises(TableError, match=message) as err:
      reader.read('proteins' if isinstance(bad, dict) and 1 in bad else 'cora', source=path)
    assert '\n' not in str(err.value)
  with pytest.raises(TableError, match='cannot read it'):
    reader.read('cora', source=tmp_path / 'missing.bench')


def test_missing_package_is_one_line(monkeypatch):
  monkeypatch.setattr(reader.importlib.util, 'find_spec', lambda name: None)
  with pytest.raises(TableError, match=r'pip install nas-bench-graph==1\.4\.0$'):
    reader.read('cora')


@needs_package
def test_real_tables(cora):
  measured = ~np.isnan(cora.values('val_acc'))
  assert len(cora) == 26_207 and measured.sum() == 26_206
  assert cora.best('test_acc')[0][0] == '77016'
  assert cora.query('77016', 'test_acc') == pytest.approx(0.8313333, abs=1e-6)
  assert cora.query('77016', 'val_acc') == pytest.approx(0.8093333, abs=1e-6)
  assert cora.query('77016', 'params') == 765_703
  assert cora.query('0', 'val_acc') == pytest.approx(0.7733333, abs=1e-6)
  acc = cora.values('test_acc')[measured]
  assert 0.09 < acc.min() < acc.max() < 0.84  # fractions
  proteins = reader.read('proteins')
  assert int((~np.isnan(proteins.values('val_acc'))).sum()) == 2_021 and len(proteins) == 2_022
  assert proteins.best('test_acc')[0][0] == '85414'
  assert proteins.space == PROTEINS and (proteins.dense_rows() >= 0).all()


@needs_package
def test_discrete_search_over_the_real_table(cora):
  estimator = estimators.TabularEstimator(cora)
  keys = discrete.seed_keys(range(4))
  for name in ('random', 'rea'):
    trace = discrete.run_seeds(ds.get(name), estimator, SPACE, keys, 60, batch=10)
    best, report = discrete.incumbent(trace)
    assert np.isfinite(best[:, -1]).all() and (report[:, -1] > 0.5).all()
