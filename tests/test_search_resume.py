"""Interrupted searches of a stochastic strategy and of vmapped seeds resume bit-identically.

``test_resume.py`` kills a single-seed DARTS search with SIGKILL. Here the
interruption is simulated in-process (an exception at a given step, after
the checkpoint before it was written), for what that test does not cover:
a strategy that samples (its key is part of the state) and a ``vmap``-ed
multi-seed search (stacked states, one metrics file per seed).
"""

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from test_search import SMALL_SPACE, tiny_config

from nas_jax import metrics as metrics_lib
from nas_jax import runner, search


def _run(config, workdir):
  with tfds.testing.mock_data(num_examples=16):
    return search.run_search(config, str(workdir), log=lambda line: None)


def _interrupted_then_resumed(config, tmp_path, monkeypatch, crash_step):
  """The reference run, and a run stopped at ``crash_step`` then rerun on the same workdir."""
  reference = _run(config, tmp_path / 'ref')
  original = runner.check_finite

  def crash(loss, step, where, saved):
    if step == crash_step:
      raise KeyboardInterrupt('simulated kill')
    return original(loss, step, where, saved)

  monkeypatch.setattr(runner, 'check_finite', crash)
  with pytest.raises(KeyboardInterrupt):
    _run(config, tmp_path / 'cut')
  monkeypatch.setattr(runner, 'check_finite', original)
  assert (
      not (tmp_path / 'cut' / 'alphas.npz').exists()
      and not (tmp_path / 'cut' / 'summary.json').exists()
  )
  return reference, _run(config, tmp_path / 'cut')


def _same_records(a, b):
  strip = lambda rs: [{k: v for k, v in r.items() if k != 'seconds'} for r in rs]
  assert strip(metrics_lib.read_metrics(str(a))) == strip(metrics_lib.read_metrics(str(b)))


def test_stochastic_strategy_resumes_bit_identically(tmp_path, monkeypatch):
  """GDAS in NB201: the Gumbel samples after the resume are the ones of the uninterrupted run."""
  config = tiny_config(
      strategy='gdas',
      space='nb201',
      # test_strategies' NB201 op set and sizes: the same compiled step (the persistent
      # cache shares it); the sampling key, not the ops, is what must resume
      primitives=['none', 'skip_connect', 'nor_conv_1x1', 'avg_pool_3x3'],
      layers=1,
      epochs=2,
      max_steps_per_epoch=3,
      checkpoint_every=2,
  )
  reference, resumed = _interrupted_then_resumed(config, tmp_path, monkeypatch, crash_step=4)
  assert resumed['resumed_from'] == 3  # the epoch-end checkpoint; step 4 was in flight
  jax.tree.map(
      np.testing.assert_array_equal,
      jax.device_get(reference['state']),
      jax.device_get(resumed['state']),
  )
  assert resumed['genotype'] == reference['genotype']
  _same_records(tmp_path / 'ref' / 'metrics.jsonl', tmp_path / 'cut' / 'metrics.jsonl')


def test_vmapped_seeds_resume_bit_identically(tmp_path, monkeypatch):
  config = tiny_config(
      num_seeds=2, epochs=2, max_steps_per_epoch=2, checkpoint_every=3, **SMALL_SPACE
  )
  reference, resumed = _interrupted_then_resumed(config, tmp_path, monkeypatch, crash_step=4)
  assert resumed['resumed_from'] == 3  # the mid-epoch checkpoint
  jax.tree.map(
      np.testing.assert_array_equal,
      jax.device_get(reference['state']),
      jax.device_get(resumed['state']),
  )
  assert resumed['genotype'] == reference['genotype']
  for seed in (0, 1):
    _same_records(
        tmp_path / 'ref' / f'seed_{seed}' / 'metrics.jsonl',
        tmp_path / 'cut' / f'seed_{seed}' / 'metrics.jsonl',
    )
    a = np.load(tmp_path / 'ref' / f'seed_{seed}' / 'alphas.npz')
    b = np.load(tmp_path / 'cut' / f'seed_{seed}' / 'alphas.npz')
    for key in a.files:
      np.testing.assert_array_equal(a[key], b[key])
  assert (tmp_path / 'ref' / 'summary.json').read_text() == (
      tmp_path / 'cut' / 'summary.json'
  ).read_text()
