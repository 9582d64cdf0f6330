"""The DARTS space (Liu et al. 2019): a normal and a reduction cell of ``steps`` nodes.

Each intermediate node sums two ops on two distinct earlier nodes (the two
cell inputs and the earlier intermediate nodes); the cell concatenates its
last ``multiplier`` nodes. Parts:

* ``genotype.py``: :class:`Genotype`, its text and JSON forms (parsed, never
  evaluated), the published cells (``NAMED_GENOTYPES``);
* ``discretize.py``: the derivation rule (two strongest inputs per node by
  their strongest non-``none`` op); ``ops.py``: the op set;
* ``supernet.py``: ``SearchNetwork``; ``evalnet.py``: ``NetworkCIFAR`` and
  ``NetworkImageNet``; ``plot.py``: the cell pictures;
* ``archnet.py``: ``DartsArchNetwork``, the evaluation network with the arch
  as a call argument (what the population trainer and live search train);
* ``arch.py``: the decisions (per cell and node: the input pair and the op on
  each input), the canonical hash and the encodings.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import functools
import os
from typing import Any, ClassVar

import numpy as np

from nas_jax.spaces import base, register
from nas_jax.spaces.darts import arch as darts_arch
from nas_jax.spaces.darts import archnet, discretize, evalnet, genotype, plot, supernet
from nas_jax.spaces.darts.genotype import (
    DARTS_PRIMITIVES,
    NAMED_GENOTYPES,
    Genotype,
    GenotypeError,
    load_genotype,
)
from nas_jax.spaces.darts.ops import OPS, PARAMETER_FREE


@register
@dataclasses.dataclass(frozen=True)
class DartsSpace(base.Space):
  """The DARTS cell space for one op set, ``steps`` nodes and output ``multiplier``.

  ``hash`` is :func:`nas_jax.spaces.darts.arch.canonical_str`'s rule:
  each node is labelled by the sorted ops-on-labels of its two inputs, and
  the cell by the sorted labels of its output nodes, so renumbering
  independent nodes or swapping a node's two inputs keeps the hash.
  Decisions exist for the derived form only (``multiplier == steps``, two
  inputs per node, ops other than ``none``).
  """

  primitives: tuple[str, ...] = DARTS_PRIMITIVES
  steps: int = 4
  multiplier: int = 4

  name: ClassVar[str] = 'darts'
  cells: ClassVar[tuple[str, ...]] = ('normal', 'reduce')
  registry: ClassVar = OPS
  default_primitives: ClassVar[tuple[str, ...]] = DARTS_PRIMITIVES
  parameter_free: ClassVar[frozenset[str]] = PARAMETER_FREE
  network_kinds: ClassVar[tuple[str, ...]] = ('cifar', 'imagenet')
  genotype_type: ClassVar[type] = Genotype
  collapse_cells: ClassVar[tuple[str, ...]] = ('normal',)  # the reduction cell is mostly pooling

  supernet_settings: ClassVar[tuple[str, ...]] = (
      'stem_multiplier',
      'dw_conv',
      'node_edges',
      'remat',
  )
  evalnet_settings: ClassVar[tuple[str, ...]] = ('auxiliary', 'dw_conv', 'scan_cells')
  drop_path: ClassVar[bool] = True

  def __post_init__(self):
    super().__post_init__()
    for key in ('steps', 'multiplier'):
      value = getattr(self, key)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{key} must be a positive integer, got {value!r}')
    if self.multiplier > self.steps:
      raise ValueError(f'multiplier ({self.multiplier}) must be <= steps ({self.steps})')

  # --- the continuous side -------------------------------------------------------------------
  @property
  def num_edges(self) -> int:
    return discretize.num_edges(self.steps)

  def node_slices(self) -> list[tuple[int, int]]:
    return [
        (discretize.edge_index(i, 0), discretize.edge_index(i, 0) + 2 + i)
        for i in range(self.steps)
    ]

  def derive(self, strengths: dict[str, Any]) -> Genotype:
    """Each node keeps its two strongest inputs by their strongest non-``none`` op."""
    return discretize.derive_genotype(
        np.asarray(strengths['normal']),
        np.asarray(strengths['reduce']),
        primitives=self.primitives,
        steps=self.steps,
        multiplier=self.multiplier,
        apply_softmax=False,
    )

  def one_hot(self, g: Genotype) -> dict[str, np.ndarray]:
    """1 at (edge, op) of every kept edge, 0 elsewhere (``none`` at 0: the edge is off)."""
    self.check_genotype(g)
    out = {}
    for cell, pairs in (('normal', g.normal), ('reduce', g.reduce)):
      w = np.zeros(self.shape(), np.float32)
      for k, (op, j) in enumerate(pairs):
        w[discretize.edge_index(k // 2, j), self.primitives.index(op)] = 1.0
      out[cell] = w
    return out

  def supernet(self, num_classes: int, *, channels: int, layers: int, **options):
    """``SearchNetwork`` (``options``: ``stem_multiplier``, ``dw_conv``,
    ``node_edges``, ``remat``, ``mode``, ``partial``, ``aux_skip``)."""
    return supernet.SearchNetwork(
        num_classes=num_classes,
        channels=channels,
        layers=layers,
        primitives=self.primitives,
        steps=self.steps,
        multiplier=self.multiplier,
        **options,
    )

  def evalnet(self, g: Genotype, num_classes: int, *, kind: str | None = None, **options):
    """``NetworkCIFAR`` (``kind='cifar'``, the default) or ``NetworkImageNet`` (``'imagenet'``);
    ``options``: ``channels``, ``layers``, ``auxiliary``, ``dw_conv``, ``scan_cells``."""
    kind = kind or self.network_kinds[0]
    if kind not in self.network_kinds:
      raise ValueError(
          f'the darts space has network kinds {", ".join(self.network_kinds)}, got ' f'{kind!r}'
      )
    self.check_genotype(g)
    network = evalnet.NetworkCIFAR if kind == 'cifar' else evalnet.NetworkImageNet
    return network(g, num_classes=num_classes, **options)

  def arch_network(self, num_classes: int, *, channels: int, layers: int, **options):
    """``DartsArchNetwork``: ``net(x, arch, train)``, ``arch`` the ``6 * steps`` decisions;
    ``layers`` is the number of cells L (``options``: ``mode``, ``'switch'`` or ``'masked'``,
    ``stem_multiplier``, ``dw_conv``)."""
    self._check_derived_form()
    return archnet.DartsArchNetwork(
        num_classes=num_classes,
        channels=channels,
        layers=layers,
        primitives=self.primitives,
        steps=self.steps,
        **options,
    )

  def evalnet_variables(self, variables: dict[str, Any], arch) -> dict[str, Any]:
    """The ``evalnet(to_genotype(arch), auxiliary=False, scan_cells=False)`` variables."""
    return archnet.evalnet_variables(variables, arch, self.primitives, self.steps)

  # --- genotypes ----------------------------------------------------------------------------
  def check_genotype(self, g) -> Genotype:
    if not isinstance(g, Genotype):
      raise GenotypeError(f'the darts space needs a DARTS Genotype, got {type(g).__name__}')
    return evalnet.check_genotype(g)  # every op one the space can build

  def to_text(self, g: Genotype) -> str:
    return self.check_genotype(g).to_darts_text()

  def load_genotype(self, ref) -> Genotype:
    """A published name (``NAMED_GENOTYPES``), a genotype file, or the DARTS text form."""
    if isinstance(ref, Genotype):
      return ref
    text = str(ref).strip()
    if text.startswith('Genotype(') and not os.path.exists(text):
      return Genotype.from_darts_text(text)
    return load_genotype(text)

  def edges(self, g: Genotype) -> list[tuple[str, int, int, str]]:
    """Inputs 0/1 are the cell inputs and intermediate nodes are 2.. ."""
    out = []
    for kind, cell in (('normal', g.normal), ('reduce', g.reduce)):
      out += [(kind, 2 + k // 2, j, op) for k, (op, j) in enumerate(cell)]
    return out

  def plot(self, g: Genotype, out_dir: str) -> list[str]:
    return list(plot.plot_genotype(g, out_dir))

  def plot_names(self) -> tuple[str, ...]:
    return ('cell_normal.png', 'cell_reduce.png')

  def edge_rows(self, cell: str, num_edges: int) -> list[list[tuple[int, str]]]:
    return plot.edge_rows(num_edges)

  # --- search settings ------------------------------------------------------------------------
  def cost_sites(self, model, image_shape) -> list[base.CostSite]:
    """Each evaluation cell's 14 edges: an edge from a cell input of a reduction cell has
    stride 2 and the cell's input size; every other edge, stride 1 at the node size (half the
    input's in a reduction cell). The cells' channels and sizes are read by tracing ``model``."""
    from nas_jax import netstats  # pylint: disable=import-outside-toplevel

    cells = []

    def interceptor(next_fun, args, kwargs, context):
      m = context.module
      if isinstance(m, evalnet.EvalCell) and context.method_name == '__call__':
        cells.append((m.reduction, m.channels, tuple(args[1].shape[2:]), m.dw_conv))
      return next_fun(*args, **kwargs)

    netstats.trace(model, image_shape, interceptor)
    sites = []
    for reduction, c, (h, w), dw_conv in cells:
      for node, (start, _) in enumerate(self.node_slices()):
        for j in range(node + 2):
          stride = 2 if reduction and j < 2 else 1
          size = (-(-h // 2), -(-w // 2)) if reduction and j >= 2 else (h, w)
          make = functools.partial(
              evalnet._eval_op, channels=c, stride=stride, dw_conv=dw_conv, module_name='op'
          )
          sites.append(
              base.CostSite('reduce' if reduction else 'normal', start + j, make, (c, 1, *size))
          )
    return sites

  def check_network(self, channels: int, **settings) -> None:
    if channels % 2:
      raise ValueError(f'channels must be even (factorized reduce splits it), got {channels}')
    node_edges = settings.get('node_edges', 'scan')
    if node_edges not in supernet.NODE_EDGES:
      raise ValueError(f'node_edges must be one of {supernet.NODE_EDGES}, got {node_edges!r}')

  def partial_channels_unit(self, k: int) -> int:
    """The multiple ``init_channels`` must be of with PC-DARTS' ``k`` (factorized reduce halves)."""
    return 2 * k

  # --- discrete architectures -----------------------------------------------------------------
  @property
  def options(self) -> tuple[int, ...]:
    return darts_arch.options(self.primitives, self.steps)

  def _check_derived_form(self):
    if self.multiplier != self.steps:
      raise ValueError(
          f'decisions exist for multiplier == steps (every node in the output), '
          f'got multiplier={self.multiplier}, steps={self.steps}'
      )

  def to_genotype(self, arch: Sequence[int]) -> Genotype:
    self._check_derived_form()
    return darts_arch.to_genotype(arch, self.primitives, self.steps)

  def from_genotype(self, g: Genotype) -> base.Arch:
    self._check_derived_form()
    return darts_arch.from_genotype(g, self.primitives, self.steps)

  def hash(self, arch: Sequence[int]) -> str:
    return darts_arch.hash(self.to_genotype(arch))

  def encode(self, arch: Sequence[int], kind: str = 'onehot') -> np.ndarray:
    self._check_encoding(kind)
    fn = darts_arch.encode_onehot if kind == 'onehot' else darts_arch.encode_path
    return fn(arch, self.primitives, self.steps)


__all__ = [
    'DARTS_PRIMITIVES',
    'DartsSpace',
    'Genotype',
    'GenotypeError',
    'NAMED_GENOTYPES',
    'archnet',
    'discretize',
    'evalnet',
    'genotype',
    'plot',
    'supernet',
]
