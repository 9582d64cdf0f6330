"""Process-level set-up shared by launchers, tests, notebooks and benchmarks."""

from __future__ import annotations

import os

import jax

DEFAULT_CACHE_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '.jax_cache'
)


# XLA:CPU on one thread (set in XLA_FLAGS before JAX starts): for processes that each get one
# core of a small machine (``experiments/tabulate.py --local_processes``, benchmarks.tabular's
# procsP rows).
SINGLE_THREAD_XLA_FLAGS = '--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1'


def pin_to_core(k: int) -> int:
  """Pins this process to the ``k``-th core it may run on (modulo their count); returns it.

  Call it before JAX starts (a ``preexec_fn``, or first thing in a child), with
  :data:`SINGLE_THREAD_XLA_FLAGS` in ``XLA_FLAGS``.
  """
  cores = sorted(os.sched_getaffinity(0))
  core = cores[k % len(cores)]
  os.sched_setaffinity(0, {core})
  return core


def enable_compilation_cache(cache_dir: str | None = None) -> str:
  """Turns on JAX's persistent compilation cache; returns its directory.

  The directory is ``cache_dir``, else ``$JAX_COMPILATION_CACHE_DIR``, else
  ``.jax_cache`` at the repository root. Every compiled program is cached
  (no minimum compile time), so reruns skip XLA entirely.
  """
  cache_dir = cache_dir or os.environ.get('JAX_COMPILATION_CACHE_DIR') or DEFAULT_CACHE_DIR
  os.makedirs(cache_dir, exist_ok=True)
  jax.config.update('jax_compilation_cache_dir', cache_dir)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  return cache_dir
