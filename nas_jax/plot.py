"""Pictures of DARTS cells and of the architecture weights during a search.

* :func:`plot_cell` / :func:`plot_genotype`: the DAG of a discrete cell
  (inputs on the left, intermediate nodes in order, the output on the right,
  each edge labelled with its op); :func:`plot_nb201_cell` the same for a
  NAS-Bench-201 cell.
* :func:`plot_alpha_history`: softmax(alpha) of every mixed edge across the
  epochs of a search, one small panel per edge; :func:`alpha_history_from_metrics`
  reads such a history from a ``metrics.jsonl`` file.

Only numpy, matplotlib and :mod:`nas_jax.genotype` are used (no jax), and no
pyplot global state: figures are :class:`matplotlib.figure.Figure` objects
rendered by the Agg canvas, so the module works headless and in notebooks
whatever backend is active. Every PNG is written atomically (temporary file in
the same directory, then :func:`os.replace`).
"""

from __future__ import annotations

import io
import json
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch

from nas_jax.checkpoint import atomic_write
from nas_jax.genotype import DARTS_PRIMITIVES, Genotype

__all__ = [
    'alpha_edge_labels',
    'alpha_history_from_metrics',
    'cell_edges',
    'plot_alpha_history',
    'plot_cell',
    'plot_genotype',
    'plot_nb201_cell',
]

PathLike = Union[str, os.PathLike]
Edge = tuple[str, str, str]

INPUT_LABELS = ('c_{k-2}', 'c_{k-1}')
OUTPUT_LABEL = 'c_{k}'
CELL_TYPES = ('normal', 'reduce')

_NODE_COLOURS = {'input': '#b4e3b4', 'node': '#add8e6', 'output': '#eee8aa'}
_NODE_RADIUS = 0.3


def _one_line(text: str) -> str:
  """Collapses ``text`` onto one line so that error messages stay single-line."""
  return ' '.join(str(text).split())


def _is_int(value: Any) -> bool:
  """Returns whether ``value`` is an integer (``bool`` excluded)."""
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_sequence(value: Any) -> bool:
  """Returns whether ``value`` is a non-string sequence."""
  return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


# -- Cell DAG ---------------------------------------------------------------------


def _node_label(index: int) -> str:
  """Label of cell node ``index`` (0, 1: the cell inputs; 2 + j: node j)."""
  return INPUT_LABELS[index] if index < 2 else str(index - 2)


def _check_cell(pairs: Any, concat: Any) -> tuple[list[tuple[str, int]], list[int]]:
  """Validates one cell; returns its pairs and concat as plain lists.

  Raises:
    ValueError: With a one-line message naming the bad entry.
  """
  if not _is_sequence(pairs):
    raise ValueError(
        f'pairs: expected a list of (op, input) pairs, got {type(pairs).__name__}')
  if not pairs or len(pairs) % 2:
    raise ValueError(
        f'pairs: expected a non-empty, even number of (op, input) pairs (two per node), '
        f'got {len(pairs)}')
  checked = []
  for k, entry in enumerate(pairs):
    if not _is_sequence(entry) or len(entry) != 2:
      raise ValueError(f'pairs[{k}]: expected an (op, input) pair, got {_one_line(repr(entry))}')
    name, index = entry
    if not isinstance(name, str) or not name:
      raise ValueError(f'pairs[{k}]: op name must be a non-empty string, got '
                       f'{_one_line(repr(name))}')
    if not _is_int(index):
      raise ValueError(f'pairs[{k}]: input index must be an integer, got '
                       f'{_one_line(repr(index))}')
    node = k // 2
    if not 0 <= index < 2 + node:
      raise ValueError(f'pairs[{k}]: input index {index} out of range for node {node} '
                       f'(valid: 0..{1 + node})')
    checked.append((name, int(index)))
  steps = len(pairs) // 2
  if not _is_sequence(concat) and not isinstance(concat, range):
    raise ValueError(f'concat: expected a list of node indices, got {type(concat).__name__}')
  if not concat:
    raise ValueError('concat: must list at least one node')
  out = []
  for index in concat:
    if not _is_int(index):
      raise ValueError(f'concat: node index must be an integer, got {_one_line(repr(index))}')
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
  edges = [(_node_label(index), str(k // 2), name)
           for k, (name, index) in enumerate(pairs) if name != 'none']
  edges += [(_node_label(index), OUTPUT_LABEL, '') for index in concat]
  return edges


def _op_colours(names: Sequence[str]) -> dict[str, Any]:
  """A stable colour per op name: DARTS primitives keep their own colour."""
  palette = colormaps['tab10' if len(names) <= 10 else 'tab20']
  ordered = [n for n in DARTS_PRIMITIVES if n in names] + [n for n in names
                                                          if n not in DARTS_PRIMITIVES]
  if len(ordered) <= 10 and all(n in DARTS_PRIMITIVES for n in ordered):
    return {n: palette(DARTS_PRIMITIVES.index(n)) for n in ordered}
  return {n: palette(i % palette.N) for i, n in enumerate(ordered)}


def _cell_layout(steps: int) -> dict[str, tuple[float, float]]:
  """Node centres: inputs left, intermediate nodes zigzagging in order, output right."""
  pos = {INPUT_LABELS[0]: (0.0, 1.0), INPUT_LABELS[1]: (0.0, -1.0)}
  for i in range(steps):
    pos[str(i)] = (1.5 + 1.4 * i, 0.6 if i % 2 == 0 else -0.6)
  pos[OUTPUT_LABEL] = (1.5 + 1.4 * (steps - 1) + 1.5, 0.0)
  return pos


def _bezier(p0: np.ndarray, p1: np.ndarray, rad: float, t: np.ndarray) -> np.ndarray:
  """Points of matplotlib's ``arc3,rad=rad`` curve from ``p0`` to ``p1``.

  Valid in data coordinates because the cell axes have an equal aspect.
  """
  d = p1 - p0
  control = (p0 + p1) / 2 + rad * np.array([d[1], -d[0]])
  t = t[:, None]
  return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * control + t ** 2 * p1


def _choose_rad(p0: np.ndarray, p1: np.ndarray, others: list[np.ndarray],
                taken: set[float]) -> float:
  """A curvature whose arc keeps clear of the other nodes and of parallel edges."""
  t = np.linspace(0.05, 0.95, 40)
  clearance = _NODE_RADIUS * 1.3
  for rad in (0.0, 0.2, -0.2, 0.35, -0.35, 0.5, -0.5):
    if rad in taken:
      continue
    points = _bezier(p0, p1, rad, t)
    if all(np.min(np.linalg.norm(points - c, axis=1)) > clearance for c in others):
      return rad
  free = [r for r in (0.25, -0.25, 0.45, -0.45, 0.65, -0.65) if r not in taken]
  return free[0] if free else 0.8


def _draw_cell(fig: Figure, edges: list[Edge], steps: int, title: str | None) -> None:
  """Draws the cell DAG described by ``edges`` onto ``fig``."""
  pos = _cell_layout(steps)
  kinds = {label: 'input' if label in INPUT_LABELS else 'output' if label == OUTPUT_LABEL
           else 'node' for label in pos}
  _draw_dag(fig, pos, kinds, edges, title)


def _draw_dag(fig: Figure, pos: dict[str, tuple[float, float]], kinds: dict[str, str],
              edges: list[Edge], title: str | None) -> None:
  """Draws nodes at ``pos`` (coloured by ``kinds``) and labelled ``edges`` onto ``fig``."""
  ax = fig.add_axes((0.0, 0.0, 1.0, 0.9 if title else 1.0))
  xs = [p[0] for p in pos.values()]
  ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
  ax.set_ylim(-1.6, 1.6)
  ax.set_aspect('equal')
  ax.axis('off')
  if title:
    fig.suptitle(title, fontsize=12)
  circles = {}
  for label, centre in pos.items():
    kind = kinds[label]
    circle = Circle(centre, _NODE_RADIUS, facecolor=_NODE_COLOURS[kind], edgecolor='0.25',
                    linewidth=1.0, zorder=3)
    ax.add_patch(circle)
    circles[label] = circle
    text = f'${label}$' if kind != 'node' else label
    ax.text(centre[0], centre[1], text, ha='center', va='center', fontsize=10, zorder=4)
  colours = _op_colours(sorted({op for _, _, op in edges if op}))
  used: dict[tuple[str, str], set[float]] = {}
  for source, target, op in edges:
    p0, p1 = np.array(pos[source]), np.array(pos[target])
    others = [np.array(c) for label, c in pos.items() if label not in (source, target)]
    taken = used.setdefault((source, target), set())
    rad = _choose_rad(p0, p1, others, taken)
    taken.add(rad)
    colour = colours[op] if op else '0.55'
    arrow = FancyArrowPatch(tuple(p0), tuple(p1), patchA=circles[source], patchB=circles[target],
                            connectionstyle=f'arc3,rad={rad}', arrowstyle='-|>',
                            mutation_scale=12, color=colour, linewidth=1.4 if op else 1.0,
                            linestyle='-' if op else '--', zorder=2)
    ax.add_patch(arrow)
    if op:
      mid = _bezier(p0, p1, rad, np.array([0.5]))[0]
      ax.text(mid[0], mid[1], op, ha='center', va='center', fontsize=7, color=colour, zorder=5,
              bbox={'boxstyle': 'round,pad=0.15', 'facecolor': 'white', 'edgecolor': 'none',
                    'alpha': 0.85})


def _save_figure(fig: Figure, path: PathLike) -> None:
  """Renders ``fig`` as PNG to ``path`` atomically (temporary file, then rename).

  Missing parent directories are created; on any failure ``path`` is left as it was.
  """
  FigureCanvasAgg(fig)
  buf = io.BytesIO()
  fig.savefig(buf, format='png')
  atomic_write(os.fspath(path), buf.getvalue())


def plot_cell(pairs: Sequence[tuple[str, int]], concat: Sequence[int], path: PathLike,
              title: str | None = None) -> list[Edge]:
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
  _save_figure(fig, path)
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


def plot_nb201_cell(genotype: Any, path: PathLike, title: str | None = 'NB201 cell') -> list[Edge]:
  """Draws a NAS-Bench-201 cell and writes it as a PNG.

  Node 0 (the cell input, green) is on the left, nodes 1 and 2 (blue) in the
  middle and node 3 (the cell output, yellow) on the right; each edge is an
  arrow coloured and labelled by its op. Edges whose op is ``'none'`` are not
  drawn.

  Args:
    genotype: an :class:`nas_jax.nb201.NB201Genotype` (anything whose
      ``edges()`` gives ``(target, source, op)`` triples over nodes 0..3).
    path: destination PNG; written atomically, parent directories created.
    title: optional figure title.

  Returns:
    The edges drawn as ``(source, target, op)`` labels.

  Raises:
    ValueError: if an edge does not join two of the nodes 0..3 forwards.
    OSError: if the file cannot be written.
  """
  edges = []
  for target, source, op in genotype.edges():
    if not (_is_int(source) and _is_int(target) and 0 <= source < target <= 3):
      raise ValueError(f'NB201 edge {source!r} -> {target!r} is not an edge between nodes 0..3')
    if op != 'none':
      edges.append((str(source), str(target), str(op)))
  # Nodes 1 and 2 side by side above the 0 -> 3 edge: no two edge midpoints coincide.
  pos = {'0': (0.0, -0.5), '1': (1.5, 0.8), '2': (3.0, 0.8), '3': (4.5, -0.5)}
  kinds = {'0': 'input', '1': 'node', '2': 'node', '3': 'output'}
  fig = Figure(figsize=(1.25 * 5.5, 1.25 * 3.2 / (0.9 if title else 1.0)), dpi=100)
  _draw_dag(fig, pos, kinds, edges, title)
  _save_figure(fig, path)
  return edges


# -- Alpha history ----------------------------------------------------------------


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
  steps = _steps_for_edges(num_edges) if _is_int(num_edges) and num_edges > 0 else None
  if steps is None:
    raise ValueError(f'{num_edges!r} is not a DARTS edge count n*(n+3)/2 (2, 5, 9, 14, 20, ...)')
  sources = list(INPUT_LABELS) + [f'n{i}' for i in range(steps)]
  return [f'n{i}<-{sources[j]}' for i in range(steps) for j in range(i + 2)]


NB201_CELL = 'cell'  # the one cell type of a NAS-Bench-201 history (``nas_jax.nb201``)


def _history_cells(entry: Any) -> tuple[str, ...]:
  """The cell types of a history: ``('cell',)`` for an NB201 one, else DARTS' two."""
  if isinstance(entry, Mapping) and NB201_CELL in entry and not any(c in entry for c in CELL_TYPES):
    return (NB201_CELL,)
  return CELL_TYPES


def _edge_rows(cell: str, num_edges: int) -> list[list[tuple[int, str]]]:
  """The panels of one cell type: one row per node, ``(edge row, label)`` per input edge.

  DARTS: node ``i`` reads its ``i + 2`` inputs (:func:`alpha_edge_labels`).
  NB201: node ``t = 1..3`` reads nodes ``0..t-1``; labels ``'n<t><-<s>'``.
  """
  if cell == NB201_CELL:
    from nas_jax import nb201
    return [[(nb201.edge_index(t, s), f'n{t}<-{s}') for s in range(t)]
            for t in range(1, nb201.NUM_NODES)]
  labels = alpha_edge_labels(num_edges)
  steps = _steps_for_edges(num_edges)
  return [[(i * (i + 3) // 2 + j, labels[i * (i + 3) // 2 + j]) for j in range(i + 2)]
          for i in range(steps)]


def _check_history(history: Any, primitives: Any) -> dict[str, np.ndarray]:
  """Validates an alpha history; returns ``{cell: array (T, E, K)}``."""
  if not _is_sequence(primitives) or not primitives:
    raise ValueError(f'primitives: expected a non-empty list of op names, got '
                     f'{_one_line(repr(primitives))}')
  if not all(isinstance(p, str) for p in primitives) or len(set(primitives)) != len(primitives):
    raise ValueError(f'primitives: expected distinct op names, got {_one_line(repr(primitives))}')
  if isinstance(history, Mapping) or not _is_sequence(history):
    raise ValueError(f'history: expected a sequence of per-epoch mappings, got '
                     f'{type(history).__name__}')
  if not history:
    raise ValueError('history is empty: need at least one epoch')
  cells = _history_cells(history[0])
  stacked = {}
  for cell in cells:
    arrays = []
    for t, entry in enumerate(history):
      if not isinstance(entry, Mapping) or cell not in entry:
        raise ValueError(f'history[{t}]: expected a mapping with keys {cells}, got '
                         f'{type(entry).__name__} without {cell!r}')
      try:
        a = np.asarray(entry[cell], dtype=np.float64)
      except (TypeError, ValueError):
        raise ValueError(f'history[{t}][{cell!r}] is not a numeric array') from None
      if a.ndim != 2:
        raise ValueError(f'history[{t}][{cell!r}] must be 2-D (edges, ops), got shape {a.shape}')
      if arrays and a.shape != arrays[0].shape:
        raise ValueError(f'history[{t}][{cell!r}] has shape {a.shape}, but history[0] has '
                         f'{arrays[0].shape}')
      if a.shape[1] != len(primitives):
        raise ValueError(f'history[{t}][{cell!r}] has {a.shape[1]} ops per edge, but '
                         f'{len(primitives)} primitives were given')
      if cell == NB201_CELL:
        from nas_jax import nb201
        if a.shape[0] != nb201.NUM_EDGES:
          raise ValueError(f'history[{t}][{cell!r}] has {a.shape[0]} edges, but an NB201 cell '
                           f'has {nb201.NUM_EDGES}')
      elif _steps_for_edges(a.shape[0]) is None:
        raise ValueError(f'history[{t}][{cell!r}] has {a.shape[0]} edges, not a DARTS edge count '
                         'n*(n+3)/2 (2, 5, 9, 14, 20, ...)')
      if np.any(a < -1e-6) or np.any(a > 1 + 1e-6):
        raise ValueError(f'history[{t}][{cell!r}] has values outside [0, 1]: expected '
                         'softmax(alpha) probabilities, not raw alpha')
      arrays.append(a)
    stacked[cell] = np.stack(arrays)
  return stacked


def plot_alpha_history(history: Sequence[Mapping[str, Any]], primitives: Sequence[str],
                       path: PathLike, title: str | None = None) -> tuple[float, float]:
  """Plots softmax(alpha) of every mixed edge across the search epochs.

  For each cell type there is one small panel per edge, one row per node:
  in a DARTS cell row ``i`` holds the ``i + 2`` input edges of node ``i``
  (titled like ``'n1<-c_{k-1}'``), in an NB201 cell row ``t`` the ``t``
  input edges of node ``t`` (``'n2<-1'``). Each panel shows one line per op (same colours in every
  panel, one legend for the figure) against the epoch ``1 .. T``, with the
  y axis fixed to ``[0, 1]``.

  Args:
    history: One mapping per epoch with keys ``'normal'`` and ``'reduce'``
      (DARTS space), each an ``(E, K)`` array of op strengths in DARTS edge
      order (see :func:`alpha_edge_labels`), or the one key ``'cell'`` (NB201,
      ``(6, K)`` in ``nb201.EDGES`` order); ``K = len(primitives)``.
    primitives: The op names, in alpha column order.
    path: Destination PNG; written atomically, parent directories created.
    title: Optional figure title.

  Returns:
    The y range shared by the panels: ``[0, 1]`` (padded) once the values
    span more than 0.5, else zoomed on the data so that an early drift away
    from uniform is visible.

  Raises:
    ValueError: One line naming the problem, for an empty history, shapes
      that change between epochs, a wrong op count, an edge count that is not
      ``n (n + 3) / 2``, or values outside ``[0, 1]``.
    OSError: If the file cannot be written.
  """
  stacked = _check_history(history, primitives)
  cells = tuple(stacked)
  num_epochs = len(history)
  epochs = np.arange(1, num_epochs + 1)
  colours = _op_colours(list(primitives))
  grids = {cell: _edge_rows(cell, stacked[cell].shape[1]) for cell in cells}
  rows = max(len(g) for g in grids.values())
  cols = [max(len(r) for r in grids[cell]) for cell in cells]
  fig = Figure(figsize=(1.55 * sum(cols) + 0.5, 1.35 * rows + 1.2), dpi=100)
  subfigs = fig.subfigures(1, len(cells), width_ratios=cols, wspace=0.04, squeeze=False)[0]
  marker = 'o' if num_epochs <= 20 else None
  xticks = np.unique(np.linspace(1, num_epochs, min(num_epochs, 4)).round().astype(int))
  # One y range for every panel: [0, 1] once some op dominates, else zoomed on
  # the data, so that the early drift away from uniform (1/K) stays visible.
  lo = min(float(stacked[c].min()) for c in cells)
  hi = max(float(stacked[c].max()) for c in cells)
  if hi - lo > 0.5:
    lo, hi = 0.0, 1.0
  pad = max(0.05 * (hi - lo), 1e-4)
  ylim = (lo - pad, hi + pad)
  yticks = np.linspace(lo, hi, 3)
  for subfig, cell, width in zip(subfigs, cells, cols):
    probs = stacked[cell]
    grid_rows = grids[cell]
    n = len(grid_rows)
    subfig.suptitle(f'{cell} cell' if cell != NB201_CELL else 'NB201 cell', fontsize=11)
    grid = subfig.add_gridspec(rows, width, left=0.07, right=0.98, top=0.86, bottom=0.14,
                               hspace=0.6, wspace=0.12)
    for i, panels in enumerate(grid_rows):
      for j, (e, label) in enumerate(panels):
        ax = subfig.add_subplot(grid[i, j])
        for k, op in enumerate(primitives):
          ax.plot(epochs, probs[:, e, k], color=colours[op], linewidth=1.2, marker=marker,
                  markersize=2.5, label=op)
        ax.set_title(label, fontsize=8, pad=2)
        ax.set_ylim(*ylim)
        ax.set_xlim(0.5, num_epochs + 0.5)
        ax.set_xticks(xticks)
        ax.set_yticks(yticks)
        ax.set_yticklabels([f'{t:.3g}' for t in yticks])
        ax.tick_params(labelsize=6, length=2, pad=1)
        ax.grid(alpha=0.3, linewidth=0.5)
        if j:
          ax.tick_params(labelleft=False)
        if i != n - 1:
          ax.tick_params(labelbottom=False)
        else:
          ax.set_xlabel('epoch', fontsize=7, labelpad=1)
  handles = [fig.axes[0].lines[k] for k in range(len(primitives))]
  fig.legend(handles, list(primitives), loc='lower center', ncol=min(len(primitives), 8),
             fontsize=8, frameon=False)
  if title:
    fig.suptitle(title, fontsize=12, y=0.995)
  _save_figure(fig, path)
  return ylim


def alpha_history_from_metrics(path: PathLike) -> list[dict[str, np.ndarray]]:
  """Reads an alpha history from a ``metrics.jsonl`` file.

  Args:
    path: A file with one JSON object per line; lines with the keys
      ``'alpha_normal'`` and ``'alpha_reduce'`` (DARTS space) or
      ``'alpha_cell'`` (NB201), lists of lists of op strengths, contribute
      one epoch each; other lines and blank lines are skipped
      (``alpha_entropy_*`` keys are not alphas).

  Returns:
    ``[{'normal': array (E, K), 'reduce': array (E, K)}, ...]`` (or
    ``[{'cell': array (6, K)}, ...]``) in file order,
    ready for :func:`plot_alpha_history`.

  Raises:
    ValueError: One line naming the file and the (1-based) line number, for a
      line that is not a JSON object, has only one of the two DARTS keys, has
      other alpha keys than the lines before it, or holds
      a value that is not a 2-D list of numbers.
    OSError: If the file cannot be read.
  """
  path = os.fspath(path)
  history = []
  with open(path, encoding='utf-8') as f:
    for lineno, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(f'{path}: line {lineno} is not valid JSON ({e.msg} at column '
                         f'{e.colno})') from None
      if not isinstance(record, dict):
        raise ValueError(f'{path}: line {lineno} is not a JSON object')
      cells = sorted(k[len('alpha_'):] for k in record
                     if k.startswith('alpha_') and not k.startswith('alpha_entropy'))
      if not cells:
        continue
      if len(cells) == 1 and cells[0] in CELL_TYPES:
        raise ValueError(f'{path}: line {lineno} has only one of alpha_normal, alpha_reduce')
      if cells != [NB201_CELL] and cells != sorted(CELL_TYPES):
        raise ValueError(f'{path}: line {lineno} has alpha keys {["alpha_" + c for c in cells]}; '
                         'expected alpha_normal and alpha_reduce, or alpha_cell')
      if history and set(cells) != set(history[0]):
        raise ValueError(f'{path}: line {lineno} has other alpha keys than the lines before it')
      entry = {}
      for cell in cells:  # sorted: 'normal', 'reduce' or 'cell'
        try:
          a = np.asarray(record[f'alpha_{cell}'], dtype=np.float64)
        except (TypeError, ValueError):
          a = None
        if a is None or a.ndim != 2:
          raise ValueError(f'{path}: line {lineno}: alpha_{cell} is not a 2-D list of numbers')
        entry[cell] = a
      history.append(entry)
  return history
