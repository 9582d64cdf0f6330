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

from typing import Any

import jax

from nas_jax import runner, spaces, strategies
from nas_jax.config_checks import ConfigError
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
  """The search space a config names (``config.space``, ``config.primitives``, ...)."""
  return spaces.from_config(config)


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
