"""The NAS-Bench-201 space (Dong & Yang 2020): one cell of 4 nodes and 6 edges, one op each.

Parts: ``genotype.py`` (:class:`NB201Genotype`, its ``|op~j|+...`` string
and JSON forms, the argmax derivation), ``ops.py`` (the 5 ops),
``supernet.py`` (``NB201SearchNetwork``), ``evalnet.py`` (``NB201Network``,
the benchmark's "TinyNetwork"), ``plot.py`` (the cell picture) and
``arch.py`` (decisions: the op of each edge; NB201's isomorphism hash; the
encodings).

The module also re-exports the names of those parts, so
``from nas_jax.spaces import nb201; nb201.NB201Genotype`` works.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import functools
import os
from typing import Any, ClassVar

import numpy as np

from nas_jax.spaces import base, register
from nas_jax.spaces.darts.genotype import GenotypeError
from nas_jax.spaces.nb201 import arch as nb201_arch
from nas_jax.spaces.nb201 import archnet
from nas_jax.spaces.nb201 import plot as cell_plot
from nas_jax.spaces.nb201.archnet import NB201ArchNetwork
from nas_jax.spaces.nb201.evalnet import NB201Cell, NB201Network, ResidualBlock
from nas_jax.spaces.nb201.genotype import (
    EDGES,
    NUM_EDGES,
    NUM_NODES,
    NB201Genotype,
    derive_genotype,
    edge_index,
    load,
    random_genotype,
    save_json,
)
from nas_jax.spaces.nb201.ops import NB201_PRIMITIVES, OPS, PARAMETER_FREE
from nas_jax.spaces.nb201.plot import plot_nb201_cell
from nas_jax.spaces.nb201.supernet import NB201SearchCell, NB201SearchNetwork


@register
@dataclasses.dataclass(frozen=True)
class NB201Space(base.Space):
  """The NB201 cell space for one op set (``none`` included or not).

  ``hash(arch)`` follows NB201's own isomorphism rule by default
  (:func:`nas_jax.spaces.nb201.arch.unique_str`: 6,466 classes of the
  15,625 cells), so that tables keyed by NB201's unique string line up;
  ``hash_rule='functional'`` is the stricter rule of
  :func:`nas_jax.spaces.nb201.arch.functional_str`.
  """

  primitives: tuple[str, ...] = NB201_PRIMITIVES
  hash_rule: str = 'nb201'

  name: ClassVar[str] = 'nb201'
  cells: ClassVar[tuple[str, ...]] = ('cell',)
  registry: ClassVar = OPS
  default_primitives: ClassVar[tuple[str, ...]] = NB201_PRIMITIVES
  parameter_free: ClassVar[frozenset[str]] = PARAMETER_FREE
  network_kinds: ClassVar[tuple[str, ...]] = ('nb201',)
  genotype_type: ClassVar[type] = NB201Genotype
  collapse_cells: ClassVar[tuple[str, ...]] = ('cell',)
  unroll_phases: ClassVar[bool] = True
  supernet_settings: ClassVar[tuple[str, ...]] = ()  # no depthwise convolutions
  evalnet_settings: ClassVar[tuple[str, ...]] = ('scan_cells',)
  layers_unit: ClassVar[str] = 'cells per stage'

  def __post_init__(self):
    super().__post_init__()
    if self.hash_rule not in nb201_arch.RULES:
      raise ValueError(
          f'unknown NB201 hash rule {self.hash_rule!r}; known: ' f'{", ".join(nb201_arch.RULES)}'
      )

  # --- the continuous side -------------------------------------------------------------------
  @property
  def num_edges(self) -> int:
    return NUM_EDGES

  def node_slices(self) -> list[tuple[int, int]]:
    starts = [edge_index(t, 0) for t in range(1, NUM_NODES)]
    return [(s, s + t) for s, t in zip(starts, range(1, NUM_NODES))]

  def derive(self, strengths: dict[str, Any]) -> NB201Genotype:
    """The argmax op of every edge (``none`` included)."""
    return derive_genotype(np.asarray(strengths['cell']), self.primitives)

  def one_hot(self, g: NB201Genotype) -> dict[str, np.ndarray]:
    w = np.zeros(self.shape(), np.float32)
    w[np.arange(NUM_EDGES), self.from_genotype(g)] = 1.0
    return {'cell': w}

  def supernet(self, num_classes: int, *, channels: int, layers: int, **options):
    """``NB201SearchNetwork`` with ``layers`` cells per stage (``options``:
    ``dw_conv``, ``scan``, ``mode``, ``partial``, ``aux_skip``)."""
    return NB201SearchNetwork(
        num_classes=num_classes,
        channels=channels,
        cells_per_stage=layers,
        primitives=self.primitives,
        **options,
    )

  def evalnet(self, g: NB201Genotype, num_classes: int, *, kind: str | None = None, **options):
    """``NB201Network`` (``options``: ``channels``, ``layers`` (cells per stage N),
    ``scan_cells``)."""
    if kind not in (None,) + self.network_kinds:
      raise ValueError(f'the nb201 space has the network kind nb201, got {kind!r}')
    if options.pop('auxiliary', False):
      raise ValueError('the NB201 network has no auxiliary head; build it with auxiliary=False')
    options.pop('dw_conv', None)  # no depthwise convolutions
    if 'layers' in options:
      options['cells_per_stage'] = options.pop('layers')
    return NB201Network(self.check_genotype(g), num_classes=num_classes, **options)

  def arch_network(self, num_classes: int, *, channels: int, layers: int, **options):
    """``NB201ArchNetwork``: ``net(x, arch, train)``, ``arch`` the 6 op indices (``options``:
    ``mode``, ``'masked'`` or ``'switch'``)."""
    return NB201ArchNetwork(
        num_classes=num_classes,
        channels=channels,
        cells_per_stage=layers,
        primitives=self.primitives,
        **options,
    )

  def evalnet_variables(self, variables: dict[str, Any], arch) -> dict[str, Any]:
    return archnet.evalnet_variables(variables, arch)

  def arch_variables_from_supernet(self, variables: dict[str, Any], template) -> dict[str, Any]:
    return archnet.from_supernet_variables(variables, template, self.primitives)

  # --- genotypes ----------------------------------------------------------------------------
  def check_genotype(self, g) -> NB201Genotype:
    if not isinstance(g, NB201Genotype):
      raise GenotypeError(f'the nb201 space needs an NB201Genotype, got {type(g).__name__}')
    return g

  def to_text(self, g: NB201Genotype) -> str:
    return self.check_genotype(g).to_string()

  def load_genotype(self, ref) -> NB201Genotype:
    """The ``|op~0|+...`` string form, or a file holding it or its JSON form."""
    return load(ref if isinstance(ref, NB201Genotype) else str(ref))

  def edges(self, g: NB201Genotype) -> list[tuple[str, int, int, str]]:
    """Node 0 is the cell input and nodes are 1-3."""
    return [('cell', t, s, op) for t, s, op in g.edges()]

  def plot(self, g: NB201Genotype, out_dir: str) -> list[str]:
    path = os.path.join(out_dir, 'cell.png')
    plot_nb201_cell(self.check_genotype(g), path)
    return [path]

  def plot_names(self) -> tuple[str, ...]:
    return ('cell.png',)

  def edge_rows(self, cell: str, num_edges: int) -> list[list[tuple[int, str]]]:
    return cell_plot.edge_rows(num_edges)

  def cell_title(self, cell: str) -> str:
    return 'NB201 cell'

  # --- search settings ------------------------------------------------------------------------
  def cost_sites(self, model, image_shape) -> list[base.CostSite]:
    """Each evaluation cell's 6 edges, all stride 1 at the cell's channels and size (read by
    tracing ``model``)."""
    from nas_jax import netstats  # pylint: disable=import-outside-toplevel

    cells = []

    def interceptor(next_fun, args, kwargs, context):
      m = context.module
      if isinstance(m, NB201Cell) and context.method_name == '__call__':
        cells.append((m.channels, tuple(args[0].shape[2:])))
      return next_fun(*args, **kwargs)

    netstats.trace(model, image_shape, interceptor)
    sites = []
    for c, size in cells:
      make = functools.partial(OPS.make, channels=c, stride=1, affine=True, module_name='op')
      sites.extend(base.CostSite('cell', e, make, (c, 1, *size)) for e in range(NUM_EDGES))
    return sites

  def partial_channels_unit(self, k: int) -> int:
    return k

  # --- discrete architectures -----------------------------------------------------------------
  @property
  def options(self) -> tuple[int, ...]:
    return nb201_arch.options(self.primitives)

  def to_genotype(self, arch: Sequence[int]) -> NB201Genotype:
    return nb201_arch.to_genotype(arch, self.primitives)

  def from_genotype(self, g: NB201Genotype) -> base.Arch:
    return nb201_arch.from_genotype(g, self.primitives)

  def hash(self, arch: Sequence[int]) -> str:
    return nb201_arch.hash(self.to_genotype(arch), self.hash_rule)

  def encode(self, arch: Sequence[int], kind: str = 'onehot') -> np.ndarray:
    self._check_encoding(kind)
    fn = nb201_arch.encode_onehot if kind == 'onehot' else nb201_arch.encode_path
    return fn(arch, self.primitives)


__all__ = [
    'EDGES',
    'NB201ArchNetwork',
    'NB201Cell',
    'NB201Genotype',
    'NB201Network',
    'NB201SearchCell',
    'NB201SearchNetwork',
    'NB201Space',
    'NB201_PRIMITIVES',
    'NUM_EDGES',
    'NUM_NODES',
    'OPS',
    'PARAMETER_FREE',
    'ResidualBlock',
    'derive_genotype',
    'edge_index',
    'load',
    'plot_nb201_cell',
    'random_genotype',
    'save_json',
]
