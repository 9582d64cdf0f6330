"""Jit-compiled bilevel DARTS search step: an architecture step, then a weight step.

The weights ``w`` are trained on the training half of the split and the
architecture ``alpha`` on the validation half. One step:

1. ``alpha`` is updated on a validation batch with the gradient of ``order``:

   * ``order=1``: ``g = dL_val(w, alpha)/d alpha`` (first order).
   * ``order=2``: the exact gradient of ``L_val(w', alpha)`` where
     ``w' = w - xi * (mu * m + dL_train(w, alpha)/dw + lambda * w)`` is one
     virtual SGD step with the current learning rate ``xi``, momentum ``mu``
     and momentum buffer ``m``, weight decay ``lambda`` (DARTS' unrolled
     step). By the chain rule

         g = d_alpha L_val(w', alpha) - xi * d2 L_train / (d alpha d w) . v,
         v = d_w' L_val(w', alpha).

     The mixed second-derivative product is computed forward-over-reverse,
     ``jvp`` of ``w -> d_alpha L_train(w, alpha)`` along ``v``: exact, and
     about one extra forward-backward pass (no finite differences, no
     reverse-over-reverse).

2. ``w`` is updated on a training batch with the new ``alpha`` (gradient
   clipping, weight decay, momentum; ``optax``).

BatchNorm uses batch statistics in every pass; the running statistics are
updated by the weight step only (they track the training data).

How ``alpha`` becomes op weights, any regularizer on it and whether the
search is one-level are the search strategy's (``nas_jax.strategies``);
without one, the step is DARTS'. A one-level strategy (SNAS) has one phase
that updates ``w`` and ``alpha`` together from the training batch, plus a
forward-backward on the validation batch that only measures. Stochastic
strategies draw a fresh key per forward pass:
``fold_in(fold_in(state.key, step), phase position)``.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class SearchState:
  """Everything a search step reads and writes (a pytree)."""

  step: jax.Array
  params: PyTree
  batch_stats: PyTree
  arch: PyTree
  weight_opt_state: optax.OptState
  arch_opt_state: optax.OptState
  key: jax.Array  # raw rbg key data; per-pass sampling keys are folded from it


@flax.struct.dataclass
class Hyper:
  """Static hyperparameters of the step that the 2nd-order virtual step needs."""

  momentum: float = flax.struct.field(pytree_node=False, default=0.9)
  weight_decay: float = flax.struct.field(pytree_node=False, default=3e-4)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy with integer labels."""
  return optax.softmax_cross_entropy_with_integer_labels(
      logits.astype(jnp.float32) if logits.dtype == jnp.bfloat16 else logits, labels
  ).mean()


def weight_optimizer(
    schedule: optax.Schedule, *, momentum: float, weight_decay: float, grad_clip: float | None
) -> optax.GradientTransformation:
  """DARTS' weight optimizer: clip, L2 decay added to the gradient, SGD momentum.

  Matches ``torch.optim.SGD(momentum, weight_decay)`` after ``clip_grad_norm_``.
  """
  parts = []
  if grad_clip:
    parts.append(optax.clip_by_global_norm(grad_clip))
  parts += [
      optax.add_decayed_weights(weight_decay),
      optax.trace(decay=momentum, nesterov=False),
      optax.scale_by_learning_rate(schedule),
  ]
  return optax.chain(*parts)


def arch_optimizer(
    *, learning_rate: float, b1: float, b2: float, weight_decay: float
) -> optax.GradientTransformation:
  """DARTS' architecture optimizer: ``torch.optim.Adam`` with L2 weight decay."""
  return optax.chain(
      optax.add_decayed_weights(weight_decay),
      optax.scale_by_adam(b1=b1, b2=b2, eps=1e-8),
      optax.scale_by_learning_rate(learning_rate),
  )


def momentum_buffer(weight_opt_state: optax.OptState, params: PyTree) -> PyTree:
  """The SGD momentum buffer inside the weight optimizer state (zeros before step 1)."""
  found = optax.tree_utils.tree_get(weight_opt_state, 'trace', default=None)
  if found is None:
    return jax.tree.map(jnp.zeros_like, params)
  return found


def virtual_step(
    params: PyTree, momentum_buf: PyTree, grads: PyTree, learning_rate: jax.Array, hyper: Hyper
) -> PyTree:
  """DARTS' unrolled weights ``w' = w - xi * (mu * m + g + lambda * w)`` (no clipping)."""
  lr = jnp.asarray(learning_rate)
  return jax.tree.map(
      lambda w, m, g: w - lr.astype(w.dtype) * (hyper.momentum * m + g + hyper.weight_decay * w),
      params,
      momentum_buf,
      grads,
  )


def unwrap_key(data: jax.Array) -> jax.Array:
  return jax.random.wrap_key_data(data, impl='rbg')


def make_loss_fn(model: nn.Module, strategy, cost=None) -> Callable:
  """``loss(params, batch_stats, arch, images, labels, key=None, epoch=0, arch_phase=True)``.

  Returns ``(loss, (logits, new_batch_stats, cross_entropy))``; the loss is
  the cross-entropy plus the strategy's regularizer of ``arch``. ``key`` (a
  PRNG key) is needed by stochastic strategies only. ``strategy`` (``nas_jax.strategies``)
  turns ``arch`` into the supernet's op weights and gives the regularizer.

  ``cost`` (a ``nas_jax.costs.CostTerm``, or None) adds the expected cost of the pass's op
  weights where ``arch_phase`` is true (a bool, or a traced one inside the phase scan): the
  architecture's loss; the weights' passes keep the task loss (ProxylessNAS). A cost of
  weight 0 is left out of the program.
  """
  cost = cost if cost is not None and cost.active else None

  def loss_fn(params, batch_stats, arch, images, labels, key=None, epoch=0, arch_phase=True):
    if key is None:
      if strategy.stochastic:
        raise ValueError(f'strategy {strategy.name!r} samples its weights and needs a key')
      key = jax.random.key(0, impl='rbg')
    epoch = jnp.asarray(epoch)
    weights = strategy.weights(arch, key, epoch)
    logits, updates = model.apply(
        {'params': params, 'batch_stats': batch_stats},
        images,
        weights,
        train=True,
        aux_coef=strategy.aux_coef(epoch),
        mutable=['batch_stats'],
    )
    ce = cross_entropy(logits, labels)
    loss = ce + strategy.regularizer(arch, epoch)
    if cost is not None and arch_phase is not False:
      with_cost = cost.apply(loss, weights)
      loss = with_cost if arch_phase is True else jnp.where(arch_phase, with_cost, loss)
    return loss, (logits, updates['batch_stats'], ce)

  return loss_fn


def arch_gradient(
    loss_fn: Callable,
    state: SearchState,
    train_batch,
    val_batch,
    *,
    order: int,
    learning_rate: jax.Array,
    hyper: Hyper,
    keys=(None, None),
    epoch=0,
):
  """The architecture gradient of the given order and the validation loss/logits.

  Args:
    loss_fn: from ``make_loss_fn``.
    state: current search state.
    train_batch: (images, labels) used by the 2nd-order virtual step.
    val_batch: (images, labels) for the validation loss.
    order: 1 or 2.
    learning_rate: the current weight learning rate (xi of the virtual step).
    hyper: momentum and weight decay of the weight optimizer.
    keys: the sampling keys of the training and validation passes.
    epoch: the current epoch (for annealed strategies).

  Returns:
    ``(grad_arch, val_loss, val_logits)``.
  """
  params, stats, arch = state.params, state.batch_stats, state.arch
  val_x, val_y = val_batch

  train_key, val_key = keys

  def val_loss(p, a):
    loss, (logits, _, _) = loss_fn(p, stats, a, val_x, val_y, val_key, epoch)
    return loss, logits

  if order == 1:
    (loss, logits), g_arch = jax.value_and_grad(val_loss, argnums=1, has_aux=True)(params, arch)
    return g_arch, loss, logits

  train_x, train_y = train_batch
  train_loss = lambda p, a: loss_fn(p, stats, a, train_x, train_y, train_key, epoch, False)[0]
  g_w = jax.grad(train_loss)(params, arch)
  buf = momentum_buffer(state.weight_opt_state, params)
  lr = jnp.asarray(learning_rate)
  unrolled = virtual_step(params, buf, g_w, lr, hyper)
  (loss, logits), (v, g_arch_direct) = jax.value_and_grad(val_loss, argnums=(0, 1), has_aux=True)(
      unrolled, arch
  )
  grad_arch_train = lambda p: jax.grad(train_loss, argnums=1)(p, arch)
  _, mixed = jax.jvp(grad_arch_train, (params,), (v,))
  g_arch = jax.tree.map(lambda d, h: d - lr.astype(d.dtype) * h, g_arch_direct, mixed)
  return g_arch, loss, logits


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return jnp.mean(jnp.argmax(logits, -1) == labels)


# Phases of one search step (see make_search_step).
PHASE_VIRTUAL, PHASE_ARCH, PHASE_WEIGHT, PHASE_EVAL, PHASE_JOINT = 0, 1, 2, 3, 4


def make_search_step(
    model: nn.Module,
    weight_tx: optax.GradientTransformation,
    arch_tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    *,
    order: int,
    hyper: Hyper,
    strategy,
    steps_per_epoch: int = 1,
    arch_warmup_epochs: int = 0,
    unroll_phases: bool = False,
    cost=None,
) -> Callable:
  """Builds the pure search step ``(state, train_batch, val_batch) -> (state, metrics)``.

  Every forward-backward of a step is the same function (gradients of the
  loss with respect to ``w`` and ``alpha`` at some weights, on some batch), so
  the step is a ``lax.scan`` over phases around that one function, and the
  network is traced and compiled once instead of once per use:

  * ``order=1``: ``[ARCH on val at w, WEIGHT on train at w with the new alpha]``.
  * ``order=2``: ``[VIRTUAL on train at w (gives w'), ARCH on val at w' (plus
    the forward-over-reverse mixed product at w along v, in the same phase),
    WEIGHT on train at w]``.
  * one-level strategies: ``[EVAL on val at w (measures only), JOINT on
    train at w (updates w and alpha from the same gradient)]``.

  The math is exactly ``arch_gradient`` followed by the weight step; the
  tests check the two against each other. Wrap the step in ``jax.jit``.

  With ``unroll_phases`` the phases run one after the other instead (the
  network is traced once per phase). XLA:CPU runs convolutions inside a loop
  body about 25x slower than outside one (measured: a 3x3 conv's
  forward-backward, 58 ms unrolled against 1436 ms in a 2-step scan), so
  networks with real convolutions (NB201's ``nor_conv``) unroll; DARTS' ops
  are matmuls and keep the scan.

  Args:
    strategy: the search strategy (``nas_jax.strategies``), e.g. DARTS over the supernet's space.
    steps_per_epoch: to turn the step count into the epoch the strategy anneals by.
    arch_warmup_epochs: alpha is frozen (weights still train) for this many
      epochs (PC-DARTS' warm-up).
    unroll_phases: run the phases as straight-line code instead of a scan.
    cost: a ``nas_jax.costs.CostTerm`` added to the architecture's loss (ARCH and JOINT
      phases; :func:`make_loss_fn`), or None.
  """
  if order not in (1, 2):
    raise ValueError(f'order must be 1 or 2, got {order}')
  if strategy.one_level and order != 1:
    raise ValueError(f'strategy {strategy.name!r} is one-level; order must be 1')
  loss_fn = make_loss_fn(model, strategy, cost)
  grad_fn = jax.value_and_grad(loss_fn, argnums=(0, 2), has_aux=True)
  if strategy.one_level:
    phases = [PHASE_EVAL, PHASE_JOINT]
  else:
    phases = [PHASE_ARCH, PHASE_WEIGHT] if order == 1 else [PHASE_VIRTUAL, PHASE_ARCH, PHASE_WEIGHT]
  optimizers = _Optimizers(weight_tx, arch_tx, hyper, order)

  def step(state: SearchState, train_batch, val_batch):
    epoch = state.step // steps_per_epoch
    ctx = _StepContext(
        lr=schedule(state.step),
        epoch=epoch,
        key=jax.random.fold_in(unwrap_key(state.key), state.step),
        arch_active=epoch >= arch_warmup_epochs,
        train_batch=train_batch,
    )
    batches = {
        PHASE_VIRTUAL: train_batch,
        PHASE_ARCH: val_batch,
        PHASE_WEIGHT: train_batch,
        PHASE_EVAL: val_batch,
        PHASE_JOINT: train_batch,
    }
    phase = _make_phase(loss_fn, grad_fn, optimizers, ctx)
    if unroll_phases:
      carry, outs = (state, state.params), []
      for position, kind in enumerate(phases):
        carry, out = phase(carry, (kind, position, *batches[kind]))
        outs.append(out)
      state = carry[0]
      losses, accs, gnorms = (jnp.stack(o) for o in zip(*outs))
    else:
      xs = (
          jnp.asarray(phases, jnp.int32),
          jnp.arange(len(phases)),
          jnp.stack([batches[p][0] for p in phases]),
          jnp.stack([batches[p][1] for p in phases]),
      )
      (state, _), (losses, accs, gnorms) = jax.lax.scan(phase, (state, state.params), xs)
    a = phases.index(PHASE_EVAL if strategy.one_level else PHASE_ARCH)
    w = phases.index(PHASE_JOINT if strategy.one_level else PHASE_WEIGHT)
    metrics = {
        'train_loss': losses[w],
        'train_acc': accs[w],
        'val_loss': losses[a],
        'val_acc': accs[a],
        'lr': ctx.lr,
        'grad_norm': gnorms[w],
        'arch_reg': strategy.regularizer(state.arch, epoch),
    }
    return state, metrics

  return step


@dataclasses.dataclass(frozen=True)
class _Optimizers:
  """The two optimizers of a search step, DARTS' hyperparameters and the gradient's order."""

  weight_tx: optax.GradientTransformation
  arch_tx: optax.GradientTransformation
  hyper: Hyper
  order: int

  def update_arch(self, st: SearchState, g, active) -> SearchState:
    """One architecture step along ``g``; alpha and its optimizer state stay put while
    ``active`` is False (the warm-up)."""
    updates, opt_state = self.arch_tx.update(g, st.arch_opt_state, st.arch)
    new_arch = optax.apply_updates(st.arch, updates)
    keep = lambda new, old: jnp.where(active, new, old)
    return st.replace(
        arch=jax.tree.map(keep, new_arch, st.arch),
        arch_opt_state=jax.tree.map(keep, opt_state, st.arch_opt_state),
    )

  def update_weights(self, st: SearchState, g_w, batch_stats) -> SearchState:
    """One weight step along ``g_w``, with the phase's BatchNorm statistics."""
    updates, opt_state = self.weight_tx.update(g_w, st.weight_opt_state, st.params)
    return st.replace(
        params=optax.apply_updates(st.params, updates),
        weight_opt_state=opt_state,
        batch_stats=batch_stats,
        step=st.step + 1,
    )


@dataclasses.dataclass(frozen=True)
class _StepContext:
  """What every phase of one search step shares: the learning rate, the epoch, the step's
  key, whether alpha trains yet, and the training batch (the 2nd-order term reads it)."""

  lr: jax.Array
  epoch: jax.Array
  key: jax.Array
  arch_active: jax.Array
  train_batch: tuple[jax.Array, jax.Array]


def _make_phase(loss_fn, grad_fn, opt: _Optimizers, ctx: _StepContext) -> Callable:
  """The body of one phase, ``((state, probe), (kind, position, x, y)) -> (carry, metrics)``:
  the gradients of the loss at ``probe`` on ``(x, y)``, then what phase ``kind`` does with
  them (see :func:`make_search_step`)."""

  def phase(carry, inputs):
    st, probe = carry  # probe: the weights at which this phase differentiates
    kind, position, x, y = inputs
    key = jax.random.fold_in(ctx.key, position)
    # The architecture's loss (its cost term, if any) in the phases whose alpha gradient is used.
    arch_phase = (kind == PHASE_ARCH) | (kind == PHASE_JOINT)
    (loss, (logits, batch_stats, ce)), (g_w, g_arch) = grad_fn(
        probe, st.batch_stats, st.arch, x, y, key, ctx.epoch, arch_phase
    )
    del loss

    def virtual(st):
      buf = momentum_buffer(st.weight_opt_state, st.params)
      return st, virtual_step(st.params, buf, g_w, ctx.lr, opt.hyper)

    def arch(st):
      g = g_arch
      if opt.order == 2:
        g = _second_order(loss_fn, st, g_arch, g_w, ctx)
      st = opt.update_arch(st, g, ctx.arch_active)
      return st, st.params

    def weight(st):
      st = opt.update_weights(st, g_w, batch_stats)
      return st, st.params

    def evaluate(st):
      return st, st.params

    def joint(st):
      st = opt.update_arch(opt.update_weights(st, g_w, batch_stats), g_arch, ctx.arch_active)
      return st, st.params

    branches = [virtual, arch, weight, evaluate, joint]
    if isinstance(kind, int):  # unrolled: the phase is known when tracing
      st, probe = branches[kind](st)
    else:
      if opt.order == 1:
        branches[PHASE_VIRTUAL] = arch  # never runs; keep indices aligned without tracing it
      st, probe = jax.lax.switch(kind, branches, st)
    return (st, probe), (ce, accuracy(logits, y), optax.tree.norm(g_w))

  return phase


def _second_order(loss_fn, st: SearchState, g_arch, g_w, ctx: _StepContext):
  """DARTS' exact 2nd-order architecture gradient ``g_arch - lr * H v``: the mixed second
  derivative of the training loss at ``w`` along ``v = g_w`` (forward-over-reverse), with
  the virtual phase's sample."""
  virtual_key = jax.random.fold_in(ctx.key, 0)  # the virtual phase's sample
  x, y = ctx.train_batch
  grad_arch_train = lambda p: jax.grad(
      lambda p, a: loss_fn(p, st.batch_stats, a, x, y, virtual_key, ctx.epoch, False)[0],
      argnums=1,
  )(p, st.arch)
  _, mixed = jax.jvp(grad_arch_train, (st.params,), (g_w,))
  return jax.tree.map(lambda d, h: d - ctx.lr.astype(d.dtype) * h, g_arch, mixed)


def init_state(
    model: nn.Module,
    rng: jax.Array,
    sample_images: jax.Array,
    weight_tx: optax.GradientTransformation,
    arch_tx: optax.GradientTransformation,
    strategy,
) -> SearchState:
  """Initializes weights, BatchNorm statistics, alpha, both optimizer states and the sampling key.

  ``rng`` must be an rbg key (``jax.random.key(seed, impl='rbg')``); ``strategy`` gives the
  initial ``arch`` and the op weights the supernet is initialized with.
  """
  k_params, k_arch, k_sample = jax.random.split(rng, 3)
  arch = strategy.init(k_arch)
  weights = strategy.weights(arch, k_sample, jnp.zeros((), jnp.int32))
  variables = model.init(
      k_params,
      sample_images,
      weights,
      train=True,
      aux_coef=strategy.aux_coef(jnp.zeros((), jnp.int32)),
  )
  params, batch_stats = variables['params'], variables['batch_stats']
  return SearchState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      batch_stats=batch_stats,
      arch=arch,
      weight_opt_state=weight_tx.init(params),
      arch_opt_state=arch_tx.init(arch),
      key=jax.random.key_data(k_sample),
  )
