"""Discrete cell architectures (genotypes) in the DARTS format.

A genotype describes the two cell types of a DARTS network, the *normal* cell
and the *reduction* cell. Each cell has two inputs (the outputs of the two
previous cells, indices ``0`` and ``1``) followed by ``steps`` intermediate
nodes (indices ``2 .. steps + 1``). Every intermediate node sums exactly two
operations, so a cell is a flat sequence of ``2 * steps`` ``(op_name, input)``
pairs: pairs ``2k`` and ``2k + 1`` feed node ``k`` and may read from any node
with a smaller index. The cell output concatenates the nodes listed in
``*_concat``.

This module holds the :class:`Genotype` container and its JSON and DARTS text
serialisations and files. The text form is parsed (never evaluated) by
:mod:`nas_jax.spaces.darts.genotype_text`; the published cells are in
:mod:`nas_jax.spaces.darts.published` (also reachable here by name).

Only the standard library is imported here so that the module loads fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import dataclasses
import json
import os
from typing import Any

from nas_jax.spaces.darts import genotype_text
from nas_jax.spaces.genotype_files import GenotypeError, read_text
from nas_jax.util import atomic_write, is_int, one_line

__all__ = [
    'DARTS_PRIMITIVES',
    'Genotype',
    'GenotypeError',
    'OpPair',
    'load_genotype',
    'load_json',
    'save_json',
]

DARTS_PRIMITIVES: tuple[str, ...] = (
    'none',
    'max_pool_3x3',
    'avg_pool_3x3',
    'skip_connect',
    'sep_conv_3x3',
    'sep_conv_5x5',
    'dil_conv_3x3',
    'dil_conv_5x5',
)
"""The DARTS candidate operations, in the order used by the DARTS paper."""


PathLike = str | os.PathLike

_FIELDS = genotype_text.FIELDS
OpPair = genotype_text.OpPair
_FORBIDDEN_NAME_CHARS = frozenset('\'"\\')


def _check_op_name(name: Any, where: str) -> str:
  """Validates an operation name.

  Args:
    name: Candidate operation name.
    where: Human-readable location used in the error message.

  Returns:
    ``name`` as a ``str``.

  Raises:
    GenotypeError: If ``name`` is not a non-empty string of printable,
      non-whitespace characters without quotes or backslashes (such names
      survive the DARTS text form unchanged).
  """
  if not isinstance(name, str):
    raise GenotypeError(f'{where}: op name must be a string, got {type(name).__name__}')
  if not name:
    raise GenotypeError(f'{where}: op name must be non-empty')
  if any(c in _FORBIDDEN_NAME_CHARS or not c.isprintable() or c.isspace() for c in name):
    raise GenotypeError(
        f'{where}: op name {name!r} may not contain quotes, backslashes, '
        'whitespace or control characters'
    )
  return name


def _coerce_cell(cell_name: str, value: Any) -> tuple[OpPair, ...]:
  """Converts and validates the op pairs of one cell.

  Args:
    cell_name: ``'normal'`` or ``'reduce'``, used in error messages.
    value: A sequence of ``(op_name, input_index)`` pairs.

  Returns:
    The pairs as a tuple of ``(str, int)`` tuples.

  Raises:
    GenotypeError: If the structure, an op name or an input index is invalid.
  """
  if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
    raise GenotypeError(
        f'{cell_name}: expected a sequence of (op, input) pairs, got ' f'{type(value).__name__}'
    )
  if not value:
    raise GenotypeError(f'{cell_name}: must contain at least one node ' '(two (op, input) pairs)')
  if len(value) % 2:
    raise GenotypeError(
        f'{cell_name}: expected an even number of (op, input) pairs (two per '
        f'node), got {len(value)}'
    )
  pairs = []
  for k, entry in enumerate(value):
    where = f'{cell_name}[{k}]'
    if isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence) or len(entry) != 2:
      raise GenotypeError(f'{where}: expected an (op, input) pair, got {one_line(repr(entry))}')
    name = _check_op_name(entry[0], where)
    index = entry[1]
    if not is_int(index):
      raise GenotypeError(
          f'{where}: input index must be an integer, got ' f'{one_line(repr(index))}'
      )
    index = int(index)
    node = k // 2
    if index < 0 or index >= 2 + node:
      raise GenotypeError(
          f'{where}: input index {index} out of range for node {node} ' f'(valid: 0..{1 + node})'
      )
    pairs.append((name, index))
  return tuple(pairs)


def _coerce_concat(field: str, value: Any, steps: int) -> tuple[int, ...]:
  """Converts and validates the concatenated node indices of one cell.

  Args:
    field: ``'normal_concat'`` or ``'reduce_concat'``, for error messages.
    value: A sequence (or ``range``) of node indices.
    steps: Number of intermediate nodes of the cell.

  Returns:
    The indices as a tuple of ints.

  Raises:
    GenotypeError: If ``value`` is empty, holds non-integers, duplicates or
      indices outside ``0 .. steps + 1``.
  """
  if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
    raise GenotypeError(
        f'{field}: expected a sequence of node indices, got ' f'{type(value).__name__}'
    )
  if not value:
    raise GenotypeError(f'{field}: must list at least one node')
  out = []
  for index in value:
    if not is_int(index):
      raise GenotypeError(
          f'{field}: node index must be an integer, got ' f'{one_line(repr(index))}'
      )
    index = int(index)
    if index < 0 or index >= 2 + steps:
      raise GenotypeError(f'{field}: node index {index} out of range (valid: 0..{1 + steps})')
    if index in out:
      raise GenotypeError(f'{field}: node index {index} listed twice')
    out.append(index)
  return tuple(out)


def _format_concat(concat: tuple[int, ...], as_range: bool) -> str:
  """Formats a concat tuple as a Python list or, if possible, a ``range``."""
  if as_range and len(concat) > 1 and all(b - a == 1 for a, b in zip(concat, concat[1:])):
    return f'range({concat[0]}, {concat[-1] + 1})'
  return '[' + ', '.join(str(i) for i in concat) + ']'


def _format_cell(pairs: tuple[OpPair, ...]) -> str:
  """Formats op pairs exactly like Python's ``repr`` of a list of tuples."""
  return '[' + ', '.join(f"('{name}', {index})" for name, index in pairs) + ']'


@dataclasses.dataclass(frozen=True)
class Genotype:
  """A discrete DARTS architecture: one normal and one reduction cell.

  Lists passed to the constructor are converted to tuples, so instances are
  immutable, hashable and compare by value.

  Attributes:
    normal: ``(op_name, input_index)`` pairs of the normal cell; pairs ``2k``
      and ``2k + 1`` feed intermediate node ``k``, whose inputs may be
      ``0 .. k + 1``.
    normal_concat: Node indices concatenated to form the normal cell output.
    reduce: ``(op_name, input_index)`` pairs of the reduction cell.
    reduce_concat: Node indices concatenated to form the reduction cell
      output.
  """

  normal: tuple[OpPair, ...]
  normal_concat: tuple[int, ...]
  reduce: tuple[OpPair, ...]
  reduce_concat: tuple[int, ...]

  def __post_init__(self) -> None:
    normal = _coerce_cell('normal', self.normal)
    reduce = _coerce_cell('reduce', self.reduce)
    normal_concat = _coerce_concat('normal_concat', self.normal_concat, len(normal) // 2)
    reduce_concat = _coerce_concat('reduce_concat', self.reduce_concat, len(reduce) // 2)
    object.__setattr__(self, 'normal', normal)
    object.__setattr__(self, 'normal_concat', normal_concat)
    object.__setattr__(self, 'reduce', reduce)
    object.__setattr__(self, 'reduce_concat', reduce_concat)

  # -- Structure -------------------------------------------------------------

  @property
  def normal_steps(self) -> int:
    """Number of intermediate nodes of the normal cell."""
    return len(self.normal) // 2

  @property
  def reduce_steps(self) -> int:
    """Number of intermediate nodes of the reduction cell."""
    return len(self.reduce) // 2

  def ops(self) -> frozenset[str]:
    """Returns the set of operation names used by either cell.

    Returns:
      A frozenset of op names.
    """
    return frozenset(name for name, _ in self.normal + self.reduce)

  def validate(self, primitives: Sequence[str] = DARTS_PRIMITIVES) -> None:
    """Checks that every op of the genotype belongs to ``primitives``.

    Args:
      primitives: The allowed operation names.

    Raises:
      GenotypeError: Naming the first unknown op and where it is used.
    """
    allowed = set(primitives)
    for cell_name, pairs in (('normal', self.normal), ('reduce', self.reduce)):
      for k, (name, _) in enumerate(pairs):
        if name not in allowed:
          raise GenotypeError(
              f'{cell_name}[{k}]: unknown op {name!r} (known: ' f"{', '.join(primitives)})"
          )

  # -- Dict / JSON -------------------------------------------------------------

  def to_dict(self) -> dict[str, list[Any]]:
    """Returns a JSON-compatible dict of plain lists.

    Returns:
      ``{'normal': [[op, input], ...], 'normal_concat': [...],
      'reduce': [...], 'reduce_concat': [...]}``.
    """
    return {
        'normal': [[name, index] for name, index in self.normal],
        'normal_concat': list(self.normal_concat),
        'reduce': [[name, index] for name, index in self.reduce],
        'reduce_concat': list(self.reduce_concat),
    }

  @classmethod
  def from_dict(cls, data: Mapping[str, Any]) -> Genotype:
    """Builds a genotype from the output of :meth:`to_dict`.

    Args:
      data: A mapping with exactly the keys ``normal``, ``normal_concat``,
        ``reduce`` and ``reduce_concat``.

    Returns:
      The validated genotype.

    Raises:
      GenotypeError: If keys are missing or unknown, or a value is invalid.
    """
    if not isinstance(data, Mapping):
      raise GenotypeError(
          f"expected a JSON object with keys {', '.join(_FIELDS)}, got " f'{type(data).__name__}'
      )
    missing = [k for k in _FIELDS if k not in data]
    if missing:
      raise GenotypeError(f"missing key(s): {', '.join(missing)}")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
      raise GenotypeError(
          f"unknown key(s): {', '.join(unknown)} (expected " f"{', '.join(_FIELDS)})"
      )
    return cls(**{k: data[k] for k in _FIELDS})

  def to_json(self, indent: int | None = None) -> str:
    """Serialises the genotype to JSON.

    Args:
      indent: Passed to :func:`json.dumps`; ``None`` gives one line.

    Returns:
      The JSON text.
    """
    return json.dumps(self.to_dict(), indent=indent)

  @classmethod
  def from_json(cls, text: str) -> Genotype:
    """Parses JSON produced by :meth:`to_json`.

    Args:
      text: JSON text.

    Returns:
      The validated genotype.

    Raises:
      GenotypeError: If the text is not valid JSON or has the wrong schema.
    """
    try:
      data = json.loads(text)
    except json.JSONDecodeError as e:
      raise GenotypeError(f'malformed JSON at line {e.lineno} column {e.colno}: {e.msg}') from None
    return cls.from_dict(data)

  def save_json(self, path: PathLike) -> None:
    """Writes the genotype as JSON to ``path``; see :func:`save_json`."""
    save_json(self, path)

  @classmethod
  def load_json(cls, path: PathLike) -> Genotype:
    """Reads a genotype from a JSON file; see :func:`load_json`."""
    return load_json(path)

  # -- DARTS text form ---------------------------------------------------------

  def to_darts_text(self, concat_as_range: bool = False) -> str:
    """Formats the genotype like the ``repr`` of the DARTS namedtuple.

    Args:
      concat_as_range: If true, contiguous ascending concat lists are written
        as ``range(a, b)`` (the form printed by the DARTS search code);
        otherwise they are written as lists (the form of the DARTS
        ``genotypes.py``).

    Returns:
      A single-line string such as ``Genotype(normal=[('sep_conv_3x3', 0),
      ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4,
      5])``.
    """
    return (
        f'Genotype(normal={_format_cell(self.normal)}, '
        f'normal_concat={_format_concat(self.normal_concat, concat_as_range)}, '
        f'reduce={_format_cell(self.reduce)}, '
        f'reduce_concat={_format_concat(self.reduce_concat, concat_as_range)})'
    )

  @classmethod
  def from_darts_text(cls, text: str) -> Genotype:
    """Parses the DARTS text form without evaluating it.

    Accepted: an optional ``name =`` prefix (as in ``genotypes.py`` or search
    logs), an optional leading ``Genotype``, keyword fields in any order,
    single- or double-quoted op names, lists or tuples, concat given as a list
    or as ``range(stop)`` / ``range(start, stop[, step])``, trailing commas
    and arbitrary whitespace.

    Args:
      text: The text to parse.

    Returns:
      The validated genotype.

    Raises:
      GenotypeError: With a one-line message saying what was expected and at
        which (0-based) character position, or why the parsed values are not
        a valid genotype.
    """
    if not isinstance(text, str):
      raise GenotypeError(f'expected DARTS genotype text as str, got {type(text).__name__}')
    return cls(**genotype_text.parse(text))

  def __str__(self) -> str:
    return self.to_darts_text()


# -- Files -------------------------------------------------------------------------


def save_json(genotype: Genotype, path: PathLike) -> None:
  """Atomically writes ``genotype`` as indented JSON to ``path``.

  The JSON is written to a temporary file in the same directory, flushed to
  disk and then moved over ``path`` with :func:`os.replace`, so readers never
  see a partially written file. Missing parent directories are created.

  Args:
    genotype: The genotype to write.
    path: Destination file.

  Raises:
    GenotypeError: If ``genotype`` is not a :class:`Genotype`.
    OSError: If the file cannot be written.
  """
  if not isinstance(genotype, Genotype):
    raise GenotypeError(f'save_json expects a Genotype, got {type(genotype).__name__}')
  atomic_write(path, genotype.to_json(indent=2) + '\n')


def load_json(path: PathLike) -> Genotype:
  """Reads a genotype written by :func:`save_json`.

  Args:
    path: The JSON file.

  Returns:
    The validated genotype.

  Raises:
    GenotypeError: If the file is missing or unreadable, is not valid JSON or
      does not describe a valid genotype; the one-line message names the path.
  """
  path = os.fspath(path)
  text = read_text(path)
  try:
    return Genotype.from_json(text)
  except GenotypeError as e:
    raise GenotypeError(f'genotype file {path!r}: {e}') from None


def _load_darts_text_file(path: str) -> Genotype:
  """Reads a genotype in DARTS text form from ``path``."""
  text = read_text(path)
  try:
    return Genotype.from_darts_text(text)
  except GenotypeError as e:
    raise GenotypeError(f'genotype file {path!r}: {e}') from None


def load_genotype(name_or_path: str | os.PathLike[str] | Genotype) -> Genotype:
  """Resolves a genotype from a name, a JSON file or a DARTS text file.

  Args:
    name_or_path: A :class:`Genotype` (returned unchanged), a key of
      :data:`NAMED_GENOTYPES`, a path to a ``.json`` file written by
      :func:`save_json`, or a path to any other file holding the DARTS text
      form (see :meth:`Genotype.from_darts_text`).

  Returns:
    The genotype.

  Raises:
    GenotypeError: If the argument is neither a known name nor an existing
      file, or the file cannot be parsed; the message names the path.
  """
  from nas_jax.spaces.darts.published import NAMED_GENOTYPES  # pylint: disable=import-outside-toplevel

  if isinstance(name_or_path, Genotype):
    return name_or_path
  if isinstance(name_or_path, str) and name_or_path in NAMED_GENOTYPES:
    return NAMED_GENOTYPES[name_or_path]
  try:
    path = os.fspath(name_or_path)
  except TypeError:
    raise GenotypeError(
        'load_genotype expects a genotype name or a path, got ' f'{type(name_or_path).__name__}'
    ) from None
  if not os.path.exists(path):
    raise GenotypeError(
        f'{path!r} is neither a known genotype name (known: '
        f"{', '.join(sorted(NAMED_GENOTYPES))}) nor an existing file"
    )
  if path.lower().endswith('.json'):
    return load_json(path)
  return _load_darts_text_file(path)


_PUBLISHED = (
    'DARTS_V1',
    'DARTS_V2',
    'DARTS_V2_TEXT',
    'NAMED_GENOTYPES',
    'PC_DARTS',
    'PC_DARTS_IMAGENET',
    'PDARTS',
    'get_named',
)


def __getattr__(name: str):
  """The published cells (``nas_jax.spaces.darts.published``), also reachable here."""
  if name in _PUBLISHED:
    from nas_jax.spaces.darts import published  # pylint: disable=import-outside-toplevel

    return getattr(published, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
