"""Discrete search strategies behind one ask/tell interface (see ``base``).

``get(name, **settings)`` builds one: ``random``, ``rea`` (regularized evolution),
``local_search``, ``reinforce``, ``bananas``, ``hyperband`` (multi-fidelity: also successive halving), ``nsga2``
(multi-objective); ``WarmStart(strategy, archs)`` starts any of them from given cells. The loop that runs them against an estimator,
one query at a time or as one compiled program over many seeds, is
``nas_jax.discrete``.
"""

from nas_jax.strategies.discrete import (  # noqa: F401
    bananas,
    base,
    evolution,
    hyperband,
    local_search,
    nsga2,
    random_search,
    reinforce,
    warm_start,
)
from nas_jax.strategies.discrete.base import REGISTRY, DiscreteStrategy, get  # noqa: F401
from nas_jax.strategies.discrete.warm_start import WarmStart  # noqa: F401

NAMES = tuple(sorted(REGISTRY))
