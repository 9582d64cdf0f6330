"""How well an estimator ranks architectures: rank correlations and top-k precision.

All in ``jax.numpy`` (jittable, and ``vmap``-able over seeds or estimators), with NaN
entries dropped pairwise by the NumPy entry points.

* :func:`spearman`: Pearson correlation of the ranks (ties get their mean rank, as
  ``scipy.stats.spearmanr``).
* :func:`kendall`: Kendall's tau-b, ``(C - D) / sqrt((n0 - n1)(n0 - n2))`` with ties in
  either variable corrected (``scipy.stats.kendalltau``'s default); O(n^2) pairs.
* :func:`precision_at_top`: the fraction of the truly best ``q`` of the architectures that
  the estimator also puts in its best ``q``.

Reference: ``scipy.stats.spearmanr`` and ``kendalltau`` (tau-b), which the tests compare
against; top-k precision as in Abdelfattah et al. 2021 (the share of the true top 10 %).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ['correlations', 'kendall', 'precision_at_top', 'rank', 'spearman']


def rank(x: jnp.ndarray) -> jnp.ndarray:
  """Ranks 1..n of ``x`` (n,), ties averaged."""
  x = jnp.asarray(x)
  less = jnp.sum(x[None, :] < x[:, None], axis=1)
  equal = jnp.sum(x[None, :] == x[:, None], axis=1)
  return less + (equal + 1) / 2.0


def spearman(a, b) -> jnp.ndarray:
  ra, rb = rank(a), rank(b)
  ra, rb = ra - ra.mean(), rb - rb.mean()
  return jnp.sum(ra * rb) / jnp.sqrt(jnp.sum(ra**2) * jnp.sum(rb**2))


def kendall(a, b) -> jnp.ndarray:
  a, b = jnp.asarray(a), jnp.asarray(b)
  da = jnp.sign(a[:, None] - a[None, :])
  db = jnp.sign(b[:, None] - b[None, :])
  upper = jnp.triu(jnp.ones(da.shape, bool), 1)
  # counts as floats: n (n - 1) / 2 squared overflows int32 from n of about 300
  concordance = jnp.sum(jnp.where(upper, da * db, 0)).astype(jnp.float32)
  n0 = jnp.sum(upper).astype(jnp.float32)
  ties_a = jnp.sum(upper & (da == 0)).astype(jnp.float32)
  ties_b = jnp.sum(upper & (db == 0)).astype(jnp.float32)
  return concordance / jnp.sqrt((n0 - ties_a) * (n0 - ties_b))


def precision_at_top(estimate, truth, fraction: float = 0.1) -> jnp.ndarray:
  """|top-q by ``estimate`` and top-q by ``truth``| / q, ``q = max(1, round(fraction n))``
  (higher is better for both)."""
  n = jnp.asarray(truth).shape[0]
  q = max(1, int(round(fraction * n)))
  top_est = jnp.argsort(-jnp.asarray(estimate))[:q]
  top_true = jnp.argsort(-jnp.asarray(truth))[:q]
  return jnp.sum(jnp.isin(top_est, top_true)) / q


def correlations(estimate, truth, fraction: float = 0.1) -> dict[str, float]:
  """Spearman, Kendall and top-``fraction`` precision over the entries where both are
  finite (NumPy in, floats out)."""
  estimate, truth = np.asarray(estimate, np.float64), np.asarray(truth, np.float64)
  ok = np.isfinite(estimate) & np.isfinite(truth)
  e, t = jnp.asarray(estimate[ok]), jnp.asarray(truth[ok])
  return dict(
      spearman=float(spearman(e, t)),
      kendall=float(kendall(e, t)),
      precision=float(precision_at_top(e, t, fraction)),
      n=int(ok.sum()),
  )
