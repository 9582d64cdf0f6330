"""A 1,000-seed sweep of each discrete strategy on a NAS-Bench-Graph table, in one run.

  python -m benchmarks.published_sweep [--table=nas-bench-graph:cora] [--seeds=1000]
      [--queries=200] [--bananas_seeds=20]

Each strategy runs ``--seeds`` searches of ``--queries`` queries as one compiled, vmapped
program (``nas_jax.discrete.run_seeds``) against the table read from the installed
``nas-bench-graph`` package (reward ``val_acc``), in a fresh process with the persistent
compilation cache off. "read s" is the table's load (the package's pickle through the
restricted unpickler), "wall s" the first call with its compile, "again s" a second call of
the compiled program; the incumbent's test accuracy after the last query is printed as a
check that the sweep searched (mean over seeds; none for NSGA-II, which has a front, not an
incumbent). NSGA-II searches ``val_acc`` against
``latency`` (20 per generation). BANANAS (one-hot encoding, batch 10; each ask fits an
ensemble of 5 MLPs, which dominates) runs ``--bananas_seeds`` seeds only and its wall is
projected to ``--seeds``. Hyperband is not timed: the packaged tables hold one fidelity
(the final epoch), so it has no cheaper rung to stop at.

Needs ``pip install nas-bench-graph==1.4.0`` (in ``make setup``).
"""

import argparse
import json
import time

from benchmarks.common import device_info, peak_rss_gib, provenance_line, run_seed_rows, time_seeds

STRATEGIES = ('random', 'rea', 'local_search', 'reinforce', 'nsga2', 'bananas')


def child(name: str, table_name: str, seeds: int, queries: int) -> dict:
  import numpy as np

  from nas_jax import discrete, tabular
  from nas_jax.estimators import TabularEstimator

  start = time.perf_counter()
  table = tabular.load(table_name)
  objectives = ('latency',) if name == 'nsga2' else ()
  estimator = TabularEstimator(table, metric='val_acc', objectives=objectives)
  read = time.perf_counter() - start
  settings = dict(encoding='onehot') if name == 'bananas' else {}
  wall, again, trace = time_seeds(name, estimator, seeds, queries, **settings)
  # NSGA-II's scores hold one column per objective: it has no single incumbent
  report = discrete.at_budget(trace, queries) if name != 'nsga2' else np.full(seeds, np.nan)
  return dict(
      read=read,
      wall=wall,
      again=again,
      measured_seeds=seeds,
      distinct=float(np.mean(discrete.distinct_classes(estimator.space, trace.archs))),
      final=float(np.nanmean(report)),
  )


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--table', default='nas-bench-graph:cora')
  parser.add_argument('--seeds', type=int, default=1_000)
  parser.add_argument('--queries', type=int, default=200)
  parser.add_argument('--bananas_seeds', type=int, default=20)
  parser.add_argument('--strategies', default=','.join(STRATEGIES))
  parser.add_argument('--child', default=None)
  parser.add_argument('--child_seeds', type=int, default=None)
  args = parser.parse_args()
  if args.child:
    result = child(args.child, args.table, args.child_seeds, args.queries)
    result.update(device_info(), peak_rss_gib=peak_rss_gib())
    print(json.dumps(result))
    return
  names = [n for n in args.strategies.split(',') if n]
  for name in names:
    if name not in STRATEGIES:
      parser.error(f'unknown strategy {name!r}; known: {", ".join(STRATEGIES)}')
  plan = [(n, args.bananas_seeds if n == 'bananas' else args.seeds) for n in names]
  results = run_seed_rows(
      'benchmarks.published_sweep', plan, args.queries, args.seeds, 3600, [f'--table={args.table}']
  )
  print(f'\n{args.seeds} seeds x {args.queries} queries of each strategy on {args.table}')
  print(provenance_line(results))
  print()
  print(
      '| strategy | seeds measured | read s | wall s | again s | projected to all seeds s '
      '| µs/query | distinct cells | final test acc | peak RSS GiB |'
  )
  print('|---|---|---|---|---|---|---|---|---|---|')
  for row, r in results.items():
    per_query = r['wall'] / (r['measured_seeds'] * args.queries) * 1e6
    final = '' if r['final'] != r['final'] else f'{r["final"]:.4f}'  # NaN: NSGA-II
    print(
        f'| {row} | {r["measured_seeds"]} | {r["read"]:.2f} | {r["wall"]:.2f} | '
        f'{r["again"]:.2f} | {r["projected"]:.1f} | {per_query:.1f} | {r["distinct"]:.1f} | '
        f'{final} | {r["peak_rss_gib"]:.2f} |'
    )


if __name__ == '__main__':
  main()
