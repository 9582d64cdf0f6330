"""The search loop: data, supernet, jit-compiled bilevel steps, discretization, outputs.

``run_search(config, workdir)`` is what ``python -m experiments.search`` calls.
It writes into ``workdir``:

* ``metrics.jsonl``: one JSON line per epoch (train/val loss and accuracy,
  alpha entropy, seconds);
* ``alphas.npz``: the final alpha arrays ``normal`` and ``reduce``;
* ``genotype.json`` and ``genotype.txt`` (DARTS text form): the derived cell.

Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from nas_jax import bilevel, data, discretize, ops
from nas_jax.genotype import Genotype
from nas_jax.supernet import SearchNetwork


class ConfigError(ValueError):
  """A bad configuration value; the message is one line naming the key."""


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Checks the search config; raises ConfigError with a one-line message."""
  def need(cond: bool, message: str):
    if not cond:
      raise ConfigError(message)

  try:
    ops.validate_primitives(config.primitives)
  except ValueError as e:
    raise ConfigError(f'config.primitives: {e}') from None
  need(config.order in (1, 2), f'config.order must be 1 or 2, got {config.order!r}')
  for key in ('epochs', 'batch_size', 'layers', 'init_channels', 'steps', 'multiplier'):
    value = config[key]
    need(isinstance(value, int) and value >= 1, f'config.{key} must be a positive integer, got {value!r}')
  need(config.multiplier <= config.steps,
       f'config.multiplier ({config.multiplier}) must be <= config.steps ({config.steps})')
  need(config.init_channels % 2 == 0,
       f'config.init_channels must be even (factorized reduce splits it), got {config.init_channels}')
  need(isinstance(config.seed, int) and config.seed >= 0,
       f'config.seed must be a non-negative integer, got {config.seed!r}')
  try:
    ops.resolve_depthwise_impl(config.depthwise_impl)
  except ValueError as e:
    raise ConfigError(f'config.depthwise_impl: {e}') from None
  try:
    data.dataset_meta(config.dataset)
  except ValueError as e:
    raise ConfigError(f'config.dataset: {e}') from None


def build_model(config: ml_collections.ConfigDict, num_classes: int) -> SearchNetwork:
  """The supernet described by ``config``."""
  return SearchNetwork(num_classes=num_classes, channels=config.init_channels, layers=config.layers,
                       primitives=tuple(config.primitives), steps=config.steps,
                       multiplier=config.multiplier, stem_multiplier=config.stem_multiplier,
                       depthwise_impl=config.depthwise_impl)


def weight_schedule(config: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.Schedule:
  """Cosine from ``learning_rate`` to ``learning_rate_min`` over the epochs, stepped per epoch.

  This is ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=epochs, eta_min)``
  stepped once per epoch, as in the DARTS search.
  """
  cosine = optax.cosine_decay_schedule(config.learning_rate, max(config.epochs, 1),
                                       alpha=config.learning_rate_min / config.learning_rate)
  return lambda step: cosine(step // steps_per_epoch)


def build_optimizers(config, steps_per_epoch):
  """``(weight_tx, arch_tx, schedule, hyper)`` from the config."""
  schedule = weight_schedule(config, steps_per_epoch)
  weight_tx = bilevel.weight_optimizer(schedule, momentum=config.momentum,
                                       weight_decay=config.weight_decay,
                                       grad_clip=config.grad_clip)
  arch_tx = bilevel.arch_optimizer(learning_rate=config.arch_learning_rate, b1=config.arch_beta1,
                                   b2=config.arch_beta2, weight_decay=config.arch_weight_decay)
  hyper = bilevel.Hyper(momentum=config.momentum, weight_decay=config.weight_decay)
  return weight_tx, arch_tx, schedule, hyper


def alpha_entropy(alpha: jax.Array) -> float:
  """Mean entropy (nats) of softmax(alpha) over the edges."""
  p = jax.nn.softmax(jnp.asarray(alpha, jnp.float32), axis=-1)
  return float(jnp.mean(-jnp.sum(p * jnp.log(p + 1e-12), axis=-1)))


def atomic_write(path: str, payload: bytes | str) -> None:
  """Writes ``payload`` to ``path`` through a temporary file and a rename."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  mode = 'wb' if isinstance(payload, bytes) else 'w'
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.')
  try:
    with os.fdopen(fd, mode) as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_outputs(workdir: str, arch: dict[str, Any], genotype: Genotype) -> None:
  """Writes alphas.npz, genotype.json and genotype.txt atomically."""
  buf = io.BytesIO()
  np.savez(buf, normal=np.asarray(arch['normal']), reduce=np.asarray(arch['reduce']))
  atomic_write(os.path.join(workdir, 'alphas.npz'), buf.getvalue())
  atomic_write(os.path.join(workdir, 'genotype.json'), genotype.to_json(indent=2) + '\n')
  atomic_write(os.path.join(workdir, 'genotype.txt'), genotype.to_darts_text() + '\n')


def derive(config, arch) -> Genotype:
  """The DARTS discretization of the current alpha."""
  return discretize.derive_genotype(np.asarray(arch['normal']), np.asarray(arch['reduce']),
                                    primitives=tuple(config.primitives), steps=config.steps,
                                    multiplier=config.multiplier)


def _format_seconds(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def run_search(config: ml_collections.ConfigDict, workdir: str,
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
  """Runs a bilevel DARTS search and writes its outputs into ``workdir``.

  Args:
    config: the search config (see ``experiments/configs/search_demo.py``).
    workdir: output directory (created).
    log: where progress lines go (default: stdout).

  Returns:
    A summary dict: ``genotype`` (Genotype), ``metrics`` (list of epoch dicts),
    ``compile_seconds`` and ``seconds``.
  """
  log = log or (lambda line: print(line, flush=True))
  start = time.time()
  validate_config(config)
  train_split, val_split = data.search_splits(config)
  for name, split in (('train', train_split), ('val', val_split)):
    if config.batch_size > split.num_examples:
      raise ConfigError(f'config.batch_size ({config.batch_size}) is larger than the {name} split '
                        f'{split.description!r} ({split.num_examples} examples)')
  meta = data.dataset_meta(config.dataset)
  augment = config.augment
  train_stream = data.BatchStream.for_dataset(train_split, config.batch_size, seed=config.seed,
                                              dataset=config.dataset, train=augment)
  val_stream = data.BatchStream.for_dataset(val_split, config.batch_size, seed=config.seed + 1,
                                            dataset=config.dataset, train=augment)
  steps_per_epoch = min(train_stream.steps_per_epoch, val_stream.steps_per_epoch)
  if config.max_steps_per_epoch > 0:
    steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)

  model = build_model(config, meta.num_classes)
  weight_tx, arch_tx, schedule, hyper = build_optimizers(config, steps_per_epoch)
  sample = jnp.asarray(train_stream.batch(0, 0)[0][:1])
  state = jax.jit(lambda key: bilevel.init_state(model, key, sample, weight_tx, arch_tx))(
      jax.random.key(config.seed, impl='rbg'))  # rbg: far cheaper to compile than threefry
  step_fn = jax.jit(bilevel.make_search_step(model, weight_tx, arch_tx, schedule,
                                             order=config.order, hyper=hyper), donate_argnums=0)

  os.makedirs(workdir, exist_ok=True)
  metrics_path = os.path.join(workdir, 'metrics.jsonl')
  atomic_write(metrics_path, '')
  history = []
  compile_seconds = None
  search_start = time.time()
  for epoch in range(config.epochs):
    epoch_start = time.time()
    sums: dict[str, float] = {}
    for i in range(steps_per_epoch):
      train_batch = tuple(map(jnp.asarray, train_stream.batch(epoch, i)))
      val_batch = tuple(map(jnp.asarray, val_stream.batch(epoch, i)))
      t0 = time.time()
      state, step_metrics = step_fn(state, train_batch, val_batch)
      if compile_seconds is None:
        jax.block_until_ready(state)
        compile_seconds = time.time() - t0
      for k, v in step_metrics.items():
        sums[k] = sums.get(k, 0.0) + float(v)
      if config.log_every > 0 and (i + 1) % config.log_every == 0 and i + 1 < steps_per_epoch:
        done = epoch * steps_per_epoch + i + 1
        rate = (i + 1) / (time.time() - epoch_start)
        eta = (config.epochs * steps_per_epoch - done) / rate
        log(f'  epoch {epoch + 1} step {i + 1}/{steps_per_epoch} | train loss '
            f'{sums["train_loss"] / (i + 1):.4f} | {rate:.2f} steps/s | ETA {_format_seconds(eta)}')
    record = {k: v / steps_per_epoch for k, v in sums.items()}
    arch = jax.device_get(state.arch)
    if not all(np.isfinite(v) for v in record.values()):
      raise FloatingPointError(f'non-finite loss in epoch {epoch + 1}: {record}')
    record.update(epoch=epoch + 1, steps=int(state.step),
                  alpha_entropy_normal=alpha_entropy(arch['normal']),
                  alpha_entropy_reduce=alpha_entropy(arch['reduce']),
                  seconds=time.time() - epoch_start)
    history.append(record)
    with open(metrics_path, 'a') as f:
      f.write(json.dumps(record) + '\n')
    elapsed = time.time() - search_start
    eta = elapsed / (epoch + 1) * (config.epochs - epoch - 1)
    log(f'epoch {epoch + 1}/{config.epochs} | train loss {record["train_loss"]:.4f} '
        f'acc {record["train_acc"]:.4f} | val loss {record["val_loss"]:.4f} '
        f'acc {record["val_acc"]:.4f} | H(alpha) {record["alpha_entropy_normal"]:.3f}/'
        f'{record["alpha_entropy_reduce"]:.3f} | {record["seconds"]:.1f}s | ETA {_format_seconds(eta)}')

  arch = jax.device_get(state.arch)
  genotype = derive(config, arch)
  write_outputs(workdir, arch, genotype)
  return {'genotype': genotype, 'metrics': history, 'compile_seconds': compile_seconds,
          'seconds': time.time() - start, 'state': state}
