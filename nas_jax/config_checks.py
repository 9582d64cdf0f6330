"""Checks shared by the search and the retraining configs: one-line errors naming the key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nas_jax.util import is_int


class ConfigError(ValueError):
  """A bad configuration value; the message is one line naming the key."""


def need(cond: bool, message: str) -> None:
  """Raises ConfigError(``message``) unless ``cond``."""
  if not cond:
    raise ConfigError(message)


def positive_ints(config: Any, keys: Iterable[str]) -> None:
  """Each ``config[key]`` is an integer >= 1 (``bool`` refused)."""
  for key in keys:
    value = config[key]
    need(is_int(value) and value >= 1, f'config.{key} must be a positive integer, got {value!r}')


def run_settings(config: Any) -> None:
  """What every run has: the image size, the seed and the checkpoint cadence."""
  size = config.get('image_size')
  need(
      size is None or (is_int(size) and size >= 1),
      f'config.image_size must be a positive integer (or None: native size), got {size!r}',
  )
  need(
      is_int(config.seed) and config.seed >= 0,
      f'config.seed must be a non-negative integer, got {config.seed!r}',
  )
  need(
      is_int(config.checkpoint_every) and config.checkpoint_every >= 0,
      f'config.checkpoint_every must be >= 0 (0: epoch ends only), got '
      f'{config.checkpoint_every!r}',
  )
  positive_ints(config, ('keep_checkpoints',))
