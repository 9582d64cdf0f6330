"""A warm start for any strategy: its first asks are given architectures.

``WarmStart(inner, archs)`` answers the first ``len(archs)`` asks with ``archs`` in order
(for example the cells a zero-cost proxy ranks best) and every later ask with ``inner``'s;
every result is told to ``inner``. Regularized evolution then starts from a population of
the given cells (``len(archs) <= population``: they take the random members' places), and
local search starts its first sweep from the best of them (``num_init = len(archs)``).
Strategies that ask random architectures first (``random``, ``rea``, ``local_search``,
``bananas``' initial design) fit this pattern; REINFORCE's policy is not changed by it
except through the results it is told.

Reference: the warm-up use of zero-cost proxies in Abdelfattah et al., "Zero-Cost Proxies
for Lightweight NAS", ICLR 2021 (SamsungLabs/zero-cost-nas): the top proxy-ranked cells seed
the search. Departure: the paper seeds REA's initial population and BANANAS' initial
design by proxy rank; here the given cells replace the first asks of any strategy, and a
strategy that never repeats a cell records them as asked (``mark_asked``).
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from nas_jax.strategies.discrete import base


@flax.struct.dataclass
class WarmStartState:
  inner: object
  asked: jax.Array  # () int32


@dataclasses.dataclass(frozen=True)
class WarmStart(base.DiscreteStrategy):
  """``inner`` with its first ``len(archs)`` asks replaced (module docstring)."""

  inner: base.DiscreteStrategy
  archs: tuple[tuple[int, ...], ...]

  @property
  def name(self):  # pylint: disable=invalid-overridden-method
    return f'{self.inner.name}+warm'

  @property
  def batch_ask(self):  # pylint: disable=invalid-overridden-method
    return self.inner.batch_ask

  @property
  def ask_size(self):
    return self.inner.ask_size

  def check(self):
    if not self.archs:
      raise base.ConfigError('a warm start needs at least one architecture')
    self.inner.check()

  def init(self, key, space):
    width = {len(a) for a in self.archs}
    if width != {len(space.options)}:
      raise base.ConfigError(
          f'warm-start archs have {sorted(width)} decisions, the space has {len(space.options)}'
      )
    return WarmStartState(self.inner.init(key, space), jnp.zeros((), jnp.int32))

  def ask(self, state, key, n=1):
    archs, inner = self.inner.ask(state.inner, key, n)
    given = jnp.asarray(self.archs, jnp.int32)
    k = state.asked + jnp.arange(n)
    warm = k < len(self.archs)
    chosen = given[jnp.minimum(k, len(self.archs) - 1)]
    archs = jnp.where(warm[:, None], chosen, archs)
    inner = self.inner.mark_asked(inner, chosen, warm)  # never asked again by a no-repeat inner
    return archs.astype(jnp.int32), WarmStartState(inner, state.asked + n)

  def tell(self, state, archs, scores):
    return state.replace(inner=self.inner.tell(state.inner, archs, scores))

  def fidelity(self, state):
    return self.inner.fidelity(state.inner)

  def bind(self, estimator):
    return dataclasses.replace(self, inner=self.inner.bind(estimator))

  def check_queries(self, num_queries):
    self.inner.check_queries(num_queries)
