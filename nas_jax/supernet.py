"""The supernets: MixedOp, SearchCell, SearchNetwork (DARTS space) and NB201SearchNetwork.

The architecture parameters (alpha) are not variables of these modules: every
call takes the op weights of each cell type (``{'normal': (E, K), 'reduce':
(E, K)}``, or ``{'cell': (6, K)}`` in NB201), which the search strategy
computes from alpha (``nas_jax.strategies``); alpha lives in the search state
with its own optimizer. The modules hold the weights (``'params'``) and the
BatchNorm statistics (``'batch_stats'``).

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

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import ops
from nas_jax.discretize import edge_index, num_edges

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


MODES = ('weighted', 'hard')  # how a mixed op combines its candidates (MixedOp.mode)


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
  """Interleaves ``groups`` equal channel blocks of CNHW ``x``: out[i * groups + g] = x[g * (C / groups) + i]."""
  c = x.shape[0]
  return x.reshape((groups, c // groups) + x.shape[1:]).swapaxes(0, 1).reshape(x.shape)


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max pooling with stride 2 of CNHW ``x`` (odd sizes: the last row/column is dropped)."""
  c, n, h, w = x.shape
  x = x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(c, n, h // 2, 2, w // 2, 2)
  return x.max(axis=(3, 5))


class _Candidates(nn.Module):
  """The candidate ops of one edge, for the hard (one-op) forward pass."""
  channels: int
  stride: int
  primitives: Sequence[str]
  train: bool = True
  depthwise_impl: str = 'auto'
  space: str = 'darts'

  def setup(self):
    self.ops = [ops.make_op(name, self.channels, self.stride, affine=False,
                            depthwise_impl=self.depthwise_impl, space=self.space)
                for name in self.primitives]

  def run(self, k: int, x: jax.Array) -> jax.Array:
    return self.ops[k](x, self.train)

  def __call__(self, x: jax.Array, index: jax.Array) -> jax.Array:
    branches = [functools.partial(lambda k, mdl, x: mdl.run(k, x), k)
                for k in range(len(self.primitives))]
    if self.is_initializing():  # every candidate creates its variables
      for branch in branches:
        branch(self, x)
    return nn.switch(index, branches, self, x)


class MixedOp(nn.Module):
  """One edge of the supernet: its candidate ops combined by the edge's op weights.

  Attributes:
    mode: ``'weighted'``: the weighted sum of every candidate (DARTS, SNAS,
      DrNAS, ...). ``'hard'``: only the candidate at ``argmax(weights)`` is
      computed (``nn.switch``; GDAS), and the output is
      ``w[k*] * op_k*(x) + sum_{k != k*} w[k]``: with straight-through
      one-hot weights the value is ``op_k*(x)`` and each weight gets the
      gradient it would get from the weighted sum, except that an op that
      was not computed contributes the constant 1 per output element in
      place of its output (GDAS' estimator).
    partial: PC-DARTS partial channels K: the first ``C/K`` channels go
      through the candidates, the rest bypass them (2x2 max pooled at stride
      2), then the channels are shuffled in K groups. 1: every channel.
    aux_skip: DARTS-: add ``aux_coef * skip(x)`` (identity, or a factorized
      reduce at stride 2) to the edge output.
    space: which op registry builds the candidates (``ops.SPACE_OPS``).
  """
  channels: int
  stride: int
  primitives: Sequence[str]
  train: bool = True
  depthwise_impl: str = 'auto'
  mode: str = 'weighted'
  partial: int = 1
  aux_skip: bool = False
  space: str = 'darts'

  @nn.compact
  def __call__(self, x: jax.Array, weights: jax.Array, edge_scale: jax.Array | None = None,
               aux_coef: jax.Array | None = None) -> jax.Array:
    """Args: x: CNHW input; weights: (num_ops,) op weights; edge_scale: optional scalar
    multiplying the edge output (PC-DARTS' edge normalization); aux_coef: the DARTS-
    skip coefficient (only with ``aux_skip``). Returns the edge output."""
    if self.mode not in MODES:
      raise ValueError(f'MixedOp.mode must be one of {MODES}, got {self.mode!r}')
    k = self.partial
    c = self.channels // k
    xa = x if k == 1 else x[:c]
    _, n, h, w = xa.shape
    s = self.stride
    if self.mode == 'hard':
      index = jnp.argmax(weights)
      y = _Candidates(c, s, tuple(self.primitives), self.train, self.depthwise_impl, self.space,
                      name='candidates')(xa, index)
      chosen = weights[index]
      y = chosen.astype(y.dtype) * y + (jnp.sum(weights) - chosen).astype(y.dtype)
    else:
      y = jnp.zeros((c, n, -(-h // s), -(-w // s)), x.dtype)
      for i, name in enumerate(self.primitives):
        if name == 'none':  # contributes w * 0; its weight still enters the normalization
          continue
        op = ops.make_op(name, c, s, affine=False, depthwise_impl=self.depthwise_impl,
                         module_name=name, space=self.space)
        out = op(xa, self.train)
        y = y + weights[i].astype(out.dtype) * out
    if k > 1:
      rest = x[c:] if s == 1 else max_pool_2x2(x[c:])
      y = channel_shuffle(jnp.concatenate([y, rest], axis=0), k)
    if edge_scale is not None:
      y = edge_scale.astype(y.dtype) * y
    if self.aux_skip:
      skip = (ops.Identity(name='aux_skip') if s == 1 else
              ops.FactorizedReduce(self.channels, affine=False, name='aux_skip'))
      y = y + jnp.asarray(aux_coef, y.dtype) * skip(x, self.train)
    return y


class _ScanEdge(nn.Module):
  """One scan step over edges: read a source, run its mixed op, add into the target node.

  The source is read from the node buffer itself (node-to-node edges) or,
  with ``from_inputs``, from the broadcast cell inputs (input edges, which
  may have stride 2).
  """
  channels: int
  stride: int
  primitives: Sequence[str]
  train: bool = True
  depthwise_impl: str = 'auto'
  mode: str = 'weighted'
  partial: int = 1
  aux_skip: bool = False
  space: str = 'darts'
  from_inputs: bool = False

  @nn.compact
  def __call__(self, nodes: jax.Array, edge, inputs: jax.Array, aux_coef: jax.Array):
    src, tgt, weights, scale = edge
    x = jax.lax.dynamic_index_in_dim(inputs if self.from_inputs else nodes, src, axis=0,
                                     keepdims=False)
    y = MixedOp(self.channels, self.stride, self.primitives, self.train, self.depthwise_impl,
                self.mode, self.partial, self.aux_skip, self.space,
                name='mixed_op')(x, weights, scale, aux_coef)
    old = jax.lax.dynamic_index_in_dim(nodes, tgt, axis=0, keepdims=False)
    return jax.lax.dynamic_update_index_in_dim(nodes, old + y, tgt, axis=0), None


def scan_edges(module: nn.Module, name: str, nodes: jax.Array, src, tgt, weights: jax.Array,
               scale: jax.Array, *, inputs: jax.Array | None = None, stride: int = 1,
               aux_coef: jax.Array | None = None) -> jax.Array:
  """Runs edges ``src[e] -> tgt[e]`` in order as one ``nn.scan`` over a node buffer.

  ``module`` supplies the MixedOp settings (its fields of the same names).
  With ``inputs``, sources index ``inputs`` instead of ``nodes``.
  """
  scan = nn.scan(_ScanEdge, variable_axes={'params': 0, 'batch_stats': 0},
                 split_rngs={'params': True}, in_axes=(0, nn.broadcast, nn.broadcast),
                 length=len(src))
  aux = jnp.zeros((), nodes.dtype) if aux_coef is None else aux_coef
  src_in = nodes[:1] if inputs is None else inputs
  return scan(module.channels, stride, tuple(module.primitives), module.train,
              module.depthwise_impl, module.mode, module.partial, module.aux_skip, module.space,
              inputs is not None, name=name)(
                  nodes, (jnp.asarray(src), jnp.asarray(tgt), weights, scale), src_in, aux)[0]


class SearchCell(nn.Module):
  """A DARTS search cell: 2 inputs, ``steps`` nodes, output = concat of the last ``multiplier``.

  ``mode``, ``partial`` and ``aux_skip`` are passed to every ``MixedOp``.
  In ``'hard'`` mode every edge runs inside a scan, so that the op choice
  stays a real conditional (under ``vmap`` it would compute every branch).
  """
  channels: int
  reduction: bool
  reduction_prev: bool
  primitives: Sequence[str]
  steps: int = 4
  multiplier: int = 4
  train: bool = True
  depthwise_impl: str = 'auto'
  node_edges: str = 'scan'
  mode: str = 'weighted'
  partial: int = 1
  aux_skip: bool = False
  space: str = 'darts'

  @nn.compact
  def __call__(self, s0: jax.Array, s1: jax.Array, weights: jax.Array,
               edge_scale: jax.Array | None = None, aux_coef: jax.Array | None = None) -> jax.Array:
    """Args: s0, s1: the two previous cell outputs (CNHW); weights: (E, K) op weights;
    edge_scale: optional (E,) edge output scales; aux_coef: the DARTS- skip coefficient."""
    c = self.channels
    if self.reduction_prev:
      s0 = ops.FactorizedReduce(c, affine=False, name='preprocess0')(s0, self.train)
    else:
      s0 = ops.ReLUConvBN(c, 1, 1, affine=False, name='preprocess0')(s0, self.train)
    s1 = ops.ReLUConvBN(c, 1, 1, affine=False, name='preprocess1')(s1, self.train)
    stride = 2 if self.reduction else 1
    if edge_scale is None:
      edge_scale = jnp.ones(weights.shape[:1], weights.dtype)
    aux = jnp.zeros((), s1.dtype) if aux_coef is None else aux_coef
    variable_axes = {'params': 0, 'batch_stats': 0}
    table = input_edge_table(self.steps)
    edges, src, tgt = node_edge_table(self.steps)
    if self.node_edges not in NODE_EDGES:
      raise ValueError(f'node_edges must be one of {NODE_EDGES}, got {self.node_edges!r}')
    mixed = (tuple(self.primitives), self.train, self.depthwise_impl, self.mode, self.partial,
             self.aux_skip, self.space)

    if self.mode == 'hard':
      h = -(-s1.shape[2] // stride)
      w = -(-s1.shape[3] // stride)
      nodes = jnp.zeros((self.steps, c, s1.shape[1], h, w), s1.dtype)
      in_src = np.repeat(np.arange(2), self.steps).astype(np.int32)
      in_tgt = np.tile(np.arange(self.steps), 2).astype(np.int32)
      flat = table.reshape(-1)
      nodes = scan_edges(self, 'input_edges', nodes, in_src, in_tgt, weights[flat],
                         edge_scale[flat], inputs=jnp.stack([s0, s1]), stride=stride,
                         aux_coef=aux)
    else:
      # Input edges: outer vmap over the source (s0, s1), inner over the target node.
      per_node = nn.vmap(MixedOp, in_axes=(None, 0, 0, None), out_axes=0,
                         variable_axes=variable_axes, split_rngs={'params': True},
                         axis_size=self.steps)
      per_source = nn.vmap(per_node, in_axes=(0, 0, 0, None), out_axes=0,
                           variable_axes=variable_axes, split_rngs={'params': True}, axis_size=2)
      inputs = per_source(c, stride, *mixed, name='input_edges')(
          jnp.stack([s0, s1]), weights[table], edge_scale[table], aux)
      nodes = inputs[0] + inputs[1]  # (steps, C, N, H, W): each node's sum over its input edges

    if self.node_edges == 'unroll' and self.mode != 'hard':
      nodes = list(nodes)
      for j in range(self.steps - 1):  # node j is complete: run its edges to every later node
        mine = src == j
        per_target = nn.vmap(MixedOp, in_axes=(None, 0, 0, None), out_axes=0,
                             variable_axes=variable_axes, split_rngs={'params': True},
                             axis_size=int(mine.sum()))
        ys = per_target(c, 1, *mixed, name=f'node{j}_edges')(
            nodes[j], weights[edges[mine]], edge_scale[edges[mine]], aux)
        for y, i in zip(ys, tgt[mine]):
          nodes[i] = nodes[i] + y
      nodes = jnp.stack(nodes)
    elif len(edges):
      nodes = scan_edges(self, 'node_edges', nodes, src, tgt, weights[edges], edge_scale[edges],
                         aux_coef=aux)
    kept = nodes[self.steps - self.multiplier:]
    return kept.reshape((-1,) + kept.shape[2:])  # concatenated along channels (CNHW)


class SearchNetwork(nn.Module):
  """The DARTS search network: stem, ``layers`` cells (reductions at L/3, 2L/3), classifier.

  The architecture is not a variable of the network: each call takes the op
  weights of both cell types (computed from the architecture parameters by a
  search strategy, see ``nas_jax.strategies``).

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
    mode, partial, aux_skip: passed to every ``MixedOp`` (see there).
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
  mode: str = 'weighted'
  partial: int = 1
  aux_skip: bool = False

  CELLS = ('normal', 'reduce')

  def reduction_layers(self) -> tuple[int, ...]:
    return (self.layers // 3, 2 * self.layers // 3)

  @nn.compact
  def __call__(self, x: jax.Array, weights: dict[str, Any], train: bool = True,
               aux_coef: jax.Array | None = None) -> jax.Array:
    """Runs the supernet.

    Args:
      x: NHWC images (the cells run channel-major, see ``nas_jax.ops``).
      weights: ``{'normal': w, 'reduce': w}`` where each ``w`` is an (E, K)
        op-weight array or a pair ``(op weights (E, K), edge scales (E,))``.
      train: batch statistics (True) or running statistics (False) in BatchNorm.
      aux_coef: the DARTS- skip coefficient (with ``aux_skip``).

    Returns:
      Logits of shape (N, num_classes).
    """
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
                       self.multiplier, train, self.depthwise_impl, self.node_edges, self.mode,
                       self.partial, self.aux_skip, name=f'cell_{i}')
      ops_w, scale = split_weights(weights['reduce' if reduction else 'normal'])
      s0, s1 = s1, cell(s0, s1, ops_w, scale, aux_coef)
      reduction_prev = reduction
    out = jnp.mean(s1, axis=(2, 3)).T  # (N, C)
    return nn.Dense(self.num_classes, name='classifier')(out)


def split_weights(w) -> tuple[jax.Array, jax.Array | None]:
  """An (E, K) array, or an (op weights, edge scales) pair -> the pair (scales None if absent)."""
  if isinstance(w, (tuple, list)):
    return w[0], w[1]
  return w, None


class NB201SearchCell(nn.Module):
  """A NAS-Bench-201 search cell: node 0 is the input, nodes 1-3 sum their mixed input edges.

  The 6 edges (``nb201.EDGES``, row ``k`` of the (6, K) weights) run as one
  ``nn.scan`` over the 4-node buffer; the output is node 3. As a scan step it
  maps ``(x, None) -> (y, None)`` so that a stage's cells can be scanned too.
  """
  channels: int
  primitives: Sequence[str]
  train: bool = True
  depthwise_impl: str = 'auto'
  mode: str = 'weighted'
  partial: int = 1
  aux_skip: bool = False
  space: str = 'nb201'
  scan: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, weights: jax.Array, edge_scale: jax.Array | None = None,
               aux_coef: jax.Array | None = None):
    from nas_jax import nb201
    if edge_scale is None:
      edge_scale = jnp.ones(weights.shape[:1], weights.dtype)
    if not self.scan:
      nodes = [x]
      for t in range(1, nb201.NUM_NODES):
        total = 0
        for s in range(t):
          e = nb201.edge_index(t, s)
          total = total + MixedOp(self.channels, 1, tuple(self.primitives), self.train,
                                  self.depthwise_impl, self.mode, self.partial, self.aux_skip,
                                  self.space, name=f'edge_{s}_{t}')(
                                      nodes[s], weights[e], edge_scale[e], aux_coef)
        nodes.append(total)
      return nodes[-1]
    src = np.array([s for s, _ in nb201.EDGES], np.int32)
    tgt = np.array([t for _, t in nb201.EDGES], np.int32)
    nodes = jnp.zeros((nb201.NUM_NODES,) + x.shape, x.dtype).at[0].set(x)
    nodes = scan_edges(self, 'edges', nodes, src, tgt, weights, edge_scale, aux_coef=aux_coef)
    return nodes[nb201.NUM_NODES - 1]


class _StageCell(nn.Module):
  """One scan step over a stage's cells (the op weights are broadcast)."""
  cell: dict

  @nn.compact
  def __call__(self, x, weights, edge_scale, aux_coef):
    return NB201SearchCell(**self.cell, name='cell')(x, weights, edge_scale, aux_coef), None


class NB201SearchNetwork(nn.Module):
  """The NAS-Bench-201 supernet: stem, 3 stages of N search cells, residual blocks between.

  Stem (3x3 conv to C, affine BN); N cells at C, a stride-2 residual block
  (``nb201.ResidualBlock``), N cells at 2C, another block, N cells at 4C;
  BN, ReLU, global average pooling, linear. The cells share one (6, K) op
  weight array, ``weights['cell']``; their BatchNorms are not affine, the
  blocks' are. A stage's cells run as one ``nn.scan`` (one trace per stage).

  Attributes:
    num_classes: classifier outputs.
    channels: C.
    cells_per_stage: N (5 in the benchmark).
    primitives: the op set (``ops.NB201_PRIMITIVES``).
    mode, partial, aux_skip: passed to every ``MixedOp``.
  """
  num_classes: int
  channels: int = 16
  cells_per_stage: int = 5
  primitives: Sequence[str] = ops.NB201_PRIMITIVES
  depthwise_impl: str = 'auto'
  mode: str = 'weighted'
  partial: int = 1
  aux_skip: bool = False
  scan: bool = False

  CELLS = ('cell',)

  @nn.compact
  def __call__(self, x: jax.Array, weights: dict[str, Any], train: bool = True,
               aux_coef: jax.Array | None = None) -> jax.Array:
    """Args: x: NHWC images; weights: ``{'cell': (6, K)}`` or ``{'cell': ((6, K), (6,))}``.
    Returns logits (N, num_classes)."""
    from nas_jax import nb201
    ops_w, scale = split_weights(weights['cell'])
    if scale is None:
      scale = jnp.ones(ops_w.shape[:1], ops_w.dtype)
    aux = jnp.zeros((), jnp.float32) if aux_coef is None else jnp.asarray(aux_coef, jnp.float32)
    x = ops.Conv(self.channels, 3, name='stem_conv')(ops.to_cnhw(x))
    x = ops.BatchNorm(affine=True, name='stem_bn')(x, train)
    c = self.channels
    for stage in range(3):
      if stage:
        c *= 2
        x = nb201.ResidualBlock(c, train, name=f'reduce_{stage}')(x)
      cell = dict(channels=c, primitives=tuple(self.primitives), train=train,
                  depthwise_impl=self.depthwise_impl, mode=self.mode, partial=self.partial,
                  aux_skip=self.aux_skip, scan=self.scan)
      if not self.scan:
        for i in range(self.cells_per_stage):
          x = NB201SearchCell(**cell, name=f'cell_{stage}_{i}')(x, ops_w, scale, aux)
        continue
      scan = nn.scan(_StageCell, variable_axes={'params': 0, 'batch_stats': 0},
                     split_rngs={'params': True},
                     in_axes=(nn.broadcast, nn.broadcast, nn.broadcast),
                     length=self.cells_per_stage)
      x, _ = scan(cell, name=f'cells_{stage}')(x, ops_w, scale, aux)
    x = nn.relu(ops.BatchNorm(affine=True, name='last_bn')(x, train))
    out = jnp.mean(x, axis=(2, 3)).T
    return nn.Dense(self.num_classes, name='classifier')(out)
