"""Differentiable search strategies behind one interface (see ``base.Strategy``).

``build(name, space, **settings)`` makes one by name: ``darts``, ``gdas``, ``snas``,
``pcdarts``, ``drnas``, ``darts_minus``, ``fairdarts``, ``beta_darts``; each
constructor's signature holds its settings and their paper defaults
(``REGISTRY.settings(name)``).
"""

from nas_jax.strategies import (  # noqa: F401
    base,
    beta_darts,
    darts,
    darts_minus,
    drnas,
    fairdarts,
    gdas,
    pcdarts,
    snas,
)
from nas_jax.strategies.base import REGISTRY, Space, Strategy, build  # noqa: F401

NAMES = tuple(sorted(REGISTRY))
