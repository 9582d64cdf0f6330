"""Retraining-step benchmark (evaluation network from a genotype), in a table.

  python -m benchmarks.train_step [--rows=demo,darts_v2] [--steps=3] [--scan_cells=on|off]

Each row runs in a fresh process with the persistent compilation cache off, so
"compile" is a cold compile (trace + XLA) and "peak RSS" is that row's own.
One step is the whole training step of ``nas_jax.train``: forward with drop
path and the auxiliary head, backward, SGD update. Data are random images of
the row's shape.

No ratio against torch is printed: the torch figure for the darts_v2 row
(../shared/DESIGN.md) is another run's, so it is printed under the table as a
reference with its provenance. A provenance line gives this run's date,
backend, device and JAX version.
"""

import argparse
import json
import time

from benchmarks.common import (
    TORCH_REFERENCE,
    device_info,
    peak_rss_gib,
    provenance_line,
    run_child,
    time_step,
)

# name: (genotype, layers, channels, image size, image channels, batch)
ROWS = {
    'demo': ('DARTS_V2', 6, 16, 16, 1, 64),
    'darts_v2': ('DARTS_V2', 20, 36, 32, 3, 96),
}
# Another run's figures for the same network (TORCH_REFERENCE): a reference, never a ratio.
TORCH = {
    'darts_v2': 'NetworkCIFAR DARTS_V2, 20 cells, C=36, 32x32, B=96, aux + drop path, '
    'one SGD step: 7.57 s/step, peak RSS 8.2 GiB'
}


def measure(genotype, layers, channels, size, in_channels, batch, steps, scan_cells):
  """Runs in the child process; returns a dict of measurements."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from experiments.configs import common
  from nas_jax import train
  from nas_jax.spaces.darts import genotype as genotypes

  config = common.train_defaults()
  config.layers, config.init_channels, config.batch_size = layers, channels, batch
  config.scan_cells = scan_cells
  model = train.build_model(config, genotypes.get_named(genotype), num_classes=10)
  recipe = train.Recipe.from_config(config)
  tx, schedule = train.make_optimizer(recipe, steps_per_epoch=100)
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(batch, size, size, in_channels)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 10, (batch,)), jnp.int32)
  sample = jnp.zeros((1, size, size, in_channels), jnp.float32)

  def init(key):
    v = model.init({'params': key}, sample, train=True)
    return train.TrainState(
        step=jnp.zeros((), jnp.int32),
        params=v['params'],
        batch_stats=v['batch_stats'],
        opt_state=tx.init(v['params']),
    )

  t = time.perf_counter()
  state = jax.jit(init)(jax.random.key(0, impl='rbg'))
  jax.block_until_ready(state)
  init_s = time.perf_counter() - t
  step = jax.jit(train.make_train_step(model, tx, schedule, recipe, 100), donate_argnums=0)
  compile_s, step_s, metrics = time_step(step, state, images, labels, steps=steps)
  assert np.isfinite(float(metrics['loss']))
  from nas_jax import netstats

  return {
      'init_s': init_s,
      'compile_s': compile_s,
      'step_s': step_s,
      'params_m': netstats.count_params(state.params) / 1e6,
      'peak_rss_gib': peak_rss_gib(),
      **device_info(),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', default=','.join(ROWS))
  parser.add_argument('--steps', type=int, default=3)
  parser.add_argument('--timeout', type=int, default=1200, help='seconds per row')
  parser.add_argument('--scan_cells', default='on', choices=['on', 'off'])
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(measure(*ROWS[args.child], args.steps, args.scan_cells == 'on')))
    return
  header = (
      '| row | genotype | L | C | size | B | scan cells | params M | init s | compile s | '
      's/step | images/s | peak RSS GiB |'
  )
  print(header)
  print('|' + '---|' * (header.count('|') - 1))
  done = {}
  for name in args.rows.split(','):
    genotype, layers, channels, size, _, batch = ROWS[name]
    lead = f'| {name} | {genotype} | {layers} | {channels} | {size} | {batch} | {args.scan_cells} |'
    r, why = run_child(
        'benchmarks.train_step',
        [f'--child={name}', f'--steps={args.steps}', f'--scan_cells={args.scan_cells}'],
        args.timeout,
    )
    if why:
      print(f'{lead} {why} |', flush=True)
      continue
    done[name] = r
    print(
        f'{lead} {r["params_m"]:.3f} | {r["init_s"]:.1f} | {r["compile_s"]:.1f} | '
        f'{r["step_s"]:.2f} | {batch / r["step_s"]:.1f} | {r["peak_rss_gib"]:.2f} |',
        flush=True,
    )
  print()
  for name in args.rows.split(','):
    if name in TORCH:
      print(f'reference for {name}, from another run, no ratio: {TORCH[name]} ({TORCH_REFERENCE})')
  print(provenance_line(done))


if __name__ == '__main__':
  main()
