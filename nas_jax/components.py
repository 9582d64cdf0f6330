"""The edge: a launcher's config turned into the components the library takes.

Below this module nothing reads a config: a strategy is built from its space and keyword
settings, a space from its name, op set and settings. The launchers (``experiments/``),
and the run functions that still take a config, call these once per run.

A search config is flat (``config.strategy`` names the strategy; its settings are keys of
their own, ``config.tau_max``, ``config.drnas_reg_scale``, ...): :data:`FLAT_KEYS` maps a
setting to the key it is read from where the two names differ. A key that is absent or
None (a placeholder) leaves the constructor's paper default.
"""

from __future__ import annotations

import contextlib
from typing import Any

import jax

from nas_jax import discrete, runner, spaces, strategies
from nas_jax.config_checks import ConfigError
from nas_jax.ops import parse_primitives
from nas_jax.spaces.base import Space
from nas_jax.strategies.base import Strategy

# strategy setting -> the flat search config key it is read from (where the names differ)
FLAT_KEYS = {
    'init_scale': 'arch_init_scale',
    'reg': 'drnas_reg',
    'reg_scale': 'drnas_reg_scale',
}


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


def space(config) -> Space:
  """The search space a config names: ``config.space`` over ``config.primitives`` (empty: the
  space's own op set), with the space's settings the config gives (DARTS' ``steps`` and
  ``multiplier``)."""
  name = config.get('space', 'darts')
  settings = {
      key: config[key]
      for key in spaces.REGISTRY.settings(name)
      if key != 'primitives' and config.get(key, None) is not None
  }
  return spaces.get(name, tuple(config.get('primitives', ())) or None, **settings)


def supernet_options(config, space_: Space) -> dict[str, Any]:
  """The supernet settings of ``space_`` a search config gives (same key names)."""
  return {key: config[key] for key in space_.supernet_settings}


def evalnet_options(config, space_: Space) -> dict[str, Any]:
  """The evaluation-network settings a retraining config gives: ``channels`` and ``layers``
  (``init_channels``, ``layers``), and those of ``space_.evalnet_settings``."""
  extra = dict(
      auxiliary=config.get('auxiliary_weight', 0) > 0,
      depthwise_impl=config.get('depthwise_impl', 'auto'),
      scan_cells=config.get('scan_cells', True),
  )
  options = dict(channels=config.init_channels, layers=config.layers)
  options.update({key: extra[key] for key in space_.evalnet_settings})
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
  network = config.get('network', space_.name)
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


def strategy_settings(config, name: str) -> dict[str, Any]:
  """The settings of strategy ``name`` that ``config`` gives (None values left out)."""
  out = {}
  for key in strategies.REGISTRY.settings(name):
    value = config.get(FLAT_KEYS.get(key, key), None)
    if value is not None:
      out[key] = value
  return out


def strategy(config, space_: Space | None = None) -> Strategy:
  """The differentiable strategy ``config.strategy`` over ``space_`` (default: the config's
  space), its settings read from the config over its paper defaults."""
  name = config.get('strategy', 'darts')
  strategies.REGISTRY.lookup(name)  # the unknown name first, with the nearest
  space_ = space(config) if space_ is None else space_
  try:
    return strategies.build(name, space_, **strategy_settings(config, name))
  except ConfigError as e:  # name the key the config gave: 'gdas.tau_min' -> 'config.tau_min'
    message = str(e)
    for key in sorted(strategies.REGISTRY.settings(name), key=len, reverse=True):
      message = message.replace(f'{name}.{key}', f'config.{FLAT_KEYS.get(key, key)}')
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


def table_space(config) -> Space:
  """The space of a tabulate config: ``config.space`` over ``config.primitives`` (empty: the
  space's own op set), under ``config.hash_rule`` where it gives one."""
  options = {'hash_rule': config.hash_rule} if config.get('hash_rule') else {}
  try:
    return spaces.get(config.space, parse_primitives(config.primitives) or None, **options)
  except ValueError as e:
    raise ConfigError(f'config.primitives: {e}') from None


def table_plan(config):
  """The :class:`~nas_jax.tabular.builder.BuildPlan` of a tabulate config (its space, protocol,
  seeds and ``max_cells``)."""
  from nas_jax.tabular import builder  # pylint: disable=import-outside-toplevel

  space_ = table_space(config)
  protocol_ = protocol(config.protocol)
  with _named('config.'):
    return builder.plan(space_, protocol_, config.seeds, config.get('max_cells'))


def build_options(config) -> dict[str, Any]:
  """The keyword settings of :func:`nas_jax.tabular.builder.build` a tabulate config gives."""
  keys = ('data_dir', 'population', 'edge_mode', 'group', 'log_every', 'latency_lut')
  return {key: config[key] for key in keys if key in config}


def discrete_search(config):
  """``(strategy, estimator, space)`` of an ``experiments.discrete`` config (the
  ``experiments/configs/discrete_*.py`` keys); a one-line ConfigError or TableError for a
  bad value."""
  from nas_jax import tabular  # pylint: disable=import-outside-toplevel
  from nas_jax.config_checks import ConfigError
  from nas_jax.estimators import TabularEstimator
  from nas_jax.strategies import discrete as ds

  strategy = ds.get(config.strategy, **dict(config.settings))
  if config.estimator not in ('tabular', 'train'):
    raise ConfigError(f"config.estimator must be 'tabular' or 'train', got {config.estimator!r}")
  if config.batch is None:
    config.batch = strategy.ask_size
  if config.budget_unit not in ('queries', 'seconds'):
    raise ConfigError(
        f"config.budget_unit must be 'queries' or 'seconds', got {config.budget_unit!r}"
    )
  if not config.budget > 0:
    raise ConfigError(f'config.budget must be > 0, got {config.budget!r}')
  for key in ('batch', 'max_queries', 'seeds', 'checkpoint_every'):
    if not (isinstance(config[key], int) and config[key] >= 1):
      raise ConfigError(f'config.{key} must be an integer >= 1, got {config[key]!r}')
  if config.batch > 1 and not strategy.batch_ask:
    raise ConfigError(f'{config.strategy} asks one architecture at a time: config.batch must be 1')
  table_seed = config.table_seed
  if isinstance(table_seed, str) and table_seed.isdigit():
    table_seed = int(table_seed)
  objectives = tuple(config.objectives)
  rule = _early_stop_rule(config, objectives)
  if config.estimator == 'train':
    estimator, space = _train_estimator(config, objectives, rule)
    return discrete.prepare(strategy, estimator, config.max_queries), estimator, space
  report_table = config.get('report_table') or None
  estimator = TabularEstimator(
      tabular.load(config.table),
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
        f'{config.strategy} optimizes {wanted} objective(s), but the config gives '
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
  """``(TrainEstimator, space)`` of a config whose ``estimator`` is ``'train'``."""
  from nas_jax.config_checks import ConfigError
  from nas_jax.estimators import TrainEstimator

  if objectives:
    raise ConfigError("config.objectives needs a table: estimator 'train' has one objective")
  if config.seeds != 1:
    raise ConfigError("estimator 'train' runs one search at a time: config.seeds must be 1")
  live = config.train
  protocol_ = protocol(live.protocol, 'config.train.')
  if live.get('network', 'arch') not in ('arch', 'cell'):
    raise ConfigError(f"config.train.network must be 'arch' or 'cell', got {live.network!r}")
  if rule is not None:  # before the data is loaded
    with _early_stop_errors():
      rule.check_epochs(config.epoch or protocol_.epochs)
  live_space = space(live)  # built as a search config's space
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
