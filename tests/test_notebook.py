"""The quickstart notebook runs top to bottom (with tiny sizes) and produces its figures."""

import os

from nbclient import NotebookClient
import nbformat

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, 'notebooks', '01_quickstart.ipynb')


def _run(name: str, parameters: list[str], timeout: int = 600):
  """Executes ``notebooks/name`` with its ``parameters`` cell replaced; returns its outputs,
  their images and their stream text, after checking that no cell raised."""
  nb = nbformat.read(os.path.join(REPO, 'notebooks', name), as_version=4)
  params = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
  assert len(params) == 1
  params[0].source = '\n'.join(parameters)
  NotebookClient(
      nb,
      timeout=timeout,
      kernel_name='python3',
      resources={'metadata': {'path': os.path.join(REPO, 'notebooks')}},
  ).execute()
  outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])]
  assert not [o for o in outputs if o.output_type == 'error']
  images = [o for o in outputs if o.output_type == 'display_data' and 'image/png' in o.data]
  text = ''.join(o.get('text', '') for o in outputs if o.output_type == 'stream')
  return images, text


def test_quickstart_notebook_executes(tmp_path):
  images, text = _run(
      '01_quickstart.ipynb',
      [
          f'WORKDIR = {str(tmp_path)!r}',
          "DATASET = 'mnist5k'",
          'IMAGE_SIZE = 8',
          # The search of tests/test_resume.py: its compiled programs come from the shared cache.
          'SEARCH = dict(layers=2, space=dict(steps=2, multiplier=2, primitives=("none",'
          ' "max_pool_3x3", "skip_connect", "sep_conv_3x3")), init_channels=4, batch_size=8,'
          ' epochs=3, max_steps_per_epoch=6)',
          'RETRAIN = dict(layers=3, init_channels=4, batch_size=8, epochs=1, max_steps_per_epoch=2,'
          ' eval_batch_size=500)',
      ],
  )
  assert len(images) == 3  # alphas, normal cell, reduction cell
  assert 'Genotype(normal=' in text and 'test accuracy' in text
  for name in ('alphas.png', 'cell_normal.png', 'cell_reduce.png', 'search', 'retrain'):
    assert (tmp_path / name).exists(), name
  assert (tmp_path / 'retrain' / 'results.json').exists()


def test_benchmark_notebook_executes(tmp_path):
  import numpy as np

  from nas_jax import spaces
  from nas_jax.tabular import Table

  # a small table of its own: NB201 over 3 ops (127 unique cells), known random values
  space = spaces.get('nb201', ('none', 'skip_connect', 'nor_conv_3x3'))
  unique = space.unique()
  hashes = sorted(unique)
  rng = np.random.default_rng(0)
  n = len(hashes)
  meta = dict(space='nb201', primitives=list(space.primitives), hash_rule='nb201')
  Table(
      hashes,
      [unique[h] for h in hashes],
      (0, 1),
      {'test_acc': rng.random((n, 2, 2)).astype(np.float32)},
      {},
      {'params': rng.integers(100, 1000, n).astype(float)},
      meta,
  ).save(tmp_path / 't.npz')
  images, text = _run(
      '02_benchmark.ipynb',
      [f"TABLE = {str(tmp_path / 't.npz')!r}", "METRIC = 'test_acc'", "COST = 'params'"],
      timeout=300,
  )
  assert len(images) == 2  # the distribution and the Pareto front
  assert '127 unique cells' in text and 'Kendall tau' in text and 'best cell' in text


def test_discrete_search_notebook_executes():
  images, text = _run(
      '03_discrete_search.ipynb',
      [
          'TABLE = None',
          'SEEDS = 4',
          'QUERIES = 20',
          "STRATEGIES = ('random', 'rea', 'local_search', 'reinforce', 'bananas')",
          'BANANAS = dict(max_queries=20, num_init=10, layers=2, epochs=20)',
      ],
  )
  assert len(images) == 2  # regret curves, Pareto front
  for name in ('random', 'rea', 'local_search', 'reinforce', 'bananas'):
    assert f'{name}: 4 seeds x 20 queries' in text
  assert 'hypervolume ratio' in text


def test_estimators_notebook_executes(tmp_path):
  """``04_estimators.ipynb`` on the tiny report table of ``test_predictors`` (its proxies
  program, so the compilation cache serves both), with a one-epoch SPOS supernet."""
  from test_predictors import tiny_report_table

  tiny_report_table(tmp_path / 't.npz')
  images, text = _run(
      '04_estimators.ipynb',
      [
          f"TABLE = {str(tmp_path / 't.npz')!r}",
          'CELLS = 40',
          "PROXIES = ('synflow', 'jacov')",
          'BATCH = 16',
          'SPOS_EPOCHS = 1',
          'TRAIN_CELLS = 20',
      ],
  )
  assert len(images) == 1  # the scatter plots
  assert '127 cells in the table; 40 scored' in text
  for name in ('val_acc (final)', 'synflow', 'jacov', 'SPOS (1 epochs)', 'GBM on 20 cells'):
    assert f'\n{name:<24} ' in text, name
  # the table's validation accuracy equals its test accuracy: that row ranks perfectly
  assert f"\n{'val_acc (final)':<24}   1.000   1.000     1.00" in text
