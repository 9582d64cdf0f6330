"""The DARTS supernet: SearchCell and SearchNetwork.

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

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import ops
from nas_jax.spaces.darts.discretize import edge_index
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES
from nas_jax.spaces.darts.ops import OPS
from nas_jax.supernet import EdgeOptions, MixedOp, scan_edges, split_weights  # noqa: F401

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


class SearchCell(nn.Module):
  """A DARTS search cell: 2 inputs, ``steps`` nodes, output = concat of the last ``multiplier``.

  ``edge`` configures every ``MixedOp``. In ``'hard'`` mode every edge runs
  inside a scan, so that the op choice stays a real conditional (under
  ``vmap`` it would compute every branch).
  """

  channels: int
  reduction: bool
  reduction_prev: bool
  edge: EdgeOptions
  steps: int = 4
  multiplier: int = 4
  node_edges: str = 'scan'

  @nn.compact
  def __call__(
      self,
      s0: jax.Array,
      s1: jax.Array,
      weights: jax.Array,
      edge_scale: jax.Array | None = None,
      aux_coef: jax.Array | None = None,
  ) -> jax.Array:
    """Args: s0, s1: the two previous cell outputs (CNHW); weights: (E, K) op weights;
    edge_scale: optional (E,) edge output scales; aux_coef: the DARTS- skip coefficient."""
    c = self.channels
    train = self.edge.train
    if self.reduction_prev:
      s0 = ops.FactorizedReduce(c, affine=False, name='preprocess0')(s0, train)
    else:
      s0 = ops.ReLUConvBN(c, 1, 1, affine=False, name='preprocess0')(s0, train)
    s1 = ops.ReLUConvBN(c, 1, 1, affine=False, name='preprocess1')(s1, train)
    stride = 2 if self.reduction else 1
    if edge_scale is None:
      edge_scale = jnp.ones(weights.shape[:1], weights.dtype)
    aux = jnp.zeros((), s1.dtype) if aux_coef is None else aux_coef
    variable_axes = {'params': 0, 'batch_stats': 0}
    table = input_edge_table(self.steps)
    edges, src, tgt = node_edge_table(self.steps)
    if self.node_edges not in NODE_EDGES:
      raise ValueError(f'node_edges must be one of {NODE_EDGES}, got {self.node_edges!r}')
    hard = self.edge.mode == 'hard'

    if hard:
      h = -(-s1.shape[2] // stride)
      w = -(-s1.shape[3] // stride)
      nodes = jnp.zeros((self.steps, c, s1.shape[1], h, w), s1.dtype)
      in_src = np.repeat(np.arange(2), self.steps).astype(np.int32)
      in_tgt = np.tile(np.arange(self.steps), 2).astype(np.int32)
      flat = table.reshape(-1)
      nodes = scan_edges(
          self.edge,
          c,
          'input_edges',
          nodes,
          in_src,
          in_tgt,
          weights[flat],
          edge_scale[flat],
          inputs=jnp.stack([s0, s1]),
          stride=stride,
          aux_coef=aux,
      )
    else:
      # Input edges: outer vmap over the source (s0, s1), inner over the target node.
      per_node = nn.vmap(
          MixedOp,
          in_axes=(None, 0, 0, None),
          out_axes=0,
          variable_axes=variable_axes,
          split_rngs={'params': True},
          axis_size=self.steps,
      )
      per_source = nn.vmap(
          per_node,
          in_axes=(0, 0, 0, None),
          out_axes=0,
          variable_axes=variable_axes,
          split_rngs={'params': True},
          axis_size=2,
      )
      inputs = per_source(c, stride, self.edge, name='input_edges')(
          jnp.stack([s0, s1]), weights[table], edge_scale[table], aux
      )
      nodes = inputs[0] + inputs[1]  # (steps, C, N, H, W): each node's sum over its input edges

    if self.node_edges == 'unroll' and not hard:
      nodes = list(nodes)
      for j in range(self.steps - 1):  # node j is complete: run its edges to every later node
        mine = src == j
        per_target = nn.vmap(
            MixedOp,
            in_axes=(None, 0, 0, None),
            out_axes=0,
            variable_axes=variable_axes,
            split_rngs={'params': True},
            axis_size=int(mine.sum()),
        )
        ys = per_target(c, 1, self.edge, name=f'node{j}_edges')(
            nodes[j], weights[edges[mine]], edge_scale[edges[mine]], aux
        )
        for y, i in zip(ys, tgt[mine]):
          nodes[i] = nodes[i] + y
      nodes = jnp.stack(nodes)
    elif len(edges):
      nodes = scan_edges(
          self.edge,
          c,
          'node_edges',
          nodes,
          src,
          tgt,
          weights[edges],
          edge_scale[edges],
          aux_coef=aux,
      )
    kept = nodes[self.steps - self.multiplier :]
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
    dw_conv: the depthwise convolution factory (``nas_jax.ops.depthwise_conv``; None: the
      backend's default).
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
  primitives: Sequence[str] = DARTS_PRIMITIVES
  steps: int = 4
  multiplier: int = 4
  stem_multiplier: int = 3
  dw_conv: ops.ModuleDef | None = None
  node_edges: str = 'scan'
  remat: bool = False
  mode: str = 'weighted'
  partial: int = 1
  aux_skip: bool = False

  CELLS = ('normal', 'reduce')

  def reduction_layers(self) -> tuple[int, ...]:
    return (self.layers // 3, 2 * self.layers // 3)

  @nn.compact
  def __call__(
      self,
      x: jax.Array,
      weights: dict[str, Any],
      train: bool = True,
      aux_coef: jax.Array | None = None,
  ) -> jax.Array:
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
    edge = EdgeOptions(
        tuple(self.primitives),
        OPS,
        train,
        self.dw_conv,
        self.mode,
        self.partial,
        self.aux_skip,
        hard_others=False,  # the GDAS code's DARTS-space cell: only the sampled op's weight learns
    )
    cell_type = SearchCell
    if self.remat:
      policy = jax.checkpoint_policies.save_anything_except_these_names(ops.DEPTHWISE_ROWS)
      cell_type = nn.remat(SearchCell, policy=policy)
    for i in range(self.layers):
      reduction = i in self.reduction_layers()
      if reduction:
        c_curr *= 2
      cell = cell_type(
          c_curr,
          reduction,
          reduction_prev,
          edge,
          self.steps,
          self.multiplier,
          self.node_edges,
          name=f'cell_{i}',
      )
      ops_w, scale = split_weights(weights['reduce' if reduction else 'normal'])
      s0, s1 = s1, cell(s0, s1, ops_w, scale, aux_coef)
      reduction_prev = reduction
    out = jnp.mean(s1, axis=(2, 3)).T  # (N, C)
    return nn.Dense(self.num_classes, name='classifier')(out)
