"""The ``Space`` interface: everything a search space means, behind one object.

A space is a frozen dataclass (hashable, so a Flax module or a jitted
function can hold it) built for one op set. Two views of an architecture
meet here:

* the **genotype** (``space.genotype_type``): the cell a search derives, a
  retraining builds and a file stores, with its text and JSON forms;
* the **arch**: a tuple of integer decisions, one per entry of
  ``space.options`` (the number of values each decision takes). Discrete
  search samples, mutates, enumerates, encodes and hashes archs;
  :meth:`Space.to_genotype` and :meth:`Space.from_genotype` convert.

The continuous side of a space is the op-strength array ``{cell: (E, K)}``
(``space.cells``, ``space.shape()``): the supernet takes it
(:meth:`Space.supernet`), :meth:`Space.derive` reads a genotype off it, and
:meth:`Space.one_hot` is the array under which the supernet computes exactly
one genotype.

The generic decision operations (``size``, ``sample``, ``mutate``,
``neighbours``, ``enumerate``) are implemented here once, on
``options``; random ones take an explicit PRNG key, and nothing mutates
its argument. A subclass supplies the rest. A new space is one package
under ``nas_jax/spaces/`` whose ``__init__`` defines a subclass and calls
:func:`nas_jax.spaces.register`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import dataclasses
import functools
import hashlib
from typing import Any, ClassVar

import numpy as np

from nas_jax import ops
from nas_jax.spaces import decisions

Arch = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class CostSite:
  """One edge of one cell of an evaluation network: ``make_op(name)`` is the module the op
  ``name`` becomes there, applied as ``op(x, train)`` to a CNHW input of ``input_shape``
  (batch 1)."""

  cell: str
  edge: int
  make_op: Any
  input_shape: tuple[int, ...]


def digest(text: str) -> str:
  """The 16-hex-digit SHA-1 prefix of ``text``: the short, stable form of a canonical string."""
  return hashlib.sha1(text.encode('utf-8')).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Space:
  """A search space for one op set. Subclasses set the class attributes and the methods below.

  Attributes:
    primitives: the op set K, in alpha column order (a subset of the space's
      registry, in any order; the space in its own right: ``size``,
      ``enumerate``, ``hash`` and ``sample`` honour it).
  """

  primitives: tuple[str, ...]

  name: ClassVar[str] = ''
  cells: ClassVar[tuple[str, ...]] = ()  # cell types, one (E, K) op-strength array each
  registry: ClassVar[ops.OpRegistry]
  default_primitives: ClassVar[tuple[str, ...]] = ()
  parameter_free: ClassVar[frozenset[str]] = frozenset()
  network_kinds: ClassVar[tuple[str, ...]] = ()  # evaluation networks, the first the default
  genotype_type: ClassVar[type] = object
  collapse_cells: ClassVar[tuple[str, ...]] = ()  # the cells the collapse counts look at
  encodings: ClassVar[tuple[str, ...]] = ('onehot', 'path')

  def __post_init__(self):
    object.__setattr__(self, 'primitives', self.registry.validate(self.primitives))

  # --- the continuous side -------------------------------------------------------------------
  @property
  def num_edges(self) -> int:
    raise NotImplementedError

  def shape(self) -> tuple[int, int]:
    """The op-strength array of one cell type: ``(E, K)``."""
    return (self.num_edges, len(self.primitives))

  def node_slices(self) -> list[tuple[int, int]]:
    """The edge rows of each intermediate node's inputs, ``[(start, end), ...]``."""
    raise NotImplementedError

  def derive(self, strengths: dict[str, Any]):
    """The genotype read off per-edge op strengths ``{cell: (E, K)}`` (final, no softmax)."""
    raise NotImplementedError

  def one_hot(self, genotype) -> dict[str, np.ndarray]:
    """``{cell: (E, K)}`` op weights under which the supernet computes exactly ``genotype``."""
    raise NotImplementedError

  def supernet(self, num_classes: int, *, channels: int, layers: int, **options):
    """The Flax supernet of this space (``options``: the strategy's network options and
    the space's own settings, e.g. ``dw_conv``)."""
    raise NotImplementedError

  def evalnet(self, genotype, num_classes: int, *, kind: str | None = None, **options):
    """The evaluation network of ``genotype`` (``kind``: one of ``network_kinds``)."""
    raise NotImplementedError

  # --- genotypes ----------------------------------------------------------------------------
  def arch_network(self, num_classes: int, *, channels: int, layers: int, **options):
    """The evaluation network with the arch as a call argument: ``net(x, arch, train)``.

    It holds every candidate op and runs the chosen ones, so one compiled program
    trains any architecture (``nas_jax.tabular``). For ``arch`` it computes what
    :meth:`evalnet` of ``to_genotype(arch)`` computes, under the variables that
    :meth:`evalnet_variables` maps.
    """
    raise NotImplementedError(
        f'the {self.name} space has no arch network yet: the population trainer and the '
        'tabular builder need one'
    )

  def evalnet_variables(self, variables: dict[str, Any], arch) -> dict[str, Any]:
    """The :meth:`evalnet` variables equal to the :meth:`arch_network` ``variables`` at ``arch``."""
    raise NotImplementedError(f'the {self.name} space has no arch network yet')

  def arch_variables_from_supernet(self, variables: dict[str, Any], template) -> dict[str, Any]:
    """The :meth:`arch_network` variables (``template``'s tree) under which it computes the
    :meth:`supernet` of ``variables`` with a cell's one-hot op weights."""
    raise ValueError(f'the {self.name} space maps no supernet into its arch network')

  def check_genotype(self, genotype):
    """``genotype`` if it is this space's type and uses only this space's ops (GenotypeError)."""
    raise NotImplementedError

  def to_text(self, genotype) -> str:
    """The genotype's text form (what ``genotype.txt`` holds)."""
    raise NotImplementedError

  def load_genotype(self, ref):
    """A genotype from a published name, its text form or a file (GenotypeError, one line)."""
    raise NotImplementedError

  def edges(self, genotype) -> list[tuple[str, int, int, str]]:
    """``(cell type, node, input, op)`` of every edge a genotype keeps."""
    raise NotImplementedError

  def plot(self, genotype, out_dir: str) -> list[str]:
    """Draws the genotype's cells as PNGs in ``out_dir``; returns their paths."""
    raise NotImplementedError

  def plot_names(self) -> tuple[str, ...]:
    """The file names :meth:`plot` writes."""
    raise NotImplementedError

  def edge_rows(self, cell: str, num_edges: int) -> list[list[tuple[int, str]]]:
    """The panel layout of a cell's alpha history: a row per node, ``(edge row, label)``
    per input edge; a ValueError naming the edge count if it does not fit."""
    raise NotImplementedError

  def cell_title(self, cell: str) -> str:
    return f'{cell} cell'

  def cost_sites(self, model, image_shape: tuple[int, int, int]) -> list[CostSite]:
    """Every (cell, edge) place of the evaluation network ``model`` (built by :meth:`evalnet`
    for any genotype: the places do not depend on it) where an op of the op set can sit, with
    the op module it would be and its input shape (``nas_jax.costs`` counts them)."""
    raise NotImplementedError(f'the {self.name} space has no cost sites')

  # --- search settings ------------------------------------------------------------------------
  unroll_phases: ClassVar[bool] = False
  """Whether ``phase_loop='auto'`` unrolls the bilevel phases (cells of real convolutions)."""

  # --- the networks' settings (a launcher reads them from its config, nas_jax.components) ------
  supernet_settings: ClassVar[tuple[str, ...]] = ()
  """The :meth:`supernet` keyword settings a search sets, besides ``channels``, ``layers`` and
  the strategy's mixed-op options."""

  evalnet_settings: ClassVar[tuple[str, ...]] = ()
  """The :meth:`evalnet` keyword settings a retraining sets, besides ``channels`` and
  ``layers`` (``auxiliary``: the network has an auxiliary head)."""

  drop_path: ClassVar[bool] = False
  """Whether the evaluation network takes a drop-path probability."""

  layers_unit: ClassVar[str] = 'cells'
  """What ``layers`` counts, for log lines (NB201: cells per stage)."""

  def check_network(self, channels: int, **settings) -> None:
    """A one-line ValueError, starting with the setting's name, for network settings this
    space cannot build (``channels``, or one of :attr:`supernet_settings`)."""
    del channels, settings

  def partial_channels_unit(self, k: int) -> int:
    """The multiple ``channels`` must be of with PC-DARTS' partial channels ``k``."""
    return k

  # --- discrete architectures -----------------------------------------------------------------
  @property
  def options(self) -> tuple[int, ...]:
    """The number of values of each decision."""
    raise NotImplementedError

  def to_genotype(self, arch: Sequence[int]):
    raise NotImplementedError

  def from_genotype(self, genotype) -> Arch:
    raise NotImplementedError

  def hash(self, arch: Sequence[int]) -> str:
    """A canonical digest, equal for isomorphic architectures (the rule: the subclass)."""
    raise NotImplementedError

  def encode(self, arch: Sequence[int], kind: str = 'onehot') -> np.ndarray:
    """A float32 feature vector of ``arch``: ``'onehot'`` (op/adjacency) or ``'path'`` (BANANAS)."""
    raise NotImplementedError

  def _check_encoding(self, kind: str) -> None:
    if kind not in self.encodings:
      raise ValueError(
          f'unknown encoding {kind!r} for the {self.name} space; known: '
          f'{", ".join(self.encodings)}'
      )

  def size(self) -> int:
    """The number of architectures (distinct decision vectors; see :meth:`hash` for classes)."""
    return decisions.size(self.options)

  def sample(self, key, n: int) -> list[Arch]:
    """``n`` architectures, each decision uniform and independent, from PRNG ``key``."""
    return decisions.sample(key, self.options, n)

  def mutate(self, key, arch: Sequence[int]) -> Arch:
    """``arch`` with exactly one decision changed to a different value, uniformly."""
    return decisions.mutate(key, tuple(arch), self.options)

  def neighbours(self, arch: Sequence[int]) -> list[Arch]:
    """Every one-decision change of ``arch`` (``sum(options - 1)`` of them)."""
    return decisions.neighbours(tuple(arch), self.options)

  def enumerate(self) -> Iterator[Arch]:
    """Every architecture, lazily, in lexicographic decision order."""
    return decisions.enumerate_all(self.options)

  def index(self, arch: Sequence[int]) -> int:
    """The position of ``arch`` in :meth:`enumerate`'s order."""
    return decisions.index(tuple(arch), self.options)

  def from_index(self, i: int) -> Arch:
    return decisions.from_index(i, self.options)

  def unique(self) -> dict[str, Arch]:
    """``{hash: first arch}`` over the whole space (finite, enumerable spaces only)."""
    out: dict[str, Arch] = {}
    for arch in self.enumerate():
      out.setdefault(self.hash(arch), arch)
    return out

  def class_index(self) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(ids, hashes)``: ``ids[space.index(arch)]`` is the isomorphism class of every arch
    (int32, classes numbered in order of first appearance) and ``hashes[c]`` the class's
    :meth:`hash`. Computed once per space (every arch enumerated and hashed) and cached, so
    a table's row index and a search's class ids share it."""
    return _class_index(self)


@functools.lru_cache(maxsize=8)
def _class_index(space: Space) -> tuple[np.ndarray, tuple[str, ...]]:
  ids, classes = np.empty(space.size(), np.int32), {}
  for i, arch in enumerate(space.enumerate()):
    ids[i] = classes.setdefault(space.hash(arch), len(classes))
  ids.flags.writeable = False
  return ids, tuple(classes)


__all__ = ['Arch', 'Space', 'digest']
