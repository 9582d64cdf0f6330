"""The strategy interface shared by every differentiable search method.

A search strategy decides three things; the search loop
(``nas_jax.search``), the jitted step (``nas_jax.bilevel``), checkpointing,
metrics, multi-seed ``vmap`` and sharding are shared by all of them:

* ``init(key, space)``: the architecture parameters, a dict of arrays (one
  ``(E, K)`` array per cell type, plus whatever else the method learns,
  such as PC-DARTS' edge weights).
* ``weights(arch, key, epoch)``: the op weights of every edge for one
  forward pass of the supernet (softmax for DARTS, a hard Gumbel sample for
  GDAS, a Dirichlet sample for DrNAS, ...). ``key`` is a fresh PRNG key per
  pass and ``epoch`` the current epoch (a traced integer) for annealing.
* ``derive(arch, space)``: the discrete genotype.

and optionally a ``regularizer(arch, epoch)`` added to the architecture
loss, a ``aux_coef(epoch)`` (DARTS-' skip coefficient), whether the method
is ``one_level`` (weights and architecture trained on the same batch, as in
SNAS) and the ``network`` options it needs (``mode``, ``partial``,
``aux_skip``; see ``supernet.MixedOp``).

A strategy is built from the search config; its constructor reads the keys
it needs with their paper defaults. A new strategy is one file in this
package that calls ``register``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import spaces
from nas_jax.spaces.base import Space

Arch = dict[str, jax.Array]


def setting(config, key: str, default):
  """``config[key]``, or ``default`` where the key is absent or None (a placeholder)."""
  value = config.get(key, None)
  return default if value is None else value


def non_negative(config, key: str, default: float) -> float:
  """``config[key]`` (or ``default``) as a float; a one-line ValueError if it is negative."""
  value = float(setting(config, key, default))
  if not value >= 0:
    raise ValueError(f'config.{key} must be >= 0, got {value!r}')
  return value


def temperature_range(config, tau_max: float, tau_min: float) -> tuple[float, float]:
  """``(config.tau_max, config.tau_min)`` with these defaults; a one-line ValueError unless
  ``0 < tau_min <= tau_max``."""
  hi = float(setting(config, 'tau_max', tau_max))
  lo = float(setting(config, 'tau_min', tau_min))
  if not 0 < lo <= hi:
    raise ValueError(
        f'config.tau_min and config.tau_max must satisfy 0 < tau_min <= tau_max, '
        f'got tau_min={lo!r}, tau_max={hi!r}'
    )
  return hi, lo


def space_from_config(config) -> Space:
  """The search space of ``config`` (``config.space``, ``config.primitives``, ...)."""
  return spaces.from_config(config)


def node_softmax(beta: jax.Array, space: Space) -> jax.Array:
  """Softmax of per-edge scores within each node's input edges (PC-DARTS' edge normalization)."""
  parts = [jax.nn.softmax(beta[s:e]) for s, e in space.node_slices()]
  return jnp.concatenate(parts)


def gumbel(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
  """Standard Gumbel noise ``-log(-log(u))``, with ``u`` kept away from 0 and 1."""
  u = jax.random.uniform(key, shape, dtype, minval=1e-10, maxval=1.0 - 1e-7)
  return -jnp.log(-jnp.log(u))


def linear(start: float, end: float, epoch: jax.Array, epochs: int) -> jax.Array:
  """``start`` at epoch 0 to ``end`` at the last epoch, linearly."""
  frac = jnp.asarray(epoch, jnp.float32) / max(epochs - 1, 1)
  return start + (end - start) * jnp.clip(frac, 0.0, 1.0)


class Strategy:
  """A differentiable search method. Subclasses override what differs from DARTS.

  The defaults implement DARTS: ``alpha ~ 1e-3 N(0, 1)`` per cell type,
  softmax op weights, no regularizer, bilevel, the DARTS derivation from
  ``softmax(alpha)``.
  """

  name = 'darts'
  one_level = False  # True: one loss on the training batch updates weights and alpha together
  mode = 'weighted'  # supernet.MixedOp.mode
  partial = 1  # supernet.MixedOp.partial (PC-DARTS partial channels)
  aux_skip = False  # supernet.MixedOp.aux_skip (DARTS-)
  stochastic = False  # True: weights() uses its key (sampling)

  def __init__(self, config, space: Space):
    self.space = space
    self.epochs = int(config.epochs)
    self.init_scale = non_negative(config, 'arch_init_scale', 1e-3)

  # --- the interface ----------------------------------------------------------------------
  def init(self, key: jax.Array) -> Arch:
    """The architecture parameters (a dict of arrays)."""
    keys = jax.random.split(key, len(self.space.cells))
    return {
        cell: self.init_scale * jax.random.normal(k, self.space.shape())
        for cell, k in zip(self.space.cells, keys)
    }

  def weights(self, arch: Arch, key: jax.Array, epoch: jax.Array) -> dict[str, Any]:
    """Op weights per cell type for one forward pass: ``(E, K)`` or ``((E, K), (E,))``."""
    del key, epoch
    return {cell: jax.nn.softmax(arch[cell], axis=-1) for cell in self.space.cells}

  def regularizer(self, arch: Arch, epoch: jax.Array) -> jax.Array:
    """A term added to the loss the architecture is trained on (0 for DARTS)."""
    del arch, epoch
    return jnp.zeros((), jnp.float32)

  def aux_coef(self, epoch: jax.Array) -> jax.Array | None:
    """DARTS-' auxiliary skip coefficient (None: no auxiliary skip)."""
    del epoch
    return None

  def strengths(self, arch: Arch) -> dict[str, jax.Array]:
    """Per-edge op strengths ``{cell: (E, K)}`` that the genotype is derived from (and logged)."""
    return {
        cell: jax.nn.softmax(jnp.asarray(arch[cell], jnp.float32), axis=-1)
        for cell in self.space.cells
    }

  def derive(self, arch: Arch):
    """The discrete genotype of ``arch``."""
    return self.space.derive({k: np.asarray(v) for k, v in self.strengths(arch).items()})

  # --- helpers ------------------------------------------------------------------------------
  def network_options(self) -> dict[str, Any]:
    return {'mode': self.mode, 'partial': self.partial, 'aux_skip': self.aux_skip}


REGISTRY: dict[str, Callable[..., Strategy]] = {}


def register(cls):
  """Class decorator: makes ``cls`` selectable as ``config.strategy = cls.name``."""
  REGISTRY[cls.name] = cls
  return cls


def get(config) -> Strategy:
  """The strategy named by ``config.strategy`` for the space of ``config.space``."""
  name = config.get('strategy', 'darts')
  if name not in REGISTRY:
    raise ValueError(f'unknown strategy {name!r}; known: {", ".join(sorted(REGISTRY))}')
  return REGISTRY[name](config, space_from_config(config))


__all__ = [
    'Arch',
    'REGISTRY',
    'Space',
    'Strategy',
    'get',
    'gumbel',
    'linear',
    'node_softmax',
    'non_negative',
    'register',
    'setting',
    'space_from_config',
    'temperature_range',
]
