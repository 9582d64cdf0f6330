"""Data parallelism with ``jax.jit`` and ``Mesh``/``NamedSharding`` (the successor of ``pmap``).

The search step is written for the global batch. Batches are placed with their
batch axis split over the mesh axis ``'data'`` and the search state is
replicated, so XLA's SPMD partitioner runs each device on its shard and inserts
the all-reduces itself: BatchNorm statistics and gradients are means over the
**global** batch, exactly as on one device. Nothing in the step knows how many
devices there are.

Multi-host runs start every process with the same config plus
``num_processes``/``process_id``/``coordinator_address``; ``initialize``
calls ``jax.distributed.initialize`` before any other JAX call. Every process
builds the same global batch from the deterministic data order and hands JAX
the rows its own devices hold (``shard_batch``).
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

DATA_AXIS = 'data'


def initialize(num_processes: int = 1, process_id: int = 0, coordinator_address: str = '') -> None:
  """Joins a multi-process run (a no-op for one process). Call before any other JAX call."""
  if num_processes <= 1:
    return
  if not coordinator_address:
    raise ValueError(
        'config.coordinator_address (host:port of process 0) is required when '
        f'config.num_processes > 1 (got {num_processes})'
    )
  # CPU devices of different processes talk through gloo (GPUs use NCCL regardless).
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(
      coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
  )


def make_mesh(num_devices: int = 0) -> Mesh:
  """A 1-D mesh over the first ``num_devices`` global devices (0: all of them)."""
  devices = jax.devices()
  n = len(devices) if num_devices <= 0 else num_devices
  if n > len(devices):
    raise ValueError(
        f'config.num_devices is {num_devices} but only {len(devices)} '
        f'{jax.default_backend()} devices are visible'
    )
  return Mesh(np.asarray(devices[:n]), (DATA_AXIS,))


def config_mesh(config: Any, batch_keys: tuple[str, ...] = ('batch_size',)) -> Mesh:
  """The mesh of ``config.num_devices``, after checking that each batch size splits over it.

  Raises:
    ValueError: one line naming the config key.
  """
  mesh = make_mesh(config.num_devices)
  for key in batch_keys:
    if config[key] % mesh.size:
      raise ValueError(
          f'config.{key} ({config[key]}) must be divisible by the number of '
          f'devices ({mesh.size})'
      )
  return mesh


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole value (the search state)."""
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, seed_axis: bool = False) -> NamedSharding:
  """The batch axis split over the devices; behind a leading seed axis when ``seed_axis``."""
  return NamedSharding(mesh, P(None, DATA_AXIS) if seed_axis else P(DATA_AXIS))


def shard_batch(batch: Any, sharding: NamedSharding) -> Any:
  """Places host arrays (the same global batch on every process) with ``sharding``."""

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(put, batch)
