"""Random search without repeats (Bergstra & Bengio 2012; NB201's ``RANDOM`` baseline).

Each ask draws architectures uniformly over the decision vectors, as ``space.sample``
does, and redraws one whose isomorphism class (``space.hash``) was already asked,
so no cell is paid for twice. In a space too big to index by class
(``base.num_classes`` is None) repeats are left to chance, which is then negligible.
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from nas_jax.strategies.discrete import base


@flax.struct.dataclass
class RandomState:
  seen: jax.Array  # (classes,) bool: classes asked so far (one unused entry without a class
  # index: Orbax saves no zero-size array)
  space: object = flax.struct.field(pytree_node=False)


@base.register('random')
@dataclasses.dataclass(frozen=True)
class RandomSearch(base.DiscreteStrategy):
  """Uniform sampling; ``max_tries`` redraws per architecture before a repeat is allowed."""

  max_tries: int = 1000

  def check(self):
    base.positive('random.max_tries', self.max_tries)

  def init(self, key, space):
    del key
    n = base.num_classes(space)
    return RandomState(seen=jnp.zeros((n or 1,), bool), space=space)

  def ask(self, state, key, n=1):
    space = state.space
    if base.num_classes(space) is None:
      return base.sample(key, space, n), state

    def draw(seen, key):
      def redraw(carry):
        arch, k, tries = carry
        k, sub = jax.random.split(k)
        return base.sample(sub, space, 1)[0], k, tries + 1

      def again(carry):
        arch, _, tries = carry
        return seen[base.class_of(space, arch)] & (tries < self.max_tries)

      key, sub = jax.random.split(key)
      arch, _, _ = jax.lax.while_loop(again, redraw, (base.sample(sub, space, 1)[0], key, 0))
      return seen.at[base.class_of(space, arch)].set(True), arch

    seen, archs = jax.lax.scan(draw, state.seen, jax.random.split(key, n))
    return archs, state.replace(seen=seen)

  def tell(self, state, archs, scores):
    del archs, scores
    return state
