"""The NAS loop on the offline data, ending in a verdict that carries its noise.

  python -m experiments.demo [--workdir=runs/demo] [--table=shipped] [--seeds=1000]
      [--queries=100] [--strategy=darts_minus] [--num_seeds=8] [--search_epochs=4]
      [--search_steps=50] [--noretrain] [--export=jax_export,saved_model,tflite,onnx]

1. **Discrete search on the table.** Regularized evolution and random search, each over
   ``--seeds`` seeds of ``--queries`` queries as one vmapped program (seconds), NB201's
   protocol (a query reads a cell's validation accuracy at a random seed; the answer is
   reported by its test accuracy). Each strategy's answer is a mean percentile among
   the table's cells with its 95 % interval, beside the exact expectations of random
   search (``Table.random_search``) and of one random cell (``Table.random_baseline``),
   and REA's regret difference from random search with its standard error (a tie
   within two standard errors or within the table's per-cell noise).
2. **Differentiable search in the table's space.** ``--strategy`` with ``--num_seeds``
   searches as one vmapped program (``configs/search_table.py``: the table's space, op
   set, data and network size) for ``--search_epochs`` x ``--search_steps`` steps (compare
   ``--table``'s shorter budget), each derived cell looked up in the table. The default,
   DARTS-, ranked highest on the shipped table in that comparison (docs/ground_truth.md). The
   reproduction card (``WORKDIR/search_table/card.md``) gives each seed's cell and the
   mean percentile with its 95 % interval, against the exact random cell.
3. **The DARTS space.** A DARTS search of the 8-op DARTS cell (``configs/search_demo.py``)
   with its alpha and cell plots; the entropy of softmax(alpha) at the start and after
   the last epoch shows how far alpha moved. This space has no table: a found cell can
   only be judged by retraining it, and at the demo's budget two retrainings of one cell
   differ by more than the cells do, so no comparison with a random cell is printed.
   The found cell is retrained (``configs/train_demo.py``; ``--noretrain`` skips it) and
   exported to ``--export``'s formats (``nas_jax.export``: JAX StableHLO, SavedModel, TFLite,
   ONNX), each reloaded in a fresh process and checked against the JAX model, and the
   table of sizes, logit differences, accuracies and latencies is printed.

Each stage resumes from its checkpoints when rerun on the same workdir. The measured
cost on a 2-core CPU is in docs/demo.md.
"""

import json
import math
import os
import time

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', 'runs/demo', 'Output directory.')
_TABLE = flags.DEFINE_string('table', 'shipped', "The table ('shipped' or a table file).")
_SEEDS = flags.DEFINE_integer('seeds', 1000, 'Seeds of each discrete strategy.', lower_bound=2)
_QUERIES = flags.DEFINE_integer('queries', 100, 'Queries per discrete search.', lower_bound=1)
_STRATEGY = flags.DEFINE_string(
    'strategy', 'darts_minus', 'The differentiable strategy of stage 2.'
)
_NUM_SEEDS = flags.DEFINE_integer(
    'num_seeds', 8, 'Vmapped seeds of the stage-2 search.', lower_bound=2
)
_SEARCH_EPOCHS = flags.DEFINE_integer(
    'search_epochs', 4, "Stage-2 search epochs (compare --table's shorter budget).", lower_bound=1
)
_SEARCH_STEPS = flags.DEFINE_integer(
    'search_steps', 50, 'Stage-2 search steps per epoch.', lower_bound=1
)
_RETRAIN = flags.DEFINE_bool(
    'retrain', True, 'Retrain the DARTS-space cell (stage 3); --noretrain skips it and the export.'
)
_EXPORT = flags.DEFINE_list(
    'export',
    'jax_export,saved_model,tflite,onnx',
    'Formats the retrained cell is exported to (nas_jax.export; empty: none).',
)


def _check_strategy(name):
  from nas_jax import strategies

  if name not in strategies.NAMES:
    raise flags.ValidationError(f'unknown strategy {name!r}; known: {", ".join(strategies.NAMES)}')
  return True


flags.register_validator('strategy', _check_strategy)


def _check_export(formats):
  from nas_jax import export

  for fmt in formats:
    if fmt not in export.FORMATS:
      raise flags.ValidationError(
          f'unknown export format {fmt!r}; known: {", ".join(export.FORMATS)}'
      )
  return True


flags.register_validator('export', _check_export)


def discrete_stage(table, seeds: int, queries: int) -> dict:
  """Stage 1: REA and random search over ``seeds`` seeds, with the exact baselines."""
  import jax
  import numpy as np

  from nas_jax import card, discrete
  from nas_jax.estimators import TabularEstimator
  from nas_jax.strategies import discrete as ds

  estimator = TabularEstimator(table)
  percentiles = estimator.report_percentiles()  # once, for both strategies
  out = {'seeds': seeds, 'queries': queries, 'strategies': {}}
  for name in ('random', 'rea'):
    start = time.perf_counter()
    trace = discrete.run_seeds(
        ds.get(name), estimator, estimator.space, discrete.seed_keys(range(seeds)), queries
    )
    trace = jax.tree.map(np.asarray, trace)
    at = discrete.budget_index(trace, queries)
    pct = discrete.incumbent_percentile(trace, estimator, at, percentiles)
    report = discrete.at_budget(trace, queries)
    out['strategies'][name] = dict(
        percentile=card.interval(pct),
        value=card.interval(report),
        regrets=discrete.regret(estimator, report).tolist(),
        seconds=time.perf_counter() - start,
    )
  out['random_search_exact'] = table.random_search([queries])[queries]
  out['random_cell_exact'] = {
      k: table.random_baseline()[k] for k in ('mean', 'percentile', 'regret')
  }
  out['noise'] = cli.noise_ceiling(table)
  return out


def differentiable_stage(
    workdir: str, table, table_ref: str, strategy: str, num_seeds: int, budget=None
):
  """Stage 2: ``num_seeds`` vmapped searches in the table's space, looked up (the card);
  ``budget`` ``(epochs, steps per epoch)`` (None: ``search_table.py``'s)."""
  from experiments.configs import common, search_table
  from nas_jax import search

  config = search_table.for_table(table, table_ref)
  common.set_component(config, 'strategy', strategy)
  config.num_seeds = num_seeds
  if budget is not None:
    config.epochs, config.max_steps_per_epoch = budget
  config.log_every = 0
  run_dir = os.path.join(workdir, 'search_table')
  result = search.run_search(config, run_dir, log=lambda line: None)
  with open(os.path.join(run_dir, 'card.json'), encoding='utf-8') as f:
    found = json.load(f)
  found['seconds'] = result['seconds']
  found['compile_seconds'] = result['compile_seconds']
  found['dir'] = run_dir
  return found


def darts_stage(workdir: str, retrain: bool, export_formats=()) -> dict:
  """Stage 3: the DARTS-space search, how far its alpha moved, and optionally a retraining and
  the export of the retrained network to ``export_formats``."""
  from experiments.configs import search_demo, train_demo
  from nas_jax import export, search, train

  search_dir = os.path.join(workdir, 'search_darts')
  config = search_demo.get_config()
  result = search.run_search(config, search_dir, log=lambda line: None)
  space = result['space']
  uniform = math.log(len(space.primitives))
  entropy = {
      cell: [uniform] + [r[f'alpha_entropy_{cell}'] for r in result['metrics']]
      for cell in space.cells
  }
  out = dict(
      genotype=space.to_text(result['genotype']),
      entropy=entropy,
      seconds=result['seconds'],
      dir=search_dir,
      val_acc=result['metrics'][-1]['val_acc'] if result['metrics'] else float('nan'),
  )
  if retrain:
    train_config = train_demo.get_config()
    train_config.genotype = os.path.join(search_dir, 'genotype.json')
    train_dir = os.path.join(workdir, 'train_darts')
    out['retrained'] = train.run_train(train_config, train_dir, log=lambda line: None)
    if export_formats:
      t0 = time.time()
      out['export'] = export.export_run(train_dir, export_formats, log=lambda line: None)
      out['export_seconds'] = time.time() - t0
  return out


def _ci(s, digits=1, lo=0.0, hi=100.0) -> str:
  """``mean [low, high]`` of a percentile interval, its ends clipped to the scale."""
  low, high = max(s['low'], lo), min(s['high'], hi)
  return f'{s["mean"]:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]'


def print_discrete(d: dict) -> list[str]:
  """Stage 1's table and its verdict line (returned)."""
  print(
      f'\n== 1/3 discrete search on the table: {d["seeds"]} seeds x {d["queries"]} queries '
      'each (NB201 protocol: search on val acc at a random seed, report test acc)'
  )
  print('| strategy | percentile, mean [95 % interval] | test acc, mean ± std | wall s |')
  print('|---|---|---|---|')
  for name, s in d['strategies'].items():
    print(
        f'| {name} | {_ci(s["percentile"])} | {s["value"]["mean"]:.4f} ± '
        f'{s["value"]["std"]:.4f} | {s["seconds"]:.1f} |'
    )
  e, c = d['random_search_exact'], d['random_cell_exact']
  print(f'| random search with repeats, exact | {e["percentile"]:.1f} | {e["value"]:.4f} | |')
  print(f'| one random cell, exact | {c["percentile"]:.1f} | {c["mean"]:.4f} | |')
  noise = d['noise']
  diff = cli.against_random(
      d['strategies']['rea']['regrets'], d['strategies']['random']['regrets'], noise['cell_se']
  )
  print(
      f"the table's noise: seeds agree at Kendall tau {noise['test_acc_tau']:.2f} (test acc); "
      f"a cell's seed mean has a standard error of {noise['cell_se']:.4f}"
  )
  verdict = (
      f'REA against random search at {d["queries"]} queries: regret difference {diff}'
      ' (negative: REA better)'
  )
  print(verdict)
  return [verdict]


def print_differentiable(f: dict, strategy: str) -> list[str]:
  from nas_jax import card

  print(
      f'\n== 2/3 {strategy} in the table\'s space, {len(f["seeds"])} seeds vmapped '
      f'({f["seconds"]:.0f} s, {f["compile_seconds"]:.0f} s of it compiling)'
  )
  print('| seed | cell | table test acc | percentile | regret |')
  print('|---|---|---|---|---|')
  for r in f['rows']:
    print(
        f'| {r["seed"]} | `{r["genotype"]}` | {r["table_acc"]:.4f} | {r["percentile"]:.1f} | '
        f'{r["regret"]:.4f} |'
    )
  pct, random_pct = f['summary']['percentile'], f['table']['random']['percentile']
  word = {'above': 'above', 'below': 'below', 'tie': 'not told apart from'}[card.against_random(f)]
  verdict = (
      f'{strategy}: mean percentile {_ci(pct)} over {pct["n"]} seeds, {word} one random '
      f'cell ({random_pct:.1f}); card: {f["dir"]}/card.md'
  )
  print(verdict)
  return [verdict]


def print_darts(d: dict) -> list[str]:
  print(f'\n== 3/3 the DARTS space ({d["seconds"]:.0f} s): {d["genotype"]}')
  lines = []
  for cell, h in d['entropy'].items():
    lines.append(
        f'H(softmax alpha) of the {cell} cell: {h[0]:.3f} (uniform) -> '
        + ' -> '.join(f'{x:.3f}' for x in h[1:])
        + f' per edge, a drop of {h[0] - h[-1]:.3f}'
    )
  for line in lines:
    print(line)
  print(f'plots: {d["dir"]}/alphas.png, cell_normal.png, cell_reduce.png')
  if 'retrained' in d:
    r = d['retrained']
    print(
        f'retrained: test accuracy {r["test_accuracy"]:.4f}, {r["params_m"]:.3f} M params '
        '(one retraining; at this budget retrainings of one cell spread by 0.04-0.15)'
    )
  if 'export' in d:
    from nas_jax import export

    report = d['export']
    print(
        f'\nexported ({d["export_seconds"]:.0f} s) to {report["run"]}/export: each artifact '
        f'reloaded in a fresh process and run on the {report["test_images"]} test images; '
        f'latency is the median of {report["latency_repeats"]} calls on {report["backend"]}'
    )
    print(export.format_table(report))
  return lines[:1]


def run_demo(
    workdir: str,
    table_ref: str,
    seeds: int,
    queries: int,
    strategy: str,
    k: int,
    retrain=False,
    budget=None,
    export_formats=(),
):
  from nas_jax import tabular

  start = time.time()
  table = tabular.load(table_ref)
  print(
      f'table {table_ref}: {table.space.name} over {", ".join(table.space.primitives)}, '
      f'{len(table)} cells, {table.metadata.get("dataset")}',
      flush=True,
  )
  out = {'discrete': discrete_stage(table, seeds, queries)}
  out['verdicts'] = print_discrete(out['discrete'])
  out['differentiable'] = differentiable_stage(workdir, table, table_ref, strategy, k, budget)
  out['verdicts'] += print_differentiable(out['differentiable'], strategy)
  out['darts'] = darts_stage(workdir, retrain, export_formats if retrain else ())
  out['verdicts'] += print_darts(out['darts'])
  out['seconds'] = time.time() - start
  return out


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  out = cli.run_or_exit(
      lambda: run_demo(
          _WORKDIR.value,
          _TABLE.value,
          _SEEDS.value,
          _QUERIES.value,
          _STRATEGY.value,
          _NUM_SEEDS.value,
          _RETRAIN.value,
          (_SEARCH_EPOCHS.value, _SEARCH_STEPS.value),
          tuple(_EXPORT.value),
      )
  )
  print('\n== verdict')
  for line in out['verdicts']:
    print(f'- {line}')
  print(f'whole demo: {out["seconds"]:.0f} s')


if __name__ == '__main__':
  cli.run(main)
