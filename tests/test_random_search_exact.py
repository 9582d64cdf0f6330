"""Table.random_search: the exact expectation of random search, against simulation."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from nas_jax import discrete, tabular
from nas_jax.estimators import TabularEstimator
from nas_jax.strategies import discrete as ds


def test_one_query_is_the_random_architecture():
  table = tabular.load_shipped()
  exact = table.random_search([1])[1]
  base = table.random_baseline()
  assert exact['value'] == pytest.approx(base['mean'], abs=1e-9)
  assert exact['percentile'] == pytest.approx(base['percentile'], abs=1e-9)
  assert exact['regret'] == pytest.approx(base['regret'], abs=1e-9)


def test_matches_simulated_random_search_with_replacement():
  table = tabular.load_shipped()
  estimator = TabularEstimator(table)  # NB201's protocol: val_acc at a random seed
  budgets = (3, 10, 20)
  exact = table.random_search(budgets)
  trace = discrete.run_seeds(
      ds.get('random', replacement=True),
      estimator,
      estimator.space,
      discrete.seed_keys(range(20_000)),
      max(budgets),
  )
  trace = jax.tree.map(np.asarray, trace)
  for n in budgets:
    report = discrete.at_budget(trace, n)
    se = report.std() / np.sqrt(report.size)
    assert abs(report.mean() - exact[n]['value']) < 4 * se, n
  # More queries never expect a worse answer; and these are far above one random cell.
  values = [exact[n]['value'] for n in budgets]
  assert values == sorted(values) and values[0] > table.random_baseline()['mean']


def test_by_hand_on_two_tied_groups():
  # Every architecture's val value at both seeds is either 1 or 2 -> two groups. With p
  # the share of draws in the top group, the best of n draws is in it with prob 1-(1-p)^n.
  table = tabular.load_shipped()
  val = table.epoch['val_acc']
  top = np.asarray(table.values('test_acc') > np.nanmedian(table.values('test_acc')))
  table.epoch['val_acc'] = np.where(top[:, None, None], 2.0, 1.0).astype(np.float32) + 0 * val
  rows = table.rows_of(np.asarray(list(table.space.enumerate())))
  p = np.mean(top[rows])
  test = table.values('test_acc')[rows]
  hi, lo = np.mean(test[top[rows]]), np.mean(test[~top[rows]])
  for n in (1, 4):
    want = (1 - (1 - p) ** n) * hi + (1 - p) ** n * lo
    assert table.random_search([n])[n]['value'] == pytest.approx(want, abs=1e-9)
