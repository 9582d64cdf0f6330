"""nas_jax: differentiable neural architecture search in JAX/Flax.

Modules: ``ops`` (candidate ops), ``supernet`` (Flax search network),
``bilevel`` (jitted search step), ``discretize`` (genotype derivation),
``genotype``, ``nb201`` (the NAS-Bench-201 space: genotype, evaluation network),
``data``, ``search`` (the search loop), ``runtime``.
"""

from nas_jax.discretize import derive_genotype
from nas_jax.genotype import DARTS_PRIMITIVES, DARTS_V1, DARTS_V2, Genotype, GenotypeError, load_genotype

__version__ = '0.1.0'
__all__ = ['DARTS_PRIMITIVES', 'DARTS_V1', 'DARTS_V2', 'Genotype', 'GenotypeError',
           'derive_genotype', 'load_genotype']
