"""One search cell, forward plus backward: compile time and time per call, in a table.

  python -m benchmarks.cell [--size=64,32,16] [--depthwise=toeplitz,shift] [--node_edges=scan,unroll]

The cell is a paper-size normal cell by default (N=64, 32x32, C=16, the 8
DARTS ops), the unit the profile in ``benchmarks/README.md`` studies. The
gradient is taken with respect to the weights and the op weights, as the
search step does. Each row runs in a fresh process with the persistent
compilation cache off. A provenance line under the table gives this run's
date, backend, device and JAX version.
"""

import argparse
import json
import os
import subprocess
import sys
import time


def measure(n, size, channels, depthwise, node_edges, calls):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from nas_jax import ops as ops_lib
  from nas_jax.spaces.darts import DARTS_PRIMITIVES, ops, supernet

  edge = supernet.EdgeOptions(DARTS_PRIMITIVES, ops.OPS, dw_conv=ops_lib.depthwise_conv(depthwise))
  cell = supernet.SearchCell(channels, False, False, edge, node_edges=node_edges)
  rng = np.random.default_rng(0)
  s0, s1 = (jnp.asarray(rng.normal(size=(channels, n, size, size)), jnp.float32) for _ in range(2))
  weights = jax.nn.softmax(jnp.zeros((14, len(DARTS_PRIMITIVES))), -1)
  v = jax.jit(cell.init)(jax.random.key(0, impl='rbg'), s0, s1, weights)

  def loss(params, weights, s0, s1):
    y, _ = cell.apply(
        {'params': params, 'batch_stats': v['batch_stats']},
        s0,
        s1,
        weights,
        mutable=['batch_stats'],
    )
    return jnp.sum(y * y)

  t = time.perf_counter()
  grad = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(v['params'], weights, s0, s1).compile()
  compile_s = time.perf_counter() - t
  jax.block_until_ready(grad(v['params'], weights, s0, s1))
  t = time.perf_counter()
  for _ in range(calls):
    out = grad(v['params'], weights, s0, s1)
  jax.block_until_ready(out)
  from benchmarks.common import device_info

  return {'compile_s': compile_s, 'ms': (time.perf_counter() - t) / calls * 1000, **device_info()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--size', default='64,32,16', help='N,H=W,C')
  parser.add_argument('--depthwise', default='toeplitz')
  parser.add_argument('--node_edges', default='scan,unroll')
  parser.add_argument('--calls', type=int, default=5)
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  n, size, channels = (int(v) for v in args.size.split(','))
  if args.child:
    depthwise, node_edges = args.child.split(':')
    print(json.dumps(measure(n, size, channels, depthwise, node_edges, args.calls)))
    return
  print('| N, H=W, C | depthwise | node edges | compile s | ms fwd+bwd |')
  print('|---|---|---|---|---|')
  env = dict(os.environ, JAX_ENABLE_COMPILATION_CACHE='false', TF_CPP_MIN_LOG_LEVEL='3')
  done = {}
  for depthwise in args.depthwise.split(','):
    for node_edges in args.node_edges.split(','):
      proc = subprocess.run(
          [
              sys.executable,
              '-m',
              'benchmarks.cell',
              f'--child={depthwise}:{node_edges}',
              f'--size={args.size}',
              f'--calls={args.calls}',
          ],
          env=env,
          capture_output=True,
          text=True,
      )
      if proc.returncode:
        print(
            f'| {args.size} | {depthwise} | {node_edges} | failed: '
            f'{proc.stderr.strip().splitlines()[-1]} |',
            flush=True,
        )
        continue
      r = json.loads(proc.stdout.strip().splitlines()[-1])
      done[f'{depthwise}:{node_edges}'] = r
      print(
          f'| {args.size} | {depthwise} | {node_edges} | {r["compile_s"]:.1f} | {r["ms"]:.0f} |',
          flush=True,
      )
  from benchmarks.common import provenance_line

  print()
  print(provenance_line(done))


if __name__ == '__main__':
  main()
