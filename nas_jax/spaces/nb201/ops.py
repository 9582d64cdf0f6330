"""The NAS-Bench-201 op set: ReLU-conv-BN at 1x1 and 3x3, 3x3 average pooling, skip, zero.

``nor_conv_kxk`` is ReLU -> k x k conv (no bias) -> BN; ``avg_pool_3x3``
has no BatchNorm (in the search cell as in the evaluation network);
``skip_connect`` is the identity and ``none`` zeros. Every op keeps C
channels and refuses stride 2 (residual blocks between stages reduce).
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn

from nas_jax import ops

NB201_PRIMITIVES: tuple[str, ...] = (
    'none',
    'skip_connect',
    'nor_conv_1x1',
    'nor_conv_3x3',
    'avg_pool_3x3',
)
"""The NAS-Bench-201 op set, in the benchmark's order."""


def _stride_one(op: str, build: Callable[[int, bool, str], nn.Module]) -> ops.OpFactory:
  """Wraps an NB201 op builder ``build(channels, affine, name)``; stride 2 is refused."""

  def factory(channels: int, stride: int, affine: bool, dw_conv, name: str) -> nn.Module:
    del dw_conv  # no depthwise convolutions
    if stride != 1:
      raise ValueError(
          f'NB201 op {op!r} exists at stride 1 only, got stride {stride} (NB201 '
          'cells keep the spatial size; residual blocks between stages reduce it)'
      )
    return build(channels, affine, name)

  return factory


OPS = ops.OpRegistry(
    'nb201',
    {
        'none': _stride_one('none', lambda c, affine, name: ops.Zero(1, name=name)),
        'skip_connect': _stride_one(
            'skip_connect', lambda c, affine, name: ops.Identity(name=name)
        ),
        'nor_conv_1x1': _stride_one(
            'nor_conv_1x1', lambda c, affine, name: ops.ReLUConvBN(c, 1, 1, affine, name=name)
        ),
        'nor_conv_3x3': _stride_one(
            'nor_conv_3x3', lambda c, affine, name: ops.ReLUConvBN(c, 3, 1, affine, name=name)
        ),
        'avg_pool_3x3': _stride_one(
            'avg_pool_3x3', lambda c, affine, name: ops.Pool('avg', 1, affine, bn=False, name=name)
        ),
    },
)
"""The NB201 registry, same factory signature as the DARTS one."""

PARAMETER_FREE = frozenset({'none', 'skip_connect', 'avg_pool_3x3'})
"""The NB201 ops without parameters."""

__all__ = ['NB201_PRIMITIVES', 'OPS', 'PARAMETER_FREE']
