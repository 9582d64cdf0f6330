"""The cost report end to end at a tiny size: its sweep rows are the table's values of the
cells the searches derived, and its hypervolume rows are in range."""

import json
import os
import re
import subprocess
import sys

import numpy as np

from nas_jax import spaces, tabular

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_table_part_reports_the_derived_cells_and_the_fronts(tmp_path):
  out, fig = tmp_path / 'report.md', tmp_path / 'front.png'
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.reports.cost_report',
          '--parts=table',
          '--lambdas=0,3',
          '--seeds=2',
          '--epochs=1',
          '--steps=2',
          '--discrete_seeds=3',
          f'--workdir={tmp_path / "runs"}',
          f'--out={out}',
          f'--figure={fig}',
      ],
      cwd=REPO,
      capture_output=True,
      text=True,
      check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'),
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  text = out.read_text()
  assert fig.exists() and fig.stat().st_size > 10_000
  table = tabular.load('shipped')
  space = spaces.get('nb201', primitives=tuple(table.space.primitives))
  acc = table.values('test_acc')
  for lam in ('0', '3'):
    cells = [
        space.load_genotype(
            str(tmp_path / 'runs' / f'lambda_{lam}' / f'seed_{s}' / 'genotype.json')
        )
        for s in (0, 1)
    ]
    values = [acc[table.row(space.from_genotype(g))] for g in cells]
    mean, sd = np.mean(values), np.std(values, ddof=1)
    assert f'| {lam} | {mean:.3f} ± {sd:.3f} |' in text
  ratios = re.findall(r'\| (?:DARTS-|NSGA-II|random)[^|]*\| (\d\.\d{3}) ± ', text)
  assert len(ratios) == 3 and all(0.0 <= float(r) <= 1.0 for r in ratios)
  assert json.loads(proc.stdout.strip().splitlines()[-1]) == {'table': True, 'darts': False}
