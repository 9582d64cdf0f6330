"""Search spaces behind one interface (:class:`nas_jax.spaces.base.Space`), looked up by name.

``spaces.get('nb201')`` is the NAS-Bench-201 space with its full op set;
``spaces.get('nb201', primitives=(...))`` the space restricted to some ops,
a space in its own right. A launcher's config becomes a space at the edge
(``nas_jax.components.space``); nothing here reads a config.

A new space is one package here whose ``__init__`` defines a ``Space``
subclass decorated with :func:`register`; import it below.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nas_jax.registry import Registry

REGISTRY: Registry = Registry('search space')


def register(cls):
  """Class decorator: makes a ``Space`` subclass selectable by its name
  (``config.space_name = cls.name``)."""
  return REGISTRY.register(cls.name)(cls)


def _lookup(name: str) -> type:
  """The space class ``name``; a one-line ConfigError (a ValueError) naming the nearest."""
  return REGISTRY.lookup(name)


def get(name: str, primitives: Iterable[str] | None = None, **settings: Any):
  """The space ``name`` for ``primitives`` (None or empty: its own op set) and settings
  (e.g. ``steps`` and ``multiplier`` for DARTS). A one-line ValueError for an unknown space
  or an op outside it."""
  cls = _lookup(name)
  return cls(tuple(primitives or cls.default_primitives), **settings)


def for_network(kind: str):
  """The space whose evaluation networks include ``kind`` (its full op set)."""
  for name, cls in REGISTRY.items():
    if kind in cls.network_kinds:
      return get(name)
  kinds = ', '.join(k for cls in REGISTRY.values() for k in cls.network_kinds)
  raise ValueError(f'unknown network kind {kind!r}; known: {kinds}')


def for_cells(cells: Iterable[str], exact: bool = False):
  """The space whose cell types are all among ``cells`` (all of them, with ``exact``), or None."""
  cells = set(cells)
  for name, cls in REGISTRY.items():
    if set(cls.cells) == cells or (not exact and set(cls.cells) <= cells):
      return get(name)
  return None


# The spaces register themselves on import (order: the default first).
from nas_jax.spaces import darts, nb201, nbgraph  # noqa: E402,F401  pylint: disable=wrong-import-position

NAMES = tuple(REGISTRY)


def _has_networks(cls) -> bool:
  from nas_jax.spaces import base  # pylint: disable=import-outside-toplevel

  return cls.supernet is not base.Space.supernet


# The spaces that build networks (a supernet for differentiable search, evaluation networks for
# retraining); the others are decisions plus published tables, for discrete search only.
NETWORK_NAMES = tuple(name for name, cls in REGISTRY.items() if _has_networks(cls))

__all__ = [
    'NAMES',
    'NETWORK_NAMES',
    'REGISTRY',
    'for_cells',
    'for_network',
    'get',
    'register',
]
