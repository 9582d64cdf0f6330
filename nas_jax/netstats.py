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


def _mac_counter(total: list[int]):
  """A ``nn.intercept_methods`` interceptor adding each convolution's and linear layer's
  multiply-adds to ``total[0]`` (the rules of :func:`count_macs`)."""

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

  return interceptor


def trace(model: nn.Module, image_shape: tuple[int, int, int], interceptor) -> None:
  """Traces an unscanned copy of ``model`` (eval mode, one image) with ``interceptor``
  (``nn.intercept_methods``) seeing every module call; nothing is compiled or run."""
  flat = model.clone(scan_cells=False)
  x = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  with nn.intercept_methods(interceptor):
    jax.eval_shape(lambda: flat.init(jax.random.key(0, impl='rbg'), x, train=False))


def count_macs(model: nn.Module, image_shape: tuple[int, int, int]) -> int:
  """Multiply-accumulates of one inference (eval mode, no auxiliary head) on one image.

  Counts convolutions (dense, depthwise, pointwise) and linear layers, the
  convention of the NAS papers' "FLOPs" (multiply-adds); BatchNorm, pooling
  and additions are left out. The count is taken from the shapes seen while
  tracing an unscanned copy of ``model`` (nothing is compiled or run), so it
  does not depend on how a depthwise convolution is implemented.
  """
  total = [0]
  trace(model, image_shape, _mac_counter(total))
  return total[0]


def op_costs(op: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
  """``(parameters, multiply-adds)`` of one op module ``op(x, train)`` applied to a CNHW input
  of ``input_shape``, counted by the rules of :func:`count_params` and :func:`count_macs`."""
  total = [0]
  x = jnp.zeros(tuple(input_shape), jnp.float32)
  with nn.intercept_methods(_mac_counter(total)):
    variables = jax.eval_shape(lambda: op.init(jax.random.key(0, impl='rbg'), x, False))
  return count_params(variables.get('params', {})), total[0]


def param_shapes(model: nn.Module, image_shape: tuple[int, int, int]) -> Any:
  """The parameter tree of ``model`` as shapes only (traced, not compiled), aux head included."""
  x = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  variables = jax.eval_shape(
      lambda: model.init({'params': jax.random.key(0, impl='rbg')}, x, train=True)
  )
  return variables['params']
