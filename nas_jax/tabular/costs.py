"""Per-architecture costs of a table: parameters and multiply-adds of the evaluation network.

In a cell space whose decisions act independently (each NB201 edge holds one
op), a cost is additive over decisions: ``cost(a) = cost(b) + sum_d c[d, a_d]``
with ``b`` the all-zeros decision vector and ``c[d, v] = cost(b with d = v) -
cost(b)``. :func:`additive_costs` traces the evaluation network at the
``1 + sum(options - 1)`` probe architectures only (no compile) and returns the
contribution tables; ``tests/test_tabular.py`` checks the sum against a direct
count of random architectures.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from nas_jax import netstats

__all__ = ['additive_costs', 'memory_cost_table', 'predict', 'with_memory_columns']


def _count(space, arch, num_classes: int, protocol, image_shape) -> tuple[int, int]:
  net = space.evalnet(
      space.to_genotype(arch),
      num_classes,
      channels=protocol.channels,
      layers=protocol.cells_per_stage,
  )
  params = netstats.count_params(netstats.param_shapes(net, image_shape))
  return params, netstats.count_macs(net, image_shape)


@functools.lru_cache(maxsize=16)
def additive_costs(space, protocol, num_classes: int, image_shape) -> dict[str, tuple]:
  """``{'params': (base, c), 'flops': (base, c)}`` with ``c`` a (D, max option) array.

  Cached per (space, protocol, classes, shape): spaces and protocols are frozen. Do not
  modify the returned arrays.
  """
  options = space.options
  base_arch = (0,) * len(options)
  base = np.asarray(_count(space, base_arch, num_classes, protocol, image_shape), np.float64)
  c = np.zeros((2, len(options), max(options)))
  for d, n in enumerate(options):
    for v in range(1, n):
      arch = base_arch[:d] + (v,) + base_arch[d + 1 :]
      c[:, d, v] = np.asarray(_count(space, arch, num_classes, protocol, image_shape)) - base
  return {'params': (base[0], c[0]), 'flops': (base[1], c[1])}


def predict(base: float, contributions: np.ndarray, archs: np.ndarray) -> np.ndarray:
  """``base + sum_d contributions[d, archs[..., d]]`` for a batch of decision tuples."""
  archs = np.asarray(archs)
  d = np.arange(archs.shape[-1])
  return base + contributions[d, archs].sum(axis=-1)


MEMORY_METRICS = ('memory_inference', 'memory_training')


def protocol_recipe(protocol):
  """The retraining recipe whose step ``nas_jax.memory`` compiles for a table protocol's
  training memory: its batch and SGD (Nesterov momentum as given), no auxiliary head, no
  drop path, no cutout."""
  from nas_jax import train  # pylint: disable=import-outside-toplevel

  return train.Recipe(
      epochs=protocol.epochs,
      batch_size=protocol.batch_size,
      learning_rate=protocol.learning_rate,
      learning_rate_min=protocol.lr_min,
      momentum=protocol.momentum,
      nesterov=protocol.nesterov,
      weight_decay=protocol.weight_decay,
      grad_clip=0.0,
      auxiliary_weight=0.0,
      drop_path_prob=0.0,
      cutout_length=0,
  )


def memory_columns(
    space, protocol, num_classes: int, image_shape, archs, hashes, cache_dir: str, log=print
) -> dict[str, np.ndarray]:
  """``{'memory_inference', 'memory_training'}``: XLA's peak bytes (``nas_jax.memory``) of each
  arch's evaluation network at the protocol's batch, inference and one training step.

  Each arch's result is written to ``cache_dir/<hash>.json`` when measured and read from there
  when present, so an interrupted pass resumes where it stopped. Each needs two compiles
  (seconds for a table's network on a CPU).
  """
  import json  # pylint: disable=import-outside-toplevel
  import os  # pylint: disable=import-outside-toplevel
  import time  # pylint: disable=import-outside-toplevel

  from nas_jax import memory  # pylint: disable=import-outside-toplevel
  from nas_jax.util import atomic_write  # pylint: disable=import-outside-toplevel

  os.makedirs(cache_dir, exist_ok=True)
  recipe = protocol_recipe(protocol)
  out = {name: np.zeros(len(hashes)) for name in MEMORY_METRICS}
  start, done = time.time(), 0
  for i, (arch, h) in enumerate(zip(np.asarray(archs), hashes)):
    path = os.path.join(cache_dir, f'{h}.json')
    result = None
    if os.path.exists(path):
      try:
        with open(path) as f:
          result = json.load(f)
      except (OSError, ValueError):
        result = None  # a damaged file is measured again
    if result is None:
      net = space.evalnet(
          space.to_genotype(tuple(int(a) for a in arch)),
          num_classes,
          channels=protocol.channels,
          layers=protocol.cells_per_stage,
      )
      peaks = memory.network_memory(net, recipe, image_shape, protocol.batch_size)
      result = {name: peaks[name.split('_')[1]]['peak'] for name in MEMORY_METRICS}
      atomic_write(path, json.dumps(result) + '\n')
      done += 1
      if done % 50 == 0:
        log(f'memory: {i + 1}/{len(hashes)} cells, {(time.time() - start) / done:.1f} s each')
    for name in MEMORY_METRICS:
      out[name][i] = result[name]
  return out


def with_memory_columns(table, cache_dir: str, log=print):
  """``table`` with the :data:`MEMORY_METRICS` columns added (:func:`memory_columns` at the
  table protocol's batch, resumable through ``cache_dir``) and described in its metadata."""
  from nas_jax import data  # pylint: disable=import-outside-toplevel
  from nas_jax.tabular.protocol import Protocol  # pylint: disable=import-outside-toplevel

  protocol = Protocol.from_dict(table.metadata['protocol'])
  meta = data.dataset_meta(protocol.dataset)
  shape = data.input_shape(protocol.dataset, protocol.image_size)
  columns = memory_columns(
      table.space, protocol, meta.num_classes, shape, table.archs, table.hashes, cache_dir, log
  )
  import jax  # pylint: disable=import-outside-toplevel

  return table.with_arch_columns(
      columns,
      memory_backend=f'{jax.default_backend()}: {jax.devices()[0].device_kind}',
      memory=(
          "XLA's peak bytes (compiled.memory_analysis: arguments + outputs + temporaries - "
          f'aliased) of the inference program and of one training step at batch '
          f'{protocol.batch_size}, added by python -m experiments.table_memory'
      ),
  )


def memory_cost_table(table, metric: str, holdout: float = 0.5, seed: int = 0, worst: int = 5):
  """``(CostTable, fit)``: the additive memory cost (``nas_jax.costs.fit_table``, one entry
  per op and cell type) of ``table``'s ``metric`` column (:data:`MEMORY_METRICS`), fitted on
  every cell, and ``fit``, how well the same fit on a random ``1 - holdout`` of the cells
  predicts the other ``holdout``: Kendall tau, Spearman rho, the mean, median, 95th
  percentile and largest absolute relative error, the range of the held-out values (bytes)
  and the ``worst`` held-out cells (genotype, bytes, prediction). Peak memory is not additive
  where XLA removes dead code: a cell whose output is zero whatever its input leaves little
  of the network to compile, so such cells are the largest errors.

  The table's metadata says the network it holds for (the protocol's channels, cells per
  stage, image shape and batch) and the backend XLA compiled for, so that a search's cost
  term can refuse it for another (``nas_jax.components.cost_term``), and the training
  recipe whose step it compiled (:func:`protocol_recipe`), so that a measured hard target
  (``config.cost.measured``) compiles the same step.
  """
  from scipy import stats  # pylint: disable=import-outside-toplevel

  from nas_jax import costs, data  # pylint: disable=import-outside-toplevel
  from nas_jax.config_checks import ConfigError  # pylint: disable=import-outside-toplevel
  from nas_jax.tabular.protocol import Protocol  # pylint: disable=import-outside-toplevel

  if metric not in MEMORY_METRICS:
    raise ConfigError(f'the memory cost is one of {", ".join(MEMORY_METRICS)}, got {metric!r}')
  if metric not in table.arch or 'memory_backend' not in table.metadata:
    raise ConfigError(
        f'the table has no {metric} column of a known backend: add it with '
        'python -m experiments.table_memory'
    )
  if not 0 < holdout < 1:
    raise ConfigError(f'holdout must be in (0, 1), got {holdout!r}')
  space = table.space
  values = np.asarray(table.arch[metric], np.float64)
  genotypes = [space.to_genotype(tuple(int(a) for a in arch)) for arch in table.archs]
  order = np.random.default_rng(seed).permutation(len(values))
  cut = int(round(len(values) * (1 - holdout)))
  if cut < 2 or cut >= len(values):
    raise ConfigError(f'{len(values)} cells are too few to fit on and hold out {holdout}')
  seen, unseen = order[:cut], order[cut:]
  trial = costs.fit_table(space, [genotypes[i] for i in seen], values[seen], metric)
  predicted = np.array([trial.of_genotype(space, genotypes[i]) for i in unseen])
  truth = values[unseen]
  error = np.abs(predicted - truth) / truth
  fit = dict(
      fitted_cells=int(cut),
      held_out_cells=int(len(unseen)),
      kendall_tau=float(stats.kendalltau(predicted, truth)[0]),
      spearman_rho=float(stats.spearmanr(predicted, truth)[0]),
      mean_abs_error=float(error.mean()),
      median_abs_error=float(np.median(error)),
      p95_abs_error=float(np.percentile(error, 95)),
      max_abs_error=float(error.max()),
      worst=[
          dict(
              genotype=space.to_text(genotypes[unseen[i]]),
              bytes=float(truth[i]),
              predicted=float(predicted[i]),
          )
          for i in np.argsort(-error)[:worst]
      ],
      held_out_range=[float(truth.min()), float(truth.max())],
      seed=int(seed),
  )
  protocol = Protocol.from_dict(table.metadata['protocol'])
  shape = data.input_shape(protocol.dataset, protocol.image_size)
  metadata = dict(
      channels=protocol.channels,
      layers=protocol.cells_per_stage,
      image_shape=[int(d) for d in shape],
      batch=protocol.batch_size,
      backend=table.metadata['memory_backend'],
      recipe=dataclasses.asdict(protocol_recipe(protocol)),
      source=f'{metric} column of a {len(values)}-cell table ({protocol.dataset})',
      fit=fit,
  )
  return costs.fit_table(space, genotypes, values, metric, metadata=metadata), fit
