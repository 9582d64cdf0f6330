"""Adds peak-memory columns to a table: XLA's analysis of every cell's compiled programs.

  python -m experiments.table_memory --table=shipped --workdir=runs/table_memory_animal \
      [--out=runs/table_memory_animal/table.npz]

For every row of ``--table`` (``shipped``, a shipped name or a table file) it compiles the
evaluation network's inference program and one training step at the table protocol's batch
and records XLA's peak bytes of each (``nas_jax.memory``) as the columns ``memory_inference``
and ``memory_training`` (cost columns, like ``params``: NSGA-II takes them as objectives,
``--config.objectives="('memory_training',)"``). Each cell's result is kept in
``--workdir``, so a killed pass resumes where it stopped when rerun; the table with the new
columns is written to ``--out`` (atomically) once every row is done. Two compiles per cell:
its pass over the 1,236-cell animal table logged 5.3-6.6 s per cell on the 2-core CPU (about
2 h, at times beside other work).
"""

import os

from absl import flags

from experiments import cli

_TABLE = flags.DEFINE_string('table', 'shipped', "The table ('shipped', a name or a file).")
_WORKDIR = flags.DEFINE_string(
    'workdir', None, "Where each cell's result is kept (resumable).", required=True
)
_OUT = flags.DEFINE_string('out', None, 'The table file to write (default: WORKDIR/table.npz).')


def add_memory(table_ref: str, workdir: str, out: str | None, log=print) -> str:
  """Computes (or resumes) the memory columns of ``table_ref`` and writes the table to ``out``."""
  from nas_jax import tabular
  from nas_jax.tabular import costs

  table = tabular.load(table_ref)
  log(f'{table_ref}: {len(table)} cells, results in {workdir}')
  result = costs.with_memory_columns(table, os.path.join(workdir, 'cells'), log)
  out = out or os.path.join(workdir, 'table.npz')
  result.save(out)
  return out


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  out = cli.run_or_exit(lambda: add_memory(_TABLE.value, _WORKDIR.value, _OUT.value))
  print(f'table with memory columns: {out}')


if __name__ == '__main__':
  cli.run(main)
