"""Every search strategy x seed in both spaces, each found cell retrained: the comparison table.

  python -m experiments.compare [--workdir=runs/compare] [--spaces=darts,nb201]
      [--strategies=darts,gdas,...] [--seeds=3]

For each space and strategy, seeds ``0..seeds-1`` each run a search on the
offline MNIST-5k data (``experiments/configs/search_demo.py``, or its NB201
twin below, with the strategy swapped in and ``--search_epochs`` x
``--search_steps`` steps), then the derived cell is retrained from scratch at
a small fixed budget (``train_demo.py`` / ``train_nb201_demo.py`` with
``--train_epochs`` x ``--train_steps``). The seeds run one after another,
not ``vmap``-ed: under ``vmap`` GDAS' per-edge op choice becomes a select
that computes every op, and the search seconds would not show what GDAS
saves. Compilation is cached between seeds of a strategy.

Every row gives the derived genotype, its collapse signature (how many of
the kept ops in the normal cell are ``skip_connect`` and how many are
parameter-free), the retrained test accuracy and the search seconds.
Writes ``WORKDIR/table.md`` and ``WORKDIR/rows.json``; each run resumes from
its checkpoints (or is skipped when finished) when rerun on the same workdir.

With ``--table=shipped`` (or a table file) the table is the estimator: every
strategy searches the table's space and op set (NB201, 4 ops, for the shipped
one) and its derived cell is looked up, not retrained; rows give the table's
test accuracy, the cell's percentile among the table's cells and its regret
to the best cell, with a uniformly random cell per seed as the baseline
(``WORKDIR/table_ground_truth.md``).
"""

from collections.abc import Callable
import json
import os
import time

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', 'runs/compare', 'Output directory.')
_SPACES = flags.DEFINE_list('spaces', ['nb201', 'darts'], 'Search spaces.')
_STRATEGIES = flags.DEFINE_list('strategies', None, 'Strategies (default: all).')
_SEEDS = flags.DEFINE_integer('seeds', 3, 'Seeds 0..N-1 per strategy.', lower_bound=1)
_SEARCH_EPOCHS = flags.DEFINE_integer('search_epochs', 2, 'Search epochs.', lower_bound=1)
_SEARCH_STEPS = flags.DEFINE_integer('search_steps', 20, 'Search steps per epoch.', lower_bound=1)
_TRAIN_EPOCHS = flags.DEFINE_integer('train_epochs', 1, 'Retraining epochs.', lower_bound=1)
_TRAIN_STEPS = flags.DEFINE_integer('train_steps', 60, 'Retraining steps per epoch.', lower_bound=1)
_TABLE = flags.DEFINE_string(
    'table',
    None,
    "A tabular benchmark as the estimator ('shipped': the package's NB201 table): each "
    "search runs in the table's space and op set and its cell is looked up, not retrained.",
)


def _names_in(kind: str, known: Callable[[], tuple]) -> Callable[[list], bool]:
  """A flag validator: every name of the list is one of ``known()`` (imported when checked)."""

  def check(names):
    for name in names or ():
      if name not in known():
        raise flags.ValidationError(f"unknown {kind} {name!r}; known: {', '.join(known())}")
    return True

  return check


def _spaces() -> tuple:
  from nas_jax import spaces

  return tuple(spaces.NETWORK_NAMES)


def _strategy_names() -> tuple:
  from nas_jax import strategies

  return tuple(strategies.NAMES)


flags.register_validator('spaces', _names_in('space', _spaces))
flags.register_validator('strategies', _names_in('strategy', _strategy_names))


def search_config(space: str, strategy: str, seed: int, epochs: int, steps: int):
  """The demo search with ``strategy`` swapped in (NB201: the same data, N=1, C=8)."""
  from experiments.configs import search_demo

  return _with_run(search_demo.get_config(space), strategy, seed, epochs, steps)


def table_search_config(table, strategy: str, seed: int, epochs: int, steps: int):
  """The search in ``table``'s space, op set and protocol (``configs/search_table.py``)."""
  from experiments.configs import search_table

  return _with_run(search_table.for_table(table), strategy, seed, epochs, steps)


def _with_run(c, strategy: str, seed: int, epochs: int, steps: int):
  from experiments.configs import common

  common.set_component(c, 'strategy', strategy)
  c.seed = seed
  c.epochs = epochs
  c.max_steps_per_epoch = steps
  c.log_every = 0
  return c


def train_config(space: str, genotype_path: str, epochs: int, steps: int):
  from experiments.configs import train_demo

  c = train_demo.get_config(space)
  c.genotype = genotype_path
  c.epochs = epochs
  c.max_steps_per_epoch = steps
  c.log_every = 0
  return c


def _finished_row(path: str) -> dict | None:
  """The record a finished run wrote (a JSON file), or None when it has not finished."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def table_row(table, space_name: str, strategy: str, seed: int, genotype, extra=None) -> dict:
  """A compare row for a cell looked up in ``table`` (test accuracy, percentile, regret)."""
  report = table.report(table.space.from_genotype(genotype))
  return {
      'space': space_name,
      'strategy': strategy,
      'seed': seed,
      'genotype': table.space.to_text(genotype),
      'hash': report['hash'],  # the table's row: isomorphic genotypes share it
      'table_acc': report['value'],
      'percentile': report['percentile'],
      'regret': report['regret'],
      **(extra or {}),
  }


def run_table_compare(workdir: str, table, names, seeds: int, search_budget) -> list:
  """Every strategy x seed searched in the table's op set; each found cell looked up.

  A row ``random`` per seed draws a cell uniformly from the space (the random baseline).
  A finished search (its ``search.json``: the genotype, collapse counts and seconds) is
  not rerun, but its cell is looked up again in ``table``: rerunning on a table with
  more rows measured (a build that went on) refreshes every row at no search cost.
  """
  import jax

  from nas_jax import search, strategies

  names = names or list(strategies.NAMES)
  space = table.space
  rows = []
  os.makedirs(workdir, exist_ok=True)
  for name in names:
    for seed in range(seeds):
      run = os.path.join(workdir, 'table', name, f'seed_{seed}')
      done = os.path.join(run, 'search.json')
      if (found := _finished_row(done)) is None:
        print(f'== {space.name} ({len(space.primitives)} ops) {name} seed {seed}', flush=True)
        config = table_search_config(table, name, seed, *search_budget)
        result = search.run_search(config, os.path.join(run, 'search'), log=lambda line: None)
        found = {
            'genotype': space.to_text(result['genotype']),
            **search.collapse_counts(result['genotype'], result['space']),
            'search_seconds': result['seconds'],
        }
        search.atomic_write(done, json.dumps(found, indent=2) + '\n')
      genotype = space.load_genotype(found.pop('genotype'))
      row = table_row(table, space.name, name, seed, genotype, found)
      print(
          f"   {name} seed {seed}: {row['genotype']} | table acc {row['table_acc']:.4f}", flush=True
      )
      rows.append(row)
  for seed in range(seeds):
    arch = space.sample(jax.random.key(seed), 1)[0]
    rows.append(table_row(table, space.name, 'random', seed, space.to_genotype(arch)))
  search.atomic_write(os.path.join(workdir, 'table_rows.json'), json.dumps(rows, indent=2) + '\n')
  write_cards(os.path.join(workdir, 'cards'), rows, space, table=table, scores=('search_seconds',))
  text = ground_truth_table(rows, random_expectation(table))
  text += (
      '\n± is the std over seeds (ddof 0); the interval is the t-interval of the mean '
      'percentile (ddof 1), and "− random cell" its difference from one random cell\'s exact '
      'mean percentile, ± the standard error of the mean. ' + noise_line(table) + '\n'
  )
  search.atomic_write(os.path.join(workdir, 'table_ground_truth.md'), text)
  return rows


def random_expectation(table) -> dict:
  """The random baseline, exactly (``Table.random_baseline``), as mean ± std strings, with
  the mean percentile as a number (``percentile_mean``) for the verdicts."""
  r = table.random_baseline('test_acc')
  return {
      'archs': r['archs'],
      'measured': r['measured'],
      'table_acc': _mean_std(r['values'].tolist()),
      'percentile': _mean_std(r['percentiles'].tolist(), 1),
      'percentile_mean': r['percentile'],
      'regret': _mean_std(r['regrets'].tolist()),
  }


def noise_line(table) -> str:
  """The table's own noise, in one line: its seed-against-seed ceiling and a cell's error."""
  from nas_jax import card

  t = card.table_noise(table, 'test_acc')
  if 'tau' not in t:
    return f"The table has one seed: its noise ceiling is not known ({t['rows']} cells)."
  return (
      f"The table's noise: its two seeds rank its {t['rows']} cells with Kendall τ "
      f"{t['tau']:.3f} (Spearman ρ {t['rho']:.3f}), and a cell's seed mean has a standard "
      f"error of {t['cell_se']:.4f} in test accuracy."
  )


def _mean_std(values, digits: int = 4) -> str:
  """``mean ± std`` (population std) of the measured values (None and NaN left out)."""
  values = [v for v in values if v is not None and v == v]
  if not values:
    return 'not measured'
  mean = sum(values) / len(values)
  std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
  return f'{mean:.{digits}f} ± {std:.{digits}f}'


def _against(percentiles, random_mean: float) -> str:
  """The cells of a strategy's row that compare it with one random cell: the 95 % interval
  of its mean percentile, the difference from the random mean ± its standard error, and
  the verdict (``above``/``below`` when the interval excludes the random mean, else a tie)."""
  from nas_jax import card

  s = card.interval(percentiles)
  if s['n'] < 2 or random_mean != random_mean:
    return '| | | |'
  se = s['std'] / s['n'] ** 0.5
  return (
      f"| [{s['low']:.1f}, {s['high']:.1f}] | {s['mean'] - random_mean:+.1f} ± {se:.1f} | "
      f'{card.verdict(s, random_mean)} |'
  )


def ground_truth_table(rows: list, expectation: dict | None = None) -> str:
  """Per strategy: table accuracy, percentile and regret (mean ± std over seeds); with
  ``expectation`` (:func:`random_expectation`), a last line for a random draw, exactly, and
  per strategy the 95 % interval of its mean percentile, its difference from a random cell's
  (± the standard error) and the verdict."""
  versus = expectation is not None
  lines = [
      '| strategy | seeds | table test acc | percentile | regret to best | mean skip | '
      'mean param-free | cells |'
      + (' percentile, 95 % interval | − random cell | verdict |' if versus else ''),
      '|---|---|---|---|---|---|---|---|' + ('---|---|---|' if versus else ''),
  ]
  groups = {}
  for r in rows:
    groups.setdefault(r['strategy'], []).append(r)
  for name, rs in groups.items():
    skip = [r['skip'] for r in rs if 'skip' in r]
    free = [r['param_free'] for r in rs if 'param_free' in r]
    # A partial table has no value yet for some cells: the means are over the measured ones.
    measured = sum(r['table_acc'] == r['table_acc'] for r in rs)
    seeds = f'{len(rs)}' if measured == len(rs) else f'{len(rs)} ({measured} in the table yet)'
    lines.append(
        f"| {name} | {seeds} | {_mean_std([r['table_acc'] for r in rs])} | "
        f"{_mean_std([r['percentile'] for r in rs], 1)} | {_mean_std([r['regret'] for r in rs])} | "
        f"{(sum(skip) / len(skip)) if skip else float('nan'):.1f} | "
        f"{(sum(free) / len(free)) if free else float('nan'):.1f} | "
        f"{len({r['hash'] for r in rs})} distinct "
        + (
            _against([r['percentile'] for r in rs], expectation['percentile_mean'])
            if versus
            else '|'
        )
    )
  if expectation:
    e = expectation
    lines.append(
        f"| random, exact (every architecture of the space) | {e['measured']} of {e['archs']} | "
        f"{e['table_acc']} | {e['percentile']} | {e['regret']} | | | | | | |"
    )
  return '\n'.join(lines) + '\n'


def run_compare(workdir: str, spaces, names, seeds: int, search_budget, train_budget) -> list:
  from nas_jax import search, strategies, train

  names = names or list(strategies.NAMES)
  rows = []
  os.makedirs(workdir, exist_ok=True)
  for space in spaces:
    for name in names:
      for seed in range(seeds):
        run = os.path.join(workdir, space, name, f'seed_{seed}')
        search_dir, train_dir = os.path.join(run, 'search'), os.path.join(run, 'train')
        done = os.path.join(run, 'row.json')
        if (finished := _finished_row(done)) is not None:
          rows.append(finished)
          continue
        print(f'== {space} {name} seed {seed}', flush=True)
        config = search_config(space, name, seed, *search_budget)
        result = search.run_search(config, search_dir, log=lambda line: None)
        genotype = result['genotype']
        collapse = search.collapse_counts(genotype, result['space'])
        trained = train.run_train(
            train_config(space, os.path.join(search_dir, 'genotype.json'), *train_budget),
            train_dir,
            log=lambda line: None,
        )
        row = {
            'space': space,
            'strategy': name,
            'seed': seed,
            'genotype': result['space'].to_text(genotype),
            **collapse,
            'test_accuracy': trained['test_accuracy'],
            'params_m': trained['params_m'],
            'search_seconds': result['seconds'],
            'search_compile_seconds': result['compile_seconds'],
            'final_val_acc': result['metrics'][-1]['val_acc'] if result['metrics'] else None,
        }
        print(
            f"   {row['genotype']} | skip {row['skip']} | param-free {row['param_free']} | "
            f"test acc {row['test_accuracy']:.4f} | search {row['search_seconds']:.0f} s",
            flush=True,
        )
        search.atomic_write(done, json.dumps(row, indent=2) + '\n')
        rows.append(row)
  search.atomic_write(os.path.join(workdir, 'rows.json'), json.dumps(rows, indent=2) + '\n')
  search.atomic_write(os.path.join(workdir, 'table.md'), table(rows))
  from nas_jax import components

  for space in spaces:
    write_cards(
        os.path.join(workdir, 'cards', space),
        [r for r in rows if r['space'] == space],
        components.space(search_config(space, names[0], 0, *search_budget)),
        scores=('test_accuracy', 'final_val_acc', 'search_seconds'),
    )
  return rows


def write_cards(out_dir: str, rows: list, space, table=None, scores=()) -> list[str]:
  """One reproduction card per strategy (``nas_jax.card``) from its rows' genotypes and
  ``scores`` (row keys); the random-cell rows get none. Returns the markdown paths."""
  from nas_jax import card as card_lib
  from nas_jax.util import atomic_write

  by_strategy = {}
  for r in rows:
    if r['strategy'] != 'random':
      by_strategy.setdefault(r['strategy'], []).append(r)
  paths = []
  for name, rs in by_strategy.items():
    c = card_lib.card(
        space,
        {r['seed']: space.load_genotype(r['genotype']) for r in rs},
        table=table,
        scores={k: {r['seed']: r[k] for r in rs if r.get(k) is not None} for k in scores},
        title=f'{name} in the {space.name} space',
    )
    atomic_write(os.path.join(out_dir, f'{name}.json'), json.dumps(c, indent=2) + '\n')
    atomic_write(path := os.path.join(out_dir, f'{name}.md'), card_lib.markdown(c))
    paths.append(path)
  return paths


def table(rows: list) -> str:
  """The markdown table: one row per run, then the per-strategy means."""
  lines = [
      '| space | strategy | seed | genotype (normal cell for DARTS) | skip | param-free | '
      'test acc | search s |',
      '|---|---|---|---|---|---|---|---|',
  ]
  for r in rows:
    g = r['genotype']
    g = g.split('reduce=')[0].rstrip(', ')  # DARTS: the normal cell only (reduce: mostly pooling)
    lines.append(
        f"| {r['space']} | {r['strategy']} | {r['seed']} | `{g}` | {r['skip']}/{r['edges']} "
        f"| {r['param_free']}/{r['edges']} | {r['test_accuracy']:.4f} | "
        f"{r['search_seconds']:.0f} |"
    )
  lines += [
      '',
      '| space | strategy | mean skip | mean param-free | test acc (mean ± std) | mean search s |',
      '|---|---|---|---|---|---|',
  ]
  groups = {}
  for r in rows:
    groups.setdefault((r['space'], r['strategy']), []).append(r)
  for (space, name), rs in groups.items():
    avg = lambda key, rs=rs: sum(r[key] for r in rs) / len(rs)
    lines.append(
        f"| {space} | {name} | {avg('skip'):.1f}/{rs[0]['edges']} | "
        f"{avg('param_free'):.1f}/{rs[0]['edges']} | "
        f"{_mean_std([r['test_accuracy'] for r in rs])} | "
        f"{avg('search_seconds'):.0f} |"
    )
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  start = time.time()
  if _TABLE.value:
    from nas_jax import tabular

    rows = cli.run_or_exit(
        lambda: run_table_compare(
            _WORKDIR.value,
            tabular.load(_TABLE.value),
            _STRATEGIES.value,
            _SEEDS.value,
            (_SEARCH_EPOCHS.value, _SEARCH_STEPS.value),
        )
    )
    with open(os.path.join(_WORKDIR.value, 'table_ground_truth.md'), encoding='utf-8') as f:
      print(f.read())
    print(
        f'{len(rows)} rows in {time.time() - start:.0f} s; {_WORKDIR.value}/table_ground_truth.md'
    )
    return
  rows = cli.run_or_exit(
      lambda: run_compare(
          _WORKDIR.value,
          _SPACES.value,
          _STRATEGIES.value,
          _SEEDS.value,
          (_SEARCH_EPOCHS.value, _SEARCH_STEPS.value),
          (_TRAIN_EPOCHS.value, _TRAIN_STEPS.value),
      )
  )
  print(table(rows))
  print(f'{len(rows)} runs in {time.time() - start:.0f} s; table in {_WORKDIR.value}/table.md')


if __name__ == '__main__':
  cli.run(main)
