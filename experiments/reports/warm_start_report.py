"""What a zero-cost-proxy warm start buys discrete search: regret at fixed budgets, many seeds.

  python -m experiments.reports.warm_start_report [--table=shipped] [--proxies=synflow,naswot]
      [--rank_by=synflow] [--strategies=rea,local_search] [--seeds=50] [--budget=100]
      [--budgets=10,25,50,100] [--warm=5] [--batch=64] [--bananas_budget=50]
      [--out=docs/warm_start.md]

Every cell of the table is scored at initialization by ``proxies.ProxyEstimator`` (the
table protocol's arch network, seed-0 weights, one batch of ``--batch`` training images;
all of ``--proxies`` in one compiled program). The ``--warm`` cells that ``--rank_by`` (by
default the first of ``--proxies``) ranks best are the warm start.

Each strategy of ``--strategies`` then searches the table under NB201's protocol (a query
reads a cell's final validation accuracy at one of the table's seeds drawn at random and
charges that member's train seconds; the answer after a budget is the best cell by
validation accuracy so far, reported by its seed-mean test accuracy), for ``--seeds`` seeds
as one vmapped program (``nas_jax.discrete.run_seeds``), twice: plain, and as
``ds.WarmStart(strategy, warm cells)``, whose first ``--warm`` queries are the warm cells
(they count against the budget). Both runs of a seed share its key, so after the warm
cells the two ask from the same random stream, and the comparison is paired per seed.
Regularized evolution keeps its defaults (population 10, tournament 3; ``--warm`` must not
exceed the population: the warm cells take the places of the random members); local
search runs with ``num_init = --warm`` in both runs, so the two differ only in which cells
its first sweep starts from (random ones, or the proxy's).

Reported per budget of ``--budgets``: the regret (the table's best seed-mean test accuracy
minus the incumbent's) as mean ± standard error over seeds and the incumbent's mean
percentile; the paired difference warm - plain; the share of seeds where the warm start is
better, tied (the same test accuracy) or worse; the share of seeds whose warm run still
answers with a warm cell; and, as the reference of what the warm start hands over, the
regret of the best of the warm cells by test accuracy. The cost of the warm start is the
measured proxy seconds per cell times the cells scored, next to the simulated train
seconds of the table's queries.

BANANAS with proxy features: BANANAS (``--bananas`` overrides its settings) searches for
``--bananas_budget`` queries, 10 per ask, for the same seeds, plain and with every proxy
of ``--proxies`` as a predictor input next to the path encoding (each proxy's rank among
the cells, scaled to [0, 1]: ``bananas.Features.from_rows``); regret by queries and the
paired difference.

Writes the markdown report to ``--out`` and stdout. At the defaults on the shipped table
(1,236 cells) it takes under a minute on a 2-core CPU (35-56 s): the proxies' compile (8-20 s,
less from a warm compilation cache) and scoring (17 s, 0.014 s per cell) dominate; the four
50-seed searches take 1-8 s.
"""

import time
from typing import NamedTuple

from absl import flags

from experiments import cli

_TABLE = flags.DEFINE_string('table', 'shipped', "The table ('shipped' or a table file).")
_PROXIES = flags.DEFINE_list(
    'proxies', ['synflow', 'naswot'], 'Zero-cost proxies to score every cell with.'
)
_RANK_BY = flags.DEFINE_string(
    'rank_by', None, 'The proxy that picks the warm cells (default: the first of --proxies).'
)
_STRATEGIES = flags.DEFINE_list('strategies', ['rea', 'local_search'], 'Strategies to run.')
_SEEDS = flags.DEFINE_integer('seeds', 50, 'Seeds per strategy and run.', lower_bound=1)
_BUDGET = flags.DEFINE_integer('budget', 100, 'Queries per search.', lower_bound=1)
_BUDGETS = flags.DEFINE_list(
    'budgets', ['10', '25', '50', '100'], 'Query budgets to report (each <= --budget).'
)
_WARM = flags.DEFINE_integer('warm', 5, 'Warm cells: the proxy top-k.', lower_bound=1)
_BATCH = flags.DEFINE_integer('batch', 64, 'The proxies minibatch.', lower_bound=2)
_BANANAS_BUDGET = flags.DEFINE_integer(
    'bananas_budget', 50, 'Queries per BANANAS search (0: no BANANAS rows).', lower_bound=0
)
_BANANAS = flags.DEFINE_string(
    'bananas', '', 'BANANAS settings as name=value,... (smoke tests shrink its ensemble).'
)
_OUT = flags.DEFINE_string('out', 'docs/warm_start.md', 'The markdown report.')

STRATEGIES = ('random', 'rea', 'local_search')  # those that ask their own first cells


def _check_flags():
  """The flag values that need no table; returns ``(budgets, rank_by)`` or exits with one line."""
  from nas_jax.estimators import proxies
  from nas_jax.registry import unknown

  for name in _STRATEGIES.value:
    if name not in STRATEGIES:
      cli.fail(f'unknown strategy {name!r} for --strategies; known: {", ".join(STRATEGIES)}')
  if not _STRATEGIES.value:
    cli.fail('--strategies is empty')
  if not _PROXIES.value:
    cli.fail('--proxies is empty')
  for name in _PROXIES.value:
    if name not in proxies.PROXIES:
      cli.fail('--proxies: ' + unknown('proxy', name, proxies.PROXIES))
  rank_by = _RANK_BY.value or _PROXIES.value[0]
  if rank_by not in _PROXIES.value:
    cli.fail(f'--rank_by={rank_by} is not one of --proxies ({",".join(_PROXIES.value)})')
  try:
    budgets = [int(b) for b in _BUDGETS.value]
  except ValueError:
    cli.fail(f'--budgets must be integers, got {",".join(_BUDGETS.value)}')
  if not budgets or any(not 1 <= b <= _BUDGET.value for b in budgets):
    cli.fail(f'--budgets must be in 1..--budget ({_BUDGET.value}), got {",".join(_BUDGETS.value)}')
  if _WARM.value > _BUDGET.value:
    cli.fail(f'--warm ({_WARM.value}) must not exceed --budget ({_BUDGET.value})')
  from nas_jax.strategies import discrete as ds

  settings = _bananas_settings()
  cli.run_or_exit(lambda: ds.get('bananas', **settings))  # a bad setting: one line, now
  return budgets, rank_by


def _strategy(name, warm):
  """The strategy both runs share (the module docstring)."""
  from nas_jax.strategies import discrete as ds

  if name == 'local_search':
    return ds.get('local_search', num_init=warm)
  strategy = ds.get(name)
  if name == 'rea' and warm > strategy.population:
    cli.fail(f'--warm ({warm}) must not exceed REA population ({strategy.population})')
  return strategy


def _bananas_settings() -> dict:
  """``--bananas`` as keyword settings (integers and floats parsed, never evaluated)."""
  settings = {}
  for item in filter(None, _BANANAS.value.split(',')):
    name, sep, text = item.partition('=')
    if not sep:
      cli.fail(f'--bananas takes name=value items, got {item!r}')
    try:
      settings[name.strip()] = int(text)
    except ValueError:
      try:
        settings[name.strip()] = float(text)
      except ValueError:
        settings[name.strip()] = text.strip()
  return settings


def _bananas_runs(table, estimator, values, names, keys) -> list[str]:
  """BANANAS plain and with every proxy as a predictor feature (ranked, ``bananas.Features``):
  the report's rows, regret by queries at a quarter, half and all of ``--bananas_budget``."""
  import jax
  import numpy as np

  from nas_jax import discrete
  from nas_jax.strategies import discrete as ds
  from nas_jax.strategies.discrete import bananas

  q = _BANANAS_BUDGET.value
  if not q:
    return []
  settings = _bananas_settings()
  plain = cli.run_or_exit(lambda: ds.get('bananas', **settings))
  batch = 10 if q % 10 == 0 else 1
  features = bananas.Features.from_rows(table, values, names)
  budgets = sorted({max(batch, q // 4 // batch * batch), max(batch, q // 2 // batch * batch), q})
  rows, regrets, walls = [], {}, []
  for label, strategy in (('bananas', plain), ('bananas+proxy features', plain)):
    if label != 'bananas':
      strategy = ds.get('bananas', features=features, **settings)
    start = time.perf_counter()
    trace = jax.tree.map(
        np.asarray, discrete.run_seeds(strategy, estimator, table.space, keys, q, batch=batch)
    )
    walls.append(time.perf_counter() - start)
    print(f'{label}: {len(keys)} seeds x {q} queries in {walls[-1]:.1f} s', flush=True)
    summary = discrete.summarize(trace, estimator, budgets)
    regrets[label] = [discrete.regret(estimator, discrete.at_budget(trace, b)) for b in budgets]
    cells = [
        f'{m:.4f} ± {se:.4f} ({row["percentile_mean"]:.1f}; {row["distinct_mean"]:.0f} cells)'
        for row, (m, se) in zip(summary, map(cli.mean_se, regrets[label]))
    ]
    rows.append(f'| {label} | {len(keys)} | ' + ' | '.join(cells) + ' |')
  diffs, _ = cli.paired(regrets['bananas'], regrets['bananas+proxy features'])
  rows.append(f'| features − plain | {len(keys)} | ' + ' | '.join(diffs) + ' |')
  head = [
      '',
      f"**BANANAS with proxy features**: the predictor's input is the path encoding, then "
      f'each of {", ".join(names)} as its rank among the cells scaled to [0, 1] '
      '(`bananas.Features.from_rows`); otherwise the same BANANAS'
      + (f' ({_BANANAS.value})' if _BANANAS.value else " (the paper's defaults)")
      + f", asking {batch} per round, the same seeds' keys. Regret by queries, mean ± "
      'standard error (mean percentile; distinct cells queried); "features − plain" is the paired difference '
      '(negative: the features help).',
      '',
      '| run | seeds | ' + ' | '.join(f'{b} queries' for b in budgets) + ' |',
      '|---|---|' + '---|' * len(budgets),
  ]
  tail = ['', 'Wall seconds (compiles included): ' + ', '.join(f'{w:.1f}' for w in walls) + '.']
  return head + rows + tail


class _Proxies(NamedTuple):
  """Every cell's proxy scores and what computing them took."""

  names: tuple  # the proxies, in --proxies order
  values: object  # (cells, proxies) float64
  seconds: float  # scoring every cell, compile excluded
  compile_seconds: float


def _score_proxies(table, names, batch) -> _Proxies:
  """Every cell of ``table`` scored by the ``names`` proxies as one compiled program."""
  import numpy as np

  from nas_jax.estimators import proxies
  from nas_jax.tabular.protocol import Protocol

  protocol = Protocol.from_dict(table.metadata['protocol'])
  proxy = cli.run_or_exit(
      lambda: proxies.ProxyEstimator(table.space, protocol, names, batch=batch, seed=0)
  )
  start = time.perf_counter()
  proxy(table.archs[:1])  # the compile, outside the per-cell timing
  compile_seconds = time.perf_counter() - start
  start = time.perf_counter()
  proxy(table.archs)
  proxy_seconds = time.perf_counter() - start
  values = proxy.last_values.astype(np.float64)  # (cells, proxies)
  print(f'proxies: {len(table)} cells in {proxy_seconds:.1f} s (+ {compile_seconds:.1f} s compile)')
  return _Proxies(names, values, proxy_seconds, compile_seconds)


def _warm_rows(table, scores, rank_by, k):
  """The ``k`` cells ``rank_by`` scores best: their table rows and their archs."""
  import numpy as np

  column = scores.values[:, scores.names.index(rank_by)]
  key = np.where(np.isfinite(column), column, -np.inf)  # an undefined score ranks last
  top = np.argsort(-key, kind='stable')[:k]
  warm = tuple(tuple(int(a) for a in table.archs[r]) for r in top)
  return top, warm


def _searches(strategies, estimator, space, keys, budget, warm, k) -> list:
  """Each strategy plain and warm-started on the same keys: ``(name, plain, warmed, wall)``."""
  import jax
  import numpy as np

  from nas_jax import discrete
  from nas_jax.strategies import discrete as ds

  n = len(keys)
  results = []
  for name, strategy in strategies:
    start = time.perf_counter()
    plain = jax.tree.map(np.asarray, discrete.run_seeds(strategy, estimator, space, keys, budget))
    warmed = jax.tree.map(
        np.asarray,
        discrete.run_seeds(ds.WarmStart(strategy, warm), estimator, space, keys, budget),
    )
    wall = time.perf_counter() - start
    if not (warmed.archs[:, :k] == np.asarray(warm)[None]).all():
      raise AssertionError(f'{name}+warm: the first {k} queries are not the warm cells')
    results.append((name, plain, warmed, wall))
    print(f'{name}: {n} seeds x {budget} queries, plain and warm, in {wall:.1f} s')
  return results


def _intro(table, estimator, scores, batch, budgets) -> list[str]:
  """The table's summary, the proxies' paragraph and the warm start's cost."""
  import numpy as np

  from nas_jax.estimators import ranking

  space = table.space
  names = scores.names
  truth = table.values('test_acc')
  per_cell = scores.seconds / len(table)
  mean_query = float(np.nanmean(table.query_seconds()))
  proxy_total = per_cell * len(table)
  rho = {m: ranking.correlations(scores.values[:, j], truth) for j, m in enumerate(names)}
  return [
      f'Table: {space.name} over {", ".join(space.primitives)}, {len(table)} cells; best '
      f"seed-mean test accuracy {estimator.best_report:.4f}. NB201's protocol: each query reads "
      "a cell's final validation accuracy at a random seed of the table; the incumbent is the "
      'best cell by it so far, its regret the best test accuracy minus its seed-mean test '
      'accuracy.',
      '',
      f'**Proxies** ({", ".join(names)}; batch {batch}, seed-0 weights, the protocol\'s '
      f'arch network): every cell scored in {scores.seconds:.1f} s, {per_cell:.4f} s per cell '
      f'measured on this machine (after a {scores.compile_seconds:.1f} s compile). Against the '
      'seed-mean test accuracy: '
      + '; '.join(
          f'{m} Spearman ρ {c["spearman"]:.3f}, top-10 % {c["precision"]:.2f}'
          for m, c in rho.items()
      )
      + '.',
      '',
      f'**Cost.** The warm start costs {per_cell:.4f} s × {len(table)} cells = '
      f"{proxy_total:.1f} s of proxy compute ({proxy_total / mean_query:.1f} queries' worth), "
      f"against {mean_query:.2f} simulated train seconds per table query (the table's mean): "
      + ', '.join(f'{b} queries ≈ {b * mean_query:.0f} s' for b in budgets)
      + '.',
  ]


def _warm_table(table, scores, rank_by, top, warm, k) -> list[str]:
  """The warm cells in asking order with their proxy scores and table accuracies."""
  space, names = table.space, scores.names
  truth = table.values('test_acc')
  val = table.values('val_acc')
  percentiles = table.percentiles('test_acc')
  val_percentiles = table.percentiles('val_acc')
  out = [
      '',
      f'**The warm cells**: the {k} best by {rank_by}, asked in this order as the first {k} '
      'queries of every warm run (checked in every seed).',
      '',
      '| rank | cell | ' + ' | '.join(names) + ' | val acc (percentile) | test acc (percentile) |',
      '|---|---|' + '---|' * len(names) + '---|---|',
  ]
  for i, r in enumerate(top):
    text = space.to_text(space.to_genotype(warm[i])).replace('|', '\\|')  # a table's pipes
    out.append(
        f'| {i + 1} | `{text}` | '
        + ' | '.join(f'{scores.values[r, j]:.4g}' for j in range(len(names)))
        + f' | {val[r]:.4f} ({val_percentiles[r]:.1f}) | {truth[r]:.4f} ({percentiles[r]:.1f}) |'
    )
  return out


def _strategy_rows(name, plain, warmed, estimator, budgets, n, k) -> list[str]:
  """One strategy's rows: plain and warm regret, their paired difference and shares."""
  from nas_jax import discrete

  out, regrets = [], {}
  for label, trace in ((name, plain), (f'{name}+warm', warmed)):
    rows = discrete.summarize(trace, estimator, budgets)
    regrets[label] = [discrete.regret(estimator, discrete.at_budget(trace, b)) for b in budgets]
    cells = []
    for row, regret in zip(rows, regrets[label]):
      m, se = cli.mean_se(regret)
      cells.append(
          f'{m:.4f} ± {se:.4f} ({row["percentile_mean"]:.1f}; {row["distinct_mean"]:.0f} cells)'
      )
    out.append(f'| {label} | {n} | ' + ' | '.join(cells) + ' |')
  diffs, shares = cli.paired(regrets[name], regrets[f'{name}+warm'])
  out.append(f'| {name}: warm − plain | {n} | ' + ' | '.join(diffs) + ' |')
  out.append(f'| {name}: warm better / tied / worse | {n} | ' + ' | '.join(shares) + ' |')
  held = [f'{(discrete.budget_index(warmed, b) < k).mean():.2f}' for b in budgets]
  out.append(f'| {name}+warm: incumbent is a warm cell | {n} | ' + ' | '.join(held) + ' |')
  return out


def _regret_table(table, estimator, results, budgets, top, n, k) -> list[str]:
  """Regret by queries for every strategy, the proxy top-k alone and the wall seconds."""
  import numpy as np

  truth = table.values('test_acc')
  percentiles = table.percentiles('test_acc')
  top_alone = estimator.best_report - float(np.nanmax(truth[top]))
  out = [
      '',
      '**Regret by queries** (the warm cells count as queries): mean ± standard error over '
      'seeds (the mean percentile of the incumbent; the distinct cells queried); "warm − plain" is the paired difference '
      '(negative: the warm start is better); better / tied / worse is the share of seeds where '
      "the warm run's incumbent tests higher / the same / lower than the plain run's; "
      '"incumbent is a warm cell" is the share of seeds whose warm run still answers with one '
      'of the warm cells.',
      '',
      '| run | seeds | ' + ' | '.join(f'{b} queries' for b in budgets) + ' |',
      '|---|---|' + '---|' * len(budgets),
  ]
  for name, plain, warmed, _ in results:
    out += _strategy_rows(name, plain, warmed, estimator, budgets, n, k)
  best_top = top[int(np.nanargmax(truth[top]))]
  out.append(
      f'| proxy top-{k} alone (best test accuracy of the warm cells, percentile '
      f'{percentiles[best_top]:.1f}) | - | '
      + ' | '.join(f'{top_alone:.4f}' if b >= k else '-' for b in budgets)
      + ' |'
  )
  return out + [
      '',
      'Wall seconds (both runs, compiles included): '
      + ', '.join(f'{name} {wall:.1f}' for name, _, _, wall in results)
      + '.',
  ]


def main(argv):
  del argv
  budgets, rank_by = _check_flags()
  from nas_jax import discrete, tabular
  from nas_jax.estimators import TabularEstimator
  from nas_jax.util import atomic_write

  table = cli.run_or_exit(lambda: tabular.load(_TABLE.value))
  estimator = cli.run_or_exit(lambda: TabularEstimator(table))
  k, n = _WARM.value, _SEEDS.value
  strategies = [(name, _strategy(name, k)) for name in _STRATEGIES.value]
  if 'protocol' not in table.metadata:
    cli.fail(f'the table {_TABLE.value} records no protocol: the proxies need its network')
  scores = _score_proxies(table, tuple(_PROXIES.value), _BATCH.value)
  top, warm = _warm_rows(table, scores, rank_by, k)
  keys = discrete.seed_keys(range(n))
  results = _searches(strategies, estimator, table.space, keys, _BUDGET.value, warm, k)
  bananas_rows = _bananas_runs(table, estimator, scores.values, scores.names, keys)
  out = _intro(table, estimator, scores, _BATCH.value, budgets)
  out += _warm_table(table, scores, rank_by, top, warm, k)
  out += _regret_table(table, estimator, results, budgets, top, n, k)
  out += bananas_rows
  text = '\n'.join(out) + '\n'
  atomic_write(_OUT.value, text)
  print(text)


if __name__ == '__main__':
  cli.run(main)
