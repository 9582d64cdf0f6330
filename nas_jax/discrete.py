"""The ask/tell loop of discrete search: one query at a time, or many seeds as one program.

A search is ``num_queries`` rounds of ``ask`` (``batch`` architectures), the
estimator, and ``tell``. Every key is derived from the run's key and the round
(``fold_in``), so :func:`run` (one ``lax.scan``), :func:`run_seeds` (that scan
``vmap``-ed over seeds, one compiled program) and :func:`run_python` (a Python loop
over the same jitted ask and tell, the form a live estimator or a checkpointed
launcher needs) give the same results.

A run returns a :class:`Trace`: every query's architecture, score, reported
metric and cost. :func:`incumbent` turns it into the search's answer after each
query (the best score so far and the report of that architecture), and
:func:`at_budget` reads that answer at a query count or a simulated-seconds budget. A
simulated-seconds budget keeps the query that crosses it, as NATS-Bench's search loops do
(``while total_cost < budget: query``), and as the launcher stops. Before any query at
the search's own fidelity the answer is NaN (index -1), never a lower-fidelity query.
:func:`distinct_classes` counts the isomorphism classes a search paid for, which differ
from its queries where a strategy repeats cells (REA, REINFORCE, NSGA-II across
generations); :func:`regret` is signed by the reported metric's direction.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Trace(NamedTuple):
  """Per query (leading axes: ``[seeds,] queries``)."""

  archs: jax.Array  # (..., Q, D) int32
  score: jax.Array  # (..., Q): what the strategy was told
  report: jax.Array  # (..., Q): the reported metric of that architecture
  cost: jax.Array  # (..., Q): simulated seconds
  full: jax.Array  # (..., Q) bool: read at the search's own fidelity (always, but in
  # multi-fidelity search, where only these queries can become the incumbent)


def _round_keys(key, i):
  return jax.random.split(jax.random.fold_in(key, i))


def prepare(strategy, estimator, num_queries: int):
  """``strategy`` bound to ``estimator`` (a multi-fidelity strategy's top fidelity is the
  estimator's own) after a one-line ConfigError where ``num_queries`` does not fit it."""
  strategy = strategy.bind(estimator)
  strategy.check_queries(num_queries)
  return strategy


def _start(strategy, space, key):
  init_key, loop_key = jax.random.split(key)
  return strategy.init(init_key, space), loop_key


def _round(strategy, estimator, batch, state, loop_key, i):
  ask_key, est_key = _round_keys(loop_key, i)
  archs, state = strategy.ask(state, ask_key, batch)
  results = estimator(archs, est_key, strategy.fidelity(state))
  state = strategy.tell(state, archs, results.score)
  return state, Trace(archs, results.score, results.report, results.cost, results.full)


def run(strategy, estimator, space, key, num_queries: int, batch: int = 1):
  """One search as one ``lax.scan`` (jittable); returns ``(final state, Trace)`` with
  ``num_queries`` queries (``num_queries / batch`` rounds)."""
  if num_queries % batch:
    raise ValueError(f'num_queries ({num_queries}) must be a multiple of batch ({batch})')
  _jittable(estimator)
  strategy = prepare(strategy, estimator, num_queries)
  state, loop_key = _start(strategy, space, key)

  def body(state, i):
    return _round(strategy, estimator, batch, state, loop_key, i)

  state, trace = jax.lax.scan(body, state, jnp.arange(num_queries // batch))
  return state, jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), trace)


@functools.lru_cache(maxsize=32)
def _compiled_seeds(strategy, estimator, space, num_queries, batch):
  def one(key):
    return run(strategy, estimator, space, key, num_queries, batch)[1]

  return jax.jit(jax.vmap(one))


@functools.lru_cache(maxsize=32)
def _compiled_round(strategy, estimator, batch):
  return jax.jit(functools.partial(_round, strategy, estimator, batch))


@functools.lru_cache(maxsize=32)
def _compiled_ask_tell(strategy, batch):
  return (
      jax.jit(lambda state, key: strategy.ask(state, key, batch)),
      jax.jit(strategy.tell),
  )


def _jittable(estimator) -> None:
  if not getattr(estimator, 'jittable', True):
    raise ValueError(
        f'{type(estimator).__name__} runs outside jit: use discrete.run_python, not run or '
        'run_seeds'
    )


def run_seeds(strategy, estimator, space, keys, num_queries: int, batch: int = 1) -> Trace:
  """:func:`run` for every key of ``keys`` (S,) at once: one compiled, vmapped program."""
  _jittable(estimator)
  strategy = prepare(strategy, estimator, num_queries)
  return _compiled_seeds(strategy, estimator, space, num_queries, batch)(keys)


def seed_keys(seeds) -> jax.Array:
  """The run key of each integer seed (what every form of the loop starts from)."""
  return jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))


def run_python(
    strategy,
    estimator,
    space,
    key,
    num_queries: int,
    batch: int = 1,
    *,
    start: tuple | None = None,
    on_round: Callable | None = None,
):
  """:func:`run` as a Python loop over jitted rounds; same results.

  ``start``: ``(state, round)`` to resume from (a checkpoint); ``on_round(state, round,
  trace)`` is called after each round (the launcher logs and checkpoints there) and ends
  the loop early by returning True (a budget in simulated seconds spent). Returns
  ``(state, Trace)`` of the rounds run here.
  """
  strategy = prepare(strategy, estimator, num_queries)
  state, loop_key = _start(strategy, space, key)
  first = 0
  if start is not None:
    state, first = start
  if getattr(estimator, 'jittable', True):
    step = _compiled_round(strategy, estimator, batch)
  else:  # a live estimator runs in Python between the jitted ask and tell
    ask, tell = _compiled_ask_tell(strategy, batch)

    def step(state, loop_key, i):
      ask_key, est_key = _round_keys(loop_key, i)
      archs, state = ask(state, ask_key)
      results = estimator(np.asarray(archs), est_key, strategy.fidelity(state))
      state = tell(state, archs, jnp.asarray(results.score))
      return state, Trace(archs, results.score, results.report, results.cost, results.full)

  traces = []
  for i in range(first, num_queries // batch):
    state, trace = step(state, loop_key, i)
    traces.append(trace)
    if on_round is not None and on_round(state, i, trace):
      break
  if not traces:
    d = len(space.options)
    empty = Trace(
        np.zeros((0, d), np.int32), *(np.zeros((0,), np.float32),) * 3, np.zeros((0,), bool)
    )
    return state, empty
  return state, jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *traces)


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


def from_config(config):
  """``(strategy, estimator, space)`` of an ``experiments.discrete`` config (the
  ``experiments/configs/discrete_*.py`` keys); a one-line ConfigError or TableError for a
  bad value."""
  from nas_jax import tabular  # pylint: disable=import-outside-toplevel
  from nas_jax.config_checks import ConfigError
  from nas_jax.estimators import TabularEstimator
  from nas_jax.strategies import discrete as ds

  strategy = ds.get(config.strategy, **dict(config.settings))
  if config.estimator not in ('tabular', 'train'):
    raise ConfigError(f"config.estimator must be 'tabular' or 'train', got {config.estimator!r}")
  if config.batch is None:
    config.batch = strategy.ask_size
  if config.budget_unit not in ('queries', 'seconds'):
    raise ConfigError(
        f"config.budget_unit must be 'queries' or 'seconds', got {config.budget_unit!r}"
    )
  if not config.budget > 0:
    raise ConfigError(f'config.budget must be > 0, got {config.budget!r}')
  for key in ('batch', 'max_queries', 'seeds', 'checkpoint_every'):
    if not (isinstance(config[key], int) and config[key] >= 1):
      raise ConfigError(f'config.{key} must be an integer >= 1, got {config[key]!r}')
  if config.batch > 1 and not strategy.batch_ask:
    raise ConfigError(f'{config.strategy} asks one architecture at a time: config.batch must be 1')
  table_seed = config.table_seed
  if isinstance(table_seed, str) and table_seed.isdigit():
    table_seed = int(table_seed)
  objectives = tuple(config.objectives)
  rule = _early_stop_rule(config, objectives)
  if config.estimator == 'train':
    estimator, space = _train_estimator(config, objectives, rule)
    return prepare(strategy, estimator, config.max_queries), estimator, space
  report_table = config.get('report_table') or None
  estimator = TabularEstimator(
      tabular.load(config.table),
      config.metric,
      config.epoch,
      table_seed,
      config.report,
      objectives,
      report_table=tabular.load(report_table) if report_table else None,
  )
  wanted = getattr(strategy, 'objectives', 1)
  if wanted != 1 + len(objectives):
    raise ConfigError(
        f'{config.strategy} optimizes {wanted} objective(s), but the config gives '
        f'{1 + len(objectives)} (config.metric and config.objectives={objectives})'
    )
  if rule is not None:
    from nas_jax.estimators.early_stopping import EarlyStopped

    with _early_stop_errors():
      estimator = EarlyStopped(estimator, rule)
  return prepare(strategy, estimator, config.max_queries), estimator, estimator.space


@contextlib.contextmanager
def _early_stop_errors():
  """The rule's ValueErrors as one-line ``config.early_stop: ...`` ConfigErrors."""
  from nas_jax.config_checks import ConfigError

  try:
    yield
  except ValueError as e:
    raise ConfigError(f'config.early_stop: {e}') from None


def _early_stop_rule(config, objectives):
  """The ``config.early_stop`` rule (a ``MedianStopping``), or None when its epoch is 0."""
  from nas_jax.config_checks import ConfigError
  from nas_jax.estimators.early_stopping import MedianStopping

  stop = config.get('early_stop')
  if stop is None or stop.epoch == 0:
    return None
  if config.seeds != 1:
    raise ConfigError('config.early_stop runs one search at a time: config.seeds must be 1')
  if objectives:
    raise ConfigError('config.early_stop takes a single objective: config.objectives must be ()')
  with _early_stop_errors():
    return MedianStopping(stop.epoch, stop.warmup, stop.quantile, stop.signal)


def _train_estimator(config, objectives, rule=None):
  """``(TrainEstimator, space)`` of a config whose ``estimator`` is ``'train'``."""
  from nas_jax import spaces  # pylint: disable=import-outside-toplevel
  from nas_jax.config_checks import ConfigError
  from nas_jax.estimators import TrainEstimator
  from nas_jax.tabular.protocol import Protocol

  if objectives:
    raise ConfigError("config.objectives needs a table: estimator 'train' has one objective")
  if config.seeds != 1:
    raise ConfigError("estimator 'train' runs one search at a time: config.seeds must be 1")
  live = config.train
  hashing = {'hash_rule': live.hash_rule} if live.get('hash_rule') else {}
  protocol = Protocol.from_config(live.protocol)
  if live.get('network', 'arch') not in ('arch', 'cell'):
    raise ConfigError(f"config.train.network must be 'arch' or 'cell', got {live.network!r}")
  if rule is not None:  # before the data is loaded
    with _early_stop_errors():
      rule.check_epochs(config.epoch or protocol.epochs)
  options = {key: live[key] for key in ('steps', 'multiplier') if live.get(key)}
  space = spaces.get(live.space, tuple(live.primitives) or None, **options, **hashing)
  estimator = TrainEstimator(
      space,
      protocol,
      config.metric,
      config.epoch,
      config.report,
      live.seed,
      live.get('data_dir'),
      network=live.get('network', 'arch'),
      early_stop=rule,
  )
  return estimator, space


__all__ = [
    'Trace',
    'from_config',
    'at_budget',
    'budget_index',
    'distinct_classes',
    'hypervolume_ratio',
    'incumbent',
    'incumbent_index',
    'prepare',
    'queries_within',
    'regret',
    'run',
    'run_python',
    'run_seeds',
    'seed_keys',
    'summarize',
]
