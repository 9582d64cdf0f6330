"""The reproduction card: intervals by hand, table lookups against the table's own rows."""

from __future__ import annotations

import numpy as np
import pytest

from nas_jax import card, tabular


def test_interval_by_hand():
  # 4 values: mean 0.5, sample std sqrt(((-.3)^2 + (-.1)^2 + .1^2 + .3^2) / 3) = 0.258199;
  # t(0.975, 3) = 3.182446 (a t table), so the half-width is 3.182446 * 0.258199 / 2.
  out = card.interval([0.2, 0.4, 0.6, 0.8])
  half = 3.182446 * 0.2581989 / 2
  assert out['n'] == 4 and out['mean'] == pytest.approx(0.5)
  assert out['std'] == pytest.approx(0.2581989, abs=1e-6)
  assert out['low'] == pytest.approx(0.5 - half, abs=1e-5)
  assert out['high'] == pytest.approx(0.5 + half, abs=1e-5)
  assert card.interval([None, float('nan'), 0.3])['n'] == 1


def test_card_of_table_cells():
  table = tabular.load_shipped()
  space = table.space
  best_hash = table.best()[0][0]
  best = space.to_genotype(table.archs[table.row(best_hash)])
  worst_row = int(np.nanargmin(table.values('test_acc')))
  worst = space.to_genotype(table.archs[worst_row])
  c = card.card(space, {0: best, 1: best, 2: worst}, table=table, title='t')
  rows = c['rows']
  assert [r['percentile'] for r in rows[:2]] == [100.0, 100.0]
  assert rows[0]['regret'] == 0.0 and rows[0]['table_acc'] == table.best()[0][1]
  assert rows[2]['table_acc'] == pytest.approx(float(np.nanmin(table.values('test_acc'))))
  assert c['distinct'] == 2
  # 3 seeds x 6 edges, each edge's op counted once per seed.
  assert sum(c['op_counts']['cell'].values()) == 18
  for edge, counts in c['edge_counts']['cell'].items():
    assert sum(counts.values()) == 3, edge
  # The table's noise: seed 0 against seed 1 (scipy), and the exact random baseline.
  import scipy.stats

  a, b = (table.values('test_acc', seed=s) for s in table.seeds[:2])
  ok = ~np.isnan(a) & ~np.isnan(b)
  assert c['table']['tau'] == pytest.approx(scipy.stats.kendalltau(a[ok], b[ok])[0])
  assert c['table']['random']['percentile'] == pytest.approx(table.random_baseline()['percentile'])
  text = card.markdown(c)
  assert 'not told apart from random' in text  # 2 best + 1 worst: a wide interval
  assert '| 2 | `' in text and 'Kendall τ' in text


def test_a_card_without_a_table_summarizes_its_scores():
  table = tabular.load_shipped()
  space = table.space
  cells = {s: space.to_genotype(table.archs[s]) for s in (5, 6)}
  c = card.card(space, cells, scores={'val_acc': {5: 0.8, 6: 0.9}})
  assert 'table' not in c and c['summary']['val_acc']['mean'] == pytest.approx(0.85)
  assert 'percentile' not in c['summary']
  assert 'The table' not in card.markdown(c)
