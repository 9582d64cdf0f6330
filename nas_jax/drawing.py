"""Drawing shared by the spaces' cell plots: a labelled DAG on a figure and its atomic PNG.

Each space draws its cells with :func:`draw_dag` and writes them with :func:`save_figure`
(``nas_jax/spaces/<space>/plot.py``, reached as ``space.plot``). No jax and no pyplot
global state: figures are :class:`matplotlib.figure.Figure` objects rendered by the Agg
canvas, so this works headless and in notebooks whatever backend is active. Every PNG is
written atomically (temporary file in the same directory, then :func:`os.replace`).
"""

from __future__ import annotations

from collections.abc import Sequence
import io
import os
from typing import Any

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch
import numpy as np

from nas_jax.util import atomic_write

__all__ = ['draw_dag', 'is_sequence', 'op_colours', 'save_figure']

PathLike = str | os.PathLike
Edge = tuple[str, str, str]

_NODE_COLOURS = {'input': '#b4e3b4', 'node': '#add8e6', 'output': '#eee8aa'}
_NODE_RADIUS = 0.3


def is_sequence(value: Any) -> bool:
  """Returns whether ``value`` is a non-string sequence."""
  return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


# -- Cell DAG ---------------------------------------------------------------------


def op_colours(names: Sequence[str], order: Sequence[str] = ()) -> dict[str, Any]:
  """A stable colour per op name: the ops of ``order`` (a space's op set) keep their own colour."""
  palette = colormaps['tab10' if max(len(names), len(order)) <= 10 else 'tab20']
  ordered = [n for n in order if n in names] + [n for n in names if n not in order]
  if len(order) <= palette.N and all(n in order for n in ordered):
    return {n: palette(list(order).index(n)) for n in ordered}
  return {n: palette(i % palette.N) for i, n in enumerate(ordered)}


def _bezier(p0: np.ndarray, p1: np.ndarray, rad: float, t: np.ndarray) -> np.ndarray:
  """Points of matplotlib's ``arc3,rad=rad`` curve from ``p0`` to ``p1``.

  Valid in data coordinates because the cell axes have an equal aspect.
  """
  d = p1 - p0
  control = (p0 + p1) / 2 + rad * np.array([d[1], -d[0]])
  t = t[:, None]
  return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * control + t**2 * p1


def _choose_rad(
    p0: np.ndarray, p1: np.ndarray, others: list[np.ndarray], taken: set[float]
) -> float:
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


def draw_dag(
    fig: Figure,
    pos: dict[str, tuple[float, float]],
    kinds: dict[str, str],
    edges: list[Edge],
    title: str | None,
    order: Sequence[str] = (),
) -> None:
  """Draws nodes at ``pos`` (coloured by ``kinds``) and labelled ``edges`` onto ``fig``.

  ``kinds`` maps a node label to ``'input'``, ``'node'`` or ``'output'``;
  an edge is ``(source, target, op)`` (op ``''``: a dashed unlabelled
  arrow); ``order`` fixes the op colours (see :func:`op_colours`).
  """
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
    circle = Circle(
        centre,
        _NODE_RADIUS,
        facecolor=_NODE_COLOURS[kind],
        edgecolor='0.25',
        linewidth=1.0,
        zorder=3,
    )
    ax.add_patch(circle)
    circles[label] = circle
    text = f'${label}$' if kind != 'node' else label
    ax.text(centre[0], centre[1], text, ha='center', va='center', fontsize=10, zorder=4)
  colours = op_colours(sorted({op for _, _, op in edges if op}), order)
  used: dict[tuple[str, str], set[float]] = {}
  for source, target, op in edges:
    p0, p1 = np.array(pos[source]), np.array(pos[target])
    others = [np.array(c) for label, c in pos.items() if label not in (source, target)]
    taken = used.setdefault((source, target), set())
    rad = _choose_rad(p0, p1, others, taken)
    taken.add(rad)
    colour = colours[op] if op else '0.55'
    arrow = FancyArrowPatch(
        tuple(p0),
        tuple(p1),
        patchA=circles[source],
        patchB=circles[target],
        connectionstyle=f'arc3,rad={rad}',
        arrowstyle='-|>',
        mutation_scale=12,
        color=colour,
        linewidth=1.4 if op else 1.0,
        linestyle='-' if op else '--',
        zorder=2,
    )
    ax.add_patch(arrow)
    if op:
      mid = _bezier(p0, p1, rad, np.array([0.5]))[0]
      ax.text(
          mid[0],
          mid[1],
          op,
          ha='center',
          va='center',
          fontsize=7,
          color=colour,
          zorder=5,
          bbox={
              'boxstyle': 'round,pad=0.15',
              'facecolor': 'white',
              'edgecolor': 'none',
              'alpha': 0.85,
          },
      )


def save_figure(fig: Figure, path: PathLike) -> None:
  """Renders ``fig`` as PNG to ``path`` atomically (temporary file, then rename).

  Missing parent directories are created; on any failure ``path`` is left as it was.
  """
  FigureCanvasAgg(fig)
  buf = io.BytesIO()
  fig.savefig(buf, format='png')
  atomic_write(os.fspath(path), buf.getvalue())
