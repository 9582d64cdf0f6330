"""Hyperband over the table's epochs (multi-fidelity) over the shipped table, NB201's protocol.

Command:
  python -m experiments.discrete --config=experiments/configs/discrete_hyperband.py \
      --workdir=runs/discrete_hyperband

Its budget is in simulated seconds (a low-fidelity query costs less). Everything else is ``discrete_rea.py``'s (its docstring has the protocol).
Expected result and cost: see the README's discrete-search section (``python -m
experiments.reports.discrete_report``).
"""

from experiments.configs import common, discrete_rea


def get_config(arg=None):
  c = discrete_rea.get_config(arg)
  common.set_component(c, 'strategy', 'hyperband', registry='discrete_strategy')
  c.budget_unit = 'seconds'  # a budget in simulated training seconds: fidelities cost less
  c.budget = 1000.0
  c.report_at = (250, 500, 1000)
  return c
