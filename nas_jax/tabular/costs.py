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

from nas_jax import netstats, util

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
  arch's evaluation network at the protocol's batch, inference and one training step, kept per
  hash in ``cache_dir`` (``nas_jax.memory.cached_memory``: an interrupted pass resumes)."""
  from nas_jax import memory  # pylint: disable=import-outside-toplevel

  def build(arch):
    genotype = space.to_genotype(tuple(int(a) for a in arch))
    return lambda: space.evalnet(
        genotype, num_classes, channels=protocol.channels, layers=protocol.cells_per_stage
    )

  networks = [(h, build(arch)) for arch, h in zip(np.asarray(archs), hashes)]
  results = memory.cached_memory(
      networks, protocol_recipe(protocol), image_shape, protocol.batch_size, cache_dir, log
  )
  return {name: np.array([r[name] for r in results], np.float64) for name in MEMORY_METRICS}


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
  return table.with_arch_columns(
      columns,
      memory_backend=util.backend_label(),
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
  predicts the other ``holdout`` (``nas_jax.costs.fit_checked``). Peak memory is not additive
  where XLA removes dead code: a cell whose output is zero whatever its input leaves little
  of the network to compile, so such cells are the largest errors.

  The table's metadata says the network it holds for (the protocol's channels, cells per
  stage, image shape and batch) and the backend XLA compiled for, so that a search's cost
  term can refuse it for another (``nas_jax.components.cost_term``), and the training
  recipe whose step it compiled (:func:`protocol_recipe`), so that a measured hard target
  (``config.cost.measured``) compiles the same step.
  """
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
  space = table.space
  values = np.asarray(table.arch[metric], np.float64)
  genotypes = [space.to_genotype(tuple(int(a) for a in arch)) for arch in table.archs]
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
  )
  return costs.fit_checked(
      space, genotypes, values, metric, holdout=holdout, seed=seed, worst=worst, metadata=metadata
  )
