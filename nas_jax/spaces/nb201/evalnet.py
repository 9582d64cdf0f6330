"""The NAS-Bench-201 evaluation network ("TinyNetwork") of one cell.

A 3x3 stem, three stages of N cells at C, 2C and 4C channels with a stride-2
residual block between stages, then BatchNorm, ReLU, global average pooling
and a linear classifier. Activations are CNHW inside (see :mod:`nas_jax.ops`);
the network takes NHWC images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import ops
from nas_jax.spaces.nb201.genotype import NB201Genotype
from nas_jax.spaces.nb201.ops import OPS

__all__ = ['NB201Cell', 'NB201Network', 'ResidualBlock', 'trunk']


class NB201Cell(nn.Module):
  """One NB201 cell: ``node_i = sum_j op_ji(node_j)``; returns node 3 (C channels in and out).

  Attributes:
    genotype: the cell.
    channels: C; the input must have C channels.
    train: training mode (batch statistics).
  """

  genotype: NB201Genotype
  channels: int
  train: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.shape[0] != self.channels:
      raise ValueError(f'NB201Cell expects {self.channels} channels, got {x.shape[0]}')
    states = [x]
    for target, node in enumerate(self.genotype.nodes, start=1):
      total = None
      for op, source in node:
        y = OPS.make(op, self.channels, 1, affine=True, module_name=f'edge_{source}_{target}')(
            states[source], self.train
        )
        total = y if total is None else total + y
      states.append(total)
    return states[-1]


class _ScannedNB201Cell(nn.Module):
  """``NB201Cell`` as a scan body: carry ``x -> cell(x)``."""

  cell: dict[str, Any]

  @nn.compact
  def __call__(self, x, _):
    return NB201Cell(**self.cell, name='cell')(x), None


def _avg_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 average pooling, stride 2, no padding, of CNHW ``x``."""
  total = jax.lax.reduce_window(
      x, np.zeros((), x.dtype), jax.lax.add, (1, 1, 2, 2), (1, 1, 2, 2), 'VALID'
  )
  return total / 4.0


class ResidualBlock(nn.Module):
  """NB201's stride-2 ResNet basic block between stages.

  ``b = ReLUConvBN(3x3, s1)(ReLUConvBN(3x3, s2)(x))``; the shortcut is 2x2
  average pooling (stride 2) then a 1x1 conv (no BN, no bias); the output
  is ``shortcut + b``. BatchNorms are affine.

  Attributes:
    features: output channels.
    train: training mode (batch statistics).
  """

  features: int
  train: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.shape[2] % 2 or x.shape[3] % 2:
      raise ValueError(
          f'the NB201 residual block halves the feature map and needs even sizes, '
          f'got {x.shape[2]}x{x.shape[3]}'
      )
    b = ops.ReLUConvBN(self.features, 3, 2, affine=True, name='conv_a')(x, self.train)
    b = ops.ReLUConvBN(self.features, 3, 1, affine=True, name='conv_b')(b, self.train)
    shortcut = ops.PointwiseConv(self.features, name='shortcut')(_avg_pool_2x2(x))
    return shortcut + b


def trunk(
    x: jax.Array,
    train: bool,
    channels: int,
    num_classes: int,
    stage: Callable[[jax.Array, int, int], jax.Array],
    last_bn: str = 'lastact_bn',
) -> jax.Array:
  """The NB201 network around its cells, called from a module's compact ``__call__``.

  Stem (3x3 conv to C, affine BN); three stages at C, 2C and 4C channels, each
  ``stage(x, index, channels)`` (its N cells), with a :class:`ResidualBlock`
  before the second and third; BN (named ``last_bn``), ReLU, global average
  pooling, a linear classifier. Takes NHWC images, returns logits. The
  evaluation network, the supernet and the arch network differ only in ``stage``.
  """
  x = ops.Conv(channels, 3, name='stem_conv')(ops.to_cnhw(x))
  x = ops.BatchNorm(affine=True, name='stem_bn')(x, train)
  c = channels
  for index in range(3):
    if index:
      c *= 2
      x = ResidualBlock(c, train, name=f'reduce_{index}')(x)
    x = stage(x, index, c)
  x = ops.ReLU()(ops.BatchNorm(affine=True, name=last_bn)(x, train))
  return nn.Dense(num_classes, name='classifier')(jnp.mean(x, axis=(2, 3)).T)


class NB201Network(nn.Module):
  """The NB201 evaluation network ("TinyNetwork"; C=16, N=5 in the benchmark).

  Stem (3x3 conv to C, BN); stages of N cells at C, 2C, 4C channels with a
  :class:`ResidualBlock` (stride 2) before the second and third; BN, ReLU,
  global average pooling and a linear classifier. Every BatchNorm is affine.
  There is no auxiliary head and no drop path: ``drop_prob`` and a
  ``'dropout'`` rng are accepted (the retraining loop passes them) and unused.

  Attributes:
    genotype: the cell architecture.
    num_classes: classifier outputs.
    channels: C, the channels of the first stage.
    cells_per_stage: N, cells in each of the three stages.
    scan_cells: run the N cells of a stage as one ``nn.scan`` (one trace of
      the cell per stage; parameters stacked along a leading axis). Off by
      default: XLA:CPU runs a convolution inside a scan's loop body about 50x
      slower than outside one (a 5-conv forward-backward microbenchmark: 22.9
      vs 0.50 s), and the N=5, batch-256 CIFAR training step took 217 s
      scanned against 13.1 s unscanned on this project's 2-core CPU.
  """

  genotype: NB201Genotype
  num_classes: int = 10
  channels: int = 16
  cells_per_stage: int = 5
  scan_cells: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, drop_prob: jax.Array | float | None = None):
    """Runs the network.

    Args:
      x: NHWC images.
      train: training mode (batch statistics).
      drop_prob: ignored (NB201 has no drop path).

    Returns:
      ``(logits, None)``: there is no auxiliary head.
    """
    del drop_prob
    n = self.cells_per_stage

    def stage(x, index, c):
      cell = dict(genotype=self.genotype, channels=c, train=train)
      if self.scan_cells and n > 1:
        scan = nn.scan(
            _ScannedNB201Cell,
            variable_axes={'params': 0, 'batch_stats': 0},
            split_rngs={'params': True},
            in_axes=nn.broadcast,
            length=n,
        )
        return scan(cell, name=f'cells_{index}')(x, None)[0]
      for i in range(n):
        x = NB201Cell(**cell, name=f'cell_{index}_{i}')(x)
      return x

    logits = trunk(x, train, self.channels, self.num_classes, stage)
    return logits, None
