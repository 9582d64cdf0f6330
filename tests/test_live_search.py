"""Live training inside discrete search: process shares, per-cell networks, the DARTS space."""

import json
import os

import numpy as np
import pytest
from test_discrete import _launch
from test_tabular import TINY

from nas_jax import spaces
from nas_jax.estimators import TrainEstimator
from nas_jax.tabular.protocol import Protocol
from nas_jax.tabular.trainer import Member, PopulationTrainer, cell_network

SMALL = dict(TINY, train_split='train[:256]', val_split='train[256:320]', test_split='test[:64]')
# cells with a conv path from input to output: a dead cell's logits tie, and its argmax then
# flips with the last bit of the float arithmetic, which XLA:CPU does not fix from run to run
ARCHS = np.asarray([(1, 0, 1, 1, 0, 1), (1, 1, 0, 1, 0, 1), (1, 1, 1, 1, 1, 1)], np.int32)


@pytest.fixture(scope='module')
def small():
  return spaces.get('nb201', ('none', 'nor_conv_1x1'))


def test_process_shares_assemble_to_the_whole_batch(small):
  """Over P hosts each process trains every P-th member; all-gathered and put back in asked
  order, the shares are the batch trained by one process (mixed fidelities included)."""
  est = TrainEstimator(small, Protocol.from_dict(SMALL), seed=1)
  epochs = np.asarray([2, 1, 2])
  whole = est(ARCHS, None, epochs)
  shares = np.stack([est.local_rows(ARCHS, epochs, 2, p) for p in range(2)])
  assert shares.shape == (2, 2, 6) and np.isnan(shares[1, 1]).all()  # process 1 pads
  got = est.assemble(shares, epochs)
  for field in ('score', 'value', 'report'):
    np.testing.assert_array_equal(getattr(got, field), getattr(whole, field))
  np.testing.assert_array_equal(got.full, [True, False, True])
  # the one-epoch member is the two-epoch protocol stopped early: its first epoch
  alone = est.trainer.train([Member(tuple(int(a) for a in ARCHS[1]), 1)])[0]
  assert got.value[1] == pytest.approx(float(alone['val_acc'][0]))


def test_live_early_stopping_stops_inside_training(small):
  """The median rule inside live training (epoch 1 of 2): with a history whose median lies
  between the cells' epoch-1 validation accuracies, the cells below it stop after epoch 1
  (told that epoch's value, half the SGD steps run, not full), the others train on to epoch 2
  with the results of an unstopped run; every signal joins the history."""
  from nas_jax.estimators.early_stopping import MedianStopping

  protocol = Protocol.from_dict(SMALL)
  est = TrainEstimator(small, protocol, seed=1)
  plain = est(ARCHS)
  first = est(ARCHS, None, np.full(3, 1))
  order = np.argsort(first.value)
  if first.value[order[0]] == first.value[order[-1]]:
    pytest.skip('the three cells tie after one epoch')
  cut = float(first.value[order[-1]])  # only the best (and its ties) finish
  rule = MedianStopping(epoch=1, warmup=1, quantile=0.5)
  rule.record([cut])
  est.early_stop = rule
  steps, step = [], est.trainer._step  # count the SGD steps the stopped cells skip
  est.trainer._step = lambda *args: (steps.append(1), step(*args))[1]
  got = est(ARCHS)
  keep = first.value >= cut
  np.testing.assert_array_equal(got.full, keep)
  np.testing.assert_array_equal(got.value, np.where(keep, plain.value, first.value))
  np.testing.assert_array_equal(got.report, np.where(keep, plain.report, first.report))
  assert len(steps) == est.steps_per_epoch * (2 * keep.sum() + (~keep).sum())
  assert (got.cost > 0).all()
  np.testing.assert_allclose(rule.seen, [cut, *first.value], rtol=1e-6)
  with pytest.raises(ValueError, match='must be below'):
    TrainEstimator(small, protocol, early_stop=MedianStopping(epoch=2), splits=est.splits)


def test_vmapped_population_stops_members_apart(small):
  """In the vmapped form a stopped member's later epochs and robustness are NaN while its
  group trains on; what it ran equals the unstopped group's numbers."""
  protocol = Protocol.from_dict(SMALL)
  trainer = PopulationTrainer(small, protocol, form='vmap')
  members = [Member(tuple(int(a) for a in ARCHS[i]), 1) for i in (0, 2)]
  plain = trainer.train(members)
  stopped = trainer.train(members, stop=lambda epoch, record: np.asarray([epoch == 1, False]))
  assert np.isnan(stopped[0]['val_acc'][1]) and np.isnan(stopped[0]['noise_acc'])
  assert stopped[0]['val_acc'][0] == plain[0]['val_acc'][0]
  for name in ('val_acc', 'train_loss', 'test_acc'):
    np.testing.assert_array_equal(stopped[1][name], plain[1][name])
  assert stopped[1]['noise_acc'] == plain[1]['noise_acc']


def test_cell_network_estimator_trains_each_cells_evaluation_network(small):
  protocol = Protocol.from_dict(SMALL)
  est = TrainEstimator(small, protocol, seed=2, network='cell')
  got = est(ARCHS[:2])
  assert est.compiled_cells == 2
  for i in range(2):
    arch = tuple(int(a) for a in ARCHS[i])
    net = cell_network(small, arch, 10, protocol)
    direct = PopulationTrainer(small, protocol, est.splits, form='sequential', network=net)
    r = direct.train([Member(arch, 2)])[0]
    assert got.value[i] == pytest.approx(float(r['val_acc'][-1]))
    assert got.report[i] == pytest.approx(float(r['test_acc'][-1]))
  with pytest.raises(ValueError, match='network must be one of'):
    TrainEstimator(small, protocol, network='supernet')


# the DARTS live config shrunk: 3 ops, 2 nodes, 1 cell (a reduction cell), 8x8 images. Both
# tests below train the same program, so the second one reads it from the compilation cache.
DARTS_TINY = (
    'estimator.protocol.train_split=train[:128]',
    'estimator.protocol.val_split=train[128:192]',
    'estimator.protocol.test_split=test[:64]',
    'estimator.protocol.image_size=8',
    'estimator.protocol.channels=4',
    'estimator.protocol.cells_per_stage=1',
    'estimator.protocol.eval_batch=64',
    'estimator.space.steps=2',
    'estimator.space.multiplier=2',
    "estimator.space.primitives=('none','max_pool_3x3','sep_conv_3x3')",
)


def test_launcher_searches_the_darts_space_live(tmp_path):
  tiny = tuple(f'--config.{o}' for o in DARTS_TINY) + ('--config.report_at=(3,)',)
  out = _launch(
      tmp_path / 'darts',
      '--config.budget=3',
      *tiny,
      config='experiments/configs/discrete_darts_live.py:random',
  )
  assert out.returncode == 0, out.stderr[-2000:]
  history = [json.loads(line) for line in (tmp_path / 'darts' / 'history.jsonl').open()]
  best = json.loads((tmp_path / 'darts' / 'best.json').read_text())
  space = spaces.get('darts', ('none', 'max_pool_3x3', 'sep_conv_3x3'), steps=2, multiplier=2)
  assert len(history) == 3 and best['strategy'] == 'random'
  for r in history:
    assert len(r['arch']) == 12 and 0 <= r['primary'] <= 1 and r['cost'] > 0
    assert space.from_genotype(space.load_genotype(r['genotype'])) == tuple(r['arch'])
  text = (tmp_path / 'darts' / 'best_genotype.txt').read_text()
  assert space.load_genotype(text.strip()) == space.to_genotype(best['arch'])
  assert best['report'] == max(history, key=lambda r: r['primary'])['report']
  bad = _launch(
      tmp_path / 'bad', '--config.seeds=4', config='experiments/configs/discrete_darts_live.py'
  )
  assert bad.returncode == 2 and "estimator 'train' runs one search at a time" in bad.stderr


def test_live_report_runs_both_strategies_and_retrains_their_answers(tmp_path):
  """``experiments.reports.discrete_live`` at tiny size: both searches, both retrainings, the table."""
  import subprocess
  import sys

  from test_discrete import ROOT

  tiny = list(DARTS_TINY) + ['report_at=(2,)', 'budget=2']
  retrain = [
      'epochs=1',
      'max_steps_per_epoch=2',
      'layers=1',
      'init_channels=4',
      'image_size=8',
      'batch_size=16',
      'train_split=train[:64]',
      'test_split=test[:64]',
  ]
  out = tmp_path / 'live.md'
  cmd = [
      sys.executable,
      '-m',
      'experiments.reports.discrete_live',
      f'--workdir={tmp_path / "runs"}',
      '--seeds=1',
      f'--out={out}',
      '--overrides=' + ';'.join(tiny),
      '--retrain_overrides=' + ';'.join(retrain),
  ]
  env = dict(os.environ, PYTHONPATH=ROOT)
  done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  text = out.read_text()
  for strategy in ('rea', 'random'):
    best = json.loads((tmp_path / 'runs' / f'{strategy}_0' / 'best.json').read_text())
    results = json.loads(
        (tmp_path / 'runs' / f'{strategy}_0' / 'retrain' / 'results.json').read_text()
    )
    assert f'- {strategy} 0: {abs(best["score"]):.4f} / {best["report"]:.4f} / ' in text
    assert f'{results["test_accuracy"]:.4f}; `{best["genotype"]}`' in text
  assert 'among all 2 cells random search trained' in text


def test_two_processes_share_a_batch_and_tell_the_same_results():
  """Two ``jax.distributed`` processes (gloo on CPU) each train their share of the batch and
  all-gather: both get the one-process results."""
  import socket
  import subprocess
  import sys

  from test_discrete import ROOT

  worker = os.path.join(ROOT, 'tests', 'live_worker.py')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')

  def launch(*args):
    return subprocess.Popen(
        [sys.executable, worker, *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

  def result(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])

  with socket.socket() as s:
    s.bind(('localhost', 0))
    address = f'localhost:{s.getsockname()[1]}'
  procs = [launch(2, i, address) for i in range(2)]
  two = [result(p) for p in procs]
  # the one-process reference, here (the workers' program is in the compilation cache)
  small = spaces.get('nb201', ('none', 'nor_conv_1x1'))
  one = TrainEstimator(small, Protocol.from_dict(SMALL), seed=1)(ARCHS, None, np.asarray([2, 1, 2]))
  assert [r['processes'] for r in two] == [2, 2]
  assert [r['trained'] for r in two] == [2, 1]
  for r in two:
    np.testing.assert_array_equal(r['value'], one.value)
    np.testing.assert_array_equal(r['report'], one.report)
    assert r['full'] == [True, False, True]
