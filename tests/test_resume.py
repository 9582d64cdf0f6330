"""A search killed with SIGKILL and rerun ends bit-identical to an uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from nas_jax import metrics as metrics_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = [
    '--config=experiments/configs/search_demo.py',
    '--config.image_size=8',
    # A small space (2 nodes, 4 ops; as test_search.SMALL_SPACE): resuming is what is tested,
    # and the compile of the 8-op, 4-node cell would be most of the test's time.
    '--config.layers=2',
    '--config.space.steps=2',
    '--config.space.multiplier=2',
    '--config.space.primitives=none,max_pool_3x3,skip_connect,sep_conv_3x3',
    '--config.init_channels=4',
    '--config.batch_size=8',
    '--config.epochs=3',
    '--config.max_steps_per_epoch=6',
    '--config.checkpoint_every=2',
    '--config.log_every=0',
    '--config.tensorboard=False',
]


def _start(workdir):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.Popen(
      [sys.executable, '-m', 'experiments.search', f'--workdir={workdir}', *ARGS],
      cwd=REPO,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )


def _steps_started(ckpt_dir):
  """Step numbers of the checkpoint directories present, complete or still being written."""
  try:
    names = os.listdir(ckpt_dir)
  except FileNotFoundError:
    return []
  return [int(n.split('.')[0]) for n in names if n.split('.')[0].isdigit()]


def _finish(proc):
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  return out


def test_sigkilled_search_resumes_bit_identically(tmp_path):
  ref, cut = tmp_path / 'ref', tmp_path / 'cut'
  _finish(_start(ref))
  proc = _start(cut)
  deadline = time.time() + 600
  # Kill as soon as the save of step 8 (or a later one) has begun: often in the middle of it.
  while not any(s >= 8 for s in _steps_started(cut / 'checkpoints')):
    assert proc.poll() is None, 'the run ended before it could be killed'
    assert time.time() < deadline
    time.sleep(0.002)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not (cut / 'genotype.json').exists()  # it really was cut short
  out = _finish(_start(cut))
  assert 'resumed from the checkpoint at step' in out
  resumed_step = int(out.split('resumed from the checkpoint at step ')[1].split()[0])
  assert 2 <= resumed_step < 18
  a, b = np.load(ref / 'alphas.npz'), np.load(cut / 'alphas.npz')
  for key in ('normal', 'reduce'):
    np.testing.assert_array_equal(a[key], b[key])
  assert (ref / 'genotype.json').read_text() == (cut / 'genotype.json').read_text()
  strip = lambda rs: [{k: v for k, v in r.items() if k != 'seconds'} for r in rs]
  ref_records = metrics_lib.read_metrics(str(ref / 'metrics.jsonl'))
  assert [r['epoch'] for r in ref_records] == [1, 2, 3]
  assert strip(ref_records) == strip(metrics_lib.read_metrics(str(cut / 'metrics.jsonl')))
  assert json.loads((cut / 'genotype.json').read_text())['normal']
