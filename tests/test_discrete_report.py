"""The discrete-search evidence script on a NATS-Bench table (the path real NB201 users take)."""

import os
import subprocess
import sys

from test_discrete import ROOT
from test_tabular import _nats_fixture

from nas_jax import spaces
from nas_jax.tabular import nats
from nas_jax.tabular.table import Table

THREE = ('none', 'skip_connect', 'nor_conv_3x3')


def test_report_runs_on_a_converted_nats_table(tmp_path):
  space = spaces.get('nb201', THREE)
  cells = [space.to_genotype(a).to_string() for a in space.unique().values()]
  full = spaces.get('nb201').to_genotype((4, 4, 4, 4, 4, 4)).to_string()  # avg pool: not in THREE
  src = tmp_path / 'NATS-tss-v1_0-fixture.pickle.pbz2'
  _nats_fixture(src, cells + [full], step=0.3)
  table = nats.convert(str(src), hp='12', path=tmp_path / 'nats3.npz', primitives=THREE)
  assert len(table) == 127 and Table.load(tmp_path / 'nats3.npz').space == space
  # the best cell is the last index: ori-test at the last epoch, seed mean
  best = (50 + 0.3 * 126 + 2 + (0.777 + 0.888) / 2 + 2) / 100
  out, figures = tmp_path / 'report.md', tmp_path / 'figures'
  cmd = [
      sys.executable,
      '-m',
      'experiments.reports.discrete_report',
      f'--table={tmp_path / "nats3.npz"}',
      '--seeds=2',
      '--bananas_seeds=2',
      '--queries=5,10',
      f'--out={out}',
      f'--figures={figures}',
  ]
  env = dict(os.environ, PYTHONPATH=ROOT)
  done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-2000:]
  text = out.read_text()
  assert '127 cells' in text and f'best test accuracy {best:.4f}' in text
  for name in ('random', 'rea', 'local_search', 'reinforce', 'bananas', 'hyperband', 'nsga2'):
    assert f'| {name} | 2 |' in text, name
  assert {'discrete_regret.png', 'discrete_pareto.png'} <= set(os.listdir(figures))
