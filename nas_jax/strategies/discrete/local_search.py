"""Local search (White, Nolen, Ravindranath & Li, "Local search is state of the art for
neural architecture search benchmarks", 2020; reference code naszilla,
``naszilla/nas_algorithms.py:local_search``).

Start from the best of ``num_init`` random architectures. Evaluate the neighbours of the
current architecture (each one-decision change, ``space.neighbours``, in a random order);
move to the best neighbour if it beats the current one, and sweep again from there. A
sweep without improvement means the current architecture is a local optimum: the search
restarts from ``num_init`` new random architectures.

As in naszilla, no isomorphism class is ever queried twice: a neighbour (or a random
start) whose class was already queried is skipped, not paid for again, and does not take
part in the sweep's comparison (naszilla's ``query_dict``). Where it departs from naszilla's
defaults: it sweeps the full neighbourhood and moves to its best (the paper's Algorithm 1,
naszilla's ``query_full_nbhd=True``) where naszilla's code moves at the first improvement,
and ``num_init`` defaults to 1, not 10.

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
  optimum: jax.Array  # (D,): the last local optimum found
  seen: jax.Array  # (classes,) bool: every isomorphism class queried so far
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
        optimum=jnp.zeros((d,), jnp.int32),
        seen=base.unseen(space),
        space=space,
    )

  def _next_fresh(self, s) -> jax.Array:
    """The first sweep position at or after ``s.position`` whose neighbour's class was never
    queried; the number of moves when none is left (the sweep is over)."""
    moves = jnp.asarray(base.neighbour_moves(s.space))
    neighbours = jax.vmap(lambda m: base.apply_move(s.space, s.current, m))(moves[s.order])
    fresh = ~base.is_seen(s.space, s.seen, neighbours)
    fresh = fresh & (jnp.arange(len(moves)) >= s.position)
    return jnp.where(fresh.any(), jnp.argmax(fresh), len(moves)).astype(jnp.int32)

  def _end_sweep(self, s, key):
    """The sweep is over: move to its best neighbour if that beats the current architecture
    (a new sweep in a new order), else count a local optimum and restart."""
    num_moves = len(base.neighbour_moves(s.space))
    moved = s.best_score > s.current_score
    return s.replace(
        current=jnp.where(moved, s.best, s.current),
        current_score=jnp.where(moved, s.best_score, -jnp.inf),
        position=jnp.zeros((), jnp.int32),
        best_score=jnp.array(-jnp.inf, jnp.float32),
        init_left=jnp.where(moved, 0, self.num_init).astype(jnp.int32),
        optima=s.optima + (~moved).astype(jnp.int32),
        optimum=jnp.where(moved, s.optimum, s.current),
        order=jnp.where(moved, jax.random.permutation(key, num_moves).astype(jnp.int32), s.order),
    )

  def ask(self, state, key, n=1):
    if n != 1:
      raise ValueError(f'local_search asks one architecture at a time, not {n}')
    space = state.space
    moves = jnp.asarray(base.neighbour_moves(space))
    key_sample, key_order, key_end = jax.random.split(key, 3)
    sweeping = state.init_left == 0
    # a new sweep starts with a fresh order
    state = state.replace(
        order=jnp.where(
            sweeping & (state.position == 0),
            jax.random.permutation(key_order, len(moves)).astype(jnp.int32),
            state.order,
        )
    )

    # skip neighbours already queried; a sweep with none left ends here (at most twice: a
    # move, then an optimum whose neighbours were all queried)
    def exhausted(carry):
      s, _ = carry
      return (s.init_left == 0) & (self._next_fresh(s) >= len(moves))

    def end(carry):
      s, k = carry
      k, sub = jax.random.split(k)
      return self._end_sweep(s, sub), k

    state, _ = jax.lax.while_loop(exhausted, end, (state, key_end))
    position = jnp.where(state.init_left == 0, self._next_fresh(state), state.position)
    position = jnp.minimum(position, len(moves) - 1)
    neighbour = base.apply_move(space, state.current, moves[state.order[position]])
    start, seen_start = base.draw_unseen(key_sample, space, state.seen)
    starting = state.init_left > 0
    arch = jnp.where(starting, start, neighbour)
    seen = jnp.where(starting, seen_start, base.mark(space, state.seen, neighbour[None]))
    return arch[None].astype(jnp.int32), state.replace(position=position, seen=seen)

  def tell(self, state, archs, scores):
    arch, score = archs[0].astype(jnp.int32), scores[0].astype(jnp.float32)

    def starting(s):  # a random start: keep the best of them as the sweep's centre
      better = score > s.current_score
      return s.replace(
          current=jnp.where(better, arch, s.current),
          current_score=jnp.where(better, score, s.current_score),
          init_left=s.init_left - 1,
          position=jnp.zeros((), jnp.int32),
          best_score=jnp.array(-jnp.inf, jnp.float32),
      )

    def sweeping(s):  # a neighbour: the sweep's end is decided by the next ask
      better = score > s.best_score
      return s.replace(
          best=jnp.where(better, arch, s.best),
          best_score=jnp.where(better, score, s.best_score),
          position=s.position + 1,
      )

    return jax.lax.cond(state.init_left > 0, starting, sweeping, state)
