"""Tabular-builder throughput: one compiled population program against one compile per cell.

  python -m benchmarks.tabular [--rows=per_cell,switch,masked,vmap4] [--cells=6] [--preset=shipped]

Every row trains the same ``--cells`` unique NB201 cells (4 ops, seed 0, drawn
with a fixed seed) under the same protocol, in a fresh process with the
persistent compilation cache off, timed from after the data are loaded:

* ``switch``: the population trainer, members one after another through one
  compiled program, each edge running only its chosen op (``nn.switch``,
  3x3 convolutions as one matmul);
* ``masked``: the same, every candidate computed and summed under a one-hot mask;
* ``per_cell``: the baseline: each cell's own evaluation network
  (``space.evalnet``), compiled for that cell, under the same training loop;
* ``vmap4`` (any ``vmapK``): the population vmapped in groups of K members (the
  accelerator form);
* ``procs2`` (any ``procsP``): ``switch`` in P processes at once, each on one
  core (pinned, single-threaded XLA) with every P-th cell: the CPU's other way
  to use its cores. Its times are the slowest process's, its RSS the sum.

"compile s" is the wall time of the row's compiles (for ``per_cell``, summed
over its cells), "whole table" projects it to every unique cell, and
"arch-epochs/h" counts compile and training together over the ``--cells``
cells. The ratio column compares each row with ``per_cell`` of the same run
(rows run before it print none). A second table projects every row to the
whole table: a population compiles once, so over 1,236 cells its compile is
amortized, where ``per_cell`` pays one compile per cell; those ratios are
printed for every row. Peak RSS is the row's
own process. ``--preset=paper`` runs NB201's own sizes (C=16, N=5, 32x32,
batch 256) for the GPU check (``benchmarks/gpu_check.sh``). ``--preset=darts_live`` trains
random cells of the DARTS space under ``experiments/configs/discrete_darts_live.py``'s
protocol (5 cells, C=8, 16x16, one epoch), the arch network (``switch``, ``masked``)
against a compile per cell, projected to that config's 24-query live search.
"""

import argparse
import json
import time

from benchmarks.common import (
    device_info,
    peak_rss_gib,
    provenance_line,
    run_child,
    run_children,
)

ROWS = ('per_cell', 'switch', 'masked', 'vmap4', 'procs2')  # any 'vmapK', 'procsP' works
FOUR = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3')


LIVE_QUERIES = 24  # the darts_live preset projects to a live search of this many queries


def _protocol(preset):
  from experiments.configs import discrete_darts_live, tabulate_nb201_mnist
  from nas_jax.tabular.protocol import Protocol

  if preset == 'darts_live':
    return Protocol(**discrete_darts_live.get_config().train.protocol.to_dict())
  values = tabulate_nb201_mnist.get_config().protocol.to_dict()
  if preset == 'paper':  # NB201's network and batch, on the offline images at 32x32
    values.update(image_size=32, channels=16, cells_per_stage=5, batch_size=256, epochs=1)
    values.update(train_split='train', val_split='test[:500]', test_split='test[500:]')
  return Protocol(**values)


def _synthetic_splits(protocol, channels):
  """Random one-channel uint8 images at the protocol's size (no TFDS: the GPU image has no
  TensorFlow). One channel: the protocol normalizes with MNIST's statistics."""
  import numpy as np

  from nas_jax.data import ArraySplit
  from nas_jax.tabular.trainer import Splits

  rng = np.random.default_rng(0)
  size = protocol.image_size

  def split(n, name):
    images = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    return ArraySplit(images, rng.integers(0, 10, n).astype(np.int32), 'synthetic', name)

  return Splits(split(10240, 'train'), split(512, 'val'), split(512, 'test'))


def measure(row, cells, preset, synthetic, part=(0, 1)):
  """Runs in the child; returns a dict of measurements (of cells ``part[0]::part[1]``)."""
  import numpy as np

  from nas_jax import spaces
  from nas_jax.tabular.trainer import Member, PopulationTrainer, cell_network, load_splits

  protocol = _protocol(preset)
  if preset == 'darts_live':  # the DARTS space is too big to enumerate: uniform decisions
    space = spaces.get('darts')
    rng = np.random.default_rng(1)
    archs = [tuple(int(rng.integers(k)) for k in space.options) for _ in range(cells)]
    target = LIVE_QUERIES
  else:
    space = spaces.get('nb201', FOUR)
    unique = space.unique()
    hashes = sorted(unique)
    pick = np.random.default_rng(1).choice(len(hashes), cells, replace=False)
    archs = [unique[hashes[i]] for i in pick]
    target = len(unique)
  members = [Member(a, 0) for a in archs][part[0] :: part[1]]
  splits = _synthetic_splits(protocol, 1) if synthetic else load_splits(protocol)
  start = time.perf_counter()
  results = []
  if row == 'per_cell':
    compile_s = 0.0
    for m in members:
      net = cell_network(space, m.arch, 10, protocol)
      t = time.perf_counter()
      trainer = PopulationTrainer(space, protocol, splits, form='sequential', network=net)
      r = trainer.train([m])[0]
      wall = time.perf_counter() - t
      # a member's wall time less its training steps and evaluation passes is its compiling
      compile_s += wall - r['train_seconds'] - r['eval_seconds']
      results.append(r)
  else:
    form, group = ('vmap', int(row[4:])) if row.startswith('vmap') else ('sequential', None)
    mode = 'masked' if row == 'masked' else 'switch'
    t = time.perf_counter()
    trainer = PopulationTrainer(space, protocol, splits, form=form, edge_mode=mode)
    results = trainer.train(members, group=group)
    wall = time.perf_counter() - t
    compile_s = wall - sum(r['train_seconds'] + r['eval_seconds'] for r in results)
  total = time.perf_counter() - start
  return {
      'cells': len(members),
      'epochs': protocol.epochs,
      'compile_s': compile_s,
      'train_s': sum(r['train_seconds'] for r in results),
      'eval_s': sum(r['eval_seconds'] for r in results),
      'wall_s': total,
      'unique_cells': target,
      'steps_per_epoch': splits.train.num_examples // protocol.batch_size,
      'test_acc': [float(r['test_acc'][-1]) for r in results],
      'peak_rss_gib': peak_rss_gib(),
      **device_info(),
  }


def _table_hours(name, r) -> float:
  """The row's wall time extrapolated to every unique cell of the space.

  ``per_cell`` compiles each cell, so all of its wall time scales with the cells;
  the population rows compile once, so only their time after the compile does.
  """
  scale = r['unique_cells'] / r['cells']
  once = 0.0 if name == 'per_cell' else r['compile_s']
  return (once + (r['wall_s'] - once) * scale) / 3600


def _run_row(name, args):
  """One row's measurements, from its child process (or processes: ``procsP``)."""
  common = [f'--cells={args.cells}', f'--preset={args.preset}'] + (
      ['--synthetic'] if args.synthetic else []
  )
  if not name.startswith('procs'):
    return run_child('benchmarks.tabular', [f'--child={name}', *common], args.timeout)
  from nas_jax.runtime import SINGLE_THREAD_XLA_FLAGS  # (the children set it before JAX starts)

  p = int(name[len('procs') :])
  parts = run_children(
      'benchmarks.tabular',
      [['--child=switch', f'--part={k}/{p}', *common] for k in range(p)],
      args.timeout,
      env={'XLA_FLAGS': SINGLE_THREAD_XLA_FLAGS},
  )
  whys = [why for _, why in parts if why]
  if whys:
    return None, whys[0]
  rs = [r for r, _ in parts]
  acc = [None] * args.cells
  for k, r in enumerate(rs):
    acc[k::p] = r['test_acc']
  slowest = lambda key: max(r[key] for r in rs)  # the processes ran at the same time
  return {
      **rs[0],
      'cells': sum(r['cells'] for r in rs),
      'compile_s': slowest('compile_s'),
      'train_s': sum(r['train_s'] for r in rs),
      'eval_s': sum(r['eval_s'] for r in rs),
      'wall_s': slowest('wall_s'),
      'test_acc': acc,
      'peak_rss_gib': sum(r['peak_rss_gib'] for r in rs),
  }, None


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', default=','.join(ROWS))
  parser.add_argument('--cells', type=int, default=6)
  parser.add_argument('--preset', default='shipped', choices=['shipped', 'paper', 'darts_live'])
  parser.add_argument('--timeout', type=int, default=1800, help='seconds per row')
  parser.add_argument(
      '--synthetic', action='store_true', help='random images (no TFDS; the GPU check uses it)'
  )
  parser.add_argument('--child', help=argparse.SUPPRESS)
  parser.add_argument('--part', default='0/1', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    part = tuple(int(x) for x in args.part.split('/'))
    if part[1] > 1:  # one core each, before JAX starts
      from nas_jax.runtime import pin_to_core

      pin_to_core(part[0])
    print(json.dumps(measure(args.child, args.cells, args.preset, args.synthetic, part)))
    return
  protocol = _protocol(args.preset)
  target = (
      f'a {LIVE_QUERIES}-query live search' if args.preset == 'darts_live' else 'the whole table'
  )
  print(
      f'protocol {args.preset}: C={protocol.channels}, N={protocol.cells_per_stage}, '
      f'{protocol.image_size}x{protocol.image_size}, batch {protocol.batch_size}, '
      f'{protocol.epochs} epochs; {args.cells} cells, seed 0'
  )
  header = (
      f'| row | compile s | {target}: compile | train s | eval s | wall s | s/member | '
      'arch-epochs/h | vs per_cell | peak RSS GiB |'
  )
  print(header)
  print('|' + '---|' * (header.count('|') - 1))
  done = {}
  for name in args.rows.split(','):
    r, why = _run_row(name, args)
    if why:
      print(f'| {name} | {why} |', flush=True)
      continue
    done[name] = r
    per_cell_compile = r['compile_s'] / r['cells'] if name == 'per_cell' else None
    whole = (
        f'{per_cell_compile * r["unique_cells"] / 3600:.1f} h ({r["unique_cells"]} compiles)'
        if per_cell_compile
        else f'{r["compile_s"]:.0f} s (once)'
    )
    rate = r['cells'] * r['epochs'] / r['wall_s'] * 3600
    base = done.get('per_cell')
    ratio = (
        f'{rate / (base["cells"] * base["epochs"] / base["wall_s"] * 3600):.2f}x'
        if base and name != 'per_cell'
        else '-'
    )
    print(
        f'| {name} | {r["compile_s"]:.1f} | {whole} | {r["train_s"]:.1f} | {r["eval_s"]:.1f} | '
        f'{r["wall_s"]:.1f} | {r["wall_s"] / r["cells"]:.2f} | {rate:.0f} | {ratio} | '
        f'{r["peak_rss_gib"]:.2f} |',
        flush=True,
    )
  base = done.get('per_cell')
  if done:
    print()
    print(
        f'projected to {target} ({next(iter(done.values()))["unique_cells"]} cells x '
        f'{protocol.epochs} epochs; per-member times from the rows above, a one-time compile '
        'counted once, per_cell compiling every cell):'
    )
    print('| row | hours | arch-epochs/h | vs per_cell |')
    print('|---|---|---|---|')
    for name, r in done.items():
      hours = _table_hours(name, r)
      ratio = (
          f'{_table_hours("per_cell", base) / hours:.2f}x' if base and name != 'per_cell' else '-'
      )
      print(f'| {name} | {hours:.2f} | {r["unique_cells"] * r["epochs"] / hours:.0f} | {ratio} |')
  print()
  print('test accuracy per cell (the rows train the same cells):')
  for name, r in done.items():
    print(f'  {name}: {" ".join(f"{a:.3f}" for a in r["test_acc"])}')
  if args.preset == 'paper':
    # NB201's own build: 15,625 cells, 12 epochs of the cifar10-valid half (25,000 images)
    steps = 25000 // protocol.batch_size
    for name, r in done.items():
      per_step = r['train_s'] / (r['cells'] * r['epochs'] * r['steps_per_epoch'])
      hours = 15625 * 12 * steps * per_step / 3600
      print(
          f'projection, {name}: {per_step * 1e3:.2f} ms per member-step -> the 15,625-cell '
          f'space at 12 epochs ({steps} steps each) trains in {hours:.2f} device-hours '
          '(training steps only)'
      )
  print(provenance_line(done))


if __name__ == '__main__':
  main()
