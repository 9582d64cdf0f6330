"""Search-step cost of every strategy in both spaces, in a table.

  python -m benchmarks.strategies [--rows=darts:darts,darts:gdas,...] [--steps=3]

Rows are ``space:strategy`` at the demo size (DARTS space: 5 cells, C=8;
NB201: N=2 cells per stage, C=8; 16x16 images, batch 32, 1st order), each in
a fresh process with the compilation cache off. "vs DARTS" is the row's step
time over the DARTS row of the same space in the same run: GDAS computes one
op per edge, PC-DARTS a quarter of the channels. A provenance line under the
table gives this run's date, backend, device and JAX version.
"""

import argparse
import json
import time

from benchmarks.common import device_info, peak_rss_gib, provenance_line, run_child, time_step

STRATEGIES = ('darts', 'gdas', 'snas', 'pcdarts', 'drnas', 'darts_minus', 'fairdarts', 'beta_darts')
ROWS = tuple(f'{space}:{name}' for space in ('darts', 'nb201') for name in STRATEGIES)


BENCH_SIZE = {'nb201': {'layers': 2}}  # per space: the benchmark's size over the compare demo's


def measure(space: str, strategy: str, steps: int) -> dict:
  """Runs in the child process."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from experiments.compare import search_config
  from nas_jax import bilevel, components, search

  config = search_config(space, strategy, 0, epochs=2, steps=100)
  for key, value in BENCH_SIZE.get(space, {}).items():
    config[key] = value
  st = components.strategy(config)
  model = search.build_model(config, 10, st)
  weight_tx, arch_tx, schedule, hyper = search.build_optimizers(
      search.Bilevel.from_config(config), steps_per_epoch=100
  )
  rng = np.random.default_rng(0)
  shape = (config.batch_size, config.image_size, config.image_size, 1)
  make = lambda: (
      jnp.asarray(rng.normal(size=shape), jnp.float32),
      jnp.asarray(rng.integers(0, 10, shape[:1]), jnp.int32),
  )
  train, val = make(), make()
  t = time.perf_counter()
  state = jax.jit(lambda k: bilevel.init_state(model, k, train[0][:1], weight_tx, arch_tx, st))(
      jax.random.key(0, impl='rbg')
  )
  jax.block_until_ready(state)
  init_s = time.perf_counter() - t
  step = jax.jit(
      bilevel.make_search_step(
          model,
          weight_tx,
          arch_tx,
          schedule,
          order=1,
          hyper=hyper,
          strategy=st,
          steps_per_epoch=100,
          unroll_phases=search.unroll_phases(config),
      ),
      donate_argnums=0,
  )
  compile_s, step_s, metrics = time_step(step, state, train, val, steps=steps)
  assert np.isfinite(float(metrics['train_loss']))
  return {
      'init_s': init_s,
      'compile_s': compile_s,
      'step_s': step_s,
      'peak_rss_gib': peak_rss_gib(),
      **device_info(),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', default=','.join(ROWS))
  parser.add_argument('--steps', type=int, default=3)
  parser.add_argument('--timeout', type=int, default=900, help='seconds per row')
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(measure(*args.child.split(':'), args.steps)))
    return
  header = '| space | strategy | init s | compile s | s/step | peak RSS GiB | vs DARTS |'
  print(header)
  print('|' + '---|' * (header.count('|') - 1))
  done = {}
  for row in args.rows.split(','):
    space, name = row.split(':')
    r, why = run_child(
        'benchmarks.strategies', [f'--child={row}', f'--steps={args.steps}'], args.timeout
    )
    if why:
      print(f'| {space} | {name} | {why} |', flush=True)
      continue
    done[row] = r
    base = done.get(f'{space}:darts')
    rel = f'{r["step_s"] / base["step_s"]:.2f}x' if base else '—'
    print(
        f'| {space} | {name} | {r["init_s"]:.1f} | {r["compile_s"]:.1f} | {r["step_s"]:.3f} | '
        f'{r["peak_rss_gib"]:.2f} | {rel} |',
        flush=True,
    )
  print()
  print(provenance_line(done))


if __name__ == '__main__':
  main()
