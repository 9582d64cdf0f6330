"""A damaged checkpoint: the run resumes from the newest one that restores, or stops in one line.

Each damage is one a real crash or disk leaves: the data files of a step's OCDBT store truncated
to 100 bytes. Runs are tiny and in process (tfds mock data), except the
launcher's exit status, checked once in a subprocess.
"""

import hashlib
import logging
import os
import subprocess
import sys
import types
import warnings

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
import test_search  # noqa: E402  (tests/ is on sys.path under pytest)
import test_train  # noqa: E402

from nas_jax import checkpoint, search, train
from nas_jax import metrics as metrics_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _truncate(step_dir) -> int:
  """Truncates every data file of a checkpoint's OCDBT store to 100 bytes; returns how many."""
  data = os.path.join(step_dir, 'state', 'ocdbt.process_0', 'd')
  n = 0
  for name in os.listdir(data):
    path = os.path.join(data, name)
    if os.path.getsize(path) > 100:
      os.truncate(path, 100)
      n += 1
  assert n, f'nothing to truncate in {data}'
  return n


def _snapshot(root) -> dict:
  """Every file and directory under ``root``: its size, mtime and content hash."""
  out = {}
  for parent, dirs, files in os.walk(root):
    for name in dirs:
      out[os.path.relpath(os.path.join(parent, name), root)] = 'dir'
    for name in files:
      path = os.path.join(parent, name)
      with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
      stat = os.stat(path)
      out[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns, digest)
  return out


def _steps(ckpt_dir) -> list[int]:
  return sorted(int(n) for n in os.listdir(ckpt_dir) if n.isdigit())


def _strip(records):
  return [{k: v for k, v in r.items() if k != 'seconds'} for r in records]


def _assert_newest_restores(ckpt_dir, step, state):
  """The damaged step was saved again: it restores, to ``state``, and nothing is skipped."""
  ckpt = checkpoint.Checkpoints(str(ckpt_dir))
  try:
    restored, _, restored_step = ckpt.restore(state, log=pytest.fail)
  finally:
    ckpt.close()
  assert restored_step == step
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state), jax.device_get(restored))


def _search_config():
  # 2 epochs of 2 steps, a checkpoint every step: steps 3 and 4 are kept.
  return test_search.tiny_config(checkpoint_every=1, tensorboard=False, **test_search.SMALL_SPACE)


def test_search_skips_a_truncated_newest_checkpoint_and_ends_bit_identical(tmp_path):
  with tfds.testing.mock_data(num_examples=16):
    reference = search.run_search(_search_config(), str(tmp_path), log=lambda line: None)
  ref_alphas = dict(np.load(tmp_path / 'alphas.npz'))
  ref_genotype = (tmp_path / 'genotype.json').read_text()
  ref_metrics = metrics_lib.read_metrics(str(tmp_path / 'metrics.jsonl'))
  ckpt_dir = tmp_path / 'checkpoints'
  assert _steps(ckpt_dir) == [3, 4]
  _truncate(ckpt_dir / '4')
  lines = []
  with tfds.testing.mock_data(num_examples=16):
    resumed = search.run_search(_search_config(), str(tmp_path), log=lines.append)
  assert lines[0].startswith('skipped the checkpoint at step 4: it does not restore (')
  assert 'OUT_OF_RANGE' in lines[0] and '\n' not in lines[0]
  assert lines[1].startswith('resumed from the checkpoint at step 3 (epoch 2, batch 1)')
  assert resumed['resumed_from'] == 3
  jax.tree.map(
      np.testing.assert_array_equal,
      jax.device_get(reference['state']),
      jax.device_get(resumed['state']),
  )
  alphas = np.load(tmp_path / 'alphas.npz')
  for key, value in ref_alphas.items():
    np.testing.assert_array_equal(alphas[key], value)
  assert (tmp_path / 'genotype.json').read_text() == ref_genotype
  # The epoch-2 line of the first run was dropped and written again, once.
  assert _strip(metrics_lib.read_metrics(str(tmp_path / 'metrics.jsonl'))) == _strip(ref_metrics)
  # Step 4 was saved again; the damaged one is kept aside.
  assert _steps(ckpt_dir) == [3, 4]
  assert _steps(tmp_path / 'checkpoints_unreadable') == [4]
  _assert_newest_restores(ckpt_dir, 4, resumed['state'])


def test_train_skips_a_truncated_newest_checkpoint_and_ends_bit_identical(tmp_path):
  # 2 epochs of 3 steps, a checkpoint every 2 steps and at epoch ends: 4 and 6 are kept.
  reference = test_train.run(test_train.tiny_config(), tmp_path)
  ref_metrics = metrics_lib.read_metrics(str(tmp_path / 'metrics.jsonl'))
  assert _steps(tmp_path / 'checkpoints') == [4, 6]
  _truncate(tmp_path / 'checkpoints' / '6')
  lines = []
  with tfds.testing.mock_data(num_examples=16):
    resumed = train.run_train(test_train.tiny_config(), str(tmp_path), log=lines.append)
  skipped = [line for line in lines if line.startswith('skipped the checkpoint')]
  assert len(skipped) == 1 and skipped[0].startswith(
      'skipped the checkpoint at step 6: it does not restore ('
  )
  assert resumed['resumed_from'] == 4
  jax.tree.map(
      np.testing.assert_array_equal,
      jax.device_get(reference['state']),
      jax.device_get(resumed['state']),
  )
  assert resumed['test_accuracy'] == reference['test_accuracy']
  assert _strip(metrics_lib.read_metrics(str(tmp_path / 'metrics.jsonl'))) == _strip(ref_metrics)
  assert _steps(tmp_path / 'checkpoints') == [4, 6]
  assert _steps(tmp_path / 'checkpoints_unreadable') == [6]
  _assert_newest_restores(tmp_path / 'checkpoints', 6, resumed['state'])


def test_train_with_no_checkpoint_that_restores_stops_and_changes_nothing(tmp_path):
  test_train.run(test_train.tiny_config(), tmp_path)
  for step in _steps(tmp_path / 'checkpoints'):
    _truncate(tmp_path / 'checkpoints' / str(step))
  before = _snapshot(tmp_path)
  with pytest.raises(checkpoint.CheckpointError) as e:
    test_train.run(test_train.tiny_config(), tmp_path)
  message = str(e.value)
  assert '\n' not in message
  assert message.startswith(f'no checkpoint in {tmp_path / "checkpoints"} restores (step 6: ')
  assert 'step 4 fails too' in message
  assert _snapshot(tmp_path) == before


# A tiny search on the offline mnist5k data, in process and through the launcher.
LAUNCH = {
    'image_size': 8,
    'layers': 2,
    'space.steps': 2,
    'space.multiplier': 2,
    'init_channels': 4,
    'batch_size': 8,
    'space.primitives': ('none', 'max_pool_3x3', 'skip_connect', 'sep_conv_3x3'),
    'epochs': 1,
    'max_steps_per_epoch': 2,
    'checkpoint_every': 1,
    'log_every': 0,
    'tensorboard': False,
}


def test_search_with_no_checkpoint_that_restores_exits_2_and_changes_nothing(tmp_path):
  from experiments.configs import search_demo

  config = search_demo.get_config()
  for key, value in LAUNCH.items():
    section, _, name = key.rpartition('.')
    (config[section] if section else config)[name] = value
  search.run_search(config, str(tmp_path), log=lambda line: None)
  assert _steps(tmp_path / 'checkpoints') == [1, 2]
  for step in (1, 2):
    _truncate(tmp_path / 'checkpoints' / str(step))
  before = _snapshot(tmp_path)
  assert any(r['epoch'] == 1 for r in metrics_lib.read_metrics(str(tmp_path / 'metrics.jsonl')))
  with pytest.raises(checkpoint.CheckpointError):
    search.run_search(config, str(tmp_path), log=lambda line: None)
  assert _snapshot(tmp_path) == before
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  args = [f'--config.{k}={",".join(v) if isinstance(v, tuple) else v}' for k, v in LAUNCH.items()]
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.search',
          f'--workdir={tmp_path}',
          '--config=experiments/configs/search_demo.py',
          *args,
      ],
      cwd=REPO,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr and 'Event loop is closed' not in proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith(f'error: no checkpoint in {tmp_path / "checkpoints"} restores (step 2: ')
  assert 'step 1 fails too' in last
  assert _snapshot(tmp_path) == before  # metrics.jsonl and the outputs are untouched


def test_the_reads_a_failed_restore_leaves_behind_print_nothing(monkeypatch):
  # Orbax's leftovers arrive at random times (see checkpoint._quiet_orphaned_reads), so the
  # three channels are fed by hand here; anything else still gets through.
  seen = []
  monkeypatch.setattr(sys, 'unraisablehook', seen.append)
  records = []
  handler = logging.Handler()
  handler.emit = records.append
  asyncio_log = logging.getLogger('asyncio')
  monkeypatch.setattr(asyncio_log, 'filters', [])  # an earlier failed restore's are kept
  asyncio_log.addHandler(handler)
  try:
    with warnings.catch_warnings(record=True) as caught:
      warnings.resetwarnings()
      warnings.simplefilter('always')
      undo = checkpoint._quiet_orphaned_reads()
      closed = types.SimpleNamespace(exc_value=RuntimeError('Event loop is closed'), object=None)
      other = types.SimpleNamespace(exc_value=ValueError('a bug'), object=None)
      sys.unraisablehook(closed)
      sys.unraisablehook(other)
      asyncio_log.error('Future exception was never retrieved')
      asyncio_log.error('something else')
      warnings.warn(
          "coroutine '_read_array_index_and_device_put' was never awaited",
          RuntimeWarning,
          stacklevel=1,
      )
      assert seen == [other]
      assert [r.getMessage() for r in records] == ['something else']
      assert not caught
      undo()
      assert sys.unraisablehook == seen.append
      asyncio_log.error('Future exception was never retrieved')
      assert len(records) == 2
      warnings.warn("coroutine 'f' was never awaited", RuntimeWarning, stacklevel=1)
      assert len(caught) == 1
  finally:
    asyncio_log.removeHandler(handler)


def test_a_fresh_start_over_earlier_metrics_says_so(tmp_path):
  """Step directories removed by hand: the run starts over, and one line says what it replaces."""
  from nas_jax import checkpoint as ckpt_lib

  (tmp_path / 'metrics.jsonl').write_text('{"epoch": 1, "step": 2}\n')
  lines = []
  ckpt = ckpt_lib.Checkpoints(str(tmp_path / 'checkpoints'))
  state, position, step = ckpt_lib.restore_or_start(ckpt, {'w': np.zeros(2)}, lines.append)
  ckpt.close()
  assert step is None and position['epoch'] == 0
  assert len(lines) == 1 and 'starting from step 0' in lines[0] and 'metrics.jsonl' in lines[0]
  (tmp_path / 'metrics.jsonl').write_text('')  # nothing to replace: nothing to say
  ckpt = ckpt_lib.Checkpoints(str(tmp_path / 'checkpoints'))
  ckpt_lib.restore_or_start(ckpt, {'w': np.zeros(2)}, lines.append)
  ckpt.close()
  assert len(lines) == 1


def test_atomic_write_replaces_whole_files_with_the_usual_mode(tmp_path):
  from nas_jax.util import atomic_write

  path = tmp_path / 'sub' / 'a.json'
  atomic_write(path, 'old')  # creates the parent directory
  plain = tmp_path / 'plain.txt'
  plain.write_text('x')
  # The mode open() gives a new file (0666 less the umask), not mkstemp's owner-only 0600.
  assert os.stat(path).st_mode & 0o777 == os.stat(plain).st_mode & 0o777
  with pytest.raises(TypeError):
    atomic_write(path, 12345)  # fails inside the write
  assert path.read_text() == 'old' and os.listdir(path.parent) == ['a.json']  # no temp file left
  atomic_write(path, b'new')
  assert path.read_bytes() == b'new' and os.listdir(path.parent) == ['a.json']


def test_progress_rate_eta_and_due_lines_on_a_fake_clock():
  # The runner's progress for every driver: 100 units, 10 done before this sitting; 20 more
  # in 10 s is 2 units/s, so 70 left take 35 s.
  from nas_jax.runner import Progress

  now = [0.0]
  p = Progress(100, 10, clock=lambda: now[0])
  now[0] = 10.0
  assert p.rate(30) == pytest.approx(2.0) and p.eta(30) == '0:00:35'
  now[0] = 3.0
  p = Progress(100, clock=lambda: now[0])
  due = []
  for t in (5.0, 8.5, 9.0, 14.0):  # every 5 s from the start at 3 s: 8.5 and 14
    now[0] = t
    due.append(p.due(5.0))
  assert due == [False, True, False, True]
  p.restart(50)  # a new window: the rate counts from here
  now[0] = 24.0
  assert p.rate(60) == pytest.approx(1.0) and p.eta(60) == '0:00:40'
