"""Regularized evolution (aging evolution; Real, Aggarwal, Huang & Le, AAAI 2019).

The first ``population`` asks are random architectures. After that each ask runs a
tournament: ``sample`` members drawn uniformly with replacement from the population,
the best of them mutated in exactly one decision (``space.mutate``). Each tell adds
the child and removes the **oldest** member, not the worst, which is what
regularizes the search. The defaults are NB201's REA settings (population 10,
tournament 3; Dong & Yang 2020), the baseline the NB201 tables report; the reference code
is NATS-Bench's ``exps/NATS-algos/regularized_ea.py`` (AutoDL-Projects).

REA may ask a class again (a child can repeat an earlier cell), as Real et al. and NB201
do; reports count the distinct classes queried beside the queries. With ``ask(n > 1)``
(asynchronous workers) the tournament draws only from members already told, and a batch
asked before any member is told is all random.
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from nas_jax.strategies.discrete import base


def options_of(space) -> jax.Array:
  return jnp.asarray(space.options, jnp.uint32)


@flax.struct.dataclass
class EvolutionState:
  archs: jax.Array  # (P, D): the population, in slot order
  scores: jax.Array  # (P,)
  born: jax.Array  # (P,) int32: when each member was told (-1: an empty slot)
  told: jax.Array  # () int32: results told so far
  space: object = flax.struct.field(pytree_node=False)


@base.register('rea')
@dataclasses.dataclass(frozen=True)
class RegularizedEvolution(base.DiscreteStrategy):
  """Aging evolution with population ``population`` and tournament size ``sample``."""

  population: int = 10
  sample: int = 3

  def check(self):
    base.positive('rea.population', self.population)
    base.positive('rea.sample', self.sample)

  def init(self, key, space):
    del key
    p, d = self.population, len(space.options)
    return EvolutionState(
        archs=jnp.zeros((p, d), jnp.int32),
        scores=jnp.full((p,), -jnp.inf, jnp.float32),
        born=jnp.full((p,), -1, jnp.int32),
        told=jnp.zeros((), jnp.int32),
        space=space,
    )

  def parent(self, state, key) -> jax.Array:
    """The tournament winner: the best of ``sample`` members drawn with replacement."""
    return self._winner(state, jax.random.bits(key, (self.sample,)))

  def _winner(self, state, bits) -> jax.Array:
    # the filled slots are 0 .. told - 1 until the population is full
    filled = jnp.clip(state.told, 1, self.population)
    picks = base.below(bits, filled)
    return state.archs[picks[jnp.argmax(state.scores[picks])]]

  def ask(self, state, key, n=1):
    space = state.space
    d, s = len(space.options), self.sample
    # one hash per architecture: the tournament, the mutation and the random draw
    bits = jax.random.bits(key, (n, s + 2 + d))

    def one(i, b):
      # members asked before this batch's tells: random while the population is filling up
      filling = (state.told + i < self.population) | (state.told == 0)
      child = base.mutate_with(b[s : s + 2], space, self._winner(state, b[:s]))
      fresh = base.below(b[s + 2 :], options_of(space))
      return jnp.where(filling, fresh, child)

    archs = jax.vmap(one)(jnp.arange(n), bits)
    return archs.astype(jnp.int32), state

  def tell(self, state, archs, scores):
    def add(state, member):
      arch, score = member
      slot = state.told % self.population  # the oldest slot once full (slots age in turn)
      return (
          state.replace(
              archs=state.archs.at[slot].set(arch),
              scores=state.scores.at[slot].set(score),
              born=state.born.at[slot].set(state.told),
              told=state.told + 1,
          ),
          None,
      )

    scores = jnp.nan_to_num(scores.astype(jnp.float32), nan=-jnp.inf)  # unmeasured: never wins
    state, _ = jax.lax.scan(add, state, (archs.astype(jnp.int32), scores))
    return state
