"""The search loop: data, supernet, jit-compiled bilevel steps, discretization, outputs.

The method is ``config.strategy_name`` (``nas_jax.strategies``: DARTS, GDAS,
SNAS, PC-DARTS, DrNAS, DARTS-, FairDARTS, beta-DARTS; its settings in
``config.strategy``) and the space ``config.space_name`` (``nas_jax.spaces``: its
supernet, derivation, text form and plots; its settings in ``config.space``); the loop
below serves them all.

``run_search(config, workdir)`` is what ``python -m experiments.search`` calls; it builds the
objects and :func:`search` runs them (a strategy, its supernet, a :class:`Bilevel` recipe,
the :class:`SearchData` and a resumable ``runner.EpochLoop``).
It writes into ``workdir``:

* ``metrics.jsonl`` and ``tensorboard/``: one record per epoch (train/val
  loss and accuracy, alpha entropy, softmax(alpha) per edge, seconds);
* ``checkpoints/``: Orbax checkpoints every ``checkpoint_every`` steps and at
  each epoch end; rerunning the same command on the same workdir resumes
  from the newest and ends bit-identical to an uninterrupted run (the data
  order is a function of the seed, epoch and batch; see ``checkpoint.py``);
* ``alphas.npz``: the final architecture arrays (``normal`` and ``reduce``,
  or ``cell`` in NB201, plus any the strategy adds, such as ``beta_*``);
* ``genotype.json`` and ``genotype.txt`` (the space's text form: DARTS'
  ``Genotype(...)``, NB201's ``|op~0|+...`` string): the derived cell;
* the space's cell plots (``space.plot_names()``: ``cell_normal.png`` and
  ``cell_reduce.png`` in DARTS, ``cell.png`` in NB201) and ``alphas.png``.

Every file is written atomically (temporary file, then rename). A NaN or
infinite loss stops the run with a one-line message naming the step; the
last good checkpoint is kept.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import hashlib
import io
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from nas_jax import bilevel, components, data, ops, parallel, runner, spaces
from nas_jax.config_checks import ConfigError, need, positive_ints, run_settings
from nas_jax.metrics import METRICS_FILE, read_metrics
from nas_jax.spaces.base import Space
from nas_jax.strategies.base import Strategy
from nas_jax.util import atomic_write, dataclass_from


def _check_space(config) -> Space:
  """The space ``config.space_name`` with its settings ``config.space``; normalizes
  ``config.space.primitives`` to the op set used (the command line's 'a,b' form, or empty:
  the space's own op set)."""
  need(
      config.space_name not in spaces.REGISTRY or config.space_name in spaces.NETWORK_NAMES,
      f'config.space_name: the {config.space_name} space has no supernet to search (spaces '
      f'with networks: {", ".join(spaces.NETWORK_NAMES)})',
  )
  space = components.space(config)
  if tuple(config.space.primitives or ()) != space.primitives:
    with config.ignore_type():
      config.space.primitives = space.primitives
  components.check_search_network(config, space)
  return space


def _check_strategy(config, space: Space):
  name = config.strategy_name
  need(config.order in (1, 2), f'config.order must be 1 or 2, got {config.order!r}')
  try:
    strategy = components.strategy(config, space)
  except ValueError as e:  # the strategy's own settings (tau, regularizer weights, ...)
    message = str(e)
    raise ConfigError(message if message.startswith('config.') else f'config: {message}') from None
  need(
      not (strategy.one_level and config.order != 1),
      f'config.order must be 1 for the one-level strategy {name!r}, got {config.order}',
  )
  k = strategy.partial
  need(
      isinstance(k, int) and k >= 1,
      f'config.strategy.partial_channels must be a positive integer, got {k!r}',
  )
  unit = space.partial_channels_unit(k)
  need(
      k == 1 or config.init_channels % unit == 0,
      f'config.init_channels ({config.init_channels}) must be a multiple of {unit} with '
      f'partial_channels={k}',
  )
  return strategy


def _check_loop(config) -> None:
  need(
      config.get('phase_loop', 'auto') in ('auto', 'scan', 'unroll'),
      f"config.phase_loop must be 'auto', 'scan' or 'unroll', got {config.get('phase_loop')!r}",
  )
  warmup = config.get('arch_warmup_epochs', 0)
  need(
      isinstance(warmup, int) and warmup >= 0,
      f'config.arch_warmup_epochs must be a non-negative integer, got {warmup!r}',
  )
  positive_ints(
      config,
      (
          'epochs',
          'batch_size',
          'layers',
          'init_channels',
          'num_seeds',
          'num_processes',
      ),
  )
  run_settings(config)


def _check_hardware(config) -> None:
  need(
      isinstance(config.num_devices, int) and config.num_devices >= 0,
      f'config.num_devices must be >= 0 (0: all devices), got {config.num_devices!r}',
  )
  try:
    ops.resolve_depthwise_impl(config.depthwise_impl)
  except ValueError as e:
    raise ConfigError(f'config.depthwise_impl: {e}') from None
  need(isinstance(config.remat, bool), f'config.remat must be True or False, got {config.remat!r}')
  # XLA:CPU (JAX 0.10.2) crashed running the rematerialized cells under the seed vmap.
  need(
      not (config.remat and config.num_seeds > 1),
      'config.remat=True does not support num_seeds > 1 yet; set config.remat=False',
  )
  try:
    data.dataset_meta(config.dataset)
  except ValueError as e:
    raise ConfigError(f'config.dataset: {e}') from None


def validate_config(config: ml_collections.ConfigDict) -> Strategy:
  """Checks the search config and returns its strategy (whose ``space`` is the config's
  space, built once here); raises ConfigError with a one-line message naming the key.

  The space and its op set first (an empty ``config.space.primitives`` becomes the
  space's own op set), then the loop (the strategy anneals over its epochs), the strategy
  and the hardware settings.
  """
  space = _check_space(config)
  _check_loop(config)
  strategy = _check_strategy(config, space)
  _check_hardware(config)
  return strategy


def build_model(config: ml_collections.ConfigDict, num_classes: int, strategy=None):
  """The space's supernet described by ``config``, with the network options ``strategy`` needs."""
  strategy = strategy or components.strategy(config)
  space = strategy.space
  return space.supernet(
      num_classes,
      channels=config.init_channels,
      layers=config.layers,
      **components.supernet_options(config, space),
      **strategy.network_options(),
  )


def unroll_phases(config, space: Space | None = None) -> bool:
  """``config.phase_loop``: 'scan', 'unroll' or 'auto' (the space's ``unroll_phases``: unroll
  where the cells have real convolutions, as NB201's; see ``bilevel.make_search_step``)."""
  return Bilevel(phase_loop=config.get('phase_loop', 'auto')).unroll(
      space or components.space(config)
  )


@dataclasses.dataclass(frozen=True)
class Bilevel:
  """The bilevel optimization of a differentiable search. DARTS' settings (quark0/darts
  ``train_search.py``) are the defaults.

  Attributes:
    epochs, batch_size: the loop's length and the batch of each half.
    learning_rate, learning_rate_min, momentum, weight_decay, grad_clip: the weights' SGD,
      cosine per epoch (:func:`weight_schedule`).
    arch_learning_rate, arch_beta1, arch_beta2, arch_weight_decay: alpha's Adam.
    order: 1 (first order) or 2 (DARTS' exact second-order hypergradient).
    arch_warmup_epochs: alpha frozen for this many epochs (PC-DARTS: 15).
    phase_loop: 'scan', 'unroll' or 'auto' (unroll where the space says its cells run
      slowly inside a loop: ``Space.unroll_phases``).
    augment: random crop (and flip) on both halves.
    max_steps_per_epoch: > 0 truncates epochs (smoke tests).
  """

  epochs: int = 50
  batch_size: int = 64
  learning_rate: float = 0.025
  learning_rate_min: float = 0.001
  momentum: float = 0.9
  weight_decay: float = 3e-4
  grad_clip: float = 5.0
  arch_learning_rate: float = 3e-4
  arch_beta1: float = 0.5
  arch_beta2: float = 0.999
  arch_weight_decay: float = 1e-3
  order: int = 1
  arch_warmup_epochs: int = 0
  phase_loop: str = 'auto'
  augment: bool = True
  max_steps_per_epoch: int = -1

  @classmethod
  def from_config(cls, config) -> Bilevel:
    """The settings a search config gives (its keys of the same names)."""
    return dataclass_from(cls, config)

  def unroll(self, space: Space) -> bool:
    """Whether the step runs its phases unrolled in ``space`` (:attr:`phase_loop`)."""
    return self.phase_loop == 'unroll' or (self.phase_loop == 'auto' and space.unroll_phases)


@dataclasses.dataclass(frozen=True)
class SearchData:
  """The batches of a search: per seed, a stream of the weights' half and one of alpha's,
  and the steps of an epoch (the shorter stream's, truncated by ``max_steps_per_epoch``)."""

  train: list[data.BatchStream]
  val: list[data.BatchStream]
  steps_per_epoch: int


def weight_schedule(recipe: Bilevel, steps_per_epoch: int) -> optax.Schedule:
  """Cosine from ``learning_rate`` to ``learning_rate_min`` over the epochs, stepped per epoch.

  This is ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=epochs, eta_min)``
  stepped once per epoch, as in the DARTS search.
  """
  cosine = optax.cosine_decay_schedule(
      recipe.learning_rate,
      max(recipe.epochs, 1),
      alpha=recipe.learning_rate_min / recipe.learning_rate,
  )
  return lambda step: cosine(step // steps_per_epoch)


def build_optimizers(recipe: Bilevel, steps_per_epoch: int):
  """``(weight_tx, arch_tx, schedule, hyper)`` of the recipe."""
  schedule = weight_schedule(recipe, steps_per_epoch)
  weight_tx = bilevel.weight_optimizer(
      schedule,
      momentum=recipe.momentum,
      weight_decay=recipe.weight_decay,
      grad_clip=recipe.grad_clip,
  )
  arch_tx = bilevel.arch_optimizer(
      learning_rate=recipe.arch_learning_rate,
      b1=recipe.arch_beta1,
      b2=recipe.arch_beta2,
      weight_decay=recipe.arch_weight_decay,
  )
  hyper = bilevel.Hyper(momentum=recipe.momentum, weight_decay=recipe.weight_decay)
  return weight_tx, arch_tx, schedule, hyper


def alpha_entropy(alpha: jax.Array) -> float:
  """Mean entropy (nats) of softmax(alpha) over the edges."""
  p = jax.nn.softmax(jnp.asarray(alpha, jnp.float32), axis=-1)
  return float(jnp.mean(-jnp.sum(p * jnp.log(p + 1e-12), axis=-1)))


def rows(p) -> list[list[float]]:
  """An (E, K) array as nested lists rounded to 6 digits."""
  return np.asarray(p, np.float64).round(6).tolist()


def write_outputs(workdir: str, arch: dict[str, Any], genotype, space: Space) -> None:
  """Writes alphas.npz, genotype.json, genotype.txt and the plots, each atomically.

  The plots are the space's cell pictures (``space.plot_names()``) and
  ``alphas.png`` (the op strengths of every edge over the epochs, read back
  from ``metrics.jsonl``).
  """
  from nas_jax import plot  # matplotlib: only when writing

  buf = io.BytesIO()
  np.savez(buf, **{k: np.asarray(v) for k, v in arch.items()})
  atomic_write(os.path.join(workdir, 'alphas.npz'), buf.getvalue())
  atomic_write(os.path.join(workdir, 'genotype.json'), genotype.to_json(indent=2) + '\n')
  atomic_write(os.path.join(workdir, 'genotype.txt'), space.to_text(genotype) + '\n')
  space.plot(genotype, workdir)
  history = plot.alpha_history_from_metrics(os.path.join(workdir, METRICS_FILE))
  if history:
    plot.plot_alpha_history(
        history, space.primitives, os.path.join(workdir, 'alphas.png'), space=space
    )


def collapse_counts(genotype, space: Space) -> dict[str, int]:
  """The collapse signature: how many kept ops are ``skip_connect`` and how many parameter-free.

  Only the space's ``collapse_cells`` count (DARTS: the normal cell; its
  reduction cell is mostly pooling by design).
  """
  edges = [e for e in space.edges(genotype) if e[0] in space.collapse_cells]
  return {
      'skip': sum(op == 'skip_connect' for *_, op in edges),
      'param_free': sum(op in space.parameter_free for *_, op in edges),
      'edges': len(edges),
  }


def summarize_seeds(
    seeds: list[int], genotypes: list, final_val_acc: list[float], space: Space
) -> dict[str, Any]:
  """How often each op and each edge was chosen over the seeds, and the val accuracy spread.

  Edges are named ``'node<i><-<j>'`` as in ``space.edges``.
  """
  from nas_jax import card as card_lib  # pylint: disable=import-outside-toplevel

  kinds = sorted({k for g in genotypes for k, *_ in space.edges(g)}, reverse=True)
  ops, edge_ops = card_lib.choice_counts(space, genotypes)
  ops_count = {k: ops[k] for k in kinds}
  edges_count = {k: {e: sum(c.values()) for e, c in edge_ops[k].items()} for k in kinds}
  sort = lambda d: dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))
  acc = np.asarray(final_val_acc, np.float64)
  return {
      'seeds': seeds,
      'genotypes': {str(s): space.to_text(g) for s, g in zip(seeds, genotypes)},
      'collapse': {str(s): collapse_counts(g, space) for s, g in zip(seeds, genotypes)},
      'op_counts': {k: sort(v) for k, v in ops_count.items()},
      'edge_counts': {k: sort(v) for k, v in edges_count.items()},
      'final_val_acc': {
          'mean': float(acc.mean()),
          'std': float(acc.std()),
          'per_seed': [float(a) for a in acc],
      },
  }


def _write_card(config, space, seeds, genotypes, final_val_acc, workdir) -> None:
  """The seeds' reproduction card (``card.md``, ``card.json``); with ``config.table`` (a
  table file or 'shipped', set by ``configs/search_table.py``) each cell is looked up."""
  from nas_jax import card as card_lib  # pylint: disable=import-outside-toplevel
  from nas_jax import tabular  # pylint: disable=import-outside-toplevel

  table = tabular.load(config.table) if config.get('table') else None
  c = card_lib.card(
      space if table is None else table.space,
      dict(zip(seeds, genotypes)),
      table=table,
      scores={'final_val_acc': dict(zip(seeds, final_val_acc))},
      title=f'{config.strategy_name}, {config.epochs} epochs, seeds {seeds[0]}-{seeds[-1]}',
  )
  atomic_write(os.path.join(workdir, 'card.json'), json.dumps(c, indent=2) + '\n')
  atomic_write(os.path.join(workdir, 'card.md'), card_lib.markdown(c))


def _stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def search_data(config, recipe: Bilevel, seeds: list[int]) -> SearchData:
  """The batches of a search config: one stream pair per seed (one-line ConfigErrors)."""
  train_split, val_split = data.search_splits(config)
  for name, split in (('train', train_split), ('val', val_split)):
    if recipe.batch_size > split.num_examples:
      raise ConfigError(
          f'config.batch_size ({recipe.batch_size}) is larger than the {name} split '
          f'{split.description!r} ({split.num_examples} examples)'
      )
  stream = lambda split, seed: data.BatchStream.for_dataset(
      split, recipe.batch_size, seed=seed, dataset=config.dataset, train=recipe.augment
  )
  train_streams = [stream(train_split, s) for s in seeds]
  val_streams = [stream(val_split, s + 1) for s in seeds]
  steps_per_epoch = min(train_streams[0].steps_per_epoch, val_streams[0].steps_per_epoch)
  if recipe.max_steps_per_epoch > 0:
    steps_per_epoch = min(steps_per_epoch, recipe.max_steps_per_epoch)
  return SearchData(train_streams, val_streams, steps_per_epoch)


def _compile(model, strategy, recipe: Bilevel, seeds, sample, steps_per_epoch, mesh, cost=None):
  """``(initial state, jitted step, batch sharding)``: the supernet's optimizers, the
  state of every seed (stacked when there are several) and the bilevel step."""
  weight_tx, arch_tx, schedule, hyper = build_optimizers(recipe, steps_per_epoch)
  repl = parallel.replicated(mesh)
  init = jax.jit(
      lambda key: bilevel.init_state(model, key, sample, weight_tx, arch_tx, strategy),
      out_shardings=repl,
  )
  # rbg keys: far cheaper to compile than threefry. Seeds are initialized one
  # by one with the same compiled init, so seed k matches a single run of it.
  states = [init(jax.random.key(s, impl='rbg')) for s in seeds]
  state = states[0] if len(seeds) == 1 else jax.device_put(_stack(states), repl)
  step = bilevel.make_search_step(
      model,
      weight_tx,
      arch_tx,
      schedule,
      order=recipe.order,
      hyper=hyper,
      strategy=strategy,
      steps_per_epoch=steps_per_epoch,
      arch_warmup_epochs=recipe.arch_warmup_epochs,
      unroll_phases=recipe.unroll(strategy.space),
      cost=cost,
  )
  if len(seeds) > 1:
    step = jax.vmap(step)
  batch_sh = parallel.batch_sharding(mesh, seed_axis=len(seeds) > 1)
  step_fn = jax.jit(
      step, in_shardings=(repl, batch_sh, batch_sh), out_shardings=(repl, repl), donate_argnums=0
  )
  return state, step_fn, batch_sh


def _seed_slice(tree, k: int, num_seeds: int):
  return tree if num_seeds == 1 else jax.tree.map(lambda x: x[k], tree)


def _epoch_records(
    strategy, state, means, seeds, epoch, seconds, cost=None
) -> list[dict[str, Any]]:
  """One metrics record per seed: the epoch's mean metrics, alpha entropies and strengths,
  and with a ``cost`` term the expected cost of the strengths (``cost_expected``) and the
  derived cell's cost (``cost_derived``), in the cost table's unit."""
  arch = jax.device_get(state.arch)
  num_seeds = len(seeds)
  records = []
  for k in range(num_seeds):
    a = _seed_slice(arch, k, num_seeds)
    record = {key: float(v if num_seeds == 1 else v[k]) for key, v in means.items()}
    record.update(epoch=epoch + 1, step=int(np.ravel(state.step)[k]), seconds=seconds)
    for cell in strategy.space.cells:
      record[f'alpha_entropy_{cell}'] = alpha_entropy(a[cell])
    if num_seeds > 1:
      record['seed'] = seeds[k]
    strengths = strategy.strengths(a)
    for cell, p in strengths.items():  # DARTS: softmax(alpha)
      record[f'alpha_{cell}'] = rows(p)
    if cost is not None:
      derived = cost.derive(strategy, a)
      record['cost_expected'] = cost.table.of_weights(strengths)
      record['cost_derived'] = derived.cost
      if cost.hard:
        record.update(cost_feasible=derived.feasible, cost_multiplier=derived.multiplier)
    records.append(record)
  return records


def _hard_note(records) -> str:
  met = sum(bool(r['cost_feasible']) for r in records)
  return (
      f', hard: met by {met}/{len(records)}'
      if len(records) > 1
      else (', hard: met' if met else ', hard: NOT met by any cell')
  )


def _epoch_line(epochs: int, strategy, records, epoch, seconds, cost=None) -> str:
  mean = lambda key: float(np.mean([r[key] for r in records]))
  seeds_note = f' (mean of {len(records)} seeds)' if len(records) > 1 else ''
  entropies = '/'.join(f'{mean("alpha_entropy_" + c):.3f}' for c in strategy.space.cells)
  costs_note = (
      f'{cost.table.metric} E[c] {mean("cost_expected"):.4g}, derived '
      f'{mean("cost_derived"):.4g} (target {cost.target:.4g}'
      f'{_hard_note(records) if cost.hard else ""}) | '
      if cost is not None
      else ''
  )
  return (
      f'epoch {epoch + 1}/{epochs} | train loss {mean("train_loss"):.4f} '
      f'acc {mean("train_acc"):.4f} | val loss {mean("val_loss"):.4f} '
      f'acc {mean("val_acc"):.4f} | H(alpha) {entropies} | {costs_note}'
      f'{seconds:.1f}s{seeds_note}'
  )


def _arch_digest(arch) -> str:
  """A digest of one seed's architecture parameters (the leaves' bytes, in tree order)."""
  digest = hashlib.sha1()
  for leaf in jax.tree_util.tree_leaves(arch):
    digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
  return digest.hexdigest()[:16]


def _write_cost(directory: str, cost, derived, space, arch) -> None:
  """``cost.json``: the hard target, the final cell (its text and the digest of the
  architecture it was derived from), its predicted cost and, when it was measured, each
  try's ``(predicted, measured)``."""
  payload = dict(
      cost=cost.table.metric,
      unit=cost.table.unit,
      target=cost.target,
      genotype=space.to_text(derived.genotype),
      arch_digest=_arch_digest(arch),
      predicted=derived.cost,
      multiplier=derived.multiplier,
      feasible=bool(derived.feasible),
      rounds=[list(r) for r in derived.rounds],
  )
  atomic_write(os.path.join(directory, 'cost.json'), json.dumps(payload, indent=2) + '\n')


def _final_derive(directory: str, cost, strategy, arch):
  """The final cell within ``cost``'s hard target. A measured one (``cost.measure``) is read
  back from ``directory/cost.json`` when that file holds the same cost and target and was
  derived from the same architecture: a rerun of a finished search keeps the cell it chose
  instead of measuring again (timings differ from run to run)."""
  from nas_jax.costs import Derived  # pylint: disable=import-outside-toplevel

  path = os.path.join(directory, 'cost.json')
  if cost.measure is not None and os.path.exists(path):
    try:
      with open(path) as f:
        kept = json.load(f)
      same = (kept['cost'], kept['target'], kept['arch_digest']) == (
          cost.table.metric,
          cost.target,
          _arch_digest(arch),
      )
      if same:
        return Derived(
            strategy.space.load_genotype(kept['genotype']),
            float(kept['predicted']),
            float(kept['multiplier']),
            bool(kept['feasible']),
            tuple(tuple(r) for r in kept['rounds']),
        )
    except (OSError, ValueError, KeyError, TypeError):
      pass  # an old or damaged file: derive (and measure) again
  return cost.final_derive(strategy, arch)


def _finish(
    config, strategy, state, seeds, seed_dirs, workdir, writer, cost=None
) -> dict[str, Any]:
  """Derives every seed's genotype (within ``cost``'s target when it is hard), writes the
  outputs and the multi-seed summary."""
  arch = jax.device_get(state.arch)
  genotypes, history = [], []
  for k, d in enumerate(seed_dirs):
    a = _seed_slice(arch, k, len(seeds))
    derived = _final_derive(d, cost, strategy, a) if cost is not None and cost.hard else None
    genotypes.append(derived.genotype if derived is not None else strategy.derive(a))
    if writer:
      write_outputs(d, a, genotypes[-1], strategy.space)
      if derived is not None:
        _write_cost(d, cost, derived, strategy.space, a)
    records = read_metrics(os.path.join(d, METRICS_FILE)) if writer else []
    history.append(
        [
            {
                k2: v
                for k2, v in r.items()
                if not k2.startswith('alpha_') or k2.startswith('alpha_entropy')
            }
            for r in records
        ]
    )
  result = {'genotype': genotypes[0], 'metrics': history[0], 'space': strategy.space}
  if len(seeds) > 1:
    history = [list(epoch_records) for epoch_records in zip(*history)]
    final = [r['val_acc'] for r in history[-1]] if history else [float('nan')] * len(seeds)
    summary = summarize_seeds(seeds, genotypes, final, strategy.space)
    if writer:
      atomic_write(os.path.join(workdir, 'summary.json'), json.dumps(summary, indent=2) + '\n')
      _write_card(config, strategy.space, seeds, genotypes, final, workdir)
    result.update(genotype=genotypes, metrics=history, summary=summary)
  return result


def run_search(
    config: ml_collections.ConfigDict, workdir: str, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
  """Runs the search of ``config.strategy_name`` and writes its outputs into ``workdir``.

  With ``config.num_seeds = K > 1`` the K searches (seeds ``config.seed + k``,
  each with its own init and data order) run as one ``vmap``-ed, compiled
  program; each writes its outputs into ``workdir/seed_<s>/`` and
  ``workdir/summary.json`` counts the chosen ops and edges. Batches are split
  over ``config.num_devices`` devices (see ``nas_jax.parallel``).

  This is the config's edge: it checks the config and builds the mesh and the strategy
  (``components.start_run``), the :class:`Bilevel` recipe, the data (:func:`search_data`), the
  supernet and the resumable loop; :func:`search` runs the epochs from objects; then the
  genotypes and the outputs (:func:`_finish`).

  Args:
    config: the search config (see ``experiments/configs/search_demo.py``).
    workdir: output directory (created).
    log: where progress lines go (default: stdout).

  Returns:
    A summary dict: ``genotype`` (the space's genotype; the list of K genotypes
    when ``num_seeds > 1``), ``space`` (the ``Space``), ``metrics`` (list of
    epoch dicts), ``compile_seconds``, ``seconds``, ``state`` and
    ``resumed_from``.
  """
  log = log or (lambda line: print(line, flush=True))
  start = time.time()
  mesh, strategy = components.start_run(config, validate_config)
  num_classes = data.dataset_meta(config.dataset).num_classes
  cost = components.cost_term(
      config, strategy.space, num_classes, data.input_shape(config.dataset, config.image_size)
  )
  recipe = Bilevel.from_config(config)
  seeds = [config.seed + k for k in range(config.num_seeds)]
  data_ = search_data(config, recipe, seeds)
  model = build_model(config, num_classes, strategy)
  seed_dirs = [workdir] if len(seeds) == 1 else [os.path.join(workdir, f'seed_{s}') for s in seeds]
  loop = components.epoch_loop(
      config,
      workdir,
      data_.steps_per_epoch,
      log,
      metric_dirs=seed_dirs,
      finite={'train_loss': 'weight step', 'val_loss': 'architecture step'},
  )
  done = search(strategy, model, recipe, data_, loop, seeds=seeds, mesh=mesh, cost=cost)
  writer = jax.process_index() == 0
  result = _finish(config, strategy, done.state, seeds, seed_dirs, workdir, writer, cost)
  result.update(
      compile_seconds=done.compile_seconds,
      state=done.state,
      resumed_from=done.resumed_from,
      seconds=time.time() - start,
  )
  return result


def search(
    strategy: Strategy,
    model,
    recipe: Bilevel,
    data_: SearchData,
    loop: runner.EpochLoop,
    *,
    seeds: list[int],
    mesh: jax.sharding.Mesh,
    cost=None,
) -> runner.LoopResult:
  """Searches with ``strategy`` over ``model`` (its space's supernet, built with the
  strategy's network options): the bilevel ``recipe`` on ``data_``, one search per seed
  (several: one vmapped program), in ``loop`` (it resumes from its workdir's newest
  checkpoint and writes one metrics record per seed and epoch), the batch split over
  ``mesh``. ``cost`` (``nas_jax.costs.CostTerm``) joins the architecture's loss, and its
  expected and derived values are recorded every epoch. The loop's result holds the final
  state (``state.arch``: each seed's alpha)."""
  num_seeds = len(seeds)
  sample = jnp.asarray(data_.train[0].batch(0, 0)[0][:1])
  state, step_fn, batch_sh = _compile(
      model, strategy, recipe, seeds, sample, data_.steps_per_epoch, mesh, cost
  )

  def batch(streams, epoch, i):
    parts = [s.batch(epoch, i) for s in streams]
    if num_seeds == 1:
      return parallel.shard_batch(parts[0], batch_sh)
    return parallel.shard_batch(tuple(np.stack(p) for p in zip(*parts)), batch_sh)

  def step(state, epoch, i):
    state, metrics = step_fn(state, batch(data_.train, epoch, i), batch(data_.val, epoch, i))
    return state, jax.device_get(metrics)

  def progress(epoch, i, means, rate):
    return (
        f'  epoch {epoch + 1} step {i + 1}/{data_.steps_per_epoch} | train loss '
        f'{np.mean(means["train_loss"]):.4f} | {rate:.2f} steps/s'
    )

  def end_epoch(state, epoch, means, seconds, run_seconds):
    del run_seconds
    records = _epoch_records(strategy, state, means, seeds, epoch, seconds, cost)
    return records, _epoch_line(recipe.epochs, strategy, records, epoch, seconds, cost)

  return loop.run(state, step, end_epoch, progress)
