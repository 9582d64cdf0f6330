"""What early stopping by the median rule buys discrete search: regret at fixed seconds.

  python -m experiments.reports.early_stopping_report [--table=shipped] [--strategies=random,rea]
      [--signals=metric,sotl] [--epoch=1] [--warmup=10] [--quantile=0.5] [--seeds=50]
      [--queries=300] [--budgets=10,25,50,100] [--out=docs/early_stopping.md]

Each strategy of ``--strategies`` searches the table under NB201's protocol (a query reads
a cell's final validation accuracy at one of the table's seeds drawn at random and is
charged that member's train seconds), for ``--seeds`` seeds, plain and under
``early_stopping.MedianStopping`` for each signal of ``--signals``: every query trains to
``--epoch`` and finishes only if its signal there (``metric``: the validation accuracy;
``sotl``: minus the summed training losses) reaches the ``--quantile`` of every signal
read so far in its search, after ``--warmup`` queries that always finish. A stopped query
is told its epoch-k accuracy, is charged k epochs and cannot be the answer. Plain and
stopped runs of a seed share its key (so their first random asks are the same); the
plain runs are one vmapped program, the stopped ones ``discrete.run_python`` per seed
(the rule's history lives in Python).

The budgets are simulated seconds: ``--budgets`` counts them in queries' worth at the
table's mean train seconds per cell (so plain runs make about that many queries). Each
run makes ``--queries`` queries, which must cover the largest budget in every seed.
Reported per budget: the regret (the table's best seed-mean test accuracy minus the
incumbent's) as mean ± standard error over seeds with the incumbent's mean percentile;
the paired difference stopped - plain and the share of seeds where stopping is better,
tied or worse; the queries each run makes within the budget; the share of queries
stopped, and of the table's top-10 % cells (by test accuracy) asked that were stopped.

Writes the markdown report to ``--out`` and stdout. At the defaults on the shipped table
it takes a few minutes on a 2-core CPU: the stopped runs are a Python loop per seed.
"""

import time

from absl import flags

from experiments import cli

_TABLE = flags.DEFINE_string('table', 'shipped', "The table ('shipped' or a table file).")
_STRATEGIES = flags.DEFINE_list('strategies', ['random', 'rea'], 'Strategies to run.')
_SIGNALS = flags.DEFINE_list('signals', ['metric', 'sotl'], 'Early-stopping signals.')
_EPOCH = flags.DEFINE_integer('epoch', 1, 'The epoch the rule reads.', lower_bound=1)
_WARMUP = flags.DEFINE_integer('warmup', 10, 'Queries that always finish.', lower_bound=0)
_QUANTILE = flags.DEFINE_float('quantile', 0.5, 'The quantile to reach.', 0.0, 1.0)
_SEEDS = flags.DEFINE_integer('seeds', 50, 'Seeds per strategy and run.', lower_bound=1)
_QUERIES = flags.DEFINE_integer('queries', 300, 'Queries per search.', lower_bound=1)
_BUDGETS = flags.DEFINE_list(
    'budgets', ['10', '25', '50', '100'], "Budgets in queries' worth of mean train seconds."
)
_OUT = flags.DEFINE_string('out', 'docs/early_stopping.md', 'The markdown report.')

STRATEGIES = ('random', 'rea', 'local_search')


def _check_flags() -> list[float]:
  """The flag values that need no table; returns the budgets or exits with one line."""
  from nas_jax.estimators.early_stopping import SIGNALS

  for name in _STRATEGIES.value:
    if name not in STRATEGIES:
      cli.fail(f'unknown strategy {name!r} for --strategies; known: {", ".join(STRATEGIES)}')
  for name in _SIGNALS.value:
    if name not in SIGNALS:
      cli.fail(f'unknown signal {name!r} for --signals; known: {", ".join(SIGNALS)}')
  if not _STRATEGIES.value or not _SIGNALS.value:
    cli.fail('--strategies and --signals must name at least one each')
  try:
    budgets = [float(b) for b in _BUDGETS.value]
  except ValueError:
    cli.fail(f'--budgets must be numbers, got {",".join(_BUDGETS.value)}')
  if not budgets or any(b <= 0 for b in budgets):
    cli.fail(f'--budgets must be positive, got {",".join(_BUDGETS.value)}')
  return budgets


def main(argv):
  del argv
  budgets = _check_flags()
  import jax
  import numpy as np

  from nas_jax import discrete, tabular
  from nas_jax.estimators import TabularEstimator
  from nas_jax.estimators.early_stopping import EarlyStopped, MedianStopping
  from nas_jax.strategies import discrete as ds
  from nas_jax.util import atomic_write

  table = cli.run_or_exit(lambda: tabular.load(_TABLE.value))
  estimator = cli.run_or_exit(lambda: TabularEstimator(table))
  space = table.space
  n, q = _SEEDS.value, _QUERIES.value

  def rule(signal):
    return MedianStopping(_EPOCH.value, _WARMUP.value, _QUANTILE.value, signal)

  stopped_est = cli.run_or_exit(lambda: EarlyStopped(estimator, rule(_SIGNALS.value[0])))
  mean_query = float(np.nanmean(table.query_seconds()))
  seconds = [b * mean_query for b in budgets]
  truth = table.values('test_acc')
  top = truth >= np.nanquantile(truth, 0.9)
  keys = discrete.seed_keys(range(n))

  runs = []  # (strategy, label, trace, stopped share, top stopped share, wall)
  for name in _STRATEGIES.value:
    strategy = ds.get(name)
    start = time.perf_counter()
    plain = jax.tree.map(np.asarray, discrete.run_seeds(strategy, estimator, space, keys, q))
    runs.append((name, 'plain', plain, 0.0, 0.0, time.perf_counter() - start))
    for signal in _SIGNALS.value:
      start = time.perf_counter()
      traces, stopped = [], 0
      for i in range(n):
        est = stopped_est.with_rule(rule(signal))
        traces.append(discrete.run_python(strategy, est, space, keys[i], q)[1])
        stopped += est.stopped
      trace = jax.tree.map(lambda *xs: np.stack(xs), *traces)
      rows = np.asarray(estimator.rows(trace.archs))
      asked_top = top[rows]
      top_stopped = float((~trace.full & asked_top).sum() / max(asked_top.sum(), 1))
      wall = time.perf_counter() - start
      runs.append((name, f'median stop ({signal})', trace, stopped / (n * q), top_stopped, wall))
      print(f'{name}, {signal}: {n} seeds x {q} queries in {wall:.1f} s')
  for name, label, trace, *_ in runs:
    spent = np.cumsum(trace.cost, axis=-1)[..., -1]
    if spent.min() < max(seconds):
      cli.fail(
          f'{name} ({label}) spent {spent.min():.0f} s in its cheapest seed, under the largest '
          f'budget ({max(seconds):.0f} s): raise --queries'
      )

  k = _EPOCH.value
  out = [
      f'Table: {space.name} over {", ".join(space.primitives)}, {len(table)} cells, '
      f'{table.num_epochs} epochs; best seed-mean test accuracy {estimator.best_report:.4f}; '
      f"mean train seconds per cell {mean_query:.2f}. Each query reads a cell's final "
      'validation accuracy at a random seed; the incumbent is the best finished query by it, '
      'its regret the best test accuracy minus its seed-mean test accuracy.',
      '',
      f'**The rule**: train every query to epoch {k} of {table.num_epochs}; finish it only if '
      f'its signal there reaches the {_QUANTILE.value:g} quantile of every signal read so far '
      f'in the search (after {_WARMUP.value} queries that always finish). Signals: metric = the '
      f'epoch-{k} validation accuracy; sotl = minus the training losses summed over epochs '
      f"1..{k}. {n} seeds, {q} queries per run; plain and stopped runs share each seed's key.",
      '',
      "**Regret at a budget of simulated seconds** (in queries' worth of the mean cell): "
      'mean ± standard error over seeds (mean percentile of the incumbent; distinct cells queried); "stopped − plain" '
      'is the paired difference (negative: stopping is better); better / tied / worse is the '
      'share of seeds.',
      '',
      '| strategy | run | '
      + ' | '.join(f'{b:g} ({s:.0f} s)' for b, s in zip(budgets, seconds))
      + ' | queries made at the largest budget | stopped | top-10 % cells stopped |',
      '|---|---|' + '---|' * len(budgets) + '---|---|---|',
  ]
  regrets = {}
  for name, label, trace, share, top_share, _ in runs:
    rows = discrete.summarize(trace, estimator, seconds, unit='seconds')
    regret = [discrete.regret(estimator, discrete.at_budget(trace, s, 'seconds')) for s in seconds]
    regrets[name, label] = regret
    made = discrete.queries_within(trace, max(seconds), 'seconds').mean()
    cells = [
        f'{m:.4f} ± {se:.4f} ({row["percentile_mean"]:.1f}; {row["distinct_mean"]:.0f} cells)'
        for row, (m, se) in zip(rows, map(cli.mean_se, regret))
    ]
    stop_cells = '-' if label == 'plain' else f'{share:.2f} | {top_share:.2f}'
    out.append(
        f'| {name} | {label} | '
        + ' | '.join(cells)
        + f' | {made:.0f} | '
        + (stop_cells if label != 'plain' else '- | -')
        + ' |'
    )
    if label != 'plain':
      diffs, shares = cli.paired(regrets[name, 'plain'], regret)
      out.append(f'| {name} | {label}: stopped − plain | ' + ' | '.join(diffs) + ' | | | |')
      out.append(f'| {name} | {label}: better / tied / worse | ' + ' | '.join(shares) + ' | | | |')
  out += [
      '',
      'Wall seconds (compiles included): '
      + ', '.join(f'{name} {label} {wall:.1f}' for name, label, _, _, _, wall in runs)
      + '.',
  ]
  text = '\n'.join(out) + '\n'
  atomic_write(_OUT.value, text)
  print(text)


if __name__ == '__main__':
  cli.run(main)
