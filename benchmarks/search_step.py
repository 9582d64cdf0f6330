"""Search-step benchmark: compile time, step time and peak memory, in a table.

  python -m benchmarks.search_step [--rows=demo1,demo2,demo1x4,paper1,paper2] [--steps=3]

Each row runs in a fresh process with the persistent compilation cache off, so
"compile" is a cold compile (trace + XLA) and "peak RSS" is that row's own.
Data are random images of the row's shape. "cost vs row" is a ratio between
two rows of this run.

The torch column is not measured here: it is quark0/darts' own search network
and architect, measured 2026-12-01 on a 2-core CPU with PyTorch 2.13 and 2
threads (../shared/DESIGN.md), printed as a reference with that provenance. The
column after it is the ratio against that reference, labelled as a ratio
against another run, and printed only when this run's backend is the CPU (on
another backend it would compare different hardware). A provenance line under
the table gives this run's date, backend, device and JAX version.
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

# name: (layers, channels, image size, batch, order, seeds, torch reference s/step or None)
# The torch figures are references from another run (TORCH_REFERENCE), not
# measurements of this one; for K seeds the reference is K sequential runs.
ROWS = {
    'demo1': (5, 8, 16, 32, 1, 1, '1.370'),
    'demo2': (5, 8, 16, 32, 2, 1, '3.253'),
    'demo1x4': (5, 8, 16, 32, 1, 4, '5.48'),  # 4 x 1.370
    'paper1': (8, 16, 32, 64, 1, 1, '21.0'),
    'paper2': (8, 16, 32, 64, 2, 1, None),
}
# Rows whose cost is also shown relative to another row of the same run.
RELATIVE = {'demo2': 'demo1', 'demo1x4': 'demo1', 'paper2': 'paper1'}


def measure(
    layers,
    channels,
    size,
    batch,
    order,
    seeds,
    steps,
    depthwise='auto',
    node_edges='scan',
    remat='config',
):
  """Runs in the child process; returns a dict of measurements."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from experiments.configs import search_demo
  from nas_jax import bilevel, components, search

  config = search_demo.get_config()
  config.layers, config.init_channels, config.batch_size, config.order = (
      layers,
      channels,
      batch,
      order,
  )
  config.depthwise_impl = depthwise
  config.node_edges = node_edges
  if remat != 'config':
    config.remat = remat == 'on'
  strategy = components.strategy(config)
  model = search.build_model(config, num_classes=10, strategy=strategy)
  weight_tx, arch_tx, schedule, hyper = search.build_optimizers(
      search.Bilevel.from_config(config), steps_per_epoch=100
  )
  rng = np.random.default_rng(0)
  lead = (seeds,) if seeds > 1 else ()
  make = lambda: (
      jnp.asarray(rng.normal(size=lead + (batch, size, size, 3)), jnp.float32),
      jnp.asarray(rng.integers(0, 10, lead + (batch,)), jnp.int32),
  )
  train, val = make(), make()
  sample = jnp.zeros((1, size, size, 3), jnp.float32)
  t = time.perf_counter()
  init = jax.jit(lambda k: bilevel.init_state(model, k, sample, weight_tx, arch_tx, strategy))
  states = [init(jax.random.key(s, impl='rbg')) for s in range(seeds)]
  state = states[0] if seeds == 1 else jax.tree.map(lambda *x: jnp.stack(x), *states)
  jax.block_until_ready(state)
  init_s = time.perf_counter() - t
  step = bilevel.make_search_step(
      model, weight_tx, arch_tx, schedule, order=order, hyper=hyper, strategy=strategy
  )
  step = jax.jit(jax.vmap(step) if seeds > 1 else step, donate_argnums=0)
  compile_s, step_s, metrics = time_step(step, state, train, val, steps=steps)
  assert np.all(np.isfinite(np.asarray(metrics['train_loss'])))
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
  parser.add_argument('--timeout', type=int, default=1200, help='seconds per row')
  parser.add_argument('--depthwise', default='auto', help='depthwise conv implementation')
  parser.add_argument(
      '--node_edges',
      default='scan',
      help="'scan' or 'unroll' (see nas_jax/spaces/darts/supernet.py)",
  )
  parser.add_argument(
      '--remat',
      default='config',
      choices=['config', 'on', 'off'],
      help='recompute depthwise row taps (default: the config default)',
  )
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(
        json.dumps(
            measure(*ROWS[args.child][:6], args.steps, args.depthwise, args.node_edges, args.remat)
        )
    )
    return
  header = (
      '| row | L | C | size | B | order | seeds | init s | compile s | s/step | '
      'steps/s/device | peak RSS GiB | '
      'torch s/step (reference from another run: DESIGN.md, 2026-12-01, 2-core CPU) | '
      'speed-up vs a reference from another run | cost vs row (this run) |'
  )
  print(header)
  print('|' + '---|' * (header.count('|') - 1))
  done = {}
  for name in args.rows.split(','):
    layers, channels, size, batch, order, seeds, ref = ROWS[name]
    r, why = run_child(
        'benchmarks.search_step',
        [
            f'--child={name}',
            f'--steps={args.steps}',
            f'--depthwise={args.depthwise}',
            f'--node_edges={args.node_edges}',
            f'--remat={args.remat}',
        ],
        args.timeout,
    )
    if why:
      print(
          f'| {name} | {layers} | {channels} | {size} | {batch} | {order} | {seeds} | {why} |',
          flush=True,
      )
      continue
    done[name] = r
    # A ratio against the CPU reference only for a CPU run, and labelled as another run's.
    ratio = f'{float(ref) / r["step_s"]:.2f}x' if ref and r['backend'] == 'cpu' else '—'
    base = RELATIVE.get(name)
    rel = f'{r["step_s"] / done[base]["step_s"]:.2f}x {base}' if base in done else '—'
    print(
        f'| {name} | {layers} | {channels} | {size} | {batch} | {order} | {seeds} | '
        f'{r["init_s"]:.1f} | {r["compile_s"]:.1f} | {r["step_s"]:.2f} | '
        f'{1 / r["step_s"] / r["devices"]:.3f} | {r["peak_rss_gib"]:.2f} | '
        f'{ref if ref else "—"} | {ratio} | {rel} |',
        flush=True,
    )
  print()
  print(
      f'torch reference (not measured in this run): {TORCH_REFERENCE}; '
      'the speed-up against it is a ratio against another run, printed for CPU runs only.'
  )
  print(provenance_line(done))


if __name__ == '__main__':
  main()
