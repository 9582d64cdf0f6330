"""Pictures of NAS-Bench-201 cells (drawing and atomic PNG writes: :mod:`nas_jax.drawing`)."""

from __future__ import annotations

import os
from typing import Any

from matplotlib.figure import Figure

from nas_jax import drawing
from nas_jax.spaces.nb201.genotype import NUM_EDGES, NUM_NODES, edge_index
from nas_jax.spaces.nb201.ops import NB201_PRIMITIVES
from nas_jax.util import is_int

__all__ = ['edge_rows', 'plot_nb201_cell']

PathLike = str | os.PathLike
Edge = tuple[str, str, str]


def edge_rows(num_edges: int) -> list[list[tuple[int, str]]]:
  """The alpha-history panels of the NB201 cell: row ``t`` holds node ``t``'s input edges.

  Raises:
    ValueError: unless ``num_edges`` is 6.
  """
  if num_edges != NUM_EDGES:
    raise ValueError(f'{num_edges} edges, but an NB201 cell has {NUM_EDGES}')
  return [[(edge_index(t, s), f'n{t}<-{s}') for s in range(t)] for t in range(1, NUM_NODES)]


def plot_nb201_cell(genotype: Any, path: PathLike, title: str | None = 'NB201 cell') -> list[Edge]:
  """Draws a NAS-Bench-201 cell and writes it as a PNG.

  Node 0 (the cell input, green) is on the left, nodes 1 and 2 (blue) in the
  middle and node 3 (the cell output, yellow) on the right; each edge is an
  arrow coloured and labelled by its op. Edges whose op is ``'none'`` are not
  drawn.

  Args:
    genotype: an :class:`nas_jax.spaces.nb201.NB201Genotype` (anything whose
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
    if not (is_int(source) and is_int(target) and 0 <= source < target <= 3):
      raise ValueError(f'NB201 edge {source!r} -> {target!r} is not an edge between nodes 0..3')
    if op != 'none':
      edges.append((str(source), str(target), str(op)))
  # Nodes 1 and 2 side by side above the 0 -> 3 edge: no two edge midpoints coincide.
  pos = {'0': (0.0, -0.5), '1': (1.5, 0.8), '2': (3.0, 0.8), '3': (4.5, -0.5)}
  kinds = {'0': 'input', '1': 'node', '2': 'node', '3': 'output'}
  fig = Figure(figsize=(1.25 * 5.5, 1.25 * 3.2 / (0.9 if title else 1.0)), dpi=100)
  drawing.draw_dag(fig, pos, kinds, edges, title, NB201_PRIMITIVES)
  drawing.save_figure(fig, path)
  return edges
