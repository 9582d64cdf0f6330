"""Pictures of DARTS cells: the DAG of a discrete cell, and the edge panels of an alpha history.

:func:`plot_cell` / :func:`plot_genotype` draw inputs on the left,
intermediate nodes in order and the output on the right, each edge labelled
with its op (drawing and atomic PNG writes: :mod:`nas_jax.drawing`).
"""

from __future__ import annotations

from collections.abc import Sequence
import os
from typing import Any

from matplotlib.figure import Figure

from nas_jax import drawing
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES, Genotype
from nas_jax.util import is_int, one_line

__all__ = ['alpha_edge_labels', 'cell_edges', 'edge_rows', 'plot_cell', 'plot_genotype']

PathLike = str | os.PathLike
Edge = tuple[str, str, str]

INPUT_LABELS = ('c_{k-2}', 'c_{k-1}')
OUTPUT_LABEL = 'c_{k}'


def _node_label(index: int) -> str:
  """Label of cell node ``index`` (0, 1: the cell inputs; 2 + j: node j)."""
  return INPUT_LABELS[index] if index < 2 else str(index - 2)


def _check_cell(pairs: Any, concat: Any) -> tuple[list[tuple[str, int]], list[int]]:
  """Validates one cell; returns its pairs and concat as plain lists.

  Raises:
    ValueError: With a one-line message naming the bad entry.
  """
  if not drawing.is_sequence(pairs):
    raise ValueError(f'pairs: expected a list of (op, input) pairs, got {type(pairs).__name__}')
  if not pairs or len(pairs) % 2:
    raise ValueError(
        f'pairs: expected a non-empty, even number of (op, input) pairs (two per node), '
        f'got {len(pairs)}'
    )
  checked = []
  for k, entry in enumerate(pairs):
    if not drawing.is_sequence(entry) or len(entry) != 2:
      raise ValueError(f'pairs[{k}]: expected an (op, input) pair, got {one_line(repr(entry))}')
    name, index = entry
    if not isinstance(name, str) or not name:
      raise ValueError(
          f'pairs[{k}]: op name must be a non-empty string, got ' f'{one_line(repr(name))}'
      )
    if not is_int(index):
      raise ValueError(
          f'pairs[{k}]: input index must be an integer, got ' f'{one_line(repr(index))}'
      )
    node = k // 2
    if not 0 <= index < 2 + node:
      raise ValueError(
          f'pairs[{k}]: input index {index} out of range for node {node} ' f'(valid: 0..{1 + node})'
      )
    checked.append((name, int(index)))
  steps = len(pairs) // 2
  if not drawing.is_sequence(concat) and not isinstance(concat, range):
    raise ValueError(f'concat: expected a list of node indices, got {type(concat).__name__}')
  if not concat:
    raise ValueError('concat: must list at least one node')
  out = []
  for index in concat:
    if not is_int(index):
      raise ValueError(f'concat: node index must be an integer, got {one_line(repr(index))}')
    if not 0 <= index < 2 + steps:
      raise ValueError(f'concat: node index {index} out of range (valid: 0..{1 + steps})')
    if int(index) in out:
      raise ValueError(f'concat: node index {index} listed twice')
    out.append(int(index))
  return checked, out


def cell_edges(pairs: Sequence[tuple[str, int]], concat: Sequence[int]) -> list[Edge]:
  """The labelled edges of a cell DAG.

  Args:
    pairs: ``(op_name, input_index)`` pairs; pairs ``2k`` and ``2k + 1`` feed
      intermediate node ``k``, inputs ``0``/``1`` are the cell inputs and
      ``2 + j`` is intermediate node ``j`` (e.g. ``Genotype.normal``).
    concat: Node indices, in the same numbering, concatenated to form the
      cell output (e.g. ``Genotype.normal_concat``).

  Returns:
    ``(source, target, op)`` triples: one per pair in order, skipping ops
    named ``'none'`` (they contribute nothing), then ``(node, 'c_{k}', '')``
    for each concatenated node. Cell inputs are labelled ``'c_{k-2}'`` and
    ``'c_{k-1}'``, intermediate nodes ``'0'``, ``'1'``, ...

  Raises:
    ValueError: If ``pairs`` is not a list of ``(str, int)`` pairs, or an input
      or concat index is out of range (one-line message).
  """
  pairs, concat = _check_cell(pairs, concat)
  edges = [
      (_node_label(index), str(k // 2), name)
      for k, (name, index) in enumerate(pairs)
      if name != 'none'
  ]
  edges += [(_node_label(index), OUTPUT_LABEL, '') for index in concat]
  return edges


def _cell_layout(steps: int) -> dict[str, tuple[float, float]]:
  """Node centres: inputs left, intermediate nodes zigzagging in order, output right."""
  pos = {INPUT_LABELS[0]: (0.0, 1.0), INPUT_LABELS[1]: (0.0, -1.0)}
  for i in range(steps):
    pos[str(i)] = (1.5 + 1.4 * i, 0.6 if i % 2 == 0 else -0.6)
  pos[OUTPUT_LABEL] = (1.5 + 1.4 * (steps - 1) + 1.5, 0.0)
  return pos


def _draw_cell(fig: Figure, edges: list[Edge], steps: int, title: str | None) -> None:
  """Draws the cell DAG described by ``edges`` onto ``fig``."""
  pos = _cell_layout(steps)
  kinds = {
      label: 'input' if label in INPUT_LABELS else 'output' if label == OUTPUT_LABEL else 'node'
      for label in pos
  }
  drawing.draw_dag(fig, pos, kinds, edges, title, DARTS_PRIMITIVES)


def _steps_for_edges(num_edges: int) -> int | None:
  """The number of nodes ``n`` with ``n (n + 3) / 2 == num_edges``, else None."""
  n = 1
  while n * (n + 3) // 2 < num_edges:
    n += 1
  return n if n * (n + 3) // 2 == num_edges else None


def alpha_edge_labels(num_edges: int) -> list[str]:
  """Labels of the mixed edges of a DARTS cell, in DARTS edge order.

  Node ``i`` (0-based) reads inputs ``j = 0 .. i + 1`` and its edge ``j`` has
  index ``i (i + 3) / 2 + j``. Labels read ``'n<i><-<input>'`` with inputs
  ``c_{k-2}``, ``c_{k-1}``, ``n0``, ``n1``, ...

  Args:
    num_edges: A DARTS edge count (2, 5, 9, 14, 20, ...).

  Returns:
    ``num_edges`` labels, e.g. ``['n0<-c_{k-2}', 'n0<-c_{k-1}', 'n1<-c_{k-2}', ...]``.

  Raises:
    ValueError: If ``num_edges`` is not a DARTS edge count.
  """
  steps = _steps_for_edges(num_edges) if is_int(num_edges) and num_edges > 0 else None
  if steps is None:
    raise ValueError(f'{num_edges!r} is not a DARTS edge count n*(n+3)/2 (2, 5, 9, 14, 20, ...)')
  sources = list(INPUT_LABELS) + [f'n{i}' for i in range(steps)]
  return [f'n{i}<-{sources[j]}' for i in range(steps) for j in range(i + 2)]


def edge_rows(num_edges: int) -> list[list[tuple[int, str]]]:
  """The alpha-history panels of a DARTS cell: one row per node, ``(edge row, label)`` per input.

  Raises:
    ValueError: if ``num_edges`` is not a DARTS edge count.
  """
  steps = _steps_for_edges(num_edges) if is_int(num_edges) and num_edges > 0 else None
  if steps is None:
    raise ValueError(f'{num_edges} edges, not a DARTS edge count n*(n+3)/2 (2, 5, 9, 14, 20, ...)')
  labels = alpha_edge_labels(num_edges)
  return [
      [(i * (i + 3) // 2 + j, labels[i * (i + 3) // 2 + j]) for j in range(i + 2)]
      for i in range(steps)
  ]


def plot_cell(
    pairs: Sequence[tuple[str, int]],
    concat: Sequence[int],
    path: PathLike,
    title: str | None = None,
) -> list[Edge]:
  """Draws a cell DAG and writes it as a PNG.

  Cell inputs (green) are on the left, intermediate nodes (blue) in order in
  the middle and the output ``c_{k}`` (yellow) on the right. Each op edge is
  an arrow coloured by op and labelled with the op name near its midpoint;
  dashed grey arrows feed the concatenated nodes into the output. Ops named
  ``'none'`` are not drawn.

  Args:
    pairs: ``(op_name, input_index)`` pairs, as in :func:`cell_edges`.
    concat: Node indices concatenated to form the output.
    path: Destination PNG; written atomically, parent directories created.
    title: Optional figure title.

  Returns:
    The edges drawn, i.e. ``cell_edges(pairs, concat)``.

  Raises:
    ValueError: For an invalid cell (one-line message).
    OSError: If the file cannot be written.
  """
  edges = cell_edges(pairs, concat)
  steps = len(pairs) // 2
  width = 1.4 * (steps - 1) + 4.0
  fig = Figure(figsize=(1.25 * width, 1.25 * 3.2 / (0.9 if title else 1.0)), dpi=100)
  _draw_cell(fig, edges, steps, title)
  drawing.save_figure(fig, path)
  return edges


def plot_genotype(genotype: Genotype, out_dir: PathLike) -> tuple[str, str]:
  """Draws both cells of a genotype.

  Args:
    genotype: The genotype.
    out_dir: Directory for ``cell_normal.png`` and ``cell_reduce.png``
      (created if missing).

  Returns:
    The paths of the normal and the reduction cell pictures.

  Raises:
    ValueError: If ``genotype`` is not a :class:`Genotype`.
    OSError: If a file cannot be written.
  """
  if not isinstance(genotype, Genotype):
    raise ValueError(f'plot_genotype expects a Genotype, got {type(genotype).__name__}')
  out_dir = os.fspath(out_dir)
  normal = os.path.join(out_dir, 'cell_normal.png')
  reduce = os.path.join(out_dir, 'cell_reduce.png')
  plot_cell(genotype.normal, genotype.normal_concat, normal, title='normal cell')
  plot_cell(genotype.reduce, genotype.reduce_concat, reduce, title='reduction cell')
  return normal, reduce
