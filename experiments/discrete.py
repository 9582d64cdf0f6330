"""Discrete search (random, REA, local search, REINFORCE, BANANAS, Hyperband, NSGA-II), one loop.

  python -m experiments.discrete --config=experiments/configs/discrete_rea.py \
      --workdir=runs/discrete_rea [--config.seeds=100] [--config.budget=300]

The strategy, its settings, the estimator (a table lookup, or live training), the budget (queries or
simulated seconds) and the seeds come from the config. One seed runs query by query
(``nas_jax.runner.QueryLoop``):

* ``history.jsonl``: every query (architecture, genotype, hash, score, reported
  metric, cost, cumulative cost);
* ``metrics.jsonl`` and ``tensorboard/``: after each round, the incumbent (the best
  score so far), its reported metric, percentile and regret;
* ``best.json`` and ``best_genotype.txt``: the answer; ``best_so_far.png``: the
  incumbent's report against the budget, with the best cell and the exact
  expectation of one random cell.

It checkpoints the strategy's state every ``checkpoint_every`` rounds (Orbax); rerun
on the same workdir after a kill it resumes and ends identical to an uninterrupted run.

``--config.early_stop.epoch=K`` (K > 0) stops queries after K epochs by the median rule
(``config.early_stop``; over a table or in live training): a stopped query is charged K
epochs, marked ``full: false`` in the history and never the answer; ``best.json`` counts
them. The rule's history is saved with each checkpoint, so a resumed run judges as the
uninterrupted one.

``--config.seeds=N`` (N > 1) runs N searches as one compiled, vmapped program and
writes ``seeds.json`` and ``seeds.md``: the reported metric, percentile and regret at
each budget of ``report_at``, mean +- std over the seeds. Bad input prints one line
starting with ``error:`` and exits with status 2.
"""

import json
import os
import time

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (resumed).', required=True)
_CONFIG = cli.define_config_file(
    'config',
    'experiments/configs/discrete_rea.py',
    'Discrete search config file.',
    switches={
        'strategy_name': ('strategy', 'discrete_strategy'),
        'estimator_name': ('estimator', 'experiments.configs.discrete_rea:estimator_section'),
    },
)


def _setup(config):
  """``(strategy, estimator, space, batch)`` of the config."""
  from nas_jax import components

  strategy, estimator, space = components.discrete_search(config)
  return strategy, estimator, space, components.ask_size(config, strategy)


def _num_queries(config, batch: int) -> int:
  if config.budget_unit == 'queries':
    n = int(config.budget)
    if n != config.budget or n > config.max_queries:
      from nas_jax.config_checks import ConfigError

      raise ConfigError(
          f'config.budget must be a whole number of queries <= max_queries '
          f'({config.max_queries}), got {config.budget!r}'
      )
  else:
    n = config.max_queries
  return n - n % batch


def _single(config, workdir, strategy, estimator, space, batch):
  import jax

  from nas_jax.runner import QueryLoop

  loop = QueryLoop(
      workdir,
      _num_queries(config, batch),
      batch,
      budget_seconds=config.budget if config.budget_unit == 'seconds' else None,
      checkpoint_every=config.checkpoint_every,
      log_every=config.log_every,
      metric=config.metric,
      report=config.report,
      log=lambda line: print(line, flush=True),
  )
  best = loop.run(strategy, estimator, space, jax.random.key(config.seed))
  _finish(config, workdir, estimator, space, best, loop.history_path)


def _finish(config, workdir, estimator, space, best, history_path):
  import numpy as np

  from nas_jax import discrete
  from nas_jax import metrics as metrics_lib
  from nas_jax.runner import standing
  from nas_jax.util import atomic_write

  table = estimator.table  # None: live training, no ground truth
  percentile, regret = standing(estimator, best['arch'], best['report'], config.report)
  summary = dict(
      strategy=config.strategy_name,
      settings={k: v for k, v in config.strategy.items() if v is not None},
      arch=best['arch'],
      genotype=best['genotype'],
      hash=best['hash'],
      found_at_query=best['step'],
      score=best['score'],
      report_metric=config.report,
      report=best['report'],
      percentile=percentile,
      regret=regret,
      table_best=estimator.best_report if table else None,
      random_cell_mean=(
          estimator.report_table.random_baseline(config.report)['mean'] if table else None
      ),
  )
  records = metrics_lib.read_metrics(history_path)
  summary['queries'] = len(records)
  summary['distinct_classes'] = int(
      discrete.distinct_classes(space, np.asarray([r['arch'] for r in records]))
  )
  rule = estimator.early_stop
  if rule is not None:  # how many queries the rule stopped at its epoch
    summary['early_stopped'] = sum(not r.get('full', True) for r in records)
    summary['early_stop_epoch'] = rule.epoch
  atomic_write(os.path.join(workdir, 'best.json'), json.dumps(summary, indent=2) + '\n')
  atomic_write(os.path.join(workdir, 'best_genotype.txt'), best['genotype'] + '\n')
  _plot_single(records, summary, config, os.path.join(workdir, 'best_so_far.png'))
  if estimator.objectives:
    _finish_front(config, workdir, estimator, space, records)
  line = (
      f'best cell {best["genotype"]} (query {best["step"]}): {config.report} {best["report"]:.4f}'
  )
  if table:
    line += (
        f', percentile {percentile:.1f}, regret {regret:.4f}; a random cell averages '
        f'{summary["random_cell_mean"]:.4f}'
    )
  print(line)
  print(f'{summary["queries"]} queries asked {summary["distinct_classes"]} distinct cells')
  if rule is not None:
    print(
        f'early stopping: {summary["early_stopped"]} of {len(records)} queries stopped after '
        f'epoch {rule.epoch}'
    )


def _plot_single(records, summary, config, path):
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  import numpy as np

  from nas_jax import discrete
  from nas_jax.plot import save_figure

  x = np.asarray([r['spent' if config.budget_unit == 'seconds' else 'step'] for r in records])
  trace = discrete.Trace(
      archs=np.asarray([r['arch'] for r in records]),
      score=np.asarray([r['primary'] for r in records]),
      report=np.asarray([r['report'] for r in records]),
      cost=np.asarray([r['cost'] for r in records]),
      full=np.asarray([r.get('full', True) for r in records]),
  )
  _, incumbent = discrete.incumbent(trace)
  fig, ax = plt.subplots(figsize=(6, 3.6))
  ax.step(x, incumbent, where='post', label=f'{config.strategy_name}: the incumbent')
  if summary['table_best'] is not None:  # a table's ground truth (none for live training)
    ax.axhline(summary['table_best'], color='k', lw=0.8, ls='--', label='best cell of the table')
    ax.axhline(
        summary['random_cell_mean'], color='grey', lw=0.8, ls=':', label='a random cell (mean)'
    )
  ax.set_xlabel('simulated seconds' if config.budget_unit == 'seconds' else 'queries')
  ax.set_ylabel(config.report)
  ax.legend(loc='lower right', fontsize=8)
  save_figure(fig, path)
  plt.close(fig)


def _finish_front(config, workdir, estimator, space, records):
  """The multi-objective answer: the front of the cells found, on their true points, against
  the table's true front (``front.json``, ``pareto.png``)."""
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  import numpy as np

  from nas_jax import discrete, pareto
  from nas_jax.plot import save_figure
  from nas_jax.util import atomic_write

  points = estimator.true_points()
  archs = np.asarray([r['arch'] for r in records])
  rows = np.asarray(estimator.rows(archs))
  unique_rows = np.unique(rows)
  found = unique_rows[pareto.front(points[unique_rows])]
  true = np.flatnonzero(~np.isnan(points).any(1))
  true = true[pareto.front(points[true])]
  ratio = float(discrete.hypervolume_ratio(archs, estimator, len(archs)))
  names = (config.report,) + tuple(config.objectives)
  table = estimator.table

  def cell(r):
    arch = [int(a) for a in table.archs[r]]
    return dict(
        genotype=space.to_text(space.to_genotype(arch)),
        hash=table.hashes[r],
        **{config.report: float(estimator.report_table.values(config.report)[r])},
        **{n: float(table.values(n)[r]) for n in names[1:]},
    )

  summary = dict(
      objectives=list(names),
      hypervolume_ratio=ratio,
      found=[cell(r) for r in found[np.argsort(points[found, 1])]],
      true_front=[cell(r) for r in true[np.argsort(points[true, 1])]],
  )
  atomic_write(os.path.join(workdir, 'front.json'), json.dumps(summary, indent=2) + '\n')
  fig, ax = plt.subplots(figsize=(6, 3.8))
  x = lambda rs: np.abs(points[rs, 1])  # noqa: E731  (the cost, unsigned)
  ax.scatter(x(unique_rows), points[unique_rows, 0], s=6, c='0.75', label='cells queried')
  for rs, style, label in ((true, 'k--', 'true front (table)'), (found, 'C3o-', 'front found')):
    order = np.argsort(x(rs))
    ax.plot(x(rs)[order], points[rs, 0][order], style, ms=4, lw=1, label=label)
  ax.set_xlabel(names[1])
  ax.set_ylabel(names[0])
  ax.set_ylim(np.median(points[true, 0]) - 0.05, None)
  ax.set_title(f"{config.strategy_name}: hypervolume {ratio:.3f} of the true front's")
  ax.legend(loc='lower right', fontsize=8)
  save_figure(fig, os.path.join(workdir, 'pareto.png'))
  plt.close(fig)
  print(
      f'front of {len(found)} cells, hypervolume ratio {ratio:.3f} (true front: {len(true)} cells)'
  )


def _many(config, workdir, strategy, estimator, space, batch):
  import numpy as np

  from nas_jax import discrete
  from nas_jax.config_checks import ConfigError
  from nas_jax.util import atomic_write

  num_queries = _num_queries(config, batch)
  seeds = list(range(config.seed, config.seed + config.seeds))
  started = time.perf_counter()
  trace = discrete.run_seeds(
      strategy, estimator, space, discrete.seed_keys(seeds), num_queries, batch
  )
  trace = type(trace)(*(np.asarray(x) for x in trace))
  seconds = time.perf_counter() - started
  try:
    if estimator.objectives:  # the front's hypervolume, not one incumbent
      if config.budget_unit != 'queries':
        raise ValueError('a multi-objective summary is by queries')
      rows = []
      for budget in config.report_at:
        ratio = discrete.hypervolume_ratio(trace.archs, estimator, int(budget))
        distinct = discrete.distinct_classes(space, trace.archs, int(budget))
        rows.append(
            dict(
                budget=budget,
                hv_mean=float(np.mean(ratio)),
                hv_std=float(np.std(ratio)),
                queries_mean=float(budget),
                distinct_mean=float(np.mean(distinct)),
            )
        )
    else:
      rows = discrete.summarize(trace, estimator, config.report_at, config.budget_unit)
  except ValueError as e:
    raise ConfigError(f'config.report_at: {e}') from None
  summary = dict(
      strategy=config.strategy_name,
      settings={k: v for k, v in config.strategy.items() if v is not None},
      seeds=len(seeds),
      queries=num_queries,
      unit=config.budget_unit,
      seconds=seconds,
      table_best=estimator.best_report,
      random_cell_mean=estimator.report_table.random_baseline(config.report)['mean'],
      rows=rows,
  )
  atomic_write(os.path.join(workdir, 'seeds.json'), json.dumps(summary, indent=2) + '\n')
  lines = [
      f'{config.strategy_name}, {len(seeds)} seeds, {config.report} of the incumbent '
      f'(table best {estimator.best_report:.4f}; one random cell averages '
      f'{summary["random_cell_mean"]:.4f}); {seconds:.1f} s, compile included',
      '',
      f'| budget ({config.budget_unit}) | queries | distinct cells | {config.report} | '
      'percentile | regret |',
      '|---|---|---|---|---|---|',
  ]
  if estimator.objectives:
    lines[2:] = [
        f"| budget (queries) | distinct cells | hypervolume / the true front's ({config.report} "
        f'against {", ".join(config.objectives)}) |',
        '|---|---|---|',
    ]
    lines += [
        f'| {r["budget"]:g} | {r["distinct_mean"]:.1f} | {r["hv_mean"]:.3f} ± {r["hv_std"]:.3f} |'
        for r in rows
    ]
  for r in rows if not estimator.objectives else ():
    lines.append(
        f'| {r["budget"]:g} | {r["queries_mean"]:.1f} | {r["distinct_mean"]:.1f} | '
        f'{r["report_mean"]:.4f} ± {r["report_std"]:.4f} | '
        f'{r["percentile_mean"]:.1f} ± {r["percentile_std"]:.1f} | '
        f'{r["regret_mean"]:.4f} ± {r["regret_std"]:.4f} |'
    )
  text = '\n'.join(lines) + '\n'
  atomic_write(os.path.join(workdir, 'seeds.md'), text)
  print(text, end='')


def main(argv):
  del argv
  config, workdir = _CONFIG.value, _WORKDIR.value
  strategy, estimator, space, batch = cli.run_or_exit(lambda: _setup(config))
  cli.run_or_exit(lambda: cli.make_workdir(workdir))
  if config.seeds > 1:
    cli.run_or_exit(lambda: _many(config, workdir, strategy, estimator, space, batch))
  else:
    cli.run_or_exit(lambda: _single(config, workdir, strategy, estimator, space, batch))


if __name__ == '__main__':
  cli.run(main)
