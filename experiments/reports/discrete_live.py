"""REA against random search in the DARTS space with live training; every answer retrained.

  python -m experiments.reports.discrete_live [--workdir=runs/darts_live] [--seeds=3]
      [--out=docs/discrete_live.md]

For each strategy (``rea``, ``random``) and seed ``0 .. seeds - 1`` it runs
``python -m experiments.discrete --config=experiments/configs/discrete_darts_live.py:STRATEGY
--config.seed=SEED --workdir=WORKDIR/STRATEGY_SEED`` (a child process, so a rerun resumes
it from its checkpoint), the same budget of queries for both, each query a cell of the
DARTS space trained from scratch at demo size. Then the answer of every search (the cell
with the best validation accuracy) is retrained as ``make demo`` retrains its cell
(``experiments/configs/train_demo.py``: 6 cells, C=16, 3 epochs, in
``WORKDIR/STRATEGY_SEED/retrain``; resumed too).

The report (markdown, to ``--out`` and stdout) gives, per strategy, mean +- std over
the seeds of the answer's live validation and test accuracy and of its retrained test
accuracy, and, as the "better than random?" reading, the percentile of each answer's
live test accuracy among every cell random search trained (all its queries over all its
seeds: a sample of the space's cells under the live protocol, the ground truth at hand
where no table exists).
"""

import json
import os
import subprocess
import sys

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', 'runs/darts_live', 'Where the runs go (resumed).')
_SEEDS = flags.DEFINE_integer('seeds', 3, 'Searches per strategy.', lower_bound=1)
_OUT = flags.DEFINE_string('out', 'docs/discrete_live.md', 'The markdown report.')
_OVERRIDES = flags.DEFINE_string(
    'overrides',
    '',
    "';'-separated KEY=VALUE config overrides of every search (the tests shrink it).",
)
_RETRAIN = flags.DEFINE_string(
    'retrain_overrides', '', "';'-separated KEY=VALUE overrides of the retraining config."
)


def _items(value: str) -> list[str]:
  return [item for item in value.split(';') if item]


STRATEGIES = ('rea', 'random')
CONFIG = 'experiments/configs/discrete_darts_live.py'
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _search(strategy: str, seed: int, workdir: str) -> dict:
  """Runs (or resumes, or reads) one search; its ``best.json`` and every query."""
  best = os.path.join(workdir, 'best.json')
  if not os.path.exists(best):
    cmd = [
        sys.executable,
        '-m',
        'experiments.discrete',
        f'--config={CONFIG}:{strategy}',
        f'--config.seed={seed}',
        f'--workdir={workdir}',
        *(f'--config.{o}' for o in _items(_OVERRIDES.value)),
    ]
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
    if done.returncode:
      cli.fail(
          f'the search {strategy} seed {seed} failed (status {done.returncode}); rerun resumes'
      )
  with open(best) as f:
    out = json.load(f)
  with open(os.path.join(workdir, 'history.jsonl')) as f:
    out['history'] = [json.loads(line) for line in f if line.strip()]
  return out


def _retrain(genotype_file: str, workdir: str) -> float:
  from experiments.configs import train_demo
  from nas_jax import train

  config = train_demo.get_config()
  config.genotype = genotype_file
  for item in _items(_RETRAIN.value):
    key, value = item.split('=', 1)
    if key not in config:
      cli.fail(f'--retrain_overrides: the retraining config has no key {key!r}')
    config[key] = type(config[key])(value)
  return float(train.run_train(config, workdir)['test_accuracy'])


def main(argv):
  del argv
  import numpy as np

  from nas_jax.util import atomic_write

  runs = {}
  for strategy in STRATEGIES:
    for seed in range(_SEEDS.value):
      workdir = os.path.join(_WORKDIR.value, f'{strategy}_{seed}')
      print(f'== {strategy} seed {seed} ({workdir})', flush=True)
      run = _search(strategy, seed, workdir)
      run['retrained'] = _retrain(
          os.path.join(workdir, 'best_genotype.txt'), os.path.join(workdir, 'retrain')
      )
      runs[strategy, seed] = run
  pool = np.asarray(
      [r['report'] for (s, _), run in runs.items() if s == 'random' for r in run['history']]
  )
  queries = len(runs['rea', 0]['history'])
  lines = [
      f'{_SEEDS.value} seeds per strategy, {queries} queries each (`{CONFIG}`; '
      f'`python -m experiments.reports.discrete_live --seeds={_SEEDS.value}`). '
      'Live: the answer as the search trained it (one epoch, 5 cells, C=8); retrained: the '
      'same cell retrained by `experiments/configs/train_demo.py` (6 cells, C=16, 3 epochs). '
      f'Percentile: of the live test accuracy among all {len(pool)} cells random search '
      f'trained (their mean {pool.mean():.4f}).',
      '',
      '| strategy | live val acc | live test acc | percentile | retrained test acc | '
      'found at query |',
      '|---|---|---|---|---|---|',
  ]
  for strategy in STRATEGIES:
    mine = [runs[strategy, s] for s in range(_SEEDS.value)]
    val = np.asarray([abs(r['score']) for r in mine])
    test = np.asarray([r['report'] for r in mine])
    pct = np.asarray([100.0 * np.mean(pool < t) for t in test])
    re = np.asarray([r['retrained'] for r in mine])
    at = [r['found_at_query'] for r in mine]
    lines.append(
        f'| {strategy} | {val.mean():.4f} ± {val.std():.4f} | {test.mean():.4f} ± '
        f'{test.std():.4f} | {pct.mean():.1f} | {re.mean():.4f} ± {re.std():.4f} | '
        f'{", ".join(map(str, at))} |'
    )
  lines += ['', 'Per seed (strategy, seed: live val / live test / retrained test; the cell):', '']
  for (strategy, seed), r in runs.items():
    lines.append(
        f'- {strategy} {seed}: {abs(r["score"]):.4f} / {r["report"]:.4f} / '
        f'{r["retrained"]:.4f}; `{r["genotype"]}`'
    )
  text = '\n'.join(lines) + '\n'
  out_dir = os.path.dirname(_OUT.value)
  if out_dir:
    os.makedirs(out_dir, exist_ok=True)
  atomic_write(_OUT.value, text)
  print(text)


if __name__ == '__main__':
  cli.run(main)
