"""Reading foreign pickles without running their code.

``pickle.load`` imports and calls whatever a file names, so a table from a package or a
download is read with :func:`load`: an unpickler that resolves only the globals it is
given. Builtin containers and numbers need no globals at all; NumPy scalars and arrays
need the few constructors :data:`NUMPY` lists; a package's own classes are mapped to
plain records (:class:`Record`) by naming them in ``classes``. Any other global is a
:class:`~nas_jax.tabular.table.TableError` naming it, before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable
import io
import pickle
from typing import Any

import numpy as np

from nas_jax.tabular.table import TableError

__all__ = ['NUMPY', 'Record', 'load']


def _scalar(dtype, data=None):
  """``numpy.core.multiarray.scalar``: a NumPy scalar from its dtype and raw bytes."""
  if data is None:
    return np.zeros((), dtype)[()]
  if isinstance(data, str):  # a protocol-2 pickle from Python 2 stores the bytes as latin-1
    data = data.encode('latin-1')
  return np.frombuffer(data, dtype=dtype, count=1)[0]


def _reconstruct(cls, shape, dtype):
  """``numpy.core.multiarray._reconstruct``: an empty array its ``__setstate__`` fills."""
  if cls is not np.ndarray:
    raise TableError(f'a pickled array of type {cls!r} is not admitted')
  return np.ndarray.__new__(np.ndarray, shape, dtype)


def _frombuffer(buffer, dtype, shape, order):
  """``numpy._core.numeric._frombuffer``: an array from raw bytes (protocol 5)."""
  return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


def _encode(text, encoding='latin1'):
  """``_codecs.encode``: how protocol 2 stores bytes (as text and its codec)."""
  if encoding not in ('latin1', 'latin-1'):
    raise TableError(f'a pickled byte string in codec {encoding!r} is not admitted')
  return text.encode('latin-1')


NUMPY: dict[tuple[str, str], Callable] = (
    {
        (module, name): fn
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray')
        for name, fn in (('scalar', _scalar), ('_reconstruct', _reconstruct))
    }
    | {
        (module, '_frombuffer'): _frombuffer
        for module in ('numpy.core.numeric', 'numpy._core.numeric')
    }
    | {
        ('numpy', 'dtype'): np.dtype,
        ('numpy', 'ndarray'): np.ndarray,
    }
)


class Record:
  """A plain stand-in for a foreign class: it keeps the state the pickle gives it (its
  ``__dict__``, or ``state`` for anything else) and runs none of the class's code."""

  qualname = 'Record'

  def __init__(self, *args, **kwargs):
    self.args, self.kwargs = args, kwargs

  def __setstate__(self, state):
    if isinstance(state, dict):
      self.__dict__.update(state)
    elif isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
      self.__dict__.update(state[0] or {})
      self.__dict__.update(state[1])
    else:
      self.state = state

  def __repr__(self):
    fields = ', '.join(sorted(k for k in self.__dict__ if k not in ('args', 'kwargs')))
    return f'{self.qualname}({fields})'


def _record_class(module: str, name: str) -> type:
  return type(name, (Record,), {'qualname': f'{module}.{name}'})


class _Unpickler(pickle.Unpickler):

  def __init__(self, file, allowed: dict[tuple[str, str], Any], source: str):
    super().__init__(file, encoding='latin1')
    self._allowed, self._source = allowed, source

  def find_class(self, module, name):
    found = self._allowed.get((module, name))
    if found is None:
      raise TableError(
          f'{self._source}: the pickle names {module}.{name}, which is not admitted (a '
          'foreign pickle is read without running its code)'
      )
    return found


def load(source, *, numpy: bool = True, classes=(), what: str | None = None) -> Any:
  """Unpickles ``source`` (a path, bytes or a binary file) admitting only builtin
  containers and numbers, NumPy scalars and arrays (``numpy``), and the ``classes``
  ``(module, name)`` pairs, each mapped to a :class:`Record` subclass.

  ``what`` names the source in errors (default: the path). A global outside those, a
  truncated or corrupt file, or one that is not a pickle is a one-line TableError."""
  allowed: dict[tuple[str, str], Any] = {('_codecs', 'encode'): _encode}
  if numpy:
    allowed.update(NUMPY)
  for module, name in classes:
    allowed[(module, name)] = _record_class(module, name)
  label = what or (source if isinstance(source, str) else 'pickle')
  try:
    if isinstance(source, (bytes, bytearray)):
      return _Unpickler(io.BytesIO(source), allowed, label).load()
    if isinstance(source, str) or hasattr(source, '__fspath__'):
      with open(source, 'rb') as f:
        return _Unpickler(f, allowed, label).load()
    return _Unpickler(source, allowed, label).load()
  except TableError:
    raise
  except OSError as e:
    raise TableError(f'{label}: cannot read it ({e.strerror or e})') from None
  except Exception as e:  # pickle raises many kinds for a file that is not one
    raise TableError(f'{label}: not a readable pickle ({type(e).__name__}: {e})') from None
