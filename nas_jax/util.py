"""Small helpers the whole package shares: integer checks, one-line messages, atomic writes."""

from __future__ import annotations

import numbers
import os
import tempfile
import time
from typing import Any


def is_int(value: Any) -> bool:
  """Whether ``value`` is an integer (Python or NumPy; ``bool`` excluded)."""
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def one_line(text: Any) -> str:
  """``text`` collapsed onto one line, so that error messages stay single-line."""
  return ' '.join(str(text).split())


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


# The mode a plain open() would give a new file (mkstemp's own is 0600, owner only).
_FILE_MODE = 0o666 & ~_umask()
DIR_MODE = 0o777 & ~_umask()  # what os.makedirs gives a directory


def atomic_write(path: str | os.PathLike, payload: bytes | str) -> None:
  """Writes ``payload`` to ``path`` through a temporary file in the same directory and a rename.

  The file is flushed to disk before :func:`os.replace`, so readers see the
  old file or the whole new one, never a part. Missing parent directories
  are created; the temporary file is removed if anything fails. The file gets
  the mode ``open()`` would give it (0666 less the umask).
  """
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  mode = 'wb' if isinstance(payload, bytes) else 'w'
  fd, tmp = tempfile.mkstemp(
      dir=directory, prefix='.' + os.path.basename(path) + '.', suffix='.tmp'
  )
  try:
    with os.fdopen(fd, mode, **({} if mode == 'wb' else {'encoding': 'utf-8'})) as f:
      f.write(payload)
      os.fchmod(f.fileno(), _FILE_MODE)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def dataclass_from(cls, config):
  """An instance of dataclass ``cls`` with the values of ``config``'s keys named as its fields
  (a field the config lacks keeps its default)."""
  import dataclasses  # pylint: disable=import-outside-toplevel

  return cls(**{f.name: config[f.name] for f in dataclasses.fields(cls) if f.name in config})


def backend_label() -> str:
  """``'<backend>: <device kind>'`` of this process: what a measured cost table (latency,
  memory) records it was measured on, and what ``components.cost_term`` checks it against."""
  import jax  # pylint: disable=import-outside-toplevel

  return f'{jax.default_backend()}: {jax.devices()[0].device_kind}'


def median_seconds(fn, x, runs: int, warmup: int = 1) -> float:
  """The median wall seconds of ``fn(x)`` over ``runs`` calls, after ``warmup`` calls; each
  call's outputs are waited for (``jax.block_until_ready``: JAX arrays are computed, NumPy
  ones, as a converter's runtime returns them, are ready). The one timer of latency tables,
  cost tables and exported artifacts."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  for _ in range(warmup):
    jax.block_until_ready(fn(x))
  times = []
  for _ in range(runs):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(x))
    times.append(time.perf_counter() - t0)
  return float(np.median(times))
