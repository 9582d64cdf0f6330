"""NSGA-II (Deb, Pratap, Agarwal & Meyarivan, IEEE TEC 2002) for multi-objective search.

Scores are ``(n, M)``: every objective maximized (the estimator negates a cost such
as params or latency). The first ask returns ``population`` random architectures.
Each later ask returns ``population`` offspring: parents picked by binary
tournaments (the lower non-domination rank wins, then the larger crowding distance),
recombined by uniform crossover with probability ``crossover`` and mutated in one
decision (``space.mutate``). Each tell merges parents and offspring and keeps the
best ``population`` by rank, then crowding (``nas_jax.pareto``).

Duplicates are eliminated as pymoo does by default (``eliminate_duplicates=True``): an
offspring whose isomorphism class is already in the population or earlier among the
offspring is discarded and another is bred (up to ``patience`` children per slot; a slot
still empty after that gets a random architecture of a new class), and the first
generation has no two architectures of one class. As in pymoo, a class that left the
population may be bred again in a later generation, so the distinct classes queried are
counted in every report (``nas_jax.discrete.distinct_classes``). ``eliminate='history'``
eliminates against every class ever asked instead (never a class twice, as BANANAS and
local search; in a space too big to index it falls back to the population).

Hard constraints: ``limits`` gives a lower bound per objective in score units
(``None``: none), e.g. ``(None, -1e5)`` for params <= 1e5 when the second objective is
``-params``. A point's violation is the sum of its shortfalls, and Deb's constrained
domination ranks every feasible point above every infeasible one.

Asks are whole generations: ``ask(n)`` needs ``n == population``.

Reference implementation: pymoo's ``NSGA2`` (binary tournament on rank then crowding,
``eliminate_duplicates=True`` by default). Departures: mutation changes one decision
(pymoo's integer operators differ), and duplicates are judged by isomorphism class, not by
the decision vector.
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from nas_jax import pareto
from nas_jax.strategies.discrete import base


@flax.struct.dataclass
class NSGA2State:
  archs: jax.Array  # (N, D): the parents
  scores: jax.Array  # (N, M)
  rank: jax.Array  # (N,) int32
  crowd: jax.Array  # (N,)
  told: jax.Array  # () int32: generations told
  seen: jax.Array  # (classes,) bool: every class asked (used by eliminate='history')
  space: object = flax.struct.field(pytree_node=False)


@base.register('nsga2')
@dataclasses.dataclass(frozen=True)
class NSGA2(base.DiscreteStrategy):
  """Non-dominated sorting with crowding over ``objectives`` score columns."""

  population: int = 20
  objectives: int = 2
  crossover: float = 0.5
  limits: tuple | None = None
  patience: int = 10  # children bred per offspring slot before a random fill
  eliminate: str = 'population'  # duplicates of: 'population' (pymoo) or 'history' (any asked)

  def check(self):
    base.positive('nsga2.population', self.population)
    base.positive('nsga2.objectives', self.objectives)
    base.positive('nsga2.patience', self.patience)
    if self.eliminate not in ('population', 'history'):
      raise base.ConfigError(
          f"nsga2.eliminate must be 'population' or 'history', got {self.eliminate!r}"
      )
    if not 0 <= self.crossover <= 1:
      raise base.ConfigError(f'nsga2.crossover must be in [0, 1], got {self.crossover!r}')
    if self.limits is not None and len(self.limits) != self.objectives:
      raise base.ConfigError(
          f'nsga2.limits needs one bound per objective ({self.objectives}), got {self.limits!r}'
      )

  def violation(self, scores: jax.Array) -> jax.Array | None:
    """(n,) the sum of each point's shortfalls below ``limits`` (None without limits)."""
    if self.limits is None:
      return None
    bound = jnp.asarray([-jnp.inf if b is None else b for b in self.limits], jnp.float32)
    return jnp.maximum(bound - scores, 0.0).sum(-1)

  def init(self, key, space):
    del key
    n, d = self.population, len(space.options)
    return NSGA2State(
        archs=jnp.zeros((n, d), jnp.int32),
        scores=jnp.full((n, self.objectives), -jnp.inf, jnp.float32),
        rank=jnp.zeros((n,), jnp.int32),
        crowd=jnp.zeros((n,), jnp.float32),
        told=jnp.zeros((), jnp.int32),
        seen=base.unseen(space),
        space=space,
    )

  def _tournament(self, state, key) -> jax.Array:
    i, j = jax.random.randint(key, (2,), 0, self.population)
    better = (state.rank[i] < state.rank[j]) | (
        (state.rank[i] == state.rank[j]) & (state.crowd[i] >= state.crowd[j])
    )
    return jnp.where(better, i, j)

  def _same(self, space, a, b) -> jax.Array:
    """(n, m) bool: ``a[i]`` and ``b[j]`` are one isomorphism class (the same decision vector
    in a space too big to index)."""
    if base.num_classes(space) is not None:
      return base.class_of(space, a)[:, None] == base.class_of(space, b)[None, :]
    return (a[:, None, :] == b[None, :, :]).all(-1)

  def offspring(self, state, key, n) -> jax.Array:
    """``n`` children of distinct classes, none of a parent's class (see the module docstring)."""
    space = state.space
    key_pool, key_fill = jax.random.split(key)

    def child(k):
      k1, k2, k3, k4, k5 = jax.random.split(k, 5)
      a, b = state.archs[self._tournament(state, k1)], state.archs[self._tournament(state, k2)]
      mixed = jnp.where(jax.random.bernoulli(k3, 0.5, a.shape), a, b)
      a = jnp.where(jax.random.bernoulli(k4, self.crossover), mixed, a)
      return base.mutate(k5, space, a)

    pool = jax.vmap(child)(jax.random.split(key_pool, self.patience * n)).astype(jnp.int32)
    fresh = ~self._repeats(space, pool)
    fresh = fresh & ~self._same(space, pool, state.archs).any(1)
    history = self.eliminate == 'history' and base.num_classes(space) is not None
    if history:
      fresh = fresh & ~base.is_seen(space, state.seen, pool)
    rank = jnp.cumsum(fresh) - 1
    # slot j holds the j-th fresh child (a slot with none keeps a placeholder, filled below)
    slot = jnp.where(fresh & (rank < n), rank, n)
    picks = jnp.zeros((n + 1, pool.shape[1]), jnp.int32).at[slot].set(pool)[:n]
    ok = jnp.arange(n) < fresh.sum()
    seen = base.mark(space, state.seen if history else base.unseen(space), state.archs)
    seen = base.mark(space, seen, picks, ok)
    return base.fill_unseen(key_fill, space, seen, picks, ok)[0]

  @property
  def ask_size(self) -> int:
    return self.population

  def ask(self, state, key, n=None):
    n = self.population if n is None else n
    if n != self.population:
      raise base.ConfigError(
          f'nsga2 asks whole generations: n must be population={self.population}, not {n}'
      )
    space = state.space
    key_random, key_children = jax.random.split(key)
    first, _ = base.draw_unseen_many(key_random, space, base.unseen(space), n)
    archs = jax.lax.cond(
        state.told > 0, lambda: self.offspring(state, key_children, n), lambda: first
    )
    return archs.astype(jnp.int32), state.replace(seen=base.mark(space, state.seen, archs))

  def _repeats(self, space, archs) -> jax.Array:
    """(n,) bool: an architecture whose class (or, in a space too big to index, decision
    vector) occurs earlier in ``archs``."""
    return jnp.tril(self._same(space, archs, archs), -1).any(1)

  def select(self, space, archs, scores):
    """The best ``population`` of ``archs``/``scores`` by rank, then crowding:
    ``(archs, scores, rank, crowd)``, re-ranked among the survivors. Repeats of a cell
    rank last (scored NaN for the sort): without that, copies of the front's cells fill
    the population in a discrete space and the search stops spreading."""
    repeat = self._repeats(space, archs)
    scores = jnp.where(repeat[:, None], jnp.nan, scores)
    rank = pareto.ranks(scores, self.violation(scores))
    crowd = pareto.crowding(scores, rank)
    keep = jnp.lexsort((-crowd, rank))[: self.population]
    archs, scores = archs[keep], scores[keep]
    rank = pareto.ranks(scores, self.violation(scores))
    return archs, scores, rank, pareto.crowding(scores, rank)

  def tell(self, state, archs, scores):
    scores = scores.astype(jnp.float32).reshape(archs.shape[0], self.objectives)
    first = state.told == 0
    merged_archs = jnp.concatenate([state.archs, archs.astype(jnp.int32)])
    merged_scores = jnp.concatenate(
        [jnp.where(first, -jnp.inf, state.scores), scores]  # the first generation stands alone
    )
    archs, scores, rank, crowd = self.select(state.space, merged_archs, merged_scores)
    return state.replace(archs=archs, scores=scores, rank=rank, crowd=crowd, told=state.told + 1)
