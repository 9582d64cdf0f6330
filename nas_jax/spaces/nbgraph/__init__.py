"""The NAS-Bench-Graph space (Qin et al., NeurIPS 2022 Datasets and Benchmarks): GNN cells.

A cell of 4 computing nodes, each reading one earlier value (the input or an earlier
node) and applying one of 9 GNN ops (``gat``, ``gcn``, ``gin``, ``cheb``, ``sage``,
``arma``, ``graph``, ``fc``, ``skip``); the ``proteins`` table uses 5 of them
(:data:`PROTEINS_OPS`), the space over that op subset. Decisions, genotype, hash and
encodings are in ``arch.py``.

The space is decisions and a table (``nas_jax.tabular.nbgraph``) only: it has no
networks (no supernet, evaluation network or arch network), so it serves discrete
search over the benchmark's tables. Its op-strength array (:meth:`one_hot`,
:meth:`derive`) has one row per candidate input edge of each node (10 rows), and
:meth:`derive` keeps each node's strongest (edge, op) pair.

``hash`` is NAS-Bench-Graph's own key (``Arch.valid_hash``) as a decimal string: 26,206
classes over the 9 ops and 2,021 over the proteins ops, plus one for the cells of skips
only (``'88888'``), which the benchmark leaves out.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import os
from typing import Any, ClassVar

import numpy as np

from nas_jax.spaces import base, register
from nas_jax.spaces.genotype_files import GenotypeError
from nas_jax.spaces.nbgraph import arch as nbg_arch
from nas_jax.spaces.nbgraph.arch import (
    EDGE_START,
    GNN_OPS,
    NUM_EDGES,
    NUM_NODES,
    PROTEINS_OPS,
    NBGraphGenotype,
    canonical_key,
    from_key,
    is_all_skip,
)


@register
@dataclasses.dataclass(frozen=True)
class NBGraphSpace(base.Space):
  """The NAS-Bench-Graph cell space for one op set (any subset of :data:`GNN_OPS`)."""

  primitives: tuple[str, ...] = GNN_OPS

  name: ClassVar[str] = 'nbgraph'
  cells: ClassVar[tuple[str, ...]] = ('gnn',)
  default_primitives: ClassVar[tuple[str, ...]] = GNN_OPS
  parameter_free: ClassVar[frozenset[str]] = frozenset({'skip'})
  network_kinds: ClassVar[tuple[str, ...]] = ()
  genotype_type: ClassVar[type] = NBGraphGenotype
  encodings: ClassVar[tuple[str, ...]] = ('onehot', 'path')

  def __post_init__(self):
    # No op registry (no networks build these ops): the op set is checked against GNN_OPS.
    primitives = tuple(self.primitives)
    if not primitives:
      raise ValueError('the op set (primitives) is empty')
    for op in primitives:
      if op not in GNN_OPS:
        raise ValueError(
            f'unknown op {op!r} in primitives; known ops of the nbgraph space: '
            f'{", ".join(sorted(GNN_OPS))}'
        )
    if len(set(primitives)) != len(primitives):
      raise ValueError(f'primitives has duplicates: {list(primitives)}')
    object.__setattr__(self, 'primitives', primitives)

  # --- the op-strength array ----------------------------------------------------------------
  @property
  def num_edges(self) -> int:
    return NUM_EDGES

  def node_slices(self) -> list[tuple[int, int]]:
    return [(s, s + i + 1) for i, s in enumerate(EDGE_START)]

  def derive(self, strengths: dict[str, Any]) -> NBGraphGenotype:
    """Each node's strongest (input edge, op) pair (the first on a tie)."""
    w = np.asarray(strengths['gnn'])
    links, ops = [], []
    for start, end in self.node_slices():
      edge, op = np.unravel_index(int(np.argmax(w[start:end])), (end - start, w.shape[1]))
      links.append(int(edge))
      ops.append(self.primitives[int(op)])
    return NBGraphGenotype(tuple(links), tuple(ops))

  def one_hot(self, g: NBGraphGenotype) -> dict[str, np.ndarray]:
    arch = self.from_genotype(g)
    w = np.zeros(self.shape(), np.float32)
    for i, (j, k) in enumerate(zip(g.links, arch[3:])):
      w[EDGE_START[i] + j, k] = 1.0
    return {'gnn': w}

  # --- genotypes ----------------------------------------------------------------------------
  def check_genotype(self, g) -> NBGraphGenotype:
    if not isinstance(g, NBGraphGenotype):
      raise GenotypeError(f'the nbgraph space needs an NBGraphGenotype, got {type(g).__name__}')
    self.from_genotype(g)  # its ops are this space's
    return g

  def to_text(self, g: NBGraphGenotype) -> str:
    return self.check_genotype(g).to_string()

  def load_genotype(self, ref) -> NBGraphGenotype:
    """A genotype, its ``|op~j|+...`` string or JSON form, or a file holding either."""
    if isinstance(ref, NBGraphGenotype):
      return self.check_genotype(ref)
    text = str(ref)
    if os.path.isfile(text):
      with open(text, encoding='utf-8') as f:
        text = f.read()
    text = text.strip()
    g = (
        NBGraphGenotype.from_json(text)
        if text.startswith('{')
        else NBGraphGenotype.from_string(text)
    )
    return self.check_genotype(g)

  def edges(self, g: NBGraphGenotype) -> list[tuple[str, int, int, str]]:
    """Node 0 is the cell input, nodes are 1-4, each with its one input edge."""
    return [('gnn', i + 1, j, op) for i, (j, op) in enumerate(zip(g.links, g.ops))]

  # --- discrete architectures -----------------------------------------------------------------
  @property
  def options(self) -> tuple[int, ...]:
    return nbg_arch.options(self.primitives)

  def to_genotype(self, arch: Sequence[int]) -> NBGraphGenotype:
    return nbg_arch.to_genotype(arch, self.primitives)

  def from_genotype(self, g: NBGraphGenotype) -> base.Arch:
    return nbg_arch.from_genotype(g, self.primitives)

  def hash(self, arch: Sequence[int]) -> str:
    """NAS-Bench-Graph's key of the cell (:func:`nas_jax.spaces.nbgraph.arch.canonical_key`)."""
    return str(canonical_key(self.to_genotype(arch)))

  def encode(self, arch: Sequence[int], kind: str = 'onehot') -> np.ndarray:
    self._check_encoding(kind)
    fn = nbg_arch.encode_onehot if kind == 'onehot' else nbg_arch.encode_path
    return fn(arch, self.primitives)


__all__ = [
    'GNN_OPS',
    'NBGraphGenotype',
    'NBGraphSpace',
    'NUM_EDGES',
    'NUM_NODES',
    'PROTEINS_OPS',
    'canonical_key',
    'from_key',
    'is_all_skip',
]
