"""Many seeds of discrete search as one program, against a plain-Python loop, in one run.

  python -m benchmarks.discrete_search [--seeds=10000] [--queries=1000] [--python_seeds=200]

Every row runs regularized evolution (population 10, tournament 3) over the shipped
table under NB201's protocol (each query reads one of the table's seeds at random),
in a fresh process with the persistent compilation cache off:

* ``vmapped``: ``nas_jax.discrete.run_seeds``: ``--seeds`` searches of ``--queries``
  queries as one compiled, vmapped ``lax.scan``; "wall" includes the compile, and
  "again" is a second call of the compiled program;
* ``python``: the same algorithm written as a tight plain-Python loop (``random``,
  lists, a flat list of table values indexed by the mixed-radix arch index), over
  ``--python_seeds`` seeds; its wall is projected to ``--seeds`` seeds from its
  measured time per query;
* ``rounds``: ``nas_jax.discrete.run_python``, the same jitted ask/tell round called
  once per query from Python (the form a live estimator uses), over 3 seeds,
  projected the same way.

The ratio column divides each row's (projected) wall by ``vmapped``'s, compile
included; all rows are measured in the same run of this script.
"""

import argparse
import json
import time

from benchmarks.common import device_info, peak_rss_gib, provenance_line, run_seed_rows


def _child_vmapped(seeds, queries):
  import jax
  import numpy as np

  from nas_jax import discrete
  from nas_jax.estimators import TabularEstimator
  from nas_jax.strategies import discrete as ds
  from nas_jax.tabular import load_shipped

  estimator = TabularEstimator(load_shipped())
  rea = ds.get('rea')
  keys = discrete.seed_keys(np.arange(seeds))
  start = time.perf_counter()
  trace = discrete.run_seeds(rea, estimator, estimator.space, keys, queries)
  jax.block_until_ready(trace)
  wall = time.perf_counter() - start
  start = time.perf_counter()
  trace = discrete.run_seeds(rea, estimator, estimator.space, keys, queries)
  jax.block_until_ready(trace)
  again = time.perf_counter() - start
  final = float(np.mean(discrete.incumbent(trace)[0][:, -1]))  # the best score found
  return dict(wall=wall, again=again, measured_seeds=seeds, final=final)


def _rea_python(values, options, radix, population, sample, queries, rng):
  """Plain-Python regularized evolution; returns the best score so far after each query."""
  free = [d for d, n in enumerate(options) if n >= 2]
  members = []  # (arch, score), oldest first
  best, out = -1.0, []
  columns = len(values[0])
  for _ in range(queries):
    if len(members) < population:
      arch = [rng.randrange(n) for n in options]
    else:
      parent = max(
          (members[rng.randrange(len(members))] for _ in range(sample)), key=lambda m: m[1]
      )
      arch = list(parent[0])
      d = free[rng.randrange(len(free))]
      arch[d] = (arch[d] + 1 + rng.randrange(options[d] - 1)) % options[d]
    index = sum(a * r for a, r in zip(arch, radix))
    score = values[index][rng.randrange(columns)]
    members.append((arch, score))
    if len(members) > population:
      members.pop(0)
    best = max(best, score)
    out.append(best)
  return out


def _child_python(seeds, queries):
  import random

  import numpy as np

  from nas_jax.estimators import TabularEstimator
  from nas_jax.spaces import decisions
  from nas_jax.tabular import load_shipped

  estimator = TabularEstimator(load_shipped())
  space = estimator.space
  every = np.asarray(list(space.enumerate()))
  rows = np.asarray(estimator.rows(every))
  values = estimator.metric_values()[rows, :, -1].tolist()
  radix = [int(r) for r in decisions.radix(space.options)]
  start = time.perf_counter()
  finals = []
  for seed in range(seeds):
    rng = random.Random(seed)
    finals.append(_rea_python(values, space.options, radix, 10, 3, queries, rng)[-1])
  wall = time.perf_counter() - start
  return dict(wall=wall, again=None, measured_seeds=seeds, final=float(np.mean(finals)))


def _child_rounds(seeds, queries):
  import numpy as np

  from nas_jax import discrete
  from nas_jax.estimators import TabularEstimator
  from nas_jax.strategies import discrete as ds
  from nas_jax.tabular import load_shipped

  estimator = TabularEstimator(load_shipped())
  rea = ds.get('rea')
  keys = discrete.seed_keys(np.arange(seeds))
  discrete.run_python(rea, estimator, estimator.space, keys[0], 2)  # compile outside the time
  start = time.perf_counter()
  for i in range(seeds):
    discrete.run_python(rea, estimator, estimator.space, keys[i], queries)
  wall = time.perf_counter() - start
  return dict(wall=wall, again=None, measured_seeds=seeds, final=None)


def child(row, seeds, queries):
  fn = {'vmapped': _child_vmapped, 'python': _child_python, 'rounds': _child_rounds}[row]
  result = fn(seeds, queries)
  result.update(device_info(), peak_rss_gib=peak_rss_gib())
  print(json.dumps(result))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', type=int, default=10_000)
  parser.add_argument('--queries', type=int, default=1_000)
  parser.add_argument('--python_seeds', type=int, default=200)
  parser.add_argument('--round_seeds', type=int, default=3)
  parser.add_argument('--child', default=None)
  parser.add_argument('--child_seeds', type=int, default=None)
  args = parser.parse_args()
  if args.child:
    child(args.child, args.child_seeds, args.queries)
    return
  plan = (('vmapped', args.seeds), ('python', args.python_seeds), ('rounds', args.round_seeds))
  results = run_seed_rows(
      'benchmarks.discrete_search', plan, args.queries, args.seeds, timeout=1800
  )
  print(
      f'\nREA (population 10, tournament 3), {args.seeds} seeds x {args.queries} queries over the '
      'shipped table'
  )
  print(provenance_line(results))
  print()
  print(
      '| row | seeds measured | wall s | again s | projected to all seeds s | µs/query | vs vmapped | peak RSS GiB |'
  )
  print('|---|---|---|---|---|---|---|---|')
  base = results.get('vmapped', {}).get('projected')
  for row, r in results.items():
    per_query = r['wall'] / (r['measured_seeds'] * args.queries) * 1e6
    again = f'{r["again"]:.2f}' if r['again'] is not None else ''
    ratio = f'{r["projected"] / base:.1f}x' if base else ''
    print(
        f'| {row} | {r["measured_seeds"]} | {r["wall"]:.2f} | {again} | {r["projected"]:.1f} | '
        f'{per_query:.2f} | {ratio} | {r["peak_rss_gib"]:.2f} |'
    )
  for row, r in results.items():
    if r.get('final') is not None:
      print(f'{row}: mean best validation accuracy after {args.queries} queries {r["final"]:.4f}')


if __name__ == '__main__':
  main()
