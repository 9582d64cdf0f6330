"""Builds search configs for tests in the sectioned dialect (``nas_jax.components``).

``configure(c, strategy='gdas', tau_min=0.5, space='nb201', primitives=[...], layers=1)``
names the components first (each section at its component's defaults), then puts every
other key where it belongs: a setting of the named space into ``c.space``, of the named
strategy into ``c.strategy``, anything else at the top level.
"""

from experiments.configs import common


def configure(c, **overrides):
  """``c`` with ``overrides`` applied as described in the module docstring; returns ``c``."""
  for kind in ('space', 'strategy'):
    if kind in overrides:
      common.set_component(c, kind, overrides.pop(kind))
  for key, value in overrides.items():
    if isinstance(value, list):
      value = tuple(value)
    if key in c.space:
      c.space[key] = value
    elif key in c.strategy:
      c.strategy[key] = value
    elif key in c:
      c[key] = value
    else:  # a typo, or a setting of another component than the named one
      raise KeyError(f'{key!r} is no key of the config, its space or its strategy')
  return c


def bare(**overrides):
  """A config with only the space and strategy sections (DARTS in the DARTS space) and
  ``epochs``, for tests that build a strategy or space from it (``components``)."""
  import ml_collections  # pylint: disable=import-outside-toplevel

  c = ml_collections.ConfigDict({'epochs': 50})
  common.set_component(c, 'space', 'darts')
  common.set_component(c, 'strategy', 'darts')
  return configure(c, **overrides)
