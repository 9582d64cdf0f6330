"""The op modules the search spaces build their candidate ops from, as Flax modules.

Layout is **CNHW** (channel-major): activations are ``(C, N, H, W)``. Every op
maps ``C`` channels to ``C`` channels; at ``stride=2`` it halves the spatial
size. ``SearchNetwork`` takes NHWC images and transposes once at its input.
The semantics follow the DARTS reference:

* search-time BatchNorm has no affine parameters (``affine=False``);
* pooling is followed by BatchNorm;
* ``skip_connect`` at stride 2 is a factorized reduce;
* ``none`` outputs zeros of the output shape.

Each space names its op set in an :class:`OpRegistry` of factories
(``nas_jax/spaces/<space>/ops.py``): the DARTS one has the semantics above, the
NAS-Bench-201 one is ReLU-conv-BN at 1x1 and 3x3, 3x3 average pooling
*without* BatchNorm, identity and zeros, all at stride 1 only.

Two implementation choices matter for speed and compile time (see
``benchmarks/README.md``):

* The channel-major layout. The banded depthwise matmuls below batch over
  the channel, which must be a leading axis of a dot; in NHWC every one of
  them needed a transpose in and out, and those transposes were a third of
  a paper-size cell's time. In CNHW the 1x1 convolutions are plain matmuls
  ``(C_out, C_in) x (C_in, N*H*W)`` and BatchNorm reduces over contiguous
  memory. One paper-size cell: 4.39 -> 3.62-3.70 s forward-backward (same script;
  ``benchmarks/README.md``).
* Pointwise (1x1) convolutions are matmuls over the channel axis, so that
  when the op bank is ``vmap``-ed over edges they become batched matmuls
  rather than grouped convolutions.
* Depthwise convolutions have three numerically equal implementations (tests
  compare values and gradients): ``'toeplitz'`` (k row slices and one banded
  matmul along W per channel; the fastest in the whole net on XLA:CPU),
  ``'shift'`` (k*k strided slices times per-channel weights) and
  ``'grouped'`` (``feature_group_count=C``; cuDNN's fast path on GPU).
  ``'auto'`` picks ``toeplitz`` on CPU and ``grouped`` elsewhere;
  ``benchmarks/README.md`` has the measurements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import dataclasses
import functools

import flax.linen as nn
import jax
from jax.ad_checkpoint import checkpoint_name
import jax.numpy as jnp
import numpy as np

DEPTHWISE_IMPLS = ('auto', 'shift', 'grouped', 'toeplitz')
DEPTHWISE_ROWS = 'depthwise_rows'  # checkpoint name of the toeplitz form's stacked row taps

# Torch's default conv/linear init (kaiming uniform with a=sqrt(5)) is
# U(-1/sqrt(fan_in), 1/sqrt(fan_in)), i.e. variance 1/(3 fan_in).
torch_default_init = nn.initializers.variance_scaling(1.0 / 3.0, 'fan_in', 'uniform')
# The same for an (out, in) matrix such as the pointwise kernel.
torch_default_init_out_in = nn.initializers.variance_scaling(
    1.0 / 3.0, 'fan_in', 'uniform', in_axis=-1, out_axis=-2
)

# lax convolution dimension numbers for channel-major activations and HWIO kernels.
CNHW = ('CNHW', 'HWIO', 'CNHW')


def to_cnhw(x: jax.Array) -> jax.Array:
  """NHWC -> CNHW."""
  return jnp.transpose(x, (3, 0, 1, 2))


def to_nhwc(x: jax.Array) -> jax.Array:
  """CNHW -> NHWC."""
  return jnp.transpose(x, (1, 2, 3, 0))


def resolve_depthwise_impl(impl: str) -> str:
  """Returns the concrete depthwise implementation for ``impl`` on this backend."""
  if impl not in DEPTHWISE_IMPLS:
    raise ValueError(f'depthwise_impl must be one of {DEPTHWISE_IMPLS}, got {impl!r}')
  if impl == 'auto':
    return 'toeplitz' if jax.default_backend() == 'cpu' else 'grouped'
  return impl


ModuleDef = Callable[..., nn.Module]
"""A module factory, such as a :func:`depthwise_conv` (``factory(kernel, stride, dilation,
name=...)``)."""


def depthwise_conv(impl: str = 'auto') -> ModuleDef:
  """The depthwise convolution factory networks take (their ``dw_conv``): :class:`DepthwiseConv`
  with ``impl`` resolved on this backend ('auto': 'toeplitz' on CPU, 'grouped' elsewhere).

  Chosen once, at the edge (``nas_jax.components``). Each implementation has one shared
  factory, so networks built with the same choice compare equal.
  """
  return _DEPTHWISE_FACTORIES[resolve_depthwise_impl(impl)]


def output_size(size: int, kernel: int, stride: int, dilation: int, padding: int) -> int:
  """Spatial output size of a convolution or pooling window."""
  return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _taps(
    x: jax.Array,
    axis: int,
    kernel: int,
    stride: int,
    dilation: int,
    padding: int,
    pad_value: float = 0.0,
) -> list[jax.Array]:
  """The ``kernel`` strided views of ``x`` padded along ``axis`` that a 1-D window visits."""
  out = output_size(x.shape[axis], kernel, stride, dilation, padding)
  pads = [(0, 0)] * x.ndim
  pads[axis] = (padding, padding)
  xp = jnp.pad(x, pads, constant_values=pad_value)
  span = (out - 1) * stride + 1
  return [
      jax.lax.slice_in_dim(xp, t * dilation, t * dilation + span, stride, axis)
      for t in range(kernel)
  ]


def depthwise_conv_shift(
    x: jax.Array, kernel_hwc: jax.Array, *, stride: int, dilation: int, padding: int
) -> jax.Array:
  """Depthwise convolution as a sum of k*k shifted slices times per-channel weights.

  Args:
    x: CNHW input.
    kernel_hwc: weights of shape ``(k, k, C)``.
    stride: spatial stride.
    dilation: kernel dilation.
    padding: symmetric zero padding.

  Returns:
    CNHW output with ``C`` channels.
  """
  k = kernel_hwc.shape[0]
  out = None
  for i, rows in enumerate(_taps(x, 2, k, stride, dilation, padding)):
    for j, view in enumerate(_taps(rows, 3, k, stride, dilation, padding)):
      term = view * kernel_hwc[i, j][:, None, None, None]
      out = term if out is None else out + term
  return out


def depthwise_conv_grouped(
    x: jax.Array, kernel_hwc: jax.Array, *, stride: int, dilation: int, padding: int
) -> jax.Array:
  """Depthwise convolution through ``feature_group_count`` (cuDNN's fast path)."""
  rhs = kernel_hwc[:, :, None, :]  # HWIO with I=1
  return jax.lax.conv_general_dilated(
      x,
      rhs.astype(x.dtype),
      window_strides=(stride, stride),
      padding=((padding, padding), (padding, padding)),
      rhs_dilation=(dilation, dilation),
      dimension_numbers=CNHW,
      feature_group_count=x.shape[0],
  )


def _band(
    kernel: int, width: int, out_width: int, stride: int, dilation: int, padding: int
) -> np.ndarray:
  """``band[j, w_in, w_out] = 1`` where input column w_in feeds output column w_out through tap j."""
  band = np.zeros((kernel, width, out_width), np.float32)
  for j in range(kernel):
    for v in range(out_width):
      src = v * stride + j * dilation - padding
      if 0 <= src < width:
        band[j, src, v] = 1.0
  return band


def depthwise_conv_toeplitz(x, kernel_hwc, *, stride, dilation, padding):
  """k row shifts, then one batched matmul per channel along W with a banded matrix.

  ``(C, N*Ho, k*W) x (C, k*W, Wo)``: the channel is the leading (batch) axis of
  both operands, so in CNHW the dot needs no transposes.
  """
  k = kernel_hwc.shape[0]
  w = x.shape[3]
  wo = output_size(w, k, stride, dilation, padding)
  rows = jnp.stack(_taps(x, 2, k, stride, dilation, padding), axis=3)  # (C, N, Ho, k, W)
  # Named so that SearchNetwork(remat=True) can recompute it in the backward
  # pass instead of storing k copies of the input.
  rows = checkpoint_name(rows, DEPTHWISE_ROWS)
  band = jnp.asarray(_band(k, w, wo, stride, dilation, padding), kernel_hwc.dtype)
  mats = jnp.einsum('ijc,jwv->ciwv', kernel_hwc, band)  # (C, k, W, Wo)
  return jnp.einsum('cnhiw,ciwv->cnhv', rows, mats)


class DepthwiseConv(nn.Module):
  """k x k depthwise convolution without bias (CNHW)."""

  kernel: int
  stride: int = 1
  dilation: int = 1
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = x.shape[0]
    # fan_in of a depthwise kernel is k*k (one input channel per group).
    w = self.param(
        'kernel',
        lambda key, shape: torch_default_init(key, (self.kernel, self.kernel, 1, c))[:, :, 0, :],
        (self.kernel, self.kernel, c),
    )
    padding = self.dilation * (self.kernel - 1) // 2
    if self.is_initializing():
      # Initialization only needs shapes: skip the taps to keep init's graph small.
      size = lambda s: output_size(s, self.kernel, self.stride, self.dilation, padding)
      return jnp.zeros((c, x.shape[1], size(x.shape[2]), size(x.shape[3])), jnp.result_type(x, w))
    fn = {
        'shift': depthwise_conv_shift,
        'grouped': depthwise_conv_grouped,
        'toeplitz': depthwise_conv_toeplitz,
    }[resolve_depthwise_impl(self.impl)]
    return fn(
        x,
        w.astype(x.dtype) if x.dtype != w.dtype else w,
        stride=self.stride,
        dilation=self.dilation,
        padding=padding,
    )


_DEPTHWISE_FACTORIES = {
    impl: functools.partial(DepthwiseConv, impl=impl) for impl in ('shift', 'grouped', 'toeplitz')
}


class PointwiseConv(nn.Module):
  """1x1 convolution as a matmul over channels (batches cleanly under vmap).

  The kernel is ``(C_out, C_in)`` (torch's layout) and the output is
  ``kernel @ x`` in CNHW: the (M, K) x (K, N) form that XLA:CPU hands to
  XNNPACK without transposes.
  """

  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', torch_default_init_out_in, (self.features, x.shape[0]))
    return jnp.tensordot(kernel.astype(x.dtype), x, axes=((1,), (0,)))


CONV_IMPLS = ('xla', 'im2col')


def conv_im2col(x: jax.Array, kernel: jax.Array, stride: int, pad: int) -> jax.Array:
  """``lax.conv_general_dilated`` of CNHW ``x`` with an HWIO kernel, as one matmul.

  The k*k shifted (strided) views are stacked and contracted with the kernel.
  XLA:CPU runs a convolution inside a conditional (``nn.switch``) about 6x
  slower than at the top level, and this form about as fast in either place
  (``benchmarks/tabular.py``).
  """
  k = kernel.shape[0]
  c, n, h, w = x.shape
  xp = jnp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  oh = (h + 2 * pad - k) // stride + 1
  ow = (w + 2 * pad - k) // stride + 1
  taps = [
      xp[:, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]
      for i in range(k)
      for j in range(k)
  ]
  return jnp.einsum('tcnhw,tco->onhw', jnp.stack(taps), kernel.reshape(k * k, c, -1))


class Conv(nn.Module):
  """k x k convolution without bias in CNHW, HWIO kernel; padding (k-1)/2 unless given.

  ``impl``: ``'xla'`` (``lax.conv_general_dilated``) or ``'im2col'``
  (:func:`conv_im2col`, the same function and parameter).
  """

  features: int
  kernel: int = 3
  stride: int = 1
  padding: int | None = None
  impl: str = 'xla'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param(
        'kernel', torch_default_init, (self.kernel, self.kernel, x.shape[0], self.features)
    )
    pad = (self.kernel - 1) // 2 if self.padding is None else self.padding
    if self.impl == 'im2col':
      return conv_im2col(x, kernel.astype(x.dtype), self.stride, pad)
    if self.impl != 'xla':
      raise ValueError(f'Conv.impl must be one of {CONV_IMPLS}, got {self.impl!r}')
    return jax.lax.conv_general_dilated(
        x,
        kernel.astype(x.dtype),
        (self.stride, self.stride),
        ((pad, pad), (pad, pad)),
        dimension_numbers=CNHW,
    )


BN_MOMENTUM = 0.9  # a running statistic moves (1 - BN_MOMENTUM) of the way to each batch's


class BatchNorm(nn.Module):
  """BatchNorm with PyTorch's defaults (momentum 0.1, eps 1e-5)."""

  affine: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    # The mode is given at call time (not to the constructor): ONNX export (jax2onnx)
    # intercepts flax's BatchNorm call and passes it there.
    return nn.BatchNorm(
        axis=0,
        momentum=BN_MOMENTUM,
        epsilon=1e-5,
        use_bias=self.affine,
        use_scale=self.affine,
        name='bn',
    )(x, use_running_average=not train)


class ReLU(nn.Module):
  """``nn.relu`` as a module, so that ``nn.intercept_methods`` can find every ReLU of a network
  (the NASWOT proxy reads their activation codes). No variables: the trees are unchanged."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return nn.relu(x)


class ReLUConvBN(nn.Module):
  """ReLU -> k x k conv -> BN; used by the cell preprocessing (k=1) and the eval net."""

  features: int
  kernel: int = 1
  stride: int = 1
  affine: bool = False
  conv_impl: str = 'xla'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = ReLU()(x)
    if self.kernel == 1 and self.stride == 1:
      x = PointwiseConv(self.features, name='conv')(x)
    else:
      x = Conv(self.features, self.kernel, self.stride, impl=self.conv_impl, name='conv')(x)
    return BatchNorm(self.affine, name='bn')(x, train)


class FactorizedReduce(nn.Module):
  """Halves the spatial size with two offset stride-2 1x1 convs, concatenated."""

  features: int
  affine: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.features % 2:
      raise ValueError(f'FactorizedReduce needs an even channel count, got {self.features}')
    x = ReLU()(x)
    h, w = x.shape[2], x.shape[3]
    # The second path starts at (1, 1); pad odd sizes so both paths agree. Strided
    # lax.slice, not x[..., ::2, ::2]: with a symbolic batch (jax.export) numpy-style
    # strides lower to a dynamic gather, which TFLite cannot convert.
    every_other = lambda t, at: jax.lax.slice(t, (0, 0, at, at), t.shape, (1, 1, 2, 2))
    shifted = every_other(jnp.pad(x, ((0, 0), (0, 0), (0, h % 2), (0, w % 2))), 1)
    a = PointwiseConv(self.features // 2, name='conv_1')(every_other(x, 0))
    b = PointwiseConv(self.features // 2, name='conv_2')(shifted)
    return BatchNorm(self.affine, name='bn')(jnp.concatenate([a, b], axis=0), train)


class SepConv(nn.Module):
  """DARTS separable conv: (ReLU, dw k x k, pw 1x1, BN) twice, stride on the first.

  ``dw_conv``: the depthwise convolution factory (:func:`depthwise_conv`; None: the backend's).
  """

  kernel: int
  stride: int = 1
  affine: bool = False
  dw_conv: ModuleDef | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    c = x.shape[0]
    dw_conv = self.dw_conv or depthwise_conv()
    for i, stride in enumerate((self.stride, 1)):
      x = ReLU()(x)
      x = dw_conv(self.kernel, stride, 1, name=f'dw_{i}')(x)
      x = PointwiseConv(c, name=f'pw_{i}')(x)
      x = BatchNorm(self.affine, name=f'bn_{i}')(x, train)
    return x


class DilConv(nn.Module):
  """DARTS dilated conv: ReLU, dilated dw k x k (dilation 2), pw 1x1, BN (``dw_conv`` as in
  :class:`SepConv`)."""

  kernel: int
  stride: int = 1
  dilation: int = 2
  affine: bool = False
  dw_conv: ModuleDef | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    c = x.shape[0]
    x = ReLU()(x)
    dw_conv = self.dw_conv or depthwise_conv()
    x = dw_conv(self.kernel, self.stride, self.dilation, name='dw')(x)
    x = PointwiseConv(c, name='pw')(x)
    return BatchNorm(self.affine, name='bn')(x, train)


def max_pool_3x3(x: jax.Array, stride: int) -> jax.Array:
  """3x3 max pooling of CNHW ``x``, padding 1 (padded cells never win).

  Separable: a max over 3 row-shifted slices, then over 3 column-shifted
  slices. Its gradient is elementwise selects; XLA:CPU's ``reduce_window``
  gradient (``select_and_scatter``) was 8x slower forward-backward. At exact
  ties the gradient is shared between the tied inputs (a valid subgradient)
  instead of going to the first one.
  """
  rows = functools.reduce(jnp.maximum, _taps(x, 2, 3, stride, 1, 1, -jnp.inf))
  return functools.reduce(jnp.maximum, _taps(rows, 3, 3, stride, 1, 1, -jnp.inf))


def _window_counts(size: int, stride: int) -> np.ndarray:
  """How many of the 3 window cells along one axis (padding 1) fall inside the input."""
  out = output_size(size, 3, stride, 1, 1)
  return np.array(
      [sum(0 <= o * stride - 1 + t < size for t in range(3)) for o in range(out)], np.float32
  )


def avg_pool_3x3(x: jax.Array, stride: int) -> jax.Array:
  """3x3 average pooling of CNHW ``x``, padding 1, padded cells not counted."""
  total = jax.lax.reduce_window(
      x,
      np.zeros((), x.dtype),
      jax.lax.add,
      (1, 1, 3, 3),
      (1, 1, stride, stride),
      ((0, 0), (0, 0), (1, 1), (1, 1)),
  )
  counts = np.outer(_window_counts(x.shape[2], stride), _window_counts(x.shape[3], stride))
  return total / jnp.asarray(counts, x.dtype)


class Pool(nn.Module):
  """3x3 pooling, followed by BatchNorm in the search cell (``bn=True``) but not in the eval net."""

  kind: str
  stride: int = 1
  affine: bool = False
  bn: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    pool = max_pool_3x3 if self.kind == 'max' else avg_pool_3x3
    y = pool(x, self.stride)
    return BatchNorm(self.affine, name='bn')(y, train) if self.bn else y


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
    return jnp.zeros_like(x[:, :, :: self.stride, :: self.stride])


def parse_primitives(value: str | Sequence[str]) -> tuple[str, ...]:
  """An op set as a tuple of names, from a sequence of names or a comma-separated string.

  The command line forms all arrive here: ``--config.space.primitives=none,sep_conv_3x3``
  (ml_collections' tuple parser passes it on as the one element
  ``'none,sep_conv_3x3'``), ``--config.space.primitives="('none','sep_conv_3x3')"`` and
  the flag repeated once per op. Names are split at commas and stripped of
  spaces, quotes and brackets (``(none,sep_conv_3x3)`` when the shell ate the quotes).

  Raises:
    ValueError: one line, if ``value`` is neither a string nor a sequence of strings.
  """
  items = (value,) if isinstance(value, str) else value
  if not isinstance(items, (list, tuple)):
    raise ValueError(
        f'expected op names (a tuple, a list or a comma-separated string), got ' f'{value!r}'
    )
  names = []
  for item in items:
    if not isinstance(item, str):
      raise ValueError(f'op names must be strings, got {item!r} in {value!r}')
    names += [n for n in (part.strip(' \'"()[]') for part in item.split(',')) if n]
  return tuple(names)


OpFactory = Callable[..., nn.Module]
"""``factory(channels, stride, affine, dw_conv, name) -> nn.Module``."""


@dataclasses.dataclass(frozen=True, eq=False)
class OpRegistry:
  """A space's op set: op name -> factory. Hashable (by identity), so a Flax field can hold it.

  Attributes:
    space: the space's name (for messages only).
    factories: ``{name: factory(channels, stride, affine, dw_conv, name)}``.
  """

  space: str
  factories: Mapping[str, OpFactory]

  def __contains__(self, name: str) -> bool:
    return name in self.factories

  def names(self) -> tuple[str, ...]:
    return tuple(self.factories)

  def validate(self, primitives: Sequence[str]) -> tuple[str, ...]:
    """Checks an op set against this registry; returns it as a tuple.

    Raises:
      ValueError: one line naming the unknown op and the known ones, or the duplicates.
    """
    primitives = tuple(primitives)
    if not primitives:
      raise ValueError('the op set (primitives) is empty')
    for name in primitives:
      if name not in self.factories:
        raise ValueError(
            f'unknown op {name!r} in primitives; known ops of the {self.space} '
            f'space: {", ".join(sorted(self.factories))}'
        )
    if len(set(primitives)) != len(primitives):
      raise ValueError(f'primitives has duplicates: {list(primitives)}')
    return primitives

  def make(
      self,
      name: str,
      channels: int,
      stride: int,
      *,
      affine: bool = False,
      dw_conv: ModuleDef | None = None,
      module_name: str | None = None,
  ) -> nn.Module:
    """Builds op ``name`` (a one-line ValueError for an op outside this registry); ``dw_conv``
    is the depthwise convolution factory of the ops that have one (None: the backend's)."""
    if name not in self.factories:
      raise ValueError(
          f'unknown op {name!r}; known ops of the {self.space} space: '
          f'{", ".join(sorted(self.factories))}'
      )
    return self.factories[name](channels, stride, affine, dw_conv, module_name or name)
