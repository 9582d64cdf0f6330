"""``experiments.reports.warm_start_report`` at tiny size: the synthetic 3-op table with the tiny
protocol's data (``test_predictors.tiny_report_table``), 3 seeds of REA, 12 queries."""

import os
import re
import subprocess
import sys

import numpy as np
from test_discrete import ROOT
from test_predictors import tiny_report_table

from nas_jax import tabular
from nas_jax.estimators import proxies
from nas_jax.tabular.protocol import Protocol


def _start(*args):
  env = dict(os.environ, PYTHONPATH=ROOT)
  cmd = [sys.executable, '-m', 'experiments.reports.warm_start_report', *args]
  return subprocess.Popen(
      cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
  )


def test_warm_start_report_on_a_small_table(tmp_path):
  path, out = tmp_path / 't.npz', tmp_path / 'warm.md'
  tiny_report_table(path)
  report = _start(
      f'--table={path}',
      '--proxies=snip,synflow',
      '--rank_by=synflow',
      '--strategies=rea',
      '--seeds=3',
      '--budget=12',
      '--budgets=2,5,12',
      '--warm=3',
      '--batch=16',
      '--bananas_budget=20',
      '--bananas=layers=2,width=8,epochs=20,ensemble=2',
      f'--out={out}',
  )
  try:  # while it runs: the proxy's top 3 cells, scored again here by the same program
    table = tabular.load(str(path))
    space = table.space
    est = proxies.ProxyEstimator(
        space, Protocol.from_dict(table.metadata['protocol']), ('snip', 'synflow'), batch=16
    )
    est(table.archs)
    top = np.argsort(-est.last_values[:, 1], kind='stable')[:3]
    _, stderr = report.communicate(timeout=600)
  finally:
    if report.poll() is None:
      report.kill()
  assert report.returncode == 0, stderr[-2000:]
  text = out.read_text()
  # the warm cells are those, best first, and every warm run asked them first
  listed = re.findall(r'^\| (\d) \| `([^`]+)` \|', text, re.M)
  assert [int(r) for r, _ in listed] == [1, 2, 3]
  cells_listed = [c.replace('\\|', '|') for _, c in listed]  # the table escapes a cell's pipes
  assert cells_listed == [space.to_text(space.to_genotype(table.archs[r])) for r in top]
  assert 'asked in this order as the first 3 queries of every warm run (checked' in text
  # every row, at every budget (2, 5, 12 queries), over the 3 seeds
  lines = text.splitlines()

  def cells(row):
    line = next(x for x in lines if x.startswith(f'| {row} |'))
    return [c.strip() for c in line.split('|')[2:-1]]

  for row in ('rea', 'rea+warm', 'rea: warm − plain', 'rea: warm better / tied / worse'):
    assert cells(row)[0] == '3' and len(cells(row)) == 4, row
  held = cells('rea+warm: incumbent is a warm cell')
  assert held[:2] == ['3', '1.00'] and len(held) == 4, held  # 2 queries: both warm cells
  for share in cells('rea: warm better / tied / worse')[1:]:
    parts = [float(v) for v in share.split('/')]
    assert abs(sum(parts) - 1) < 0.02 and all(v in (0.0, 0.33, 0.67, 1.0) for v in parts), share
  # the proxy top-3 alone: the regret of the best of them, from 3 queries on
  truth = table.values('test_acc')
  alone = truth.max() - truth[top].max()
  row = next(x for x in lines if x.startswith('| proxy top-3 alone'))
  assert [c.strip() for c in row.split('|')[3:-1]] == ['-', f'{alone:.4f}', f'{alone:.4f}']
  # here validation accuracy is test accuracy: once the 3 warm cells are in, the warm
  # incumbent is at least the best of them in every seed
  for cell in cells('rea+warm')[2:]:
    assert float(cell.split()[0]) <= alone + 1e-4, cell
  assert 'proxy compute' in text and 'simulated train seconds per table query' in text
  # BANANAS plain and with the two proxies as features, at 10 and 20 queries (10 per ask)
  for row in ('bananas', 'bananas+proxy features', 'features − plain'):
    got = cells(row)
    assert got[0] == '3' and len(got) == 3, (row, got)
  assert 'each of snip, synflow as its rank' in text


def test_warm_start_report_bad_flags_are_one_line():
  runs = [
      (_start(flag), flag, message)
      for flag, message in (
          ('--strategies=bananas', "unknown strategy 'bananas'"),
          ('--rank_by=grasp', '--rank_by=grasp is not one of --proxies'),
          ('--bananas=layers', '--bananas takes name=value items'),
      )
  ]
  for run, flag, message in runs:
    _, stderr = run.communicate(timeout=600)
    assert run.returncode == 2, (flag, stderr[-2000:])
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], (flag, lines)
