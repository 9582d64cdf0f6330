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
* ``memory_inference`` and ``memory_training`` (XLA's peak bytes of a compiled program,
  ``nas_jax.memory``): peak memory is not a sum over ops (it is the most that is live at one
  time), so :func:`fit_table` fits the additive table that best explains measured networks
  (least squares) and reports how well it does on networks it did not see.

:class:`CostTerm` adds the cost to the architecture loss in the forms of ProxylessNAS
(Cai et al., ICLR 2019; code: mit-han-lab/proxylessnas, ``search/`` ``--grad_reg_loss_type``)
as NNI offers them (``nni.nas.oneshot.pytorch.profiler.ExpectationProfilerPenalty``):

* ``'additive'`` (``add#linear``): ``loss + weight * (E[c] / target - 1)``;
* ``'multiplicative'`` (``mul#log``): ``loss * (log E[c] / log target) ** weight``. NNI's own
  ``aggregate='mul'`` multiplies by ``(E[c] / target) ** weight`` instead; we follow
  ProxylessNAS' logarithm. Costs and target must then exceed 1 in the table's unit.

Only the architecture's updates see the term (the weights train on the task loss alone, as in
ProxylessNAS); a weight of 0 leaves the search's program unchanged.

**A hard target** (``CostTerm(hard=True)``, ``config.cost.hard``) also constrains the derived
cell: :func:`constrained_derive` reads it off the scores ``log s - mu * c / span`` (``s`` the
op strengths, ``c`` the table) with the space's own rule, for the smallest multiplier ``mu``
whose cell meets the target. This is the Lagrangian relaxation of "the strongest cell within
the budget" (as in FBNetV2's and TF-NAS' latency constraints, here applied at derivation): the
cell it returns is the strongest of all cells that cost no more than it does, though a cell
between its cost and the target may be stronger (the relaxation's duality gap).
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import netstats, util
from nas_jax.config_checks import ConfigError

__all__ = [
    'COSTS',
    'FORMS',
    'CostTable',
    'CostTerm',
    'Derived',
    'constrained_derive',
    'measured_derive',
    'edge_groups',
    'fit_checked',
    'exact_tables',
    'fill_gap',
    'fit_table',
    'latency_table',
    'load_table',
    'measure_latency',
    'network_seconds',
    'op_mixes',
    'check_settings',
    'save_table',
]

COSTS = ('params', 'flops', 'latency', 'memory_inference', 'memory_training')
FORMS = ('additive', 'multiplicative')
UNITS = {
    'params': 'parameters',
    'flops': 'multiply-adds',
    'latency': 'microseconds',
    'memory_inference': 'bytes',
    'memory_training': 'bytes',
}


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


def fit_table(
    space,
    genotypes,
    values,
    metric: str,
    *,
    tie_edges: bool = True,
    groups: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> CostTable:
  """The additive table ``base + sum w * table`` that fits ``values`` (one per genotype) best
  in least squares, with every op's cost >= 0 (``scipy.optimize.nnls``; ``base`` free).

  Edges in one group share each op's entry: ``groups`` ``{cell: (E,) group ids}`` (e.g.
  :func:`edge_groups` of a measured table: the edges that are the same place), else with
  ``tie_edges`` one group per cell type (an op's count per cell type is its feature: few
  unknowns, for few networks), else every edge its own. An op no genotype holds in a group
  gets 0. Where every genotype holds the same number of ops in a group, a constant per op
  cannot be told from ``base``: the cheapest op present there is 0.
  """
  from scipy import optimize  # pylint: disable=import-outside-toplevel

  values = np.asarray(values, np.float64)
  cells = list(space.cells)
  e, k = space.shape()
  if groups is None:
    groups = {c: np.zeros(e, int) if tie_edges else np.arange(e) for c in cells}
  groups = {c: np.unique(np.asarray(groups[c]), return_inverse=True)[1] for c in cells}
  hots = [space.one_hot(g) for g in genotypes]
  if len(hots) != len(values) or not len(hots):
    raise ValueError(f'fit_table needs one value per genotype, got {len(values)} and {len(hots)}')

  def features(h):
    parts = []
    for c in cells:
      summed = np.zeros((groups[c].max() + 1, k))
      np.add.at(summed, groups[c], h[c])
      parts.append(summed.ravel())
    return np.concatenate(parts)

  x = np.asarray([features(h) for h in hots], np.float64)
  # base is free: fit around the means, then read it back off them.
  x_mean, y_mean = x.mean(axis=0), values.mean()
  coef, _ = optimize.nnls(x - x_mean, values - y_mean)
  base = float(y_mean - x_mean @ coef)
  ops_, start = {}, 0
  for c in cells:
    n = groups[c].max() + 1
    block = coef[start : start + n * k].reshape(n, k)
    counts = x[:, start : start + n * k].reshape(len(x), n, k)
    for j in range(n):
      # Where every network holds the same number of ops in a group, only the ops' differences
      # are identifiable: the cheapest op present is set to 0 and its cost moves to base.
      held = counts[:, j].sum(axis=1)
      present = counts[:, j].any(axis=0)
      if np.all(held == held[0]) and present.any():
        shift = block[j, present].min()
        block[j, present] -= shift
        base += float(held[0] * shift)
    ops_[c] = block[groups[c]]
    start += n * k
  meta = dict(space=space.name, primitives=list(space.primitives), fitted_on=len(values))
  return CostTable(metric, base, ops_, dict(meta, **dict(metadata or {})))


def fit_checked(
    space,
    genotypes,
    values,
    metric: str,
    *,
    holdout: float = 0.5,
    seed: int = 0,
    worst: int = 5,
    metadata: Mapping[str, Any] | None = None,
    **fit_options,
) -> tuple[CostTable, dict[str, Any]]:
  """``(table, fit)``: :func:`fit_table` of every genotype, and ``fit``, how well the same fit
  on a random ``1 - holdout`` of them predicts the other ``holdout``: Kendall tau, Spearman
  rho, the mean, median, 95th percentile and largest absolute relative error, the range of
  the held-out values and the ``worst`` held-out genotypes (text, value, prediction). ``fit``
  is kept in the table's metadata. One-line ConfigErrors for a bad split."""
  import warnings  # pylint: disable=import-outside-toplevel

  from scipy import stats  # pylint: disable=import-outside-toplevel

  values = np.asarray(values, np.float64)
  if not 0 < holdout < 1:
    raise ConfigError(f'holdout must be in (0, 1), got {holdout!r}')
  order = np.random.default_rng(seed).permutation(len(values))
  cut = int(round(len(values) * (1 - holdout)))
  if cut < 2 or cut >= len(values) - 1:
    raise ConfigError(f'{len(values)} networks are too few to fit on and hold out {holdout}')
  seen, unseen = order[:cut], order[cut:]
  trial = fit_table(space, [genotypes[i] for i in seen], values[seen], metric, **fit_options)
  predicted = np.array([trial.of_genotype(space, genotypes[i]) for i in unseen])
  truth = values[unseen]
  error = np.abs(predicted - truth) / truth
  with warnings.catch_warnings():  # constant predictions: undefined, reported as None
    warnings.simplefilter('ignore', stats.ConstantInputWarning)
    tau, rho = stats.kendalltau(predicted, truth)[0], stats.spearmanr(predicted, truth)[0]
  fit = dict(
      fitted_cells=int(cut),
      held_out_cells=int(len(unseen)),
      kendall_tau=_finite(tau),
      spearman_rho=_finite(rho),
      mean_abs_error=float(error.mean()),
      median_abs_error=float(np.median(error)),
      p95_abs_error=float(np.percentile(error, 95)),
      max_abs_error=float(error.max()),
      held_out_range=[float(truth.min()), float(truth.max())],
      worst=[
          dict(
              genotype=space.to_text(genotypes[unseen[i]]),
              value=float(truth[i]),
              predicted=float(predicted[i]),
          )
          for i in np.argsort(-error)[:worst]
      ],
      seed=int(seed),
  )
  metadata = dict(metadata or {}, fit=fit)
  return fit_table(space, genotypes, values, metric, metadata=metadata, **fit_options), fit


def _finite(x) -> float | None:
  return float(x) if np.isfinite(x) else None


def op_mixes(space, n: int, seed: int = 1) -> list:
  """``n`` genotypes whose ops are drawn from skewed op mixes: each derives from uniform
  strengths scaled per op by a Dirichlet(0.3) preference, so that cells of mostly cheap and of
  mostly costly ops are both present (networks to fit a cost table on, :func:`fit_table`)."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    preference = rng.dirichlet(np.full(len(space.primitives), 0.3))
    out.append(space.derive({c: rng.uniform(size=space.shape()) * preference for c in space.cells}))
  return out


def edge_groups(table: CostTable) -> dict[str, np.ndarray]:
  """``{cell: (E,) group ids}``: the edges of a measured ``table`` whose rows are equal (the
  same place in the network: same input shape and stride) share a group (:func:`fit_table`)."""
  return {c: np.unique(t, axis=0, return_inverse=True)[1].ravel() for c, t in table.ops.items()}


def latency_table(space, lut, batch: int) -> CostTable:
  """The latency cost (microseconds at ``batch``) of an NB201 network from a measured lookup
  table (``nas_jax.tabular.latency.LatencyTable``): every edge of every cell adds its op's
  entry at each stage, ``cells_per_stage`` times."""
  if batch not in lut.ops:
    raise ConfigError(f'the latency table has batches {sorted(lut.ops)}, not {batch}')
  per_edge = lut.metadata['cells_per_stage'] * lut.ops[batch].sum(axis=0) * 1e6  # (K,)
  ops_ = {cell: np.tile(per_edge, (space.num_edges, 1)) for cell in space.cells}
  return CostTable('latency', lut.base[batch] * 1e6, ops_, dict(lut.metadata, batch=batch))


def check_settings(
    metric: str, target: Any, weight: Any, form: str, hard: Any = False, fill: Any = False
) -> None:
  """One-line ConfigErrors for a cost term's settings (before any table is built)."""
  unit = UNITS[metric]
  if form not in FORMS:
    raise ConfigError(f'config.cost.form must be one of {", ".join(FORMS)}, got {form!r}')
  if isinstance(target, bool) or not isinstance(target, (int, float)) or not target > 0:
    raise ConfigError(f'config.cost.target must be > 0 ({unit}), got {target!r}')
  if form == 'multiplicative' and not target > 1:
    raise ConfigError(
        f'config.cost.target must be > 1 {unit} for the multiplicative form '
        f'(log target divides), got {target!r}'
    )
  if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
    raise ConfigError(f'config.cost.weight must be >= 0, got {weight!r}')
  if not isinstance(hard, bool):
    raise ConfigError(f'config.cost.hard must be True or False, got {hard!r}')
  if not isinstance(fill, bool):
    raise ConfigError(f'config.cost.fill must be True or False, got {fill!r}')


@dataclasses.dataclass(frozen=True)
class CostTerm:
  """The cost added to the architecture loss (module doc).

  Attributes:
    table: the cost of op weights.
    target: the cost aimed at, in the table's unit (> 0; > 1 for the multiplicative form).
    weight: lambda (additive) or beta (multiplicative); 0 leaves the loss as it is.
    form: ``'additive'`` or ``'multiplicative'``.
    hard: the target also constrains the derived cell (:func:`constrained_derive`).
    measure: with ``hard``, the final cell's cost measured (``genotype -> cost``, in the table's
      unit), and the cell derived again until the measurement meets the target
      (:func:`measured_derive`); None: the table's prediction is the cost.
    fill: with ``hard``, the Lagrangian's cell is improved within the budget
      (:func:`fill_gap`).
  """

  table: CostTable
  target: float
  weight: float
  form: str = 'additive'
  hard: bool = False
  measure: Any = dataclasses.field(default=None, compare=False, repr=False)
  fill: bool = False

  def __post_init__(self):
    check_settings(self.table.metric, self.target, self.weight, self.form)

  @property
  def active(self) -> bool:
    return self.weight > 0

  def apply(self, loss: jax.Array, weights: Mapping[str, Any]) -> jax.Array:
    """``loss`` with the cost of ``weights`` added (additive) or multiplied in."""
    cost = self.table.expected(weights)
    if self.form == 'additive':
      return loss + self.weight * (cost / self.target - 1.0)
    return loss * (jnp.log(cost) / np.log(self.target)) ** self.weight

  def derive(self, strategy, arch) -> Derived:
    """The cell ``strategy`` derives from ``arch``, within the target when :attr:`hard`."""
    if self.hard:
      strengths = {k: np.asarray(v) for k, v in strategy.strengths(arch).items()}
      return constrained_derive(strategy.space, strengths, self.table, self.target, fill=self.fill)
    genotype = strategy.derive(arch)
    cost = self.table.of_genotype(strategy.space, genotype)
    return Derived(genotype, cost, 0.0, cost <= self.target)

  def final_derive(self, strategy, arch) -> Derived:
    """:meth:`derive`, and with :attr:`measure` the measured repair (:func:`measured_derive`):
    the search's final cell."""
    if not (self.hard and self.measure is not None):
      return self.derive(strategy, arch)
    strengths = {k: np.asarray(v) for k, v in strategy.strengths(arch).items()}
    return measured_derive(
        strategy.space, strengths, self.table, self.target, self.measure, fill=self.fill
    )


class Derived(NamedTuple):
  """A derived cell, its cost, the multiplier ``mu`` that chose it and whether it meets the
  target; with :func:`measured_derive`, ``rounds`` holds each try's ``(predicted, measured)``
  and ``feasible`` is about the measurement."""

  genotype: Any
  cost: float
  multiplier: float
  feasible: bool
  rounds: tuple = ()


_TINY = 1e-30  # log of a zero strength (an op the strategy switched off): very negative


def measured_derive(
    space,
    strengths: Mapping[str, Any],
    table: CostTable,
    target: float,
    measure,
    *,
    rounds: int = 5,
    fill: bool = False,
) -> Derived:
  """The hard target on a *measured* cost: :func:`constrained_derive` within a budget on the
  table's prediction, the cell measured (``measure(genotype)``, in the table's unit), and while
  the measurement exceeds ``target`` the budget is scaled by ``target / measured`` of the
  last cell's prediction and the cell derived again, at most ``rounds`` times. Returns the first
  cell measured within ``target``, else the cheapest measured one (``feasible`` False).

  The table ranks cells, but can be off by a factor at the cheap end (docs/costs.md); the
  loop corrects its scale where the cell is, with a few timings of whole networks.
  """
  budget, tried, best = float(target), [], None
  for _ in range(rounds):
    found = constrained_derive(space, strengths, table, budget, fill=fill)
    if any(found.genotype == g for g, _ in tried):
      break  # the budget no longer changes the cell
    measured = float(measure(found.genotype))
    tried.append((found.genotype, (found.cost, measured)))
    if best is None or measured < best[1]:
      best = (found, measured)
    if measured <= target:
      trace = tuple(r for _, r in tried)
      return found._replace(feasible=True, rounds=trace)
    budget = found.cost * target / measured
  trace = tuple(r for _, r in tried)
  return best[0]._replace(feasible=False, rounds=trace)


def _log_strengths(strengths: Mapping[str, Any]) -> dict[str, np.ndarray]:
  out = {}
  for cell, s in strengths.items():
    s = np.asarray(s[0] if isinstance(s, tuple) else s, np.float64)
    out[cell] = np.log(np.maximum(s, _TINY))
  return out


def fill_gap(
    space, strengths: Mapping[str, Any], table: CostTable, target: float, found: Derived
) -> Derived:
  """``found`` (a cell within ``target``) improved greedily within the budget: the
  Lagrangian's cell is on the hull of (cost, strength), and a stronger cell that costs more
  but still no more than ``target`` may lie in the gap to the next hull cell.

  Each round derives, for every (cell type, edge, op), the current cell with that op forced
  onto that edge (the space's own rule on the current cell's one-hot choices, that entry
  raised above them and the strengths breaking ties), and moves to the candidate with the
  largest sum of log strengths over its choices whose cost stays within ``target``, until no
  candidate improves. The result is at least as strong as ``found`` and within the budget; it
  is not guaranteed to be the strongest such cell.
  """
  logs = _log_strengths(strengths)
  score = lambda g: sum(float((h * logs[c]).sum()) for c, h in space.one_hot(g).items())
  tie = {c: np.exp(v - v.max()) * 1e-3 for c, v in logs.items()}  # in (0, 1e-3]
  current, best = found, score(found.genotype)
  while True:
    base = {
        c: np.asarray(h, np.float64) + tie[c] for c, h in space.one_hot(current.genotype).items()
    }
    step = None
    for cell, b in base.items():
      for e, k in np.ndindex(*b.shape):
        forced = b.copy()
        forced[e, k] = 2.0
        g = space.derive(dict(base, **{cell: forced}))
        cost = table.of_genotype(space, g)
        value = score(g)
        if cost <= target and value > best + 1e-12 and (step is None or value > step[2]):
          step = (g, cost, value)
    if step is None:
      return current
    current, best = current._replace(genotype=step[0], cost=step[1]), step[2]


def constrained_derive(
    space,
    strengths: Mapping[str, Any],
    table: CostTable,
    target: float,
    *,
    steps: int = 40,
    fill: bool = False,
) -> Derived:
  """The cell ``space`` derives from op ``strengths`` ``{cell: (E, K)}`` under the cost
  ``table``'s budget ``target`` (module doc): the derivation of ``exp(log s - mu * c / span)``
  (``span`` the table's largest entry, so ``mu`` is unitless) for the smallest ``mu >= 0``
  found whose cell costs at most ``target``. ``mu`` is scanned from 0 over a geometric grid up
  to 1e6, then bisected ``steps`` times between the last grid point over budget and the first
  within it. With no cell within budget on the grid, the cheapest one found is returned with
  ``feasible`` False. With ``fill``, a cell within budget is then improved by
  :func:`fill_gap`."""
  logs = _log_strengths(strengths)

  def at(mu: float):
    scores = {cell: np.exp(v - mu * table.ops[cell] / span) for cell, v in logs.items()}
    g = space.derive(scores)
    return g, table.of_genotype(space, g)

  span = max(float(np.max(np.abs(t))) for t in table.ops.values()) or 1.0
  g, cost = at(0.0)
  if cost <= target:
    return Derived(g, cost, 0.0, True)
  low, best = 0.0, (g, cost, 0.0)
  for mu in np.geomspace(1e-4, 1e6, 41):
    g, cost = at(float(mu))
    if cost <= target:
      high, found = float(mu), (g, cost)
      break
    low = float(mu)
    if cost < best[1]:
      best = (g, cost, float(mu))
  else:
    return Derived(*best, False)
  for _ in range(steps):
    mid = 0.5 * (low + high)
    g, cost = at(mid)
    if cost <= target:
      high, found = mid, (g, cost)
    else:
      low = mid
  derived = Derived(found[0], found[1], high, True)
  return fill_gap(space, strengths, table, target, derived) if fill else derived


# --- latency lookup tables ----------------------------------------------------------------

_FLOOR_SECONDS = 1e-7  # an op XLA folds away ('none', an identity skip) still counts as present


def _op_seconds(op, input_shape, batch: int, runs: int, repeats: int) -> float:
  """Seconds of one application of ``op`` to a CNHW batch: ``repeats`` applications to
  distinct shifted inputs in one compiled program (their outputs summed), less the same
  program with the identity in place of ``op`` (the shifts, the sums and the dispatch), over
  ``repeats``."""
  from nas_jax.util import median_seconds  # pylint: disable=import-outside-toplevel

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
  from nas_jax.util import median_seconds  # pylint: disable=import-outside-toplevel

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
      backend=util.backend_label(),
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
