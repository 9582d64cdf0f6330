"""Every discrete strategy x many seeds over a table: regret and percentile at fixed budgets.

  python -m experiments.reports.discrete_report [--table=shipped] [--seeds=100] [--bananas_seeds=50]
      [--ground_truth=runs/ground_truth_long/table_rows.json] [--out=docs/discrete_report.md]
      [--figures=docs/figures]

NB201's protocol over the table: each query reads a cell's validation accuracy after
the last epoch at one of the table's seeds drawn at random and charges that member's
train seconds; the answer after a budget is the cell with the best validation accuracy
so far, reported by its seed-mean test accuracy, its percentile among the table's cells
and its regret to the best cell. Every strategy runs with its paper's defaults, its
seeds as one vmapped program (``nas_jax.discrete.run_seeds``):

* by queries: random, REA, local search, REINFORCE, BANANAS;
* by simulated seconds: the same and Hyperband (whose low-fidelity queries cost less);
* multi-objective: NSGA-II against random search, test accuracy against params, as the
  hypervolume of the cells found over the table's true front's.

Every row counts the distinct cells (isomorphism classes) the queries paid for, since the
strategies' repeat policies differ: random search, local search and BANANAS never repeat a
cell; REA and REINFORCE do, as their references do; NSGA-II eliminates duplicates within a
generation and against its population (pymoo's default) but may breed a cell again later.
Each strategy's regret is set against random search's as a difference with its standard
error, and called a tie when it is within two standard errors or within the table's own
noise (the mean standard error of a cell's seed-mean test accuracy, printed with the
seed-against-seed rank agreement: the noise ceiling);
* with ``--ground_truth`` (``experiments.compare --table``'s ``table_rows.json``), the differentiable
  strategies' derived cells looked up in this table, next to them.

Writes the markdown report to ``--out`` and stdout, ``discrete_regret.png`` (mean regret
against the simulated budget) and ``discrete_pareto.png`` to ``--figures``. With
``--table=FILE`` (e.g. a NATS-Bench table converted by ``nas_jax.tabular.nats``) the
same report runs on that table.
"""

import json
import os
import time
from typing import NamedTuple

from absl import flags

from experiments import cli

_TABLE = flags.DEFINE_string('table', 'shipped', "The table ('shipped' or a table file).")
_SEEDS = flags.DEFINE_integer('seeds', 100, 'Seeds per discrete strategy.', lower_bound=1)
_BANANAS_SEEDS = flags.DEFINE_integer('bananas_seeds', 50, 'Seeds for BANANAS.', lower_bound=1)
_QUERIES = flags.DEFINE_list('queries', ['50', '100', '300'], 'Query budgets.')
_GROUND = flags.DEFINE_string(
    'ground_truth', None, 'The table_rows.json of a compare --table run, to include.'
)
_OUT = flags.DEFINE_string('out', 'docs/discrete_report.md', 'The markdown report.')
_FIGURES = flags.DEFINE_string('figures', 'docs/figures', 'Where the PNGs go.')

BY_QUERIES = ('random', 'rea', 'local_search', 'reinforce', 'bananas')


class _Runs(NamedTuple):
  """The single-objective searches: table rows, per-seed regrets and regret curves."""

  by_queries: list  # markdown rows of the by-queries table
  regrets: dict  # name -> per budget, per-seed regrets
  by_seconds: list  # (name, seeds, summarize rows, wall, usable budgets)
  curves: dict  # name -> (seconds grid, mean regret)


class _MultiObjective(NamedTuple):
  """NSGA-II against random search: the report's lines, the estimator and seed traces."""

  lines: list
  estimator: object
  nsga_trace: object


def _settings(name, max_queries):
  return {'bananas': dict(max_queries=max_queries)}.get(name, {})


def _header(table, estimator, summary, mean_cost, noise) -> list[str]:
  """The table's summary line and the noise-ceiling paragraph."""
  space = estimator.space
  return [
      f'Table: {space.name} space over {", ".join(space.primitives)}; {len(table)} cells, '
      f'{table.metadata.get("members_measured")}/{table.metadata.get("members_total")} '
      f'members measured; best test accuracy {estimator.best_report:.4f}; one random '
      f'architecture averages {summary["mean"]:.4f} (percentile {summary["percentile"]:.1f}). '
      f'A query costs {mean_cost:.1f} simulated seconds on average.',
      '',
      f'**Noise ceiling.** The two seeds rank the cells with Kendall τ '
      f'{noise.get("val_acc_tau", float("nan")):.2f} on validation accuracy (what the search '
      f'reads) and {noise.get("test_acc_tau", float("nan")):.2f} on test accuracy (Spearman ρ '
      f'{noise.get("val_acc_rho", float("nan")):.2f} and '
      f'{noise.get("test_acc_rho", float("nan")):.2f}); a cell\'s seed-mean test accuracy '
      f'carries a standard error of {noise["cell_se"]:.4f} on average. A regret difference '
      "below that is inside the table's noise and is called a tie.",
  ]


def _run_strategies(estimator, seeds, bananas_seeds, budgets, seconds_budgets, fine) -> _Runs:
  """Every strategy of ``BY_QUERIES`` and Hyperband over its seeds, as one program each."""
  import jax
  import numpy as np

  from nas_jax import discrete
  from nas_jax.strategies import discrete as ds

  space = estimator.space
  q = max(budgets)
  runs = _Runs([], {}, [], {})
  for name in BY_QUERIES + ('hyperband',):
    n = bananas_seeds if name == 'bananas' else seeds
    strategy = ds.get(name, **_settings(name, q))
    batch = 10 if name == 'bananas' else 1
    # enough queries to spend the largest budget in simulated seconds too (Hyperband's
    # fidelities cost less); BANANAS, whose ensemble fits over its whole history, stops at q
    queries = {'hyperband': 3 * q, 'bananas': q}.get(name, 2 * q)
    queries = -(-queries // batch) * batch  # whole asks
    start = time.perf_counter()
    trace = discrete.run_seeds(
        strategy, estimator, space, discrete.seed_keys(range(n)), queries, batch
    )
    trace = jax.tree.map(np.asarray, trace)
    wall = time.perf_counter() - start
    if name != 'hyperband':
      runs.by_queries.append(
          cli.summary_row(name, n, discrete.summarize(trace, estimator, budgets), wall)
      )
      runs.regrets[name] = [
          discrete.regret(estimator, discrete.at_budget(trace, b)) for b in budgets
      ]
    spent = np.cumsum(trace.cost, -1)[..., -1].min()  # what the cheapest seed spent
    usable = [b for b in seconds_budgets if b <= spent]
    runs.by_seconds.append(
        (name, n, discrete.summarize(trace, estimator, usable, 'seconds'), wall, usable)
    )
    grid = fine[fine <= spent]
    runs.curves[name] = (
        grid,
        [
            np.nanmean(discrete.regret(estimator, discrete.at_budget(trace, b, 'seconds')))
            for b in grid
        ],
    )
    print(f'{name}: {n} seeds x {queries} queries in {wall:.1f} s', flush=True)
  return runs


def _by_queries(budgets, rows) -> list[str]:
  """The by-queries table: its paragraph, header and the strategies' ``rows``."""
  return [
      '',
      '**By queries.** Each cell: test accuracy of the incumbent (mean ± std over seeds) / '
      'its percentile among the cells / its regret to the best / the distinct cells queried '
      '(mean over seeds).',
      '',
      '| strategy | seeds | ' + ' | '.join(f'{b} queries' for b in budgets) + ' | wall s |',
      '|---|---|' + '---|' * len(budgets) + '---|',
  ] + rows


def _against_random(regrets, budgets, cell_se) -> list[str]:
  """Each strategy's regret against random search's, by queries."""
  return [
      '',
      '**Against random search** (by queries): the mean regret difference from random '
      "search's ± its standard error; a tie within two standard errors or within the "
      "table's noise.",
      '',
  ] + cli.against_random_table(regrets, budgets, cell_se)


def _ground_truth(path, table, estimator) -> list[str]:
  """The differentiable strategies' derived cells of ``path`` looked up in ``table``."""
  import numpy as np

  from nas_jax import discrete

  with open(path) as f:
    rows = json.load(f)
  by_strategy = {}
  for r in rows:
    if r.get('genotype') and r['strategy'] != 'random':  # its own random row is above
      by_strategy.setdefault(r['strategy'], []).append(r['genotype'])
  ground = []
  for name, genotypes in sorted(by_strategy.items()):
    cells = [estimator.space.load_genotype(g) for g in genotypes]
    report = np.asarray([table.query(c, 'test_acc') for c in cells])
    pct = np.asarray([table.percentile(c) for c in cells])
    ground.append(
        f'| {name} | {len(cells)} | {np.mean(report):.4f} ± {np.std(report):.4f} / '
        f'{np.mean(pct):.1f} / {np.mean(discrete.regret(estimator, report)):.4f} |'
    )
  return [
      '',
      f"**Differentiable strategies** (`--ground_truth={path}`): each seed's derived "
      'cell looked up in the same table; test accuracy / percentile / regret.',
      '',
      '| strategy | seeds | derived cell |',
      '|---|---|---|',
  ] + ground


def _by_seconds(by_seconds, seconds_budgets) -> list[str]:
  """The by-simulated-seconds table; a budget a strategy did not reach reads ``-``."""
  out = [
      '',
      "**By simulated seconds** (the table's train seconds; Hyperband pays for the epochs "
      'it reads).',
      '',
      '| strategy | seeds | ' + ' | '.join(f'{b:.0f} s' for b in seconds_budgets) + ' | wall s |',
      '|---|---|' + '---|' * len(seconds_budgets) + '---|',
  ]
  for name, n, rows, wall, usable in by_seconds:
    line = cli.summary_row(name, n, rows, wall)
    if len(usable) < len(seconds_budgets):
      line = line.replace(
          f' | {wall:.1f} |', ' | -' * (len(seconds_budgets) - len(usable)) + f' | {wall:.1f} |'
      )
    out.append(line)
  return out


def _multi_objective(table, space, seeds, budgets) -> _MultiObjective:
  """NSGA-II (two elimination policies) and random search on test accuracy against params."""
  import jax
  import numpy as np

  from nas_jax import discrete
  from nas_jax.estimators import TabularEstimator
  from nas_jax.strategies import discrete as ds

  q = max(budgets)
  mo = TabularEstimator(table, metric='test_acc', seed='mean', objectives=('params',))
  nsga = ds.get('nsga2', population=20)
  hv, distinct = {}, {}
  history = ds.get('nsga2', population=20, eliminate='history')
  for name, strategy, batch in (
      ('nsga2', nsga, 20),
      ('nsga2, eliminate=history', history, 20),
      ('random', ds.get('random'), 1),
  ):
    trace = discrete.run_seeds(
        strategy, mo, space, discrete.seed_keys(range(seeds)), -(-q // batch) * batch, batch
    )
    hv[name] = [discrete.hypervolume_ratio(trace.archs, mo, b) for b in budgets]
    distinct[name] = [discrete.distinct_classes(space, trace.archs, b) for b in budgets]
    if name == 'nsga2':
      nsga_trace = jax.tree.map(np.asarray, trace)
  return _MultiObjective(_multi_objective_lines(hv, distinct, seeds, budgets), mo, nsga_trace)


def _multi_objective_lines(hv, distinct, seeds, budgets) -> list[str]:
  """The multi-objective table and NSGA-II's hypervolume differences from random search."""
  import numpy as np

  out = [
      '',
      '**Multi-objective** (test accuracy against params, seed-mean values): hypervolume of '
      "the cells found over the table's true front's, measured from the median accuracy and "
      'the largest parameter count / the distinct cells queried (mean over seeds).',
      '',
      '| strategy | seeds | ' + ' | '.join(f'{b} queries' for b in budgets) + ' |',
      '|---|---|' + '---|' * len(budgets),
  ]
  for name, ratios in hv.items():
    out.append(
        f'| {name} | {seeds} | '
        + ' | '.join(
            f'{np.mean(r):.3f} ± {np.std(r):.3f} / {np.mean(d):.0f}'
            for r, d in zip(ratios, distinct[name])
        )
        + ' |'
    )
  for name in ('nsga2', 'nsga2, eliminate=history'):
    diffs = []
    for b, a, r in zip(budgets, hv[name], hv['random']):
      (ma, sa), (mr, sr) = cli.mean_se(a), cli.mean_se(r)
      diffs.append(f'{b} queries: {ma - mr:+.3f} ± {float(np.hypot(sa, sr)):.3f}')
    out.append('')
    out.append(
        f'{name} minus random search, hypervolume ratio ± its standard error: '
        + '; '.join(diffs)
        + '.'
    )
  return out


def _plot_regret(curves, random_regret, path):
  """Mean regret against simulated seconds per strategy, to ``path``."""
  import matplotlib.pyplot as plt

  from nas_jax.plot import save_figure

  fig, ax = plt.subplots(figsize=(6.4, 4))
  for name, (grid, regret) in curves.items():
    ax.plot(grid, regret, label=name)
  ax.axhline(random_regret, color='grey', ls=':', lw=0.8, label='one random architecture')
  ax.set_xlabel('simulated training seconds')
  ax.set_ylabel('mean regret (test accuracy)')
  ax.set_yscale('log')
  ax.legend(fontsize=8)
  fig.tight_layout()
  save_figure(fig, path)
  plt.close(fig)


def _plot_pareto(mo, nsga_trace, path):
  """Every cell, the table's true front and seed 0's NSGA-II front, to ``path``."""
  import matplotlib.pyplot as plt
  import numpy as np

  from nas_jax import pareto
  from nas_jax.plot import save_figure

  points = mo.true_points()
  valid = np.flatnonzero(~np.isnan(points).any(1))
  true = valid[pareto.front(points[valid])]
  rows = np.unique(np.asarray(mo.rows(nsga_trace.archs[0])))
  found = rows[pareto.front(points[rows])]
  fig, ax = plt.subplots(figsize=(6.4, 4))
  ax.scatter(-points[valid, 1], points[valid, 0], s=4, c='0.8', label='every cell')
  for rs, style, label in ((true, 'k--', 'true front'), (found, 'C3o-', 'NSGA-II, seed 0')):
    order = np.argsort(-points[rs, 1])
    ax.plot(-points[rs, 1][order], points[rs, 0][order], style, ms=4, lw=1, label=label)
  ax.set_ylim(np.median(points[valid, 0]) - 0.03, None)
  ax.set_xlabel('params')
  ax.set_ylabel('test accuracy')
  ax.legend(fontsize=8, loc='lower right')
  fig.tight_layout()
  save_figure(fig, path)
  plt.close(fig)


def main(argv):
  del argv
  import matplotlib

  matplotlib.use('Agg')
  import numpy as np

  from nas_jax import discrete, tabular
  from nas_jax.estimators import TabularEstimator
  from nas_jax.util import atomic_write

  budgets = [int(q) for q in _QUERIES.value]
  table = cli.run_or_exit(lambda: tabular.load(_TABLE.value))
  estimator = cli.run_or_exit(lambda: TabularEstimator(table))
  q = max(budgets)
  mean_cost = float(np.nanmean(table.query_seconds()))
  seconds_budgets = [round(b * mean_cost, -1) for b in budgets]
  summary = table.random_baseline('test_acc')
  noise = cli.noise_ceiling(table)
  out = _header(table, estimator, summary, mean_cost, noise)
  fine = np.unique(np.linspace(2 * mean_cost, q * mean_cost, 60).round())
  runs = _run_strategies(
      estimator, _SEEDS.value, _BANANAS_SEEDS.value, budgets, seconds_budgets, fine
  )
  out += _by_queries(budgets, runs.by_queries)
  out += _against_random(runs.regrets, budgets, noise['cell_se'])
  if _GROUND.value:
    out += _ground_truth(_GROUND.value, table, estimator)
  out += _by_seconds(runs.by_seconds, seconds_budgets)
  mo = _multi_objective(table, estimator.space, _SEEDS.value, budgets)
  out += mo.lines
  text = '\n'.join(out) + '\n'
  atomic_write(_OUT.value, text)
  print(text)
  # figures
  os.makedirs(_FIGURES.value, exist_ok=True)
  random_regret = float(discrete.regret(estimator, summary['mean']))
  _plot_regret(runs.curves, random_regret, os.path.join(_FIGURES.value, 'discrete_regret.png'))
  _plot_pareto(mo.estimator, mo.nsga_trace, os.path.join(_FIGURES.value, 'discrete_pareto.png'))


if __name__ == '__main__':
  cli.run(main)
