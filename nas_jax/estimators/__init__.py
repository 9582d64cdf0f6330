"""Estimators: what turns architectures into the results a search is told.

``tabular.TabularEstimator`` looks results up in a ``nas_jax.tabular.Table`` (as a
jittable array gather), charging the table's train seconds, plus its eval seconds where it
records them (NATS-Bench's rule), as the simulated cost. ``train.TrainEstimator`` trains
each asked architecture live under a table protocol (outside ``jit``).
``proxies.ProxyEstimator`` scores a cell by a zero-cost proxy at initialization, and
``weight_sharing.SharedWeightEstimator`` by a trained supernet's shared weights.

``REGISTRY.build(name, ...)`` makes one by name (``tabular``, ``train``, ``proxy``,
``shared_weights``) with its constructor's arguments, and names the nearest valid name or
setting when one is unknown. The proxy and shared-weight estimators are imported on first
use (they pull in the networks).
"""

from nas_jax.estimators.tabular import TabularEstimator
from nas_jax.estimators.train import TrainEstimator
from nas_jax.registry import Registry

REGISTRY: Registry = Registry('estimator')
REGISTRY.add('tabular', TabularEstimator)
REGISTRY.add('train', TrainEstimator)


def _proxy(*args, **kwargs):
  from nas_jax.estimators.proxies import ProxyEstimator  # pylint: disable=import-outside-toplevel

  return ProxyEstimator(*args, **kwargs)


def _shared_weights(*args, **kwargs):
  from nas_jax.estimators import weight_sharing  # pylint: disable=import-outside-toplevel

  return weight_sharing.SharedWeightEstimator(*args, **kwargs)


REGISTRY.add('proxy', _proxy)
REGISTRY.add('shared_weights', _shared_weights)

__all__ = ['REGISTRY', 'TabularEstimator', 'TrainEstimator']
