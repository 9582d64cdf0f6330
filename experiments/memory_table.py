"""Fits the additive memory cost table of a search space from a table's memory columns.

  python -m experiments.memory_table --table=FILE --metric=memory_training \
      --out=runs/memory_nb201.json

``--table`` (``shipped``, a shipped name or a file) must hold the column ``--metric``
(``memory_inference`` or ``memory_training``: XLA's peak bytes of each cell's compiled
evaluation network, added by ``python -m experiments.table_memory``). Peak memory is not a sum
over ops, so the table written to ``--out`` (``nas_jax.costs.save_table``) is the least-squares
additive fit, one entry per op and cell type (``nas_jax.tabular.costs.memory_cost_table``).
Before it is written, the same fit on a random half of the cells predicts the other half, and
the run prints (and the table's metadata keeps) the held-out Kendall tau, Spearman rho, the
mean, median, 95th percentile and largest relative error, and the worst held-out cells. A search names the file as ``config.cost.memory_table``, with
``config.cost.name`` the metric, the table protocol's network size as ``cost.channels`` /
``cost.layers`` and its batch as ``cost.memory_batch``.
"""

from absl import flags

from experiments import cli

_TABLE = flags.DEFINE_string('table', 'shipped', "The table ('shipped', a name or a file).")
_METRIC = flags.DEFINE_enum(
    'metric', 'memory_training', ['memory_inference', 'memory_training'], 'The memory column.'
)
_OUT = flags.DEFINE_string('out', None, 'The cost table file to write.', required=True)
_HOLDOUT = flags.DEFINE_float('holdout', 0.5, 'The fraction of cells the fit check holds out.')
_SEED = flags.DEFINE_integer('seed', 0, 'The seed of the held-out split.')


def fit(table_ref: str, metric: str, out: str, holdout: float, seed: int, log=print) -> dict:
  """Fits, checks and writes the memory cost table; returns its held-out fit."""
  from nas_jax import costs, tabular
  from nas_jax.tabular import costs as table_costs

  table = tabular.load(table_ref)
  cost_table, report = table_costs.memory_cost_table(table, metric, holdout, seed)
  log(
      f'{metric} of {len(table)} cells: fitted on {report["fitted_cells"]}, held out '
      f'{report["held_out_cells"]}: Kendall tau {report["kendall_tau"]:.3f}, Spearman rho '
      f'{report["spearman_rho"]:.3f}, mean abs error {100 * report["mean_abs_error"]:.1f}% '
      f'(median {100 * report["median_abs_error"]:.1f}%, 95th percentile '
      f'{100 * report["p95_abs_error"]:.1f}%, max {100 * report["max_abs_error"]:.1f}%)'
  )
  mib = lambda b: f'{b / 2**20:.3f} MiB'
  for cell in report['worst']:
    log(f'  held out: {cell["genotype"]} {mib(cell["bytes"])}, predicted {mib(cell["predicted"])}')
  for cell, ops in cost_table.ops.items():
    entries = ', '.join(f'{p} {mib(c)}' for p, c in zip(table.space.primitives, ops[0]))
    log(f'  {cell}: per edge {entries}')
  log(f'  base {mib(cost_table.base)}')
  costs.save_table(cost_table, out)
  return report


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  cli.run_or_exit(lambda: fit(_TABLE.value, _METRIC.value, _OUT.value, _HOLDOUT.value, _SEED.value))
  print(f'memory cost table: {_OUT.value}')


if __name__ == '__main__':
  cli.run(main)
