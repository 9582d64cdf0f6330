"""The DARTS supernet: MixedOp, SearchCell and SearchNetwork as Flax modules.

The architecture parameters (alpha) live in their own variable collection,
``'arch'`` (``{'normal': (E, K), 'reduce': (E, K)}``), apart from the weights in
``'params'`` and the BatchNorm statistics in ``'batch_stats'``. Each collection
has its own optimizer in the bilevel search.

Compile time is a first-class requirement, so the cell is not unrolled edge by
edge (that design took 887 s to compile, see ``benchmarks/README.md``):

* The ``2 * steps`` edges from the two cell inputs are one op bank under a
  nested ``nn.vmap`` (outer: source, inner: target node). Work that does not
  depend on edge weights (ReLU of the input, pooling) stays unbatched, so it is
  computed once per source, not once per edge.
* The ``steps * (steps - 1) / 2`` node-to-node edges run as one ``nn.scan`` in
  topological order over a node buffer that each edge reads from and adds into
  (``node_edges='scan'``), or, with ``node_edges='unroll'``, as one vmapped
  op bank per source node over that node's later targets.

So with the scan the op bank is traced twice per cell whatever the number of
edges.

Edge order is DARTS': for node ``i`` and input ``j < 2 + i`` the edge index is
``i * (i + 3) / 2 + j`` (inputs 0 and 1 are the cell inputs).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import ops
from nas_jax.discretize import edge_index, num_edges

ARCH = 'arch'
NODE_EDGES = ('scan', 'unroll')  # how a cell runs its node-to-node edges (SearchNetwork.node_edges)


def input_edge_table(steps: int) -> np.ndarray:
  """Edge indices of the input edges as a ``(2, steps)`` table [source, node]."""
  return np.array([[edge_index(i, j) for i in range(steps)] for j in range(2)], np.int32)


def node_edge_table(steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(edge index, source node, target node) of the node-to-node edges, in topological order."""
  rows = [(edge_index(i, 2 + j), j, i) for i in range(steps) for j in range(i)]
  if not rows:
    return (np.zeros((0,), np.int32),) * 3
  edges, src, tgt = (np.array(c, np.int32) for c in zip(*rows))
  return edges, src, tgt


class MixedOp(nn.Module):
  """The softmax(alpha)-weighted sum of every candidate op on one edge."""
  channels: int
  stride: int
  primitives: Sequence[str]
  train: bool = True
  depthwise_impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, weights: jax.Array) -> jax.Array:
    """Args: x: CNHW input; weights: (num_ops,) op weights. Returns the mixed output."""
    _, n, h, w = x.shape
    out = jnp.zeros((self.channels, n, -(-h // self.stride), -(-w // self.stride)), x.dtype)
    for k, name in enumerate(self.primitives):
      if name == 'none':  # contributes w * 0; its alpha still enters the softmax
        continue
      y = ops.make_op(name, self.channels, self.stride, affine=False,
                      depthwise_impl=self.depthwise_impl, module_name=name)(x, self.train)
      out = out + weights[k].astype(y.dtype) * y
    return out


class _NodeEdge(nn.Module):
  """One scan step: read a node, run its mixed op, add into the target node."""
  channels: int
  primitives: Sequence[str]
  train: bool = True
  depthwise_impl: str = 'auto'

  @nn.compact
  def __call__(self, nodes: jax.Array, edge):
    src, tgt, weights = edge
    x = jax.lax.dynamic_index_in_dim(nodes, src, axis=0, keepdims=False)
    y = MixedOp(self.channels, 1, self.primitives, self.train, self.depthwise_impl,
                name='mixed_op')(x, weights)
    old = jax.lax.dynamic_index_in_dim(nodes, tgt, axis=0, keepdims=False)
    return jax.lax.dynamic_update_index_in_dim(nodes, old + y, tgt, axis=0), None


class SearchCell(nn.Module):
  """A DARTS search cell: 2 inputs, ``steps`` nodes, output = concat of the last ``multiplier``."""
  channels: int
  reduction: bool
  reduction_prev: bool
  primitives: Sequence[str]
  steps: int = 4
  multiplier: int = 4
  train: bool = True
  depthwise_impl: str = 'auto'
  node_edges: str = 'scan'

  @nn.compact
  def __call__(self, s0: jax.Array, s1: jax.Array, weights: jax.Array) -> jax.Array:
    """Args: s0, s1: the two previous cell outputs (CNHW); weights: (E, K) op weights."""
    c = self.channels
    if self.reduction_prev:
      s0 = ops.FactorizedReduce(c, affine=False, name='preprocess0')(s0, self.train)
    else:
      s0 = ops.ReLUConvBN(c, 1, 1, affine=False, name='preprocess0')(s0, self.train)
    s1 = ops.ReLUConvBN(c, 1, 1, affine=False, name='preprocess1')(s1, self.train)
    stride = 2 if self.reduction else 1
    variable_axes = {'params': 0, 'batch_stats': 0}

    # Input edges: outer vmap over the source (s0, s1), inner over the target node.
    per_node = nn.vmap(MixedOp, in_axes=(None, 0), out_axes=0, variable_axes=variable_axes,
                       split_rngs={'params': True}, axis_size=self.steps)
    per_source = nn.vmap(per_node, in_axes=(0, 0), out_axes=0, variable_axes=variable_axes,
                         split_rngs={'params': True}, axis_size=2)
    table = input_edge_table(self.steps)
    inputs = per_source(c, stride, tuple(self.primitives), self.train, self.depthwise_impl,
                        name='input_edges')(jnp.stack([s0, s1]), weights[table])
    nodes = inputs[0] + inputs[1]  # (steps, C, N, H, W): each node's sum over its input edges

    edges, src, tgt = node_edge_table(self.steps)
    if self.node_edges not in NODE_EDGES:
      raise ValueError(f'node_edges must be one of {NODE_EDGES}, got {self.node_edges!r}')
    if self.node_edges == 'unroll':
      nodes = list(nodes)
      for j in range(self.steps - 1):  # node j is complete: run its edges to every later node
        mine = src == j
        per_target = nn.vmap(MixedOp, in_axes=(None, 0), out_axes=0, variable_axes=variable_axes,
                             split_rngs={'params': True}, axis_size=int(mine.sum()))
        ys = per_target(c, 1, tuple(self.primitives), self.train, self.depthwise_impl,
                        name=f'node{j}_edges')(nodes[j], weights[edges[mine]])
        for y, i in zip(ys, tgt[mine]):
          nodes[i] = nodes[i] + y
      nodes = jnp.stack(nodes)
    elif len(edges):
      scan = nn.scan(_NodeEdge, variable_axes=variable_axes, split_rngs={'params': True},
                     in_axes=0, length=len(edges))
      nodes, _ = scan(c, tuple(self.primitives), self.train, self.depthwise_impl,
                      name='node_edges')(nodes, (jnp.asarray(src), jnp.asarray(tgt), weights[edges]))
    kept = nodes[self.steps - self.multiplier:]
    return kept.reshape((-1,) + kept.shape[2:])  # concatenated along channels (CNHW)


class SearchNetwork(nn.Module):
  """The DARTS search network: stem, ``layers`` cells (reductions at L/3, 2L/3), classifier.

  Attributes:
    num_classes: classifier outputs.
    channels: initial channels C (the stem has ``stem_multiplier * C``).
    layers: number of cells L.
    primitives: the candidate op names (the op set K).
    steps: intermediate nodes per cell.
    multiplier: how many of the last nodes the cell output concatenates.
    stem_multiplier: stem width factor.
    depthwise_impl: 'auto' | 'toeplitz' | 'shift' | 'grouped' (see ``nas_jax.ops``).
    node_edges: how the node-to-node edges run. 'scan' (one ``nn.scan`` over
      a node buffer: the op bank is traced once, fastest to compile) or
      'unroll' (one ``nn.vmap`` per source node over its target nodes: no
      buffer; measured 6 % faster per step at the paper size but twice the
      compile and init time, as the op bank is traced ``steps - 1`` more
      times). The parameter trees differ.
    remat: recompute the depthwise row taps (``ops.DEPTHWISE_ROWS``) in the
      backward pass instead of storing them (``nn.remat`` of each cell with
      a save-everything-else policy). Measured at the paper size: 11 %
      faster per step (less memory traffic), peak memory only 4 % lower.
  """
  num_classes: int
  channels: int = 16
  layers: int = 8
  primitives: Sequence[str] = ops.DARTS_PRIMITIVES
  steps: int = 4
  multiplier: int = 4
  stem_multiplier: int = 3
  depthwise_impl: str = 'auto'
  node_edges: str = 'scan'
  remat: bool = False

  def reduction_layers(self) -> tuple[int, ...]:
    return (self.layers // 3, 2 * self.layers // 3)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True, weights_normal: jax.Array | None = None,
               weights_reduce: jax.Array | None = None) -> jax.Array:
    """Runs the supernet.

    Args:
      x: NHWC images (the cells run channel-major, see ``nas_jax.ops``).
      train: batch statistics (True) or running statistics (False) in BatchNorm.
      weights_normal: optional (E, K) op weights for normal cells; default softmax(alpha).
      weights_reduce: likewise for reduction cells.

    Returns:
      Logits of shape (N, num_classes).
    """
    shape = (num_edges(self.steps), len(self.primitives))
    init = lambda: 1e-3 * jax.random.normal(self.make_rng('params'), shape)
    alpha_normal = self.variable(ARCH, 'normal', init)
    alpha_reduce = self.variable(ARCH, 'reduce', init)
    if weights_normal is None:
      weights_normal = jax.nn.softmax(alpha_normal.value, axis=-1)
    if weights_reduce is None:
      weights_reduce = jax.nn.softmax(alpha_reduce.value, axis=-1)

    c_curr = self.stem_multiplier * self.channels
    x = ops.Conv(c_curr, 3, name='stem_conv')(ops.to_cnhw(x))  # channel-major from here on
    x = ops.BatchNorm(affine=True, name='stem_bn')(x, train)
    s0 = s1 = x
    c_curr = self.channels
    reduction_prev = False
    cell_type = SearchCell
    if self.remat:
      policy = jax.checkpoint_policies.save_anything_except_these_names(ops.DEPTHWISE_ROWS)
      cell_type = nn.remat(SearchCell, policy=policy)
    for i in range(self.layers):
      reduction = i in self.reduction_layers()
      if reduction:
        c_curr *= 2
      cell = cell_type(c_curr, reduction, reduction_prev, tuple(self.primitives), self.steps,
                        self.multiplier, train, self.depthwise_impl, self.node_edges,
                        name=f'cell_{i}')
      s0, s1 = s1, cell(s0, s1, weights_reduce if reduction else weights_normal)
      reduction_prev = reduction
    out = jnp.mean(s1, axis=(2, 3)).T  # (N, C)
    return nn.Dense(self.num_classes, name='classifier')(out)
