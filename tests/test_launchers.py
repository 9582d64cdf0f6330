"""The launchers end to end at tiny sizes: experiments.compare, .demo and the .train CLI."""

import contextlib
import copy
import importlib
import io
import json
import os
import re
import subprocess
import sys

from absl import flags
import numpy as np
import pytest
import tensorflow_datasets as tfds
from test_evalnet import hand_count  # parameters counted by hand
from test_search import SMALL_SPACE
from test_search import tiny_config as tiny_search_config
from test_train import tiny_config as tiny_train_config

import experiments
from experiments.configs import search_demo, train_demo
from nas_jax import metrics as metrics_lib
from nas_jax import runner, search, train
from nas_jax.spaces.darts.genotype import Genotype, save_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def launcher(name):
  """Imports ``experiments.<name>`` with any other launcher's absl flags set aside.

  Every launcher defines ``--workdir``, so two of them cannot be imported into one
  process, and pytest-xdist runs several test files in one worker (test_search.py
  imports experiments.search). The module and its flags are removed again afterwards.
  """
  fv = flags.FLAGS
  others = {
      m: list(fs) for m, fs in fv.flags_by_module_dict().items() if m.startswith('experiments.')
  }
  for fs in others.values():
    for f in fs:
      if f.name in fv:
        delattr(fv, f.name)
  module_name = f'experiments.{name}'
  sys.modules.pop(module_name, None)
  before = set(fv)
  try:
    yield importlib.import_module(module_name)
  finally:
    # Every flag the import defined, including a config file flag that experiments.cli
    # defines on the module's behalf (absl files it under the caller's module).
    for flag_name in set(fv) - before:
      delattr(fv, flag_name)
    sys.modules.pop(module_name, None)
    if hasattr(experiments, name):
      delattr(experiments, name)
    for m, fs in others.items():
      for f in fs:
        fv[f.name] = f
        fv.register_flag_by_module(m, f)


def _returning(config):
  """A ``get_config`` stand-in that returns a fresh copy of ``config``."""
  return lambda arg=None: copy.deepcopy(config)


# One tiny search and one tiny retraining set-up for the compare and demo tests, so that the
# second test's compiles hit the persistent compilation cache: mock CIFAR-10 at 8x8, 1 epoch
# of 2 steps; a 2-node cell of parameter-free ops searched, retrained in 3 cells with C=4
# without the auxiliary head and drop path (each halves a compile; test_train.py covers them).
SEARCH = tiny_search_config(
    epochs=1,
    tensorboard=False,
    **dict(SMALL_SPACE, primitives=['none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect']),
)
TRAIN = tiny_train_config(
    epochs=1,
    max_steps_per_epoch=2,
    checkpoint_every=1,
    tensorboard=False,
    auxiliary_weight=0.0,
    drop_path_prob=0.0,
)


# -- experiments.compare ----------------------------------------------------------------


def _row(space, strategy, seed, acc, skip, param_free, seconds):
  return {
      'space': space,
      'strategy': strategy,
      'seed': seed,
      'genotype': 'g',
      'skip': skip,
      'param_free': param_free,
      'edges': 6 if space == 'nb201' else 8,
      'test_accuracy': acc,
      'search_seconds': seconds,
  }


def _summary_lines(table):
  """{(space, strategy): the cells of its line in the means table}."""
  means = table.split('\n\n')[1].strip().splitlines()[2:]
  cells = [[c.strip() for c in line.strip('|').split('|')] for line in means]
  return {(c[0], c[1]): c[2:] for c in cells}


def test_compare_table_means_and_population_std():
  with launcher('compare') as compare:
    table = compare.table
  rows = [
      _row('nb201', 'darts', 0, 0.5, 1, 2, 10.0),
      _row('nb201', 'darts', 1, 0.7, 2, 3, 20.0),
      _row('nb201', 'darts', 2, 0.9, 0, 6, 30.0),
      _row('darts', 'gdas', 0, 0.25, 3, 5, 7.0),
  ]
  lines = _summary_lines(table(rows))
  # By hand: mean 0.7, population std sqrt(((-0.2)^2 + 0 + 0.2^2) / 3) = 0.163299.
  assert lines[('nb201', 'darts')] == ['1.0/6', '3.7/6', '0.7000 ± 0.1633', '20']
  assert lines[('darts', 'gdas')] == ['3.0/8', '5.0/8', '0.2500 ± 0.0000', '7']
  # One table line per run too, in the given order.
  runs = table(rows).split('\n\n')[0].splitlines()[2:]
  assert [line.split('|')[3].strip() for line in runs] == ['0', '1', '2', '0']


# A cell of the tiny search's space (made up for the finished seed-0 row).
SEED0_CELL = (
    "Genotype(normal=[('skip_connect', 0), ('max_pool_3x3', 1), ('avg_pool_3x3', 0), "
    "('skip_connect', 2)], normal_concat=[2, 3], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('avg_pool_3x3', 1), ('skip_connect', 2)], reduce_concat=[2, 3])"
)


def test_compare_skips_finished_rows_and_resumes_an_interrupted_one(tmp_path, monkeypatch):
  monkeypatch.setattr(search_demo, 'get_config', _returning(SEARCH))
  monkeypatch.setattr(train_demo, 'get_config', _returning(TRAIN))
  # Seed 0's row is already finished (made up here, so it costs nothing and its accuracy is
  # known); seed 1 runs and is killed during its retraining.
  finished = {
      'space': 'darts',
      'strategy': 'darts',
      'seed': 0,
      'genotype': SEED0_CELL,
      'skip': 1,
      'param_free': 2,
      'edges': 4,
      'test_accuracy': 0.03125,
      'params_m': 0.01,
      'search_seconds': 1.0,
  }
  (tmp_path / 'darts/darts/seed_0').mkdir(parents=True)
  (tmp_path / 'darts/darts/seed_0/row.json').write_text(json.dumps(finished))
  calls = []
  run_search, run_train = search.run_search, train.run_train

  def spy_search(config, workdir, **kw):
    out = run_search(config, workdir, **kw)
    calls.append(('search', os.path.relpath(workdir, tmp_path), out['resumed_from']))
    return out

  def spy_train(config, workdir, **kw):
    calls.append(('train', os.path.relpath(workdir, tmp_path), None))
    out = run_train(config, workdir, **kw)
    calls[-1] = ('train', calls[-1][1], out['resumed_from'])
    return out

  monkeypatch.setattr(search, 'run_search', spy_search)
  monkeypatch.setattr(train, 'run_train', spy_train)
  check_finite = runner.check_finite

  def killed_in_seed_1_training(loss, step, where, saved):
    # (the loop is shared: during the first search nothing was called yet)
    if calls and calls[-1][1] == 'darts/darts/seed_1/train' and step == 2:
      raise KeyboardInterrupt('simulated kill')  # the step-1 checkpoint is on disk
    return check_finite(loss, step, where, saved)

  monkeypatch.setattr(runner, 'check_finite', killed_in_seed_1_training)
  args = (str(tmp_path), ['darts'], ['darts'], 2, (1, 2), (1, 2))
  with tfds.testing.mock_data(num_examples=16), launcher('compare') as compare:
    with pytest.raises(KeyboardInterrupt):
      compare.run_compare(*args)
    assert calls == [
        ('search', 'darts/darts/seed_1/search', None),
        ('train', 'darts/darts/seed_1/train', None),
    ]
    assert not (tmp_path / 'darts/darts/seed_1/row.json').exists()
    assert not (tmp_path / 'rows.json').exists()
    monkeypatch.setattr(runner, 'check_finite', check_finite)
    calls.clear()
    rows = compare.run_compare(*args)
  # Seed 0 is not run again; seed 1's finished search resumes after its last step (2), and
  # its retraining from the step-1 checkpoint.
  assert calls == [
      ('search', 'darts/darts/seed_1/search', 2),
      ('train', 'darts/darts/seed_1/train', 1),
  ]
  saved = json.loads((tmp_path / 'rows.json').read_text())
  assert saved == rows and saved[0] == finished and [r['seed'] for r in saved] == [0, 1]
  results = json.loads((tmp_path / 'darts/darts/seed_1/train/results.json').read_text())
  assert saved[1]['test_accuracy'] == results['test_accuracy']
  assert saved[1]['genotype'] == results['genotype']
  assert json.loads((tmp_path / 'darts/darts/seed_1/row.json').read_text()) == saved[1]
  assert [
      r['step']
      for r in metrics_lib.read_metrics(str(tmp_path / 'darts/darts/seed_1/train/metrics.jsonl'))
  ] == [2]
  # The table's means line, by hand from rows.json (the population std, ddof=0, which is
  # what compare.table computes).
  acc = np.array([r['test_accuracy'] for r in saved])
  assert acc.std() > 0
  line = _summary_lines((tmp_path / 'table.md').read_text())[('darts', 'darts')]
  assert line[2] == f'{acc.mean():.4f} ± {acc.std():.4f}'
  # The strategy's reproduction card: both seeds, their accuracies, the op counts.
  card = json.loads((tmp_path / 'cards/darts/darts.json').read_text())
  assert [r['seed'] for r in card['rows']] == [0, 1]
  assert [r['test_accuracy'] for r in card['rows']] == list(acc)
  assert card['summary']['test_accuracy']['mean'] == pytest.approx(acc.mean())
  assert card['summary']['test_accuracy']['std'] == pytest.approx(acc.std(ddof=1))
  assert sum(card['op_counts']['normal'].values()) == 2 * 4  # 2 seeds x 2 nodes x 2 inputs
  assert card['op_counts']['normal']['skip_connect'] >= 2  # seed 0's cell has two
  assert '| 0 | `Genotype(normal=' in (tmp_path / 'cards/darts/darts.md').read_text()
  assert line[0] == f"{np.mean([r['skip'] for r in saved]):.1f}/4"
  assert line[1] == f"{np.mean([r['param_free'] for r in saved]):.1f}/4"


# -- experiments.demo -------------------------------------------------------------------


# -- python -m experiments.train --------------------------------------------------------


def test_train_launcher_end_to_end_and_bad_input(tmp_path):
  # A two-node cell of cheap ops and no aux head keep the subprocess' compile short; the
  # offline MNIST-5k data (a subprocess cannot use mock_data).
  g = Genotype(
      normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('avg_pool_3x3', 2), ('skip_connect', 0)],
      normal_concat=[2, 3],
      reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('skip_connect', 2), ('max_pool_3x3', 1)],
      reduce_concat=[2, 3],
  )
  save_json(g, tmp_path / 'cell.json')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  base = [
      sys.executable,
      '-m',
      'experiments.train',
      '--config=experiments/configs/train_demo.py',
      '--config.image_size=8',
      '--config.layers=3',
      '--config.init_channels=4',
      '--config.batch_size=8',
      '--config.epochs=1',
      '--config.max_steps_per_epoch=2',
      '--config.log_every=0',
      '--config.tensorboard=False',
      '--config.auxiliary_weight=0.0',
      '--config.drop_path_prob=0.0',
      f"--config.genotype={tmp_path / 'cell.json'}",
  ]
  proc = subprocess.run(
      base + [f'--workdir={tmp_path}/run'],
      cwd=REPO,
      env=env,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / 'run' / 'results.json').read_text())
  printed = re.search(r'^test accuracy (\d\.\d{4}) \| (\d+\.\d{3}) M params', proc.stdout, re.M)
  assert printed, proc.stdout
  assert float(printed.group(1)) == pytest.approx(results['test_accuracy'], abs=5e-5)
  # MNIST: 1 input channel, 10 classes.
  params, macs = hand_count(g, 4, 3, 8, in_channels=1, classes=10)
  assert results['params_m'] == pytest.approx(params / 1e6, rel=1e-12)
  assert results['flops_m'] == pytest.approx(macs / 1e6, rel=1e-12)
  assert float(printed.group(2)) == pytest.approx(params / 1e6, abs=5e-4)
  assert results['epochs'] == 1 and results['dataset'] == 'mnist5k'
  assert [r['step'] for r in metrics_lib.read_metrics(str(tmp_path / 'run' / 'metrics.jsonl'))] == [
      2
  ]
  # Bad input: one line on stderr, exit status 2, no traceback, nothing written.
  proc = subprocess.run(
      base + ['--config.epochs=0', f'--workdir={tmp_path}/bad'],
      cwd=REPO,
      env=env,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert proc.stderr.strip().splitlines() == [
      'error: config.epochs must be a positive integer, got 0'
  ]
  assert not (tmp_path / 'bad').exists()


# -- the table as the estimator (compare --table, demo stage 4) ---------------------------


def _four_op_table(path):
  """A table over NB201's 4-op subset with known random accuracies (every unique cell)."""
  from nas_jax import spaces
  from nas_jax.tabular import Table

  space = spaces.get('nb201', ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3'))
  unique = space.unique()
  hashes = sorted(unique)
  rng = np.random.default_rng(7)
  acc = rng.random((len(hashes), 2, 1)).astype(np.float32)
  val = np.clip(acc + 0.1 * rng.standard_normal(acc.shape), 0, 1).astype(np.float32)
  meta = dict(
      space='nb201',
      primitives=list(space.primitives),
      hash_rule='nb201',
      members_measured=2 * len(hashes),
      members_total=2 * len(hashes),
      # What searches "in the table's protocol" run at (configs/search_table.py): the tiny
      # search's sizes, on its mock data.
      protocol=dict(dataset='cifar10', image_size=8, channels=4, cells_per_stage=1),
  )
  params = {'params': rng.integers(100, 1000, len(hashes)).astype(float)}
  robust = {'noise_acc': rng.random((len(hashes), 2)).astype(np.float32)}
  table = Table(
      hashes,
      [unique[h] for h in hashes],
      (0, 1),
      {'test_acc': acc, 'val_acc': val},
      robust,
      params,
      meta,
  )
  table.save(path)
  return Table.load(path)


def test_compare_with_the_table_as_estimator(tmp_path, monkeypatch):
  monkeypatch.setattr(search_demo, 'get_config', _returning(SEARCH))
  table = _four_op_table(tmp_path / 't.npz')
  with tfds.testing.mock_data(num_examples=16), launcher('compare') as compare:
    rows = compare.run_table_compare(str(tmp_path / 'c'), table, ['darts'], 1, (1, 2))
    text = compare.ground_truth_table(rows)
  searched, random_row = rows
  assert searched['strategy'] == 'darts' and random_row['strategy'] == 'random'
  for r in rows:
    g = table.space.load_genotype(r['genotype'])
    assert r['table_acc'] == pytest.approx(table.query(g))
    assert r['percentile'] == pytest.approx(table.percentile(g))
    assert r['regret'] == pytest.approx(table.values('test_acc').max() - r['table_acc'])
  assert '| darts | 1 |' in text and '| random | 1 |' in text
  assert (tmp_path / 'c' / 'table_ground_truth.md').exists()
  # A random draw's exact expectation: every one of the 4,096 architectures looked up by its
  # hash (compare goes through the dense index), the percentile counted by hand.
  v = table.values('test_acc')
  every = v[[table.row(a) for a in table.space.enumerate()]]
  exact = compare.random_expectation(table)
  assert exact['archs'] == exact['measured'] == 4096
  assert exact['table_acc'] == f'{np.mean(every):.4f} ± {np.std(every):.4f}'
  pct = [100.0 * np.mean(v <= x) for x in every]  # the share of cells it is as good as
  assert exact['percentile'] == f'{np.mean(pct):.1f} ± {np.std(pct):.1f}'
  assert (
      '| random, exact (every architecture of the space) | 4096 of 4096 |'
      in (tmp_path / 'c' / 'table_ground_truth.md').read_text()
  )
  # Rerun on a table with the found cell not measured yet, then with new values: the finished
  # search is not rerun, and its cell is looked up in the table given.
  from nas_jax import search

  monkeypatch.setattr(search, 'run_search', lambda *a, **k: pytest.fail('the search reran'))
  row = table.row(table.space.load_genotype(searched['genotype']))
  table.epoch['test_acc'][row] = np.nan
  partial = compare.run_table_compare(str(tmp_path / 'c'), table, ['darts'], 1, (1, 2))
  assert np.isnan(partial[0]['table_acc']) and partial[0]['percentile'] is None
  assert partial[0]['genotype'] == searched['genotype'] and partial[0]['skip'] == searched['skip']
  assert '| darts | 1 (0 in the table yet) | not measured |' in compare.ground_truth_table(partial)
  table.epoch['test_acc'][row] = 0.5
  again = compare.run_table_compare(str(tmp_path / 'c'), table, ['darts'], 1, (1, 2))
  assert again[0]['table_acc'] == pytest.approx(0.5)
  # Cells are counted by the table's row: two isomorphic genotypes (a dead branch changed) are
  # one cell.
  dead_a = '|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|'
  dead_b = '|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|'
  twins = [
      compare.table_row(table, 'nb201', 'x', seed, table.space.load_genotype(text))
      for seed, text in enumerate((dead_a, dead_b))
  ]
  assert twins[0]['hash'] == twins[1]['hash'] and twins[0]['genotype'] != twins[1]['genotype']
  assert compare.ground_truth_table(twins).strip().endswith('| 1 distinct |')


def test_compare_verdict_against_a_random_cell_by_hand():
  # Percentiles 60, 70, 80 against a random cell's 44: mean 70, std (ddof 1) 10, standard
  # error 10 / sqrt(3) = 5.77, t(0.975, 2) = 4.303, so the interval is 70 ± 24.8.
  with launcher('compare') as compare:
    rows = [
        dict(strategy='s', seed=i, table_acc=0.9, percentile=p, regret=0.01, hash=str(i))
        for i, p in enumerate((60.0, 70.0, 80.0))
    ]
    text = compare.ground_truth_table(
        rows,
        dict(archs=4, measured=4, table_acc='', percentile='', regret='', percentile_mean=44.0),
    )
    assert '| [45.2, 94.8] | +26.0 ± 5.8 | above |' in text
    low = [dict(r, percentile=r['percentile'] - 20) for r in rows]  # 40, 50, 60: [25.2, 74.8]
    assert '| [25.2, 74.8] | +6.0 ± 5.8 | tie |' in compare.ground_truth_table(
        low, dict(archs=4, measured=4, table_acc='', percentile='', regret='', percentile_mean=44.0)
    )


def test_demo_stages_and_verdicts_at_tiny_size(tmp_path, monkeypatch):
  import math

  monkeypatch.setattr(search_demo, 'get_config', _returning(SEARCH))
  monkeypatch.setattr(train_demo, 'get_config', _returning(TRAIN))
  table = _four_op_table(tmp_path / 't.npz')
  printed = io.StringIO()
  with (
      tfds.testing.mock_data(num_examples=16),
      launcher('demo') as demo,
      contextlib.redirect_stdout(printed),
  ):
    out = demo.run_demo(
        str(tmp_path / 'd'),
        str(tmp_path / 't.npz'),
        200,
        10,
        'darts',
        2,
        retrain=True,
        export_formats=('jax_export',),
    )
  # Stage 1: random search over 200 seeds agrees with the exact expectation (4,096
  # architectures: at 10 queries, repeats barely matter) within 4 standard errors.
  d = out['discrete']
  random_search = d['strategies']['random']['value']
  exact = table.random_search([10])[10]
  assert abs(random_search['mean'] - exact['value']) < 4 * random_search['std'] / math.sqrt(200)
  assert d['random_cell_exact']['percentile'] == table.random_baseline()['percentile']
  for name in ('random', 'rea'):
    pct = d['strategies'][name]['percentile']
    assert pct['low'] < pct['mean'] < pct['high'] and pct['n'] == 200
  # Stage 2: two vmapped seeds, each cell looked up in the table.
  f = out['differentiable']
  assert [r['seed'] for r in f['rows']] == [0, 1]
  for r in f['rows']:
    cell = table.space.load_genotype(
        str(tmp_path / 'd/search_table' / f"seed_{r['seed']}" / 'genotype.json')
    )
    assert r['table_acc'] == table.report(table.space.from_genotype(cell))['value']
  # Stage 3: the entropy starts at ln(ops) and ends at the search's last record.
  g = out['darts']
  records = metrics_lib.read_metrics(str(tmp_path / 'd/search_darts/metrics.jsonl'))
  assert g['entropy']['normal'][0] == pytest.approx(math.log(len(SEARCH.space.primitives)))
  assert g['entropy']['normal'][-1] == records[-1]['alpha_entropy_normal']
  assert 'test_accuracy' in g['retrained']
  # The retrained cell is exported, and its artifact agrees with the JAX model.
  exported = g['export']['formats']['jax_export']
  assert exported['parity'] and exported['max_abs_logit_diff'] < 1e-4
  assert (tmp_path / 'd/train_darts/export/model.jax_export').exists()
  text = printed.getvalue()
  assert '| model.jax_export |' in text and '| JAX (in process) |' in text
  assert 'REA against random search at 10 queries: regret difference' in text
  assert 'darts: mean percentile' in text and 'one random cell' in text
  assert 'a drop of' in text and len(out['verdicts']) == 3


def test_table_report_numbers_and_figures(tmp_path):
  table = _four_op_table(tmp_path / 't.npz')
  with launcher('reports.table_report') as table_report:
    text = table_report.report(table, str(tmp_path / 'fig'))
  v = table.values('test_acc')
  assert f'| best | {v.max():.4f} |' in text and f'| worst | {v.min():.4f} |' in text
  a, b = table.values('test_acc', seed=0), table.values('test_acc', seed=1)
  from scipy import stats

  # The noise ceiling, once: Kendall tau and Spearman rho of seed 0 against seed 1, each ± its SE.
  tau, rho = stats.kendalltau(a, b).statistic, stats.spearmanr(a, b).statistic
  assert f'| {tau:.3f} ± ' in text and f'| {rho:.3f} ± ' in text
  assert text.count('seed 0 vs seed 1') == 1
  # The separation by hand: the p10-p90 spread of the seed means over the mean |a - b|.
  mean = (a + b) / 2
  spread = np.quantile(mean, 0.9) - np.quantile(mean, 0.1)
  separation = spread / np.mean(np.abs(a - b))
  assert f'| {np.mean(np.abs(a - b)):.4f} | {separation:.1f} |' in text
  for name in ('accuracy', 'pareto', 'robustness'):
    assert (tmp_path / 'fig' / f'table_{name}.png').exists()
  # The robust accuracy of the top decile by clean accuracy, and of the rest, by hand.
  noise = table.values('noise_acc')
  order = np.argsort(-v)
  k = int(np.sum(v >= np.quantile(v, 0.9)))
  top, rest = noise[order[:k]].mean(), noise[order[k:]].mean()
  assert f'| {noise.mean():.3f} | {top:.3f} | {rest:.3f} |' in text
  # --cell: one cell's rows, found by hash or by genotype string.
  with launcher('reports.table_report') as table_report:
    best = int(np.argmax(v))
    genotype = table.space.to_text(table.space.to_genotype(tuple(table.archs[best])))
    by_hash, by_text = (table_report.cell_report(table, r) for r in (table.hashes[best], genotype))
  assert by_hash == by_text
  assert f'| test_acc | {a[best]:.4f} | {b[best]:.4f} | {v[best]:.4f} |' in by_hash
  assert f'Rank 1 of {len(table)} measured cells (percentile 100.0), regret 0.0000' in by_hash
