"""nas_jax: neural architecture search in JAX/Flax.

Packages and modules: ``spaces`` (search spaces behind one interface: the
DARTS and NAS-Bench-201 cells, their genotypes, supernets, evaluation
networks and plots), ``strategies`` (differentiable search methods),
``supernet`` (the mixed op), ``ops`` (op modules), ``bilevel`` (the jitted
search step), ``search`` (the search loop), ``train`` (retraining),
``checkpoint``, ``data``, ``parallel``, ``plot``, ``netstats``, ``runtime``.
"""

from nas_jax.spaces.darts.discretize import derive_genotype
from nas_jax.spaces.darts.genotype import (DARTS_PRIMITIVES, DARTS_V1, DARTS_V2, Genotype,
                                           GenotypeError, load_genotype)

__version__ = '0.1.0'
__all__ = ['DARTS_PRIMITIVES', 'DARTS_V1', 'DARTS_V2', 'Genotype', 'GenotypeError',
           'derive_genotype', 'load_genotype']
