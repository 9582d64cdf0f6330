"""The tabular estimator: a table lookup that charges the table's training time.

A query of architecture ``a`` returns what training ``a`` under the table's protocol
would have returned: its ``metric`` after ``epoch`` epochs, at one of the table's
seeds drawn at random per query (``seed='random'``, NB201's simulated training), at
a fixed seed, or averaged over seeds (``seed='mean'``). It charges the table's
train seconds of that member, scaled to ``epoch`` of the protocol's epochs, as the
query's simulated cost, and reports the seed-mean ``report`` metric (by default the
final test accuracy) that regrets are measured on. The search sees only the score.

Everything is an array gather, so the estimator runs inside ``jax.jit``/``vmap``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nas_jax.tabular.table import LOWER_IS_BETTER, Table, TableError


class Results(NamedTuple):
  """What one batch of queries returns, each ``(n,)``."""

  score: jax.Array  # the search's objective, higher is better (the metric, negated if lower is)
  value: jax.Array  # the metric as stored
  report: jax.Array  # the seed-mean report metric (what regret is measured on)
  cost: jax.Array  # simulated seconds charged


class TabularEstimator:
  """Lookups in ``table`` (see the module docstring).

  Args:
    table: a :class:`Table` (or a path to one).
    metric: what the search optimizes (``val_acc``: NB201's protocol).
    epoch: the epoch the metric is read at (1-based; None: the last).
    seed: ``'random'`` (a seed drawn per query), ``'mean'``, or one of the table's seeds.
    report: the metric regret and percentiles are reported on (seed mean, last epoch).
  """

  def __init__(self, table, metric='val_acc', epoch=None, seed='random', report='test_acc'):
    self.table = table if isinstance(table, Table) else Table.load(table)
    t = self.table
    if metric not in t.epoch and metric not in t.seed:
      raise TableError(f'the table has no per-seed metric {metric!r}; known: {sorted(t.epoch)}')
    epochs = t.num_epochs
    if epoch is not None and not (isinstance(epoch, int) and 1 <= epoch <= epochs):
      raise TableError(f'epoch must be in 1..{epochs} (the table has {epochs}), got {epoch!r}')
    if seed not in ('random', 'mean') and seed not in t.seeds:
      raise TableError(f"seed must be 'random', 'mean' or one of {t.seeds}, got {seed!r}")
    self.metric, self.epoch, self.seed, self.report_metric = metric, epoch, seed, report
    self.space = t.space
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    mean = t.values(metric, epoch)  # (A,) seed mean over measured seeds
    per_seed = np.stack([t.values(metric, epoch, s) for s in t.seeds], axis=1)  # (A, S)
    per_seed = np.where(np.isnan(per_seed), mean[:, None], per_seed)  # unmeasured: the mean
    seconds = np.stack([t.values('train_seconds', None, s) for s in t.seeds], axis=1)
    seconds = np.where(np.isnan(seconds), np.nanmean(seconds, axis=1, keepdims=True), seconds)
    seconds = seconds * ((epoch or epochs) / epochs)
    if seed == 'mean':
      per_seed, seconds = mean[:, None], seconds.mean(axis=1, keepdims=True)
    elif seed != 'random':
      j = t.seeds.index(seed)
      per_seed, seconds = per_seed[:, j : j + 1], seconds[:, j : j + 1]
    self._values = jnp.asarray(per_seed.astype(np.float32))
    self._seconds = jnp.asarray(seconds.astype(np.float32))
    self._report = jnp.asarray(t.values(report).astype(np.float32))
    self._sign = sign
    dense = t._dense_rows()  # pylint: disable=protected-access
    if (dense < 0).any():
      raise TableError(
          f'the table has no row for {int((dense < 0).sum())} architectures of its space; a '
          'search needs every one'
      )
    self._dense = jnp.asarray(dense)
    self._radix = jnp.asarray(t._radix().astype(np.int32))  # pylint: disable=protected-access
    report_values = t.values(report)
    self.best_report = float(
        np.nanmin(report_values) if report in LOWER_IS_BETTER else np.nanmax(report_values)
    )

  def rows(self, archs: jax.Array) -> jax.Array:
    """The table rows of archs (..., D) (``__init__`` checked that every vector has one)."""
    return self._dense[jnp.asarray(archs, jnp.int32) @ self._radix]

  def __call__(self, archs: jax.Array, key: jax.Array) -> Results:
    rows = self.rows(archs)
    column = jax.random.randint(key, rows.shape, 0, self._values.shape[1])
    value = self._values[rows, column]
    return Results(
        score=self._sign * value,
        value=value,
        report=self._report[rows],
        cost=self._seconds[rows, column],
    )
