"""Fits the additive memory cost table of a search space, from a table's memory columns or from
compiled networks.

  python -m experiments.memory_table --table=FILE --metric=memory_training \
      --out=runs/memory_nb201.json
  python -m experiments.memory_table --config=experiments/configs/train_demo.py \
      --networks=60 --workdir=runs/memory_darts_demo --metric=memory_training \
      --out=runs/memory_darts_demo_training.json

From a table: ``--table`` (``shipped``, a shipped name or a file) must hold the column
``--metric`` (``memory_inference`` or ``memory_training``: XLA's peak bytes of each cell's
compiled evaluation network, added by ``python -m experiments.table_memory``).

From networks (any space, e.g. the DARTS space, which has no table): ``--config`` is a
retraining config; its evaluation network (space, op set, ``init_channels``, ``layers``,
dataset and image size) is built for ``--networks`` genotypes drawn from skewed op mixes
(``nas_jax.costs.op_mixes``), and each one's inference program and training step (the
config's recipe, at its ``batch_size``) are compiled and XLA's peaks read
(``nas_jax.memory``). Each network's result is kept in ``--workdir``, so a killed pass resumes
when rerun.

Peak memory is not a sum over ops, so the table written to ``--out``
(``nas_jax.costs.save_table``) is the least-squares additive fit, one entry per op and cell
type. Before it is written, the same fit on a random half predicts the other half
(``nas_jax.costs.fit_checked``), and the run prints (and the table's metadata keeps) the
held-out Kendall tau, Spearman rho, the mean, median, 95th percentile and largest relative
error, and the worst held-out cells. A search names the file as ``config.cost.memory_table``,
with ``config.cost.name`` the metric, the network's size as ``cost.channels`` /
``cost.layers`` and its batch as ``cost.memory_batch``.
"""

import dataclasses
import hashlib

from absl import flags

from experiments import cli

_TABLE = flags.DEFINE_string('table', 'shipped', "The table ('shipped', a name or a file).")
_CONFIG = cli.define_config_file(
    'config',
    None,
    'A retraining config whose evaluation network is compiled (with --networks).',
    optional=True,
)
_NETWORKS = flags.DEFINE_integer(
    'networks', 0, 'Fit on this many compiled networks of --config instead of --table.'
)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, "With --networks: where each network's result is kept (resumable)."
)
_METRIC = flags.DEFINE_enum(
    'metric', 'memory_training', ['memory_inference', 'memory_training'], 'The memory column.'
)
_OUT = flags.DEFINE_string('out', None, 'The cost table file to write.', required=True)
_HOLDOUT = flags.DEFINE_float('holdout', 0.5, 'The fraction of cells the fit check holds out.')
_SEED = flags.DEFINE_integer('seed', 0, 'The seed of the held-out split.')


def _report(space, cost_table, report, metric: str, what: str, log) -> None:
  rank = lambda r: 'undefined' if r is None else f'{r:.3f}'
  log(
      f'{metric} of {what}: fitted on {report["fitted_cells"]}, held out '
      f'{report["held_out_cells"]}: Kendall tau {rank(report["kendall_tau"])}, Spearman rho '
      f'{rank(report["spearman_rho"])}, mean abs error {100 * report["mean_abs_error"]:.1f}% '
      f'(median {100 * report["median_abs_error"]:.1f}%, 95th percentile '
      f'{100 * report["p95_abs_error"]:.1f}%, max {100 * report["max_abs_error"]:.1f}%)'
  )
  mib = lambda b: f'{b / 2**20:.3f} MiB'
  for cell in report['worst']:
    log(f'  held out: {cell["genotype"]} {mib(cell["value"])}, predicted {mib(cell["predicted"])}')
  for cell, ops in cost_table.ops.items():
    entries = ', '.join(f'{p} {mib(c)}' for p, c in zip(space.primitives, ops[0]))
    log(f'  {cell}: per edge {entries}')
  log(f'  base {mib(cost_table.base)}')


def fit(table_ref: str, metric: str, out: str, holdout: float, seed: int, log=print) -> dict:
  """Fits, checks and writes the memory cost table of a table's column; returns its fit."""
  from nas_jax import costs, tabular
  from nas_jax.tabular import costs as table_costs

  table = tabular.load(table_ref)
  cost_table, report = table_costs.memory_cost_table(table, metric, holdout, seed)
  _report(table.space, cost_table, report, metric, f'{len(table)} cells', log)
  costs.save_table(cost_table, out)
  return report


def fit_networks(
    config,
    networks: int,
    workdir: str,
    metric: str,
    out: str,
    holdout: float,
    seed: int,
    log=print,
) -> dict:
  """Compiles (or resumes) ``networks`` evaluation networks of the retraining ``config``, fits,
  checks and writes their memory cost table; returns its fit."""
  from nas_jax import components, costs, data, memory, train
  from nas_jax.config_checks import ConfigError
  from nas_jax.util import backend_label

  if networks < 4:
    raise ConfigError(f'--networks must be at least 4 (2 to fit, 2 to hold out), got {networks}')
  if not workdir:
    raise ConfigError('--networks needs --workdir, where each network is kept')
  space, _ = train.network(config)
  evalnet = components.evalnet_record(config, space)
  options = components.evalnet_from_record(evalnet, space)
  num_classes = data.dataset_meta(config.dataset).num_classes
  shape = data.input_shape(config.dataset, config.image_size)
  recipe = train.Recipe.from_config(config)
  genotypes = costs.op_mixes(space, networks)

  def entry(genotype):
    text = space.to_text(genotype)
    key = hashlib.sha1(text.encode()).hexdigest()[:16]
    return key, lambda: space.evalnet(genotype, num_classes, **options)

  log(f'{space.name} evaluation network of {networks} genotypes, results in {workdir}')
  results = memory.cached_memory(
      [entry(g) for g in genotypes], recipe, shape, recipe.batch_size, workdir, log
  )
  values = [r[metric] for r in results]
  metadata = dict(
      channels=config.init_channels,
      layers=config.layers,
      image_shape=[int(d) for d in shape],
      batch=recipe.batch_size,
      backend=backend_label(),
      recipe=dataclasses.asdict(recipe),
      evalnet=evalnet,
      source=f'{metric} of {networks} compiled networks ({config.dataset}, op mixes seed 1)',
  )
  cost_table, report = costs.fit_checked(
      space, genotypes, values, metric, holdout=holdout, seed=seed, metadata=metadata
  )
  _report(space, cost_table, report, metric, f'{networks} networks', log)
  costs.save_table(cost_table, out)
  return report


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  if _NETWORKS.value:
    if _CONFIG.value is None:
      cli.fail('--networks needs --config, the retraining config whose network is compiled')
    cli.run_or_exit(
        lambda: fit_networks(
            _CONFIG.value,
            _NETWORKS.value,
            _WORKDIR.value,
            _METRIC.value,
            _OUT.value,
            _HOLDOUT.value,
            _SEED.value,
        )
    )
  else:
    cli.run_or_exit(
        lambda: fit(_TABLE.value, _METRIC.value, _OUT.value, _HOLDOUT.value, _SEED.value)
    )
  print(f'memory cost table: {_OUT.value}')


if __name__ == '__main__':
  cli.run(main)
