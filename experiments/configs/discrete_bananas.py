"""BANANAS (neural-ensemble Bayesian optimization on the path encoding) over the shipped table, NB201's protocol.

Command:
  python -m experiments.discrete --config=experiments/configs/discrete_bananas.py \
      --workdir=runs/discrete_bananas

Everything but the strategy is ``discrete_rea.py``'s (its docstring has the protocol).
Expected result and cost: see the README's discrete-search section (``python -m
experiments.reports.discrete_report``).
"""

from experiments.configs import common, discrete_rea


def get_config(arg=None):
  c = discrete_rea.get_config(arg)
  common.set_component(c, 'strategy', 'bananas', registry='discrete_strategy', max_queries=300)
  c.batch = 10  # the paper's 10 architectures per ask
  c.budget = 300.0
  c.max_queries = 300
  return c
