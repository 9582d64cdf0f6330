"""NAS-Bench-201 cells as decision tuples: conversion, isomorphism hashes and encodings.

An arch of the NB201 space has six decisions, one per edge in
:data:`nas_jax.spaces.nb201.EDGES` order ``(0,1), (0,2), (1,2), (0,3), (1,3), (2,3)``
(``(source, target)``); decision ``e`` is the index in ``primitives`` of the
op on edge ``e``. With the benchmark's op set (:data:`NB201_PRIMITIVES`) the
space holds 5**6 = 15,625 archs.

Two isomorphism rules give a cell a string (and :func:`hash` a digest):

* ``'nb201'`` (:func:`unique_str`), the benchmark's own rule: 6,466 distinct
  strings over the 15,625 cells (1,236 over the 4**6 = 4,096 cells without
  ``avg_pool_3x3``);
* ``'functional'`` (:func:`functional_str`), which also removes zero terms
  everywhere and flattens ``skip_connect`` sums: 4,930 distinct strings over
  the 15,625 cells (871 over the 4,096 cells without ``avg_pool_3x3``).

:func:`encode_onehot` and :func:`encode_path` are the usual predictor
encodings (one-hot per edge; BANANAS' path encoding).
"""

from __future__ import annotations

from collections.abc import Sequence
import hashlib

import numpy as np

from nas_jax.spaces import decisions
from nas_jax.spaces.darts.genotype import GenotypeError
from nas_jax.spaces.nb201.genotype import EDGES, NB201Genotype
from nas_jax.spaces.nb201.ops import OPS

__all__ = [
    'PATHS',
    'encode_onehot',
    'encode_path',
    'from_genotype',
    'functional_str',
    'hash',
    'options',
    'path_encoding_length',
    'to_genotype',
    'unique_str',
]

NONE_OP = 'none'
SKIP_OP = 'skip_connect'
ZERO = '#'
"""The label of a zero node (and of a zero term) in :func:`unique_str`."""

PATHS: tuple[tuple[int, ...], ...] = ((3,), (0, 4), (1, 5), (0, 2, 5))
"""The input->output paths 0->3, 0->1->3, 0->2->3, 0->1->2->3 as edge indices into ``EDGES``."""

RULES = ('nb201', 'functional')


def _primitives(primitives: Sequence[str]) -> tuple[str, ...]:
  """The op set as a tuple; ValueError (one line) unless it is a set of NB201 ops."""
  if isinstance(primitives, str):
    raise ValueError('primitives must be a sequence of op names, not a str')
  return OPS.validate(primitives)


def options(primitives: Sequence[str]) -> tuple[int, ...]:
  """The option counts: six decisions (one per edge), each ``len(primitives)``."""
  return (len(_primitives(primitives)),) * len(EDGES)


def to_genotype(arch: Sequence[int], primitives: Sequence[str]) -> NB201Genotype:
  """The cell with op ``primitives[arch[e]]`` on edge ``EDGES[e]``.

  Raises:
    ValueError: one line, if ``arch`` does not fit :func:`options`.
  """
  primitives = _primitives(primitives)
  arch = decisions.check(arch, options(primitives))
  return NB201Genotype.from_edge_ops([primitives[k] for k in arch])


def from_genotype(genotype: NB201Genotype, primitives: Sequence[str]) -> decisions.Arch:
  """The arch of ``genotype``: the index in ``primitives`` of each edge's op.

  Raises:
    GenotypeError: one line, if ``genotype`` is not an NB201Genotype or uses
      an op outside ``primitives``.
  """
  primitives = _primitives(primitives)
  if not isinstance(genotype, NB201Genotype):
    raise GenotypeError(f'expected an NB201Genotype, got {type(genotype).__name__}')
  position = {op: k for k, op in enumerate(primitives)}
  arch = []
  for (source, target), op in zip(EDGES, genotype.edge_ops()):
    if op not in position:
      raise GenotypeError(
          f'edge {source}->{target} uses op {op!r}, which is not in primitives '
          f'({", ".join(primitives)})'
      )
    arch.append(position[op])
  return tuple(arch)


def _check_genotype(genotype: NB201Genotype) -> None:
  """GenotypeError (one line) unless ``genotype`` is an NB201Genotype."""
  if not isinstance(genotype, NB201Genotype):
    raise GenotypeError(f'expected an NB201Genotype, got {type(genotype).__name__}')


def unique_str(genotype: NB201Genotype) -> str:
  """NAS-Bench-201's isomorphism string of a cell (its ``to_unique_str(consider_zero=True)``).

  Node 0 is labelled ``'0'``. For node ``t = 1, 2, 3`` each incoming edge
  ``(op, s)`` gives a term: ``'#'`` if ``op`` is ``none`` or ``s`` is labelled
  ``'#'``; the label of ``s`` if ``op`` is ``skip_connect``; otherwise
  ``'(' + label(s) + ')@' + op``. ``label(t)`` is ``'+'.join(sorted(terms))``
  and the cell's string is ``label(3)``.

  Only a node with a single term can be labelled ``'#'`` (node 1), so a node
  2 whose two terms are zero is labelled ``'#+#'`` and still counts as
  non-zero downstream, and zero terms stay in the sums; a ``skip_connect``
  term is spliced in unbracketed, so term lists that differ only in how the
  same sorted tokens group give the same string (``['#', '#', '0+0']`` and
  ``['#+#', '0', '0']`` both give ``'#+#+0+0'``). This is the benchmark's
  rule, quirks included: 6,466 classes over the 15,625 cells.

  Raises:
    GenotypeError: if ``genotype`` is not an NB201Genotype.
  """
  _check_genotype(genotype)
  labels = ['0']
  for node in genotype.nodes:
    terms = []
    for op, source in node:
      if op == NONE_OP or labels[source] == ZERO:
        terms.append(ZERO)
      elif op == SKIP_OP:
        terms.append(labels[source])
      else:
        terms.append(f'({labels[source]})@{op}')
    labels.append('+'.join(sorted(terms)))
  return labels[-1]


def functional_str(genotype: NB201Genotype) -> str:
  """A stricter isomorphism string: the cell output as a formal sum, zeros removed.

  Every node's value is a multiset of terms (a formal sum); node 0 is the
  single term ``'0'``. An edge ``(op, s)`` contributes nothing if ``op`` is
  ``none`` or node ``s`` is zero (the empty sum); all of ``s``'s terms if
  ``op`` is ``skip_connect`` (sums are flattened); otherwise the single term
  ``'(' + str(s) + ')@' + op``, where ``str`` of a sum is ``'+'.join`` of its
  sorted terms. The cell's string is ``str(node 3)``, or ``'#'`` if node 3 is
  zero.

  So zero terms vanish from every sum, a node whose terms are all zero is
  zero (every op maps zero to zero), a node that does not reach the output
  does not appear, and sums are equal up to order and bracketing. Repeated
  terms are kept (``x + x`` is not ``x``). Two cells get the same string iff
  they compute the same formal expression, with ops of the same name taken
  as the same function. 4,930 classes over the 15,625 cells (871 without
  ``avg_pool_3x3``).

  Raises:
    GenotypeError: if ``genotype`` is not an NB201Genotype.
  """
  _check_genotype(genotype)
  values: list[list[str]] = [['0']]
  for node in genotype.nodes:
    terms = []
    for op, source in node:
      value = values[source]
      if op == NONE_OP or not value:
        continue
      if op == SKIP_OP:
        terms.extend(value)
      else:
        terms.append(f'({"+".join(value)})@{op}')
    values.append(sorted(terms))
  return '+'.join(values[-1]) or ZERO


def hash(genotype: NB201Genotype, rule: str = 'nb201') -> str:  # pylint: disable=redefined-builtin
  """A short stable digest of a cell's isomorphism class.

  The first 16 hex digits of the SHA-1 of the UTF-8 string given by
  :func:`unique_str` (``rule='nb201'``) or :func:`functional_str`
  (``rule='functional'``). Equal cells under the rule get equal digests; it
  does not depend on the Python process (unlike the built-in ``hash``).

  Raises:
    ValueError: one line, for an unknown rule (GenotypeError for a non-genotype).
  """
  if rule == 'nb201':
    text = unique_str(genotype)
  elif rule == 'functional':
    text = functional_str(genotype)
  else:
    raise ValueError(f'unknown NB201 hash rule {rule!r}; known: {", ".join(RULES)}')
  return hashlib.sha1(text.encode('utf-8')).hexdigest()[:16]


def encode_onehot(arch: Sequence[int], primitives: Sequence[str]) -> np.ndarray:
  """One-hot encoding: ``float32`` of shape ``(6 * K,)``, K = ``len(primitives)``.

  Reshaped to ``(6, K)``, row ``e`` is one-hot on the op of edge ``EDGES[e]``.

  Raises:
    ValueError: one line, if ``arch`` does not fit :func:`options`.
  """
  primitives = _primitives(primitives)
  arch = decisions.check(arch, options(primitives))
  out = np.zeros((len(EDGES), len(primitives)), np.float32)
  out[np.arange(len(EDGES)), arch] = 1.0
  return out.reshape(-1)


def path_encoding_length(primitives: Sequence[str]) -> int:
  """``M + M**2 + M**3`` with M the non-``none`` ops (84 for the benchmark's op set)."""
  m = sum(op != NONE_OP for op in _primitives(primitives))
  return m + m**2 + m**3


def encode_path(arch: Sequence[int], primitives: Sequence[str]) -> np.ndarray:
  """BANANAS' path encoding (White et al., 2021): ``float32`` of shape ``(M + M**2 + M**3,)``.

  The cell's input->output paths are :data:`PATHS` (0->3, 0->1->3, 0->2->3,
  0->1->2->3), each read as the sequence of its edges' ops; a path with a
  ``none`` edge is absent. Over the M non-``none`` ops of ``primitives`` (in
  ``primitives`` order, op ``k`` being digit ``k``), the sequence
  ``(o_1, .., o_L)`` has entry ``sum(M**l for l < L) + mixed_radix(o_1, ..,
  o_L)`` (``o_1`` most significant), and the entry is 1.0 iff some path has
  that sequence. With the full op set M = 4 and the length is
  4 + 16 + 64 = 84.

  Raises:
    ValueError: one line, if ``arch`` does not fit :func:`options`.
  """
  primitives = _primitives(primitives)
  arch = decisions.check(arch, options(primitives))
  digits = {op: k for k, op in enumerate(op for op in primitives if op != NONE_OP)}
  m = len(digits)
  out = np.zeros((m + m**2 + m**3,), np.float32)
  for path in PATHS:
    path_ops = [primitives[arch[e]] for e in path]
    if NONE_OP in path_ops:
      continue
    position = 0
    for op in path_ops:
      position = position * m + digits[op]
    out[sum(m**length for length in range(1, len(path))) + position] = 1.0
  return out
