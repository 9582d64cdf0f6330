"""Evaluation networks built from a genotype, with DARTS' retraining semantics.

``NetworkCIFAR`` and ``NetworkImageNet`` are the networks a searched cell is
retrained in (quark0/darts ``model.py``):

* each cell runs only the genotype's ops on the genotype's edges and
  concatenates the genotype's ``*_concat`` nodes;
* reduction cells sit at ``L/3`` and ``2L/3`` and double the channels; in a
  reduction cell the ops that read a cell input have stride 2;
* every BatchNorm has affine parameters and running statistics; pooling is
  *not* followed by BatchNorm (unlike the search cell);
* drop path zeroes the output of each non-identity op for a whole example
  with probability ``drop_prob`` (and rescales the rest by ``1/(1-p)``) in
  training; the caller raises ``drop_prob`` linearly over the epochs;
* an auxiliary classifier reads the output of the cell at ``2L/3`` in
  training (its loss weight is the caller's, 0.4 in DARTS).

The space object (``nas_jax.spaces.get('darts').evalnet``) builds either
from a network kind.

Activations are CNHW inside (see ``nas_jax.ops``); the networks take NHWC
images. Consecutive cells whose inputs have the same shapes (every normal
cell of a stage from its third on) run as one ``nn.scan`` when
``scan_cells=True``: the same numbers (the parameters are stacked along a
leading axis), one trace of the cell instead of one per cell, which is what
keeps the 20-cell network's compile time down.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import ops
from nas_jax.netstats import AUX_NAME
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES, Genotype, GenotypeError, OpPair
from nas_jax.spaces.darts.ops import OPS


def check_genotype(genotype: Genotype) -> Genotype:
  """Raises GenotypeError (one line) if the genotype uses an op the eval net cannot build."""
  known = OPS.names()
  genotype.validate(known)
  return genotype


def drop_path(x: jax.Array, drop_prob: jax.Array, key: jax.Array) -> jax.Array:
  """Zeroes whole examples of CNHW ``x`` with probability ``drop_prob``; rescales the rest."""
  keep = 1.0 - drop_prob
  mask = jax.random.bernoulli(key, keep, (1, x.shape[1], 1, 1))
  return jnp.where(mask, x / keep.astype(x.dtype), jnp.zeros((), x.dtype))


def _eval_op(name: str, channels: int, stride: int, dw_conv, module_name: str) -> nn.Module:
  if name in ('max_pool_3x3', 'avg_pool_3x3'):
    return ops.Pool(name[:3], stride, affine=True, bn=False, name=module_name)
  return OPS.make(name, channels, stride, affine=True, dw_conv=dw_conv, module_name=module_name)


def preprocess(s0, s1, channels: int, reduction_prev: bool, train: bool) -> list[jax.Array]:
  """A cell's two inputs brought to ``channels`` (s0 halved spatially after a reduction);
  called inside a cell's compact method, whose ``preprocess0``/``preprocess1`` they become."""
  if reduction_prev:
    s0 = ops.FactorizedReduce(channels, affine=True, name='preprocess0')(s0, train)
  else:
    s0 = ops.ReLUConvBN(channels, 1, 1, affine=True, name='preprocess0')(s0, train)
  return [s0, ops.ReLUConvBN(channels, 1, 1, affine=True, name='preprocess1')(s1, train)]


class EvalCell(nn.Module):
  """One cell of the evaluation network: the genotype's ops on the genotype's edges.

  Attributes:
    pairs: the genotype's ``(op, input)`` pairs for this cell type.
    concat: the node indices concatenated into the output.
    channels: the cell's channel count C (the output has ``len(concat) * C``).
    reduction: whether this is a reduction cell.
    reduction_prev: whether the previous cell reduced (s0 is then factorized-reduced).
    train: training mode (batch statistics, drop path).
    drop_path: whether drop path is applied in training.
    dw_conv: the depthwise convolution factory (``nas_jax.ops.depthwise_conv``; None: the
      backend's default).
  """

  pairs: tuple[OpPair, ...]
  concat: tuple[int, ...]
  channels: int
  reduction: bool
  reduction_prev: bool
  train: bool = True
  drop_path: bool = True
  dw_conv: ops.ModuleDef | None = None

  @nn.compact
  def __call__(self, s0: jax.Array, s1: jax.Array, drop_prob: jax.Array) -> jax.Array:
    c = self.channels
    states = preprocess(s0, s1, c, self.reduction_prev, self.train)
    for node in range(len(self.pairs) // 2):
      total = None
      for slot in (2 * node, 2 * node + 1):
        name, j = self.pairs[slot]
        stride = 2 if self.reduction and j < 2 else 1
        y = _eval_op(name, c, stride, self.dw_conv, f'op_{slot}')(states[j], self.train)
        identity = name == 'skip_connect' and stride == 1
        if self.train and self.drop_path and not identity:
          y = drop_path(y, drop_prob, self.make_rng('dropout'))
        total = y if total is None else total + y
      states.append(total)
    return jnp.concatenate([states[i] for i in self.concat], axis=0)


class _ScannedCell(nn.Module):
  """``EvalCell`` as a scan body: carry ``(s0, s1) -> (s1, cell(s0, s1))``."""

  cell: dict[str, Any]

  @nn.compact
  def __call__(self, carry, drop_prob):
    s0, s1 = carry
    out = EvalCell(**self.cell, name='cell')(s0, s1, drop_prob)
    return (s1, out), None


class AuxiliaryHead(nn.Module):
  """DARTS' auxiliary classifier: ReLU, 5x5 average pool, 1x1 conv 128, conv 768 to 1x1, linear.

  The pool (window 5, ``pool_stride``, no padding) is skipped when the
  feature map is smaller than 5; the second conv's kernel covers whatever
  spatial size is left (2x2 at DARTS' 8x8 CIFAR and 7x7 ImageNet maps).
  """

  num_classes: int
  pool_stride: int = 3
  bn_after_second_conv: bool = True
  train: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = ops.ReLU()(x)
    if x.shape[2] >= 5 and x.shape[3] >= 5:
      s = self.pool_stride
      x = (
          jax.lax.reduce_window(
              x, np.zeros((), x.dtype), jax.lax.add, (1, 1, 5, 5), (1, 1, s, s), 'VALID'
          )
          / 25.0
      )
    x = ops.PointwiseConv(128, name='conv_1')(x)
    x = ops.ReLU()(ops.BatchNorm(affine=True, name='bn_1')(x, self.train))
    if x.shape[2] != x.shape[3]:
      raise ValueError(f'auxiliary head expects a square feature map, got {x.shape[2:]}')
    x = ops.Conv(768, x.shape[2], padding=0, name='conv_2')(x)
    if self.bn_after_second_conv:
      x = ops.BatchNorm(affine=True, name='bn_2')(x, self.train)
    x = ops.ReLU()(x)
    return nn.Dense(self.num_classes, name='classifier')(x.reshape(x.shape[0], -1).T)


class _Cells(nn.Module):
  """The cell stack shared by both networks; returns ``(s1, aux_input)``."""

  genotype: Genotype
  channels: int
  layers: int
  reduction_prev: bool
  train: bool
  drop_path: bool
  dw_conv: ops.ModuleDef | None
  scan_cells: bool
  aux_layer: int | None

  @nn.compact
  def __call__(self, s0, s1, drop_prob):
    g = self.genotype
    reductions = (self.layers // 3, 2 * self.layers // 3)
    c_curr = self.channels
    reduction_prev = self.reduction_prev
    aux_input = None
    i = 0
    while i < self.layers:
      reduction = i in reductions
      if reduction:
        c_curr *= 2
      pairs, concat = (g.reduce, g.reduce_concat) if reduction else (g.normal, g.normal_concat)
      cell = dict(
          pairs=pairs,
          concat=concat,
          channels=c_curr,
          reduction=reduction,
          reduction_prev=reduction_prev,
          train=self.train,
          drop_path=self.drop_path,
          dw_conv=self.dw_conv,
      )
      out_channels = len(concat) * c_curr
      # A run of normal cells whose two inputs already have the cell's output
      # shape: every one of them sees the same shapes, so one scan serves all.
      run = 1
      if (
          self.scan_cells
          and not reduction
          and not reduction_prev
          and s0.shape == s1.shape
          and s1.shape[0] == out_channels
      ):
        while i + run < self.layers and i + run not in reductions and i + run - 1 != self.aux_layer:
          run += 1
      if run > 1:
        scan = nn.scan(
            _ScannedCell,
            variable_axes={'params': 0, 'batch_stats': 0},
            split_rngs={'params': True, 'dropout': True},
            in_axes=nn.broadcast,
            length=run,
        )
        (s0, s1), _ = scan(cell, name=f'cells_{i}_{i + run - 1}')((s0, s1), drop_prob)
      else:
        s0, s1 = s1, EvalCell(**cell, name=f'cell_{i}')(s0, s1, drop_prob)
      i += run
      reduction_prev = reduction
      if i - 1 == self.aux_layer:
        aux_input = s1
    return s1, aux_input


class NetworkCIFAR(nn.Module):
  """DARTS' CIFAR evaluation network (20 cells, C=36 in the paper).

  Attributes:
    genotype: the cell architecture.
    num_classes: classifier outputs.
    channels: initial channels C (the stem has ``stem_multiplier * C``).
    layers: number of cells L; reductions at L/3 and 2L/3.
    auxiliary: whether the auxiliary head exists (used only in training).
    stem_multiplier: stem width factor.
    dw_conv: the depthwise convolution factory (``nas_jax.ops.depthwise_conv``; None: the
      backend's default).
    scan_cells: run same-shape consecutive cells as one ``nn.scan``.
  """

  genotype: Genotype
  num_classes: int = 10
  channels: int = 36
  layers: int = 20
  auxiliary: bool = True
  stem_multiplier: int = 3
  dw_conv: ops.ModuleDef | None = None
  scan_cells: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, drop_prob: jax.Array | float | None = None):
    """Runs the network.

    Args:
      x: NHWC images.
      train: training mode: batch statistics, drop path (if ``drop_prob`` is
        given; needs the ``'dropout'`` rng) and the auxiliary head.
      drop_prob: drop path probability (a scalar, may be traced); None: off.

    Returns:
      ``(logits, aux_logits)``; ``aux_logits`` is None unless training with
      the auxiliary head.
    """
    x = ops.to_cnhw(x)
    x = ops.Conv(self.stem_multiplier * self.channels, 3, name='stem_conv')(x)
    x = ops.BatchNorm(affine=True, name='stem_bn')(x, train)
    aux_layer = 2 * self.layers // 3 if self.auxiliary and train else None
    out, aux_in = _Cells(
        self.genotype,
        self.channels,
        self.layers,
        False,
        train,
        drop_prob is not None,
        self.dw_conv,
        self.scan_cells,
        aux_layer,
        name='cells',
    )(x, x, jnp.asarray(0.0 if drop_prob is None else drop_prob, jnp.float32))
    aux = None
    if aux_in is not None:
      aux = AuxiliaryHead(self.num_classes, 3, True, train, name=AUX_NAME)(aux_in)
    logits = nn.Dense(self.num_classes, name='classifier')(jnp.mean(out, axis=(2, 3)).T)
    return logits, aux


class NetworkImageNet(nn.Module):
  """DARTS' ImageNet (mobile setting) network: two-stage stride-8 stem, 14 cells, C=48.

  Attributes are those of :class:`NetworkCIFAR` (no stem multiplier).
  """

  genotype: Genotype
  num_classes: int = 1000
  channels: int = 48
  layers: int = 14
  auxiliary: bool = True
  dw_conv: ops.ModuleDef | None = None
  scan_cells: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, drop_prob: jax.Array | float | None = None):
    """Runs the network; arguments and outputs as in :meth:`NetworkCIFAR.__call__`."""
    c = self.channels
    x = ops.to_cnhw(x)
    s0 = ops.Conv(c // 2, 3, 2, name='stem0_conv_1')(x)
    s0 = ops.ReLU()(ops.BatchNorm(affine=True, name='stem0_bn_1')(s0, train))
    s0 = ops.Conv(c, 3, 2, name='stem0_conv_2')(s0)
    s0 = ops.BatchNorm(affine=True, name='stem0_bn_2')(s0, train)
    s1 = ops.Conv(c, 3, 2, name='stem1_conv')(ops.ReLU()(s0))
    s1 = ops.BatchNorm(affine=True, name='stem1_bn')(s1, train)
    aux_layer = 2 * self.layers // 3 if self.auxiliary and train else None
    out, aux_in = _Cells(
        self.genotype,
        c,
        self.layers,
        True,
        train,
        drop_prob is not None,
        self.dw_conv,
        self.scan_cells,
        aux_layer,
        name='cells',
    )(s0, s1, jnp.asarray(0.0 if drop_prob is None else drop_prob, jnp.float32))
    aux = None
    if aux_in is not None:
      aux = AuxiliaryHead(self.num_classes, 2, False, train, name=AUX_NAME)(aux_in)
    logits = nn.Dense(self.num_classes, name='classifier')(jnp.mean(out, axis=(2, 3)).T)
    return logits, aux


__all__ = [
    'AUX_NAME',
    'AuxiliaryHead',
    'EvalCell',
    'NetworkCIFAR',
    'NetworkImageNet',
    'check_genotype',
    'drop_path',
    'DARTS_PRIMITIVES',
    'GenotypeError',
]
