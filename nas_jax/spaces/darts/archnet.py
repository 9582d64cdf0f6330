"""The DARTS evaluation network with the architecture as a call argument.

:class:`DartsArchNetwork` is ``NetworkCIFAR`` (no auxiliary head, no drop
path) for every cell of the space at once: its call takes ``arch``, the
``6 * steps`` int decisions of ``nas_jax.spaces.darts.arch`` (per cell type and
node: the input pair and the op on each of the two inputs), so one compiled
program trains any architecture and a search over the DARTS space compiles
once, never once per cell.

Each node has two *slots*, ``a`` on its lower input ``j1`` and ``b`` on its
higher input ``j2`` (the order of ``arch.to_genotype``, whose ``op_{2i}`` and
``op_{2i+1}`` they become). A slot holds one module per op, shared by every
input the slot can read, exactly as ``EvalCell``'s ``op_{slot}`` serves
whichever input the genotype names; in a reduction cell a slot holds a stride-2
set for the two cell inputs and a stride-1 set for the intermediate nodes. The
slot's input is picked from the stacked states by index, then its op runs:

* ``'switch'``: only the chosen op (``nn.switch``);
* ``'masked'``: every candidate, summed under a one-hot mask (no conditional;
  what a batched accelerator prefers).

For ``arch`` it computes what ``NetworkCIFAR(space.to_genotype(arch),
auxiliary=False, scan_cells=False)`` computes under the variables that
:func:`evalnet_variables` maps (``tests/test_darts_archnet.py`` checks logits
and gradients).
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nas_jax import ops
from nas_jax.spaces.darts import arch as darts_arch
from nas_jax.spaces.darts.evalnet import _eval_op, preprocess
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES

__all__ = ['EDGE_MODES', 'DartsArchNetwork', 'evalnet_variables']

EDGE_MODES = ('masked', 'switch')


class _Slot(nn.Module):
  """One slot of a node: per op (and per stride group in a reduction cell) one module."""

  channels: int
  edge_ops: tuple[str, ...]
  strides: tuple[int, ...]  # one op set per stride group
  train: bool
  mode: str
  dw_conv: ops.ModuleDef | None

  def setup(self):
    self.sets = [
        [
            _eval_op(name, self.channels, s, self.dw_conv, f'op_{k}' + ('_s2' * (s == 2)))
            for k, name in enumerate(self.edge_ops)
        ]
        for s in self.strides
    ]

  def run(self, g: int, k: int, x: jax.Array) -> jax.Array:
    return self.sets[g][k](x, self.train)

  def __call__(self, inputs: Sequence[jax.Array], group: jax.Array, op: jax.Array) -> jax.Array:
    """``inputs``: one selected input per stride group; ``group``, ``op``: int scalars."""
    n = len(self.edge_ops)
    pairs = [(g, k) for g in range(len(self.strides)) for k in range(n)]
    index = group * n + op
    if self.mode == 'masked':
      mask = jax.nn.one_hot(index, len(pairs), dtype=inputs[0].dtype)
      total = None
      for b, (g, k) in enumerate(pairs):
        y = mask[b] * self.run(g, k, inputs[g])
        total = y if total is None else total + y
      return total

    def branch(g, k, mdl, xs):
      return mdl.run(g, k, xs[g])

    branches = [functools.partial(branch, g, k) for g, k in pairs]
    if self.is_initializing():  # every candidate creates its variables
      for b in branches:
        b(self, tuple(inputs))
    return nn.switch(index, branches, self, tuple(inputs))


class ArchCell(nn.Module):
  """One cell; ``decisions`` are its ``3 * steps`` ints ``(pair, op_a, op_b)`` per node."""

  edge_ops: tuple[str, ...]
  steps: int
  channels: int
  reduction: bool
  reduction_prev: bool
  train: bool
  mode: str
  dw_conv: ops.ModuleDef | None

  @nn.compact
  def __call__(self, s0: jax.Array, s1: jax.Array, decisions: jax.Array) -> jax.Array:
    c = self.channels
    states = preprocess(s0, s1, c, self.reduction_prev, self.train)
    for i in range(self.steps):
      pairs = jnp.asarray(darts_arch.input_pairs(i), jnp.int32)  # (C(i+2, 2), 2)
      chosen = pairs[decisions[3 * i]]
      total = None
      for side in range(2):
        j = chosen[side]
        # the inputs this slot can read: j1 in 0..i, j2 in 1..i+1
        lo, hi = side, i + side
        if self.reduction:
          groups = [(lo, min(hi, 1)), (2, hi)] if hi >= 2 else [(lo, hi)]
        else:
          groups = [(lo, hi)]
        inputs = []
        for first, last in groups:
          stack = jnp.stack(states[first : last + 1])
          inputs.append(stack[jnp.clip(j - first, 0, last - first)])
        strides = (2, 1)[: len(groups)] if self.reduction else (1,)
        group = (j >= 2).astype(jnp.int32) if len(groups) == 2 else jnp.int32(0)
        y = _Slot(
            c,
            self.edge_ops,
            strides,
            self.train,
            self.mode,
            self.dw_conv,
            name=f'op_{2 * i + side}',
        )(inputs, group, decisions[3 * i + 1 + side])
        total = y if total is None else total + y
      states.append(total)
    return jnp.concatenate(states[2:], axis=0)


class _Cells(nn.Module):
  edge_ops: tuple[str, ...]
  steps: int
  channels: int
  layers: int
  train: bool
  mode: str
  dw_conv: ops.ModuleDef | None

  @nn.compact
  def __call__(self, s0, s1, arch):
    per_cell = 3 * self.steps
    reductions = (self.layers // 3, 2 * self.layers // 3)
    c, reduction_prev = self.channels, False
    for i in range(self.layers):
      reduction = i in reductions
      if reduction:
        c *= 2
      decisions = arch[per_cell:] if reduction else arch[:per_cell]
      cell = ArchCell(
          self.edge_ops,
          self.steps,
          c,
          reduction,
          reduction_prev,
          self.train,
          self.mode,
          self.dw_conv,
          name=f'cell_{i}',
      )
      s0, s1 = s1, cell(s0, s1, decisions)
      reduction_prev = reduction
    return s1


class DartsArchNetwork(nn.Module):
  """``NetworkCIFAR`` for every cell of the space; ``__call__(x, arch, train)`` picks one.

  Attributes:
    num_classes: classifier outputs.
    channels: initial channels C.
    layers: cells L; reductions at L/3 and 2L/3.
    primitives: the op set ``arch`` indexes (its non-``none`` ops, in order).
    steps: intermediate nodes per cell (every one is concatenated into the output).
    stem_multiplier: stem width factor.
    mode: ``'switch'`` or ``'masked'`` (module docstring).
    dw_conv: the depthwise convolution factory (``nas_jax.ops.depthwise_conv``; None: the
      backend's default).
  """

  num_classes: int = 10
  channels: int = 16
  layers: int = 8
  primitives: Sequence[str] = DARTS_PRIMITIVES
  steps: int = 4
  stem_multiplier: int = 3
  mode: str = 'switch'
  dw_conv: ops.ModuleDef | None = None

  def __post_init__(self):
    super().__post_init__()
    if self.mode not in EDGE_MODES:
      raise ValueError(f'DartsArchNetwork.mode must be one of {EDGE_MODES}, got {self.mode!r}')

  @nn.compact
  def __call__(self, x: jax.Array, arch: jax.Array, train: bool = False) -> jax.Array:
    """Args: x: NHWC images; arch: ``(6 * steps,)`` int decisions; train: batch statistics.
    Returns logits."""
    edge_ops = tuple(p for p in self.primitives if p != darts_arch.NONE_OP)
    x = ops.to_cnhw(x)
    x = ops.Conv(self.stem_multiplier * self.channels, 3, name='stem_conv')(x)
    x = ops.BatchNorm(affine=True, name='stem_bn')(x, train)
    out = _Cells(
        edge_ops,
        self.steps,
        self.channels,
        self.layers,
        train,
        self.mode,
        self.dw_conv,
        name='cells',
    )(x, x, jnp.asarray(arch, jnp.int32))
    return nn.Dense(self.num_classes, name='classifier')(jnp.mean(out, axis=(2, 3)).T)


def evalnet_variables(
    variables: dict[str, Any], arch: Sequence[int], primitives: Sequence[str], steps: int
) -> dict[str, Any]:
  """The ``NetworkCIFAR(to_genotype(arch), auxiliary=False, scan_cells=False)`` variables that
  compute what ``variables`` of :class:`DartsArchNetwork` compute for ``arch``.

  In ``cells/cell_i``, each slot ``op_s`` keeps only the chosen op's module (the stride-2
  set when a reduction cell's slot reads a cell input); parameter-free ops leave no entry.
  """
  arch = [int(a) for a in arch]
  per_cell = 3 * steps
  out = {}
  for collection, tree in variables.items():
    tree = dict(tree)
    cells = dict(tree.get('cells', {}))
    layers = len(cells)
    new_cells = {}
    for i in range(layers):
      sub = dict(cells[f'cell_{i}'])
      reduction = i in (layers // 3, 2 * layers // 3)
      decisions = arch[per_cell:] if reduction else arch[:per_cell]
      cell = {k: v for k, v in sub.items() if k.startswith('preprocess')}
      for node in range(steps):
        pair, op_a, op_b = decisions[3 * node : 3 * node + 3]
        j1, j2 = darts_arch.input_pairs(node)[pair]
        for side, (j, op) in enumerate(((j1, op_a), (j2, op_b))):
          name = f'op_{op}' + ('_s2' if reduction and j < 2 else '')
          chosen = sub.get(f'op_{2 * node + side}', {}).get(name)
          if chosen:
            cell[f'op_{2 * node + side}'] = chosen
      new_cells[f'cell_{i}'] = cell
    tree['cells'] = new_cells
    out[collection] = tree
  return out
