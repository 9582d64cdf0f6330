"""Local search (best-improvement hill climbing with restarts) over the shipped table, NB201's protocol.

Command:
  python -m experiments.discrete --config=experiments/configs/discrete_local_search.py \
      --workdir=runs/discrete_local_search

Everything but the strategy is ``discrete_rea.py``'s (its docstring has the protocol).
Expected result and cost: see the README's discrete-search table (``python -m
benchmarks.discrete_search``); one seed of 100 queries takes seconds on a 2-core CPU.
"""

from experiments.configs import common, discrete_rea


def get_config(arg=None):
  c = discrete_rea.get_config(arg)
  common.set_component(c, 'strategy', 'local_search', registry='discrete_strategy')
  return c
