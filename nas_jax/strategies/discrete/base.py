"""The ask/tell interface of discrete search, and the array forms of a space it runs on.

A discrete strategy proposes architectures (int decision vectors, ``space.options``)
and learns from their results; it never sees how a result was computed (a table
lookup, live training, a proxy). Every strategy is a frozen dataclass whose fields
are its hyperparameters, with the paper's defaults, and three pure functions:

* ``init(key, space) -> state``;
* ``ask(state, key, n) -> (archs, state)``: ``archs`` an int32 array ``(n, D)``;
* ``tell(state, archs, scores) -> state``: ``scores`` a float array ``(n,)``,
  higher is better (the loop negates a lower-is-better metric).

The state is a ``flax.struct`` dataclass: its arrays are pytree leaves (so
Orbax checkpoints it and ``vmap`` batches it over seeds) and the space is static
data. Everything is written in ``jax.numpy`` so that a whole search over a
table runs as one compiled program (``nas_jax.discrete``), and the same functions
called one query at a time from Python give the same results.

A strategy is one file in this package that decorates its class with
:func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nas_jax.config_checks import ConfigError
from nas_jax.registry import Registry
from nas_jax.spaces import decisions

REGISTRY: Registry = Registry('discrete strategy')

# Spaces up to this many decision vectors get a class-id array (dedup by hash under jit).
MAX_CLASS_INDEX = 2_000_000


def register(name: str) -> Callable[[type], type]:
  """Class decorator: makes the strategy available as ``get(name)``."""

  def wrap(cls):
    cls.name = name
    return REGISTRY.register(name)(cls)

  return wrap


def get(name: str, **settings):
  """The strategy ``name`` with ``settings`` over its defaults (its dataclass fields); a
  one-line ConfigError for an unknown name or setting, or a setting out of range."""
  strategy = REGISTRY.build(name, **settings)
  strategy.check()
  return strategy


class DiscreteStrategy:
  """The base of every discrete strategy (see the module docstring)."""

  name = ''
  batch_ask = True  # whether ask(n > 1) proposes n architectures before any tell

  @property
  def ask_size(self) -> int:
    """The architectures one ask proposes when the caller does not say (a launcher's
    unset ``batch``): 1, or a whole generation for a generational strategy."""
    return 1

  def check(self) -> None:
    """One-line ConfigErrors for settings out of range."""

  def init(self, key: jax.Array, space) -> Any:
    raise NotImplementedError

  def ask(self, state, key: jax.Array, n: int = 1) -> tuple[jax.Array, Any]:
    raise NotImplementedError

  def tell(self, state, archs: jax.Array, scores: jax.Array) -> Any:
    raise NotImplementedError

  def bind(self, estimator) -> DiscreteStrategy:
    """The strategy set up for ``estimator`` (a multi-fidelity strategy takes its top
    fidelity from it); a one-line ConfigError where they disagree. The loop calls it."""
    del estimator
    return self

  def mark_asked(self, state, archs: jax.Array, where: jax.Array):
    """``state`` with ``archs[where]`` recorded as asked, for a strategy that never asks a
    class twice (its state's ``seen``), where something other than its own ``ask`` chose them
    (a warm start); unchanged for the others."""
    if not hasattr(state, 'seen'):
      return state
    return state.replace(seen=mark(state.space, state.seen, archs, where))

  def check_queries(self, num_queries: int) -> None:
    """A one-line ConfigError where a search of ``num_queries`` queries does not fit the
    strategy's fixed-size state (BANANAS' history buffer); the loop calls it first."""
    del num_queries

  def fidelity(self, state) -> jax.Array | None:
    """The epochs each architecture of the last ask is to be trained for (multi-fidelity
    strategies); None: the estimator's own budget."""
    del state
    return None


def positive(name: str, value, *, integer: bool = True) -> None:
  """A one-line ConfigError unless ``value`` is a positive number (an integer if asked)."""
  ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float))
  if isinstance(value, bool) or not ok or not value > 0:
    kind = 'a positive integer' if integer else 'a positive number'
    raise ConfigError(f'{name} must be {kind}, got {value!r}')


# --- array forms of a space's decision operations (jit- and vmap-friendly) ------------------------
def options_array(space) -> jnp.ndarray:
  return jnp.asarray(space.options, jnp.int32)


def sample(key: jax.Array, space, n: int) -> jax.Array:
  """``(n, D)`` archs, each decision uniform: the array form of ``space.sample`` (same draws)."""
  return jax.random.randint(key, (n, len(space.options)), 0, options_array(space))


def mutate(key: jax.Array, space, arch: jax.Array) -> jax.Array:
  """``arch`` (D,) with exactly one decision changed: the array form of ``space.mutate``,
  drawing the same decision and value from the same key."""
  options = options_array(space)
  free = np.flatnonzero(np.asarray(space.options) >= 2)
  if not len(free):
    raise ValueError(f'cannot mutate: no decision of the {space.name} space has 2 or more options')
  key_decision, key_value = jax.random.split(key)
  d = jnp.asarray(free, jnp.int32)[jax.random.randint(key_decision, (), 0, len(free))]
  shift = 1 + jax.random.randint(key_value, (), 0, options[d] - 1)
  return arch.at[d].set((arch[d] + shift) % options[d])


def below(bits: jax.Array, n) -> jax.Array:
  """Integers in ``0 .. n - 1`` from uint32 random ``bits`` (``bits % n``): one hash for many
  draws, where ``jax.random.randint`` hashes several times per call. The modulo bias is
  below ``n / 2**32`` (under 1e-8 for the option counts and populations used here)."""
  return (bits % jnp.asarray(n, jnp.uint32)).astype(jnp.int32)


def mutate_with(bits: jax.Array, space, arch: jax.Array) -> jax.Array:
  """:func:`mutate` (the same distribution: a uniform decision among those with 2 or more
  options, then a uniform other value) from two uint32 ``bits`` instead of a key."""
  options = options_array(space)
  free = np.flatnonzero(np.asarray(space.options) >= 2)
  if not len(free):
    raise ValueError(f'cannot mutate: no decision of the {space.name} space has 2 or more options')
  d = jnp.asarray(free, jnp.int32)[below(bits[0], len(free))]
  shift = 1 + below(bits[1], options[d] - 1)
  return arch.at[d].set((arch[d] + shift) % options[d])


def neighbour_moves(space) -> np.ndarray:
  """``(L, 2)`` ``(decision, shift)`` rows: ``arch[d] <- (arch[d] + shift) % options[d]`` gives
  every one-decision neighbour once (``L = sum(options - 1)``; ``space.neighbours``' set)."""
  return np.asarray(
      [(d, s) for d, n in enumerate(space.options) for s in range(1, n)], np.int32
  ).reshape(-1, 2)


def apply_move(space, arch: jax.Array, move: jax.Array) -> jax.Array:
  d, shift = move[0], move[1]
  return arch.at[d].set((arch[d] + shift) % options_array(space)[d])


def _class_ids(space) -> tuple[np.ndarray, int] | None:
  if space.size() > MAX_CLASS_INDEX:
    return None
  ids, hashes = space.class_index()
  return ids, len(hashes)


def num_classes(space) -> int | None:
  """The number of isomorphism classes (``len(space.unique())``), or None for a space too big
  to index."""
  found = _class_ids(space)
  return None if found is None else found[1]


def class_of(space, archs: jax.Array) -> jax.Array:
  """The isomorphism-class id of each arch (..., D) -> (...,): equal ids, equal ``space.hash``.

  Only for spaces :func:`num_classes` indexes (a gather from a constant array)."""
  found = _class_ids(space)
  if found is None:
    raise ValueError(f'the {space.name} space is too big for a class index')
  return jnp.asarray(found[0])[arch_index(space, archs)]


def unseen(space) -> jax.Array:
  """``(classes,)`` bool, all False: which isomorphism classes a strategy has asked, for
  strategies that never ask a class twice (one unused entry in a space too big to index:
  Orbax saves no zero-size array)."""
  return jnp.zeros((num_classes(space) or 1,), bool)


def mark(space, seen: jax.Array, archs: jax.Array, where: jax.Array | None = None) -> jax.Array:
  """``seen`` with the classes of ``archs`` (n, D) set, only those where ``where`` (n,) is
  True if given (unchanged without a class index)."""
  if num_classes(space) is None:
    return seen
  ids = class_of(space, archs)
  return seen.at[ids].set(True) if where is None else seen.at[ids].max(where)


def is_seen(space, seen: jax.Array, archs: jax.Array) -> jax.Array:
  """(...,) bool: whether each arch's class is in ``seen`` (False without a class index)."""
  if num_classes(space) is None:
    return jnp.zeros(jnp.shape(archs)[:-1], bool)
  return seen[class_of(space, archs)]


def draw_unseen(key: jax.Array, space, seen: jax.Array, max_tries: int = 1000):
  """``(arch, seen)``: one uniform architecture (as :func:`sample`) whose class is not in
  ``seen``, redrawn up to ``max_tries`` times (after that a repeat is allowed: the space is
  then nearly exhausted), and ``seen`` with its class marked. Without a class index the
  first draw is kept (a repeat is then left to chance, negligible in such a space)."""
  if num_classes(space) is None:
    return sample(key, space, 1)[0], seen

  def redraw(carry):
    _, k, tries = carry
    k, sub = jax.random.split(k)
    return sample(sub, space, 1)[0], k, tries + 1

  def again(carry):
    arch, _, tries = carry
    return seen[class_of(space, arch)] & (tries < max_tries)

  key, sub = jax.random.split(key)
  arch, _, _ = jax.lax.while_loop(again, redraw, (sample(sub, space, 1)[0], key, 0))
  return arch, seen.at[class_of(space, arch)].set(True)


def draw_unseen_many(key: jax.Array, space, seen: jax.Array, n: int, max_tries: int = 1000):
  """``(archs (n, D), seen)``: :func:`draw_unseen` ``n`` times, each draw also avoiding the
  classes drawn before it."""

  def one(seen, k):
    arch, seen = draw_unseen(k, space, seen, max_tries)
    return seen, arch

  seen, archs = jax.lax.scan(one, seen, jax.random.split(key, n))
  return archs.astype(jnp.int32), seen


def fill_unseen(key: jax.Array, space, seen: jax.Array, picks: jax.Array, ok: jax.Array):
  """``(archs, seen)``: ``picks`` (n, D) where ``ok`` (n,), the other slots :func:`draw_unseen`
  draws in turn (each avoiding ``seen`` and the draws before it); ``seen`` gains the draws.
  The picks' own classes are expected in ``seen`` already."""

  def one(seen, slot):
    pick, good, k = slot
    drawn, seen_drawn = draw_unseen(k, space, seen)
    return jnp.where(good, seen, seen_drawn), jnp.where(good, pick, drawn)

  seen, archs = jax.lax.scan(one, seen, (picks, ok, jax.random.split(key, len(ok))))
  return archs.astype(jnp.int32), seen


def arch_index(space, archs: jax.Array) -> jax.Array:
  """``space.index`` of archs (..., D) -> (...,): the mixed-radix position in
  ``space.enumerate()``, for gathers from per-architecture arrays."""
  radix = decisions.radix(space.options).astype(np.int32)
  return jnp.asarray(archs, jnp.int32) @ jnp.asarray(radix)


__all__ = [
    'DiscreteStrategy',
    'REGISTRY',
    'apply_move',
    'arch_index',
    'below',
    'class_of',
    'draw_unseen',
    'draw_unseen_many',
    'fill_unseen',
    'is_seen',
    'mark',
    'get',
    'mutate',
    'mutate_with',
    'neighbour_moves',
    'num_classes',
    'positive',
    'register',
    'sample',
    'unseen',
]
