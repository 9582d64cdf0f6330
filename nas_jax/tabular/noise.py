"""How far a table can be trusted: its seeds' agreement and its spread, from the table alone.

A table ranks architectures only as well as two trainings of one cell agree. For a
table's per-seed values of one metric (rows = cells, columns = seeds), :func:`seed_agreement`
gives:

* the **noise ceiling**: Kendall's τ-b and Spearman's ρ of seed 0 against seed 1 over the
  cells measured at both (``scipy.stats.kendalltau`` / ``spearmanr``), with bootstrap
  standard errors over cells. No estimator or search can be shown to rank cells better
  than this, since the table cannot tell itself apart from its own retraining;
* the **separation**: the p90 - p10 spread of the cells' seed means divided by the mean
  |seed 0 - seed 1| difference. Below 1, a cell's seed noise is as large as the gap
  between a good and a bad cell; the pilot's target is 5;
* the **Spearman-Brown** projection: the correlation between two independent means of
  ``k`` seeds, ``k r / (1 + (k - 1) r)`` from the single-seed Pearson ``r`` (classical test
  theory; it assumes seed noise independent of the cell), to size a build's seeds.

Dead cells (no path from input to output: every seed at chance) tie at the bottom and
agree perfectly; ``alive_above`` gives the statistics over the other cells as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ['cell_se', 'seed_agreement', 'spearman_brown']


def cell_se(per_seed) -> float:
  """The mean standard error of a cell's seed mean, ``std(ddof=1) / sqrt(seeds)`` over its
  measured seeds, averaged over the cells measured at two seeds or more (NaN if none)."""
  values = np.asarray(per_seed, np.float64)
  count = (~np.isnan(values)).sum(1)
  ok = count >= 2
  if not ok.any():
    return float('nan')
  return float(np.mean(np.nanstd(values[ok], axis=1, ddof=1) / np.sqrt(count[ok])))


def spearman_brown(r: float, k: int) -> float:
  """The correlation of two independent ``k``-seed means, from one seed's correlation ``r``."""
  return k * r / (1.0 + (k - 1) * r)


def _pair_stats(a: np.ndarray, b: np.ndarray, boot: int, rng) -> dict[str, float]:
  import scipy.stats  # pylint: disable=import-outside-toplevel

  tau = float(scipy.stats.kendalltau(a, b)[0])
  rho = float(scipy.stats.spearmanr(a, b)[0])
  taus, rhos = [], []
  for _ in range(boot):
    i = rng.integers(0, len(a), len(a))
    taus.append(scipy.stats.kendalltau(a[i], b[i])[0])
    rhos.append(scipy.stats.spearmanr(a[i], b[i])[0])
  mean = (a + b) / 2
  spread = float(np.quantile(mean, 0.9) - np.quantile(mean, 0.1))
  diff = float(np.mean(np.abs(a - b)))
  return dict(
      cells=len(a),
      tau=tau,
      tau_se=float(np.nanstd(taus, ddof=1)) if boot > 1 else float('nan'),
      rho=rho,
      rho_se=float(np.nanstd(rhos, ddof=1)) if boot > 1 else float('nan'),
      pearson=float(np.corrcoef(a, b)[0, 1]),
      p10=float(np.quantile(mean, 0.1)),
      p90=float(np.quantile(mean, 0.9)),
      spread=spread,
      mean_abs_diff=diff,
      separation=spread / diff if diff > 0 else float('inf'),
  )


def seed_agreement(
    per_seed, *, alive_above: float | None = None, boot: int = 200, seed: int = 0
) -> dict[str, Any]:
  """Seed 0 against seed 1 of ``per_seed`` (cells, seeds): noise ceiling and separation.

  Rows missing either of the first two seeds (NaN) are left out. Returns the
  :func:`_pair_stats` fields over all remaining cells, ``alive`` (the same over cells whose
  seed mean is above ``alive_above``, when given), and ``rho_2seeds``/``rho_3seeds``: the
  Spearman-Brown projection of the Pearson correlation (of the live cells, when
  ``alive_above`` is given) to 2- and 3-seed means.
  """
  values = np.asarray(per_seed, np.float64)
  if values.ndim != 2 or values.shape[1] < 2:
    raise ValueError(f'per_seed must be (cells, seeds >= 2), got shape {values.shape}')
  a, b = values[:, 0], values[:, 1]
  ok = ~np.isnan(a) & ~np.isnan(b)
  if ok.sum() < 3:
    raise ValueError(f'only {int(ok.sum())} cells are measured at both seeds; need 3')
  rng = np.random.default_rng(seed)
  out = _pair_stats(a[ok], b[ok], boot, rng)
  base = out
  if alive_above is not None:
    live = ok & ((a + b) / 2 > alive_above)
    out['alive'] = _pair_stats(a[live], b[live], boot, rng) if live.sum() >= 3 else None
    base = out['alive'] or out
  # Dead cells at chance would dominate a Pearson correlation: projected from the live ones.
  out['rho_2seeds'] = spearman_brown(base['pearson'], 2)
  out['rho_3seeds'] = spearman_brown(base['pearson'], 3)
  return out
