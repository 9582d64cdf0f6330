"""nas_jax: neural architecture search in JAX, Flax and Optax.

The public API (each name resolved on first use, so importing one module of the package,
say ``nas_jax.data``, does not import jax and flax)::

  import nas_jax as nj

  space = nj.spaces.get('nb201')                 # a search space: sample, mutate, hash, encode
  table = nj.tabular.load('mnist')               # a tabular benchmark (a nj.Table)
  rea = nj.discrete_strategies.get('rea', population=10, sample=3)
  trace = nj.run_seeds(rea, nj.TabularEstimator(table), space, nj.seed_keys(range(100)), 100)
  nj.summarize(trace, nj.TabularEstimator(table), budgets=[100])

- ``spaces``: the search spaces (``spaces.get(name)``; DARTS, NB201, NAS-Bench-Graph).
- ``strategies``: the differentiable strategies (DARTS, GDAS, SNAS, PC-DARTS, DrNAS, DARTS-,
  FairDARTS, β-DARTS); ``discrete_strategies``: the ask/tell ones (random, REA, local search,
  REINFORCE, BANANAS, Hyperband, NSGA-II).
- ``estimators``, ``TabularEstimator``, ``TrainEstimator``: what a discrete search is told.
- ``run_search``: a differentiable search from a config (``nas_jax.search.search``: the same
  from objects, with a ``Bilevel`` recipe); ``run_train``: retraining a genotype from a config,
  ``retrain``: the same from objects (a network, a ``Recipe``, the data and the loop);
  ``run_seeds``: a discrete search vmapped over seeds (``seed_keys``, ``summarize``).
- ``tabular``, ``Table``: tabular benchmarks (``tabular.load``), built locally or read from
  published files.
- ``card``: the reproduction card of a multi-seed search.
"""

import importlib

__version__ = '0.1.0'

_MODULES = {
    'spaces': 'nas_jax.spaces',
    'strategies': 'nas_jax.strategies',
    'discrete_strategies': 'nas_jax.strategies.discrete',
    'estimators': 'nas_jax.estimators',
    'tabular': 'nas_jax.tabular',
    'card': 'nas_jax.card',
}
_NAMES = {
    'run_search': 'nas_jax.search',
    'Bilevel': 'nas_jax.search',
    'run_train': 'nas_jax.train',
    'retrain': 'nas_jax.train',
    'Recipe': 'nas_jax.train',
    'run_seeds': 'nas_jax.discrete',
    'seed_keys': 'nas_jax.discrete',
    'summarize': 'nas_jax.traces',
    'Table': 'nas_jax.tabular',
    'TabularEstimator': 'nas_jax.estimators',
    'TrainEstimator': 'nas_jax.estimators',
    # The DARTS space's genotype names (kept for the notebooks and older scripts).
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
__all__ = sorted(_MODULES) + sorted(_NAMES)


def __getattr__(name):
  if name in _MODULES:
    return importlib.import_module(_MODULES[name])
  if name in _NAMES:
    return getattr(importlib.import_module(_NAMES[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
  return sorted(set(globals()) | set(__all__))
