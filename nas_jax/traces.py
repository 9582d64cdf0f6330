"""What a discrete search's :class:`~nas_jax.discrete.Trace` says: its answer after each
query, at a budget, and how good that answer is.

:func:`incumbent` turns a trace into the search's answer after each query (the best score
so far and the report of that architecture), and :func:`at_budget` reads that answer at a
query count or a simulated-seconds budget. A simulated-seconds budget keeps the query that
crosses it, as NATS-Bench's search loops do (``while total_cost < budget: query``), and as
the launcher stops. Before any query at the search's own fidelity the answer is NaN (index
-1), never a lower-fidelity query. :func:`distinct_classes` counts the isomorphism classes a
search paid for, which differ from its queries where a strategy repeats cells (REA,
REINFORCE, NSGA-II across generations); :func:`regret` is signed by the reported metric's
direction; :func:`summarize` gives all of it per budget over seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the loop's module imports this one
  from nas_jax.discrete import Trace


def incumbent_index(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
  """``(best score so far, the query index of the architecture holding it)`` (..., Q).

  Ties keep the earlier architecture; a NaN score (an unmeasured cell) never leads, nor
  does a query read at a lower fidelity than the search's own (multi-fidelity search).
  Before the first query that qualifies there is no incumbent: the score is NaN and the
  index -1."""
  score = np.asarray(trace.score)
  score = np.where(np.isnan(score) | ~np.asarray(trace.full, bool), -np.inf, score)
  best = np.maximum.accumulate(score, axis=-1)
  # the first query reaching each running maximum: the incumbent's index
  is_new = np.concatenate([score[..., :1] > -np.inf, score[..., 1:] > best[..., :-1]], axis=-1)
  index = np.maximum.accumulate(np.where(is_new, np.arange(score.shape[-1]), -1), axis=-1)
  return np.where(index >= 0, best, np.nan), index


def _reports(trace: Trace, index: np.ndarray) -> np.ndarray:
  """The report of the query at ``index`` (...,) or (..., Q); NaN where the index is -1."""
  report = np.asarray(trace.report)
  expand = index.ndim < report.ndim
  at = np.maximum(index, 0)[..., None] if expand else np.maximum(index, 0)
  out = np.take_along_axis(report, at, axis=-1)
  out = out[..., 0] if expand else out
  return np.where(index >= 0, out, np.nan)


def incumbent(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
  """``(best score so far, report of that architecture)`` after each query (..., Q); NaN
  before the first qualifying query (see :func:`incumbent_index`)."""
  best, index = incumbent_index(trace)
  return best, _reports(trace, index)


def queries_within(trace: Trace, budget: float, unit: str = 'queries') -> np.ndarray:
  """(...,) how many queries a budget of ``budget`` queries or simulated ``seconds`` covers:
  every query started before the budget was spent, the one that crosses it included (as
  NATS-Bench's loops and the launcher count)."""
  q = np.asarray(trace.score).shape[-1]
  batch = np.asarray(trace.score).shape[:-1]
  if unit == 'queries':
    n = np.full(batch, int(budget))
  elif unit == 'seconds':
    cost = np.asarray(trace.cost, np.float64)
    if np.isnan(cost).any():
      raise ValueError(
          'the queries have no known cost (the table records no train times): budget in queries'
      )
    spent = np.cumsum(cost, axis=-1)
    if np.any(spent[..., -1] < budget):
      raise ValueError(
          f'a budget of {budget} s is past what the run spent ({float(spent[..., -1].min()):.0f} '
          's in its cheapest seed): run more queries'
      )
    n = ((spent - cost) < budget).sum(axis=-1)
  else:
    raise ValueError(f"budget unit must be 'queries' or 'seconds', got {unit!r}")
  if np.any(n > q):
    raise ValueError(f'a budget of {budget} {unit} is past the {q} queries run')
  return n


def budget_index(trace: Trace, budget: float, unit: str = 'queries') -> np.ndarray:
  """The query index of the incumbent after ``budget`` queries or simulated ``seconds``
  (...,), the query crossing a seconds budget included; -1 where no query fits the budget
  or none of those that fit qualifies (:func:`incumbent_index`)."""
  n = queries_within(trace, budget, unit)
  _, index = incumbent_index(trace)
  at = np.take_along_axis(index, np.maximum(n - 1, 0)[..., None], axis=-1)[..., 0]
  return np.where(n > 0, at, -1)


def at_budget(trace: Trace, budget: float, unit: str = 'queries') -> np.ndarray:
  """The incumbent's report after ``budget`` queries or simulated ``seconds`` (...,); NaN
  where there is no incumbent yet (:func:`budget_index` is -1)."""
  return _reports(trace, budget_index(trace, budget, unit))


def regret(estimator, report) -> np.ndarray:
  """The gap from the best reported value of ``estimator``'s table to ``report``, positive
  when worse whichever way the reported metric points (a loss: ``report - best``)."""
  from nas_jax.tabular.table import LOWER_IS_BETTER  # pylint: disable=import-outside-toplevel

  gap = np.asarray(report, np.float64) - estimator.best_report
  return gap if estimator.report_metric in LOWER_IS_BETTER else -gap


def distinct_classes(space, archs, upto=None) -> np.ndarray:
  """(...,) the number of isomorphism classes among the first ``upto`` (int or (...,)
  array; None: all) queried ``archs`` (..., Q, D): what a search paid to learn, where a
  strategy that repeats cells asks fewer classes than queries."""
  from nas_jax.strategies.discrete import base  # pylint: disable=import-outside-toplevel

  archs = np.asarray(archs)
  q = archs.shape[-2]
  if base.num_classes(space) is not None:
    ids = np.asarray(base.class_of(space, archs))
  else:
    flat = archs.reshape(-1, archs.shape[-1])
    names = {}
    ids = np.asarray([names.setdefault(space.hash(tuple(a)), len(names)) for a in flat.tolist()])
    ids = ids.reshape(archs.shape[:-1])
  limit = np.broadcast_to(np.asarray(q if upto is None else upto), ids.shape[:-1])
  flat_ids, flat_limit = ids.reshape(-1, q), limit.reshape(-1)
  counts = [len(set(row[: int(n)].tolist())) for row, n in zip(flat_ids, flat_limit)]
  return np.asarray(counts).reshape(ids.shape[:-1])


def incumbent_percentile(trace: Trace, estimator, index, percentiles=None) -> np.ndarray:
  """(...,) the percentile among the table's cells of the architecture each seed asked at
  query ``index`` (:func:`budget_index`: the incumbent after a budget); NaN where the
  index is -1. ``percentiles``: ``estimator.report_percentiles()``, when already computed."""
  if percentiles is None:
    percentiles = estimator.report_percentiles()
  archs = np.asarray(trace.archs)
  cells = np.take_along_axis(archs, np.maximum(index, 0)[..., None, None], axis=-2)[..., 0, :]
  return np.where(index >= 0, percentiles[np.asarray(estimator.rows(cells))], np.nan)


def summarize(trace: Trace, estimator, budgets, unit: str = 'queries') -> list[dict]:
  """Per budget, over the seeds (leading axis) of ``trace``: the incumbent's report, its
  percentile among the table's architectures and its :func:`regret`, mean and std over the
  seeds that have an incumbent (``no_incumbent`` counts those that do not); the queries the
  budget covers and the distinct isomorphism classes among them, means."""
  percentiles = estimator.report_percentiles()
  archs = np.asarray(trace.archs)
  space = estimator.space
  rows = []
  for budget in budgets:
    at = budget_index(trace, budget, unit)
    n = queries_within(trace, budget, unit)
    report = at_budget(trace, budget, unit)
    pct = incumbent_percentile(trace, estimator, at, percentiles)
    row = dict(budget=budget)
    values = (('report', report), ('percentile', pct), ('regret', regret(estimator, report)))
    for name, value in values:
      finite = value[~np.isnan(value)]
      row[f'{name}_mean'] = float(finite.mean()) if finite.size else float('nan')
      row[f'{name}_std'] = float(finite.std()) if finite.size else float('nan')
    row['no_incumbent'] = int((at < 0).sum())
    row['queries_mean'] = float(np.mean(n))
    row['distinct_mean'] = float(np.mean(distinct_classes(space, archs, n)))
    rows.append(row)
  return rows


def hypervolume_ratio(archs, estimator, budget: int, reference=None) -> np.ndarray:
  """Per seed (leading axes of ``archs``, a trace's ``(..., queries, D)`` asked archs): the
  hypervolume of the cells found in the first ``budget`` queries, over the table's true
  front's, both on the true (seed-mean) points
  of :meth:`TabularEstimator.true_points` (two objectives).

  ``reference``: the point the volumes are measured from; by default the table's median
  of the reported metric and the worst value of the other objective (so that the ratio
  weighs the good half of the accuracy range, not the dead cells)."""
  from nas_jax import pareto  # pylint: disable=import-outside-toplevel

  points = estimator.true_points()
  valid = ~np.isnan(points).any(1)
  if reference is None:
    reference = (np.median(points[valid, 0]), points[valid, 1].min())
  best = pareto.hypervolume(points[valid], reference)
  archs = np.asarray(archs)[..., :budget, :]
  rows = np.asarray(estimator.rows(archs))
  flat = rows.reshape(-1, rows.shape[-1])
  out = np.asarray([pareto.hypervolume(points[r][valid[r]], reference) / best for r in flat])
  return out.reshape(rows.shape[:-1])
