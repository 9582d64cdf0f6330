"""The whole NAS loop on the offline dataset: search, retrain the found cell, compare with random.

  python -m experiments.demo [--workdir=runs/demo]

1. A DARTS search (``experiments/configs/search_demo.py``) writes
   ``WORKDIR/search/genotype.json`` and the alpha and cell plots.
2. The found cell is retrained from scratch (``experiments/configs/train_demo.py``)
   in ``WORKDIR/train_searched``.
3. A random genotype of the same space (the random-search baseline), with the
   same network size and budget, is retrained in ``WORKDIR/train_random``.

Each stage resumes from its checkpoints when rerun on the same workdir.
Measured cost on a 2-core CPU: see the README's demo section.
"""

import os
import time

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', 'runs/demo', 'Output directory.')
_RANDOM_SEED = flags.DEFINE_integer(
    'random_seed', 0, 'Seed of the random baseline genotype.', lower_bound=0
)


def run_demo(workdir: str, random_seed: int) -> dict:
  from experiments.configs import search_demo, train_demo
  from nas_jax import search, train
  from nas_jax.spaces.darts import discretize
  from nas_jax.spaces.darts.genotype import save_json

  start = time.time()
  search_dir = os.path.join(workdir, 'search')
  print(f'== 1/3 search ({search_dir})', flush=True)
  search_config = search_demo.get_config()
  found = search.run_search(search_config, search_dir)['genotype']
  print(f'found: {found.to_darts_text()}', flush=True)

  random_path = os.path.join(workdir, 'random_genotype.json')
  baseline = discretize.random_genotype(
      random_seed,
      primitives=search_config.primitives,
      steps=search_config.steps,
      multiplier=search_config.multiplier,
  )
  save_json(baseline, random_path)
  results = {}
  for n, (name, ref) in enumerate(
      (('searched', os.path.join(search_dir, 'genotype.json')), ('random', random_path)), 2
  ):
    run_dir = os.path.join(workdir, f'train_{name}')
    print(f'== {n}/3 retrain the {name} cell ({run_dir})', flush=True)
    config = train_demo.get_config()
    config.genotype = ref
    results[name] = train.run_train(config, run_dir)
  return {'results': results, 'search_dir': search_dir, 'seconds': time.time() - start}


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  out = cli.run_or_exit(lambda: run_demo(_WORKDIR.value, _RANDOM_SEED.value))
  print('\n== summary')
  print('| cell | test accuracy | params (M) | multiply-adds (M) | retrain s |')
  print('|---|---|---|---|---|')
  for name, r in out['results'].items():
    print(
        f'| {name} | {r["test_accuracy"]:.4f} | {r["params_m"]:.3f} | {r["flops_m"]:.1f} | '
        f'{r["seconds"]:.0f} |'
    )
  print(
      f'plots: {out["search_dir"]}/alphas.png, {out["search_dir"]}/cell_normal.png, '
      f'{out["search_dir"]}/cell_reduce.png, and cell_*.png in each train_* directory'
  )
  print(f'whole loop: {out["seconds"]:.0f} s')


if __name__ == '__main__':
  cli.run(main)
