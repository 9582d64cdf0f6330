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

import functools

import numpy as np

from nas_jax import netstats

__all__ = ['additive_costs', 'predict']


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
