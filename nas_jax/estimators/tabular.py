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

from nas_jax.spaces import decisions
from nas_jax.tabular.table import LOWER_IS_BETTER, Table, TableError


class Results(NamedTuple):
  """What one batch of queries returns, each ``(n,)``."""

  score: jax.Array  # the search's objective(s), higher is better (negated where lower is): (n,)
  # or, with objectives, (n, 1 + len(objectives))
  value: jax.Array  # the metric as stored
  report: jax.Array  # the seed-mean report metric (what regret is measured on)
  cost: jax.Array  # simulated seconds charged
  full: jax.Array  # read at the search's own fidelity (the configured epoch), not a lower one


class TabularEstimator:
  """Lookups in ``table`` (see the module docstring).

  Args:
    table: a :class:`Table` (or a path to one).
    metric: what the search optimizes (``val_acc``: NB201's protocol).
    epoch: the epoch the metric is read at (1-based; None: the last).
    seed: ``'random'`` (a seed drawn per query), ``'mean'``, or one of the table's seeds.
    report: the metric regret and percentiles are reported on (seed mean, last epoch).
    objectives: more metrics for a multi-objective search (``params``, ``flops``,
      ``latency_b1``, ``latency_batch``, ``noise_acc``, ``fgsm_acc``, ...): the score is
      then ``(n, 1 + len(objectives))``, each column signed so that higher is better.
  """

  def __init__(
      self, table, metric='val_acc', epoch=None, seed='random', report='test_acc', objectives=()
  ):
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
    # (A, S, E): the metric after every epoch at every seed (a seed-level metric has one
    # "epoch"); an unmeasured member reads its row's seed mean
    readable = range(1, epochs + 1) if metric in t.epoch else [None]
    per_epoch = np.stack(
        [np.stack([t.values(metric, e, s) for s in t.seeds], axis=1) for e in readable], axis=2
    )
    mean = np.stack([t.values(metric, e) for e in readable], axis=1)  # (A, E)
    per_epoch = np.where(np.isnan(per_epoch), mean[:, None, :], per_epoch)
    seconds = np.stack([t.values('train_seconds', None, s) for s in t.seeds], axis=1)
    seconds = np.where(np.isnan(seconds), np.nanmean(seconds, axis=1, keepdims=True), seconds)
    if seed == 'mean':
      per_epoch, seconds = mean[:, None, :], seconds.mean(axis=1, keepdims=True)
    elif seed != 'random':
      j = t.seeds.index(seed)
      per_epoch, seconds = per_epoch[:, j : j + 1], seconds[:, j : j + 1]
    self.num_epochs = epochs if metric in t.epoch else 1
    self.default_epochs = (epoch or epochs) if metric in t.epoch else 1
    self._values = jnp.asarray(per_epoch.astype(np.float32))  # (A, S', E)
    self._seconds = jnp.asarray((seconds / self.num_epochs).astype(np.float32))  # per epoch
    self._report = jnp.asarray(t.values(report).astype(np.float32))
    self._sign = sign
    dense = t.dense_rows()
    if (dense < 0).any():
      raise TableError(
          f'the table has no row for {int((dense < 0).sum())} architectures of its space; a '
          'search needs every one'
      )
    self._dense = jnp.asarray(dense)
    self._radix = jnp.asarray(decisions.radix(t.space.options).astype(np.int32))
    self.objectives = tuple(objectives)
    extra = []
    for name in self.objectives:
      if name not in t.metrics:
        raise TableError(f'the table has no metric {name!r} for an objective; known: {t.metrics}')
      sign_k = -1.0 if name in LOWER_IS_BETTER else 1.0
      extra.append(sign_k * t.values(name).astype(np.float32))
    self._extra = jnp.asarray(np.stack(extra, axis=1)) if extra else None
    report_values = t.values(report)
    self.best_report = float(
        np.nanmin(report_values) if report in LOWER_IS_BETTER else np.nanmax(report_values)
    )

  def true_points(self) -> np.ndarray:
    """(A, 1 + len(objectives)) every row's point on the reported objectives, higher better:
    the seed-mean ``report`` metric, then the objectives (their seed means)."""
    sign = -1.0 if self.report_metric in LOWER_IS_BETTER else 1.0
    columns = [sign * np.asarray(self._report, np.float64)]
    if self._extra is not None:
      columns += list(np.asarray(self._extra, np.float64).T)
    return np.stack(columns, axis=1)

  def metric_values(self) -> np.ndarray:
    """(rows, seeds, epochs) the metric the search reads, as the lookup holds it (a
    ``seed='mean'`` or fixed-seed estimator has one seed column; an unmeasured member
    reads its row's seed mean)."""
    return np.asarray(self._values)

  def rows(self, archs: jax.Array) -> jax.Array:
    """The table rows of archs (..., D) (``__init__`` checked that every vector has one)."""
    return self._dense[jnp.asarray(archs, jnp.int32) @ self._radix]

  @property
  def sign(self) -> float:
    """+1 where the metric is higher-is-better, -1 where lower (the score is sign * value)."""
    return self._sign

  def _column(self, rows: jax.Array, key: jax.Array) -> jax.Array:
    """The seed column each query reads (drawn from ``key``: the same key, the same seeds)."""
    return (jax.random.bits(key, rows.shape) % self._values.shape[1]).astype(jnp.int32)

  def curves(self, archs: jax.Array, key: jax.Array) -> jax.Array:
    """(n, epochs) the metric after every epoch at the seed a call with ``key`` reads."""
    rows = self.rows(archs)
    return self._values[rows, self._column(rows, key)]

  def __call__(self, archs: jax.Array, key: jax.Array, epochs=None) -> Results:
    """Results for archs (n, D); ``epochs`` (n,) reads each after that many epochs and
    charges that many epochs of training (multi-fidelity; None: the configured epoch)."""
    rows = self.rows(archs)
    column = self._column(rows, key)
    if epochs is None:
      epochs = jnp.full(rows.shape, self.default_epochs, jnp.int32)
    epochs = jnp.clip(jnp.asarray(epochs, jnp.int32), 1, self.num_epochs)
    value = self._values[rows, column, epochs - 1]
    score = self._sign * value
    if self._extra is not None:
      score = jnp.concatenate([score[..., None], self._extra[rows]], axis=-1)
    return Results(
        score=score,
        value=value,
        report=self._report[rows],
        cost=self._seconds[rows, column] * epochs,
        full=epochs >= self.default_epochs,
    )
