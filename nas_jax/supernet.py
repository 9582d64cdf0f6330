"""What both supernets share: the mixed op of one edge, its options, and the edge scan.

The architecture parameters (alpha) are not variables of the supernets: every
call takes the op weights of each cell type (``{'normal': (E, K), 'reduce':
(E, K)}`` in the DARTS space, ``{'cell': (6, K)}`` in NB201), which the search
strategy computes from alpha (``nas_jax.strategies``); alpha lives in the
search state with its own optimizer. The modules hold the weights
(``'params'``) and the BatchNorm statistics (``'batch_stats'``).

Every edge is a :class:`MixedOp` configured by one :class:`EdgeOptions`
(op set, op registry, mode, partial channels, auxiliary skip). The spaces'
supernets (``nas_jax/spaces/darts/supernet.py``,
``nas_jax/spaces/nb201/supernet.py``) batch edges with ``nn.vmap`` and
:func:`scan_edges` so that the op bank is traced a few times per cell, not
once per edge (compile time; see ``benchmarks/README.md``).
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from nas_jax import ops

MODES = ('weighted', 'hard')  # how a mixed op combines its candidates (EdgeOptions.mode)


@dataclasses.dataclass(frozen=True)
class EdgeOptions:
  """How every mixed edge of a supernet is built and combined.

  Attributes:
    primitives: the candidate op names (the op set K), in alpha column order.
    registry: the space's op registry that builds them (``nas_jax.ops.OpRegistry``).
    train: batch statistics (True) or running statistics (False) in BatchNorm.
    dw_conv: the depthwise convolution factory (``nas_jax.ops.depthwise_conv``; None: the
      backend's default).
    mode: ``'weighted'``: the weighted sum of every candidate (DARTS, SNAS,
      DrNAS, ...). ``'hard'``: only the candidate at ``argmax(weights)`` is
      computed (``nn.switch``; GDAS), and the output is
      ``w[k*] * op_k*(x) + sum_{k != k*} w[k]``: with straight-through
      one-hot weights the value is ``op_k*(x)`` and each weight gets the
      gradient it would get from the weighted sum, except that an op that
      was not computed contributes the constant 1 per output element in
      place of its output (GDAS' estimator, as AutoDL-Projects' NB201 search cell has it).
    hard_others: in ``'hard'`` mode, whether the candidates that were not computed add
      their weights (True, above). False: the output is ``w[k*] * op_k*(x)`` alone, so only
      the sampled op's weight gets a gradient (the cell of the GDAS code in the DARTS space).
    partial: PC-DARTS partial channels K: the first ``C/K`` channels go
      through the candidates, the rest bypass them (2x2 max pooled at stride
      2), then the channels are shuffled in K groups. 1: every channel.
    aux_skip: DARTS-: add ``aux_coef * skip(x)`` (identity, or a factorized
      reduce at stride 2) to the edge output.
  """

  primitives: tuple[str, ...]
  registry: ops.OpRegistry
  train: bool = True
  dw_conv: ops.ModuleDef | None = None
  mode: str = 'weighted'
  partial: int = 1
  aux_skip: bool = False
  hard_others: bool = True

  def __post_init__(self):
    object.__setattr__(self, 'primitives', tuple(self.primitives))
    if self.mode not in MODES:
      raise ValueError(f'EdgeOptions.mode must be one of {MODES}, got {self.mode!r}')

  def replace(self, **changes) -> EdgeOptions:
    return dataclasses.replace(self, **changes)


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
  """Interleaves ``groups`` equal channel blocks of CNHW ``x``: out[i * groups + g] = x[g * (C / groups) + i]."""
  c = x.shape[0]
  return x.reshape((groups, c // groups) + x.shape[1:]).swapaxes(0, 1).reshape(x.shape)


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max pooling with stride 2 of CNHW ``x`` (odd sizes: the last row/column is dropped)."""
  c, n, h, w = x.shape
  x = x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(c, n, h // 2, 2, w // 2, 2)
  return x.max(axis=(3, 5))


class _Candidates(nn.Module):
  """The candidate ops of one edge, for the hard (one-op) forward pass."""

  channels: int
  stride: int
  edge: EdgeOptions

  def setup(self):
    self.ops = [
        self.edge.registry.make(
            name, self.channels, self.stride, affine=False, dw_conv=self.edge.dw_conv
        )
        for name in self.edge.primitives
    ]

  def run(self, k: int, x: jax.Array) -> jax.Array:
    return self.ops[k](x, self.edge.train)

  def __call__(self, x: jax.Array, index: jax.Array) -> jax.Array:
    branches = [
        functools.partial(lambda k, mdl, x: mdl.run(k, x), k)
        for k in range(len(self.edge.primitives))
    ]
    if self.is_initializing():  # every candidate creates its variables
      for branch in branches:
        branch(self, x)
    return nn.switch(index, branches, self, x)


class MixedOp(nn.Module):
  """One edge of the supernet: its candidate ops combined by the edge's op weights.

  Attributes:
    channels: C of the edge input and output.
    stride: 1, or 2 on the input edges of a DARTS reduction cell.
    edge: the op set and how the candidates are combined (:class:`EdgeOptions`).
  """

  channels: int
  stride: int
  edge: EdgeOptions

  @nn.compact
  def __call__(
      self,
      x: jax.Array,
      weights: jax.Array,
      edge_scale: jax.Array | None = None,
      aux_coef: jax.Array | None = None,
  ) -> jax.Array:
    """Args: x: CNHW input; weights: (num_ops,) op weights; edge_scale: optional scalar
    multiplying the edge output (PC-DARTS' edge normalization); aux_coef: the DARTS-
    skip coefficient (only with ``aux_skip``). Returns the edge output."""
    opts = self.edge
    k = opts.partial
    c = self.channels // k
    xa = x if k == 1 else x[:c]
    _, n, h, w = xa.shape
    s = self.stride
    if opts.mode == 'hard':
      index = jnp.argmax(weights)
      y = _Candidates(c, s, opts, name='candidates')(xa, index)
      chosen = weights[index]
      y = chosen.astype(y.dtype) * y
      if opts.hard_others:
        y = y + (jnp.sum(weights) - chosen).astype(y.dtype)
    else:
      y = jnp.zeros((c, n, -(-h // s), -(-w // s)), x.dtype)
      for i, name in enumerate(opts.primitives):
        if name == 'none':  # contributes w * 0; its weight still enters the normalization
          continue
        op = opts.registry.make(name, c, s, affine=False, dw_conv=opts.dw_conv)
        out = op(xa, opts.train)
        y = y + weights[i].astype(out.dtype) * out
    if k > 1:
      rest = x[c:] if s == 1 else max_pool_2x2(x[c:])
      y = channel_shuffle(jnp.concatenate([y, rest], axis=0), k)
    if edge_scale is not None:
      y = edge_scale.astype(y.dtype) * y
    if opts.aux_skip:
      skip = (
          ops.Identity(name='aux_skip')
          if s == 1
          else ops.FactorizedReduce(self.channels, affine=False, name='aux_skip')
      )
      y = y + jnp.asarray(aux_coef, y.dtype) * skip(x, opts.train)
    return y


class _ScanEdge(nn.Module):
  """One scan step over edges: read a source, run its mixed op, add into the target node.

  The source is read from the node buffer itself (node-to-node edges) or,
  with ``from_inputs``, from the broadcast cell inputs (input edges, which
  may have stride 2).
  """

  channels: int
  stride: int
  edge: EdgeOptions
  from_inputs: bool = False

  @nn.compact
  def __call__(self, nodes: jax.Array, edge_data, inputs: jax.Array, aux_coef: jax.Array):
    src, tgt, weights, scale = edge_data
    x = jax.lax.dynamic_index_in_dim(
        inputs if self.from_inputs else nodes, src, axis=0, keepdims=False
    )
    y = MixedOp(self.channels, self.stride, self.edge, name='mixed_op')(x, weights, scale, aux_coef)
    old = jax.lax.dynamic_index_in_dim(nodes, tgt, axis=0, keepdims=False)
    return jax.lax.dynamic_update_index_in_dim(nodes, old + y, tgt, axis=0), None


def scan_edges(
    edge: EdgeOptions,
    channels: int,
    name: str,
    nodes: jax.Array,
    src,
    tgt,
    weights: jax.Array,
    scale: jax.Array,
    *,
    inputs: jax.Array | None = None,
    stride: int = 1,
    aux_coef: jax.Array | None = None,
) -> jax.Array:
  """Runs edges ``src[e] -> tgt[e]`` in order as one ``nn.scan`` over a node buffer.

  Call it inside a compact module (the scan is created as its submodule
  ``name``). With ``inputs``, sources index ``inputs`` instead of ``nodes``.
  """
  scan = nn.scan(
      _ScanEdge,
      variable_axes={'params': 0, 'batch_stats': 0},
      split_rngs={'params': True},
      in_axes=(0, nn.broadcast, nn.broadcast),
      length=len(src),
  )
  aux = jnp.zeros((), nodes.dtype) if aux_coef is None else aux_coef
  src_in = nodes[:1] if inputs is None else inputs
  return scan(channels, stride, edge, inputs is not None, name=name)(
      nodes, (jnp.asarray(src), jnp.asarray(tgt), weights, scale), src_in, aux
  )[0]


def split_weights(w) -> tuple[jax.Array, jax.Array | None]:
  """An (E, K) array, or an (op weights, edge scales) pair -> the pair (scales None if absent)."""
  if isinstance(w, (tuple, list)):
    return w[0], w[1]
  return w, None
