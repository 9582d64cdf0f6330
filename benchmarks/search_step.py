"""Search-step benchmark: compile time, step time and peak memory, in a table.

  python -m benchmarks.search_step [--rows=demo1,demo2,paper1,paper2] [--steps=3]

Each row runs in a fresh process with the persistent compilation cache off, so
"compile" is a cold compile (trace + XLA) and "peak RSS" is that row's own.
Data are random images of the row's shape. The torch column is quark0/darts'
own search network and architect on the same 2-core CPU (../shared/DESIGN.md).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

# name: (layers, channels, image size, batch, order, torch reference s/step or None)
ROWS = {
    'demo1': (5, 8, 16, 32, 1, 1.69),
    'demo2': (5, 8, 16, 32, 2, 4.08),
    'paper1': (8, 16, 32, 64, 1, 31.0),
    'paper2': (8, 16, 32, 64, 2, None),
}


def measure(layers, channels, size, batch, order, steps, depthwise='auto'):
  """Runs in the child process; returns a dict of measurements."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from experiments.configs import search_demo
  from nas_jax import bilevel, search

  config = search_demo.get_config()
  config.layers, config.init_channels, config.batch_size, config.order = layers, channels, batch, order
  config.depthwise_impl = depthwise
  model = search.build_model(config, num_classes=10)
  weight_tx, arch_tx, schedule, hyper = search.build_optimizers(config, steps_per_epoch=100)
  rng = np.random.default_rng(0)
  make = lambda: (jnp.asarray(rng.normal(size=(batch, size, size, 3)), jnp.float32),
                  jnp.asarray(rng.integers(0, 10, batch), jnp.int32))
  train, val = make(), make()
  t = time.perf_counter()
  state = jax.jit(lambda k: bilevel.init_state(model, k, train[0][:1], weight_tx, arch_tx))(
      jax.random.key(0, impl='rbg'))
  jax.block_until_ready(state)
  init_s = time.perf_counter() - t
  step = jax.jit(bilevel.make_search_step(model, weight_tx, arch_tx, schedule, order=order,
                                          hyper=hyper), donate_argnums=0)
  t = time.perf_counter()
  compiled = step.lower(state, train, val).compile()
  compile_s = time.perf_counter() - t
  state, _ = compiled(state, train, val)  # warm-up
  jax.block_until_ready(state)
  t = time.perf_counter()
  for _ in range(steps):
    state, metrics = compiled(state, train, val)
  jax.block_until_ready(state)
  step_s = (time.perf_counter() - t) / steps
  assert np.isfinite(float(metrics['train_loss']))
  return {'init_s': init_s, 'compile_s': compile_s, 'step_s': step_s,
          'devices': jax.device_count(), 'backend': jax.default_backend(),
          'peak_rss_gib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', default=','.join(ROWS))
  parser.add_argument('--steps', type=int, default=3)
  parser.add_argument('--timeout', type=int, default=1200, help='seconds per row')
  parser.add_argument('--depthwise', default='auto', help='depthwise conv implementation')
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(measure(*ROWS[args.child][:5], args.steps, args.depthwise)))
    return
  header = ('| row | L | C | size | B | order | init s | compile s | s/step | steps/s/device | '
            'peak RSS GiB | torch s/step | speed-up |')
  print(header)
  print('|' + '---|' * (header.count('|') - 1))
  env = dict(os.environ, JAX_ENABLE_COMPILATION_CACHE='false', TF_CPP_MIN_LOG_LEVEL='3')
  for name in args.rows.split(','):
    layers, channels, size, batch, order, ref = ROWS[name]
    try:
      proc = subprocess.run([sys.executable, '-m', 'benchmarks.search_step', f'--child={name}',
                             f'--steps={args.steps}', f'--depthwise={args.depthwise}'], env=env, capture_output=True, text=True,
                            timeout=args.timeout)
    except subprocess.TimeoutExpired:
      print(f'| {name} | {layers} | {channels} | {size} | {batch} | {order} | not finished in '
            f'{args.timeout} s |', flush=True)
      continue
    if proc.returncode:
      print(f'| {name} | failed: {proc.stderr.strip().splitlines()[-1]} |', flush=True)
      continue
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    ratio = f'{ref / r["step_s"]:.2f}x' if ref else '—'
    print(f'| {name} | {layers} | {channels} | {size} | {batch} | {order} | {r["init_s"]:.1f} | '
          f'{r["compile_s"]:.1f} | {r["step_s"]:.2f} | {1 / r["step_s"] / r["devices"]:.3f} | '
          f'{r["peak_rss_gib"]:.2f} | {ref if ref else "—"} | {ratio} |', flush=True)


if __name__ == '__main__':
  main()
