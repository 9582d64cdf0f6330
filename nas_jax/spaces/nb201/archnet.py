"""The NB201 evaluation network with the architecture as a call argument.

:class:`NB201ArchNetwork` holds the parameters of every candidate op on every
edge, and its call takes ``arch``, an int array of the op index of each of the
6 edges (``space.from_genotype`` order: ``EDGES``, indices into the op set).
Each edge runs only its chosen op (``nn.switch``), so one compiled program
trains any cell of the space: the cell is data, never a new trace. For
``arch = space.from_genotype(g)`` it computes the same function as
``NB201Network(g)`` when each edge's chosen-op parameters are the network's
(:func:`evalnet_variables` maps them; ``tests/test_tabular.py`` checks logits
and gradients).
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nas_jax import ops
from nas_jax.spaces.nb201.evalnet import trunk
from nas_jax.spaces.nb201.genotype import EDGES, NUM_NODES, edge_index
from nas_jax.spaces.nb201.ops import NB201_PRIMITIVES, OPS

__all__ = ['EDGE_MODES', 'NB201ArchNetwork', 'evalnet_variables']

EDGE_MODES = ('masked', 'switch')


class _Edge(nn.Module):
  """Every candidate op of one edge; the call runs the one at ``index``."""

  channels: int
  primitives: tuple[str, ...]
  train: bool
  mode: str = 'masked'

  def setup(self):
    self.ops = [self._make(k, name) for k, name in enumerate(self.primitives)]

  def _make(self, k: int, name: str) -> nn.Module:
    if self.mode == 'switch' and name == 'nor_conv_3x3':
      # the same op and parameters, as one matmul: XLA:CPU runs lax.conv inside a conditional
      # about 6x slower than at the top level
      return ops.ReLUConvBN(self.channels, 3, 1, True, conv_impl='im2col', name=f'op_{k}')
    return OPS.make(name, self.channels, 1, affine=True, module_name=f'op_{k}')

  def run(self, k: int, x: jax.Array) -> jax.Array:
    return self.ops[k](x, self.train)

  def __call__(self, x: jax.Array, index: jax.Array) -> jax.Array:
    if self.mode == 'masked':
      mask = jax.nn.one_hot(index, len(self.ops), dtype=x.dtype)
      total = jnp.zeros_like(x)
      for k, name in enumerate(self.primitives):
        if name != 'none':  # zeros either way
          total = total + mask[k] * self.run(k, x)
      return total
    branches = [functools.partial(lambda k, mdl, x: mdl.run(k, x), k) for k in range(len(self.ops))]
    if self.is_initializing():  # every candidate creates its variables
      for branch in branches:
        branch(self, x)
    return nn.switch(index, branches, self, x)


class _Cell(nn.Module):
  channels: int
  primitives: tuple[str, ...]
  train: bool
  mode: str

  @nn.compact
  def __call__(self, x: jax.Array, arch: jax.Array) -> jax.Array:
    states = [x]
    for t in range(1, NUM_NODES):
      total = None
      for s in range(t):
        e = edge_index(t, s)
        y = _Edge(self.channels, self.primitives, self.train, self.mode, name=f'edge_{s}_{t}')(
            states[s], arch[e]
        )
        total = y if total is None else total + y
      states.append(total)
    return states[-1]


class NB201ArchNetwork(nn.Module):
  """``NB201Network`` for every cell at once; ``__call__(x, arch, train)`` picks one.

  Attributes:
    num_classes: classifier outputs.
    channels: C of the first stage.
    cells_per_stage: N.
    primitives: the op set that ``arch`` indexes.
  """

  num_classes: int = 10
  channels: int = 16
  cells_per_stage: int = 5
  primitives: Sequence[str] = NB201_PRIMITIVES
  mode: str = 'switch'  # what the population trainer and the tabulate config use

  def __post_init__(self):
    super().__post_init__()
    if self.mode not in EDGE_MODES:
      raise ValueError(f'NB201ArchNetwork.mode must be one of {EDGE_MODES}, got {self.mode!r}')

  @nn.compact
  def __call__(self, x: jax.Array, arch: jax.Array, train: bool = False) -> jax.Array:
    """Args: x: NHWC images; arch: (6,) int op indices; train: batch statistics.
    Returns logits."""
    prims = tuple(self.primitives)

    def stage(x, index, c):
      for i in range(self.cells_per_stage):
        x = _Cell(c, prims, train, self.mode, name=f'cell_{index}_{i}')(x, arch)
      return x

    return trunk(x, train, self.channels, self.num_classes, stage)


def evalnet_variables(variables: dict[str, Any], arch: Sequence[int]) -> dict[str, Any]:
  """The ``NB201Network`` variables that compute what ``variables`` compute for ``arch``.

  Each ``cell_*/edge_s_t/op_k`` subtree with ``k = arch[e]`` becomes
  ``cell_*/edge_s_t``; the other candidates are dropped, and parameter-free
  ops leave no entry. Everything outside the cells is kept as is.
  """
  arch = [int(a) for a in arch]
  out = {}
  for collection, tree in variables.items():
    tree = dict(tree)
    new = {}
    for name, sub in tree.items():
      if not name.startswith('cell_'):
        new[name] = sub
        continue
      cell = {}
      for s, t in EDGES:
        chosen = sub.get(f'edge_{s}_{t}', {}).get(f'op_{arch[edge_index(t, s)]}')
        if chosen:
          cell[f'edge_{s}_{t}'] = chosen
      if cell:
        new[name] = cell
    out[collection] = new
  return out


def _edge_key(name: str, primitives) -> str:
  """The supernet's name of an arch-network candidate module ``op_k``."""
  return primitives[int(name[3:])]


def from_supernet_variables(supernet_variables, template, primitives):
  """The arch network's variables (``template``'s tree) from an NB201 supernet's (either
  mode): candidate ``op`` of an edge is ``op_k``; the supernet's cell BatchNorms are not
  affine, so their scale and bias are 1 and 0. One-line ValueError for a missing variable."""
  primitives = tuple(primitives)

  def source(path):
    names = [p.key for p in path]
    out = []
    for i, name in enumerate(names):
      if name.startswith('op_') and i > 0 and names[i - 1].startswith('edge_'):
        out.append(_edge_key(name, primitives))
      elif name == 'lastact_bn':
        out.append('last_bn')
      else:
        out.append(name)
    return out

  def lookup(tree, names):
    for name in names:
      if not isinstance(tree, dict) or name not in tree:
        return None
      tree = tree[name]
    return tree

  def one(path, leaf):
    names = source(path)
    got = lookup(supernet_variables, names)
    if got is None and len(names) > 3 and names[2].startswith('edge_'):  # 'hard' mode
      got = lookup(supernet_variables, names[:3] + ['candidates'] + names[3:])
    if got is None and names[0] == 'params' and names[-1] in ('scale', 'bias'):
      return (jnp.ones if names[-1] == 'scale' else jnp.zeros)(leaf.shape, leaf.dtype)
    if got is None:
      raise ValueError(f'the supernet has no variable for {"/".join(names)}')
    if tuple(got.shape) != tuple(leaf.shape):
      raise ValueError(f'{"/".join(names)}: supernet shape {got.shape}, arch network {leaf.shape}')
    return jnp.asarray(got, leaf.dtype)

  return jax.tree_util.tree_map_with_path(one, dict(template))
