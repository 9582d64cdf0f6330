"""The population trainer: many architectures of a space, one protocol, one compiled program.

The network is the space's *arch network* (``space.arch_network``): the
evaluation network with the architecture as a call argument, holding every
candidate op of every edge and running the chosen one (``nn.switch``). A
member of the population is ``(arch, seed)``; it keeps its own weights,
optimizer state and data order, all functions of its seed, so every member
with seed ``s`` starts from the same initial weights of the ops they share
and sees the same batches (common random numbers, as NAS-Bench-201's fixed
seeds give). The architecture is an input of the compiled step, so the whole
table compiles a handful of programs, never one per cell.

Two forms run a population (``form``):

* ``'sequential'``: the members one after another through the same compiled
  step. On XLA:CPU this is the fastest: per-member weights turn a vmapped
  convolution into a batched one, which XLA:CPU runs slowly, and ``nn.switch``
  computes only the chosen op (``benchmarks/tabular.py``).
* ``'vmap'``: ``K`` members stacked and stepped as one vmapped program (each
  edge then computes every candidate and selects; on an accelerator the
  arithmetic is batched). The population axis is sharded over the local
  devices when there are several (a ``Mesh`` with axis ``'pop'``).

``'auto'`` picks ``'sequential'`` on CPU and ``'vmap'`` elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np
import optax

from nas_jax import data as data_lib
from nas_jax.tabular.protocol import Protocol

__all__ = [
    'FORMS',
    'CellNetwork',
    'Member',
    'PopulationTrainer',
    'Splits',
    'cell_network',
    'load_splits',
]

FORMS = ('auto', 'sequential', 'vmap')
# A fixed seed for the robustness noise: every cell is scored under the same noise draw.
_NOISE_SEED = 20260
EPOCH_METRICS = ('train_loss', 'train_acc', 'val_loss', 'val_acc', 'test_loss', 'test_acc')
FINAL_METRICS = ('noise_acc', 'fgsm_acc', 'train_seconds')


@dataclasses.dataclass(frozen=True)
class Member:
  """One member of a population: an architecture (decision tuple) and a seed."""

  arch: tuple[int, ...]
  seed: int


@dataclasses.dataclass
class Splits:
  """The protocol's three splits, loaded once."""

  train: data_lib.ArraySplit
  val: data_lib.ArraySplit
  test: data_lib.ArraySplit


def load_splits(protocol: Protocol, data_dir: str | None = None) -> Splits:
  """Loads the protocol's train, val and test splits (resized to ``image_size``)."""

  def load(split):
    return data_lib.load_split(
        protocol.dataset, split, data_dir=data_dir, image_size=protocol.image_size
    )

  return Splits(load(protocol.train_split), load(protocol.val_split), load(protocol.test_split))


class CellNetwork(nn.Module):
  """One cell's evaluation network in the arch network's call form, ``net(x, arch, train)``
  (``arch`` is ignored): what :class:`PopulationTrainer` compiles per cell when it is given
  one (``network=``), the compile-per-cell alternative to the arch network."""

  net: nn.Module

  def __call__(self, x, arch, train=False):
    del arch
    return self.net(x, train=train)[0]  # (logits, aux logits): no aux head is built


def cell_network(space, arch, num_classes: int, protocol: Protocol) -> CellNetwork:
  """The :class:`CellNetwork` of ``arch`` at the protocol's size (no auxiliary head)."""
  net = space.evalnet(
      space.to_genotype(arch),
      num_classes,
      channels=protocol.channels,
      layers=protocol.cells_per_stage,
      auxiliary=False,
  )
  return CellNetwork(net)


def _padded(images: np.ndarray, labels: np.ndarray, batch: int):
  """Splits an eval set into equal ``batch``-sized chunks; padding rows get weight 0."""
  n = len(labels)
  total = -(-n // batch) * batch
  weight = np.zeros(total, np.float32)
  weight[:n] = 1.0
  pad = total - n
  images = np.concatenate([images, np.zeros((pad,) + images.shape[1:], images.dtype)])
  labels = np.concatenate([labels, np.zeros(pad, labels.dtype)])
  shape = (total // batch, batch)
  return (
      images.reshape(shape + images.shape[1:]),
      labels.reshape(shape),
      weight.reshape(shape),
  )


class PopulationTrainer:
  """Trains members ``(arch, seed)`` of ``space`` under ``protocol``.

  Args:
    space: a space with an arch network (``space.arch_network``).
    protocol: the training recipe.
    splits: the data (default: :func:`load_splits`).
    form: ``'auto'``, ``'sequential'`` or ``'vmap'`` (module docstring).
    edge_mode: how the arch network runs an edge: ``'switch'`` (only the chosen op) or
      ``'masked'`` (every candidate, summed under a one-hot mask).
    network: a module ``net(x, arch, train) -> logits`` used in place of the arch
      network (``benchmarks/tabular.py`` passes one evaluation network per cell, which
      ignores ``arch``, for the compile-per-cell baseline).
  """

  def __init__(
      self,
      space,
      protocol: Protocol,
      splits: Splits | None = None,
      form: str = 'auto',
      edge_mode: str = 'switch',
      network=None,
  ):
    if form not in FORMS:
      raise ValueError(f'population form must be one of {FORMS}, got {form!r}')
    if form == 'auto':
      form = 'sequential' if jax.default_backend() == 'cpu' else 'vmap'
    self.form = form
    self.space = space
    self.protocol = protocol
    self.splits = splits if splits is not None else load_splits(protocol)
    meta = data_lib.dataset_meta(protocol.dataset)
    self.mean = np.asarray(meta.mean, np.float32)
    self.std = np.asarray(meta.std, np.float32)
    self.num_classes = meta.num_classes
    self.net = network or space.arch_network(
        self.num_classes,
        channels=protocol.channels,
        layers=protocol.cells_per_stage,
        mode=edge_mode,
    )
    train = self.splits.train
    self.steps_per_epoch = train.num_examples // protocol.batch_size
    if self.steps_per_epoch < 1:
      raise ValueError(
          f'protocol.batch_size {protocol.batch_size} exceeds the '
          f'{train.num_examples} training images'
      )
    total = self.steps_per_epoch * protocol.epochs
    schedule = optax.cosine_decay_schedule(
        protocol.learning_rate, total, alpha=protocol.lr_min / max(protocol.learning_rate, 1e-12)
    )
    self.tx = optax.chain(
        optax.add_decayed_weights(protocol.weight_decay),
        optax.sgd(schedule, protocol.momentum or None, nesterov=protocol.nesterov),
    )
    self.image_shape = train.images.shape[1:]
    self._eval_sets = {
        name: _padded(
            data_lib.normalize(split.images, self.mean, self.std).astype(np.float32),
            split.labels,
            protocol.eval_batch,
        )
        for name, split in (('val', self.splits.val), ('test', self.splits.test))
    }
    test_x, test_y, test_w = self._eval_sets['test']
    rng = np.random.default_rng(_NOISE_SEED)
    noise = rng.standard_normal(test_x.shape).astype(np.float32) * (protocol.noise_std / self.std)
    self._noisy_test = (test_x + noise, test_y, test_w)
    self._lo = jnp.asarray((0.0 - self.mean) / self.std)
    self._hi = jnp.asarray((1.0 - self.mean) / self.std)
    self._warm: set[int] = set()  # population sizes whose step is compiled
    self._compile()

  # --- the compiled pieces -------------------------------------------------------------------
  def _compile(self):
    net, tx = self.net, self.tx
    x0 = jnp.zeros((2,) + tuple(self.image_shape), jnp.float32)
    a0 = jnp.zeros((len(self.space.options),), jnp.int32)

    def init(seed):
      variables = net.init(jax.random.key(seed), x0, a0, False)
      params = variables['params']
      return dict(params=params, batch_stats=variables['batch_stats'], opt=tx.init(params))

    def loss_fn(params, batch_stats, x, y, arch):
      logits, updates = net.apply(
          {'params': params, 'batch_stats': batch_stats}, x, arch, True, mutable=['batch_stats']
      )
      losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
      correct = jnp.sum(jnp.argmax(logits, -1) == y)
      return losses.mean(), (updates['batch_stats'], losses.sum(), correct)

    def step(state, x, y, arch):
      grads, (batch_stats, loss_sum, correct) = jax.grad(loss_fn, has_aux=True)(
          state['params'], state['batch_stats'], x, y, arch
      )
      updates, opt = tx.update(grads, state['opt'], state['params'])
      params = optax.apply_updates(state['params'], updates)
      return dict(params=params, batch_stats=batch_stats, opt=opt), jnp.stack(
          [loss_sum, correct.astype(jnp.float32)]
      )

    def logits_fn(state, x, arch):
      return net.apply({'params': state['params'], 'batch_stats': state['batch_stats']}, x, arch)

    # One eval chunk per call (a Python loop over chunks: XLA:CPU runs convolutions inside a
    # scan body far slower than outside one).
    def evaluate(state, x, y, w, arch):
      logits = logits_fn(state, x, arch)
      losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
      hits = (jnp.argmax(logits, -1) == y).astype(jnp.float32)
      return jnp.stack([jnp.sum(w * losses), jnp.sum(w * hits)])

    def fgsm(state, x, y, w, arch, eps):
      def loss(x):
        logits = logits_fn(state, x, arch)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()

      g = jax.grad(loss)(x)
      adv = jnp.clip(x + eps / jnp.asarray(self.std) * jnp.sign(g), self._lo, self._hi)
      adv = jnp.where(eps > 0, adv, x)
      return jnp.sum(w * (jnp.argmax(logits_fn(state, adv, arch), -1) == y).astype(jnp.float32))

    if self.form == 'vmap':
      init = jax.vmap(init)
      step = jax.vmap(step)
      evaluate = jax.vmap(evaluate, in_axes=(0, None, None, None, 0))
      fgsm = jax.vmap(fgsm, in_axes=(0, None, None, None, 0, None))
    self._init = jax.jit(init)
    self._step = jax.jit(step, donate_argnums=0)
    self._evaluate_chunk = jax.jit(evaluate)
    self._fgsm_chunk = jax.jit(fgsm)

  @staticmethod
  def _mean_over_chunks(chunk_fn, state, xs, ys, ws, arch, *extra) -> jax.Array:
    """``chunk_fn``'s weighted sums over an eval set's chunks, divided by its size."""
    total = sum(chunk_fn(state, x, y, w, arch, *extra) for x, y, w in zip(xs, ys, ws))
    return total / float(ws.sum())

  def _evaluate(self, state, xs, ys, ws, arch) -> jax.Array:
    """(loss, accuracy) over an eval set (per member in the vmapped form: (K, 2))."""
    return self._mean_over_chunks(self._evaluate_chunk, state, xs, ys, ws, arch)

  def _fgsm(self, state, xs, ys, ws, arch, eps) -> jax.Array:
    return self._mean_over_chunks(self._fgsm_chunk, state, xs, ys, ws, arch, eps)

  def _stream(self, seed: int) -> data_lib.BatchStream:
    return data_lib.BatchStream(
        self.splits.train,
        self.protocol.batch_size,
        seed=seed,
        mean=self.mean,
        std=self.std,
        crop_padding=self.protocol.crop_padding,
        flip=self.protocol.flip,
    )

  def _shard(self, tree):
    """Places a stacked population over the local devices (axis 'pop') when it divides."""
    devices = jax.local_devices()
    k = jax.tree_util.tree_leaves(tree)[0].shape[0]
    if len(devices) < 2 or k % len(devices):
      return tree
    sharding = NamedSharding(Mesh(np.asarray(devices), ('pop',)), PartitionSpec('pop'))
    return jax.device_put(tree, sharding)

  # --- training --------------------------------------------------------------------------------
  def train(
      self,
      members: Sequence[Member],
      group: int | None = None,
      max_steps: int | None = None,
      stop: Callable[[int, dict[str, np.ndarray]], np.ndarray] | None = None,
  ) -> list[dict[str, Any]]:
    """Trains ``members`` and returns one result dict each, in order.

    A result holds ``EPOCH_METRICS`` (float arrays of length ``epochs``: the
    train loss/accuracy averaged over the epoch's batches, then val and test
    loss/accuracy after the epoch), ``noise_acc`` and ``fgsm_acc`` (test
    accuracy under the protocol's noise and FGSM step, after training) and
    ``train_seconds`` (the wall time of the member's training steps, compilation
    excluded; in the vmapped form, the group's time divided by its size) and
    ``eval_seconds`` (the same for the evaluation passes; not stored in tables).

    Args:
      members: the population.
      group: members per vmapped program (``'vmap'`` form; default all).
      max_steps: stop each member after this many SGD steps in all (an early-stopped,
        cheaper estimate; the learning-rate schedule is still the protocol's). The epoch
        that stops is evaluated over the batches it ran; later epochs are NaN.
      stop: an early-stopping rule, ``stop(epoch, record) -> (k,) bool``, called after each
        epoch's evaluation with the epochs done (1-based) and the group's ``EPOCH_METRICS``
        so far (``(k, epochs)`` arrays, NaN ahead): the members it flags stop there. Their
        later epochs, ``noise_acc`` and ``fgsm_acc`` are NaN and ``train_seconds`` counts
        the epochs they ran (in the vmapped form the group steps on while any member
        does; a stopped member is charged its share up to its stop). A ``max_steps``
        stop, by contrast, still measures them.
    """
    members = [Member(tuple(int(a) for a in m.arch), int(m.seed)) for m in members]
    if self.form == 'sequential':
      return [self._train_group([m], max_steps, stop)[0] for m in members]
    group = group or len(members)
    out = []
    for start in range(0, len(members), group):
      out.extend(self._train_group(members[start : start + group], max_steps, stop))
    return out

  def _train_group(
      self, members: list[Member], max_steps: int | None, stop=None
  ) -> list[dict[str, Any]]:
    vm = self.form == 'vmap'
    k = len(members)
    seeds = np.asarray([m.seed for m in members], np.uint32)
    archs = jnp.asarray(np.asarray([m.arch for m in members], np.int32))
    streams = {s: self._stream(int(s)) for s in set(seeds.tolist())}
    if vm:
      state = self._shard(self._init(jnp.asarray(seeds)))
      arch_in = self._shard(archs)
    else:
      state = self._init(int(seeds[0]))
      arch_in = archs[0]
    if k not in self._warm:
      self._warm_up(k, streams, seeds, arch_in)
    epochs = self.protocol.epochs
    record = {name: np.full((k, epochs), np.nan, np.float32) for name in EPOCH_METRICS}
    budget = self.steps_per_epoch * epochs if max_steps is None else int(max_steps)
    seconds = eval_seconds = 0.0
    alive = np.ones(k, bool)
    stopped_at = np.full(k, epochs)  # the epochs each member ran
    charged = np.zeros(k)  # each member's train seconds (the group's, up to its stop)
    for epoch in range(epochs):
      steps = min(self.steps_per_epoch, budget - epoch * self.steps_per_epoch)
      if steps <= 0:
        break
      start = time.perf_counter()
      state, totals = self._train_epoch(state, streams, seeds, arch_in, epoch, steps)
      seconds += time.perf_counter() - start
      seen = steps * self.protocol.batch_size
      record['train_loss'][:, epoch] = totals[:, 0] / seen
      record['train_acc'][:, epoch] = totals[:, 1] / seen
      start = time.perf_counter()
      for name in ('val', 'test'):
        result = np.asarray(self._evaluate(state, *self._eval_sets[name], arch_in)).reshape(k, 2)
        record[f'{name}_loss'][:, epoch] = result[:, 0]
        record[f'{name}_acc'][:, epoch] = result[:, 1]
      eval_seconds += time.perf_counter() - start
      charged[alive] = seconds
      stopped_at[alive] = epoch + 1
      if stop is not None and epoch + 1 < epochs:
        alive &= ~np.asarray(stop(epoch + 1, record), bool).reshape(k)
        if not alive.any():
          break
    noise = fgsm = np.full(k, np.nan, np.float32)  # the rule's stops skip these
    if alive.any():
      start = time.perf_counter()
      noise = np.asarray(self._evaluate(state, *self._noisy_test, arch_in)).reshape(k, 2)[:, 1]
      fgsm = self.fgsm_accuracy(state, arch_in, self.protocol.fgsm_eps).reshape(k)
      eval_seconds += time.perf_counter() - start
    for name in EPOCH_METRICS:  # a member stopped before its group: NaN after its stop
      record[name][np.arange(epochs)[None, :] >= stopped_at[:, None]] = np.nan
    self.last_state = state
    return [
        dict(
            {name: record[name][j] for name in EPOCH_METRICS},
            noise_acc=float(noise[j]) if alive[j] else float('nan'),
            fgsm_acc=float(fgsm[j]) if alive[j] else float('nan'),
            train_seconds=float(charged[j]) / k,
            eval_seconds=eval_seconds / k,
            arch=m.arch,
            seed=m.seed,
        )
        for j, m in enumerate(members)
    ]

  def _batch(self, streams, seeds, epoch: int, i: int):
    """Batch ``i`` of ``epoch`` of every member (stacked in the vmapped form)."""
    if self.form != 'vmap':
      return streams[int(seeds[0])].batch(epoch, i)
    batches = {s: streams[s].batch(epoch, i) for s in streams}
    x = np.stack([batches[int(s)][0] for s in seeds])
    y = np.stack([batches[int(s)][1] for s in seeds])
    return x, y

  def _train_epoch(self, state, streams, seeds, arch_in, epoch: int, steps: int):
    """``steps`` training steps of ``epoch``; the state and each member's ``(k, 2)`` sums of
    loss and correct predictions (read once, at the epoch's end)."""
    sums = []
    for i in range(steps):
      state, metrics = self._step(state, *self._batch(streams, seeds, epoch, i), arch_in)
      sums.append(metrics)
    totals = np.asarray(jnp.sum(jnp.stack(sums), axis=0))  # waits for the epoch
    return state, totals.reshape(len(seeds), 2)

  def _warm_up(self, k: int, streams, seeds, arch_in) -> None:
    """Compiles the step and evaluations for groups of ``k`` outside the timed steps (on a
    copy of the state: the step donates it)."""
    vm = self.form == 'vmap'
    x, y = streams[int(seeds[0])].batch(0, 0)
    if vm:
      x, y = np.stack([x] * k), np.stack([y] * k)
    warm = self._shard(self._init(jnp.asarray(seeds))) if vm else self._init(int(seeds[0]))
    warm, _ = self._step(warm, x, y, arch_in)
    ex, ey, ew = (a[0] for a in self._eval_sets['test'])
    jax.block_until_ready(
        (
            self._evaluate_chunk(warm, ex, ey, ew, arch_in),
            self._fgsm_chunk(warm, ex, ey, ew, arch_in, jnp.float32(0.0)),
        )
    )
    self._warm.add(k)

  def fgsm_accuracy(self, state, arch, eps: float) -> np.ndarray:
    """Test accuracy of a trained ``state`` under FGSM at ``eps`` (pixel units)."""
    test = self._eval_sets['test']
    return np.asarray(self._fgsm(state, *test, arch, jnp.float32(eps)))

  def init_state(self, seed: int):
    """The initial state of a member with ``seed`` (sequential form)."""
    return self._init(int(seed))
