"""Discretisation of continuous DARTS architecture weights into a genotype.

The architecture parameters of one cell type are an array ``alpha`` of shape
``(num_edges(steps), len(primitives))``. Edges are ordered node by node: for
intermediate node ``i`` in ``0 .. steps - 1`` and input ``j`` in
``0 .. i + 1`` (``0`` and ``1`` are the cell inputs, ``j >= 2`` is
intermediate node ``j - 2``), the edge ``j -> i`` has row
``edge_index(i, j)``.

:func:`derive_genotype` applies the DARTS rule: every node keeps its two
strongest incoming edges, where the strength of an edge is its largest weight
over all operations except ``none``, and each kept edge keeps its strongest
operation other than ``none``.

Only numpy is needed; JAX arrays are accepted through ``np.asarray``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES, Genotype, OpPair
from nas_jax.util import is_int

__all__ = [
    'NONE_OP',
    'derive_cell',
    'derive_genotype',
    'edge_index',
    'edge_list',
    'num_edges',
]

NONE_OP = 'none'
"""Name of the zero operation, which is never selected when discretising."""

_INPUTS_KEPT_PER_NODE = 2


def num_edges(steps: int) -> int:
  """Returns the number of mixed edges of a DARTS cell.

  Node ``i`` has ``2 + i`` inputs, so a cell has ``sum(2 + i for i < steps)``
  edges (14 for the usual 4 steps).

  Args:
    steps: Number of intermediate nodes, at least 1.

  Returns:
    ``steps * (steps + 3) // 2``.

  Raises:
    ValueError: If ``steps`` is not a positive integer.
  """
  _check_steps(steps)
  return steps * (steps + 3) // 2


def edge_index(node: int, input: int) -> int:  # pylint: disable=redefined-builtin
  """Returns the row of edge ``input -> node`` in a cell's alpha array.

  Args:
    node: Intermediate node index, ``0 .. steps - 1``.
    input: Input index of that node, ``0 .. node + 1`` (``0`` and ``1`` are
      the cell inputs, ``k >= 2`` is intermediate node ``k - 2``).

  Returns:
    ``num_edges(node) + input`` (with ``num_edges(0) == 0``).

  Raises:
    ValueError: If ``node`` is negative or ``input`` is out of range.
  """
  if not is_int(node) or node < 0:
    raise ValueError(f'node must be a non-negative integer, got {node!r}')
  if not is_int(input) or not 0 <= input < 2 + node:
    raise ValueError(
        f'input must be an integer in 0..{node + 1} for node {node}, got ' f'{input!r}'
    )
  return node * (node + 3) // 2 + input


def edge_list(steps: int) -> tuple[tuple[int, int], ...]:
  """Returns the ``(node, input)`` pair of every edge, in alpha row order.

  Args:
    steps: Number of intermediate nodes, at least 1.

  Returns:
    A tuple of length ``num_edges(steps)`` whose entry ``e`` is the
    ``(node, input)`` of row ``e``.
  """
  _check_steps(steps)
  return tuple((i, j) for i in range(steps) for j in range(2 + i))


def _check_steps(steps: Any) -> None:
  """Raises ``ValueError`` unless ``steps`` is a positive integer."""
  if not is_int(steps) or steps < 1:
    raise ValueError(f'steps must be a positive integer, got {steps!r}')


def _check_primitives(primitives: Sequence[str]) -> tuple[str, ...]:
  """Validates the candidate op names.

  Args:
    primitives: Op names, one per alpha column.

  Returns:
    The names as a tuple.

  Raises:
    ValueError: If names are not strings, repeat, or only ``none`` is given.
  """
  if isinstance(primitives, str):
    raise ValueError('primitives must be a sequence of op names, not a str')
  names = tuple(primitives)
  if not all(isinstance(name, str) for name in names):
    raise ValueError(f'primitives must be strings, got {names!r}')
  if len(set(names)) != len(names):
    raise ValueError(f'primitives must be unique, got {names!r}')
  if not [name for name in names if name != NONE_OP]:
    raise ValueError(f'primitives must contain an op other than {NONE_OP!r}, got ' f'{names!r}')
  return names


def _weights(
    alpha: Any, name: str, expected_shape: tuple[int, int], apply_softmax: bool
) -> np.ndarray:
  """Converts ``alpha`` to float64 weights of the expected shape.

  Args:
    alpha: Array-like architecture parameters of one cell type.
    name: Argument name used in error messages.
    expected_shape: ``(num_edges, num_ops)``.
    apply_softmax: Whether to take the softmax over ops of every edge.

  Returns:
    A float64 array of shape ``expected_shape``.

  Raises:
    ValueError: On a wrong shape or non-finite values.
  """
  array = np.asarray(alpha, dtype=np.float64)
  if array.shape != expected_shape:
    raise ValueError(
        f'{name}: expected shape {expected_shape} (num_edges, num_ops), got ' f'{array.shape}'
    )
  if not np.all(np.isfinite(array)):
    raise ValueError(f'{name}: contains NaN or infinite values')
  if apply_softmax:
    shifted = np.exp(array - array.max(axis=-1, keepdims=True))
    array = shifted / shifted.sum(axis=-1, keepdims=True)
  return array


def _parse_cell(weights: np.ndarray, primitives: tuple[str, ...], steps: int) -> tuple[OpPair, ...]:
  """Applies the DARTS selection rule to the weights of one cell.

  Args:
    weights: Array of shape ``(num_edges(steps), len(primitives))``.
    primitives: Op names, one per column.
    steps: Number of intermediate nodes.

  Returns:
    ``2 * steps`` ``(op_name, input)`` pairs; the two pairs of a node are
    ordered by decreasing edge strength.
  """
  candidates = [k for k, name in enumerate(primitives) if name != NONE_OP]
  masked = weights[:, candidates]
  # np.argmax returns the first maximum, so lower op indices win ties.
  best_op = np.asarray(candidates)[np.argmax(masked, axis=-1)]
  strength = masked.max(axis=-1)
  pairs: list[OpPair] = []
  for node in range(steps):
    start = edge_index(node, 0)
    inputs = range(2 + node)
    # A stable sort on -strength keeps the lower input first on ties.
    ranked = sorted(inputs, key=lambda j, s=start: -strength[s + j])
    for j in ranked[:_INPUTS_KEPT_PER_NODE]:
      pairs.append((primitives[int(best_op[start + j])], j))
  return tuple(pairs)


def derive_cell(
    alpha: Any,
    *,
    primitives: Sequence[str] = DARTS_PRIMITIVES,
    steps: int = 4,
    apply_softmax: bool = True,
) -> tuple[OpPair, ...]:
  """Discretises the architecture weights of a single cell type.

  Args:
    alpha: Array-like of shape ``(num_edges(steps), len(primitives))``.
    primitives: Op names, one per column of ``alpha``.
    steps: Number of intermediate nodes of the cell.
    apply_softmax: If true, ``alpha`` holds logits and is turned into weights
      with a softmax over ops per edge; otherwise it is used as is.

  Returns:
    ``2 * steps`` ``(op_name, input)`` pairs in the :class:`Genotype` layout.

  Raises:
    ValueError: On a shape mismatch, non-finite values or bad arguments.
  """
  _check_steps(steps)
  names = _check_primitives(primitives)
  weights = _weights(alpha, 'alpha', (num_edges(steps), len(names)), apply_softmax)
  return _parse_cell(weights, names, steps)


def derive_genotype(
    alpha_normal: Any,
    alpha_reduce: Any,
    *,
    primitives: Sequence[str] = DARTS_PRIMITIVES,
    steps: int = 4,
    multiplier: int = 4,
    apply_softmax: bool = True,
) -> Genotype:
  """Derives a discrete genotype from DARTS architecture parameters.

  For every intermediate node the two incoming edges with the largest
  strength (the maximum weight over ops other than ``none``) are kept, and
  on each kept edge the strongest op other than ``none`` is chosen. If
  ``none`` is not among ``primitives`` no op is excluded. Ties are broken
  deterministically: the lower edge (input) index and the lower op index
  win. The two pairs of a node are ordered by decreasing strength, and the
  last ``multiplier`` nodes are concatenated, as in DARTS.

  Args:
    alpha_normal: Normal-cell parameters, array-like of shape
      ``(num_edges(steps), len(primitives))``; edge order as in
      :func:`edge_index`.
    alpha_reduce: Reduction-cell parameters of the same shape.
    primitives: Op names, one per alpha column.
    steps: Number of intermediate nodes per cell.
    multiplier: Number of final nodes concatenated into the cell output.
    apply_softmax: If true, the alphas are logits and a softmax over ops is
      taken per edge first (as DARTS does); otherwise they are used as is.

  Returns:
    The derived :class:`Genotype`, with concat
    ``range(2 + steps - multiplier, steps + 2)``.

  Raises:
    ValueError: With a one-line message on a shape mismatch (naming the
      expected and given shapes), non-finite values or invalid arguments.
  """
  _check_steps(steps)
  if not is_int(multiplier) or not 1 <= multiplier <= steps:
    raise ValueError(f'multiplier must be an integer in 1..{steps} (steps), got ' f'{multiplier!r}')
  names = _check_primitives(primitives)
  shape = (num_edges(steps), len(names))
  w_normal = _weights(alpha_normal, 'alpha_normal', shape, apply_softmax)
  w_reduce = _weights(alpha_reduce, 'alpha_reduce', shape, apply_softmax)
  concat = tuple(range(2 + steps - multiplier, steps + 2))
  return Genotype(
      normal=_parse_cell(w_normal, names, steps),
      normal_concat=concat,
      reduce=_parse_cell(w_reduce, names, steps),
      reduce_concat=concat,
  )


def random_genotype(
    seed: int,
    *,
    primitives: Sequence[str] = DARTS_PRIMITIVES,
    steps: int = 4,
    multiplier: int = 4,
) -> Genotype:
  """Samples a genotype uniformly from the discrete space that derivation produces.

  Each intermediate node gets two distinct inputs among the earlier nodes
  and, on each, an op other than ``none`` (the random-search baseline of the
  DARTS paper). The sample is a pure function of ``seed``.

  Args:
    seed: Non-negative integer seed.
    primitives: Candidate op names.
    steps: Number of intermediate nodes per cell.
    multiplier: Number of final nodes concatenated into the cell output.

  Returns:
    The sampled :class:`Genotype`.
  """
  _check_steps(steps)
  if not is_int(multiplier) or not 1 <= multiplier <= steps:
    raise ValueError(f'multiplier must be an integer in 1..{steps} (steps), got {multiplier!r}')
  names = [name for name in _check_primitives(primitives) if name != NONE_OP]
  rng = np.random.default_rng([int(seed), 0x6E61])

  def cell() -> tuple[OpPair, ...]:
    pairs = []
    for node in range(steps):
      inputs = rng.choice(node + 2, size=2, replace=False)
      pairs += [(names[int(rng.integers(len(names)))], int(j)) for j in inputs]
    return tuple(pairs)

  concat = tuple(range(2 + steps - multiplier, steps + 2))
  return Genotype(normal=cell(), normal_concat=concat, reduce=cell(), reduce_concat=concat)
