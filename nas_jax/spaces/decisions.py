"""Space-independent operations on architectures written as tuples of decisions.

An architecture ("arch") of a discrete search space is a tuple of Python ints,
one per decision; ``options`` is the tuple of the option count of every
decision (each at least 1), so decision ``d`` takes a value in
``0 .. options[d] - 1``. Every space maps its genotypes onto such tuples (see
``nas_jax.spaces.nb201.arch`` and ``nas_jax.spaces.darts.arch``); what is here
is what discrete search (random search, local search, evolution, lookup
tables) needs on top of that:

* :func:`size`, :func:`enumerate_all`, :func:`index` / :func:`from_index`:
  the space as a finite set, in lexicographic order (decision 0 most
  significant);
* :func:`sample`, :func:`mutate`: random draws from an explicit JAX PRNG key
  (``jax.random.key`` or a legacy ``uint32[2]`` key);
* :func:`neighbours`: every arch one decision away;
* :func:`check`: validation with one-line ``ValueError`` messages.

No function mutates its arguments; archs are accepted as any sequence of
integers and returned as tuples of Python ints.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import itertools
import math
from typing import Any

import jax
import numpy as np

from nas_jax.util import is_int

__all__ = [
    'Arch',
    'check',
    'check_options',
    'enumerate_all',
    'from_index',
    'index',
    'mutate',
    'neighbours',
    'radix',
    'sample',
    'size',
]

Arch = tuple[int, ...]
"""One value per decision."""

_INT32_MAX = 2**31 - 1


def _show(value: Any, limit: int = 80) -> str:
  """``repr`` of ``value`` on one line, shortened to ``limit`` characters."""
  shown = ' '.join(repr(value).split())
  return shown if len(shown) <= limit else shown[: limit - 3] + '...'


def check_options(options: Sequence[int]) -> tuple[int, ...]:
  """Validates the option counts; returns them as a tuple of Python ints.

  Raises:
    ValueError: one line, if ``options`` is not a sequence of integers >= 1.
  """
  if isinstance(options, (str, bytes)) or not isinstance(options, (Sequence, np.ndarray)):
    raise ValueError(f'options must be a sequence of option counts, got {type(options).__name__}')
  out = []
  for d, n in enumerate(options):
    if not is_int(n) or n < 1:
      raise ValueError(f'options[{d}] must be an integer >= 1, got {_show(n)}')
    out.append(int(n))
  return tuple(out)


def _check(arch: Sequence[int], options: tuple[int, ...]) -> Arch:
  """:func:`check` for already validated ``options``; returns ``arch`` as a tuple."""
  if isinstance(arch, (str, bytes)) or not isinstance(arch, (Sequence, np.ndarray)):
    raise ValueError(f'an arch must be a sequence of integers, got {type(arch).__name__}')
  if len(arch) != len(options):
    raise ValueError(f'arch has {len(arch)} decision(s), the space has {len(options)}')
  out = []
  for d, (value, n) in enumerate(zip(arch, options)):
    if not is_int(value):
      raise ValueError(f'arch[{d}] must be an integer, got {_show(value)}')
    if not 0 <= value < n:
      raise ValueError(
          f'arch[{d}] = {int(value)} is out of range (decision {d} has {n} '
          f'option(s): 0..{n - 1})'
      )
    out.append(int(value))
  return tuple(out)


def check(arch: Sequence[int], options: Sequence[int]) -> Arch:
  """Validates ``arch`` against ``options``.

  Args:
    arch: one integer per decision.
    options: the option count of every decision.

  Returns:
    ``arch`` as a tuple of Python ints.

  Raises:
    ValueError: one line naming the wrong length or the first decision out of
      range (or what is wrong with ``options``).
  """
  return _check(arch, check_options(options))


def size(options: Sequence[int]) -> int:
  """The number of archs, ``prod(options)``, as an exact Python int (1 for no decisions)."""
  return math.prod(check_options(options))


def enumerate_all(options: Sequence[int]) -> Iterator[Arch]:
  """Every arch, lazily, in lexicographic order (decision 0 varies slowest).

  The ``i``-th arch yielded is ``from_index(i, options)``.
  """
  options = check_options(options)
  return itertools.product(*(range(n) for n in options))


def index(arch: Sequence[int], options: Sequence[int]) -> int:
  """The position of ``arch`` in :func:`enumerate_all` (mixed radix, decision 0 most significant).

  Raises:
    ValueError: one line, if ``arch`` does not fit ``options``.
  """
  options = check_options(options)
  i = 0
  for value, n in zip(_check(arch, options), options):
    i = i * n + value
  return i


def radix(options: Sequence[int]) -> np.ndarray:
  """The place values of :func:`index` (int64, one per decision): ``index(arch) ==
  arch @ radix(options)``, the vectorized form for batches of archs."""
  options = check_options(options)
  out = np.ones(len(options), np.int64)
  for d in range(len(options) - 2, -1, -1):
    out[d] = out[d + 1] * options[d + 1]
  return out


def from_index(i: int, options: Sequence[int]) -> Arch:
  """The inverse of :func:`index`.

  Raises:
    ValueError: one line, if ``i`` is not an integer in ``0 .. size(options) - 1``.
  """
  options = check_options(options)
  total = math.prod(options)
  if not is_int(i) or not 0 <= i < total:
    raise ValueError(f'arch index must be an integer in 0..{total - 1}, got {_show(i)}')
  i = int(i)
  values = []
  for n in reversed(options):
    i, value = divmod(i, n)
    values.append(value)
  return tuple(reversed(values))


def sample(key: jax.Array, options: Sequence[int], n: int) -> list[Arch]:
  """``n`` archs drawn independently, each decision uniformly over its options.

  One ``jax.random.randint`` call draws the ``(n, len(options))`` values, so
  the result is a pure function of ``key``, ``options`` and ``n``.

  Args:
    key: a JAX PRNG key.
    options: the option count of every decision (each below 2**31).
    n: how many archs, >= 0.

  Returns:
    A list of ``n`` archs (tuples of Python ints).

  Raises:
    ValueError: one line, for a bad ``n`` or ``options``.
  """
  options = check_options(options)
  if not is_int(n) or n < 0:
    raise ValueError(f'n must be a non-negative integer, got {_show(n)}')
  if any(k > _INT32_MAX for k in options):
    raise ValueError(f'sample supports option counts up to {_INT32_MAX}, got {max(options)}')
  if n == 0:
    return []
  if not options:
    return [() for _ in range(n)]
  values = jax.random.randint(key, (int(n), len(options)), 0, np.asarray(options, np.int32))
  return [tuple(row) for row in np.asarray(values).tolist()]


def mutate(key: jax.Array, arch: Sequence[int], options: Sequence[int]) -> Arch:
  """A copy of ``arch`` with exactly one decision changed.

  The decision is drawn uniformly among those with at least 2 options, then
  its new value uniformly among its other ``options[d] - 1`` values (so
  every :func:`neighbours` entry is reachable; they are equally likely when
  all decisions have the same option count).

  Args:
    key: a JAX PRNG key.
    arch: the arch to mutate (left unchanged).
    options: the option count of every decision.

  Returns:
    The mutated arch.

  Raises:
    ValueError: one line, if ``arch`` does not fit ``options`` or no decision
      has 2 or more options.
  """
  options = check_options(options)
  arch = _check(arch, options)
  free = [d for d, n in enumerate(options) if n >= 2]
  if not free:
    raise ValueError(f'cannot mutate: no decision has 2 or more options (options {_show(options)})')
  if any(options[d] > _INT32_MAX for d in free):
    raise ValueError(f'mutate supports option counts up to {_INT32_MAX}, got {max(options)}')
  key_decision, key_value = jax.random.split(key)
  d = free[int(jax.random.randint(key_decision, (), 0, len(free)))]
  shift = 1 + int(jax.random.randint(key_value, (), 0, options[d] - 1))
  out = list(arch)
  out[d] = (arch[d] + shift) % options[d]
  return tuple(out)


def neighbours(arch: Sequence[int], options: Sequence[int]) -> list[Arch]:
  """Every arch that differs from ``arch`` in exactly one decision.

  Order: by decision, then by new value, ascending. The length is
  ``sum(n - 1 for n in options)``.

  Raises:
    ValueError: one line, if ``arch`` does not fit ``options``.
  """
  options = check_options(options)
  arch = _check(arch, options)
  out = []
  for d, n in enumerate(options):
    for value in range(n):
      if value != arch[d]:
        out.append(arch[:d] + (value,) + arch[d + 1 :])
  return out
