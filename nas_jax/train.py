"""Retraining a genotype from scratch: the DARTS evaluation loop.

``run_train(config, workdir)`` is what ``python -m experiments.train`` calls.
The loop is DARTS' ``train.py``: SGD with momentum and weight decay, a cosine
learning rate stepped per epoch, gradient clipping, random crop and flip plus
cutout, drop path rising linearly from 0 to ``drop_path_prob`` over the
epochs, and an auxiliary head whose loss is weighted by
``auxiliary_weight``. It writes into ``workdir``:

* ``checkpoints/``: Orbax checkpoints every ``checkpoint_every`` steps and at
  each epoch end; rerunning the same command resumes from the newest;
* ``metrics.jsonl`` and ``tensorboard/``: one record per epoch (train loss
  and accuracy, test accuracy when evaluated, learning rate, drop path);
* ``config.json``: the resolved config, written with ``results.json`` (``python -m
  experiments.export`` rebuilds the network from it);
* ``results.json``: ``test_accuracy``, ``params_m`` (auxiliary head
  excluded, as the papers count), ``flops_m`` (multiply-adds of one image),
  ``epochs``, ``seconds`` and the genotype;
* the space's cell plots (``cell_normal.png`` and ``cell_reduce.png`` in
  DARTS, ``cell.png`` in NB201).

The config names the space as a search config does (``config.space_name`` and its
section ``config.space``), and ``config.network`` one of the space's evaluation network
kinds (None: its first). The DARTS space has ``'cifar'`` and ``'imagenet'``; the
NAS-Bench-201 space has ``'nb201'`` (``config.genotype`` is then the NB201 string form or a
file holding it, ``config.layers`` the number of cells per stage N; it has no auxiliary
head and no drop path, so ``auxiliary_weight`` and ``drop_path_prob`` must be 0).
``results.json`` holds the genotype's text form, the space and the network kind.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import json
import os
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from nas_jax import bilevel, components, data, netstats, parallel, runner
from nas_jax.config_checks import ConfigError, need, positive_ints, run_settings
from nas_jax.spaces.base import Space
from nas_jax.util import atomic_write, dataclass_from

PyTree = Any


@flax.struct.dataclass
class TrainState:
  """Everything a training step reads and writes."""

  step: jax.Array
  params: PyTree
  batch_stats: PyTree
  opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class Recipe:
  """How a genotype is retrained: DARTS' evaluation recipe (quark0/darts ``train.py``) by
  default, with NB201's Nesterov momentum and DARTS' ImageNet schedule as options.

  Attributes:
    epochs, batch_size: the loop's length and training batch.
    learning_rate, learning_rate_min, lr_schedule, lr_decay: the per-epoch schedule
      (:func:`make_optimizer`).
    momentum, nesterov, weight_decay, grad_clip: SGD's settings (0 clip: none).
    label_smoothing: of the cross-entropy.
    auxiliary_weight: the auxiliary head's loss weight (0: no head).
    drop_path_prob: reached at the last epoch, rising linearly from 0.
    cutout_length: of the training images (0: none).
    seed: the weights, data order and drop-path keys.
    eval_batch_size, eval_every: the test passes (0: only after the last epoch).
    max_steps_per_epoch: > 0 truncates epochs (smoke tests).
  """

  epochs: int = 600
  batch_size: int = 96
  learning_rate: float = 0.025
  learning_rate_min: float = 0.0
  lr_schedule: str = 'cosine'
  lr_decay: float = 0.97
  momentum: float = 0.9
  nesterov: bool = False
  weight_decay: float = 3e-4
  grad_clip: float = 5.0
  label_smoothing: float = 0.0
  auxiliary_weight: float = 0.4
  drop_path_prob: float = 0.2
  cutout_length: int = 16
  seed: int = 0
  eval_batch_size: int = 500
  eval_every: int = 0
  max_steps_per_epoch: int = -1

  @classmethod
  def from_config(cls, config) -> Recipe:
    """The recipe a retraining config gives (its keys of the same names)."""
    return dataclass_from(cls, config)


CONFIG_FILE = 'config.json'


def config_json(config: ml_collections.ConfigDict) -> str:
  """The resolved config as indented JSON (:func:`read_config` reads it back)."""
  return config.copy_and_resolve_references().to_json_best_effort(indent=2, sort_keys=True) + '\n'


def read_config(path: str) -> ml_collections.ConfigDict:
  """A retraining run's ``config.json`` as a ConfigDict (ConfigError naming the file if it is
  not a JSON object)."""
  try:
    with open(path) as f:
      values = json.load(f)
  except (OSError, ValueError) as e:
    raise ConfigError(f'{path}: cannot read it as a JSON config ({e})') from None
  if not isinstance(values, dict):
    raise ConfigError(f'{path}: a config file holds a JSON object, got {type(values).__name__}')
  return ml_collections.ConfigDict(values)


def network(config) -> tuple[Space, str]:
  """The space a retraining config names (``config.space_name``, section ``config.space``)
  and its evaluation network kind (``config.network``; None: the space's first, e.g.
  DARTS' ``'cifar'``). One-line ConfigErrors name the key."""
  return components.train_network(config)


def load_genotype(space: Space, ref: Any):
  """The genotype ``ref`` names, read by ``space``.

  DARTS takes a published name, a genotype file or the text form; NB201 takes its
  string form or a file holding it.

  Raises:
    GenotypeError: one line, if ``ref`` cannot be read or has ops the
      space's networks cannot build.
  """
  return space.check_genotype(space.load_genotype(ref))


def validate_config(config: ml_collections.ConfigDict):
  """Checks the training config; returns the genotype it names."""
  positive_ints(config, ('epochs', 'batch_size', 'layers', 'init_channels', 'eval_batch_size'))
  run_settings(config)
  space, _ = network(config)
  components.check_train_network(config, space)
  need(
      0.0 <= config.drop_path_prob < 1.0,
      f'config.drop_path_prob must be in [0, 1), got {config.drop_path_prob!r}',
  )
  need(
      config.lr_schedule in ('cosine', 'exponential'),
      f"config.lr_schedule must be 'cosine' or 'exponential', got {config.lr_schedule!r}",
  )
  need(
      0.0 <= config.label_smoothing < 1.0,
      f'config.label_smoothing must be in [0, 1), got {config.label_smoothing!r}',
  )
  need(
      config.auxiliary_weight >= 0.0,
      f'config.auxiliary_weight must be >= 0, got {config.auxiliary_weight!r}',
  )
  need(
      isinstance(config.cutout_length, int) and config.cutout_length >= 0,
      f'config.cutout_length must be a non-negative integer (0: off), got '
      f'{config.cutout_length!r}',
  )
  need(
      isinstance(config.eval_every, int) and config.eval_every >= 0,
      f'config.eval_every must be >= 0 (0: only after the last epoch), got {config.eval_every!r}',
  )
  need(
      config.genotype is not None and str(config.genotype) != '',
      f'config.genotype must name a {space.name} genotype: {space.load_genotype.__doc__.strip()}',
  )
  try:
    data.dataset_meta(config.dataset)
  except ValueError as e:
    raise ConfigError(f'config.dataset: {e}') from None
  return load_genotype(space, config.genotype)


def build_model(config: ml_collections.ConfigDict, genotype, num_classes: int):
  """The evaluation network (``config.network`` of the config's space) for ``genotype``, sized
  by ``config``."""
  space, kind = network(config)
  options = components.evalnet_options(config, space)
  return space.evalnet(genotype, num_classes, kind=kind, **options)


def make_optimizer(
    recipe: Recipe, steps_per_epoch: int
) -> tuple[optax.GradientTransformation, Callable]:
  """SGD (momentum, L2 decay, clipping) with a learning rate stepped once per epoch.

  ``lr_schedule='cosine'``: DARTS' CIFAR schedule, cosine from
  ``learning_rate`` to ``learning_rate_min``. ``'exponential'``: DARTS'
  ImageNet schedule, ``learning_rate * lr_decay ** epoch``. With
  ``recipe.nesterov`` (NB201's recipe) the momentum is Nesterov's, as
  ``torch.optim.SGD(nesterov=True)``: ``b = mu * b + g``, step ``g + mu * b``.
  """
  if recipe.lr_schedule == 'cosine':
    per_epoch = optax.cosine_decay_schedule(
        recipe.learning_rate, recipe.epochs, alpha=recipe.learning_rate_min / recipe.learning_rate
    )
  else:
    per_epoch = optax.exponential_decay(recipe.learning_rate, 1, recipe.lr_decay)
  schedule = lambda step: per_epoch(step // steps_per_epoch)
  if recipe.nesterov:
    # The chain of bilevel.weight_optimizer with Nesterov momentum (same state layout).
    parts = [optax.clip_by_global_norm(recipe.grad_clip)] if recipe.grad_clip else []
    parts += [
        optax.add_decayed_weights(recipe.weight_decay),
        optax.trace(decay=recipe.momentum, nesterov=True),
        optax.scale_by_learning_rate(schedule),
    ]
    return optax.chain(*parts), schedule
  tx = bilevel.weight_optimizer(
      schedule,
      momentum=recipe.momentum,
      weight_decay=recipe.weight_decay,
      grad_clip=recipe.grad_clip,
  )
  return tx, schedule


def drop_prob_at(recipe: Recipe, epoch):
  """DARTS' drop path schedule: ``drop_path_prob * epoch / epochs`` (epoch from 0)."""
  return recipe.drop_path_prob * epoch / recipe.epochs


def smoothed_cross_entropy(logits, labels, smoothing: float):
  """Mean cross-entropy against one-hot labels mixed with ``smoothing`` of the uniform."""
  if not smoothing:
    return bilevel.cross_entropy(logits, labels)
  k = logits.shape[-1]
  targets = optax.smooth_labels(jax.nn.one_hot(labels, k), smoothing)
  return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets).mean()


def make_train_step(model, tx, schedule, recipe: Recipe, steps_per_epoch: int) -> Callable:
  """``(state, images, labels) -> (state, metrics)``; the dropout key is derived from the step."""
  base_key = jax.random.key(recipe.seed, impl='rbg')
  aux_weight = recipe.auxiliary_weight
  use_drop_path = recipe.drop_path_prob > 0

  def step(state: TrainState, images, labels):
    epoch = state.step // steps_per_epoch
    drop_prob = drop_prob_at(recipe, epoch.astype(jnp.float32)) if use_drop_path else None
    key = jax.random.fold_in(base_key, state.step)

    def loss_fn(params):
      (logits, aux), updates = model.apply(
          {'params': params, 'batch_stats': state.batch_stats},
          images,
          train=True,
          drop_prob=drop_prob,
          rngs={'dropout': key},
          mutable=['batch_stats'],
      )
      loss = smoothed_cross_entropy(logits, labels, recipe.label_smoothing)
      if aux is not None:
        loss = loss + aux_weight * smoothed_cross_entropy(aux, labels, recipe.label_smoothing)
      return loss, (logits, updates['batch_stats'])

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new = state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        batch_stats=batch_stats,
        opt_state=opt_state,
    )
    return new, {'loss': loss, 'acc': bilevel.accuracy(logits, labels), 'lr': schedule(state.step)}

  return step


def make_eval_step(model) -> Callable:
  """``(params, batch_stats, images, labels, weights) -> (correct, count)`` in eval mode."""

  def step(params, batch_stats, images, labels, weights):
    logits, _ = model.apply({'params': params, 'batch_stats': batch_stats}, images, train=False)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return jnp.sum(correct * weights), jnp.sum(weights)

  return step


def evaluate(
    eval_fn, state: TrainState, split: data.ArraySplit, batch_size: int, meta, sharding
) -> float:
  """Top-1 accuracy on a whole split (the last batch padded and masked)."""
  n = split.num_examples
  correct = count = 0.0
  for start in range(0, n, batch_size):
    images = split.images[start : start + batch_size]
    labels = split.labels[start : start + batch_size]
    weights = np.ones(len(labels), np.float32)
    if len(labels) < batch_size:
      pad = batch_size - len(labels)
      images = np.concatenate([images, np.zeros((pad,) + images.shape[1:], images.dtype)])
      labels = np.concatenate([labels, np.zeros(pad, labels.dtype)])
      weights = np.concatenate([weights, np.zeros(pad, np.float32)])
    batch = parallel.shard_batch(
        (data.normalize(images, meta.mean, meta.std), labels, weights), sharding
    )
    c, k = eval_fn(state.params, state.batch_stats, *batch)
    correct += float(c)
    count += float(k)
  return correct / count


def initial_state(model, tx, image_shape, seed: int, sharding=None) -> TrainState:
  """The state a retraining starts from: ``model``'s variables at ``seed`` (the auxiliary
  head built), step 0 and ``tx``'s fresh state; also the template its checkpoints restore
  into."""
  sample = jnp.zeros((1, *image_shape), jnp.float32)

  def init(key):
    variables = model.init({'params': key}, sample, train=True)  # train: builds the aux head
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=variables['params'],
        batch_stats=variables['batch_stats'],
        opt_state=tx.init(variables['params']),
    )

  compiled = jax.jit(init) if sharding is None else jax.jit(init, out_shardings=sharding)
  return compiled(jax.random.key(seed, impl='rbg'))


@dataclasses.dataclass(frozen=True)
class RetrainData:
  """What a retraining reads: the training batches, the test split and the dataset's
  statistics (``data.dataset_meta``: its classes, mean and std)."""

  train: data.ArraySplit
  test: data.ArraySplit
  stream: data.BatchStream
  meta: Any


@dataclasses.dataclass
class Retrained:
  """What :func:`retrain` leaves: the final state, its test accuracy, the network's size
  (parameters without the auxiliary head, and multiply-adds of one image, in millions) and
  the loop's record (seconds, compile seconds, the checkpoint it resumed from)."""

  state: TrainState
  test_accuracy: float
  params_m: float
  flops_m: float
  loop: runner.LoopResult


def retrain_data(config, recipe: Recipe) -> RetrainData:
  """The data of a retraining config (one-line ConfigErrors)."""
  train_split = data.train_split(config)
  test_split = data.test_split(config)
  if recipe.batch_size > train_split.num_examples:
    raise ConfigError(
        f'config.batch_size ({recipe.batch_size}) is larger than the train split '
        f'{train_split.description!r} ({train_split.num_examples} examples)'
    )
  stream = data.BatchStream.for_dataset(
      train_split,
      recipe.batch_size,
      seed=recipe.seed,
      dataset=config.dataset,
      train=True,
      cutout_length=recipe.cutout_length,
  )
  return RetrainData(train_split, test_split, stream, data.dataset_meta(config.dataset))


def steps_per_epoch(recipe: Recipe, data_: RetrainData) -> int:
  """The stream's batches per epoch, truncated by ``recipe.max_steps_per_epoch``."""
  steps = data_.stream.steps_per_epoch
  return min(steps, recipe.max_steps_per_epoch) if recipe.max_steps_per_epoch > 0 else steps


def retrain(
    model,
    recipe: Recipe,
    data_: RetrainData,
    loop: runner.EpochLoop,
    *,
    mesh: jax.sharding.Mesh,
    log: Callable[[str], None] = print,
    describe: str = '',
) -> Retrained:
  """Trains ``model`` (an evaluation network) from scratch with ``recipe`` on ``data_``, in
  ``loop`` (its epochs and steps are the recipe's; it resumes from its workdir's newest
  checkpoint), the batch split over ``mesh``. ``describe`` opens the first log line."""
  steps = steps_per_epoch(recipe, data_)
  tx, schedule = make_optimizer(recipe, steps)
  repl = parallel.replicated(mesh)
  batch_sh = parallel.batch_sharding(mesh)
  state = initial_state(model, tx, data_.train.image_shape, recipe.seed, repl)
  params_m = netstats.count_params(state.params) / 1e6
  flops_m = netstats.count_macs(model, data_.train.image_shape) / 1e6
  log(
      f'retraining {describe}: {params_m:.3f} M params, {flops_m:.1f} M multiply-adds; '
      f'{recipe.epochs} epochs x {steps} steps'
  )
  step_fn = jax.jit(
      make_train_step(model, tx, schedule, recipe, steps),
      in_shardings=(repl, batch_sh, batch_sh),
      out_shardings=(repl, repl),
      donate_argnums=0,
  )
  eval_fn = jax.jit(make_eval_step(model), in_shardings=(repl, repl, batch_sh, batch_sh, batch_sh))

  def test(state):
    return evaluate(eval_fn, state, data_.test, recipe.eval_batch_size, data_.meta, batch_sh)

  test_acc = None

  def step(state, epoch, i):
    images, labels = parallel.shard_batch(data_.stream.batch(epoch, i), batch_sh)
    state, out = step_fn(state, images, labels)
    return state, jax.device_get(out)

  def progress(epoch, i, means, rate):
    return (
        f'  step {epoch * steps + i + 1}/{steps * recipe.epochs} | loss {means["loss"]:.4f} | '
        f'{rate * recipe.batch_size:.1f} img/s'
    )

  def end_epoch(state, epoch, means, seconds, run_seconds):
    nonlocal test_acc
    del seconds
    record = {
        'step': int(jax.device_get(state.step)),
        'epoch': epoch + 1,
        'train_loss': means['loss'],
        'train_acc': means['acc'],
        'lr': float(schedule(epoch * steps)),
        'drop_prob': drop_prob_at(recipe, epoch),
        'seconds': run_seconds,
    }
    last = epoch + 1 == recipe.epochs
    if last or (recipe.eval_every and (epoch + 1) % recipe.eval_every == 0):
      test_acc = record['test_acc'] = test(state)
    line = (
        f'epoch {epoch + 1}/{recipe.epochs} | train loss {record["train_loss"]:.4f} acc '
        f'{record["train_acc"]:.4f}'
        + (f' | test acc {test_acc:.4f}' if 'test_acc' in record else '')
        + f' | {run_seconds:.0f}s'
    )
    return [record], line

  done = loop.run(state, step, end_epoch, progress)
  if test_acc is None:  # resumed after the last epoch had finished
    test_acc = test(done.state)
  return Retrained(done.state, test_acc, params_m, flops_m, done)


def run_train(
    config: ml_collections.ConfigDict, workdir: str, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
  """Retrains ``config.genotype`` from scratch; resumes from ``workdir``'s newest checkpoint.

  The config's edge: it checks the config and builds the space, the genotype, the network,
  the :class:`Recipe`, the data and the loop, then :func:`retrain` runs.

  Returns:
    The results dict (also written to ``workdir/results.json``) plus
    ``'state'`` and ``'resumed_from'`` (the checkpoint step, or None).
  """
  log = log or (lambda line: print(line, flush=True))
  start = time.time()
  mesh, genotype = components.start_run(config, validate_config, ('batch_size', 'eval_batch_size'))
  recipe = Recipe.from_config(config)
  data_ = retrain_data(config, recipe)
  space, kind = network(config)
  model = build_model(config, genotype, data_.meta.num_classes)
  os.makedirs(workdir, exist_ok=True)
  loop = components.epoch_loop(
      config, workdir, steps_per_epoch(recipe, data_), log, finite={'loss': ''}
  )
  describe = (
      f'{space.to_text(genotype)} ({kind}, {components.describe_network(config, space)}, '
      f'C={config.init_channels})'
  )
  out = retrain(model, recipe, data_, loop, mesh=mesh, log=log, describe=describe)
  results = {
      'test_accuracy': out.test_accuracy,
      'params_m': out.params_m,
      'flops_m': out.flops_m,
      'epochs': recipe.epochs,
      'seconds': out.loop.run_seconds,
      'genotype': space.to_text(genotype),
      'genotype_source': str(config.genotype),
      'space': space.name,
      'network': kind,
      'compile_seconds': out.loop.compile_seconds,
      'dataset': config.dataset,
  }
  if jax.process_index() == 0:
    # With the results, not at the start: a resume that fails must leave the run unchanged.
    atomic_write(os.path.join(workdir, CONFIG_FILE), config_json(config))
    atomic_write(os.path.join(workdir, 'results.json'), json.dumps(results, indent=2) + '\n')
    space.plot(genotype, workdir)
  return dict(
      results,
      state=out.state,
      resumed_from=out.loop.resumed_from,
      wall_seconds=time.time() - start,
  )
