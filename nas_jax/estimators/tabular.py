"""The tabular estimator: a table lookup that charges the table's training time.

A query of architecture ``a`` returns what training ``a`` under the table's protocol
would have returned: its ``metric`` after ``epoch`` epochs, at one of the seeds ``a``
was trained at, drawn at random per query (``seed='random'``, NB201's simulated
training: NATS-Bench's ``simulate_train_eval`` draws among the cell's own seeds too),
at a fixed seed, or averaged over seeds (``seed='mean'``). It reports the seed-mean
``report`` metric (by default the final test accuracy) that regrets are measured on,
read from the search table or from another one (``report_table``: NATS-Bench searches
the 12-epoch ``cifar10-valid`` validation accuracy and reports the 200-epoch
``cifar10`` test accuracy). The search sees only the score.

The simulated cost of a query is the member's train seconds scaled to ``epoch`` of the
protocol's epochs, plus its ``eval_seconds`` (one evaluation of the searched metric)
where the table has them. A NATS-Bench table (``nas_jax.tabular.nats``) has both: at
the full budget the charge is exactly ``simulate_train_eval``'s ``train-all-time +
valid-per-time``. A table of our own builder (``nas_jax.tabular.builder``) records no
eval seconds: its queries cost their train seconds (the wall time of the training
steps) only.

Everything is an array gather, so the estimator runs inside ``jax.jit``/``vmap``.

Reference implementation: ``nats_bench`` 1.8's ``simulate_train_eval`` (``api_utils.py``)
and NATS-Bench's search scripts (AutoDL-Projects ``exps/NATS-algos``), which the tests
compare against. Departure: below the full budget the train time is charged pro rata
(``nats_bench`` sums the first epochs' own times).
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
    metric: what the search optimizes (``val_acc``: NB201's protocol). A metric that
      is NaN in every row (NATS-Bench's ``cifar10`` has no validation split) is refused.
    epoch: the epoch the metric is read at (1-based; None: the last).
    seed: ``'random'`` (one of the member's measured seeds, drawn per query), ``'mean'``,
      or one of the table's seeds (an unmeasured member reads its row's seed mean).
    report: the metric regret and percentiles are reported on (seed mean, last epoch).
    objectives: more metrics for a multi-objective search (``params``, ``flops``,
      ``latency_b1``, ``latency_batch``, ``noise_acc``, ``fgsm_acc``, ...): the score is
      then ``(n, 1 + len(objectives))``, each column signed so that higher is better.
    report_table: a :class:`Table` (or a path) ``report`` is read from instead of
      ``table`` (None: ``table``), of the same space and hash rule; its rows are matched
      to the search table's by hash, and a search row it lacks reports NaN (one it has
      not measured too). :attr:`report_table` is it re-indexed to the search table's
      rows: ``report_table.percentiles(report)``, ``.percentile(arch, report)``,
      ``.random_baseline(report)`` and ``.values(report)`` are the report's ground
      truth over the searched rows (:meth:`report_percentiles`).
  """

  early_stop = None  # no early-stopping rule (``early_stopping.EarlyStopped`` adds one)

  def __init__(
      self,
      table,
      metric='val_acc',
      epoch=None,
      seed='random',
      report='test_acc',
      objectives=(),
      report_table=None,
  ):
    self.table = table if isinstance(table, Table) else Table.load(table)
    t = self.table
    _check_metric(t, metric)
    epochs = t.num_epochs
    if epoch is not None and not (isinstance(epoch, int) and 1 <= epoch <= epochs):
      raise TableError(f'epoch must be in 1..{epochs} (the table has {epochs}), got {epoch!r}')
    if seed not in ('random', 'mean') and seed not in t.seeds:
      raise TableError(f"seed must be 'random', 'mean' or one of {t.seeds}, got {seed!r}")
    self.metric, self.epoch, self.seed, self.report_metric = metric, epoch, seed, report
    self.space = t.space
    per_epoch, seconds, evals, measured = _seed_columns(t, metric, seed)
    # a random draw picks among the row's measured columns (all of them where it has none)
    measured[~measured.any(axis=1)] = True
    choices = np.argsort(~measured, axis=1, kind='stable').astype(np.int32)  # measured first
    self.num_epochs = epochs if metric in t.epoch else 1
    self.default_epochs = (epoch or epochs) if metric in t.epoch else 1
    self._values = jnp.asarray(per_epoch.astype(np.float32))  # (A, S', E)
    self._seconds = jnp.asarray((seconds / self.num_epochs).astype(np.float32))  # per epoch
    self._eval_seconds = jnp.asarray(evals.astype(np.float32))  # per query
    self._choices = jnp.asarray(choices)  # (A, S')
    self._counts = jnp.asarray(measured.sum(axis=1).astype(np.uint32))  # (A,)
    self._sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    dense = t.dense_rows()
    if (dense < 0).any():
      raise TableError(
          f'the table has no row for {int((dense < 0).sum())} architectures of its space; a '
          'search needs every one'
      )
    self._dense = jnp.asarray(dense)
    self._radix = jnp.asarray(decisions.radix(t.space.options).astype(np.int32))
    self.objectives = tuple(objectives)
    self._extra = _objective_columns(t, self.objectives)
    if report_table is None:
      self.report_table = t
    else:
      other = report_table if isinstance(report_table, Table) else Table.load(report_table)
      self.report_table = _aligned(other, t)
    report_values = self.report_table.values(report)
    if np.isnan(report_values).all():
      raise TableError(
          f'the report metric {report} is NaN in every row of the '
          f'{"report " if report_table is not None else ""}table '
          f'({_describe(self.report_table)})'
      )
    self._report = jnp.asarray(report_values.astype(np.float32))
    self.best_report = float(
        np.nanmin(report_values) if report in LOWER_IS_BETTER else np.nanmax(report_values)
    )

  def report_percentiles(self) -> np.ndarray:
    """(A,) each search-table row's percentile on the report metric among the rows the
    report measures (100: the best; 0 where unmeasured): what ``discrete.summarize``
    ranks incumbents by, from :attr:`report_table`."""
    return self.report_table.percentiles(self.report_metric)

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
    """The seed column each query reads, one of its row's measured seeds (drawn from
    ``key``: the same key, the same seeds; a complete table's draw is ``bits % S``)."""
    draw = (jax.random.bits(key, rows.shape) % self._counts[rows]).astype(jnp.int32)
    return self._choices[rows, draw]

  def curves(self, archs: jax.Array, key: jax.Array) -> jax.Array:
    """(n, epochs) the metric after every epoch at the seed a call with ``key`` reads."""
    rows = self.rows(archs)
    return self._values[rows, self._column(rows, key)]

  def __call__(self, archs: jax.Array, key: jax.Array, epochs=None) -> Results:
    """Results for archs (n, D); ``epochs`` (n,) reads each after that many epochs and
    charges that many epochs of training and one evaluation (multi-fidelity; None: the
    configured epoch)."""
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
        cost=self._seconds[rows, column] * epochs + self._eval_seconds[rows, column],
        full=epochs >= self.default_epochs,
    )


# what to do instead, for a metric a known dataset never measures
_HINTS = {
    ('cifar10', 'val_acc'): (
        "; NATS-Bench's cifar10 has no validation split: search a cifar10-valid table and "
        'report this one (report_table)'
    ),
    ('cifar10', 'val_loss'): (
        "; NATS-Bench's cifar10 has no validation split: search a cifar10-valid table and "
        'report this one (report_table)'
    ),
}


def _check_metric(t: Table, metric: str) -> None:
  """A one-line TableError unless ``t`` measures ``metric`` per seed somewhere."""
  if metric not in t.epoch and metric not in t.seed:
    hint = ''
    if metric == 'val_acc' and 'test_acc' in t.epoch:  # e.g. AnalogNAS-Bench
      hint = (
          " (it has no validation split: search with metric='test_acc', which then "
          'selects on what it reports)'
      )
    raise TableError(f'the table has no per-seed metric {metric!r}; known: {sorted(t.epoch)}{hint}')
  stored = t.epoch[metric] if metric in t.epoch else t.seed[metric]
  if np.isnan(stored).all():
    raise TableError(
        f'{metric} is NaN in every row of the table ({_describe(t)}): nothing to search on'
        + _HINTS.get((t.metadata.get('dataset'), metric), '')
    )


def _seed_columns(t: Table, metric: str, seed):
  """``(values (A, S', E), train seconds (A, S'), eval seconds (A, S'), measured (A, S'))``:
  the metric after every epoch at every seed column a query can read (``seed='random'``:
  all of the table's seeds; ``'mean'``: their mean; one seed: that one), an unmeasured
  member reading its row's seed mean."""
  readable = range(1, t.num_epochs + 1) if metric in t.epoch else [None]  # seed-level: 1
  per_epoch = np.stack(
      [np.stack([t.values(metric, e, s) for s in t.seeds], axis=1) for e in readable], axis=2
  )
  measured = ~np.isnan(per_epoch).all(axis=2)  # (A, S): the seeds each row was trained at
  mean = np.stack([t.values(metric, e) for e in readable], axis=1)  # (A, E)
  per_epoch = np.where(np.isnan(per_epoch), mean[:, None, :], per_epoch)
  if 'train_seconds' in t.seed:
    seconds = _per_seed(t, 'train_seconds')
  else:  # a published table without train times: a query's cost is unknown (NaN)
    seconds = np.full((len(t), len(t.seeds)), np.nan)
  # one evaluation of the metric (NATS-Bench's valid-per-time); none recorded: free
  evals = _per_seed(t, 'eval_seconds') if 'eval_seconds' in t.seed else None
  if evals is None or np.isnan(evals).all():
    evals = np.zeros_like(seconds)
  if seed == 'mean':
    per_epoch = mean[:, None, :]
    seconds, evals = seconds.mean(axis=1, keepdims=True), evals.mean(axis=1, keepdims=True)
    measured = np.ones((len(t), 1), bool)
  elif seed != 'random':
    j = t.seeds.index(seed)
    per_epoch, seconds, evals = (x[:, j : j + 1] for x in (per_epoch, seconds, evals))
    measured = np.ones((len(t), 1), bool)
  return per_epoch, seconds, evals, measured


def _objective_columns(t: Table, objectives) -> jax.Array | None:
  """``(A, len(objectives))`` the objectives' seed means, each signed higher-is-better."""
  extra = []
  for name in objectives:
    if name not in t.metrics:
      raise TableError(f'the table has no metric {name!r} for an objective; known: {t.metrics}')
    sign_k = -1.0 if name in LOWER_IS_BETTER else 1.0
    extra.append(sign_k * t.values(name).astype(np.float32))
  return jnp.asarray(np.stack(extra, axis=1)) if extra else None


def _describe(table: Table) -> str:
  """The table in a few words: its dataset and where it came from."""
  meta = table.metadata
  protocol = meta.get('protocol') if isinstance(meta.get('protocol'), dict) else {}
  words = [f'dataset {meta.get("dataset", "unknown")}']
  if 'hp' in protocol:
    words.append(f'hp={protocol["hp"]}')
  if 'source' in protocol:
    words.append(str(protocol['source']))
  elif 'built_by' in meta:
    words.append(f'built by {meta["built_by"]}')
  return ', '.join(words)


def _per_seed(table: Table, name: str) -> np.ndarray:
  """(A, S) a seed metric, an unmeasured member reading its row's seed mean."""
  values = np.stack([table.values(name, None, s) for s in table.seeds], axis=1)
  with np.errstate(all='ignore'):
    return np.where(np.isnan(values), table.values(name)[:, None], values)


def _aligned(report: Table, table: Table) -> Table:
  """``report`` re-indexed to ``table``'s rows (matched by hash; NaN where it has none)."""
  for key in ('space', 'hash_rule'):
    mine, theirs = table.metadata.get(key), report.metadata.get(key)
    if mine != theirs:
      raise TableError(
          f"the report table's {key} is {theirs!r}, the search table's {mine!r}: their rows "
          'cannot be matched'
      )
  where = {h: i for i, h in enumerate(report.hashes)}
  index = np.asarray([where.get(h, -1) for h in table.hashes], np.int64)
  found = index >= 0
  if not found.any():
    raise TableError(
        f"the report table ({_describe(report)}) has none of the search table's "
        f'{len(table)} rows'
    )

  def take(values):
    picked = np.asarray(values, np.float64)[np.maximum(index, 0)]
    picked[~found] = np.nan
    return picked

  meta = dict(report.metadata)
  for key in ('space', 'primitives', 'hash_rule'):
    meta.pop(key, None)
    if key in table.metadata:
      meta[key] = table.metadata[key]
  meta['report_rows'] = dict(matched=int(found.sum()), search_rows=len(table))
  return Table(
      table.hashes,
      table.archs,
      report.seeds,
      {k: take(v) for k, v in report.epoch.items()},
      {k: take(v) for k, v in report.seed.items()},
      {k: take(v) for k, v in report.arch.items()},
      meta,
  )
