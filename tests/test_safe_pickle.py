"""The restricted unpickler that reads published tables without running their code."""

import os
import pickle

import numpy as np
import pytest

from nas_jax.tabular import safe_pickle
from nas_jax.tabular.table import TableError


class Foreign:  # stands for a package's own class, pickled by reference to this module

  def __init__(self):
    self.accuracy, self.arch = 0.5, (1, 2, 3)


DATA = {
    'list': [1, 2.5, (3, 'x'), b'raw', None, True],
    'f64': np.float64(0.25),
    'i32': np.int32(7),
    'array': np.arange(6, dtype=np.float32).reshape(2, 3),
    'strided': np.arange(8)[::2],
    'nested': {'a': {'b': [np.float32(1.5)]}},
}


@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
def test_builtins_and_numpy_round_trip(protocol, tmp_path):
  path = tmp_path / 'table.bench'
  path.write_bytes(pickle.dumps(DATA, protocol=protocol))
  for source in (str(path), path.read_bytes(), open(path, 'rb')):
    out = safe_pickle.load(source)
    assert out['list'] == DATA['list'] and out['nested'] == DATA['nested']
    assert out['f64'] == 0.25 and out['f64'].dtype == np.float64 and out['i32'] == 7
    np.testing.assert_array_equal(out['array'], DATA['array'])
    np.testing.assert_array_equal(out['strided'], [0, 2, 4, 6])


def test_foreign_classes_become_records_only_when_named():
  blob = pickle.dumps([Foreign(), Foreign()])
  name = (Foreign.__module__, 'Foreign')
  with pytest.raises(TableError, match=rf'names {name[0]}.Foreign, which is not admitted'):
    safe_pickle.load(blob)
  records = safe_pickle.load(blob, classes=[name])
  assert [r.accuracy for r in records] == [0.5, 0.5] and records[0].arch == (1, 2, 3)
  assert isinstance(records[0], safe_pickle.Record) and not isinstance(records[0], Foreign)


def test_code_and_bad_files_are_one_line_errors(tmp_path):
  for evil in (os.system, eval, getattr):
    with pytest.raises(TableError, match='not admitted') as e:
      safe_pickle.load(pickle.dumps(evil))
    assert '\n' not in str(e.value)
  with pytest.raises(TableError, match=r'x.bench: not a readable pickle'):
    safe_pickle.load(b'garbage bytes', what='x.bench')
  with pytest.raises(TableError, match='not a readable pickle'):
    safe_pickle.load(pickle.dumps(DATA)[:-20])  # truncated
  with pytest.raises(TableError, match='cannot read it'):
    safe_pickle.load(str(tmp_path / 'missing.bench'))
  # numpy=False admits no NumPy global
  with pytest.raises(TableError, match='not admitted'):
    safe_pickle.load(pickle.dumps(np.float64(1.0)), numpy=False)
