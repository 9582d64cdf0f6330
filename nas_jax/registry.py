"""One registry for every kind of component: spaces, strategies, estimators, proxies.

A component registers under a name; ``build(name, **settings)`` constructs it with its
settings as keyword arguments over the defaults of its signature. An unknown name or
setting is one line (a :class:`~nas_jax.config_checks.ConfigError`) that names the
nearest valid ones::

  STRATEGIES = Registry('discrete strategy')

  @STRATEGIES.register('rea')
  class RegularizedEvolution: ...

  STRATEGIES.build('rea', population=20)   # RegularizedEvolution(population=20)
  STRATEGIES.build('raa')                  # ConfigError: unknown discrete strategy 'raa';
                                           #   did you mean 'rea'? known: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import dataclasses
import difflib
import inspect
from typing import Any, Generic, TypeVar

from nas_jax.config_checks import ConfigError

T = TypeVar('T')


def nearest(word: str, choices) -> str | None:
  """The closest of ``choices`` to ``word`` (difflib), or None when none is close."""
  close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
  return close[0] if close else None


def unknown(what: str, word: str, choices, listing: str = 'known') -> str:
  """``"unknown <what> 'x'; did you mean 'y'? (known: ...)"``, one line."""
  close = nearest(word, choices)
  hint = f'; did you mean {close!r}?' if close else ''
  return f'unknown {what} {word!r}{hint} ({listing}: {", ".join(sorted(map(str, choices)))})'


def settings_of(factory: Callable[..., Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
  """The keyword settings ``factory`` takes, with their defaults (``inspect.Parameter.empty``
  where there is none): a dataclass's init fields, else its signature's named parameters."""
  if dataclasses.is_dataclass(factory):
    out = {}
    for f in dataclasses.fields(factory):
      if not f.init or f.name in skip:
        continue
      if f.default is not dataclasses.MISSING:
        out[f.name] = f.default
      elif f.default_factory is not dataclasses.MISSING:
        out[f.name] = f.default_factory()
      else:
        out[f.name] = inspect.Parameter.empty
    return out
  params = inspect.signature(factory).parameters.values()
  named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
  return {p.name: p.default for p in params if p.kind in named and p.name not in skip}


class Registry(Generic[T]):
  """Named factories of one kind of component (see the module docstring).

  Args:
    kind: what the components are, for messages ("search space", "proxy", ...).
    context: arguments the caller passes itself (a strategy's ``space``): they are not
      settings, and :meth:`settings` leaves them out.
  """

  def __init__(self, kind: str, context: tuple[str, ...] = ()):
    self.kind = kind
    self.context = context
    self._entries: dict[str, Callable[..., T]] = {}

  def register(self, name: str | None = None, *, replace: bool = False):
    """Decorator: registers its argument under ``name`` (default: its ``name`` attribute)."""

    def wrap(factory):
      key = name or getattr(factory, 'name', None)
      if not key:
        raise ValueError(f'a {self.kind} needs a name to register')
      if key in self._entries and not replace:
        raise ValueError(f'{self.kind} {key!r} is registered twice')
      self._entries[key] = factory
      return factory

    return wrap

  def add(self, name: str, factory: Callable[..., T], *, replace: bool = False) -> None:
    """Registers ``factory`` under ``name`` (the non-decorator form)."""
    self.register(name, replace=replace)(factory)

  def remove(self, name: str) -> None:
    del self._entries[name]

  def lookup(self, name: str) -> Callable[..., T]:
    """The factory registered as ``name``; a one-line ConfigError naming the nearest."""
    if name not in self._entries:
      raise ConfigError(unknown(self.kind, name, self._entries))
    return self._entries[name]

  def settings(self, name: str) -> dict[str, Any]:
    """``name``'s settings and their defaults (its signature, context arguments left out)."""
    return settings_of(self.lookup(name), self.context)

  def check(self, name: str, settings) -> None:
    """A one-line ConfigError for a setting ``name`` does not take, naming the nearest (a
    factory with ``**kwargs``, such as a lazy import's wrapper, checks its own)."""
    factory = self.lookup(name)
    if not dataclasses.is_dataclass(factory) and any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(factory).parameters.values()
    ):
      return
    known = self.settings(name)
    for key in settings:
      if key not in known:
        message = unknown('setting', key, known, listing='its settings')
        raise ConfigError(f'{self.kind} {name}: {message}')

  def build(self, name: str, /, *args, **settings) -> T:
    """``factory(*args, **settings)`` after :meth:`check`; ``args`` are the context."""
    self.check(name, settings)
    return self.lookup(name)(*args, **settings)

  def names(self) -> tuple[str, ...]:
    return tuple(sorted(self._entries))

  def items(self):
    return self._entries.items()

  def values(self):
    return self._entries.values()

  def __contains__(self, name) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(self._entries)

  def __len__(self) -> int:
    return len(self._entries)

  def __getitem__(self, name: str) -> Callable[..., T]:
    return self.lookup(name)

  def __repr__(self) -> str:
    return f'Registry({self.kind!r}: {", ".join(self.names())})'
