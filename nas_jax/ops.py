"""Candidate operations of the DARTS search space, as Flax modules.

Layout is NHWC. Every op maps ``C`` channels to ``C`` channels; at ``stride=2``
it halves the spatial size. The semantics follow the DARTS reference:

* search-time BatchNorm has no affine parameters (``affine=False``);
* pooling is followed by BatchNorm;
* ``skip_connect`` at stride 2 is a factorized reduce;
* ``none`` outputs zeros of the output shape.

Two implementation choices matter for speed and compile time (see
``benchmarks/README.md``):

* Pointwise (1x1) convolutions are ``nn.Dense`` over the channel axis, so that
  when the op bank is ``vmap``-ed over edges they become batched matmuls rather
  than grouped convolutions.
* Depthwise convolutions have six numerically equal implementations (tests
  compare values and gradients): ``'shift'`` (k*k strided slices times
  per-channel weights), ``'toeplitz'`` (k row slices and a banded matmul along
  W; the fastest in the whole net on XLA:CPU), ``'shift_vjp'`` (shift with a
  matmul kernel gradient), ``'loop'``, ``'stack'`` and ``'grouped'``
  (``feature_group_count=C``; cuDNN's fast path on GPU). ``'auto'`` picks
  ``toeplitz`` on CPU and ``grouped`` elsewhere; ``benchmarks/README.md`` has
  the measurements.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nas_jax.genotype import DARTS_PRIMITIVES  # re-exported: the op set of the DARTS space


DEPTHWISE_IMPLS = ('auto', 'shift', 'grouped', 'loop', 'toeplitz', 'stack', 'shift_vjp')

# Torch's default conv/linear init (kaiming uniform with a=sqrt(5)) is
# U(-1/sqrt(fan_in), 1/sqrt(fan_in)), i.e. variance 1/(3 fan_in).
torch_default_init = nn.initializers.variance_scaling(1.0 / 3.0, 'fan_in', 'uniform')


def resolve_depthwise_impl(impl: str) -> str:
  """Returns the concrete depthwise implementation for ``impl`` on this backend."""
  if impl not in DEPTHWISE_IMPLS:
    raise ValueError(f'depthwise_impl must be one of {DEPTHWISE_IMPLS}, got {impl!r}')
  if impl == 'auto':
    return 'toeplitz' if jax.default_backend() == 'cpu' else 'grouped'
  return impl


def output_size(size: int, kernel: int, stride: int, dilation: int, padding: int) -> int:
  """Spatial output size of a convolution or pooling window."""
  return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def shifted_windows(x: jax.Array, kernel: int, stride: int, dilation: int, padding: int,
                    pad_value: float = 0.0):
  """Yields the k*k strided views of padded ``x`` that a k x k window visits.

  Args:
    x: NHWC input.
    kernel: window size k.
    stride: window stride.
    dilation: window dilation.
    padding: symmetric spatial padding.
    pad_value: the padding constant (``-inf`` for max pooling).

  Yields:
    ``((i, j), view)`` where ``view`` has the output spatial shape.
  """
  n, h, w, c = x.shape
  ho = output_size(h, kernel, stride, dilation, padding)
  wo = output_size(w, kernel, stride, dilation, padding)
  xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)),
               constant_values=pad_value)
  for i in range(kernel):
    for j in range(kernel):
      r0, c0 = i * dilation, j * dilation
      view = jax.lax.slice(xp, (0, r0, c0, 0),
                           (n, r0 + (ho - 1) * stride + 1, c0 + (wo - 1) * stride + 1, c),
                           (1, stride, stride, 1))
      yield (i, j), view


def depthwise_conv_shift(x: jax.Array, kernel_hwc: jax.Array, *, stride: int, dilation: int,
                         padding: int) -> jax.Array:
  """Depthwise convolution as a sum of shifted slices times per-channel weights.

  Args:
    x: NHWC input.
    kernel_hwc: weights of shape ``(k, k, C)``.
    stride: spatial stride.
    dilation: kernel dilation.
    padding: symmetric zero padding.

  Returns:
    NHWC output with ``C`` channels.
  """
  k = kernel_hwc.shape[0]
  out = None
  for (i, j), view in shifted_windows(x, k, stride, dilation, padding):
    term = view * kernel_hwc[i, j]
    out = term if out is None else out + term
  return out


def depthwise_conv_grouped(x: jax.Array, kernel_hwc: jax.Array, *, stride: int, dilation: int,
                           padding: int) -> jax.Array:
  """Depthwise convolution through ``feature_group_count`` (cuDNN's fast path)."""
  c = x.shape[-1]
  rhs = kernel_hwc[:, :, None, :]  # HWIO with I=1
  return jax.lax.conv_general_dilated(
      x, rhs.astype(x.dtype), window_strides=(stride, stride),
      padding=((padding, padding), (padding, padding)), rhs_dilation=(dilation, dilation),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=c)


def depthwise_conv_loop(x, kernel_hwc, *, stride, dilation, padding):
  """Shift-and-add with the k*k taps in a ``fori_loop`` (one tap traced, not k*k)."""
  n, h, w, c = x.shape
  k = kernel_hwc.shape[0]
  ho = output_size(h, k, stride, dilation, padding)
  wo = output_size(w, k, stride, dilation, padding)
  xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  flat_w = kernel_hwc.reshape(k * k, c)
  span_h, span_w = (ho - 1) * stride + 1, (wo - 1) * stride + 1

  def tap(t, out):
    i, j = t // k, t % k
    view = jax.lax.dynamic_slice(xp, (0, i * dilation, j * dilation, 0), (n, span_h, span_w, c))
    return out + view[:, ::stride, ::stride, :] * flat_w[t]

  init = jnp.zeros((n, ho, wo, c), jnp.result_type(x, kernel_hwc))
  return jax.lax.fori_loop(0, k * k, tap, init)


def depthwise_conv_toeplitz(x, kernel_hwc, *, stride, dilation, padding):
  """k row shifts, then one batched matmul per channel along W with a banded matrix."""
  n, h, w, c = x.shape
  k = kernel_hwc.shape[0]
  ho = output_size(h, k, stride, dilation, padding)
  wo = output_size(w, k, stride, dilation, padding)
  xp = jnp.pad(x, ((0, 0), (padding, padding), (0, 0), (0, 0)))
  rows = jnp.stack([xp[:, i * dilation: i * dilation + (ho - 1) * stride + 1: stride] for i in range(k)], axis=2)
  # band[j, w_in, w_out] = 1 where input column w_in feeds output column w_out through tap j.
  band = np.zeros((k, w, wo), np.float32)
  for j in range(k):
    for v in range(wo):
      src = v * stride + j * dilation - padding
      if 0 <= src < w:
        band[j, src, v] = 1.0
  mats = jnp.einsum('ijc,jwv->icwv', kernel_hwc, jnp.asarray(band, kernel_hwc.dtype))
  return jnp.einsum('nhiwc,icwv->nhvc', rows, mats)


def depthwise_conv_stack(x, kernel_hwc, *, stride, dilation, padding):
  """Shift-and-add with 2k slices instead of k*k: column taps stacked, rows summed.

  ``cols[..., j, :]`` holds the input shifted by column tap j; one broadcast
  multiply-reduce applies every (row, column) weight, then k row-shifted slices
  are summed. Numerically equal to ``depthwise_conv_shift``.
  """
  n, h, w, c = x.shape
  k = kernel_hwc.shape[0]
  ho = output_size(h, k, stride, dilation, padding)
  wo = output_size(w, k, stride, dilation, padding)
  xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  span_w = (wo - 1) * stride + 1
  cols = jnp.stack([xp[:, :, j * dilation: j * dilation + span_w: stride] for j in range(k)],
                   axis=3)  # (N, Hp, Wo, k_col, C)
  rows = jnp.einsum('nhwjc,ijc->nhwic', cols, kernel_hwc.astype(x.dtype))  # (N, Hp, Wo, k_row, C)
  span_h = (ho - 1) * stride + 1
  out = None
  for i in range(k):
    term = rows[:, i * dilation: i * dilation + span_h: stride, :, i, :]
    out = term if out is None else out + term
  return out


def _depthwise_kernel_grad(x, g, k, *, stride, dilation, padding):
  """The depthwise kernel gradient as k matmuls over (N, H) plus a diagonal gather.

  For row tap i, ``q[c, u, v] = sum_{n,h} xpad[n, h*s + i*d, u, c] * g[n, h, v, c]``
  is one batched matmul with a long contraction (XLA:CPU runs it far faster
  than k*k separate multiply-reductions); the column taps are then the
  diagonals ``grad[i, j, c] = sum_v q[c, v*s + j*d, v]``.
  """
  ho, wo = g.shape[1], g.shape[2]
  xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  span = (ho - 1) * stride + 1
  cols = np.arange(wo)[None, :] * stride + np.arange(k)[:, None] * dilation  # (k_col, Wo)
  taps = []
  for i in range(k):
    q = jnp.einsum('nhuc,nhvc->cuv', xp[:, i * dilation: i * dilation + span: stride], g)
    taps.append(q[:, cols, np.arange(wo)[None, :]].sum(-1))  # (C, k_col)
  return jnp.transpose(jnp.stack(taps), (0, 2, 1))  # (k_row, k_col, C)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _depthwise_shift_vjp(x, kernel_hwc, stride, dilation, padding):
  return depthwise_conv_shift(x, kernel_hwc, stride=stride, dilation=dilation, padding=padding)


def _depthwise_shift_vjp_fwd(x, kernel_hwc, stride, dilation, padding):
  # Calls the plain function (not the custom_vjp one) so that forward-mode
  # autodiff of the backward pass (exact 2nd order) sees ordinary ops.
  y = depthwise_conv_shift(x, kernel_hwc, stride=stride, dilation=dilation, padding=padding)
  return y, (x, kernel_hwc)


def _depthwise_shift_vjp_bwd(stride, dilation, padding, residuals, g):
  x, kernel_hwc = residuals
  _, vjp_x = jax.vjp(lambda x: depthwise_conv_shift(x, kernel_hwc, stride=stride, dilation=dilation,
                                                    padding=padding), x)
  (gx,) = vjp_x(g)
  gk = _depthwise_kernel_grad(x, g, kernel_hwc.shape[0], stride=stride, dilation=dilation,
                              padding=padding)
  return gx, gk.astype(kernel_hwc.dtype)


_depthwise_shift_vjp.defvjp(_depthwise_shift_vjp_fwd, _depthwise_shift_vjp_bwd)


def depthwise_conv_shift_vjp(x, kernel_hwc, *, stride, dilation, padding):
  """``shift`` forward and input gradient, matmul kernel gradient (see ``_depthwise_kernel_grad``).

  Differentiable to any order: the custom backward is made of ordinary ops.
  """
  return _depthwise_shift_vjp(x, kernel_hwc, stride, dilation, padding)


class DepthwiseConv(nn.Module):
  """k x k depthwise convolution without bias."""
  kernel: int
  stride: int = 1
  dilation: int = 1
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = x.shape[-1]
    # fan_in of a depthwise kernel is k*k (one input channel per group).
    w = self.param('kernel', lambda key, shape: torch_default_init(key, (self.kernel, self.kernel, 1, c))[:, :, 0, :],
                   (self.kernel, self.kernel, c))
    padding = self.dilation * (self.kernel - 1) // 2
    if self.is_initializing():
      # Initialization only needs shapes: skip the k*k taps to keep init's graph small.
      n, h, wd, _ = x.shape
      size = lambda s: output_size(s, self.kernel, self.stride, self.dilation, padding)
      return jnp.zeros((n, size(h), size(wd), c), jnp.result_type(x, w))
    fn = {'shift': depthwise_conv_shift, 'grouped': depthwise_conv_grouped, 'loop': depthwise_conv_loop,
          'toeplitz': depthwise_conv_toeplitz, 'stack': depthwise_conv_stack,
          'shift_vjp': depthwise_conv_shift_vjp}[resolve_depthwise_impl(self.impl)]
    return fn(x, w.astype(x.dtype) if x.dtype != w.dtype else w, stride=self.stride,
              dilation=self.dilation, padding=padding)


class PointwiseConv(nn.Module):
  """1x1 convolution as a matmul over channels (batches cleanly under vmap)."""
  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return nn.Dense(self.features, use_bias=False, kernel_init=torch_default_init, name='dense')(x)


class BatchNorm(nn.Module):
  """BatchNorm with PyTorch's defaults (momentum 0.1, eps 1e-5)."""
  affine: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        use_bias=self.affine, use_scale=self.affine, name='bn')(x)


class ReLUConvBN(nn.Module):
  """ReLU -> k x k conv -> BN; used by the cell preprocessing (k=1) and the eval net."""
  features: int
  kernel: int = 1
  stride: int = 1
  affine: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = nn.relu(x)
    if self.kernel == 1 and self.stride == 1:
      x = PointwiseConv(self.features, name='conv')(x)
    else:
      pad = (self.kernel - 1) // 2
      x = nn.Conv(self.features, (self.kernel, self.kernel), strides=self.stride,
                  padding=((pad, pad), (pad, pad)), use_bias=False, kernel_init=torch_default_init,
                  name='conv')(x)
    return BatchNorm(self.affine, name='bn')(x, train)


class FactorizedReduce(nn.Module):
  """Halves the spatial size with two offset stride-2 1x1 convs, concatenated."""
  features: int
  affine: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.features % 2:
      raise ValueError(f'FactorizedReduce needs an even channel count, got {self.features}')
    x = nn.relu(x)
    h, w = x.shape[1], x.shape[2]
    # The second path starts at (1, 1); pad odd sizes so both paths agree.
    shifted = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))[:, 1::2, 1::2, :]
    a = PointwiseConv(self.features // 2, name='conv_1')(x[:, ::2, ::2, :])
    b = PointwiseConv(self.features // 2, name='conv_2')(shifted)
    return BatchNorm(self.affine, name='bn')(jnp.concatenate([a, b], axis=-1), train)


class SepConv(nn.Module):
  """DARTS separable conv: (ReLU, dw k x k, pw 1x1, BN) twice, stride on the first."""
  kernel: int
  stride: int = 1
  affine: bool = False
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    c = x.shape[-1]
    for i, stride in enumerate((self.stride, 1)):
      x = nn.relu(x)
      x = DepthwiseConv(self.kernel, stride, 1, self.impl, name=f'dw_{i}')(x)
      x = PointwiseConv(c, name=f'pw_{i}')(x)
      x = BatchNorm(self.affine, name=f'bn_{i}')(x, train)
    return x


class DilConv(nn.Module):
  """DARTS dilated conv: ReLU, dilated dw k x k (dilation 2), pw 1x1, BN."""
  kernel: int
  stride: int = 1
  dilation: int = 2
  affine: bool = False
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    c = x.shape[-1]
    x = nn.relu(x)
    x = DepthwiseConv(self.kernel, self.stride, self.dilation, self.impl, name='dw')(x)
    x = PointwiseConv(c, name='pw')(x)
    return BatchNorm(self.affine, name='bn')(x, train)


def max_pool_3x3(x: jax.Array, stride: int) -> jax.Array:
  """3x3 max pooling, padding 1 (padded cells never win).

  Separable: a max over 3 row-shifted slices, then over 3 column-shifted
  slices. Its gradient is elementwise selects; XLA:CPU's ``reduce_window``
  gradient (``select_and_scatter``) was 8x slower forward-backward. At exact
  ties the gradient is shared between the tied inputs (a valid subgradient)
  instead of going to the first one.
  """
  n, h, w, c = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-jnp.inf)
  ho, wo = output_size(h, 3, stride, 1, 1), output_size(w, 3, stride, 1, 1)
  rows = functools.reduce(jnp.maximum, [xp[:, i: i + (ho - 1) * stride + 1: stride] for i in range(3)])
  return functools.reduce(jnp.maximum, [rows[:, :, j: j + (wo - 1) * stride + 1: stride] for j in range(3)])


def avg_pool_3x3(x: jax.Array, stride: int) -> jax.Array:
  """3x3 average pooling, padding 1, padded cells not counted."""
  return nn.avg_pool(x, (3, 3), strides=(stride, stride), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


class Pool(nn.Module):
  """Pooling followed by BatchNorm, as in the DARTS search cell."""
  kind: str
  stride: int = 1
  affine: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    pool = max_pool_3x3 if self.kind == 'max' else avg_pool_3x3
    return BatchNorm(self.affine, name='bn')(pool(x, self.stride), train)


class Identity(nn.Module):
  """skip_connect at stride 1."""

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    del train
    return x


class Zero(nn.Module):
  """The `none` op: zeros of the output shape."""
  stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    del train
    return jnp.zeros_like(x[:, ::self.stride, ::self.stride, :])


OpFactory = Callable[..., nn.Module]


def _skip(channels: int, stride: int, affine: bool, impl: str, name: str) -> nn.Module:
  del impl
  if stride == 1:
    return Identity(name=name)
  return FactorizedReduce(channels, affine, name=name)


OPS: dict[str, OpFactory] = {
    'none': lambda c, s, affine, impl, name: Zero(s, name=name),
    'max_pool_3x3': lambda c, s, affine, impl, name: Pool('max', s, affine, name=name),
    'avg_pool_3x3': lambda c, s, affine, impl, name: Pool('avg', s, affine, name=name),
    'skip_connect': _skip,
    'sep_conv_3x3': lambda c, s, affine, impl, name: SepConv(3, s, affine, impl, name=name),
    'sep_conv_5x5': lambda c, s, affine, impl, name: SepConv(5, s, affine, impl, name=name),
    'sep_conv_7x7': lambda c, s, affine, impl, name: SepConv(7, s, affine, impl, name=name),
    'dil_conv_3x3': lambda c, s, affine, impl, name: DilConv(3, s, 2, affine, impl, name=name),
    'dil_conv_5x5': lambda c, s, affine, impl, name: DilConv(5, s, 2, affine, impl, name=name),
}
"""Registry: op name -> ``factory(channels, stride, affine, depthwise_impl, name)``."""


def validate_primitives(primitives: Sequence[str]) -> tuple[str, ...]:
  """Checks an op set against the registry; returns it as a tuple.

  Raises:
    ValueError: one line naming the unknown op and the known ones.
  """
  primitives = tuple(primitives)
  if not primitives:
    raise ValueError('the op set (primitives) is empty')
  for name in primitives:
    if name not in OPS:
      raise ValueError(f'unknown op {name!r} in primitives; known ops: {", ".join(sorted(OPS))}')
  if len(set(primitives)) != len(primitives):
    raise ValueError(f'primitives has duplicates: {list(primitives)}')
  return primitives


def make_op(name: str, channels: int, stride: int, *, affine: bool = False,
            depthwise_impl: str = 'auto', module_name: str | None = None) -> nn.Module:
  """Builds op ``name`` from the registry."""
  if name not in OPS:
    raise ValueError(f'unknown op {name!r}; known ops: {", ".join(sorted(OPS))}')
  return OPS[name](channels, stride, affine, depthwise_impl, module_name or name)
