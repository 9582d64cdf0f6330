"""The published tables by name (``tabular.load``), searched as any table is."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from nas_jax import discrete, tabular
from nas_jax.estimators import TabularEstimator
from nas_jax.strategies import discrete as ds
from nas_jax.tabular.table import TableError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _report(*args, check=True):
  """``python -m experiments.reports.published_report *args`` in the repository root."""
  return subprocess.run(
      [sys.executable, '-m', 'experiments.reports.published_report', *args],
      cwd=ROOT,
      check=check,
      capture_output=True,
      text=True,
  )


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
  """experiments.reports.published_report on a NAS-Bench-Graph dataset and AnalogNAS-Bench: each
  section is written, with the distinct cells and the comparison against random search."""
  out = tmp_path / 'published.md'
  _report(
      '--tables=nas-bench-graph:proteins,analog-nasbench',
      '--strategies=random,rea,nsga2',
      '--seeds=2',
      '--queries=10,20',
      f'--out={out}',
  )
  text = out.read_text()
  assert text.count('**Multi-objective** (val_acc searched against latency') == 1  # proteins
  assert 'nsga2, eliminate=history minus random search' in text
  assert 'no second objective' in text  # AnalogNAS-Bench records no cost
  for heading in ('### nas-bench-graph:proteins', '### analog-nasbench'):
    assert heading in text
  assert 'reward val_acc' in text and 'reward test_acc' in text
  assert "a class mean's standard error" in text  # AnalogNAS-Bench's isomorphic runs
  assert text.count('| rea | ') == 4  # a result row and a comparison row per table
  bad = _report('--tables=nas-bench-graph:mnist', check=False)
  assert bad.returncode == 2 and 'mnist' in bad.stderr.strip().splitlines()[-1]


def test_published_report_follows_the_authors_protocol_on_request(tmp_path):
  """``--reward=test_acc``: the NAS-Bench-Graph authors' scripts search on the test accuracy;
  ``rea_nni`` is REA with NNI's defaults (population 100: all 20 queries are random draws, so
  no class repeats before the population fills)."""
  out = tmp_path / 'authors.md'
  _report(
      '--tables=nas-bench-graph:cora',
      '--strategies=random,rea_nni',
      '--reward=test_acc',
      '--seeds=2',
      '--queries=10,20',
      f'--out={out}',
  )
  text = out.read_text()
  assert "bench[hash]['perf']" in text  # the protocol's source is printed
  assert 'reward test_acc, report test_acc' in text and 'reward val_acc' not in text
  assert text.count('| rea_nni | ') == 2
  assert (
      '| rea_nni | 2 | ' in text and ' / 20 | ' in text.split('| rea_nni | 2 | ')[1].split('\n')[0]
  )
