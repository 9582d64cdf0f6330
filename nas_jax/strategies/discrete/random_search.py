"""Random search (Bergstra & Bengio 2012; NB201's ``RANDOM`` and NATS-Bench's
``random_wo_share`` baselines).

Each ask draws architectures uniformly over the decision vectors, as ``space.sample``
does. By default (``replacement=False``) a draw whose isomorphism class (``space.hash``)
was already asked is redrawn, so no cell is paid for twice, as naszilla's random search
does. NATS-Bench's ``random_wo_share`` samples with replacement, so it can pay again for a
cell it has seen; ``replacement=True`` reproduces that. In a space too big to index by class
(``base.num_classes`` is None) repeats are left to chance, which is then negligible.

Reference implementations: NATS-Bench's ``exps/NATS-algos/random_wo_share.py``
(AutoDL-Projects; ``replacement=True``) and naszilla's random search (the default).
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax

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
  replacement: bool = False  # True: NATS-Bench's random_wo_share (repeats allowed)

  def check(self):
    base.positive('random.max_tries', self.max_tries)

  def init(self, key, space):
    del key
    return RandomState(seen=base.unseen(space), space=space)

  def ask(self, state, key, n=1):
    space = state.space
    if self.replacement or base.num_classes(space) is None:
      return base.sample(key, space, n), state
    archs, seen = base.draw_unseen_many(key, space, state.seen, n, self.max_tries)
    return archs, state.replace(seen=seen)

  def tell(self, state, archs, scores):
    del archs, scores
    return state
