"""The NAS-Bench-201 supernet: NB201SearchCell and NB201SearchNetwork."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import ops
from nas_jax.spaces.nb201.evalnet import trunk
from nas_jax.spaces.nb201.genotype import EDGES, NUM_NODES, edge_index
from nas_jax.spaces.nb201.ops import NB201_PRIMITIVES, OPS
from nas_jax.supernet import EdgeOptions, MixedOp, scan_edges, split_weights


class NB201SearchCell(nn.Module):
  """A NAS-Bench-201 search cell: node 0 is the input, nodes 1-3 sum their mixed input edges.

  The 6 edges (``EDGES``, row ``k`` of the (6, K) weights) run unrolled, or
  with ``scan`` as one ``nn.scan`` over the 4-node buffer; the output is
  node 3.
  """

  channels: int
  edge: EdgeOptions
  scan: bool = False

  @nn.compact
  def __call__(
      self,
      x: jax.Array,
      weights: jax.Array,
      edge_scale: jax.Array | None = None,
      aux_coef: jax.Array | None = None,
  ):
    if edge_scale is None:
      edge_scale = jnp.ones(weights.shape[:1], weights.dtype)
    if not self.scan:
      nodes = [x]
      for t in range(1, NUM_NODES):
        total = 0
        for s in range(t):
          e = edge_index(t, s)
          total = total + MixedOp(self.channels, 1, self.edge, name=f'edge_{s}_{t}')(
              nodes[s], weights[e], edge_scale[e], aux_coef
          )
        nodes.append(total)
      return nodes[-1]
    src = np.array([s for s, _ in EDGES], np.int32)
    tgt = np.array([t for _, t in EDGES], np.int32)
    nodes = jnp.zeros((NUM_NODES,) + x.shape, x.dtype).at[0].set(x)
    nodes = scan_edges(
        self.edge, self.channels, 'edges', nodes, src, tgt, weights, edge_scale, aux_coef=aux_coef
    )
    return nodes[NUM_NODES - 1]


class _StageCell(nn.Module):
  """One scan step over a stage's cells (the op weights are broadcast)."""

  channels: int
  edge: EdgeOptions

  @nn.compact
  def __call__(self, x, weights, edge_scale, aux_coef):
    return (
        NB201SearchCell(self.channels, self.edge, scan=True, name='cell')(
            x, weights, edge_scale, aux_coef
        ),
        None,
    )


class NB201SearchNetwork(nn.Module):
  """The NAS-Bench-201 supernet: stem, 3 stages of N search cells, residual blocks between.

  Stem (3x3 conv to C, affine BN); N cells at C, a stride-2 residual block
  (``ResidualBlock``), N cells at 2C, another block, N cells at 4C;
  BN, ReLU, global average pooling, linear. The cells share one (6, K) op
  weight array, ``weights['cell']``; their BatchNorms are not affine, the
  blocks' are. A stage's cells run as one ``nn.scan`` (one trace per stage).

  Attributes:
    num_classes: classifier outputs.
    channels: C.
    cells_per_stage: N (5 in the benchmark).
    primitives: the op set (``NB201_PRIMITIVES``).
    mode, partial, aux_skip: passed to every ``MixedOp``.
  """

  num_classes: int
  channels: int = 16
  cells_per_stage: int = 5
  primitives: Sequence[str] = NB201_PRIMITIVES
  dw_conv: ops.ModuleDef | None = None
  mode: str = 'weighted'
  partial: int = 1
  aux_skip: bool = False
  scan: bool = False

  CELLS = ('cell',)

  @nn.compact
  def __call__(
      self,
      x: jax.Array,
      weights: dict[str, Any],
      train: bool = True,
      aux_coef: jax.Array | None = None,
  ) -> jax.Array:
    """Args: x: NHWC images; weights: ``{'cell': (6, K)}`` or ``{'cell': ((6, K), (6,))}``.
    Returns logits (N, num_classes)."""
    ops_w, scale = split_weights(weights['cell'])
    if scale is None:
      scale = jnp.ones(ops_w.shape[:1], ops_w.dtype)
    aux = jnp.zeros((), jnp.float32) if aux_coef is None else jnp.asarray(aux_coef, jnp.float32)
    edge = EdgeOptions(
        tuple(self.primitives),
        OPS,
        train,
        self.dw_conv,
        self.mode,
        self.partial,
        self.aux_skip,
    )

    def stage(x, index, c):
      if not self.scan:
        for i in range(self.cells_per_stage):
          x = NB201SearchCell(c, edge, name=f'cell_{index}_{i}')(x, ops_w, scale, aux)
        return x
      scan = nn.scan(
          _StageCell,
          variable_axes={'params': 0, 'batch_stats': 0},
          split_rngs={'params': True},
          in_axes=(nn.broadcast, nn.broadcast, nn.broadcast),
          length=self.cells_per_stage,
      )
      return scan(c, edge, name=f'cells_{index}')(x, ops_w, scale, aux)[0]

    return trunk(x, train, self.channels, self.num_classes, stage, last_bn='last_bn')
