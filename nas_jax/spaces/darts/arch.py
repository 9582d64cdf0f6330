"""DARTS cells as decision tuples: conversion, an isomorphism hash and encodings.

A DARTS genotype has a normal and a reduction cell, each with two inputs
(``0`` = c_{k-2}, ``1`` = c_{k-1}) and ``steps`` intermediate nodes
``2 .. steps + 1``; every intermediate node sums two ops on two distinct
earlier nodes, never ``none``, and the cell output concatenates all the
intermediate nodes (the space that ``nas_jax.spaces.darts.discretize.derive_genotype``
produces with ``multiplier == steps``).

An arch has ``6 * steps`` decisions: for cell in (normal, reduce), for node
``i`` in ``0 .. steps - 1``, the triple ``(pair, op_a, op_b)``:

* ``pair`` indexes the unordered input pairs ``(j1, j2)``, ``j1 < j2``, of
  the node's ``i + 2`` possible inputs in ``itertools.combinations`` order
  (``C(i + 2, 2)`` options);
* ``op_a`` is the op on input ``j1`` and ``op_b`` the op on input ``j2``,
  each an index into the non-``none`` ops of ``primitives`` (in
  ``primitives`` order).

With the DARTS op set (7 ops besides ``none``) and 4 steps a cell has
``prod(C(i + 2, 2) for i < 4) * 7**8 = 180 * 7**8`` choices (about 1.04e9)
and the space their square (about 1.1e18).
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import hashlib
import itertools
import math
from typing import Any

import numpy as np

from nas_jax.spaces import decisions
from nas_jax.spaces.darts import discretize
from nas_jax.spaces.darts.genotype import Genotype, GenotypeError, OpPair
from nas_jax.util import is_int

__all__ = [
    'CELLS',
    'canonical_str',
    'encode_onehot',
    'encode_path',
    'from_genotype',
    'hash',
    'input_pairs',
    'options',
    'path_encoding_length',
    'to_genotype',
]

NONE_OP = 'none'
CELLS = ('normal', 'reduce')
INPUT_LABELS = ('a', 'b')
"""The labels of the cell inputs c_{k-2} (node 0) and c_{k-1} (node 1) in :func:`canonical_str`."""


def _check_steps(steps: Any) -> int:
  """``steps`` as an int; ValueError (one line) unless it is a positive integer."""
  if not is_int(steps) or steps < 1:
    raise ValueError(f'steps must be a positive integer, got {steps!r}')
  return int(steps)


def _edge_ops(primitives: Sequence[str]) -> tuple[str, ...]:
  """The non-``none`` ops of ``primitives``, in order (ValueError, one line, for a bad op set)."""
  if isinstance(primitives, (str, bytes)) or not isinstance(primitives, Sequence):
    raise ValueError(f'primitives must be a sequence of op names, got {type(primitives).__name__}')
  names = tuple(primitives)
  if not all(isinstance(name, str) and name for name in names):
    raise ValueError(f'primitives must be non-empty strings, got {list(names)!r}')
  if len(set(names)) != len(names):
    raise ValueError(f'primitives has duplicates: {list(names)!r}')
  out = tuple(name for name in names if name != NONE_OP)
  if not out:
    raise ValueError(f'primitives must contain an op other than {NONE_OP!r}, got {list(names)!r}')
  return out


@functools.cache
def input_pairs(node: int) -> tuple[tuple[int, int], ...]:
  """The input pairs ``(j1, j2)``, ``j1 < j2``, of intermediate node ``node`` (0-based), in order.

  Decision ``pair`` of the node is an index into this tuple.
  """
  return tuple(itertools.combinations(range(node + 2), 2))


@functools.cache
def _pair_index(node: int) -> dict[tuple[int, int], int]:
  return {pair: k for k, pair in enumerate(input_pairs(node))}


def options(primitives: Sequence[str], steps: int) -> tuple[int, ...]:
  """The option counts: per cell, per node ``i``, ``(C(i + 2, 2), K', K')``.

  ``K'`` is the number of non-``none`` ops; the tuple has ``6 * steps`` entries.
  """
  k = len(_edge_ops(primitives))
  steps = _check_steps(steps)
  cell = tuple(n for i in range(steps) for n in (math.comb(i + 2, 2), k, k))
  return cell * len(CELLS)


def _cells(
    arch: Sequence[int], primitives: Sequence[str], steps: int
) -> tuple[tuple[str, ...], int, list[decisions.Arch]]:
  """Validates; returns the edge ops, steps and the arch split into its two cells."""
  edge_ops = _edge_ops(primitives)
  steps = _check_steps(steps)
  arch = decisions.check(arch, options(primitives, steps))
  per_cell = 3 * steps
  return edge_ops, steps, [arch[c * per_cell : (c + 1) * per_cell] for c in range(len(CELLS))]


def _kept_edges(cell: decisions.Arch, steps: int) -> list[tuple[int, int, int]]:
  """``(node, input, op index)`` of the two kept edges of every node, inputs ascending."""
  out = []
  for i in range(steps):
    pair, op_a, op_b = cell[3 * i : 3 * i + 3]
    j1, j2 = input_pairs(i)[pair]
    out += [(i, j1, op_a), (i, j2, op_b)]
  return out


def to_genotype(arch: Sequence[int], primitives: Sequence[str], steps: int) -> Genotype:
  """The genotype of ``arch``; concat is ``range(2, 2 + steps)`` for both cells.

  Each node lists its two ``(op, input)`` pairs by ascending input (``j1``
  then ``j2``); :func:`nas_jax.spaces.darts.discretize.derive_genotype` lists them by
  decreasing strength instead, which :func:`from_genotype` accepts too.

  Raises:
    ValueError: one line, if ``arch`` does not fit :func:`options`.
  """
  edge_ops, steps, cells = _cells(arch, primitives, steps)
  pairs = [tuple((edge_ops[op], j) for _, j, op in _kept_edges(cell, steps)) for cell in cells]
  concat = tuple(range(2, 2 + steps))
  return Genotype(normal=pairs[0], normal_concat=concat, reduce=pairs[1], reduce_concat=concat)


def _cell_from_pairs(
    name: str,
    pairs: tuple[OpPair, ...],
    concat: tuple[int, ...],
    edge_ops: tuple[str, ...],
    steps: int,
) -> list[int]:
  """The decisions of one cell of a genotype (GenotypeError, one line, if it does not fit)."""
  if len(pairs) != 2 * steps:
    raise GenotypeError(
        f'{name} cell has {len(pairs) // 2} intermediate node(s), the space has ' f'{steps}'
    )
  if set(concat) != set(range(2, 2 + steps)):
    raise GenotypeError(
        f'{name}_concat is {list(concat)}, the space concatenates all '
        f'intermediate nodes {list(range(2, 2 + steps))}'
    )
  position = {op: k for k, op in enumerate(edge_ops)}
  out = []
  for i in range(steps):
    node = sorted(pairs[2 * i : 2 * i + 2], key=lambda pair: pair[1])
    (op_a, j1), (op_b, j2) = node
    if j1 == j2:
      raise GenotypeError(
          f'{name} node {i + 2} reads input {j1} twice; the space needs two ' 'distinct inputs'
      )
    for op in (op_a, op_b):
      if op not in position:
        why = 'is never chosen' if op == NONE_OP else 'is not in primitives'
        raise GenotypeError(
            f'{name} node {i + 2} uses op {op!r}, which {why} (ops: ' f'{", ".join(edge_ops)})'
        )
    out += [_pair_index(i)[(j1, j2)], position[op_a], position[op_b]]
  return out


def from_genotype(genotype: Genotype, primitives: Sequence[str], steps: int) -> decisions.Arch:
  """The arch of ``genotype``; inverse of :func:`to_genotype` up to pair and concat order.

  A node's two pairs may be listed in either order, and the concat in any
  order, as long as it holds every intermediate node.

  Raises:
    GenotypeError: one line, for a genotype the space cannot express: a
      wrong node count, a node reading the same input twice, ``none`` or
      another op outside ``primitives``, or a concat that is not all the
      intermediate nodes.
  """
  edge_ops = _edge_ops(primitives)
  steps = _check_steps(steps)
  if not isinstance(genotype, Genotype):
    raise GenotypeError(f'expected a Genotype, got {type(genotype).__name__}')
  normal = _cell_from_pairs('normal', genotype.normal, genotype.normal_concat, edge_ops, steps)
  reduce = _cell_from_pairs('reduce', genotype.reduce, genotype.reduce_concat, edge_ops, steps)
  return tuple(normal + reduce)


def _cell_str(pairs: tuple[OpPair, ...], concat: tuple[int, ...]) -> str:
  """The canonical string of one cell (see :func:`canonical_str`)."""
  labels = list(INPUT_LABELS)
  for k in range(len(pairs) // 2):
    labels.append('+'.join(sorted(f'{op}({labels[j]})' for op, j in pairs[2 * k : 2 * k + 2])))
  return '|'.join(sorted(labels[c] for c in concat))


def canonical_str(genotype: Genotype) -> str:
  """A string that is equal for isomorphic genotypes.

  The rule: the cell inputs c_{k-2} and c_{k-1} (nodes 0 and 1) are labelled
  ``'a'`` and ``'b'``; each intermediate node is labelled
  ``'+'.join(sorted(op + '(' + label(input) + ')' for its two edges))`` (the
  edges are summed, so their order does not matter); a cell is
  ``'|'.join(sorted(label(n) for n in concat))`` (the concatenation order only
  permutes channels, which the next cell's 1x1 preprocessing absorbs). The
  genotype is ``'normal:' + cell + ';reduce:' + cell``.

  A node's label spells out the whole sub-DAG feeding it, so renumbering
  intermediate nodes consistently (e.g. swapping two independent nodes and
  relabelling the inputs of later nodes) gives the same string, and so does
  listing a node's pairs in the other order. Nodes outside concat that
  feed no concat node do not appear. Labels can grow as ``2**steps``.
  Any :class:`Genotype` is accepted (any steps and concat).

  Raises:
    GenotypeError: if ``genotype`` is not a Genotype.
  """
  if not isinstance(genotype, Genotype):
    raise GenotypeError(f'expected a Genotype, got {type(genotype).__name__}')
  return (
      f'normal:{_cell_str(genotype.normal, genotype.normal_concat)};'
      f'reduce:{_cell_str(genotype.reduce, genotype.reduce_concat)}'
  )


def hash(genotype: Genotype) -> str:  # pylint: disable=redefined-builtin
  """The first 16 hex digits of the SHA-1 of :func:`canonical_str` (UTF-8); stable across runs.

  Raises:
    GenotypeError: if ``genotype`` is not a Genotype.
  """
  return hashlib.sha1(canonical_str(genotype).encode('utf-8')).hexdigest()[:16]


def encode_onehot(arch: Sequence[int], primitives: Sequence[str], steps: int) -> np.ndarray:
  """One-hot edge encoding: ``float32`` of shape ``(2 * E * K',)``.

  Per cell an ``(E, K')`` matrix, ``E = steps * (steps + 3) / 2`` edges in
  :func:`nas_jax.spaces.darts.discretize.edge_index` order and ``K'`` the non-``none``
  ops, with 1 at ``(edge, op)`` for each kept edge (two per node); the
  normal then the reduction matrix, flattened row-major.

  Raises:
    ValueError: one line, if ``arch`` does not fit :func:`options`.
  """
  edge_ops, steps, cells = _cells(arch, primitives, steps)
  out = np.zeros((len(CELLS), discretize.num_edges(steps), len(edge_ops)), np.float32)
  for c, cell in enumerate(cells):
    for i, j, op in _kept_edges(cell, steps):
      out[c, discretize.edge_index(i, j), op] = 1.0
  return out.reshape(-1)


def path_encoding_length(primitives: Sequence[str], steps: int) -> int:
  """``2 cells * 2 inputs * sum(K'**L for L in 1..steps)``; 11,200 for DARTS (5,600 per cell)."""
  k = len(_edge_ops(primitives))
  steps = _check_steps(steps)
  return len(CELLS) * len(INPUT_LABELS) * sum(k**length for length in range(1, steps + 1))


def encode_path(arch: Sequence[int], primitives: Sequence[str], steps: int) -> np.ndarray:
  """Path encoding: ``float32`` of length :func:`path_encoding_length`.

  Per cell, the paths from each cell input ``u`` (0 or 1) through one or
  more intermediate nodes to any node of the concat (every intermediate
  node), each read as the sequence of its ``L`` edges' ops (``1 <= L <=
  steps``). With ``S = sum(K'**l for l in 1..steps)``, the sequence
  ``(o_1, .., o_L)`` from input ``u`` has entry ``u * S + sum(K'**l for l <
  L) + mixed_radix(o_1, .., o_L)`` (``o_1`` most significant, op ``k`` the
  ``k``-th non-``none`` op), set to 1.0 iff such a path exists. Each cell
  gives ``2 * S`` entries (5,600 for steps 4 and 7 ops: 2 * (7 + 49 + 343 +
  2401)); normal then reduction.

  Raises:
    ValueError: one line, if ``arch`` does not fit :func:`options`.
  """
  edge_ops, steps, cells = _cells(arch, primitives, steps)
  k = len(edge_ops)
  offsets = [sum(k**n for n in range(1, length)) for length in range(1, steps + 2)]
  per_input = offsets[steps]
  out = np.zeros((len(CELLS), len(INPUT_LABELS), per_input), np.float32)
  for c, cell in enumerate(cells):
    incoming = [[] for _ in range(steps)]
    for i, j, op in _kept_edges(cell, steps):
      incoming[i].append((j, op))
    for u in range(len(INPUT_LABELS)):
      # sequences[i]: the op sequences of the paths from input u to node i.
      sequences: list[set[tuple[int, ...]]] = []
      for i in range(steps):
        found = set()
        for j, op in incoming[i]:
          if j == u:
            found.add((op,))
          elif j >= len(INPUT_LABELS):
            found.update(seq + (op,) for seq in sequences[j - len(INPUT_LABELS)])
        sequences.append(found)
        for seq in found:
          position = 0
          for op in seq:
            position = position * k + op
          out[c, u, offsets[len(seq) - 1] + position] = 1.0
  return out.reshape(-1)
