"""A per-op latency lookup table, measured on this machine, and the latency it predicts.

Hardware-aware NAS (ProxylessNAS, FBNet) predicts a network's latency as the
sum of its ops' latencies, each measured once at its input shape. Here each
candidate op is timed at each stage's shape (``C * 2**s`` channels,
``H / 2**s`` pixels) and batch, as a chain of ``repeats`` applications in one
compiled program minus the same program without the op (so dispatch costs
cancel); the fixed part (stem, residual blocks, head) is the measured
network with the first op other than ``none`` on every edge, minus
those ops' entries. The prediction of an
architecture is ``base + N * sum_stages sum_edges op[stage, op_e]``.
``benchmarks/latency.py`` validates it against measured compiled networks.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nas_jax.util import atomic_write, backend_label, median_seconds

__all__ = ['LatencyTable', 'measure', 'measure_network', 'median_seconds']

_MIN_ENTRY = 1e-7  # seconds: an op that compiles away (``none``) still counts as present


class LatencyTable:
  """Per-op inference seconds by stage and batch, and the fixed part of the network.

  Attributes:
    ops: ``{batch: (3, K) array}`` seconds of each op at each stage.
    base: ``{batch: seconds}`` of everything but the cells.
    metadata: the space, op set, network size, image size and machine.
  """

  def __init__(self, ops: dict[int, np.ndarray], base: dict[int, float], metadata: dict[str, Any]):
    self.ops = {int(b): np.asarray(v, np.float64) for b, v in ops.items()}
    self.base = {int(b): float(v) for b, v in base.items()}
    self.metadata = dict(metadata)

  def predict(self, archs, batch: int) -> np.ndarray:
    """Predicted seconds of one inference of each arch (..., 6) at ``batch``."""
    if batch not in self.ops:
      raise ValueError(f'the latency table has batches {sorted(self.ops)}, not {batch}')
    archs = np.asarray(archs)
    table = self.ops[batch]  # (stages, K)
    per_stage = table[:, archs].sum(axis=-1)  # (stages, ...)
    return self.base[batch] + self.metadata['cells_per_stage'] * per_stage.sum(axis=0)

  def check(self, space, protocol) -> None:
    """Refuses a table measured for another op set or network size (one line)."""
    want = dict(
        primitives=list(space.primitives),
        channels=protocol.channels,
        cells_per_stage=protocol.cells_per_stage,
        image_size=protocol.image_size,
    )
    for key, value in want.items():
      if self.metadata.get(key) != value:
        raise ValueError(
            f'the latency table was measured for {key}={self.metadata.get(key)!r}, the '
            f'protocol has {value!r}'
        )

  def to_json(self) -> str:
    return json.dumps(
        dict(
            ops={str(b): v.tolist() for b, v in self.ops.items()},
            base={str(b): v for b, v in self.base.items()},
            metadata=self.metadata,
        ),
        indent=1,
    )

  def save(self, path) -> None:
    atomic_write(path, self.to_json() + '\n')

  @classmethod
  def load(cls, path) -> LatencyTable:
    with open(path, encoding='utf-8') as f:
      raw = json.load(f)
    return cls(raw['ops'], raw['base'], raw['metadata'])


def _net(space, protocol, num_classes, arch):
  return space.evalnet(
      space.to_genotype(tuple(arch)),
      num_classes,
      channels=protocol.channels,
      layers=protocol.cells_per_stage,
  )


def measure_network(space, protocol, num_classes: int, image_shape, arch, batch: int, runs=30):
  """Measured seconds of one compiled inference of ``arch``'s evaluation network."""
  from nas_jax import costs  # pylint: disable=import-outside-toplevel

  net = _net(space, protocol, num_classes, arch)
  return costs.network_seconds(net, image_shape, batch, runs)


def measure(
    space,
    protocol,
    num_classes: int,
    image_shape,
    batches: Sequence[int] = (1,),
    repeats: int = 8,
    runs: int = 30,
) -> LatencyTable:
  """Measures the lookup table of ``space``'s ops at ``protocol``'s network size."""
  height = image_shape[0]
  k = len(space.primitives)
  ops_table, base = {}, {}
  for batch in batches:
    table = np.zeros((3, k))
    for stage in range(3):
      c, h = protocol.channels * 2**stage, height // 2**stage
      x = jnp.ones((c, batch, h, h), jnp.float32)
      empty = jax.jit(lambda x: x * 1.0)
      t0 = median_seconds(empty, x, runs)
      for j, name in enumerate(space.primitives):
        if name == 'none':
          # An edge holding 'none' adds zeros, which XLA folds away: its latency is the
          # floor by construction (timing it would only time noise, which under load could
          # make replacing 'none' by a convolution look faster).
          table[stage, j] = _MIN_ENTRY
          continue
        op = space.registry.make(name, c, 1, affine=True)
        variables = op.init(jax.random.key(0), x, False)

        def chain(x, op=op, variables=variables):
          for _ in range(repeats):
            x = op.apply(variables, x, False) * 1.0 + 1e-3 * x
          return x

        table[stage, j] = max((median_seconds(jax.jit(chain), x, runs) - t0) / repeats, _MIN_ENTRY)
    # the fixed part from a network whose cells do run (an all-'none' cell would let XLA fold
    # the whole network to a constant): every edge holds the first op that is not 'none'
    op = next((j for j, name in enumerate(space.primitives) if name != 'none'), 0)
    probe = np.full(len(space.options), op, np.int32)
    whole = measure_network(space, protocol, num_classes, image_shape, probe, batch, runs)
    cells = protocol.cells_per_stage * table[:, op].sum() * len(probe)
    ops_table[batch] = table
    base[batch] = max(whole - cells, _MIN_ENTRY)
  metadata = dict(
      space=space.name,
      primitives=list(space.primitives),
      channels=protocol.channels,
      cells_per_stage=protocol.cells_per_stage,
      image_size=protocol.image_size,
      image_shape=list(image_shape),
      repeats=repeats,
      runs=runs,
      machine=backend_label(),
      measured_at=time.strftime('%Y-%m-%d'),
  )
  return LatencyTable(ops_table, base, metadata)
