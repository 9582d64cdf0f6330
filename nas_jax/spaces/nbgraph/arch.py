"""NAS-Bench-Graph decisions: the genotype, NAS-Bench-Graph's canonical hash, the encodings.

A cell has 4 computing nodes. Node ``i`` (1-based) reads one earlier value, its
*link*: 0 is the cell input, ``j`` is node ``j``'s output (``0 <= link < i``), and
applies one GNN op. 1 * 2 * 3 * 4 = 24 link patterns, each a labelled rooted tree
over the input and the 4 nodes.

An arch is 7 decisions: the links of nodes 2, 3 and 4 (node 1 always reads the input;
2, 3 and 4 options), then the op of nodes 1 to 4 (each an index into the space's
``primitives``).

The hash (:func:`canonical_key`) is NAS-Bench-Graph's ``Arch.valid_hash`` rule, so
that its ``.bench`` keys are our hashes (``str`` of the integer key).
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import json

import numpy as np

from nas_jax.spaces import decisions
from nas_jax.spaces.genotype_files import GenotypeError

GNN_OPS: tuple[str, ...] = ('gat', 'gcn', 'gin', 'cheb', 'sage', 'arma', 'graph', 'fc', 'skip')
"""NAS-Bench-Graph's 9 ops, in its order (the digits of its key)."""

PROTEINS_OPS: tuple[str, ...] = ('gcn', 'sage', 'arma', 'fc', 'skip')
"""The 5 ops of its ``proteins`` table (``gnn_list_proteins``)."""

SKIP = 'skip'
NUM_NODES = 4
NUM_EDGES = 10  # node i has i candidate inputs: 1 + 2 + 3 + 4
EDGE_START = (0, 1, 3, 6)  # the first edge row of each node's inputs

TREES: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)
"""The 9 canonical link patterns, one per shape of rooted tree on 5 vertices, in the
benchmark's order (the leading digit of its key)."""

# Every other link pattern is one of those trees with its nodes numbered differently:
# the order (of the old nodes, 0-based) in which NAS-Bench-Graph renumbers them.
_RENUMBER: dict[tuple[int, ...], tuple[int, ...]] = {
    (0, 0, 0, 2): (1, 0, 2, 3),
    (0, 0, 0, 3): (2, 0, 1, 3),
    (0, 0, 1, 0): (0, 1, 3, 2),
    (0, 0, 2, 0): (1, 0, 3, 2),
    (0, 0, 2, 1): (1, 0, 2, 3),
    (0, 0, 2, 2): (1, 0, 2, 3),
    (0, 0, 2, 3): (1, 0, 2, 3),
    (0, 1, 0, 0): (0, 2, 3, 1),
    (0, 1, 0, 1): (0, 2, 1, 3),
    (0, 1, 0, 2): (0, 2, 1, 3),
    (0, 1, 0, 3): (0, 2, 1, 3),
    (0, 1, 1, 0): (0, 3, 1, 2),
    (0, 1, 1, 3): (0, 2, 1, 3),
    (0, 1, 2, 0): (0, 3, 1, 2),
    (0, 1, 2, 1): (0, 1, 3, 2),
}

# Within these trees some node positions are interchangeable (same parent, no children
# that tell them apart): their ops are sorted into the benchmark's op order.
_INTERCHANGEABLE: dict[tuple[int, ...], tuple[int, ...]] = {
    (0, 0, 0, 0): (0, 1, 2, 3),
    (0, 0, 0, 1): (1, 2),
    (0, 0, 1, 1): (2, 3),
    (0, 1, 1, 1): (1, 2, 3),
    (0, 1, 2, 2): (2, 3),
}


@dataclasses.dataclass(frozen=True)
class NBGraphGenotype:
  """A NAS-Bench-Graph cell: ``links[i]`` is what node ``i + 1`` reads (0: the input),
  ``ops[i]`` its op."""

  links: tuple[int, ...]
  ops: tuple[str, ...]

  def __post_init__(self):
    object.__setattr__(self, 'links', tuple(int(x) for x in self.links))
    object.__setattr__(self, 'ops', tuple(str(x) for x in self.ops))
    if len(self.links) != NUM_NODES or len(self.ops) != NUM_NODES:
      raise GenotypeError(
          f'a NAS-Bench-Graph cell has {NUM_NODES} links and {NUM_NODES} ops, got '
          f'{list(self.links)} and {list(self.ops)}'
      )
    for i, j in enumerate(self.links):
      if not 0 <= j <= i:
        raise GenotypeError(f'node {i + 1} must read the input (0) or a node before it, got {j}')
    for op in self.ops:
      if op not in GNN_OPS:
        raise GenotypeError(f'unknown NAS-Bench-Graph op {op!r}; known: {", ".join(GNN_OPS)}')

  def to_string(self) -> str:
    """``|gcn~0|+|gat~1|+|sage~1|+|fc~2|``: each node's op and the value it reads."""
    return '+'.join(f'|{op}~{j}|' for op, j in zip(self.ops, self.links))

  @classmethod
  def from_string(cls, text: str) -> NBGraphGenotype:
    parts = text.strip().split('+')
    links, ops = [], []
    for part in parts:
      body = part.strip()
      if not (body.startswith('|') and body.endswith('|') and body.count('~') == 1):
        raise GenotypeError(f'not a NAS-Bench-Graph cell string (|op~j|+...): {text.strip()!r}')
      op, j = body[1:-1].split('~')
      if not j.isdigit():
        raise GenotypeError(f'not a NAS-Bench-Graph cell string (|op~j|+...): {text.strip()!r}')
      ops.append(op)
      links.append(int(j))
    return cls(tuple(links), tuple(ops))

  def to_json(self, **kwargs) -> str:
    return json.dumps({'links': list(self.links), 'ops': list(self.ops)}, **kwargs)

  @classmethod
  def from_json(cls, text: str) -> NBGraphGenotype:
    try:
      data = json.loads(text)
      return cls(tuple(data['links']), tuple(data['ops']))
    except (ValueError, KeyError, TypeError) as e:
      if isinstance(e, GenotypeError):
        raise
      raise GenotypeError(f'not a NAS-Bench-Graph genotype JSON ({type(e).__name__})') from None


def options(primitives: Sequence[str]) -> tuple[int, ...]:
  k = len(primitives)
  return (2, 3, 4, k, k, k, k)


def to_genotype(arch: Sequence[int], primitives: Sequence[str]) -> NBGraphGenotype:
  arch = decisions.check(arch, options(primitives))
  return NBGraphGenotype((0,) + arch[:3], tuple(primitives[k] for k in arch[3:]))


def from_genotype(g: NBGraphGenotype, primitives: Sequence[str]) -> decisions.Arch:
  missing = [op for op in g.ops if op not in primitives]
  if missing:
    raise GenotypeError(
        f'op {missing[0]!r} is not in this space\'s op set ({", ".join(primitives)})'
    )
  return tuple(g.links[1:]) + tuple(primitives.index(op) for op in g.ops)


# --- the canonical key ---------------------------------------------------------------------------


def _renumber(links: list[int], ops: list[str], order: Sequence[int]):
  """The same tree with old node ``order[k]`` as new node ``k`` (a topological order)."""
  new_label = {0: 0} | {old + 1: new + 1 for new, old in enumerate(order)}
  return [new_label[links[old]] for old in order], [ops[old] for old in order]


def _passes_input_through(links: list[int], ops: list[str], node: int) -> bool:
  """Whether node (0-based) and every node above it up to the input is a skip."""
  while node >= 0:
    if ops[node] != SKIP:
      return False
    node = links[node] - 1
  return True


def _hoist(links: list[int], ops: list[str], node: int):
  """NAS-Bench-Graph's move of a skip node (0-based) to the front, reading the input: the
  nodes before it shift back one place, and a link to one of them or to the input moves
  one place on (the input's to the skip node itself); the skip's children read what it
  read, renumbered the same way."""
  new_links = []
  for i, parent in enumerate(links):
    if i == node:
      continue
    if parent == node + 1:
      parent = links[node]
    new_links.append(parent + 1 if parent <= node else parent)
  return [0] + new_links, [ops[node]] + ops[:node] + ops[node + 1 :]


def _hoist_skips(links: list[int], ops: list[str]):
  """Moves each skip node that is not a leaf among siblings to the front, in node order."""
  for i in range(NUM_NODES):
    if ops[i] != SKIP:
      continue
    children = any(p == i + 1 for p in links)
    siblings = any(j != i and p == links[i] and p != i + 1 for j, p in enumerate(links))
    if children or not siblings or _passes_input_through(links, ops, i):
      links, ops = _hoist(links, ops, i)
  # the two patterns hoisting can leave outside the 9 trees
  if links == [0, 1, 2, 1]:
    links, ops = _renumber(links, ops, (0, 1, 3, 2))
  elif links == [0, 1, 1, 3]:
    links, ops = _renumber(links, ops, (0, 2, 1, 3))
  return links, ops


def _sort_interchangeable(links: list[int], ops: list[str]) -> list[str]:
  rank = {op: k for k, op in enumerate(GNN_OPS)}
  ops = list(ops)
  positions = _INTERCHANGEABLE.get(tuple(links))
  if positions:
    for p, op in zip(positions, sorted((ops[p] for p in positions), key=rank.get)):
      ops[p] = op
  elif tuple(links) == (0, 0, 1, 2):
    # two chains input->1->3 and input->2->4: order the chains by (head op, tail op)
    if (rank[ops[0]], rank[ops[2]]) > (rank[ops[1]], rank[ops[3]]):
      ops = [ops[1], ops[0], ops[3], ops[2]]
  return ops


def canonical_key(g: NBGraphGenotype) -> int:
  """NAS-Bench-Graph's key of a cell (its ``Arch.valid_hash``).

  The rule, in three steps and a number: (1) renumber the nodes so that the links are
  one of the 9 :data:`TREES`; (2) in node order, move every skip node to the front that
  has a child, or has no sibling, or passes the input through unchanged (it and every
  node above it are skips), relinking as the benchmark does, and renumber the two
  patterns that this can leave outside the trees; (3) sort the ops of interchangeable
  positions (:data:`_INTERCHANGEABLE`, and the two chains of ``(0, 0, 1, 2)``) into the
  benchmark's op order. The key is the tree's index followed by the 4 ops' indices in
  :data:`GNN_OPS`, as decimal digits (``tree * 10**4 + ...``).
  """
  links, ops = list(g.links), list(g.ops)
  if tuple(links) in _RENUMBER:
    links, ops = _renumber(links, ops, _RENUMBER[tuple(links)])
  links, ops = _hoist_skips(links, ops)
  ops = _sort_interchangeable(links, ops)
  key = TREES.index(tuple(links))
  for op in ops:
    key = key * (len(GNN_OPS) + 1) + GNN_OPS.index(op)
  return key


def from_key(key: int) -> NBGraphGenotype:
  """The cell a NAS-Bench-Graph key spells (the canonical member of its class)."""
  digits = []
  for _ in range(NUM_NODES):
    key, d = divmod(int(key), len(GNN_OPS) + 1)
    digits.append(d)
  if not 0 <= key < len(TREES) or max(digits) >= len(GNN_OPS):
    raise GenotypeError(f'not a NAS-Bench-Graph key: {key}')
  return NBGraphGenotype(TREES[key], tuple(GNN_OPS[d] for d in reversed(digits)))


def is_all_skip(g: NBGraphGenotype) -> bool:
  """A cell of skips only: the identity, which NAS-Bench-Graph does not include."""
  return all(op == SKIP for op in g.ops)


# --- encodings -----------------------------------------------------------------------------------


def encode_onehot(arch: Sequence[int], primitives: Sequence[str]) -> np.ndarray:
  """The links of nodes 2-4 one-hot (2 + 3 + 4) and the 4 ops one-hot: ``9 + 4 K`` floats."""
  arch = decisions.check(arch, options(primitives))
  out = []
  for value, n in zip(arch, options(primitives)):
    v = np.zeros(n, np.float32)
    v[value] = 1.0
    out.append(v)
  return np.concatenate(out)


def encode_path(arch: Sequence[int], primitives: Sequence[str]) -> np.ndarray:
  """BANANAS' path encoding: the op sequence of every path from the input to a leaf (a node
  nothing reads, which feeds the output), one indicator per sequence of length 1-4 over the
  K ops (``K + K**2 + K**3 + K**4`` floats)."""
  g = to_genotype(arch, primitives)
  k = len(primitives)
  out = np.zeros(sum(k**n for n in range(1, NUM_NODES + 1)), np.float32)
  read = set(g.links)
  for node in range(1, NUM_NODES + 1):
    if node in read:
      continue
    path, at = [], node
    while at > 0:
      path.append(primitives.index(g.ops[at - 1]))
      at = g.links[at - 1]
    position = 0
    for digit in reversed(path):
      position = position * k + digit
    out[sum(k**n for n in range(1, len(path))) + position] = 1.0
  return out


__all__ = [
    'EDGE_START',
    'GNN_OPS',
    'NBGraphGenotype',
    'NUM_EDGES',
    'NUM_NODES',
    'PROTEINS_OPS',
    'TREES',
    'canonical_key',
    'encode_onehot',
    'encode_path',
    'from_genotype',
    'from_key',
    'is_all_skip',
    'options',
    'to_genotype',
]
