"""The published tables by name (``tabular.load``), searched as any table is."""

import jax
import numpy as np
import pytest

from nas_jax import discrete, tabular
from nas_jax.estimators import TabularEstimator
from nas_jax.strategies import discrete as ds
from nas_jax.tabular.table import TableError


def test_names_load_the_installed_tables_and_bad_names_are_one_line():
  cora = tabular.load('nas-bench-graph:cora')
  assert len(cora) == 26_207 and cora.metadata['dataset'] == 'cora'  # 26,206 + the skip-only row
  assert np.isfinite(cora.values('test_acc')).sum() == 26_206
  for bad, match in (
      ('nas-bench-graph:mnist', 'mnist'),
      ('nas-bench-graph', "named 'nas-bench-graph:<dataset>'"),
      ('nas-bench-graphs:cora', "named 'nas-bench-graph:<dataset>'"),
  ):
    with pytest.raises(TableError, match=match) as e:
      tabular.load(bad)
    assert '\n' not in str(e.value)


def test_a_table_without_train_times_is_searched_by_queries():
  table = tabular.load('analog-nasbench')
  assert len(table) == 6_466
  with pytest.raises(TableError, match="no validation split: search with metric='test_acc'"):
    TabularEstimator(table)  # the search metric must be named
  est = TabularEstimator(table, metric='test_acc')
  _, trace = discrete.run(ds.get('random'), est, est.space, jax.random.key(0), 20)
  assert np.isnan(np.asarray(trace.cost)).all()  # the package records no train times
  assert np.isfinite(discrete.at_budget(trace, 20))
  with pytest.raises(ValueError, match='no known cost .* budget in queries'):
    discrete.at_budget(trace, 100.0, 'seconds')


def test_published_report_runs_every_table_at_tiny_size(tmp_path):
  """experiments.published_report on a NAS-Bench-Graph dataset and AnalogNAS-Bench: each
  section is written, with the distinct cells and the comparison against random search."""
  import os
  import subprocess
  import sys

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = tmp_path / 'published.md'
  subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.published_report',
          '--tables=nas-bench-graph:proteins,analog-nasbench',
          '--strategies=random,rea',
          '--seeds=2',
          '--queries=10,20',
          f'--out={out}',
      ],
      cwd=root,
      check=True,
      capture_output=True,
  )
  text = out.read_text()
  for heading in ('### nas-bench-graph:proteins', '### analog-nasbench'):
    assert heading in text
  assert 'reward val_acc' in text and 'reward test_acc' in text
  assert "a class mean's standard error" in text  # AnalogNAS-Bench's isomorphic runs
  assert text.count('| rea | ') == 4  # a result row and a comparison row per table
  bad = subprocess.run(
      [sys.executable, '-m', 'experiments.published_report', '--tables=nas-bench-graph:mnist'],
      cwd=root,
      capture_output=True,
      text=True,
  )
  assert bad.returncode == 2 and 'mnist' in bad.stderr.strip().splitlines()[-1]
