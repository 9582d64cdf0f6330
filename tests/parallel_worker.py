"""Runs a tiny search under mock data and prints its final alpha and weights digest as JSON.

Launched by test_parallel.py in a fresh process, because the number of
(forced) CPU devices and ``jax.distributed`` must be set before JAX starts:

  python tests/parallel_worker.py WORKDIR NUM_DEVICES [NUM_PROCESSES PROCESS_ID ADDRESS]
"""

import json
import os
import sys

import jax
import numpy as np
import tensorflow_datasets as tfds

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tests'))

from test_search import SMALL_SPACE as SMALL  # noqa: E402  (a small space: these runs test sharding)
from test_search import tiny_config  # noqa: E402

from nas_jax import runtime  # noqa: E402


def main():
  workdir, num_devices = sys.argv[1], int(sys.argv[2])
  overrides = dict(SMALL, num_devices=num_devices, batch_size=8, epochs=1, max_steps_per_epoch=2)
  if len(sys.argv) > 3:
    overrides.update(
        num_processes=int(sys.argv[3]), process_id=int(sys.argv[4]), coordinator_address=sys.argv[5]
    )
  config = tiny_config(**overrides)
  runtime.enable_compilation_cache()
  from nas_jax import parallel, search

  placed = []  # how the first training batch was laid out over the devices
  shard_batch = parallel.shard_batch

  def recording_shard_batch(batch, sharding):
    out = shard_batch(batch, sharding)
    if not placed:
      images = out[0]
      placed.append(
          {
              'spec': [a for a in images.sharding.spec],
              'shards': sorted(list(s.data.shape) for s in images.addressable_shards),
          }
      )
    return out

  parallel.shard_batch = recording_shard_batch
  compile_search = search._compile  # pylint: disable=protected-access
  initial = []  # the initial alpha, read before the first step donates the state

  def recording_compile(*args, **kwargs):
    state, step, sharding = compile_search(*args, **kwargs)
    initial.append(np.asarray(jax.device_get(state.arch['normal'])))
    return state, step, sharding

  search._compile = recording_compile  # pylint: disable=protected-access
  with tfds.testing.mock_data(num_examples=32):
    result = search.run_search(config, workdir, log=lambda line: None)
  state = result['state']
  arch = jax.device_get(state.arch)
  leaves = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state.params))]
  print(
      json.dumps(
          {
              'devices': jax.device_count(),
              'processes': jax.process_count(),
              'alpha_normal': arch['normal'].tolist(),
              'alpha_reduce': arch['reduce'].tolist(),
              'alpha_normal_init': initial[0].tolist(),
              'params': [float(np.sum(np.abs(x))) for x in leaves],
              'genotype': result['genotype'].to_darts_text(),
              'batch_spec': placed[0]['spec'],
              'batch_shards': placed[0]['shards'],
          }
      )
  )


if __name__ == '__main__':
  main()
