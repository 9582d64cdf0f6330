"""BANANAS (neural-ensemble Bayesian optimization on the path encoding) over the shipped table, NB201's protocol.

Command:
  python -m experiments.discrete --config=experiments/configs/discrete_bananas.py \
      --workdir=runs/discrete_bananas

Everything but the strategy is ``discrete_rea.py``'s (its docstring has the protocol).
Expected result and cost: see the README's discrete-search section (``python -m
experiments.reports.discrete_report``).
"""

import ml_collections

from experiments.configs import discrete_rea


def get_config(arg=None):
  c = discrete_rea.get_config(arg)
  c.strategy = 'bananas'
  c.settings = ml_collections.ConfigDict(dict(max_queries=300))  # else the paper's defaults
  c.batch = 10  # the paper's 10 architectures per ask
  c.budget = 300.0
  c.max_queries = 300
  return c
