"""Pareto tools for multi-objective search: non-dominated sorting, crowding, hypervolume.

Objectives are *maximized*: a point is a row of ``scores`` (N, M), and ``a``
dominates ``b`` when ``a >= b`` in every objective and ``a > b`` in one. (A metric
to minimize, such as params, enters negated, as the estimators' scores do.)

* :func:`ranks`: the non-dominated sorting of NSGA-II (Deb, Pratap, Agarwal &
  Meyarivan 2002): rank 0 is the Pareto front, rank 1 the front of the rest, ...
  With a constraint violation per point (0: feasible), Deb's constrained
  domination applies: a feasible point beats an infeasible one, and of two
  infeasible points the smaller violation wins.
* :func:`crowding`: NSGA-II's crowding distance within each rank (boundary points
  infinite; the gaps normalized by the rank's range in each objective).
* :func:`front` and :func:`hypervolume`: a set's Pareto front and its exact
  hypervolume in two objectives, against a reference point.

``ranks`` and ``crowding`` are ``jax.numpy`` (NSGA-II runs them under ``jit``/``vmap``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def dominates(scores: jax.Array, violation: jax.Array | None = None) -> jax.Array:
  """(N, N) bool: ``[i, j]`` when point ``i`` (constrained-)dominates point ``j``."""
  a, b = scores[:, None, :], scores[None, :, :]
  pareto = (a >= b).all(-1) & (a > b).any(-1)
  if violation is None:
    return pareto
  vi, vj = violation[:, None], violation[None, :]
  feasible_i, feasible_j = vi <= 0, vj <= 0
  return jnp.where(
      feasible_i & feasible_j,
      pareto,
      jnp.where(feasible_i, ~feasible_j, ~feasible_i & ~feasible_j & (vi < vj)),
  )


def ranks(scores: jax.Array, violation: jax.Array | None = None) -> jax.Array:
  """(N,) int32: each point's non-domination rank (0: the front); NaN scores rank last."""
  n = scores.shape[0]
  bad = jnp.isnan(scores).any(-1)
  scores = jnp.where(bad[:, None], -jnp.inf, scores)
  dom = dominates(scores, violation)

  def peel(i, carry):
    rank, left = carry
    dominated = (dom & left[:, None]).any(0)  # by a point still unranked
    now = left & ~dominated
    return jnp.where(now, i, rank), left & ~now

  rank, _ = jax.lax.fori_loop(0, n, peel, (jnp.full((n,), n, jnp.int32), jnp.ones((n,), bool)))
  return jnp.where(bad, n, rank)


def crowding(scores: jax.Array, rank: jax.Array) -> jax.Array:
  """(N,) NSGA-II crowding distance of every point within its rank."""
  n, m = scores.shape
  total = jnp.zeros((n,), scores.dtype)
  for k in range(m):
    value = scores[:, k]
    order = jnp.lexsort((value, rank))  # by rank, then by the objective
    r, v = rank[order], value[order]
    hi = jax.ops.segment_max(value, rank, num_segments=n + 1)[r]
    lo = jax.ops.segment_min(value, rank, num_segments=n + 1)[r]
    span = jnp.where(hi > lo, hi - lo, 1.0)
    prev_same = jnp.concatenate([jnp.array([False]), r[1:] == r[:-1]])
    next_same = jnp.concatenate([r[:-1] == r[1:], jnp.array([False])])
    gap = (jnp.roll(v, -1) - jnp.roll(v, 1)) / span
    d = jnp.where(prev_same & next_same, gap, jnp.inf)
    d = jnp.where(jnp.isnan(d), 0.0, d)  # NaN-scored points (ranked last) get no crowding
    total = total.at[order].add(d)
  return total


def front(points: np.ndarray) -> np.ndarray:
  """The indices of the non-dominated rows of ``points`` (N, M), maximizing; duplicates of a
  front point are all kept."""
  points = np.asarray(points, np.float64)
  keep = []
  for i, p in enumerate(points):
    if np.isnan(p).any():
      continue
    dominated = ((points >= p).all(1) & (points > p).any(1)).any()
    if not dominated:
      keep.append(i)
  return np.asarray(keep, np.int64)


def hypervolume(points: np.ndarray, reference) -> float:
  """The area dominated by ``points`` (N, 2) and bounded below by ``reference`` (maximizing).

  Points not strictly better than the reference in both objectives add nothing."""
  points = np.asarray(points, np.float64)
  if points.ndim != 2 or points.shape[1] != 2:
    raise ValueError(f'hypervolume is exact for two objectives; got points of shape {points.shape}')
  ref = np.asarray(reference, np.float64)
  points = points[(points > ref).all(1)]
  if not len(points):
    return 0.0
  points = points[front(points)]
  points = points[np.argsort(-points[:, 0])]  # first objective descending: second ascending
  area, height = 0.0, ref[1]
  for x, y in points:
    if y > height:
      area += (x - ref[0]) * (y - height)
      height = y
  return float(area)


__all__ = ['crowding', 'dominates', 'front', 'hypervolume', 'ranks']
