"""The ask/tell loop of discrete search: one query at a time, or many seeds as one program.

A search is ``num_queries`` rounds of ``ask`` (``batch`` architectures), the
estimator, and ``tell``. Every key is derived from the run's key and the round
(``fold_in``), so :func:`run` (one ``lax.scan``), :func:`run_seeds` (that scan
``vmap``-ed over seeds, one compiled program) and :func:`run_python` (a Python loop
over the same jitted ask and tell, the form a live estimator or a checkpointed
launcher needs) give the same results.

A run returns a :class:`Trace`: every query's architecture, score, reported
metric and cost. What a trace says (the answer after each query, at a budget, its
percentile and regret) is :mod:`nas_jax.traces`, whose functions this module also
exports. A launcher's config becomes the strategy and estimator in
:func:`nas_jax.components.discrete_search`.
"""

from __future__ import annotations

from collections.abc import Callable
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


def initial_state(strategy, space, key):
  """``(the strategy's initial state, the loop's key)`` of a search from ``key``: the state a
  resumed search restores into (``nas_jax.runner.QueryLoop``)."""
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
  state, loop_key = initial_state(strategy, space, key)

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
  state, loop_key = initial_state(strategy, space, key)
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


# The trace analysis lives in nas_jax.traces; these names keep ``discrete.summarize`` etc.
from nas_jax.traces import (  # noqa: E402
    at_budget,
    budget_index,
    distinct_classes,
    hypervolume_ratio,
    incumbent,
    incumbent_index,
    incumbent_percentile,
    queries_within,
    regret,
    summarize,
)

__all__ = [
    'Trace',
    'at_budget',
    'budget_index',
    'distinct_classes',
    'hypervolume_ratio',
    'incumbent',
    'incumbent_index',
    'incumbent_percentile',
    'prepare',
    'queries_within',
    'regret',
    'run',
    'run_python',
    'run_seeds',
    'seed_keys',
    'summarize',
]
