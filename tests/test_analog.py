"""AnalogNAS-Bench (``analog-nasbench``) read into a Table: a synthetic file in the package's
format, the installed data itself, and bad input."""

import importlib.metadata
import importlib.util
import itertools
import os
import pickle
import sys
import types

import numpy as np
import pytest

from nas_jax import spaces
from nas_jax.spaces import decisions
from nas_jax.spaces.nb201 import genotype as nb201_genotype
from nas_jax.tabular import analog
from nas_jax.tabular.table import Table, TableError

DRIFTS = [
    f'{kind}_drift_{t}' for kind in ('baseline', 'analog') for t in (60, 3600, 86400, 2592000)
]


def _classes():
  """Stand-ins with the package's module and class names (the real module is never imported:
  it needs pkg_resources), registered in sys.modules only while the fixture is pickled."""
  module = types.ModuleType('analognasbench.data')

  class Architecture:
    pass

  class DriftMeasurement:

    def __init__(self, value, uncertainty):
      self.value, self.uncertainty = float(value), float(uncertainty)

  for cls in (Architecture, DriftMeasurement):
    cls.__module__, cls.__qualname__ = module.__name__, cls.__name__
    setattr(module, cls.__name__, cls)
  return module, Architecture, DriftMeasurement


def _fixture(monkeypatch, cells) -> bytes:
  """A pickle shaped like the package's data.anb: ``{arch: Architecture}``; ``cells`` maps an
  arch tuple to its baseline accuracy in percent (the other fields derive from it)."""
  module, architecture, drift = _classes()
  monkeypatch.setitem(sys.modules, 'analognasbench', types.ModuleType('analognasbench'))
  monkeypatch.setitem(sys.modules, 'analognasbench.data', module)
  data = {}
  for arch, acc in cells.items():
    record = architecture()
    record.architecture = arch
    record.baseline_accuracy = acc
    record.ptq_accuracy, record.qat_accuracy = acc - 0.5, acc - 1.0
    record.noisy_accuracy, record.analog_accuracy = acc - 20.0, acc - 5.0
    for k, name in enumerate(DRIFTS):
      setattr(record, name, drift(acc - 10.0 - k, 0.25 + k / 100))
    data[arch] = record
  blob = pickle.dumps(data, protocol=4)
  assert b'analognasbench.data' in blob and b'DriftMeasurement' in blob
  return blob


# package tuples: edges (0,1) (0,2) (0,3) (1,2) (1,3) (2,3); codes skip none conv3 conv1 pool
CELLS = {
    (1, 1, 1, 1, 1, 1): 10.0,  # all none: dead
    (2, 1, 1, 1, 1, 2): 10.0,  # conv on (0,1) and (2,3) only: no path, dead
    (1, 1, 2, 1, 1, 1): 91.7,  # conv3x3(x) on (0,3) ...
    (0, 1, 1, 1, 2, 1): 91.4,  # ... and through a skip: the same NB201 class
    (2, 2, 0, 2, 3, 2): 94.0,
}


def test_fixture_rows_seeds_and_metrics(monkeypatch, tmp_path):
  path = tmp_path / 'data.anb'
  path.write_bytes(_fixture(monkeypatch, CELLS))
  table = analog.read(str(path))
  space = table.space
  assert space.name == 'nb201' and table.metadata['hash_rule'] == 'nb201'
  assert len(table) == 4 and table.seeds == [0, 1]  # two isomorphic cells: one row, two seeds
  assert table.metadata['cells'] == 5 and table.metadata['dead_cells'] == 2
  conv = space.from_genotype(
      nb201_genotype.NB201Genotype.from_string(
          '|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|'
      )
  )
  row = table.row(conv)
  assert table.row(space.from_genotype(analog.to_genotype((0, 1, 1, 1, 2, 1)))) == row
  # members sorted by decision tuple: the skip-then-conv cell (1, ...) before conv alone (0, ...)
  members = sorted(space.from_genotype(analog.to_genotype(c)) for c in CELLS if 91 < CELLS[c] < 92)
  np.testing.assert_array_equal(table.archs[row], members[0])
  assert members[0] == conv  # edge (0,3) carries conv: decisions (0, 0, 0, 3, 0, 0)
  np.testing.assert_allclose(table.epoch['test_acc'][row, :, 0], [0.917, 0.914], rtol=1e-6)
  assert table.query(conv) == pytest.approx(0.9155, rel=1e-6)
  assert table.query(conv, seed=0) == pytest.approx(0.917, rel=1e-6)
  np.testing.assert_array_equal(analog.member_archs(table)[row], members)
  dead = analog.to_genotype((1,) * 6)
  assert table.query(dead, seed=0) == pytest.approx(0.1)
  assert np.isnan(table.epoch['test_acc'][table.row(dead), 1, 0])
  assert table.query(dead) == pytest.approx(0.1)  # the seed mean is over the measured cell
  best = analog.to_genotype((2, 2, 0, 2, 3, 2))
  assert table.best()[0] == (table.hashes[table.row(best)], pytest.approx(0.94))
  assert table.query(best, 'ptq_acc') == pytest.approx(0.935)
  assert table.query(best, 'qat_acc') == pytest.approx(0.93)
  assert table.query(best, 'noise_acc') == pytest.approx(0.74)
  assert table.query(best, 'analog_acc') == pytest.approx(0.89)
  assert table.query(best, 'baseline_drift_60s_acc') == pytest.approx(0.84)
  assert table.query(best, 'analog_drift_2592000s_acc') == pytest.approx(0.77)
  assert table.query(best, 'analog_drift_2592000s_acc_std') == pytest.approx(0.0032)
  assert set(table.metrics) == set(analog.METRICS) and 'val_acc' not in table.metrics
  assert table.num_epochs == 1 and table.metadata['protocol']['epochs'] == 200
  saved = tmp_path / 'analog.npz'
  table.save(saved)
  again = Table.load(saved)
  assert again.hashes == table.hashes and again.query(conv) == pytest.approx(0.9155, rel=1e-6)


def test_encoding_round_trip_over_the_whole_space():
  space = spaces.get('nb201')
  seen = set()
  for package_arch in itertools.product(range(5), repeat=6):
    g = analog.to_genotype(package_arch)
    assert analog.from_genotype(g) == package_arch
    seen.add(space.from_genotype(g))
  assert len(seen) == 5**6
  assert analog.to_genotype((2, 2, 0, 2, 3, 2)).to_string() == (
      '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|'
      'nor_conv_3x3~2|'
  )
  # position 2 is edge (0, 3), position 3 edge (1, 2)
  assert analog.to_genotype((1, 1, 4, 1, 1, 1)).edge_ops()[3] == 'avg_pool_3x3'
  assert analog.to_genotype((1, 1, 1, 4, 1, 1)).edge_ops()[2] == 'avg_pool_3x3'


def test_a_live_reading_of_a_dead_cell_is_refused(monkeypatch):
  blob = _fixture(monkeypatch, {(2, 1, 1, 1, 1, 2): 85.0})
  with pytest.raises(TableError, match='no input-to-output path') as e:
    analog.read(blob)
  assert '\n' not in str(e.value)


def test_bad_input_is_one_line_error(monkeypatch, tmp_path):
  for blob, match in (
      (pickle.dumps(os.system), 'not admitted'),
      (b'garbage bytes', 'not a readable pickle'),
      (pickle.dumps({(9, 0, 0, 0, 0, 0): 1.0}), 'op codes'),
      (pickle.dumps({(0,) * 6: 1.0}), 'not an Architecture'),
      (pickle.dumps([1, 2]), 'dict of architectures'),
  ):
    with pytest.raises(TableError, match=match) as e:
      analog.read(blob)
    assert '\n' not in str(e.value)
  with pytest.raises(TableError, match='cannot read it'):
    analog.read(str(tmp_path / 'missing.anb'))
  monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None)

  def no_files(name):
    raise importlib.metadata.PackageNotFoundError(name)

  monkeypatch.setattr(importlib.metadata, 'files', no_files)
  with pytest.raises(TableError, match=r'pip install analog-nasbench==0\.1\.3') as e:
    analog.read()
  assert '\n' not in str(e.value)


@pytest.fixture(scope='module')
def real():
  if importlib.util.find_spec('analognasbench') is None:
    pytest.skip('analog-nasbench is not installed')
  assert 'analognasbench' not in sys.modules  # found without running the package
  table = analog.read()
  assert 'analognasbench' not in sys.modules and 'analognasbench.data' not in sys.modules
  return table


def test_installed_data(real):
  t = real
  space = t.space
  acc = t.epoch['test_acc'][:, :, 0]
  measured = ~np.isnan(acc)
  assert t.metadata['cells'] == measured.sum() == 15_625
  assert len(t) == 6_466 and len(t.seeds) == measured.sum(axis=1).max()
  assert np.nanmin(acc) == pytest.approx(0.100) and np.nanmax(acc) == pytest.approx(0.940664)

  def q(arch, metric='test_acc'):  # one cell's own run: its column in its class's row
    decision = space.from_genotype(analog.to_genotype(arch))
    row = t.row(decision)
    column = t.metadata['members'][row].index(decisions.index(decision, space.options))
    return t.query(decision, metric, seed=t.seeds[column])

  # values read from the package (percent / 100)
  assert q((0, 0, 0, 4, 3, 2)) == pytest.approx(0.919316, abs=1e-6)
  assert q((0, 0, 0, 4, 3, 2), 'ptq_acc') == pytest.approx(0.9155, abs=1e-6)
  assert q((3,) * 6) == pytest.approx(0.89532, abs=1e-6)
  assert q((3,) * 6, 'noise_acc') == pytest.approx(0.270532, abs=1e-6)
  assert q((3,) * 6, 'analog_drift_60s_acc') == pytest.approx(0.8113, abs=1e-6)
  assert q((3,) * 6, 'analog_drift_60s_acc_std') == pytest.approx(0.0068, abs=1e-6)
  assert q((0,) * 6, 'analog_acc') == pytest.approx(0.5749, abs=1e-6)
  # conv3x3 on (0,3) alone and behind a skip: one class, both runs kept
  row = t.row(space.from_genotype(analog.to_genotype((1, 1, 2, 1, 1, 1))))
  assert t.row(space.from_genotype(analog.to_genotype((0, 1, 1, 1, 2, 1)))) == row
  runs = acc[row][measured[row]]
  assert np.any(np.isclose(runs, 0.917024)) and np.any(np.isclose(runs, 0.914248))

  # the encoding: dead cells (no path of non-none edges) are exactly those at 10 %
  members = analog.member_archs(t)
  assert ((members[..., 0] >= 0) == measured).all()
  dead = np.zeros(acc.shape, bool)
  for r, s in zip(*np.nonzero(measured)):
    dead[r, s] = analog._dead(space.to_genotype(members[r, s]))  # pylint: disable=protected-access
  assert dead.sum() == t.metadata['dead_cells'] == 341
  np.testing.assert_allclose(acc[dead], 0.1)
  assert (acc[measured & ~dead] > 0.105).all()
  # the best row is a conv-heavy cell, the all-none cell scores 10 %
  best = t.archs[t.row(t.best()[0][0])]
  assert analog.from_genotype(space.to_genotype(best)) == (2, 2, 0, 2, 3, 2)
  assert space.to_genotype(best).edge_ops().count('nor_conv_3x3') == 4
  assert q((1,) * 6) == pytest.approx(0.1)
  # a skip on code 0: conv3x3(x), directly or through skips, scores alike
  for arch in ((0, 1, 1, 1, 2, 1), (2, 1, 1, 1, 0, 1), (1, 0, 1, 1, 1, 2), (2, 1, 1, 0, 1, 0)):
    assert abs(q(arch) - q((1, 1, 2, 1, 1, 1))) < 0.005
