"""The strategies that never repeat a cell, as one vmapped program against plain Python, in one run.

  python -m benchmarks.dedup_search [--seeds=1000] [--queries=300] [--python_seeds=50]
      [--bananas_seeds=20]

Over the shipped table under NB201's protocol (a query reads one of the table's seeds at
random), each row runs in a fresh process with the persistent compilation cache off:

* ``random`` / ``local_search`` / ``nsga2``: ``nas_jax.discrete.run_seeds``, ``--seeds``
  searches of ``--queries`` queries as one compiled, vmapped program; "wall" includes the
  compile, "again" is a second call of the compiled program. NSGA-II searches test accuracy
  against params (20 per generation);
* ``random, python`` / ``local_search, python``: the same algorithm as a tight plain-Python
  loop (``random``, a set of the class ids queried, a flat list of table values), over
  ``--python_seeds`` seeds, its wall projected to ``--seeds`` seeds;
* ``bananas``: ``run_seeds`` over ``--bananas_seeds`` seeds only (batch 10; each ask fits
  an ensemble of 5 MLPs for 150 epochs at batch 32, which dominates), projected to
  ``--seeds``. No plain-Python BANANAS is timed: its cost is the ensemble's training, not
  the loop.

Every row reports the distinct cells its queries paid for (mean over its seeds), which is
``--queries`` for every row here. The ratio column divides each row's projected wall by
that of the vmapped form of the same strategy; all rows are measured in the same run.
"""

import argparse
import json
import time

from benchmarks.common import device_info, peak_rss_gib, provenance_line, run_seed_rows, time_seeds


def _setup():
  from nas_jax.estimators import TabularEstimator
  from nas_jax.tabular import load_shipped

  return TabularEstimator(load_shipped())


def _vmapped(name, seeds, queries):
  import numpy as np

  from nas_jax import discrete
  from nas_jax.estimators import TabularEstimator

  estimator = _setup()
  if name == 'nsga2':
    estimator = TabularEstimator(estimator.table, objectives=('params',))
  wall, again, trace = time_seeds(name, estimator, seeds, queries)
  distinct = float(np.mean(discrete.distinct_classes(estimator.space, trace.archs)))
  return dict(wall=wall, again=again, measured_seeds=seeds, distinct=distinct)


def _arrays():
  import numpy as np

  from nas_jax.spaces import decisions
  from nas_jax.strategies.discrete import base

  estimator = _setup()
  space = estimator.space
  every = np.asarray(list(space.enumerate()))
  rows = np.asarray(estimator.rows(every))
  values = estimator.metric_values()[rows, :, -1].tolist()
  ids = np.asarray(base.class_of(space, every)).tolist()
  radix = [int(r) for r in decisions.radix(space.options)]
  return space, values, ids, radix


def _random_python(space, values, ids, radix, queries, rng):
  """Uniform draws, redrawn while the class was queried; the class ids asked."""
  seen, asked = set(), []
  columns = len(values[0])
  for _ in range(queries):
    while True:
      index = sum(rng.randrange(n) * r for n, r in zip(space.options, radix))
      if ids[index] not in seen:
        break
    seen.add(ids[index])
    asked.append(ids[index])
    values[index][rng.randrange(columns)]  # the query
  return asked


def _local_search_python(space, values, ids, radix, queries, rng):
  """Best-improvement local search that skips queried classes (nas_jax's local_search)."""
  options, columns = space.options, len(values[0])
  moves = [(d, s) for d, n in enumerate(options) for s in range(1, n)]
  seen, asked = set(), []

  def query(arch):
    index = sum(a * r for a, r in zip(arch, radix))
    seen.add(ids[index])
    asked.append(ids[index])
    return values[index][rng.randrange(columns)]

  def fresh(arch):
    return ids[sum(a * r for a, r in zip(arch, radix))] not in seen

  while len(asked) < queries:
    while True:  # one random start of a class never queried
      current = [rng.randrange(n) for n in options]
      if fresh(current):
        break
    score = query(current)
    while len(asked) < queries:
      best, best_score = None, float('-inf')
      order = moves[:]
      rng.shuffle(order)
      for d, s in order:
        neighbour = list(current)
        neighbour[d] = (neighbour[d] + s) % options[d]
        if not fresh(neighbour):
          continue
        value = query(neighbour)
        if value > best_score:
          best, best_score = neighbour, value
        if len(asked) >= queries:
          break
      if best_score > score:
        current, score = best, best_score
      else:
        break
  return asked[:queries]


def _python(name, seeds, queries):
  import random

  space, values, ids, radix = _arrays()
  fn = {'random': _random_python, 'local_search': _local_search_python}[name]
  start = time.perf_counter()
  distinct = []
  for seed in range(seeds):
    asked = fn(space, values, ids, radix, queries, random.Random(seed))
    distinct.append(len(set(asked)))
  wall = time.perf_counter() - start
  return dict(wall=wall, again=None, measured_seeds=seeds, distinct=sum(distinct) / seeds)


def child(row, seeds, queries):
  name, _, form = row.partition(':')
  result = (_python if form == 'python' else _vmapped)(name, seeds, queries)
  result.update(device_info(), peak_rss_gib=peak_rss_gib())
  print(json.dumps(result))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', type=int, default=1_000)
  parser.add_argument('--queries', type=int, default=300)
  parser.add_argument('--python_seeds', type=int, default=50)
  parser.add_argument('--bananas_seeds', type=int, default=20)
  parser.add_argument('--child', default=None)
  parser.add_argument('--child_seeds', type=int, default=None)
  args = parser.parse_args()
  if args.child:
    child(args.child, args.child_seeds, args.queries)
    return
  plan = (
      ('random', args.seeds),
      ('random:python', args.python_seeds),
      ('local_search', args.seeds),
      ('local_search:python', args.python_seeds),
      ('nsga2', args.seeds),
      ('bananas', args.bananas_seeds),
  )
  results = run_seed_rows('benchmarks.dedup_search', plan, args.queries, args.seeds, timeout=3600)
  print(
      f'\nNo-repeat strategies, {args.seeds} seeds x {args.queries} queries over the shipped table'
  )
  print(provenance_line(results))
  print()
  print(
      '| row | seeds measured | distinct cells | wall s | again s | projected to all seeds s '
      '| µs/query | vs vmapped | peak RSS GiB |'
  )
  print('|---|---|---|---|---|---|---|---|---|')
  for row, r in results.items():
    per_query = r['wall'] / (r['measured_seeds'] * args.queries) * 1e6
    again = f'{r["again"]:.2f}' if r['again'] is not None else ''
    base = results.get(row.partition(':')[0], {}).get('projected')
    ratio = f"{r['projected'] / base:.2f}x" if base else ''
    print(
        f'| {row.replace(":", ", ")} | {r["measured_seeds"]} | {r["distinct"]:.1f} | '
        f'{r["wall"]:.2f} | {again} | {r["projected"]:.1f} | {per_query:.2f} | {ratio} | '
        f'{r["peak_rss_gib"]:.2f} |'
    )


if __name__ == '__main__':
  main()
