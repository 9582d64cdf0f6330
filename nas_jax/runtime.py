"""Process-level set-up shared by launchers, tests, notebooks and benchmarks."""

from __future__ import annotations

import contextlib
import os
import tempfile

import jax
from jax._src import lru_cache  # the persistent cache's file store (see enable_compilation_cache)

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


def _atomic_put(self, key: str, value: bytes) -> None:
  """JAX's ``LRUCache.put`` without size limit, written atomically: the entry goes to a
  temporary file in the cache directory, then is renamed into place."""
  if not key:
    raise ValueError('key cannot be empty')
  path = os.path.join(str(self.path), f'{key}{lru_cache._CACHE_SUFFIX}')  # pylint: disable=protected-access
  if os.path.exists(path):
    return
  fd, tmp = tempfile.mkstemp(dir=str(self.path), prefix='.tmp-', suffix='.partial')
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(value)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


_ORIGINAL_PUT = lru_cache.LRUCache.put


def _put(self, key: str, value: bytes) -> None:
  if self.eviction_enabled:  # JAX locks the directory itself when it evicts
    return _ORIGINAL_PUT(self, key, value)
  return _atomic_put(self, key, value)


def enable_compilation_cache(cache_dir: str | None = None) -> str:
  """Turns on JAX's persistent compilation cache; returns its directory.

  The directory is ``cache_dir``, else ``$JAX_COMPILATION_CACHE_DIR``, else
  ``.jax_cache`` at the repository root. Every compiled program is cached
  (no minimum compile time), so reruns skip XLA entirely.

  Entries are written atomically. JAX 0.10's unbounded cache writes an entry in place
  (``jax/_src/lru_cache.py``, ``put``: ``cache_path.write_bytes``) and reads any file that
  exists, so a process that compiles a program another process is writing (two pytest-xdist
  workers, ``tabulate --local_processes``) can read half an executable: one suite run died
  of a segmentation fault in ``compilation_cache.get_executable_and_time`` that way
  (session 19). Here ``put`` writes a temporary file and renames it into place.
  """
  lru_cache.LRUCache.put = _put
  cache_dir = cache_dir or os.environ.get('JAX_COMPILATION_CACHE_DIR') or DEFAULT_CACHE_DIR
  os.makedirs(cache_dir, exist_ok=True)
  jax.config.update('jax_compilation_cache_dir', cache_dir)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  return cache_dir
