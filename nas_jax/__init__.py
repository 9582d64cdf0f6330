"""nas_jax: neural architecture search in JAX/Flax.

Packages and modules: ``spaces`` (search spaces behind one interface: the
DARTS and NAS-Bench-201 cells, their genotypes, supernets, evaluation
networks and plots), ``strategies`` (differentiable search methods),
``supernet`` (the mixed op), ``ops`` (op modules), ``bilevel`` (the jitted
search step), ``search`` (the search loop), ``train`` (retraining),
``checkpoint``, ``data``, ``parallel``, ``plot``, ``netstats``, ``runtime``.
"""

import importlib

__version__ = '0.1.0'

# Shortcuts to the DARTS space's genotype names, resolved on first use: importing a module of the
# package (say ``nas_jax.data``) must not import the spaces (and with them jax and flax).
_LAZY = {
    'derive_genotype': 'nas_jax.spaces.darts.discretize',
    **{
        name: 'nas_jax.spaces.darts.genotype'
        for name in (
            'DARTS_PRIMITIVES',
            'DARTS_V1',
            'DARTS_V2',
            'Genotype',
            'GenotypeError',
            'load_genotype',
        )
    },
}
__all__ = sorted(_LAZY)


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
