"""The ``Table``: every cell of a space, trained, in one compact file.

A table is a compressed ``.npz`` file (format version :data:`FORMAT_VERSION`)
holding, for ``A`` cells (one row per isomorphism class, keyed by the space's
canonical hash), ``S`` seeds and ``E`` epochs:

* ``hashes`` (A,) and ``archs`` (A, D): the hash and one decision tuple of each row;
* ``seeds`` (S,);
* ``epoch/<metric>`` (A, S, E) for :data:`EPOCH_METRICS` (train, val and test
  loss and accuracy after each epoch);
* ``seed/<metric>`` (A, S) for :data:`SEED_METRICS` (noise and FGSM accuracy
  after training, the train seconds), and ``eval_seconds`` where the table's
  source recorded what one evaluation of the search metric costs (NATS-Bench's
  ``valid-per-time``; ``nas_jax.tabular.nats``; our builder records none);
* ``arch/<metric>`` (A,) for the per-architecture costs (``params``, ``flops``:
  multiply-adds of one image, and ``latency_b1`` / ``latency_batch``: predicted
  inference seconds from the latency lookup table, when one was given;
  ``memory_inference`` / ``memory_training``: XLA's peak bytes of the compiled inference and
  training step at the protocol's batch, when the memory pass was run:
  ``python -m experiments.table_memory``);
* ``metadata``: a JSON string (format version, space, op set, hash rule,
  protocol, dataset, seeds, the robustness settings, build cost, provenance).

A value not measured is NaN. Epochs are counted from 1: ``epoch=k`` is the
value after ``k`` epochs; ``epoch=None`` is the last.
"""

from __future__ import annotations

from collections.abc import Sequence
import io
import json
from typing import Any

import numpy as np

from nas_jax.spaces import decisions
from nas_jax.util import atomic_write, one_line

__all__ = ['ARCH_METRICS', 'EPOCH_METRICS', 'FORMAT_VERSION', 'SEED_METRICS', 'Table', 'TableError']

FORMAT_VERSION = 1
EPOCH_METRICS = ('train_loss', 'train_acc', 'val_loss', 'val_acc', 'test_loss', 'test_acc')
SEED_METRICS = ('noise_acc', 'fgsm_acc', 'train_seconds')
ARCH_METRICS = (
    'params',
    'flops',
    'latency_b1',
    'latency_batch',
    'memory_inference',
    'memory_training',
)
# Metrics where smaller is better (rank and percentile flip for them).
LOWER_IS_BETTER = frozenset(
    {'train_loss', 'val_loss', 'test_loss', 'train_seconds', 'eval_seconds', 'latency'}
    | set(ARCH_METRICS)
)
# The row lookup of the vectorized query covers spaces up to this many decision vectors.
_MAX_DENSE_INDEX = 2_000_000


class TableError(ValueError):
  """A table file or query that cannot be used; the message is one line."""


class Table:
  """A tabular benchmark in memory (see the module docstring for the layout).

  Args:
    hashes: (A,) canonical hashes of the rows.
    archs: (A, D) one decision tuple per row.
    seeds: (S,) the seeds.
    epoch: ``{metric: (A, S, E)}``.
    seed: ``{metric: (A, S)}``.
    arch: ``{metric: (A,)}``.
    metadata: JSON-able facts (``space``, ``primitives``, ``hash_rule``, ``protocol``, ...).
  """

  def __init__(
      self,
      hashes: Sequence[str],
      archs: np.ndarray,
      seeds: Sequence[int],
      epoch: dict[str, np.ndarray],
      seed: dict[str, np.ndarray],
      arch: dict[str, np.ndarray],
      metadata: dict[str, Any],
  ):
    self.hashes = [str(h) for h in hashes]
    self.archs = np.asarray(archs, np.int32)
    self.seeds = [int(s) for s in seeds]
    self.epoch = {k: np.asarray(v, np.float32) for k, v in epoch.items()}
    self.seed = {k: np.asarray(v, np.float32) for k, v in seed.items()}
    self.arch = {k: np.asarray(v, np.float64) for k, v in arch.items()}
    self.metadata = dict(metadata)
    a, s = len(self.hashes), len(self.seeds)
    if self.archs.ndim != 2 or len(self.archs) != a:
      raise TableError(f'table archs must be ({a}, D), got {self.archs.shape}')
    if len(set(self.hashes)) != a:
      raise TableError('table hashes are not unique')
    for name, values in self.epoch.items():
      if values.ndim != 3 or values.shape[:2] != (a, s):
        raise TableError(f'table epoch/{name} must be ({a}, {s}, E), got {values.shape}')
    for name, values in self.seed.items():
      if values.shape != (a, s):
        raise TableError(f'table seed/{name} must be ({a}, {s}), got {values.shape}')
    for name, values in self.arch.items():
      if values.shape != (a,):
        raise TableError(f'table arch/{name} must be ({a},), got {values.shape}')
    self._row = {h: i for i, h in enumerate(self.hashes)}
    self._space = None
    self._dense = None

  # --- identity ---------------------------------------------------------------------------------
  def __len__(self) -> int:
    return len(self.hashes)

  @property
  def num_epochs(self) -> int:
    return next(iter(self.epoch.values())).shape[2] if self.epoch else 0

  @property
  def metrics(self) -> tuple[str, ...]:
    return tuple(self.epoch) + tuple(self.seed) + tuple(self.arch)

  @property
  def space(self):
    """The space the rows belong to (from the metadata)."""
    if self._space is None:
      from nas_jax import spaces  # pylint: disable=import-outside-toplevel

      meta = self.metadata
      options = {'hash_rule': meta['hash_rule']} if 'hash_rule' in meta else {}
      self._space = spaces.get(meta['space'], tuple(meta['primitives']), **options)
    return self._space

  def row(self, arch_or_hash) -> int:
    """The row of an architecture (decision tuple or genotype) or of a hash."""
    if isinstance(arch_or_hash, str):
      key = arch_or_hash
    else:
      arch = arch_or_hash
      if not isinstance(arch, (tuple, list, np.ndarray)):
        arch = self.space.from_genotype(arch)
      key = self.space.hash(tuple(int(a) for a in arch))
    if key not in self._row:
      raise TableError(f'the table has no row for {one_line(arch_or_hash)!r} (hash {key})')
    return self._row[key]

  # --- values -----------------------------------------------------------------------------------
  def values(self, metric: str, epoch: int | None = None, seed: int | None = None) -> np.ndarray:
    """(A,) values of ``metric`` for every row: after ``epoch`` (1-based; None: the last), for
    ``seed`` (None: the mean over the measured seeds)."""
    if metric in self.arch:
      return self.arch[metric]
    if metric in self.epoch:
      e = self.num_epochs if epoch is None else epoch
      if not (isinstance(e, (int, np.integer)) and 1 <= e <= self.num_epochs):
        raise TableError(f'epoch must be in 1..{self.num_epochs} (or None), got {epoch!r}')
      per_seed = self.epoch[metric][:, :, e - 1]
    elif metric in self.seed:
      per_seed = self.seed[metric]
    else:
      raise TableError(f'unknown table metric {metric!r}; known: {", ".join(self.metrics)}')
    if seed is None:
      with np.errstate(all='ignore'):
        counts = np.sum(~np.isnan(per_seed), axis=1)
        sums = np.nansum(per_seed, axis=1)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    if seed not in self.seeds:
      raise TableError(f'seed {seed!r} is not in the table; its seeds: {self.seeds}')
    return per_seed[:, self.seeds.index(seed)]

  def query(self, arch, metric: str = 'test_acc', epoch: int | None = None, seed=None) -> float:
    """One value: ``metric`` of ``arch`` (decision tuple, genotype or hash); see :meth:`values`."""
    return float(self.values(metric, epoch, seed)[self.row(arch)])

  def rows_of(self, archs: np.ndarray) -> np.ndarray:
    """The rows of a batch of decision tuples (..., D), via the dense index of the space."""
    return self.dense_rows()[np.asarray(archs) @ decisions.radix(self.space.options)]

  def dense_rows(self) -> np.ndarray:
    """``space.index(arch) -> row`` for every decision vector (-1: no row), from the space's
    cached class index."""
    if self._dense is None:
      space = self.space
      if space.size() > _MAX_DENSE_INDEX:
        raise TableError(
            f'the {space.name} space has {space.size()} architectures, too many for the dense '
            f'row index (at most {_MAX_DENSE_INDEX})'
        )
      ids, hashes = space.class_index()
      self._dense = np.asarray([self._row.get(h, -1) for h in hashes], np.int32)[ids]
    return self._dense

  def lookup(self, metric: str = 'test_acc', epoch: int | None = None, seed: int | None = None):
    """A jittable ``f(archs) -> values``: ``archs`` an int array (..., D) of decision tuples.

    The vectorized form of :meth:`query` (an array gather), for searches that
    run under ``jax.jit``/``vmap``. A decision vector without a row gives NaN.
    """
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

    values = np.append(self.values(metric, epoch, seed), np.nan).astype(np.float32)
    table = jnp.asarray(values)
    dense = jnp.asarray(self.dense_rows())
    radix = jnp.asarray(decisions.radix(self.space.options).astype(np.int32))

    def f(archs):
      rows = dense[jnp.asarray(archs, jnp.int32) @ radix]
      return table[jnp.where(rows < 0, len(values) - 1, rows)]

    return f

  # --- summaries --------------------------------------------------------------------------------
  def _ordered(self, metric):
    v = self.values(metric)
    return -v if metric not in LOWER_IS_BETTER else v  # ascending = better first

  def best(self, metric: str = 'test_acc', k: int = 1) -> list[tuple[str, float]]:
    """The ``k`` best rows by ``metric`` (seed mean, last epoch): ``[(hash, value)]``."""
    key = self._ordered(metric)
    order = [i for i in np.argsort(key, kind='stable') if not np.isnan(key[i])]
    v = self.values(metric)
    return [(self.hashes[i], float(v[i])) for i in order[:k]]

  def rank(self, arch, metric: str = 'test_acc') -> int:
    """1 for the best row; ties share the better rank."""
    key = self._ordered(metric)
    mine = key[self.row(arch)]
    return int(np.sum(key[~np.isnan(key)] < mine)) + 1

  def percentile(self, arch, metric: str = 'test_acc') -> float:
    """The percentage of measured rows that ``arch`` is at least as good as (100: the best)."""
    return float(self.percentiles(metric)[self.row(arch)])

  def query_seconds(self, epoch: int | None = None) -> np.ndarray:
    """(rows,) the seed-mean simulated seconds of one query read after ``epoch`` epochs (None:
    the last): the train seconds pro rata, plus the eval seconds where the table records them
    (NATS-Bench's ``simulate_train_eval`` charges both), as ``TabularEstimator`` charges."""
    epochs = self.num_epochs if epoch is None else epoch
    if 'train_seconds' not in self.seed:  # no train times recorded: unknown
      return np.full(len(self), np.nan)
    seconds = self.values('train_seconds') * epochs / self.num_epochs
    if 'eval_seconds' in self.seed:
      seconds = seconds + self.values('eval_seconds')
    return seconds

  def percentiles(self, metric: str) -> np.ndarray:
    """:meth:`percentile` of every row (0 for an unmeasured one)."""
    key = self._ordered(metric)  # ascending = better
    valid = np.sort(key[~np.isnan(key)])
    # the share of measured rows whose key is >= the row's (ties count for it)
    return 100.0 * (len(valid) - np.searchsorted(valid, key, side='left')) / len(valid)

  def summary(self, metric: str = 'test_acc') -> dict[str, Any]:
    """Best, median and worst rows and the quantiles of ``metric``."""
    v = self.values(metric)
    valid = ~np.isnan(v)
    key = self._ordered(metric)
    order = [i for i in np.argsort(key, kind='stable') if valid[i]]
    pick = lambda i: dict(hash=self.hashes[i], arch=self.archs[i].tolist(), value=float(v[i]))
    return dict(
        metric=metric,
        rows=int(valid.sum()),
        best=pick(order[0]),
        median=pick(order[len(order) // 2]),
        worst=pick(order[-1]),
        quantiles={
            str(q): float(np.quantile(v[valid], q)) for q in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
        },
    )

  def report(self, arch, metric: str = 'test_acc') -> dict[str, Any]:
    """Ground truth for one found cell: its value, rank, percentile and regret to the best row.

    ``value`` is NaN (and rank, percentile, regret None) when the cell's row is not
    measured yet (a partial table).
    """
    row = self.row(arch)
    v = self.values(metric)
    best_hash, best = self.best(metric)[0]
    out = dict(hash=self.hashes[row], value=float(v[row]), best=best, best_hash=best_hash)
    out['measured_rows'] = int(np.sum(~np.isnan(v)))
    if np.isnan(v[row]):
      return dict(out, rank=None, percentile=None, regret=None)
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    return dict(
        out,
        rank=self.rank(arch, metric),
        percentile=self.percentile(arch, metric),
        regret=float(sign * (v[row] - best)) + 0.0,  # never -0.0
    )

  def _architecture_rows(self) -> np.ndarray:
    """The row of every architecture of the space (``space.enumerate()``), one entry per
    architecture, so a cell weighs as many as its isomorphic forms; rows the table lacks
    are left out."""
    rows = self.rows_of(np.asarray(list(self.space.enumerate())))
    return rows[rows >= 0]

  def random_baseline(self, metric: str = 'test_acc') -> dict[str, Any]:
    """What a uniformly random architecture of the space scores, exactly.

    Every architecture of the space counts (``space.enumerate()``), not every row: a
    cell weighs as much as it has isomorphic forms, as it does for a search that
    samples decisions uniformly. Over the architectures whose row is measured:
    ``values``, ``percentiles`` and ``regrets`` (arrays, one per architecture), their
    ``mean``/``std``, ``percentile``/``regret`` means, and the counts ``archs`` and
    ``measured``.
    """
    rows = self._architecture_rows()
    key = self._ordered(metric)  # ascending = better
    measured = rows[~np.isnan(key[rows])]
    pct = self.percentiles(metric)[measured]
    regret = key[measured] - np.nanmin(key)
    values = self.values(metric)[measured]
    return dict(
        archs=self.space.size(),
        measured=len(measured),
        values=values,
        percentiles=pct,
        regrets=regret + 0.0,
        mean=float(np.mean(values)) if len(values) else float('nan'),
        std=float(np.std(values)) if len(values) else float('nan'),
        percentile=float(np.mean(pct)) if len(pct) else float('nan'),
        regret=float(np.mean(regret)) if len(regret) else float('nan'),
    )

  def random_search(
      self, budgets, select: str = 'val_acc', metric: str = 'test_acc'
  ) -> dict[int, dict[str, float]]:
    """What random search scores after each of ``budgets`` queries, exactly.

    NB201's protocol (``nas_jax.discrete`` with a ``TabularEstimator``, ``seed='random'``):
    each query draws an architecture uniformly from the space, with replacement, and
    reads its ``select`` value at one of its measured seeds drawn uniformly; the answer
    is the best-``select`` query so far (ties keep the earlier one), reported by its
    row's ``metric`` (seed mean), percentile and regret. Over the pool of equally likely
    (architecture, seed) draws grouped by ``select`` value, the best of ``n`` draws falls
    in group ``g`` with probability ``F_g^n - F_{g-1}^n`` (``F``: the cumulative share up
    to ``g``), and within a tied group on each member equally; the expectation sums over
    the groups. Returns ``{n: {value, percentile, regret}}``.
    """
    rows = self._architecture_rows()
    key = self._ordered(metric)
    report = self.values(metric)
    pct = self.percentiles(metric)
    regret = key - np.nanmin(key)
    per_seed = np.stack([self.values(select, seed=s)[rows] for s in self.seeds])
    count = (~np.isnan(per_seed)).sum(0)
    sel, w, rep, per, reg = [], [], [], [], []
    for v in per_seed:
      ok = ~np.isnan(v)
      sel.append(v[ok])
      w.append(1.0 / count[ok])  # each architecture's measured seeds share its draw
      rep.append(report[rows][ok])
      per.append(pct[rows][ok])
      reg.append(regret[rows][ok])
    sel, w = np.concatenate(sel), np.concatenate(w)
    rep, per, reg = np.concatenate(rep), np.concatenate(per), np.concatenate(reg)
    if select in LOWER_IS_BETTER:
      sel = -sel
    values, group = np.unique(sel, return_inverse=True)  # ascending: the last group is best
    weight = np.bincount(group, w)
    share = np.cumsum(weight) / weight.sum()
    mean_of = lambda x: np.bincount(group, w * x) / weight
    per_group = {'value': mean_of(rep), 'percentile': mean_of(per), 'regret': mean_of(reg)}
    out = {}
    for n in budgets:
      p = share**n - np.concatenate([[0.0], share[:-1]]) ** n
      out[int(n)] = {k: float(np.sum(p * v)) for k, v in per_group.items()}
    return out

  def pareto(self, metric: str = 'test_acc', cost: str = 'params') -> list[int]:
    """The rows on the front of ``metric`` against ``cost``, by increasing cost.

    A measured row is on the front when no other row is at least as good on both
    and strictly better on one (directions from :data:`LOWER_IS_BETTER`); rows tied on both
    are all on it or all off it.
    """
    value, price = self._ordered(metric), self._ordered(cost)  # both: smaller is better
    rows = [i for i in range(len(self)) if not (np.isnan(value[i]) or np.isnan(price[i]))]
    rows.sort(key=lambda i: (price[i], value[i]))
    front, best = [], np.inf
    for i in rows:
      # A row tied with the last front row on both is not dominated by it: both are kept.
      tie = front and value[i] == best and price[i] == price[front[-1]]
      if value[i] < best or tie:
        front.append(i)
        best = value[i]
    return front

  def complete(self) -> bool:
    """Whether every row has every epoch and seed metric for every seed."""
    return all(not np.isnan(x).any() for x in list(self.epoch.values()) + list(self.seed.values()))

  def with_arch_columns(
      self, columns: dict[str, np.ndarray], drop: Sequence[str] = (), **metadata
  ) -> Table:
    """A copy with the per-architecture columns named in ``drop`` removed, ``columns`` added
    (or replaced) and ``metadata`` merged into its metadata; the rows, seeds and other
    metrics are shared."""
    kept = {k: v for k, v in self.arch.items() if k not in drop}
    return Table(
        self.hashes,
        self.archs,
        self.seeds,
        self.epoch,
        self.seed,
        dict(kept, **columns),
        dict(self.metadata, **metadata),
    )

  # --- the file ---------------------------------------------------------------------------------
  def to_bytes(self) -> bytes:
    arrays = {
        'hashes': np.asarray(self.hashes, dtype='U'),
        'archs': self.archs.astype(np.int8 if self.archs.max(initial=0) < 127 else np.int32),
        'seeds': np.asarray(self.seeds, np.int64),
        'metadata': np.asarray(json.dumps(dict(self.metadata, format_version=FORMAT_VERSION))),
    }
    arrays.update({f'epoch/{k}': v for k, v in self.epoch.items()})
    arrays.update({f'seed/{k}': v for k, v in self.seed.items()})
    arrays.update({f'arch/{k}': v for k, v in self.arch.items()})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()

  def save(self, path) -> None:
    """Writes the table (atomically: the old file or the whole new one)."""
    atomic_write(path, self.to_bytes())

  @classmethod
  def load(cls, path) -> Table:
    """Reads a table file; a file that is not one gives a one-line :class:`TableError`."""
    try:
      with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
      raise TableError(f'no table file at {path}') from None
    except Exception as err:  # zip or npy damage
      raise TableError(f'{path} is not a readable table file: {one_line(err)}') from None
    missing = [k for k in ('hashes', 'archs', 'seeds', 'metadata') if k not in arrays]
    if missing:
      raise TableError(f'{path} is not a table file (missing {", ".join(missing)})')
    try:
      metadata = json.loads(str(arrays['metadata']))
    except json.JSONDecodeError as err:
      raise TableError(f'{path}: the table metadata is not JSON ({err})') from None
    version = metadata.get('format_version')
    if version != FORMAT_VERSION:
      raise TableError(
          f'{path}: table format version {version!r}; this nas_jax reads version {FORMAT_VERSION}'
      )

    def group(prefix):
      return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    return cls(
        arrays['hashes'].tolist(),
        arrays['archs'],
        arrays['seeds'].tolist(),
        group('epoch/'),
        group('seed/'),
        group('arch/'),
        metadata,
    )
