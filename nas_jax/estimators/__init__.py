"""Estimators: what turns architectures into the results a search is told.

``tabular.TabularEstimator`` looks results up in a ``nas_jax.tabular.Table`` (as a
jittable array gather), charging the table's train seconds, plus its eval seconds where it
records them (NATS-Bench's rule), as the simulated cost. ``train.TrainEstimator`` trains
each asked architecture live under a table protocol (outside ``jit``).
"""

from nas_jax.estimators.tabular import TabularEstimator  # noqa: F401
from nas_jax.estimators.train import TrainEstimator  # noqa: F401
