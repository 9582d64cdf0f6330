"""The alpha history of a differentiable search, drawn and read back.

* :func:`plot_alpha_history`: the op strengths of every mixed edge across the
  epochs of a search, one small panel per edge laid out by the space's
  ``edge_rows``; :func:`alpha_history_from_metrics` reads such a history
  from a ``metrics.jsonl`` file.

The cell drawings are the spaces' own (``space.plot``, on :mod:`nas_jax.drawing`).
No jax and no pyplot global state; every PNG is written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
import os
from typing import Any

from matplotlib.figure import Figure
import numpy as np

from nas_jax.drawing import PathLike, is_sequence, op_colours, save_figure
from nas_jax.util import one_line

__all__ = [
    'alpha_history_from_metrics',
    'op_colours',
    'plot_alpha_history',
    'save_figure',
]

# -- Alpha history ----------------------------------------------------------------


def _history_space(entry: Any):
  """The registered search space whose cell types are the keys of a history entry."""
  from nas_jax import spaces  # here, not at the top: the spaces import jax, this module does not

  space = spaces.for_cells(entry.keys()) if isinstance(entry, Mapping) else None
  if space is None and isinstance(entry, Mapping):
    for name in spaces.NETWORK_NAMES:  # some of a space's cells: name the missing one
      cells = spaces.get(name).cells
      if set(cells) & set(entry):
        missing = next(c for c in cells if c not in entry)
        raise ValueError(
            f'history[0]: expected a mapping with keys {cells}, got one without ' f'{missing!r}'
        )
  if space is None:
    known = '; '.join(
        f'{name}: {", ".join(spaces.get(name).cells)}' for name in spaces.NETWORK_NAMES
    )
    keys = list(entry) if isinstance(entry, Mapping) else type(entry).__name__
    raise ValueError(
        f'history[0]: expected the cell types of a search space as keys ({known}), '
        f'got {one_line(keys)}'
    )
  return space


def _check_history(history: Any, primitives: Any, space=None) -> dict[str, np.ndarray]:
  """Validates an alpha history; returns ``{cell: array (T, E, K)}``."""
  if not is_sequence(primitives) or not primitives:
    raise ValueError(
        f'primitives: expected a non-empty list of op names, got ' f'{one_line(repr(primitives))}'
    )
  if not all(isinstance(p, str) for p in primitives) or len(set(primitives)) != len(primitives):
    raise ValueError(f'primitives: expected distinct op names, got {one_line(repr(primitives))}')
  if isinstance(history, Mapping) or not is_sequence(history):
    raise ValueError(
        f'history: expected a sequence of per-epoch mappings, got ' f'{type(history).__name__}'
    )
  if not history:
    raise ValueError('history is empty: need at least one epoch')
  space = space or _history_space(history[0])
  cells = space.cells
  stacked = {}
  for cell in cells:
    arrays = []
    for t, entry in enumerate(history):
      if not isinstance(entry, Mapping) or cell not in entry:
        raise ValueError(
            f'history[{t}]: expected a mapping with keys {cells}, got '
            f'{type(entry).__name__} without {cell!r}'
        )
      try:
        a = np.asarray(entry[cell], dtype=np.float64)
      except (TypeError, ValueError):
        raise ValueError(f'history[{t}][{cell!r}] is not a numeric array') from None
      if a.ndim != 2:
        raise ValueError(f'history[{t}][{cell!r}] must be 2-D (edges, ops), got shape {a.shape}')
      if arrays and a.shape != arrays[0].shape:
        raise ValueError(
            f'history[{t}][{cell!r}] has shape {a.shape}, but history[0] has ' f'{arrays[0].shape}'
        )
      if a.shape[1] != len(primitives):
        raise ValueError(
            f'history[{t}][{cell!r}] has {a.shape[1]} ops per edge, but '
            f'{len(primitives)} primitives were given'
        )
      try:
        space.edge_rows(cell, a.shape[0])
      except ValueError as e:
        raise ValueError(f'history[{t}][{cell!r}] has {e}') from None
      if np.any(a < -1e-6) or np.any(a > 1 + 1e-6):
        raise ValueError(
            f'history[{t}][{cell!r}] has values outside [0, 1]: expected '
            'softmax(alpha) probabilities, not raw alpha'
        )
      arrays.append(a)
    stacked[cell] = np.stack(arrays)
  return space, stacked


def plot_alpha_history(
    history: Sequence[Mapping[str, Any]],
    primitives: Sequence[str],
    path: PathLike,
    title: str | None = None,
    space=None,
) -> tuple[float, float]:
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
    space: the search space the history belongs to (its cells and edge layout); None:
      the registered space whose cell types are the history's keys.

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
  space, stacked = _check_history(history, primitives, space)
  cells = tuple(stacked)
  num_epochs = len(history)
  epochs = np.arange(1, num_epochs + 1)
  colours = op_colours(list(primitives), primitives)
  grids = {cell: space.edge_rows(cell, stacked[cell].shape[1]) for cell in cells}
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
    subfig.suptitle(space.cell_title(cell), fontsize=11)
    grid = subfig.add_gridspec(
        rows, width, left=0.07, right=0.98, top=0.86, bottom=0.14, hspace=0.6, wspace=0.12
    )
    for i, panels in enumerate(grid_rows):
      for j, (e, label) in enumerate(panels):
        ax = subfig.add_subplot(grid[i, j])
        for k, op in enumerate(primitives):
          ax.plot(
              epochs,
              probs[:, e, k],
              color=colours[op],
              linewidth=1.2,
              marker=marker,
              markersize=2.5,
              label=op,
          )
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
  fig.legend(
      handles,
      list(primitives),
      loc='lower center',
      ncol=min(len(primitives), 8),
      fontsize=8,
      frameon=False,
  )
  if title:
    fig.suptitle(title, fontsize=12, y=0.995)
  save_figure(fig, path)
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
  from nas_jax import spaces  # here, not at the top: the spaces import jax, this module does not

  path = os.fspath(path)
  history = []
  with open(path, encoding='utf-8') as f:
    for lineno, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(
            f'{path}: line {lineno} is not valid JSON ({e.msg} at column ' f'{e.colno})'
        ) from None
      if not isinstance(record, dict):
        raise ValueError(f'{path}: line {lineno} is not a JSON object')
      cells = sorted(
          k[len('alpha_') :]
          for k in record
          if k.startswith('alpha_') and not k.startswith('alpha_entropy')
      )
      if not cells:
        continue
      if spaces.for_cells(cells, exact=True) is None:
        part = next(
            (
                spaces.get(n).cells
                for n in spaces.NETWORK_NAMES
                if set(cells) < set(spaces.get(n).cells)
            ),
            None,
        )
        if part is not None:
          missing = ', '.join(f'alpha_{c}' for c in part if c not in cells)
          raise ValueError(f'{path}: line {lineno} lacks {missing} (a {len(part)}-cell space)')
        expected = '; or '.join(
            ', '.join(f'alpha_{c}' for c in spaces.get(n).cells) for n in spaces.NETWORK_NAMES
        )
        raise ValueError(
            f'{path}: line {lineno} has alpha keys {["alpha_" + c for c in cells]}; '
            f'expected {expected}'
        )
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
