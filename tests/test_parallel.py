"""Data parallelism over forced CPU devices and processes, and vmapped multi-seed search."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
from parallel_worker import SMALL
import pytest
import tensorflow_datasets as tfds
from test_search import tiny_config

from nas_jax import search, spaces
from nas_jax.spaces.darts.genotype import Genotype

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'parallel_worker.py')


def _run_worker(args, devices, timeout=600, wait=True):
  # The device count joins the inherited XLA flags (conftest's -O0 backend: the workers'
  # programs are compile-bound too).
  flags = f'{os.environ.get("XLA_FLAGS", "")} --xla_force_host_platform_device_count={devices}'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', XLA_FLAGS=flags.strip())
  proc = subprocess.Popen(
      [sys.executable, WORKER, *map(str, args)],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )
  if not wait:
    return proc
  return _result(proc, timeout)


def _result(proc, timeout=600):
  out, err = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, err[-3000:]
  return json.loads(out.strip().splitlines()[-1])


def _assert_same_search(a, b, tol):
  for key in ('alpha_normal', 'alpha_reduce'):
    np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), rtol=0, atol=tol)
  np.testing.assert_allclose(a['params'], b['params'], rtol=tol)
  assert a['genotype'] == b['genotype']


@pytest.fixture(scope='module')
def one_device(tmp_path_factory):
  """The reference: the tiny search on one device."""
  return _run_worker([tmp_path_factory.mktemp('one'), 1], devices=1)


def test_four_devices_match_one_device(tmp_path, one_device):
  one = one_device
  four = _run_worker([tmp_path / 'four', 4], devices=4)
  assert four['devices'] == 4
  # The batch of 8 is split, not replicated: each device holds 2 of its images.
  assert four['batch_spec'] == ['data'] and four['batch_shards'] == [[2, 8, 8, 3]] * 4
  assert one['batch_shards'] == [[8, 8, 8, 3]]
  # alpha moved (2 Adam steps of 3e-4), and the sharded run took the same path. With
  # per-device BatchNorm statistics (2 examples each) the runs would differ at 1e-2.
  moved = np.asarray(one['alpha_normal']) - np.asarray(one['alpha_normal_init'])
  assert np.abs(moved).max() > 1e-4
  _assert_same_search(one, four, tol=1e-5)


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def test_two_processes_match_one_process(tmp_path, one_device):
  address = f'localhost:{_free_port()}'
  # Hosts share the workdir (as on a shared filesystem): Orbax coordinates the checkpoint
  # writes of both processes in it, and only process 0 writes the other outputs.
  procs = [
      _run_worker([tmp_path / 'shared', 0, 2, i, address], devices=1, wait=False) for i in range(2)
  ]
  results = [_result(p) for p in procs]
  assert [r['processes'] for r in results] == [2, 2]
  assert results[0]['devices'] == 2
  # Each process holds its half of the global batch (its one device's shard).
  assert [r['batch_shards'] for r in results] == [[[4, 8, 8, 3]]] * 2
  _assert_same_search(results[0], results[1], tol=0)
  _assert_same_search(results[0], one_device, tol=1e-5)
  assert (tmp_path / 'shared' / 'genotype.json').exists()
  records = (tmp_path / 'shared' / 'metrics.jsonl').read_text().splitlines()
  assert len(records) == 1  # one epoch, written once (by process 0)
  assert os.listdir(tmp_path / 'shared' / 'checkpoints')


def test_vmapped_seeds_match_single_runs(tmp_path):
  with tfds.testing.mock_data(num_examples=16):
    multi = search.run_search(
        tiny_config(num_seeds=2, seed=3, **SMALL), str(tmp_path / 'multi'), log=lambda line: None
    )
    single = search.run_search(
        tiny_config(seed=4, **SMALL), str(tmp_path / 'single'), log=lambda line: None
    )
  one = np.load(tmp_path / 'single' / 'alphas.npz')
  vm = np.load(tmp_path / 'multi' / 'seed_4' / 'alphas.npz')
  # Adam's first steps move each alpha by about lr * sign(g), so float noise in a
  # near-zero gradient component shows up at a fraction of a step (3e-4).
  for key in ('normal', 'reduce'):
    np.testing.assert_allclose(vm[key], one[key], rtol=0, atol=5e-5)
  assert multi['genotype'][1] == single['genotype']
  assert (
      Genotype.from_json((tmp_path / 'multi' / 'seed_4' / 'genotype.json').read_text())
      == single['genotype']
  )
  # The two seeds really are different searches.
  other = np.load(tmp_path / 'multi' / 'seed_3' / 'alphas.npz')
  assert np.abs(other['normal'] - vm['normal']).max() > 1e-4
  summary = json.loads((tmp_path / 'multi' / 'summary.json').read_text())
  assert summary['seeds'] == [3, 4]
  for kind in ('normal', 'reduce'):
    assert sum(summary['op_counts'][kind].values()) == 2 * 4  # 2 seeds x 2 nodes x 2 inputs
    assert sum(summary['edge_counts'][kind].values()) == 2 * 4
  expected = {}
  for g in multi['genotype']:
    for op, _ in g.normal:
      expected[op] = expected.get(op, 0) + 1
  assert summary['op_counts']['normal'] == dict(
      sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
  )
  per_seed = [
      json.loads((tmp_path / 'multi' / f'seed_{s}' / 'metrics.jsonl').read_text().splitlines()[-1])[
          'val_acc'
      ]
      for s in (3, 4)
  ]
  assert summary['final_val_acc']['per_seed'] == pytest.approx(per_seed)
  assert summary['final_val_acc']['mean'] == pytest.approx(np.mean(per_seed))
  # The reproduction card: the seeds' cells and final val accuracies (no table: none looked up).
  card = json.loads((tmp_path / 'multi' / 'card.json').read_text())
  assert [r['seed'] for r in card['rows']] == [3, 4] and 'table' not in card
  assert [r['final_val_acc'] for r in card['rows']] == pytest.approx(per_seed)
  assert card['op_counts']['normal'] == summary['op_counts']['normal']
  assert '# Reproduction card' in (tmp_path / 'multi' / 'card.md').read_text()


def test_summary_counts_ops_and_edges():
  g1 = Genotype.from_darts_text(
      "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), "
      "('sep_conv_3x3', 2), ('skip_connect', 0), ('max_pool_3x3', 3), ('sep_conv_3x3', 1), "
      "('dil_conv_3x3', 4)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
      "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
      "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
  )
  s = search.summarize_seeds([0, 1], [g1, g1], [0.5, 0.7], spaces.get('darts'))
  assert s['op_counts']['normal'] == {
      'sep_conv_3x3': 8,
      'skip_connect': 4,
      'dil_conv_3x3': 2,
      'max_pool_3x3': 2,
  }
  assert s['edge_counts']['normal']['node2<-0'] == 2
  assert s['edge_counts']['normal']['node5<-4'] == 2
  assert s['edge_counts']['reduce']['node4<-2'] == 2
  assert s['final_val_acc']['mean'] == pytest.approx(0.6)
  assert s['final_val_acc']['std'] == pytest.approx(0.1)


@pytest.mark.parametrize(
    'overrides,message',
    [
        ({'num_devices': 64}, 'config.num_devices is 64 but only'),
        ({'num_seeds': 0}, 'config.num_seeds must be a positive integer'),
        ({'num_seeds': 2, 'remat': True}, 'config.remat=True does not support num_seeds > 1'),
        ({'node_edges': 'loop'}, "config.node_edges must be one of ('scan', 'unroll')"),
        (
            {'batch_size': 3, 'num_devices': 1, 'num_processes': 2},
            'config.coordinator_address (host:port of process 0) is required',
        ),
    ],
)
def test_parallel_config_errors(tmp_path, overrides, message):
  with tfds.testing.mock_data(num_examples=16):
    with pytest.raises(search.ConfigError) as e:
      search.run_search(tiny_config(**overrides), str(tmp_path))
  assert message in str(e.value) and '\n' not in str(e.value)
  assert not os.listdir(tmp_path)
