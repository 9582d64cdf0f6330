"""The DARTS text form of a genotype, ``Genotype(normal=[('sep_conv_3x3', 0), ...], ...)``,
read by a small recursive-descent parser: the text is parsed, never evaluated.

:func:`parse` returns the fields as a dict; ``Genotype.from_darts_text`` validates them.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
from typing import Any

from nas_jax.spaces.genotype_files import GenotypeError
from nas_jax.util import one_line

FIELDS = ('normal', 'normal_concat', 'reduce', 'reduce_concat')
OpPair = tuple[str, int]
"""One incoming edge of a node: ``(op_name, input_index)``."""

_PUNCT = frozenset('()[],=')
_DIGITS = frozenset('0123456789')
_MAX_INT_CHARS = 19  # An optional sign and up to 18 digits.


@dataclasses.dataclass(frozen=True)
class _Token:
  """A lexical token of the DARTS text form."""

  kind: str  # 'ident', 'int', 'str', one of _PUNCT, or 'end'.
  value: Any
  pos: int

  def describe(self) -> str:
    """Returns a short description used in error messages."""
    if self.kind == 'end':
      return 'end of text'
    if self.kind == 'ident':
      return f'identifier {self.value!r}'
    if self.kind == 'int':
      return f'integer {self.value}'
    if self.kind == 'str':
      return f'string {self.value!r}'
    return repr(self.kind)


def _error_at(expected: str, pos: int, found: str) -> GenotypeError:
  """Builds the standard parse error."""
  return GenotypeError(
      f'invalid DARTS genotype text: expected {expected} at character {pos}, '
      f'found {one_line(found)}'
  )


def _tokenize(text: str) -> Iterator[_Token]:
  """Splits DARTS genotype text into tokens, lazily.

  Tokens are produced on demand so that the parser reports the first error in
  reading order, whether it is lexical or syntactic.

  Args:
    text: The text to split.

  Yields:
    The tokens, terminated by an ``'end'`` token.

  Raises:
    GenotypeError: On an unexpected character or an unterminated string.
  """
  i, n = 0, len(text)
  while i < n:
    c = text[i]
    if c.isspace():
      i += 1
    elif c in _PUNCT:
      yield _Token(c, c, i)
      i += 1
    elif c in '\'"':
      j = i + 1
      while j < n and text[j] != c and text[j] not in '\\\n\r':
        j += 1
      if j >= n or text[j] != c:
        raise _error_at(
            f'closing {c} (string opened at character {i})',
            j,
            'end of text' if j >= n else repr(text[j]),
        )
      yield _Token('str', text[i + 1 : j], i)
      i = j + 1
    elif c in _DIGITS or (c in '+-' and i + 1 < n and text[i + 1] in _DIGITS):
      j = i + 1
      while j < n and text[j] in _DIGITS:
        j += 1
      if j - i > _MAX_INT_CHARS:
        raise _error_at('an integer of at most 18 digits', i, f'{j - i} characters')
      yield _Token('int', int(text[i:j]), i)
      i = j
    elif c.isalpha() or c == '_':
      j = i + 1
      while j < n and (text[j].isalnum() or text[j] == '_'):
        j += 1
      yield _Token('ident', text[i:j], i)
      i = j
    else:
      raise _error_at('a name, number, string or one of ()[],=', i, repr(c))
  yield _Token('end', None, n)


class _DartsTextParser:
  """Recursive-descent parser for the DARTS ``Genotype(...)`` text form.

  Grammar::

    text     := [IDENT '='] ['Genotype'] '(' field (',' field)* [','] ')' END
    field    := CELL '=' cell | CONCAT '=' concat
    cell     := open [pair (',' pair)* [',']] close
    pair     := '(' STR ',' INT [','] ')'
    concat   := open [INT (',' INT)* [',']] close
              | 'range' '(' INT [',' INT [',' INT]] [','] ')'
    open     := '[' | '('          (closed by the matching bracket)
  """

  def __init__(self, text: str) -> None:
    self._stream = _tokenize(text)
    self._buffer: list[_Token] = []

  # Token helpers.

  def _peek(self, offset: int = 0) -> _Token:
    while len(self._buffer) <= offset:
      if self._buffer and self._buffer[-1].kind == 'end':
        return self._buffer[-1]
      self._buffer.append(next(self._stream))
    return self._buffer[offset]

  def _next(self) -> _Token:
    tok = self._peek()
    if tok.kind != 'end':
      self._buffer.pop(0)
    return tok

  def _expect(self, kind: str, expected: str | None = None) -> _Token:
    tok = self._peek()
    if tok.kind != kind:
      raise _error_at(expected or repr(kind), tok.pos, tok.describe())
    return self._next()

  def _accept(self, kind: str) -> bool:
    if self._peek().kind == kind:
      self._next()
      return True
    return False

  # Grammar rules.

  def parse(self) -> dict[str, Any]:
    """Parses the whole text.

    Returns:
      Keyword arguments for :class:`Genotype`.
    """
    first = self._peek()
    if first.kind == 'ident' and first.value != 'Genotype' and self._peek(1).kind == '=':
      self._next()  # Skip an assignment prefix such as `DARTS_V2 =`.
      self._next()
    tok = self._peek()
    if tok.kind == 'ident':
      if tok.value != 'Genotype':
        raise _error_at("'Genotype' or '('", tok.pos, tok.describe())
      self._next()
    self._expect('(', "'(' opening the Genotype fields")
    fields: dict[str, Any] = {}
    while True:
      tok = self._peek()
      if tok.kind == ')' and fields:
        break
      name_tok = self._expect('ident', 'a field name (' + ', '.join(FIELDS) + ')')
      if name_tok.value not in FIELDS:
        raise _error_at(
            'a field name (' + ', '.join(FIELDS) + ')', name_tok.pos, name_tok.describe()
        )
      if name_tok.value in fields:
        raise GenotypeError(
            f'invalid DARTS genotype text: field {name_tok.value!r} given '
            f'twice (second at character {name_tok.pos})'
        )
      self._expect('=', f"'=' after {name_tok.value!r}")
      if name_tok.value.endswith('_concat'):
        fields[name_tok.value] = self._concat()
      else:
        fields[name_tok.value] = self._cell()
      if not self._accept(','):
        break
    self._expect(')', "',' or ')' closing the Genotype fields")
    end = self._peek()
    if end.kind != 'end':
      raise _error_at('end of text', end.pos, end.describe())
    missing = [k for k in FIELDS if k not in fields]
    if missing:
      raise GenotypeError(f"invalid DARTS genotype text: missing field(s) {', '.join(missing)}")
    return fields

  def _open(self, what: str) -> str:
    tok = self._peek()
    if tok.kind not in ('[', '('):
      raise _error_at(f"'[' opening {what}", tok.pos, tok.describe())
    self._next()
    return ']' if tok.kind == '[' else ')'

  def _cell(self) -> list[OpPair]:
    close = self._open('a list of (op, input) pairs')
    pairs = []
    while not self._accept(close):
      pairs.append(self._pair())
      if not self._accept(','):
        self._expect(close, f"',' or '{close}' in the list of (op, input) " 'pairs')
        break
    return pairs

  def _pair(self) -> OpPair:
    self._expect('(', "'(' opening an (op, input) pair")
    name = self._expect('str', 'a quoted op name').value
    self._expect(',', "',' after the op name")
    index = self._expect('int', 'an integer input index').value
    self._accept(',')
    self._expect(')', "')' closing the (op, input) pair")
    return (name, index)

  def _concat(self) -> list[int]:
    tok = self._peek()
    if tok.kind == 'ident':
      if tok.value != 'range':
        raise _error_at('a list of node indices or range(...)', tok.pos, tok.describe())
      return self._range()
    close = self._open('a list of node indices')
    values = []
    while not self._accept(close):
      values.append(self._expect('int', 'an integer node index').value)
      if not self._accept(','):
        self._expect(close, f"',' or '{close}' in the list of node indices")
        break
    return values

  def _range(self) -> list[int]:
    start_tok = self._next()  # 'range'
    self._expect('(', "'(' after 'range'")
    args = [self._expect('int', 'an integer range argument').value]
    while self._accept(','):
      if self._peek().kind == ')':
        break
      if len(args) == 3:
        tok = self._peek()
        raise _error_at("')' (range takes at most 3 arguments)", tok.pos, tok.describe())
      args.append(self._expect('int', 'an integer range argument').value)
    self._expect(')', "',' or ')' closing range(...)")
    if len(args) == 3 and args[2] == 0:
      raise GenotypeError(
          'invalid DARTS genotype text: range() step must not be zero '
          f'(range at character {start_tok.pos})'
      )
    return list(range(*args))


def parse(text: str) -> dict[str, Any]:
  """The fields of the DARTS text form ``text`` (a one-line GenotypeError where it is not)."""
  return _DartsTextParser(text).parse()
