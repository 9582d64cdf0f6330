"""Differentiable search strategies behind one interface (see ``base.Strategy``).

``config.strategy`` selects one by name: ``darts``, ``gdas``, ``snas``,
``pcdarts``, ``drnas``, ``darts_minus``, ``fairdarts``, ``beta_darts``.
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
from nas_jax.strategies.base import REGISTRY, Space, Strategy, get, space_from_config  # noqa: F401

NAMES = tuple(sorted(REGISTRY))
