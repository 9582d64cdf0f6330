"""Launches a differentiable architecture search (DARTS, GDAS, SNAS, PC-DARTS, DrNAS, ...).

  python -m experiments.search --config=experiments/configs/search_demo.py --workdir=runs/x \
      [--config.order=2 --config.epochs=3 --config.strategy_name=gdas ...]

Any config key can be overridden with ``--config.KEY=VALUE``. The strategy is
``--config.strategy_name=NAME`` with its settings under ``--config.strategy.KEY`` (naming
another strategy than the file's starts from that strategy's paper defaults); the space
is ``--config.space_name=NAME``, its op set ``--config.space.primitives=none,max_pool_3x3``
(comma-separated) or ``--config.space.primitives="('none','max_pool_3x3')"``.
Bad input (an unknown flag, config key or op, a missing config file, a value of
the wrong type or out of range, a checkpoint that does not restore) prints one
line starting with ``error:`` and exits with status 2.
"""

import os

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.', required=True)
_CONFIG = cli.define_config_file(
    'config',
    None,
    'Search config file.',
    switches={'strategy_name': ('strategy', 'strategy'), 'space_name': ('space', 'space')},
)


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  from nas_jax import search  # after flag parsing: keeps --help fast

  result = cli.run_or_exit(lambda: search.run_search(_CONFIG.value, _WORKDIR.value))
  if 'summary' in result:  # num_seeds > 1
    for seed, text in result['summary']['genotypes'].items():
      print(f'seed {seed}: genotype = {text}')
    acc = result['summary']['final_val_acc']
    print(f'final val acc {acc["mean"]:.4f} +- {acc["std"]:.4f} over {len(acc["per_seed"])} seeds')
    print(
        f'outputs in {_WORKDIR.value}: seed_<s>/ (genotype.json genotype.txt alphas.npz '
        'metrics.jsonl and the plots), summary.json and checkpoints/'
    )
    return
  print(f'genotype = {result["space"].to_text(result["genotype"])}')
  print(f'outputs in {_WORKDIR.value}: {" ".join(output_names(_WORKDIR.value))}')


def output_names(workdir: str) -> list[str]:
  """The files and folders (with a trailing ``/``) that the run left in ``workdir``."""
  return [
      n + '/' if os.path.isdir(os.path.join(workdir, n)) else n for n in sorted(os.listdir(workdir))
  ]


if __name__ == '__main__':
  cli.run(main)
