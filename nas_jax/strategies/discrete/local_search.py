"""Local search (White, Nolen, Ravindranath & Li, "Local search is state of the art for
neural architecture search benchmarks", 2020).

Start from the best of ``num_init`` random architectures. Evaluate every neighbour of
the current architecture (each one-decision change, ``space.neighbours``, in a random
order); move to the best neighbour if it beats the current one, and sweep again from
there. A sweep without improvement means the current architecture is a local optimum:
the search restarts from ``num_init`` new random architectures.

Asks are one at a time (each sweep depends on the last results); ``ask(n > 1)`` is refused.
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from nas_jax.strategies.discrete import base


@flax.struct.dataclass
class LocalSearchState:
  current: jax.Array  # (D,): the architecture whose neighbourhood is swept
  current_score: jax.Array  # ()
  init_left: jax.Array  # () int32: random starts still to evaluate (0: sweeping)
  order: jax.Array  # (L,) int32: this sweep's order over the neighbour moves
  position: jax.Array  # () int32: the next neighbour of the sweep
  best: jax.Array  # (D,): the best neighbour of this sweep so far
  best_score: jax.Array  # ()
  optima: jax.Array  # () int32: local optima found (restarts)
  space: object = flax.struct.field(pytree_node=False)


@base.register('local_search')
@dataclasses.dataclass(frozen=True)
class LocalSearch(base.DiscreteStrategy):
  """Best-improvement hill climbing with random restarts."""

  num_init: int = 1
  batch_ask = False

  def check(self):
    base.positive('local_search.num_init', self.num_init)

  def init(self, key, space):
    d, moves = len(space.options), base.neighbour_moves(space)
    return LocalSearchState(
        current=jnp.zeros((d,), jnp.int32),
        current_score=jnp.array(-jnp.inf, jnp.float32),
        init_left=jnp.array(self.num_init, jnp.int32),
        order=jax.random.permutation(key, len(moves)).astype(jnp.int32),
        position=jnp.zeros((), jnp.int32),
        best=jnp.zeros((d,), jnp.int32),
        best_score=jnp.array(-jnp.inf, jnp.float32),
        optima=jnp.zeros((), jnp.int32),
        space=space,
    )

  def ask(self, state, key, n=1):
    if n != 1:
      raise ValueError(f'local_search asks one architecture at a time, not {n}')
    space = state.space
    moves = jnp.asarray(base.neighbour_moves(space))
    key_sample, key_order = jax.random.split(key)
    # a new sweep starts with a fresh order
    order = jnp.where(
        state.position == 0,
        jax.random.permutation(key_order, len(moves)).astype(jnp.int32),
        state.order,
    )
    neighbour = base.apply_move(space, state.current, moves[order[state.position]])
    arch = jnp.where(state.init_left > 0, base.sample(key_sample, space, 1)[0], neighbour)
    return arch[None].astype(jnp.int32), state.replace(order=order)

  def tell(self, state, archs, scores):
    arch, score = archs[0].astype(jnp.int32), scores[0].astype(jnp.float32)
    num_moves = len(base.neighbour_moves(state.space))

    def starting(s):  # a random start: keep the best of them as the sweep's centre
      better = score > s.current_score
      return s.replace(
          current=jnp.where(better, arch, s.current),
          current_score=jnp.where(better, score, s.current_score),
          init_left=s.init_left - 1,
          position=jnp.zeros((), jnp.int32),
          best_score=jnp.array(-jnp.inf, jnp.float32),
      )

    def sweeping(s):
      better = score > s.best_score
      s = s.replace(
          best=jnp.where(better, arch, s.best),
          best_score=jnp.where(better, score, s.best_score),
          position=s.position + 1,
      )
      done = s.position == num_moves
      moved = done & (s.best_score > s.current_score)
      optimum = done & ~moved
      return s.replace(
          current=jnp.where(moved, s.best, s.current),
          current_score=jnp.where(
              moved, s.best_score, jnp.where(optimum, -jnp.inf, s.current_score)
          ),
          position=jnp.where(done, 0, s.position),
          best_score=jnp.where(done, -jnp.inf, s.best_score),
          init_left=jnp.where(optimum, self.num_init, 0).astype(jnp.int32),
          optima=s.optima + optimum.astype(jnp.int32),
      )

    return jax.lax.cond(state.init_left > 0, starting, sweeping, state)
