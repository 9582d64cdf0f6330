"""The DARTS op set: separable and dilated convolutions, pooling, skip and zero.

Search-time semantics follow the DARTS reference (see :mod:`nas_jax.ops`):
BatchNorm after pooling, ``skip_connect`` at stride 2 is a factorized
reduce, ``none`` outputs zeros of the output shape.
"""

from __future__ import annotations

import flax.linen as nn

from nas_jax import ops
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES


def _skip(channels: int, stride: int, affine: bool, dw_conv, name: str) -> nn.Module:
  del dw_conv
  if stride == 1:
    return ops.Identity(name=name)
  return ops.FactorizedReduce(channels, affine, name=name)


OPS = ops.OpRegistry(
    'darts',
    {
        'none': lambda c, s, affine, dw, name: ops.Zero(s, name=name),
        'max_pool_3x3': lambda c, s, affine, dw, name: ops.Pool('max', s, affine, name=name),
        'avg_pool_3x3': lambda c, s, affine, dw, name: ops.Pool('avg', s, affine, name=name),
        'skip_connect': _skip,
        'sep_conv_3x3': lambda c, s, affine, dw, name: ops.SepConv(3, s, affine, dw, name=name),
        'sep_conv_5x5': lambda c, s, affine, dw, name: ops.SepConv(5, s, affine, dw, name=name),
        'sep_conv_7x7': lambda c, s, affine, dw, name: ops.SepConv(7, s, affine, dw, name=name),
        'dil_conv_3x3': lambda c, s, affine, dw, name: ops.DilConv(3, s, 2, affine, dw, name=name),
        'dil_conv_5x5': lambda c, s, affine, dw, name: ops.DilConv(5, s, 2, affine, dw, name=name),
    },
)
"""The DARTS registry: op name -> ``factory(channels, stride, affine, dw_conv, name)``."""

PARAMETER_FREE = frozenset({'none', 'skip_connect', 'max_pool_3x3', 'avg_pool_3x3'})
"""The DARTS ops without parameters in the evaluation network (skip at stride 2 aside)."""

__all__ = ['DARTS_PRIMITIVES', 'OPS', 'PARAMETER_FREE']
