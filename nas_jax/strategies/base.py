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

A strategy is built from the space it searches and keyword settings whose defaults
are the paper's: ``strategies.build('gdas', space, epochs=50, tau_max=10.0)``. A new
strategy is one file in this package that calls ``register``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nas_jax.config_checks import ConfigError
from nas_jax.registry import Registry
from nas_jax.spaces.base import Space
from nas_jax.util import is_int

Arch = dict[str, jax.Array]


def non_negative(owner: str, key: str, value: float) -> float:
  """``value`` as a float; a one-line ConfigError naming ``owner.key`` if it is negative."""
  value = float(value)
  if not value >= 0:
    raise ConfigError(f'{owner}.{key} must be >= 0, got {value!r}')
  return value


def temperature_range(owner: str, tau_max: float, tau_min: float) -> tuple[float, float]:
  """``(tau_max, tau_min)`` as floats; a one-line ConfigError unless ``0 < tau_min <= tau_max``."""
  hi, lo = float(tau_max), float(tau_min)
  if not 0 < lo <= hi:
    raise ConfigError(
        f'{owner}.tau_min and {owner}.tau_max must satisfy 0 < tau_min <= tau_max, '
        f'got tau_min={lo!r}, tau_max={hi!r}'
    )
  return hi, lo


def positive_int(owner: str, key: str, value) -> int:
  """``value``; a one-line ConfigError naming ``owner.key`` unless it is an integer >= 1."""
  if not (is_int(value) and value >= 1):
    raise ConfigError(f'{owner}.{key} must be a positive integer, got {value!r}')
  return int(value)


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

  def __init__(self, space: Space, epochs: int = 50, init_scale: float = 1e-3):
    """``epochs``: the search's length (annealing schedules run over it); ``init_scale``: the
    standard deviation of the initial alpha."""
    self.space = space
    self.epochs = positive_int(self.name, 'epochs', epochs)
    self.init_scale = non_negative(self.name, 'init_scale', init_scale)

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


REGISTRY: Registry = Registry('strategy', context=('space',))


def register(cls):
  """Class decorator: makes ``cls`` selectable by its ``name`` (:func:`build`)."""
  return REGISTRY.register(cls.name)(cls)


def build(name: str, space: Space, **settings) -> Strategy:
  """The strategy ``name`` searching ``space``, with ``settings`` over its paper defaults
  (``REGISTRY.settings(name)`` lists them); a one-line ConfigError for a bad one."""
  return REGISTRY.build(name, space, **settings)


__all__ = [
    'Arch',
    'REGISTRY',
    'Space',
    'Strategy',
    'build',
    'gumbel',
    'linear',
    'node_softmax',
    'non_negative',
    'register',
    'positive_int',
    'temperature_range',
]
