"""Launcher plumbing: one-line errors for bad input instead of tracebacks."""

import sys
from typing import Callable, TypeVar

T = TypeVar('T')


def run_or_exit(fn: Callable[[], T]) -> T:
  """Runs ``fn``; known user errors print one line to stderr and exit with status 2."""
  from nas_jax import runtime
  from nas_jax.data import DatasetUnavailableError
  from nas_jax.genotype import GenotypeError
  from nas_jax.search import ConfigError
  from nas_jax.train import ConfigError as TrainConfigError
  runtime.enable_compilation_cache()
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # Orbax logs every checkpoint step at INFO
  try:
    return fn()
  except (ConfigError, TrainConfigError, DatasetUnavailableError, GenotypeError,
          FloatingPointError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
