"""What an architecture costs, as a function of its op weights: tables and the search's cost term.

A :class:`CostTable` holds, for each cell type, an ``(E, K)`` array: the cost that op ``k`` adds
when it sits on edge ``e``, summed over every cell of that type in the evaluation network, and
a ``base``, the cost of everything else (stem, preprocessing, head). The expected cost of a
search pass with op weights ``w`` is

    E[c] = base + sum_cells sum_e sum_k w[cell][e, k] * table[cell][e, k]

(ProxylessNAS' expected latency, FBNet's expected cost), and with one-hot weights it is the cost
of that cell. Tables:

* ``params`` and ``flops`` (multiply-adds of one image): exact. :func:`exact_tables` counts each
  op module at each edge of each cell of the evaluation network (``Space.cost_sites``), with the
  rules of ``nas_jax.netstats``; ``base`` is the whole network's count less its cells' ops.
* ``latency`` (microseconds of one inference at a batch): a lookup table measured on a backend
  (``nas_jax.tabular.latency``); it is refused for another backend, op set or network size.

:class:`CostTerm` adds the cost to the architecture loss in the forms of ProxylessNAS
(Cai et al., ICLR 2019; code: mit-han-lab/proxylessnas, ``search/`` ``--grad_reg_loss_type``)
as NNI offers them (``nni.nas.oneshot.pytorch.profiler.ExpectationProfilerPenalty``):

* ``'additive'`` (``add#linear``): ``loss + weight * (E[c] / target - 1)``;
* ``'multiplicative'`` (``mul#log``): ``loss * (log E[c] / log target) ** weight``. NNI's own
  ``aggregate='mul'`` multiplies by ``(E[c] / target) ** weight`` instead; we follow
  ProxylessNAS' logarithm. Costs and target must then exceed 1 in the table's unit.

Only the architecture's updates see the term (the weights train on the task loss alone, as in
ProxylessNAS); a weight of 0 leaves the search's program unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import netstats
from nas_jax.config_checks import ConfigError

__all__ = [
    'COSTS',
    'FORMS',
    'CostTable',
    'CostTerm',
    'exact_tables',
    'latency_table',
    'load_table',
    'measure_latency',
    'network_seconds',
    'save_table',
]

COSTS = ('params', 'flops', 'latency')
FORMS = ('additive', 'multiplicative')
UNITS = {'params': 'parameters', 'flops': 'multiply-adds', 'latency': 'microseconds'}


@dataclasses.dataclass(frozen=True)
class CostTable:
  """A network's cost as ``base`` plus a per-cell ``(E, K)`` table of op costs (module doc).

  Attributes:
    metric: ``'params'``, ``'flops'`` or ``'latency'``.
    base: the cost of everything but the cells' ops.
    ops: ``{cell: (E, K) array}``, the space's cell types and op set.
    metadata: what it was measured or counted for (network size, backend, batch).
  """

  metric: str
  base: float
  ops: Mapping[str, np.ndarray]
  metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def unit(self) -> str:
    return UNITS[self.metric]

  def expected(self, weights: Mapping[str, Any]) -> jax.Array:
    """``E[c]`` of op weights ``{cell: (E, K)}`` (an ``((E, K), (E,))`` pair's op part is
    used: edge weights scale a pass's outputs, not which ops the cell holds)."""
    total = jnp.asarray(self.base, jnp.float32)
    for cell, table in self.ops.items():
      w = weights[cell]
      w = w[0] if isinstance(w, tuple) else w
      total = total + jnp.sum(jnp.asarray(w, jnp.float32) * jnp.asarray(table, jnp.float32))
    return total

  def of_weights(self, weights: Mapping[str, Any]) -> float:
    """:meth:`expected` in float64 NumPy (reports; exact counts stay exact)."""
    total = float(self.base)
    for cell, table in self.ops.items():
      w = weights[cell]
      w = w[0] if isinstance(w, tuple) else w
      total += float(np.sum(np.asarray(w, np.float64) * table))
    return total

  def of_genotype(self, space, genotype) -> float:
    """The cost of ``genotype``'s network: :meth:`of_weights` of its one-hot weights."""
    return self.of_weights(space.one_hot(genotype))

  def cheapest(self) -> dict[str, np.ndarray]:
    """``{cell: (E,) index of the cheapest op on each edge}``."""
    return {cell: np.argmin(t, axis=-1) for cell, t in self.ops.items()}


def exact_tables(space, model, image_shape, genotype) -> dict[str, CostTable]:
  """``{'params': ..., 'flops': ...}`` of ``model``, the evaluation network ``space`` built for
  ``genotype`` (any genotype: only ``base`` is read from it), for one image of
  ``image_shape`` (H, W, C).

  Each op of the op set is counted at every edge of every cell (``space.cost_sites``), as the
  module it becomes there; modules of the same kind, size and stride are counted once.
  """
  k = len(space.primitives)
  tables = {m: {cell: np.zeros((space.num_edges, k)) for cell in space.cells} for m in COSTS[:2]}
  cache: dict[tuple, tuple[int, int]] = {}
  for site in space.cost_sites(model, image_shape):
    for j, name in enumerate(space.primitives):
      probe = site.make_op(name)
      key = (name, site.input_shape, repr(probe))
      if key not in cache:
        cache[key] = netstats.op_costs(probe, site.input_shape)
      params, macs = cache[key]
      tables['params'][site.cell][site.edge, j] += params
      tables['flops'][site.cell][site.edge, j] += macs
  whole = {
      'params': netstats.count_params(netstats.param_shapes(model, image_shape)),
      'flops': netstats.count_macs(model, image_shape),
  }
  one_hot = space.one_hot(genotype)
  out = {}
  for metric, ops_ in tables.items():
    cells = sum(float(np.sum(one_hot[c] * t)) for c, t in ops_.items())
    metadata = {'space': space.name, 'primitives': list(space.primitives)}
    out[metric] = CostTable(metric, whole[metric] - cells, ops_, metadata)
  return out


def latency_table(space, lut, batch: int) -> CostTable:
  """The latency cost (microseconds at ``batch``) of an NB201 network from a measured lookup
  table (``nas_jax.tabular.latency.LatencyTable``): every edge of every cell adds its op's
  entry at each stage, ``cells_per_stage`` times."""
  if batch not in lut.ops:
    raise ConfigError(f'the latency table has batches {sorted(lut.ops)}, not {batch}')
  per_edge = lut.metadata['cells_per_stage'] * lut.ops[batch].sum(axis=0) * 1e6  # (K,)
  ops_ = {cell: np.tile(per_edge, (space.num_edges, 1)) for cell in space.cells}
  return CostTable('latency', lut.base[batch] * 1e6, ops_, dict(lut.metadata, batch=batch))


@dataclasses.dataclass(frozen=True)
class CostTerm:
  """The cost added to the architecture loss (module doc).

  Attributes:
    table: the cost of op weights.
    target: the cost aimed at, in the table's unit (> 0; > 1 for the multiplicative form).
    weight: lambda (additive) or beta (multiplicative); 0 leaves the loss as it is.
    form: ``'additive'`` or ``'multiplicative'``.
  """

  table: CostTable
  target: float
  weight: float
  form: str = 'additive'

  def __post_init__(self):
    if self.form not in FORMS:
      raise ConfigError(f'config.cost.form must be one of {", ".join(FORMS)}, got {self.form!r}')
    if not self.target > 0:
      raise ConfigError(f'config.cost.target must be > 0, got {self.target!r}')
    if self.form == 'multiplicative' and not self.target > 1:
      raise ConfigError(
          f'config.cost.target must be > 1 {self.table.unit} for the multiplicative form '
          f'(log target divides), got {self.target!r}'
      )
    if not self.weight >= 0:
      raise ConfigError(f'config.cost.weight must be >= 0, got {self.weight!r}')

  @property
  def active(self) -> bool:
    return self.weight > 0

  def apply(self, loss: jax.Array, weights: Mapping[str, Any]) -> jax.Array:
    """``loss`` with the cost of ``weights`` added (additive) or multiplied in."""
    cost = self.table.expected(weights)
    if self.form == 'additive':
      return loss + self.weight * (cost / self.target - 1.0)
    return loss * (jnp.log(cost) / np.log(self.target)) ** self.weight


# --- latency lookup tables ----------------------------------------------------------------

_FLOOR_SECONDS = 1e-7  # an op XLA folds away ('none', an identity skip) still counts as present


def _op_seconds(op, input_shape, batch: int, runs: int, repeats: int) -> float:
  """Seconds of one application of ``op`` to a CNHW batch: ``repeats`` applications to
  distinct shifted inputs in one compiled program (their outputs summed), less the same
  program with the identity in place of ``op`` (the shifts, the sums and the dispatch), over
  ``repeats``."""
  from nas_jax.tabular.latency import median_seconds  # pylint: disable=import-outside-toplevel

  shape = (input_shape[0], batch, *input_shape[2:])
  x = jnp.ones(shape, jnp.float32)
  variables = op.init(jax.random.key(0), x, False)

  def many(apply):
    def program(x):
      total = 0.0
      for i in range(repeats):
        total = total + apply(x + 1e-3 * i)
      return total

    return jax.jit(program)

  with_op = median_seconds(many(lambda x: op.apply(variables, x, False)), x, runs)
  without = median_seconds(many(lambda x: x), x, runs)
  return max((with_op - without) / repeats, _FLOOR_SECONDS)


def network_seconds(model, image_shape, batch: int, runs: int = 30) -> float:
  """Median seconds of one compiled inference of the evaluation network ``model`` at ``batch``."""
  from nas_jax.tabular.latency import median_seconds  # pylint: disable=import-outside-toplevel

  x = jnp.zeros((batch, *image_shape), jnp.float32)
  variables = model.init(jax.random.key(0), x[:1], train=False)
  fn = jax.jit(lambda x: model.apply(variables, x, train=False)[0])
  return median_seconds(fn, x, runs)


def measure_latency(
    space,
    model,
    image_shape,
    genotype,
    batch: int,
    *,
    runs: int = 30,
    repeats: int = 8,
    network: Mapping[str, Any] | None = None,
) -> CostTable:
  """A latency lookup table (microseconds at ``batch``) of the evaluation network ``model``
  (built for ``genotype``), measured on this backend.

  Every op of the op set is timed as the module it becomes at each distinct place of the
  network (``Space.cost_sites``: per cell type, stride, channel width and size; a DARTS
  network's normal and reduction cells at each stage), ``'none'`` at a floor (XLA folds it
  away). ``base`` is ``model``'s measured inference less its cell's entries. The table's
  metadata names the backend, the batch and, from ``network`` (e.g. ``channels``,
  ``layers``), the network size it holds for.
  """
  k = len(space.primitives)
  table = {cell: np.zeros((space.num_edges, k)) for cell in space.cells}
  cache: dict[tuple, float] = {}
  for site in space.cost_sites(model, image_shape):
    for j, name in enumerate(space.primitives):
      probe = site.make_op(name)
      key = (name, site.input_shape, repr(probe))
      if key not in cache:
        cache[key] = (
            _FLOOR_SECONDS
            if name == 'none'
            else _op_seconds(probe, site.input_shape, batch, runs, repeats)
        )
      table[site.cell][site.edge, j] += cache[key] * 1e6
  whole = network_seconds(model, image_shape, batch, runs) * 1e6
  cells = sum(float(np.sum(space.one_hot(genotype)[c] * t)) for c, t in table.items())
  metadata = dict(
      space=space.name,
      primitives=list(space.primitives),
      image_shape=[int(d) for d in image_shape],
      batch=batch,
      backend=f'{jax.default_backend()}: {jax.devices()[0].device_kind}',
      runs=runs,
      repeats=repeats,
      measured_network_us=whole,
      **dict(network or {}),
  )
  return CostTable('latency', whole - cells, table, metadata)


def save_table(table: CostTable, path: str) -> None:
  """Writes ``table`` as JSON (atomically); :func:`load_table` reads it."""
  import json  # pylint: disable=import-outside-toplevel

  from nas_jax.util import atomic_write  # pylint: disable=import-outside-toplevel

  payload = dict(
      metric=table.metric,
      base=table.base,
      ops={cell: np.asarray(t).tolist() for cell, t in table.ops.items()},
      metadata=dict(table.metadata),
  )
  atomic_write(path, json.dumps(payload, indent=1) + '\n')


def load_table(path: str) -> CostTable:
  """A table written by :func:`save_table` (ConfigError, one line, if it is not one)."""
  import json  # pylint: disable=import-outside-toplevel

  try:
    with open(path) as f:
      raw = json.load(f)
    return CostTable(
        raw['metric'],
        float(raw['base']),
        {cell: np.asarray(t, np.float64) for cell, t in raw['ops'].items()},
        raw.get('metadata', {}),
    )
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ConfigError(f'{path} is not a cost table file ({e})') from None
