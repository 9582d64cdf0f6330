"""Every discrete strategy on the published tables: NAS-Bench-Graph's 9 datasets and AnalogNAS-Bench.

  python -m experiments.reports.published_report [--tables=nas-bench-graph:cora,...,analog-nasbench]
      [--seeds=100] [--bananas_seeds=30] [--queries=20,50,100,200]
      [--out=docs/published_report.md] [--reward=val_acc|test_acc]

Per table, each strategy of ``--strategies`` runs ``--seeds`` seeds (BANANAS
``--bananas_seeds``) as one vmapped program (``nas_jax.discrete.run_seeds``) with its
reference defaults. A query reads the table's search metric and the answer after a budget
is the best cell by it so far, reported by its test accuracy:

* NAS-Bench-Graph: the reward is ``valid_perf`` (val_acc), the report ``perf`` (test_acc),
  both NAS-Bench-Graph's single stored value per cell. There is one value per cell, so
  the table's own noise (a seed-against-seed ceiling) cannot be measured from it.
* AnalogNAS-Bench: there is no validation split, so the reward is the test accuracy of one
  trained cell of the class (a random one of its independent runs per query) and the report
  the class mean: the search selects on the numbers it is judged by, optimistic next to
  NB201's protocol (which searches on validation). The table's noise is the standard error
  of a class mean over its separately trained cells.

Budgets are in queries (neither package records train times). Each row prints the
incumbent's test accuracy (mean ± std over seeds), its percentile, its regret and the
distinct cells queried; a second table sets each strategy's regret against random
search's as a difference ± its standard error, a tie within two standard errors (or,
where the table has a measured noise, within it). BANANAS uses the one-hot encoding in
the NAS-Bench-Graph space (the path encoding of all 157,464 cells would take 4.6 GB) and
the path encoding in the NB201 space.

With ``nsga2`` among the strategies, each NAS-Bench-Graph table gets a multi-objective
table: NSGA-II (pymoo's duplicate elimination, and ``eliminate='history'``) against random
search, the search metric against the table's latency, scored by the hypervolume ratio of
the cells found on (test accuracy, latency); AnalogNAS-Bench records no cost, so it has
none. Hyperband is not run: the packaged tables hold the final epoch only.

``--reward=test_acc`` follows the NAS-Bench-Graph authors' example scripts instead
(:data:`AUTHORS`): the test accuracy is both the reward and the report, at their budgets
(``--queries=40,500``; ``--strategies=random,rea_nni,reinforce``, ``rea_nni`` being REA with
NNI's defaults).

Writes markdown to ``--out`` and stdout, each table's section as soon as it is done.
"""

import time

from absl import flags

from experiments import cli
from nas_jax.tabular import nbgraph

_ALL = tuple(f'nas-bench-graph:{d}' for d in nbgraph.DATASETS) + ('analog-nasbench',)
_TABLES = flags.DEFINE_list('tables', list(_ALL), 'Published tables (tabular.load names).')
_STRATEGIES = flags.DEFINE_list(
    'strategies',
    ['random', 'rea', 'local_search', 'reinforce', 'bananas', 'nsga2'],
    'Strategies (nsga2: its own multi-objective table).',
)
_SEEDS = flags.DEFINE_integer('seeds', 100, 'Seeds per strategy.', lower_bound=1)
_BANANAS_SEEDS = flags.DEFINE_integer('bananas_seeds', 30, 'Seeds for BANANAS.', lower_bound=1)
_QUERIES = flags.DEFINE_list('queries', ['20', '50', '100', '200'], 'Query budgets.')
_OUT = flags.DEFINE_string('out', 'docs/published_report.md', 'The markdown report.')
_REWARD = flags.DEFINE_enum(
    'reward',
    'val_acc',
    ['val_acc', 'test_acc'],
    "The search's reward: val_acc (NB201's protocol; AnalogNAS-Bench has only test_acc), or "
    "test_acc (the NAS-Bench-Graph authors' example scripts).",
)

AUTHORS = (
    "The NAS-Bench-Graph authors' own search scripts: `nas-bench-graph/runnni.py` "
    "(THUMNLab/NAS-Bench-Graph: NNI's `Random(dedup=True)`, `RegularizedEvolution()`, "
    '`PolicyBasedRL()`) and `examples/nas_bench_graph_example.py` (THUMNLab/AutoGL: GraphNAS '
    'and AGNN, 500 architectures per search, 40 on proteins). Both reward a search with the '
    "table's test accuracy (`bench[hash]['perf']`, not `valid_perf`) and report the best "
    "architecture by it; neither script repeats seeds. The paper's own table of these "
    "searches (Qin et al., NeurIPS 2022 D&B) could not be read here (only the paper's abstract "
    "is reachable offline), so its figures are not printed; ours follow the scripts' protocol. "
    "`rea_nni` is our REA with NNI's defaults (population 100, tournament 25; NNI mutates "
    "each decision with probability 0.05, ours exactly one); `reinforce` is ours (NB201's "
    "REINFORCE), not NNI's PPO policy; GraphNAS and AGNN are not implemented."
)


def _estimator(table):
  from nas_jax.estimators import TabularEstimator

  metric = _REWARD.value if _REWARD.value in table.epoch else 'test_acc'
  return TabularEstimator(table, metric=metric)


def _strategy(name, space, q):
  from nas_jax.strategies import discrete as ds

  if name == 'nsga2':
    return None, 0  # multi-objective: its own table (_multi_objective)
  if name == 'rea_nni':
    return ds.get('rea', population=100, sample=25), 1
  if name != 'bananas':
    return ds.get(name), 1
  encoding = 'path' if 'path' in space.encodings and space.size() <= 20_000 else 'onehot'
  return ds.get('bananas', max_queries=q, encoding=encoding), 10


def _section(ref, budgets) -> list[str]:
  import jax
  import numpy as np

  from nas_jax import discrete, tabular

  table = cli.run_or_exit(lambda: tabular.load(ref))
  est = cli.run_or_exit(lambda: _estimator(table))
  space, q = est.space, max(budgets)
  noise = cli.noise_ceiling(table) if len(table.seeds) > 1 else {}
  cell_se = noise.get('cell_se', float('nan'))
  baseline = table.random_baseline('test_acc')
  lines = [
      f'### {ref}',
      '',
      f'{len(table)} rows ({int(np.isfinite(table.values("test_acc")).sum())} measured) in the '
      f'{space.name} space over {", ".join(space.primitives)}; reward {est.metric}, report '
      f'test_acc; best {est.best_report:.4f}; one random architecture averages '
      f'{baseline["mean"]:.4f} (percentile {baseline["percentile"]:.1f}). '
      + (
          f"The table's noise: a class mean's standard error {cell_se:.4f}."
          if np.isfinite(cell_se)
          else "One value per cell: the table's own noise is not measurable from it."
      ),
      '',
      '| strategy | seeds | ' + ' | '.join(f'{b} queries' for b in budgets) + ' | wall s |',
      '|---|---|' + '---|' * len(budgets) + '---|',
  ]
  regrets = {}
  for name in _STRATEGIES.value:
    strategy, batch = _strategy(name, space, q)
    if strategy is None:
      continue
    n = _BANANAS_SEEDS.value if name == 'bananas' else _SEEDS.value
    start = time.perf_counter()
    trace = discrete.run_seeds(strategy, est, space, discrete.seed_keys(range(n)), q, batch)
    trace = jax.tree.map(np.asarray, trace)
    wall = time.perf_counter() - start
    lines.append(cli.summary_row(name, n, discrete.summarize(trace, est, budgets), wall))
    regrets[name] = [discrete.regret(est, discrete.at_budget(trace, b)) for b in budgets]
    print(f'{ref} {name}: {n} seeds x {q} queries in {wall:.1f} s', flush=True)
  if 'random' in regrets and len(regrets) > 1:
    threshold = cell_se if np.isfinite(cell_se) else 0.0
    lines += [''] + cli.against_random_table(regrets, budgets, threshold, 'against random search')
  if 'nsga2' in _STRATEGIES.value:
    lines += [''] + _multi_objective(table, est.metric, space, budgets)
  return lines + ['']


def _multi_objective(table, metric, space, budgets) -> list[str]:
  """NSGA-II (pymoo's duplicate elimination, and ``eliminate='history'``) against random
  search on the search metric against the table's latency: the hypervolume ratio of the
  cells found, measured on (test accuracy, latency) as :func:`discrete.hypervolume_ratio`."""
  import numpy as np

  from nas_jax import discrete
  from nas_jax.estimators import TabularEstimator
  from nas_jax.strategies import discrete as ds

  if 'latency' not in table.arch:
    return ['NSGA-II: the table records no latency or other cost, so it has no second objective.']
  mo = TabularEstimator(table, metric=metric, objectives=('latency',))
  q = -(-max(budgets) // 20) * 20
  keys = discrete.seed_keys(range(_SEEDS.value))
  hv = {}
  for name, strategy, batch in (
      ('nsga2', ds.get('nsga2', population=20), 20),
      ('nsga2, eliminate=history', ds.get('nsga2', population=20, eliminate='history'), 20),
      ('random', ds.get('random'), 1),
  ):
    trace = discrete.run_seeds(strategy, mo, space, keys, q, batch)
    hv[name] = [
        (
            discrete.hypervolume_ratio(trace.archs, mo, b),
            discrete.distinct_classes(space, trace.archs, b),
        )
        for b in budgets
    ]
  lines = [
      f'**Multi-objective** ({metric} searched against latency, {_SEEDS.value} seeds, 20 per '
      "generation): the hypervolume of the cells found over the table's true front's, on "
      '(test accuracy, latency), from the median accuracy and the largest latency / the '
      'distinct cells queried (mean over seeds).',
      '',
      '| strategy | ' + ' | '.join(f'{b} queries' for b in budgets) + ' |',
      '|---|' + '---|' * len(budgets),
  ]
  for name, rows in hv.items():
    lines.append(
        f'| {name} | '
        + ' | '.join(f'{np.mean(r):.3f} ± {np.std(r):.3f} / {np.mean(d):.0f}' for r, d in rows)
        + ' |'
    )
  for name in ('nsga2', 'nsga2, eliminate=history'):
    diffs = [
        cli.against_random(a, r, 0.0, higher_is_better=True, digits=3)
        for (a, _), (r, _) in zip(hv[name], hv['random'])
    ]
    lines.append('')
    lines.append(
        f'{name} minus random search, hypervolume ratio ± its standard error, at '
        + ', '.join(f'{b}' for b in budgets)
        + ' queries: '
        + '; '.join(diffs)
        + '.'
    )
  return lines


def main(argv):
  del argv
  from nas_jax.util import atomic_write

  budgets = [int(b) for b in _QUERIES.value]
  out = [
      'Each cell: test accuracy of the incumbent (mean ± std over seeds) / its percentile '
      'among the cells / its regret to the best / the distinct cells queried (mean over seeds). '
      '"Against random search": the mean regret difference ± its standard error (negative: '
      "better), a tie within two standard errors or within the table's measured noise.",
      '',
  ]
  if _REWARD.value == 'test_acc':
    out += [AUTHORS, '']
  for ref in _TABLES.value:
    out += _section(ref, budgets)
    atomic_write(_OUT.value, '\n'.join(out) + '\n')  # a killed run keeps the tables done
  print('\n'.join(out))


if __name__ == '__main__':
  cli.run(main)
