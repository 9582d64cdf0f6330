"""The NAS-Bench-201 (NB201) cell: genotype, its string and JSON forms, derivation.

An NB201 cell is a DAG of four nodes. Node 0 is the cell input; node ``i``
(``i = 1, 2, 3``) sums one op applied to each earlier node ``0 .. i - 1``;
node 3 is the cell output. The six edges, in the order used everywhere in
this project (the rows of the search supernet's ``(6, num_ops)`` alpha), are

    EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))   # (source, target)

Each edge carries one op of :data:`NB201_PRIMITIVES` (``none`` included), so
the space holds 5**6 = 15,625 cells. A cell is written in the benchmark's
string form, one ``|op~input|`` group per node, nodes joined by ``+``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

The evaluation network is in :mod:`nas_jax.spaces.nb201.evalnet`.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import json
import os
from typing import Any

import numpy as np

from nas_jax.spaces.genotype_files import GenotypeError, read_text
from nas_jax.spaces.nb201.ops import NB201_PRIMITIVES, OPS, PARAMETER_FREE
from nas_jax.util import atomic_write

__all__ = [
    'EDGES',
    'NB201_PRIMITIVES',
    'NB201Genotype',
    'NUM_EDGES',
    'NUM_NODES',
    'PARAMETER_FREE',
    'derive_genotype',
    'edge_index',
    'load',
    'random_genotype',
    'save_json',
]

PathLike = str | os.PathLike
OpPair = tuple[str, int]

NUM_NODES = 4  # node 0 (input), 1, 2, 3 (output)
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""The six edges as ``(source, target)``, in topological order (row k of alpha is EDGES[k])."""
NUM_EDGES = len(EDGES)
_EDGE_INDEX = {edge: k for k, edge in enumerate(EDGES)}

SPACE = 'nb201'  # the "space" field of the JSON form
_EXAMPLE = '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...~0|...~1|...~2|'


def _show(text: str, limit: int = 80) -> str:
  """``repr`` of ``text``, shortened to ``limit`` characters (always one line)."""
  shown = repr(text)
  return shown if len(shown) <= limit else shown[: limit - 3] + '...'


def edge_index(target: int, source: int) -> int:
  """Row of edge ``source -> target`` in :data:`EDGES` (and in the supernet's alpha).

  Raises:
    ValueError: one line, if there is no such edge.
  """
  try:
    return _EDGE_INDEX[(source, target)]
  except (KeyError, TypeError):
    raise ValueError(
        f'no NB201 edge from node {source!r} to node {target!r}; edges '
        f'(source, target): {list(EDGES)}'
    ) from None


def _coerce_nodes(nodes: Any) -> tuple[tuple[OpPair, ...], ...]:
  """Validates the nodes of an NB201 cell; returns them as nested tuples.

  Raises:
    GenotypeError: one line naming the node, the entry and what is wrong.
  """
  if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Sequence):
    raise GenotypeError(f'NB201 nodes must be a sequence of 3 nodes, got {type(nodes).__name__}')
  if len(nodes) != NUM_NODES - 1:
    raise GenotypeError(f'an NB201 cell has {NUM_NODES - 1} nodes (1, 2, 3), got {len(nodes)}')
  out = []
  for i, node in enumerate(nodes, start=1):
    if isinstance(node, (str, bytes)) or not isinstance(node, Sequence):
      raise GenotypeError(
          f'node {i}: expected a sequence of (op, input) pairs, got ' f'{type(node).__name__}'
      )
    if len(node) != i:
      raise GenotypeError(
          f'node {i} has {len(node)} input edge(s), expected {i} (one from each '
          f'of nodes 0..{i - 1})'
      )
    pairs = []
    for k, pair in enumerate(node):
      where = f'node {i}, entry {k + 1}'
      if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise GenotypeError(f'{where}: expected an (op, input) pair, got {_show(str(pair))}')
      op, source = pair
      if not isinstance(op, str):
        raise GenotypeError(f'{where}: op name must be a string, got {type(op).__name__}')
      if op not in NB201_PRIMITIVES:
        raise GenotypeError(
            f'{where}: unknown op {_show(op)}; known NB201 ops: ' f'{", ".join(NB201_PRIMITIVES)}'
        )
      if isinstance(source, bool) or not isinstance(source, (int, np.integer)):
        raise GenotypeError(f'{where}: input index must be an integer, got {_show(str(source))}')
      if source != k:
        raise GenotypeError(
            f'{where}: input index {int(source)}, expected {k} (node {i} reads '
            f'nodes 0..{i - 1} once each, in order)'
        )
      pairs.append((op, int(source)))
    out.append(tuple(pairs))
  return tuple(out)


@dataclasses.dataclass(frozen=True)
class NB201Genotype:
  """A discrete NB201 cell.

  Lists passed to the constructor are converted to tuples, so instances are
  immutable, hashable and compare by value.

  Attributes:
    nodes: for nodes 1, 2, 3 the ``(op, input)`` pairs, node ``i`` listing
      inputs ``0 .. i - 1`` in order, e.g. ``((('nor_conv_3x3', 0),),
      (('nor_conv_3x3', 0), ('avg_pool_3x3', 1)), (('skip_connect', 0),
      ('nor_conv_3x3', 1), ('skip_connect', 2)))``.
  """

  nodes: tuple[tuple[OpPair, ...], ...]

  def __post_init__(self) -> None:
    object.__setattr__(self, 'nodes', _coerce_nodes(self.nodes))

  # -- Construction and the string form ------------------------------------------

  @classmethod
  def from_edge_ops(cls, edge_ops: Sequence[str]) -> NB201Genotype:
    """The cell with ``edge_ops[k]`` on edge ``EDGES[k]``.

    Raises:
      GenotypeError: if there are not 6 ops or one is unknown (one line).
    """
    edge_ops = list(edge_ops)
    if len(edge_ops) != NUM_EDGES:
      raise GenotypeError(f'an NB201 cell has {NUM_EDGES} edges, got {len(edge_ops)} ops')
    nodes = [[] for _ in range(NUM_NODES - 1)]
    for (source, target), op in zip(EDGES, edge_ops):
      nodes[target - 1].append((op, source))
    return cls(tuple(tuple(node) for node in nodes))

  @classmethod
  def from_string(cls, text: str) -> NB201Genotype:
    """Parses the benchmark's string form (surrounding whitespace is ignored).

    Raises:
      GenotypeError: one line naming what is wrong (a missing ``|``, the
        number of nodes or of edges, an unknown op, a wrong input index).
    """
    if not isinstance(text, str):
      raise GenotypeError(f'an NB201 genotype string must be a str, got {type(text).__name__}')
    text = text.strip()
    if not text:
      raise GenotypeError(f'empty NB201 genotype string (expected e.g. {_EXAMPLE})')
    parts = text.split('+')
    if len(parts) != NUM_NODES - 1:
      raise GenotypeError(
          f'NB201 genotype string {_show(text)} has {len(parts)} node group(s), '
          f"expected {NUM_NODES - 1} joined by '+'"
      )
    nodes = []
    for i, part in enumerate(parts, start=1):
      if not part.strip('|'):
        raise GenotypeError(f'node {i} of NB201 genotype string {_show(text)} is empty')
      if len(part) < 2 or part[0] != '|' or part[-1] != '|':
        raise GenotypeError(
            f"node {i} {_show(part)}: must start and end with '|' " "(e.g. '|nor_conv_3x3~0|')"
        )
      tokens = part[1:-1].split('|')
      if len(tokens) != i:
        raise GenotypeError(
            f'node {i} {_show(part)} has {len(tokens)} edge(s), expected {i} '
            f"('|op~input|' for each of nodes 0..{i - 1})"
        )
      pairs = []
      for k, token in enumerate(tokens):
        op, sep, index = token.partition('~')
        if not sep:
          raise GenotypeError(f"node {i}, entry {k + 1}: expected 'op~input', got {_show(token)}")
        if not (index.isascii() and index.isdigit()):
          raise GenotypeError(
              f'node {i}, entry {k + 1}: input index {_show(index)} is not a '
              'non-negative integer'
          )
        pairs.append((op, int(index)))
      nodes.append(tuple(pairs))
    return cls(tuple(nodes))

  def to_string(self) -> str:
    """The benchmark's string form; ``from_string(g.to_string()) == g``."""
    return '+'.join('|' + '|'.join(f'{op}~{j}' for op, j in node) + '|' for node in self.nodes)

  def __str__(self) -> str:
    return self.to_string()

  # -- JSON -------------------------------------------------------------------------

  def to_json(self, indent: int | None = None) -> str:
    """``{"space": "nb201", "arch": "<string form>"}``."""
    return json.dumps({'space': SPACE, 'arch': self.to_string()}, indent=indent)

  @classmethod
  def from_json(cls, text: str) -> NB201Genotype:
    """Reads :meth:`to_json`'s output (other keys are ignored).

    Raises:
      GenotypeError: one line, for malformed JSON or the wrong schema.
    """
    try:
      data = json.loads(text)
    except json.JSONDecodeError as e:
      raise GenotypeError(
          f'malformed JSON for an NB201 genotype: {e.msg} (line {e.lineno}, ' f'column {e.colno})'
      ) from None
    if not isinstance(data, dict):
      raise GenotypeError(
          'NB201 genotype JSON must be an object {"space": "nb201", "arch": ...}'
          f', got {type(data).__name__}'
      )
    if data.get('space') != SPACE:
      raise GenotypeError(
          f'NB201 genotype JSON: "space" must be "nb201", got ' f'{_show(str(data.get("space")))}'
      )
    arch = data.get('arch')
    if not isinstance(arch, str):
      raise GenotypeError(
          'NB201 genotype JSON: "arch" must be the genotype string, got ' f'{type(arch).__name__}'
      )
    return cls.from_string(arch)

  def save_json(self, path: PathLike) -> None:
    """Atomically writes :meth:`to_json` (indented) to ``path``; parents are created."""
    atomic_write(os.fspath(path), self.to_json(indent=2) + '\n')

  # -- Structure --------------------------------------------------------------------

  def edges(self) -> list[tuple[int, int, str]]:
    """``(target, source, op)`` for the six edges, in :data:`EDGES` order."""
    return [(i, j, op) for i, node in enumerate(self.nodes, start=1) for op, j in node]

  def edge_ops(self) -> tuple[str, ...]:
    """The op of each edge, in :data:`EDGES` order (row order of alpha)."""
    return tuple(op for _, _, op in self.edges())

  def count_ops(self) -> dict[str, int]:
    """How many edges carry each NB201 op (every op listed, zeros included)."""
    ops_used = self.edge_ops()
    return {op: ops_used.count(op) for op in NB201_PRIMITIVES}

  def num_parameter_free(self) -> int:
    """Edges whose op has no parameters (``none``, ``skip_connect``, ``avg_pool_3x3``)."""
    return sum(op in PARAMETER_FREE for op in self.edge_ops())

  def num_skip(self) -> int:
    """Edges carrying ``skip_connect``."""
    return self.edge_ops().count('skip_connect')


def save_json(genotype: NB201Genotype, path: PathLike) -> None:
  """Atomically writes ``genotype`` as ``{"space": "nb201", "arch": ...}`` to ``path``."""
  if not isinstance(genotype, NB201Genotype):
    raise GenotypeError(f'save_json expects an NB201Genotype, got {type(genotype).__name__}')
  genotype.save_json(path)


def load(ref: NB201Genotype | PathLike) -> NB201Genotype:
  """Resolves an NB201 genotype from its string form or a file.

  Args:
    ref: an :class:`NB201Genotype` (returned unchanged), the string form
      (``'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'``), or the path of a ``.json``
      file written by :func:`save_json` or of a text file holding the string
      form (a text file holding the JSON object is read as JSON too).

  Returns:
    The genotype.

  Raises:
    GenotypeError: one line; for a file, the message names its path.
  """
  if isinstance(ref, NB201Genotype):
    return ref
  if isinstance(ref, str) and ref.strip().startswith('|'):
    return NB201Genotype.from_string(ref)
  try:
    path = os.fspath(ref)
  except TypeError:
    raise GenotypeError(
        'an NB201 genotype must be given as its string form or a file path, '
        f'got {type(ref).__name__}'
    ) from None
  if not os.path.exists(path):
    raise GenotypeError(
        f'{_show(path)} is neither an NB201 genotype string (e.g. {_EXAMPLE}) '
        'nor an existing file'
    )
  text = read_text(path).strip()
  try:
    if path.lower().endswith('.json') or text.startswith('{'):
      return NB201Genotype.from_json(text)
    return NB201Genotype.from_string(text)
  except GenotypeError as e:
    raise GenotypeError(f'genotype file {path!r}: {e}') from None


def _check_primitives(primitives: Sequence[str]) -> tuple[str, ...]:
  """The op set as a tuple; every op must be an NB201 op (ValueError otherwise)."""
  return OPS.validate(primitives)


def derive_genotype(alpha: Any, primitives: Sequence[str] = NB201_PRIMITIVES) -> NB201Genotype:
  """The cell with the largest-weight op on each edge (``none`` included, as NB201 does).

  Args:
    alpha: architecture weights of shape ``(6, len(primitives))``; row ``k``
      belongs to edge ``EDGES[k]``. Ties go to the earlier op.
    primitives: the op of each column.

  Returns:
    The derived genotype.

  Raises:
    ValueError: one line, for a wrong shape, non-finite weights or an op
      that is not an NB201 op.
  """
  primitives = _check_primitives(primitives)
  a = np.asarray(alpha, dtype=np.float64)
  if a.shape != (NUM_EDGES, len(primitives)):
    raise ValueError(
        f'NB201 alpha must have shape ({NUM_EDGES}, {len(primitives)}) (edges x '
        f'ops), got {a.shape}'
    )
  if not np.all(np.isfinite(a)):
    raise ValueError('NB201 alpha has non-finite entries')
  return NB201Genotype.from_edge_ops([primitives[int(k)] for k in np.argmax(a, axis=1)])


def random_genotype(seed: int, primitives: Sequence[str] = NB201_PRIMITIVES) -> NB201Genotype:
  """A cell with an op drawn uniformly from ``primitives`` on each edge (a pure function of seed).

  ``none`` is drawn like any other op when it is in ``primitives`` (the
  benchmark's space); pass an op set without it to exclude empty edges.
  """
  primitives = _check_primitives(primitives)
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
  rng = np.random.default_rng([int(seed), 0x201])
  return NB201Genotype.from_edge_ops(
      [primitives[int(k)] for k in rng.integers(len(primitives), size=NUM_EDGES)]
  )
