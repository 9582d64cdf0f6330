"""The whole NAS loop on the offline dataset: search, retrain the found cell, compare with random.

  python -m experiments.demo [--workdir=runs/demo]

1. A DARTS search (``experiments/configs/search_demo.py``) writes
   ``WORKDIR/search/genotype.json`` and the alpha and cell plots.
2. The found cell is retrained from scratch (``experiments/configs/train_demo.py``)
   in ``WORKDIR/train_searched``.
3. A random genotype of the same space (the random-search baseline), with the
   same network size and budget, is retrained in ``WORKDIR/train_random``.
4. Did the search beat random? Retrained accuracies of two cells are within
   noise at this budget, so a short NB201 search over the shipped table's op
   set (``WORKDIR/search_nb201``) is looked up in the table
   (``nas_jax.tabular.load_shipped``), next to random cells and the exact
   expectation of a random architecture (``Table.random_baseline``): ground-truth
   accuracy and percentile among the table's cells.

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
  out = {'results': results, 'search_dir': search_dir}
  out['ground_truth'] = ground_truth(workdir, random_seed)
  out['seconds'] = time.time() - start
  return out


def ground_truth(
    workdir: str, random_seed: int, random_cells: int = 5, epochs: int = 2, steps: int = 25
) -> dict | None:
  """Stage 4: an NB201 search over the shipped table's op set, and random cells, looked up."""
  import jax

  from experiments.configs import search_table
  from nas_jax import search, tabular

  if not os.path.exists(tabular.SHIPPED):
    print('== 4/4 skipped: the package has no shipped table', flush=True)
    return None
  table = tabular.load_shipped()
  space = table.space
  run_dir = os.path.join(workdir, 'search_nb201')
  print(
      f"== 4/4 search the table's space ({space.name}, {len(space.primitives)} ops) "
      f'and look the cell up ({run_dir})',
      flush=True,
  )
  config = search_table.for_table(table)  # the table's space, op set and protocol
  config.epochs = epochs
  config.max_steps_per_epoch = steps
  config.log_every = 0
  found = search.run_search(config, run_dir, log=lambda line: None)['genotype']
  rows = {'searched': (space.to_text(found), table.report(space.from_genotype(found)))}
  for i, arch in enumerate(space.sample(jax.random.key(random_seed), random_cells)):
    rows[f'random {i}'] = (space.to_text(space.to_genotype(arch)), table.report(arch))
  baseline = table.random_baseline('test_acc')
  return {
      'rows': rows,
      'random_exact': {k: baseline[k] for k in ('mean', 'percentile', 'regret', 'measured')},
      'archs': baseline['archs'],
      'measured': table.metadata.get('members_measured'),
      'total': table.metadata.get('members_total'),
      'size': len(table),
  }


def print_ground_truth(gt: dict) -> None:
  """Stage 4's table: the searched and random cells looked up, the exact random baseline,
  and the verdict."""
  print(
      f'\n== ground truth: the shipped table ({gt["size"]} unique cells; '
      f'{gt["measured"]}/{gt["total"]} cell-seeds measured)'
  )
  print('| cell | genotype | table test acc | percentile | regret to best |')
  print('|---|---|---|---|---|')
  for name, (text, r) in gt['rows'].items():
    if r['percentile'] is None:
      print(f'| {name} | `{text}` | not measured yet | | |')
      continue
    print(f'| {name} | `{text}` | {r["value"]:.4f} | {r["percentile"]:.1f} | {r["regret"]:.4f} |')
  exact = gt['random_exact']
  print(
      f'| random, exact (all {gt["archs"]} architectures; {exact["measured"]} measured) | | '
      f'{exact["mean"]:.4f} | {exact["percentile"]:.1f} | {exact["regret"]:.4f} |'
  )
  searched = gt['rows']['searched'][1]
  if searched['percentile'] is not None:
    verdict = 'beat' if searched['percentile'] > exact['percentile'] else 'did not beat'
    print(
        f'the search {verdict} random: percentile {searched["percentile"]:.1f} against '
        f'{exact["percentile"]:.1f} expected of a uniformly random architecture'
    )


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
  if out['ground_truth']:
    print_ground_truth(out['ground_truth'])
  print(f'whole loop: {out["seconds"]:.0f} s')


if __name__ == '__main__':
  cli.run(main)
