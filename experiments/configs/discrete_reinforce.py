"""REINFORCE (factorized categorical policy, EMA baseline) over the shipped table, NB201's protocol.

Command:
  python -m experiments.discrete --config=experiments/configs/discrete_reinforce.py \
      --workdir=runs/discrete_reinforce

Everything but the strategy is ``discrete_rea.py``'s (its docstring has the protocol).

The learning rate is NATS-Bench's, 0.01 (``exps/NATS-algos/run-all.sh`` for the topology
space), not the 0.001 of NB201's older ``REINFORCE.sh`` usage line: this search follows
NATS-Bench's ``simulate_train_eval`` protocol, and NATS-Bench's REINFORCE results are the
ones it is compared with. ``--config.strategy.learning_rate=0.001`` runs NB201's.
Expected result and cost: see the README's discrete-search table (``python -m
benchmarks.discrete_search``); one seed of 100 queries takes seconds on a 2-core CPU.
"""

from experiments.configs import common, discrete_rea


def get_config(arg=None):
  c = discrete_rea.get_config(arg)
  common.set_component(c, 'strategy', 'reinforce', registry='discrete_strategy')
  return c
