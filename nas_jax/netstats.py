"""Sizes of a network: parameter and multiply-add counts, parameter shapes.

They read a Flax module's variables or trace it abstractly (nothing is
compiled or run), so they serve every space's evaluation network.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import ops

AUX_NAME = 'auxiliary_head'  # an auxiliary head's parameters: left out of the parameter count


def count_params(params: Any, exclude: str | None = AUX_NAME) -> int:
  """Number of parameters, leaving out any under a path component named ``exclude``."""
  total = 0
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    names = {getattr(k, 'key', None) for k in path}
    if exclude is None or exclude not in names:
      total += int(np.prod(leaf.shape))
  return total


def count_macs(model: nn.Module, image_shape: tuple[int, int, int]) -> int:
  """Multiply-accumulates of one inference (eval mode, no auxiliary head) on one image.

  Counts convolutions (dense, depthwise, pointwise) and linear layers, the
  convention of the NAS papers' "FLOPs" (multiply-adds); BatchNorm, pooling
  and additions are left out. The count is taken from the shapes seen while
  tracing an unscanned copy of ``model`` (nothing is compiled or run), so it
  does not depend on how a depthwise convolution is implemented.
  """
  total = [0]

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if context.method_name != '__call__':
      return out
    m = context.module
    if isinstance(m, ops.Conv):
      total[0] += int(np.prod(out.shape)) * m.kernel * m.kernel * args[0].shape[0]
    elif isinstance(m, ops.DepthwiseConv):
      total[0] += int(np.prod(out.shape)) * m.kernel * m.kernel
    elif isinstance(m, ops.PointwiseConv):
      total[0] += int(np.prod(out.shape)) * args[0].shape[0]
    elif isinstance(m, nn.Dense):
      total[0] += int(np.prod(out.shape)) * args[0].shape[-1]
    return out

  flat = model.clone(scan_cells=False)
  x = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  with nn.intercept_methods(interceptor):
    jax.eval_shape(lambda: flat.init(jax.random.key(0, impl='rbg'), x, train=False))
  return total[0]


def param_shapes(model: nn.Module, image_shape: tuple[int, int, int]) -> Any:
  """The parameter tree of ``model`` as shapes only (traced, not compiled), aux head included."""
  x = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  variables = jax.eval_shape(
      lambda: model.init({'params': jax.random.key(0, impl='rbg')}, x, train=True)
  )
  return variables['params']
