"""The reproduction card: what K seeds of one search found, and how far to trust it.

DARTS users' most common complaint is that ten searches give ten cells. A card puts the
seeds side by side:

* each seed's genotype, and (with a table) its table accuracy, percentile and regret;
* how often each op, and each edge, was chosen over the seeds;
* per score: mean ± std over the seeds (``ddof=1``) and the 95 % interval of the mean,
  ``mean ± t(0.975, K-1) · std / sqrt(K)`` (Student's t; ``scipy.stats.t``);
* the table's own noise: seed-against-seed Kendall τ and Spearman ρ
  (:func:`nas_jax.tabular.noise.seed_agreement`), the mean standard error of a cell's
  seed mean, and what a uniformly random cell scores, exactly (``Table.random_baseline``):
  a search whose interval holds the random mean has not been shown to beat random.

``card(space, genotypes, table=..., scores=...)`` returns a JSON-able dict;
``markdown(card)`` renders it. ``experiments.search`` writes one (``card.md``,
``card.json``) for ``--config.num_seeds=K > 1``, and ``experiments.compare`` one per
strategy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ['against_random', 'card', 'interval', 'markdown', 'table_noise', 'verdict']


def interval(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
  """Mean, std (ddof=1), n and the ``level`` t-interval of the mean of the finite ``values``."""
  import scipy.stats  # pylint: disable=import-outside-toplevel

  v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
  n = len(v)
  if n == 0:
    return dict(n=0, mean=float('nan'), std=float('nan'), low=float('nan'), high=float('nan'))
  mean = float(v.mean())
  if n == 1:
    return dict(n=1, mean=mean, std=float('nan'), low=float('nan'), high=float('nan'))
  std = float(v.std(ddof=1))
  half = float(scipy.stats.t.ppf(0.5 + level / 2, n - 1)) * std / np.sqrt(n)
  return dict(n=n, mean=mean, std=std, low=mean - half, high=mean + half)


def choice_counts(space, genotypes: Sequence) -> tuple[dict, dict]:
  """``(ops, edges)``: per cell type, how often each op was chosen, and per edge
  (``'node<i><-<j>'``, as ``space.edges`` names them) how often each op was chosen there;
  most frequent first."""
  ops, edges = {}, {}
  for g in genotypes:
    for kind, node, j, op in space.edges(g):
      ops.setdefault(kind, {})
      ops[kind][op] = ops[kind].get(op, 0) + 1
      edge = f'node{node}<-{j}'
      edges.setdefault(kind, {}).setdefault(edge, {})
      edges[kind][edge][op] = edges[kind][edge].get(op, 0) + 1
  order = lambda d: dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))
  return (
      {k: order(v) for k, v in ops.items()},
      {k: {e: order(c) for e, c in sorted(v.items())} for k, v in edges.items()},
  )


def card(
    space,
    genotypes: Mapping[Any, Any],
    *,
    table=None,
    scores: Mapping[str, Mapping[Any, float]] | None = None,
    title: str = 'search',
    metric: str = 'test_acc',
) -> dict[str, Any]:
  """The card of ``genotypes`` (seed -> genotype of ``space``).

  Args:
    space: the space the genotypes belong to (``table.space`` when there is a table).
    genotypes: each seed's derived genotype.
    table: a ``tabular.Table`` of the space: adds the table columns and its noise.
    scores: other per-seed numbers, ``{name: {seed: value}}`` (a search's final val
      accuracy, a retrained test accuracy), summarized like the table's.
    title: what searched (the card's heading).
    metric: the table metric looked up.
  """
  seeds = list(genotypes)
  rows = []
  for s in seeds:
    g = genotypes[s]
    row = dict(seed=s, genotype=space.to_text(g))
    if table is not None:
      r = table.report(space.from_genotype(g), metric)
      row.update(hash=r['hash'], table_acc=r['value'], percentile=r['percentile'])
      row['regret'] = r['regret']
    for name, per_seed in (scores or {}).items():
      row[name] = per_seed.get(s)
    rows.append(row)
  columns = (['table_acc', 'percentile', 'regret'] if table is not None else []) + list(
      scores or {}
  )
  ops, edges = choice_counts(space, [genotypes[s] for s in seeds])
  out = dict(
      title=title,
      space=space.name,
      primitives=list(space.primitives),
      seeds=seeds,
      rows=rows,
      summary={c: interval([r[c] for r in rows]) for c in columns},
      distinct=len({r.get('hash', r['genotype']) for r in rows}),
      op_counts=ops,
      edge_counts=edges,
  )
  if table is not None:
    out['table'] = table_noise(table, metric)
  return out


def table_noise(table, metric: str = 'test_acc') -> dict[str, Any]:
  """A table's rows measured, its exact random cell and (two seeds or more) its noise
  ceiling (seed 0 against seed 1: Kendall τ, Spearman ρ) and a cell's standard error."""
  from nas_jax.tabular import noise  # pylint: disable=import-outside-toplevel

  base = table.random_baseline(metric)
  out = dict(
      metric=metric,
      rows=int(np.sum(~np.isnan(table.values(metric)))),
      random=dict(value=base['mean'], percentile=base['percentile'], regret=base['regret']),
  )
  if len(table.seeds) >= 2:
    per_seed = np.stack([table.values(metric, seed=s) for s in table.seeds], axis=1)
    agree = noise.seed_agreement(per_seed, boot=0)
    out.update(tau=agree['tau'], rho=agree['rho'], cell_se=noise.cell_se(per_seed))
  return out


def against_random(c: Mapping[str, Any]) -> str | None:
  """``'above'``, ``'below'`` or ``'tie'``: where the 95 % interval of a card's mean
  percentile lies against one random cell's exact mean percentile (None without a table or
  with fewer than two seeds)."""
  pct = c['summary'].get('percentile')
  if 'table' not in c or not pct or pct['n'] < 2 or not np.isfinite(pct['low']):
    return None
  return verdict(pct, c['table']['random']['percentile'])


def verdict(s: Mapping[str, float], random: float) -> str:
  """``'above'`` or ``'below'`` when the interval ``s`` (:func:`interval`) excludes the
  ``random`` mean, else ``'tie'``."""
  if s['low'] > random:
    return 'above'
  if s['high'] < random:
    return 'below'
  return 'tie'


def _num(x, digits=4) -> str:
  return '—' if x is None or not np.isfinite(x) else f'{x:.{digits}f}'


def markdown(c: Mapping[str, Any]) -> str:
  """The card as markdown."""
  k = len(c['seeds'])
  lines = [
      f"# Reproduction card: {c['title']}",
      '',
      f"{k} seeds in the {c['space']} space ({len(c['primitives'])} ops); "
      f"{c['distinct']} distinct cells.",
      '',
  ]
  columns = list(c['summary'])
  digits = {'percentile': 1}
  lines += [
      '| seed | genotype | ' + ' | '.join(columns) + ' |',
      '|---|---|' + '---|' * len(columns),
  ]
  for r in c['rows']:
    vals = ' | '.join(_num(r.get(col), digits.get(col, 4)) for col in columns)
    lines.append(f"| {r['seed']} | `{r['genotype']}` | {vals} |")
  if columns:
    lines += [
        '',
        '| over the seeds | mean ± std | 95 % interval of the mean | n |',
        '|---|---|---|---|',
    ]
    for col, s in c['summary'].items():
      d = digits.get(col, 4)
      lines.append(
          f"| {col} | {_num(s['mean'], d)} ± {_num(s['std'], d)} | [{_num(s['low'], d)}, "
          f"{_num(s['high'], d)}] | {s['n']} |"
      )
  if 'table' in c:
    t = c['table']
    r = t['random']
    lines += ['', f"**The table** ({t['rows']} measured cells, {t['metric']}):"]
    if 'tau' in t:
      lines.append(
          f"- its noise ceiling: seed 0 against seed 1, Kendall τ {t['tau']:.3f}, Spearman ρ "
          f"{t['rho']:.3f}; a cell's seed mean has a standard error of {t['cell_se']:.4f} "
          'on average.'
      )
    lines.append(
        f"- a uniformly random cell, exactly: {_num(r['value'])}, percentile "
        f"{_num(r['percentile'], 1)}, regret {_num(r['regret'])}."
    )
    verdict = {
        'above': 'above random: the interval of the mean percentile lies above the random mean',
        'below': 'below random: the interval of the mean percentile lies below the random mean',
        'tie': 'not told apart from random: the interval holds the random mean',
    }.get(against_random(c))
    if verdict:
      lines.append(f'- verdict: {verdict}.')
  lines += ['', '**Chosen ops** (count over the seeds' + ', per cell type):', '']
  for kind, counts in c['op_counts'].items():
    lines.append(f'- {kind}: ' + ', '.join(f'{op} {n}' for op, n in counts.items()))
  lines += ['', '**Per edge** (op: count):', '']
  for kind, edges in c['edge_counts'].items():
    for edge, counts in edges.items():
      lines.append(f'- {kind} {edge}: ' + ', '.join(f'{op} {n}' for op, n in counts.items()))
  return '\n'.join(lines) + '\n'
