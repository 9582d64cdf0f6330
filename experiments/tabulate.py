"""Builds a tabular benchmark: every unique cell of a space trained under one protocol.

  python -m experiments.tabulate --config=experiments/configs/tabulate_nb201_mnist.py \
      --workdir=runs/table_nb201_mnist [--max_members=N] [--assemble_only]

Rerunning the same command with the same --workdir resumes: finished cells are
kept, a corrupt result is retrained. The table is written to WORKDIR/table.npz
(nas_jax.tabular.Table). Bad input prints one line starting with ``error:``
and exits with status 2.
"""

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'Build directory (resumed).', required=True)
_MAX = flags.DEFINE_integer('max_members', None, 'Train at most this many members, then stop.')
_ASSEMBLE = flags.DEFINE_bool('assemble_only', False, 'Only assemble table.npz from the results.')
_CONFIG = cli.define_config_file(
    'config', 'experiments/configs/tabulate_nb201_mnist.py', 'Tabulate config file.'
)


def main(argv):
  del argv
  from nas_jax.tabular import builder  # after flag parsing: keeps --help fast

  result = cli.run_or_exit(
      lambda: builder.build(
          _CONFIG.value,
          _WORKDIR.value,
          max_members=_MAX.value,
          assemble_only=_ASSEMBLE.value,
      )
  )
  state = 'complete' if result['complete'] else 'partial'
  print(
      f'{result["done"]}/{result["members"]} members ({result["trained"]} trained now, '
      f'{result["corrupt"]} corrupt retrained); {state} table: {result["table"]}'
  )


if __name__ == '__main__':
  cli.run(main)
