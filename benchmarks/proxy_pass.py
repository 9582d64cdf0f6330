"""The proxy pass at NB201's CIFAR-10 size: compile, seconds per cell, total, in one run.

  python -m benchmarks.proxy_pass [--cells=15625] [--rows=synflow:1,grad_norm+snip+grasp+fisher+jacov:64]

Each row (``proxies:batch``) scores the first ``--cells`` cells of a fixed random order of
NB201's 15,625 (C=16, N=5, 32x32x3, 10 classes; ``nas_jax.estimators.proxy_pass``: one
compiled program per row, synflow on an all-ones example, the others on a Gaussian batch)
in a fresh process with the persistent compilation cache off, and prints its cold compile,
the seconds per cell (mean and median over chunks of 50), the total with the compile, and
that total projected to all 15,625 cells. ``experiments.reports.analog_proxies`` runs the same pass
over all cells for its report and prints the same columns from that run.
"""

import argparse
import json
import time

from benchmarks.common import device_info, peak_rss_gib, provenance_line, run_child

ALL = 15_625


def child(names: list[str], batch: int, cells: int) -> dict:
  import numpy as np

  from nas_jax import spaces
  from nas_jax.estimators import proxy_pass

  space = spaces.get('nb201')
  every = np.asarray(list(space.enumerate()))
  archs = every[np.random.default_rng(0).permutation(len(every))[:cells]]
  scorer = proxy_pass.ProxyPass(
      space, names, batch=batch, num_classes=10, channels=16, layers=5, image_shape=(32, 32, 3)
  )
  start = time.perf_counter()
  state = proxy_pass.run_pass(scorer, archs, None, chunk=50, log=lambda _: None)
  total = time.perf_counter() - start
  return dict(
      compile=float(state['compile_seconds'].sum()),
      mean=float(state['seconds'].mean()),
      median=float(np.median(state['seconds'])),
      total=total,
      cells=cells,
  )


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--cells', type=int, default=ALL)
  parser.add_argument('--rows', default='synflow:1,grad_norm+snip+grasp+fisher+jacov:64')
  parser.add_argument('--child', default=None)
  args = parser.parse_args()
  if args.child:
    names, batch = args.child.split(':')
    result = child(names.split('+'), int(batch), args.cells)
    result.update(device_info(), peak_rss_gib=peak_rss_gib())
    print(json.dumps(result))
    return
  results = {}
  for row in args.rows.split(','):
    res, why = run_child(
        'benchmarks.proxy_pass', [f'--child={row}', f'--cells={args.cells}'], 36_000
    )
    if res is None:
      print(f'{row}: failed ({why})')
      continue
    results[row] = res
  print(f'\nThe proxy pass over {args.cells:,} NB201 cells at C=16, N=5, 32x32x3')
  print(provenance_line(results))
  print()
  print(
      '| proxies : batch | cells | compile s | ms/cell mean | ms/cell median | total s '
      '| projected to 15,625 cells s | peak RSS GiB |'
  )
  print('|---|---|---|---|---|---|---|---|')
  for row, r in results.items():
    projected = r['compile'] + r['mean'] * ALL
    print(
        f'| {row} | {r["cells"]:,} | {r["compile"]:.1f} | {r["mean"] * 1e3:.1f} | '
        f'{r["median"] * 1e3:.1f} | {r["total"]:.1f} | {projected:.0f} | '
        f'{r["peak_rss_gib"]:.2f} |'
    )


if __name__ == '__main__':
  main()
