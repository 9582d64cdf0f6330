"""The edge: a launcher's config turned into the components the library takes.

Below this module nothing reads a config: a strategy is built from its space and keyword
settings, a space from its name, op set and settings. The launchers (``experiments/``),
and the run functions that still take a config, call these once per run.

Configs name each component the big_vision way: ``config.<kind>_name`` picks it from its
registry and the section ``config.<kind>`` holds its keyword settings, e.g.::

  config.space_name = 'nb201'
  config.space = components.section('space', 'nb201')     # primitives, hash_rule
  config.strategy_name = 'gdas'
  config.strategy = components.section('strategy', 'gdas')  # init_scale, tau_max, tau_min

:func:`section` fills a section with the component's own defaults (its signature), so the
command line can set any of them (``--config.strategy.tau_max=5``) and a printed config
shows them. Naming another component on the command line (``--config.strategy_name=snas``)
swaps the section for that component's defaults (``experiments.cli``). A value left None
(a placeholder) leaves the constructor's default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from typing import Any

import jax
import ml_collections

from nas_jax import discrete, ops, parallel, runner, spaces, strategies, util
from nas_jax.config_checks import ConfigError
from nas_jax.ops import parse_primitives
from nas_jax.spaces.base import Space
from nas_jax.strategies.base import Strategy


def _registries():
  """Config kind -> (registry, settings the run passes itself rather than the section)."""
  from nas_jax import estimators  # pylint: disable=import-outside-toplevel
  from nas_jax.strategies import discrete as ds  # pylint: disable=import-outside-toplevel

  return {
      'space': (spaces.REGISTRY, ()),
      'strategy': (strategies.REGISTRY, ('epochs',)),  # the run's config.epochs
      'discrete_strategy': (ds.REGISTRY, ()),
      'estimator': (estimators.REGISTRY, ()),
  }


def _field_type(factory, key: str):
  """The type a None-default setting takes, from its annotation (``int | None`` -> int)."""
  import typing  # pylint: disable=import-outside-toplevel

  target = factory if dataclasses.is_dataclass(factory) else getattr(factory, '__init__', factory)
  try:
    hint = typing.get_type_hints(target).get(key)
  except Exception:  # pylint: disable=broad-except
    hint = None
  for arg in typing.get_args(hint) or (hint,):
    origin = typing.get_origin(arg) or arg
    if origin in (int, float, str, bool):
      return origin
    if origin in (tuple, list) or str(origin).startswith('collections.abc'):
      return tuple
  return str


def section(kind: str, name: str) -> ml_collections.ConfigDict:
  """The config section of component ``name`` of ``kind`` ('space', 'strategy' (differentiable),
  'discrete_strategy' or 'estimator'): its settings at their defaults, a typed placeholder
  where the default is None. A one-line ConfigError naming the nearest for an unknown name."""
  registry, skip = _registries()[kind]
  factory = registry.lookup(name)
  out = ml_collections.ConfigDict()
  for key, value in registry.settings(name).items():
    if key in skip:
      continue
    if value is None or value is inspect.Parameter.empty:
      value = ml_collections.config_dict.placeholder(_field_type(factory, key))
    elif isinstance(value, list):
      value = tuple(value)
    out[key] = value
  return out


def given(section_) -> dict[str, Any]:
  """A section's settings that are set (None leaves the component's default)."""
  return {k: v for k, v in section_.items() if v is not None}


def start_run(config, validate, batch_keys: tuple[str, ...] = ('batch_size',)):
  """``(device mesh, validate(config))``: joins a multi-host run's processes, checks the config
  with ``validate`` and builds the mesh its batches (``batch_keys``) split over; one-line
  ConfigErrors."""
  try:
    parallel.initialize(config.num_processes, config.process_id, config.coordinator_address)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  checked = validate(config)
  try:
    return parallel.config_mesh(config, batch_keys), checked
  except ValueError as e:
    raise ConfigError(str(e)) from None


def epoch_loop(config, workdir: str, steps_per_epoch: int, log, **kw) -> runner.EpochLoop:
  """The resumable loop of a search or retraining config (its epochs, checkpoint cadence,
  logging and TensorBoard settings); ``kw`` adds the run's own (metric directories, the
  metrics checked for NaN)."""
  return runner.EpochLoop(
      workdir,
      config.epochs,
      steps_per_epoch,
      checkpoint_every=config.checkpoint_every,
      keep_checkpoints=config.keep_checkpoints,
      log_every=config.log_every,
      tensorboard=config.tensorboard,
      writer=jax.process_index() == 0,
      log=log,
      **kw,
  )


def space(config, prefix: str = 'config.') -> Space:
  """The search space a config names: ``config.space_name`` with the settings of the section
  ``config.space`` (its op set ``primitives``, empty or None: the space's own; DARTS'
  ``steps`` and ``multiplier``; NB201's ``hash_rule``). One-line ConfigErrors name the key (under
  ``prefix``: ``'config.estimator.'`` for a live estimator's space)."""
  name = config.space_name
  try:
    spaces.REGISTRY.lookup(name)  # the unknown name first, with the nearest
  except ConfigError as e:
    raise ConfigError(f'{prefix}space_name: {e}') from None
  settings = given(config.space)
  try:
    primitives = parse_primitives(settings.pop('primitives', ()))
  except ValueError as e:
    raise ConfigError(f'{prefix}space.primitives: {e}') from None
  try:
    spaces.REGISTRY.check(name, settings)
  except ConfigError as e:
    raise ConfigError(f'{prefix}space: {e}') from None
  try:
    return spaces.get(name, primitives or None, **settings)
  except ValueError as e:  # an op outside the space, or a space setting (DARTS' multiplier)
    message = str(e)
    setting = message.split(' ', 1)[0] in settings
    raise ConfigError(
        f'{prefix}space.{message}' if setting else f'{prefix}space.primitives: {message}'
    ) from None


def train_network(config) -> tuple[Space, str]:
  """The space of a retraining config (:func:`space`) and its evaluation network kind:
  ``config.network``, or None for the space's first (``Space.network_kinds``). A kind of
  another space, or a space without networks, is a one-line ConfigError."""
  space_ = space(config)
  kinds = space_.network_kinds
  if not kinds:
    raise ConfigError(
        f'config.space_name: the {space_.name} space has no evaluation network to retrain; '
        f'use one of {", ".join(spaces.NETWORK_NAMES)}'
    )
  kind = config.get('network') or kinds[0]
  if kind not in kinds:
    hint = ''
    with contextlib.suppress(ValueError):
      hint = f" ({kind!r} is the {spaces.for_network(kind).name} space's: set config.space_name)"
    raise ConfigError(
        f'config.network: the {space_.name} space has network kinds {", ".join(kinds)}, '
        f'got {kind!r}{hint}'
    )
  return space_, kind


def _network_setting(config, key: str):
  """A network setting from a config: the depthwise convolution factory ``dw_conv`` from
  ``config.depthwise_impl`` (chosen here, once per backend), the others by their own key."""
  if key == 'dw_conv':
    return ops.depthwise_conv(config.get('depthwise_impl', 'auto'))
  return config[key]


def supernet_options(config, space_: Space) -> dict[str, Any]:
  """The supernet settings of ``space_`` a search config gives (same key names, but
  ``dw_conv`` from ``config.depthwise_impl``)."""
  return {key: _network_setting(config, key) for key in space_.supernet_settings}


def evalnet_options(config, space_: Space) -> dict[str, Any]:
  """The evaluation-network settings a retraining config gives: ``channels`` and ``layers``
  (``init_channels``, ``layers``), and those of ``space_.evalnet_settings``."""
  extra = dict(
      auxiliary=lambda: config.get('auxiliary_weight', 0) > 0,
      dw_conv=lambda: _network_setting(config, 'dw_conv'),
      scan_cells=lambda: config.get('scan_cells', True),
  )
  options = dict(channels=config.init_channels, layers=config.layers)
  options.update({key: extra[key]() for key in space_.evalnet_settings})
  return options


def evalnet_record(config, space_: Space) -> dict[str, Any]:
  """JSON-able :func:`evalnet_options` of a retraining config (with its network ``kind`` and
  ``depthwise_impl`` in place of the ``dw_conv`` factory), for a file that says which network it
  was measured on; :func:`evalnet_from_record` reads it back."""
  options = evalnet_options(config, space_)
  if 'dw_conv' in options:
    options['dw_conv'] = config.get('depthwise_impl', 'auto')
  return dict(options, kind=train_network(config)[1])


def evalnet_from_record(record: dict[str, Any], space_: Space) -> dict[str, Any]:
  """The ``space_.evalnet`` keyword arguments of an :func:`evalnet_record`."""
  options = dict(record)
  if 'dw_conv' in options:
    options['dw_conv'] = ops.depthwise_conv(options['dw_conv'])
  return options


def _network_error(error: ValueError) -> ConfigError:
  """A space's network error (it starts with the setting's name) named by its config key."""
  message = str(error)
  if message.startswith('channels'):
    return ConfigError('config.init_channels' + message[len('channels') :])
  return ConfigError(f'config.{message}')


def check_search_network(config, space_: Space) -> None:
  """The space's checks of the supernet a search config sizes (one-line ConfigError)."""
  try:
    space_.check_network(config.init_channels, **supernet_options(config, space_))
  except ValueError as e:
    raise _network_error(e) from None


def check_train_network(config, space_: Space) -> None:
  """The space's checks of the evaluation network a retraining config sizes: its channels,
  and no auxiliary head or drop path where the network has none (one-line ConfigError)."""
  try:
    space_.check_network(config.init_channels)
  except ValueError as e:
    raise _network_error(e) from None
  network = config.get('network') or space_.network_kinds[0]
  if 'auxiliary' not in space_.evalnet_settings and config.auxiliary_weight != 0:
    raise ConfigError(
        f'config.auxiliary_weight must be 0 for the {network} network (it has no auxiliary '
        f'head), got {config.auxiliary_weight!r}'
    )
  if not space_.drop_path and config.drop_path_prob != 0:
    raise ConfigError(
        f'config.drop_path_prob must be 0 for the {network} network (it has no drop path), '
        f'got {config.drop_path_prob!r}'
    )


def describe_network(config, space_: Space) -> str:
  """How a config sizes the network, for log lines (``'20 cells'``)."""
  return f'{config.layers} {space_.layers_unit}'


def strategy(config, space_: Space | None = None) -> Strategy:
  """The differentiable strategy ``config.strategy_name`` over ``space_`` (default: the config's
  space), with the settings of ``config.strategy`` and the run's ``config.epochs``."""
  name = config.strategy_name
  try:
    strategies.REGISTRY.lookup(name)  # the unknown name first, with the nearest
  except ConfigError as e:
    raise ConfigError(f'config.strategy_name: {e}') from None
  space_ = space(config) if space_ is None else space_
  try:
    return strategies.build(name, space_, epochs=config.epochs, **given(config.strategy))
  except (
      ConfigError
  ) as e:  # name the key the config gave: 'gdas.tau_min' -> 'config.strategy.tau_min'
    message = str(e).replace(f'{name}.epochs', 'config.epochs')
    message = message.replace(f'{name}.', 'config.strategy.')
    message = message.replace(f'strategy {name}: ', 'config.strategy: ')
    raise ConfigError(message) from None


@contextlib.contextmanager
def _named(prefix: str):
  """A library ConfigError or ValueError (which names its argument) as one line naming the
  config key: ``'seeds must ...'`` -> ``'config.seeds must ...'``."""
  try:
    yield
  except ValueError as e:  # ConfigError is a ValueError
    raise ConfigError(f'{prefix}{e}') from None


def protocol(section, prefix: str = 'config.'):
  """The :class:`~nas_jax.tabular.protocol.Protocol` a config section gives (``config.protocol``
  of a tabulate config, ``config.train.protocol`` of a live search: ``prefix='config.train.'``)."""
  from nas_jax.tabular.protocol import Protocol  # pylint: disable=import-outside-toplevel

  with _named(prefix):
    return Protocol.from_dict(section)


def table_plan(config):
  """The :class:`~nas_jax.tabular.builder.BuildPlan` of a tabulate config (its space, protocol,
  seeds and ``max_cells``)."""
  from nas_jax.tabular import builder  # pylint: disable=import-outside-toplevel

  space_ = space(config)
  protocol_ = protocol(config.protocol)
  with _named('config.'):
    return builder.plan(space_, protocol_, config.seeds, config.get('max_cells'))


def build_options(config) -> dict[str, Any]:
  """The keyword settings of :func:`nas_jax.tabular.builder.build` a tabulate config gives."""
  keys = ('data_dir', 'population', 'edge_mode', 'group', 'log_every', 'latency_lut')
  return {key: config[key] for key in keys if key in config}


def ask_size(config, strategy) -> int:
  """The architectures per round of a discrete config: ``config.batch``, or where it is None
  the strategy's own (``strategy.ask_size``: 1; NSGA-II a generation). One-line ConfigErrors."""
  batch = strategy.ask_size if config.batch is None else config.batch
  if not (isinstance(batch, int) and batch >= 1):
    raise ConfigError(f'config.batch must be an integer >= 1, got {batch!r}')
  if batch > 1 and not strategy.batch_ask:
    raise ConfigError(f'{strategy.name} asks one architecture at a time: config.batch must be 1')
  return batch


def discrete_search(config):
  """``(strategy, estimator, space)`` of an ``experiments.discrete`` config (the
  ``experiments/configs/discrete_*.py`` keys); a one-line ConfigError or TableError for a
  bad value."""
  from nas_jax import tabular  # pylint: disable=import-outside-toplevel
  from nas_jax.config_checks import ConfigError
  from nas_jax.estimators import TabularEstimator
  from nas_jax.strategies import discrete as ds

  name = config.strategy_name
  try:
    strategy = ds.get(name, **given(config.strategy))
  except ConfigError as e:
    raise ConfigError(f'config.strategy_name: {e}' if name not in ds.REGISTRY else str(e)) from None
  if config.estimator_name not in ('tabular', 'train'):
    raise ConfigError(
        f"config.estimator_name must be 'tabular' or 'train', got {config.estimator_name!r}"
    )
  ask_size(config, strategy)  # checked before any data is read
  if config.budget_unit not in ('queries', 'seconds'):
    raise ConfigError(
        f"config.budget_unit must be 'queries' or 'seconds', got {config.budget_unit!r}"
    )
  if not config.budget > 0:
    raise ConfigError(f'config.budget must be > 0, got {config.budget!r}')
  for key in ('max_queries', 'seeds', 'checkpoint_every'):
    if not (isinstance(config[key], int) and config[key] >= 1):
      raise ConfigError(f'config.{key} must be an integer >= 1, got {config[key]!r}')
  objectives = tuple(config.objectives)
  rule = _early_stop_rule(config, objectives)
  if config.estimator_name == 'train':
    estimator, space = _train_estimator(config, objectives, rule)
    return discrete.prepare(strategy, estimator, config.max_queries), estimator, space
  lookup = config.estimator
  table_seed = lookup.seed
  if isinstance(table_seed, str) and table_seed.isdigit():
    table_seed = int(table_seed)
  report_table = lookup.get('report_table') or None
  estimator = TabularEstimator(
      tabular.load(lookup.table),
      config.metric,
      config.epoch,
      table_seed,
      config.report,
      objectives,
      report_table=tabular.load(report_table) if report_table else None,
  )
  wanted = getattr(strategy, 'objectives', 1)
  if wanted != 1 + len(objectives):
    raise ConfigError(
        f'{name} optimizes {wanted} objective(s), but the config gives '
        f'{1 + len(objectives)} (config.metric and config.objectives={objectives})'
    )
  if rule is not None:
    from nas_jax.estimators.early_stopping import EarlyStopped

    with _early_stop_errors():
      estimator = EarlyStopped(estimator, rule)
  return discrete.prepare(strategy, estimator, config.max_queries), estimator, estimator.space


@contextlib.contextmanager
def _early_stop_errors():
  """The rule's ValueErrors as one-line ``config.early_stop: ...`` ConfigErrors."""
  from nas_jax.config_checks import ConfigError

  try:
    yield
  except ValueError as e:
    raise ConfigError(f'config.early_stop: {e}') from None


def _early_stop_rule(config, objectives):
  """The ``config.early_stop`` rule (a ``MedianStopping``), or None when its epoch is 0."""
  from nas_jax.config_checks import ConfigError
  from nas_jax.estimators.early_stopping import MedianStopping

  stop = config.get('early_stop')
  if stop is None or stop.epoch == 0:
    return None
  if config.seeds != 1:
    raise ConfigError('config.early_stop runs one search at a time: config.seeds must be 1')
  if objectives:
    raise ConfigError('config.early_stop takes a single objective: config.objectives must be ()')
  with _early_stop_errors():
    return MedianStopping(stop.epoch, stop.warmup, stop.quantile, stop.signal)


def _train_estimator(config, objectives, rule=None):
  """``(TrainEstimator, space)`` of a config whose ``estimator_name`` is ``'train'`` (its
  settings in the section ``config.estimator``)."""
  from nas_jax.config_checks import ConfigError
  from nas_jax.estimators import TrainEstimator

  if objectives:
    raise ConfigError("config.objectives needs a table: estimator 'train' has one objective")
  if config.seeds != 1:
    raise ConfigError("estimator 'train' runs one search at a time: config.seeds must be 1")
  live = config.estimator
  protocol_ = protocol(live.protocol, 'config.estimator.')
  if live.get('network', 'arch') not in ('arch', 'cell'):
    raise ConfigError(f"config.estimator.network must be 'arch' or 'cell', got {live.network!r}")
  if rule is not None:  # before the data is loaded
    with _early_stop_errors():
      rule.check_epochs(config.epoch or protocol_.epochs)
  live_space = space(live, 'config.estimator.')  # built as a search config's space
  estimator = TrainEstimator(
      live_space,
      protocol_,
      config.metric,
      config.epoch,
      config.report,
      live.seed,
      live.get('data_dir'),
      network=live.get('network', 'arch'),
      early_stop=rule,
  )
  return estimator, live_space


def cost_term(config, space_: Space, num_classes: int, image_shape):
  """The search's cost term from ``config.cost`` (``nas_jax.costs``), or None when it names no
  cost (``config.cost.name`` empty or the section absent).

  ``config.cost.name``: ``'params'`` or ``'flops'`` (exact counts of the evaluation network of
  ``config.cost.channels`` and ``config.cost.layers``, 0 meaning the search's
  ``init_channels`` and ``layers``), ``'latency'`` (microseconds at
  ``config.cost.latency_batch`` from the lookup table file ``config.cost.latency_table``) or
  ``'memory_inference'`` / ``'memory_training'`` (bytes at ``config.cost.memory_batch`` from
  the fitted table file ``config.cost.memory_table``), measured tables refused when they were
  measured on another backend, op set or network size (:func:`_measured_cost`);
  ``target``, ``weight``, ``form`` and ``hard`` (the target also constrains the derived
  cell) as ``costs.CostTerm``; ``measured`` (latency or memory, hard): the final cell's
  network is timed, or its program compiled and XLA's peak read, on this backend and the
  cell derived again until it meets the target; ``fill`` (hard): the cell is improved within
  the budget (``costs.fill_gap``). One-line ConfigErrors.
  """
  import numpy as np  # pylint: disable=import-outside-toplevel

  from nas_jax import costs  # pylint: disable=import-outside-toplevel

  section_ = config.get('cost')
  if section_ is None or not section_.get('name'):
    return None
  name = section_.name
  if name not in costs.COSTS:
    raise ConfigError(
        f'config.cost.name must be one of {", ".join(costs.COSTS)} (or empty), got {name!r}'
    )
  target, weight = section_.get('target', 0.0), section_.get('weight', 0.0)
  form, hard = section_.get('form', 'additive'), section_.get('hard', False)
  fill = section_.get('fill', False)
  costs.check_settings(name, target, weight, form, hard, fill)
  if fill and not hard:
    raise ConfigError("config.cost.fill improves a hard target's cell: it needs hard=True")
  if section_.get('measured', False) and (name in ('params', 'flops') or not hard):
    raise ConfigError(
        'config.cost.measured needs a latency or memory cost (config.cost.name) and hard=True'
    )
  channels = section_.get('channels', 0) or config.init_channels
  layers = section_.get('layers', 0) or config.layers
  if name not in ('params', 'flops'):
    table = _measured_cost(name, section_, space_, channels, layers, image_shape)
  else:
    genotype = space_.derive({c: np.ones(space_.shape()) for c in space_.cells})
    try:
      model = space_.evalnet(genotype, num_classes, channels=channels, layers=layers)
    except ValueError as e:
      raise ConfigError(f'config.cost: {e}') from None
    table = costs.exact_tables(space_, model, image_shape, genotype)[name]
    table = dataclasses.replace(
        table, metadata=dict(table.metadata, channels=channels, layers=layers)
    )
  measure = None
  if section_.get('measured', False) and name == 'latency':
    batch = int(section_.get('latency_batch', 1))

    def measure(genotype):  # microseconds of the cell's evaluation network, timed here
      net = space_.evalnet(genotype, num_classes, channels=channels, layers=layers)
      return costs.network_seconds(net, image_shape, batch) * 1e6

  elif section_.get('measured', False):
    measure = _memory_measure(name, table, space_, num_classes, channels, layers, image_shape)
  return costs.CostTerm(table, float(target), float(weight), form, hard, measure, fill)


def _memory_measure(name, table, space_: Space, num_classes, channels, layers, image_shape):
  """``genotype -> bytes``: XLA's peak (``nas_jax.memory``) of the cell's evaluation network
  in the program ``name`` names, compiled here at the memory table's batch with the training
  recipe and network settings its metadata records (``python -m experiments.memory_table``)."""
  from nas_jax import memory, train  # pylint: disable=import-outside-toplevel

  recipe = table.metadata.get('recipe')
  if not isinstance(recipe, dict):
    raise ConfigError(
        'config.cost.measured: the memory table does not record the training recipe it was '
        'measured with; fit it again with python -m experiments.memory_table'
    )
  try:
    recipe = train.Recipe(**recipe)
  except TypeError as e:
    raise ConfigError(f'config.cost.measured: the memory table recipe: {e}') from None
  program, batch = name.split('_')[1], int(table.metadata['batch'])
  # The network the table compiled: its recorded evaluation-network settings (a retraining
  # config's, e.g. DARTS' auxiliary head), else the plain network of the cost's size.
  record = table.metadata.get('evalnet') or dict(channels=channels, layers=layers)
  evalnet = evalnet_from_record(record, space_)

  def measure(genotype):
    net = space_.evalnet(genotype, num_classes, **evalnet)
    return memory.network_memory(net, recipe, image_shape, batch, (program,))[program]['peak']

  return measure


def _measured_cost(name: str, section_, space_: Space, channels: int, layers: int, image_shape):
  """The measured cost table of ``config.cost`` (:func:`cost_term`), ``latency`` or a memory
  cost, refused unless it was measured on this backend for this op set, network size, image
  size and batch.

  A latency table is ``config.cost.latency_table`` at ``latency_batch``: a file of
  ``nas_jax.costs.save_table`` (``benchmarks/latency_cells.py``; any space) or an NB201 lookup
  table of ``nas_jax.tabular.latency`` (``benchmarks/latency.py``). A memory table is
  ``config.cost.memory_table`` at ``memory_batch``, a ``save_table`` file
  (``python -m experiments.memory_table``)."""
  import json  # pylint: disable=import-outside-toplevel
  import os  # pylint: disable=import-outside-toplevel

  from nas_jax import costs  # pylint: disable=import-outside-toplevel
  from nas_jax.tabular.latency import LatencyTable  # pylint: disable=import-outside-toplevel

  kind = 'latency' if name == 'latency' else 'memory'
  key, builder = {
      'latency': ('latency_table', 'benchmarks/latency_cells.py'),
      'memory': ('memory_table', 'python -m experiments.memory_table'),
  }[kind]
  path = section_.get(key, '')
  if not path or not os.path.exists(path):
    raise ConfigError(
        f'config.cost.{key} must name a {kind} cost table file ({builder} writes one), '
        f'got {path!r}'
    )
  batch = int(section_.get(f'{kind}_batch', 1))
  try:
    with open(path) as f:
      generic = 'metric' in json.load(f)
  except (OSError, ValueError) as e:
    raise ConfigError(f'config.cost.{key} {path}: not a {kind} table ({e})') from None
  table = None
  if generic:
    table = costs.load_table(path)
    meta = dict(table.metadata, metric=table.metric)
  elif kind == 'latency':
    try:
      lut = LatencyTable.load(path)
    except (OSError, ValueError, KeyError) as e:
      raise ConfigError(f'config.cost.{key} {path}: not a latency table ({e})') from None
    meta = dict(
        lut.metadata,
        metric='latency',
        backend=lut.metadata.get('machine'),
        layers=lut.metadata.get('cells_per_stage'),
        batch=batch if batch in lut.ops else sorted(lut.ops),
    )
  else:
    raise ConfigError(f'config.cost.{key} {path}: not a cost table file of costs.save_table')
  here = {
      'cost': ('metric', name),
      'space': ('space', space_.name),
      'backend': ('backend', util.backend_label()),
      'op set': ('primitives', list(space_.primitives)),
      'width (channels)': ('channels', channels),
      'layers': ('layers', layers),
      'image size': ('image_shape', int(image_shape[0])),
      'batch': ('batch', batch),
  }
  for what, (field, wanted) in here.items():
    value = meta.get(field)
    if field == 'image_shape':
      value = (value or [None])[0]
    if value != wanted:
      raise ConfigError(
          f'config.cost.{key} {path} was measured for {what} {value!r}; this search has '
          f'{wanted!r}'
      )
  return table if table is not None else costs.latency_table(space_, lut, batch)
