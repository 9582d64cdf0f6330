"""Zero-cost proxies: a score of an untrained network from one minibatch.

Each proxy takes ``forward(params, x, train) -> logits`` (see :func:`forward_of`, which
builds it from a Flax module, its variables and any extra call arguments such as an
arch network's ``arch``), the initial ``params`` and one labelled batch ``(x, y)``, and
returns a float. Higher is meant to be better (the sign conventions are the papers').
``L`` is the mean softmax cross-entropy of the batch in training mode (batch statistics).

The reference is zero-cost-nas (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021; github.com/SamsungLabs/zero-cost-nas, ``foresight/pruners``). As there, the
gradient proxies sum over the **weights** ``W`` only: every convolution and dense layer's
kernel (the parameters named ``kernel``: ``ops.Conv``, ``ops.PointwiseConv``,
``ops.DepthwiseConv``, ``nn.Dense``), as its ``get_layer_metric_array`` visits the
``weight`` of each ``nn.Conv2d`` and ``nn.Linear``; BatchNorm scales and biases and dense
biases are left out of the sums (they still take part in the forward pass). ``g = dL/dW``.

* :func:`grad_norm` (Abdelfattah et al.): ``sum_l ||g_l||_2``, the Euclidean norm of each
  weight tensor's gradient, summed over layers.
* :func:`snip` (Lee et al., ICLR 2019, as a proxy by Abdelfattah et al.): ``sum |W * g|``.
* :func:`grasp` (Wang et al., ICLR 2020): ``-sum W * (H g)``, ``H`` the Hessian of ``L``
  with respect to the weights (zero-cost-nas differentiates ``g . dL/dW`` with respect to
  the weights); ``H g`` is one forward-over-reverse product (``jax.jvp`` of the gradient
  along ``g``, zero on the other parameters).
* :func:`synflow` (Tanaka et al., NeurIPS 2020): every parameter replaced by its absolute
  value, every BatchNorm removed (the identity: zero-cost-nas's ``bn=False``; by
  ``nn.intercept_methods``, inside ``nn.switch`` branches too), an all-ones input of one
  example; ``R = sum(logits)`` and the score ``S = sum |W| * dR/d|W|``. As in zero-cost-nas
  it is computed in float64 (``jax.enable_x64`` around its trace, under ``jit`` too): at
  NB201's own size (C=16, N=5, 32x32, all 3x3 convolutions) ``S`` is about 1e50, past
  float32's 3.4e38, and the float32 gradient overflowed to NaN. It **returns
  ``log(1 + S)``** in float32 (the log taken in float64), which every size fits: a monotone
  map of ``S``, so ranks and rank correlations are the reference's, and a cell whose output
  no weight reaches (``S = 0``) scores 0 rather than ``-inf``; the float32 log keeps ``S``
  to a few parts in 1e6. Departure: zero-cost-nas's own NB201 model (``nasbench2.py``)
  keeps the two residual blocks' BatchNorms when built without them (its ``reduction``
  takes no ``use_bn``), and runs them in training mode on the one example; that model's
  quirk is not reproduced here.
* :func:`fisher` (Theis et al. 2018, as a proxy by Abdelfattah et al.): per output channel
  ``k`` of every convolution and dense layer's output ``a``, ``g_nk = sum_hw a * dL/da``
  for example ``n`` (the gradient of ``L`` with respect to a unit channel mask) and
  ``F_k = 0.5 * mean_n g_nk^2``; zero-cost-nas broadcasts ``F_k`` over the channel's
  ``weight.shape[1:]`` before summing, so the score is ``sum_k fan_in * F_k``, ``fan_in``
  the weights of one output channel (``in_ch * k * k`` for a convolution, ``k * k`` for a
  depthwise one, ``in`` for a dense layer). The masks are put on the layer outputs by
  ``nn.intercept_methods``, so it runs on any network built from ``nas_jax.ops`` (an arch
  network's ``nn.switch`` branches included: the masks of branches not taken get zero
  gradient); a layer called twice adds both calls' ``F_k``.
* :func:`jacov` (Mellor et al. 2020, the first version of NASWOT; zero-cost-nas's
  ``jacob_cov``): ``J`` the gradient of the batch's summed logits with respect to the input
  batch, in training mode (BatchNorm on batch statistics, as both references: the rows are
  then coupled through the statistics), row ``n`` read as example ``n``'s; ``C`` the
  correlation matrix of the rows, with eigenvalues ``l`` (``eigvalsh``; the reference's
  ``eig`` of the same symmetric matrix); the score is ``-sum(log(l + k) + 1 / (l + k))``,
  ``k = 1e-5``.
* :func:`naswot` (Mellor et al., ICML 2021, "Neural Architecture Search without Training"):
  ``c_n`` the binary code of example ``n``, one bit ``[a > 0]`` per unit of every ReLU's
  input ``a`` (every :class:`nas_jax.ops.ReLU` of the network, training mode). The kernel
  ``K_nm = N_A - d_H(c_n, c_m)``, the number of units on which the two codes agree, and the
  score ``log |det K|``. (Not a zero-cost-nas measure.)

:data:`PROXIES` maps names to them.
"""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nas_jax import data as data_lib
from nas_jax import ops
from nas_jax.estimators.tabular import Results
from nas_jax.registry import Registry
from nas_jax.tabular.trainer import load_splits

__all__ = [
    'PROXIES',
    'fisher',
    'forward_of',
    'grad_norm',
    'grasp',
    'jacov',
    'naswot',
    'naswot_kernel',
    'snip',
    'synflow',
]

Forward = Callable[[Any, jax.Array, bool], jax.Array]


def forward_of(module, variables: dict[str, Any], *args) -> Forward:
  """``forward(params, x, train)`` of a Flax ``module`` called as ``module(x, *args, train)``,
  with ``variables``' other collections (BatchNorm statistics) held fixed; in training mode
  the statistics' updates are computed and dropped."""
  rest = {k: v for k, v in variables.items() if k != 'params'}

  def forward(params, x, train):
    out = module.apply({'params': params, **rest}, x, *args, train, mutable=['batch_stats'])[0]
    return out[0] if isinstance(out, tuple) else out

  return forward


def _loss(forward: Forward, params, x, y) -> jax.Array:
  logits = forward(params, x, True)
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _grads(forward, params, x, y):
  return jax.grad(lambda p: _loss(forward, p, x, y))(params)


def _is_weight(path) -> bool:
  """A convolution or dense layer's weight: a parameter whose leaf name is ``kernel`` (every
  ``nas_jax.ops`` convolution and ``nn.Dense``; BatchNorm's ``scale`` and ``bias`` and dense
  biases are not)."""
  last = path[-1]
  return getattr(last, 'key', getattr(last, 'name', None)) == 'kernel'


def _weights(tree) -> list[jax.Array]:
  """The leaves of ``tree`` (a parameter tree or one of its shape) at the weights' paths."""
  return [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(tree) if _is_weight(path)]


def _weights_only(tree):
  """``tree`` with every leaf that is not a weight zeroed."""
  return jax.tree_util.tree_map_with_path(
      lambda path, leaf: leaf if _is_weight(path) else jnp.zeros_like(leaf), tree
  )


def grad_norm(forward: Forward, params, x, y) -> jax.Array:
  """``sum_l ||dL/dW_l||_2`` over the convolution and dense weights ``W_l``."""
  g = _grads(forward, params, x, y)
  return sum(jnp.linalg.norm(leaf.ravel()) for leaf in _weights(g))


def snip(forward: Forward, params, x, y) -> jax.Array:
  """``sum |W * dL/dW|`` over the convolution and dense weights."""
  g = _grads(forward, params, x, y)
  return sum(jnp.sum(jnp.abs(w * d)) for w, d in zip(_weights(params), _weights(g)))


def grasp(forward: Forward, params, x, y) -> jax.Array:
  """``-sum W * (H g)`` over the weights, ``H`` and ``g`` the Hessian and gradient of the loss
  with respect to the weights only; by forward-over-reverse."""
  grad_fn = lambda p: _grads(forward, p, x, y)
  g = _weights_only(jax.lax.stop_gradient(grad_fn(params)))
  _, hg = jax.jvp(grad_fn, (params,), (g,))
  return -sum(jnp.sum(w * h) for w, h in zip(_weights(params), _weights(hg)))


def _is_batch_norm(context) -> bool:
  return context.method_name == '__call__' and isinstance(
      context.module, (ops.BatchNorm, nn.BatchNorm)
  )


def _without_batch_norm(next_fun, args, kwargs, context):
  """An interceptor that makes every BatchNorm the identity (zero-cost-nas's ``bn=False``)."""
  return args[0] if _is_batch_norm(context) else next_fun(*args, **kwargs)


def synflow(forward: Forward, params, x, y) -> jax.Array:
  """``log(1 + sum |W| * dR/d|W|)``, ``R`` the summed logits of an all-ones example through
  the network with every parameter made absolute and every BatchNorm removed; computed in
  float64 (module docstring)."""
  del y
  with jax.enable_x64(True):
    absolute = jax.tree.map(lambda p: jnp.abs(p).astype(jnp.float64), params)
    ones = jnp.ones((1,) + x.shape[1:], jnp.float64)

    def total(p):
      with nn.intercept_methods(_without_batch_norm):
        return jnp.sum(forward(p, ones, False))

    grads = jax.grad(total)(absolute)
    score = sum(jnp.sum(w * d) for w, d in zip(_weights(absolute), _weights(grads)))
    return jnp.log1p(score).astype(jnp.float32)


def _fisher_site(context) -> bool:
  return context.method_name == '__call__' and isinstance(
      context.module, (ops.Conv, ops.PointwiseConv, ops.DepthwiseConv, nn.Dense)
  )


def _fan_in(module) -> int:
  """The number of weights of one output channel: the size of torch's ``weight.shape[1:]``."""
  shape = module.variables['params']['kernel'].shape
  if isinstance(module, ops.DepthwiseConv):  # (k, k, C): one input channel per group
    return int(np.prod(shape[:2]))
  if isinstance(module, ops.PointwiseConv):  # (C_out, C_in)
    return int(shape[1])
  return int(np.prod(shape[:-1]))  # HWIO convolution, (in, out) dense


def _masked(out, mask):
  return out * (mask[:, :, None, None] if out.ndim == 4 else mask)  # CNHW convs, (N, C) dense


def fisher(forward: Forward, params, x, y) -> jax.Array:
  """``sum over layers and channels of fan_in * 0.5 * mean_n g_nk^2`` (module docstring)."""
  sites = []  # (mask shape, example axis, fan-in) of every call of a conv or dense layer

  def record(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if _fisher_site(context):  # CNHW: (C, N); dense: (N, C)
      sites.append((out.shape[:2], 1 if out.ndim == 4 else 0, _fan_in(context.module)))
    return out

  with nn.intercept_methods(record):
    jax.eval_shape(lambda p: forward(p, x, True), params)
  masks = [jnp.ones(shape, x.dtype) for shape, _, _ in sites]

  def loss(masks):
    remaining = iter(masks)

    def apply_mask(next_fun, args, kwargs, context):
      out = next_fun(*args, **kwargs)
      return _masked(out, next(remaining)) if _fisher_site(context) else out

    with nn.intercept_methods(apply_mask):
      return _loss(forward, params, x, y)

  grads = jax.grad(loss)(masks)
  return sum(
      fan_in * 0.5 * jnp.sum(jnp.mean(g**2, axis=axis))
      for g, (_, axis, fan_in) in zip(grads, sites)
  )


def jacov(forward: Forward, params, x, y, k: float = 1e-5) -> jax.Array:
  """``-sum(log(l + k) + 1 / (l + k))`` over the eigenvalues of the input-Jacobian
  correlation matrix (training mode: the rows of one batch gradient)."""
  del y
  jac = jax.grad(lambda xs: jnp.sum(forward(params, xs, True)))(x)
  jac = jac.reshape(x.shape[0], -1)
  centred = jac - jac.mean(axis=1, keepdims=True)
  cov = centred @ centred.T
  std = jnp.sqrt(jnp.diag(cov))
  corr = cov / (std[:, None] * std[None, :])
  eig = jnp.linalg.eigvalsh(corr)
  return -jnp.sum(jnp.log(eig + k) + 1.0 / (eig + k))


@jax.custom_vjp
def _code_probe(a, probe):
  """The identity on ``a``; its gradient with respect to ``probe`` is ``a``'s code kernel,
  whatever the cotangent. Summed over every ReLU of a network by one backward pass, which
  also reaches the ReLUs inside ``nn.switch`` branches, whose values cannot leave them."""
  del probe
  return a


def _code_kernel(a: jax.Array) -> jax.Array:
  """``K_nm`` = the number of units of ``a`` (CNHW, or (N, C) for a dense layer) on which
  examples n and m are both active or both inactive."""
  flat = jnp.moveaxis(a, 1, 0) if a.ndim == 4 else a
  c = (flat.reshape(flat.shape[0], -1) > 0).astype(jnp.float32)
  return c @ c.T + (1.0 - c) @ (1.0 - c).T


def _probe_fwd(a, probe):
  return a, (a, probe)


def _probe_bwd(residual, ct):
  a, probe = residual
  return ct, _code_kernel(a).astype(probe.dtype)


_code_probe.defvjp(_probe_fwd, _probe_bwd)


def naswot_kernel(forward: Forward, params, x) -> jax.Array:
  """NASWOT's ``K`` (module docstring) of the batch ``x``: (N, N), float32."""

  def total(probe):
    def at_relu(next_fun, args, kwargs, context):
      if isinstance(context.module, ops.ReLU) and context.method_name == '__call__':
        args = (_code_probe(args[0], probe),) + tuple(args[1:])
      return next_fun(*args, **kwargs)

    with nn.intercept_methods(at_relu):
      return jnp.sum(forward(params, x, True))

  return jax.grad(total)(jnp.zeros((x.shape[0], x.shape[0]), jnp.float32))


def naswot(forward: Forward, params, x, y) -> jax.Array:
  """``log |det K|`` of the ReLU code kernel (module docstring)."""
  del y
  return jnp.linalg.slogdet(naswot_kernel(forward, params, x))[1]


PROXIES: Registry = Registry('proxy')
for _fn in (grad_norm, snip, grasp, fisher, synflow, jacov, naswot):
  PROXIES.add(_fn.__name__, _fn)


class ProxyEstimator:
  """A zero-cost proxy as an estimator: each asked architecture scored at initialization.

  The network is the space's arch network at the protocol's size, so one compiled program
  scores every cell (and every proxy asked: ``proxy`` may name several, computed in that
  one program; the first is the score, :attr:`last_values` holds them all) (the candidate ops a cell does not use get no gradient and add nothing
  to any proxy; tested against the cell's own evaluation network). The batch is the first
  training batch of the protocol's data order at ``seed``, the weights those of member
  ``(arch, seed)`` of the population trainer. The score is the proxy (higher better), the
  cost the measured seconds, and there is no report (``NaN``): the proxy knows no accuracy.

  Args:
    space, protocol: as for ``TrainEstimator``.
    proxy: a name in :data:`PROXIES`, or a tuple of them.
    batch: the minibatch size (None: the protocol's).
    seed: weights and batch seed.
    splits: the loaded data (default: loaded from the protocol).
  """

  jittable = False
  objectives = ()
  table = None  # no ground truth of its own
  early_stop = None

  def __init__(self, space, protocol, proxy='synflow', batch=None, seed=0, splits=None):
    names = (proxy,) if isinstance(proxy, str) else tuple(proxy)
    for name in names:
      PROXIES.lookup(name)  # a one-line ConfigError (a ValueError) for an unknown one
    self.space, self.protocol, self.names, self.seed = space, protocol, names, int(seed)
    splits = splits if splits is not None else load_splits(protocol)
    meta = data_lib.dataset_meta(protocol.dataset)
    stream = data_lib.BatchStream(
        splits.train,
        batch or protocol.batch_size,
        seed=self.seed,
        mean=np.asarray(meta.mean, np.float32),
        std=np.asarray(meta.std, np.float32),
    )
    x, y = (jnp.asarray(a) for a in stream.batch(0, 0))
    self.net = net = space.arch_network(
        meta.num_classes, channels=protocol.channels, layers=protocol.cells_per_stage
    )

    def score(arch):
      variables = net.init(jax.random.key(self.seed), x, arch, False)
      forward = forward_of(net, variables, arch)
      return jnp.stack([PROXIES[n](forward, variables['params'], x, y) for n in names])

    self._score = jax.jit(score)
    self.batch = (x, y)

  def variables(self, arch):
    """The initial variables a cell is scored with."""
    return self.net.init(jax.random.key(self.seed), self.batch[0], jnp.asarray(arch), False)

  def __call__(self, archs, key=None, epochs=None):
    del key, epochs  # a proxy has one fidelity
    archs = np.asarray(archs, np.int32)
    values, costs = [], []
    for arch in archs:
      start = time.perf_counter()
      values.append(np.asarray(self._score(jnp.asarray(arch))))
      costs.append(time.perf_counter() - start)
    self.last_values = np.asarray(values, np.float32).reshape(len(archs), len(self.names))
    value = self.last_values[:, 0]
    return Results(
        score=value,
        value=value,
        report=np.full(len(archs), np.nan, np.float32),
        cost=np.asarray(costs, np.float32),
        full=np.ones(len(archs), bool),
    )
