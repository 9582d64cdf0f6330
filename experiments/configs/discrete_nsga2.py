"""NSGA-II over the shipped table: test accuracy against parameters (multi-objective).

Command:
  python -m experiments.discrete --config=experiments/configs/discrete_nsga2.py \
      --workdir=runs/discrete_nsga2
  (a hard limit, e.g. at most 30,000 parameters: --config.strategy.limits="(None, -30000.0)";
  latency instead of parameters: --config.objectives="('latency_b1',)")

Each generation of 20 cells reads each cell's seed-mean test accuracy and its parameter
count from the table (``estimator.seed='mean'``: the front is judged on the values it is
searched on). ``front.json`` and ``pareto.png`` give the front of the cells queried
against the table's true front and the hypervolume ratio, measured from the table's
median accuracy and its largest parameter count (``nas_jax.discrete.hypervolume_ratio``).
``--config.seeds=N`` reports the ratio at each budget of ``report_at``, mean +- std.

Expected result and cost: see the README's discrete-search section (``python -m
experiments.reports.discrete_report``); one seed of 300 queries takes seconds on a 2-core CPU.
"""

from experiments.configs import common, discrete_rea


def get_config(arg=None):
  c = discrete_rea.get_config(arg)
  common.set_component(c, 'strategy', 'nsga2', registry='discrete_strategy')
  c.objectives = ('params',)
  c.metric = 'test_acc'
  c.estimator.seed = 'mean'
  c.batch = 20
  c.budget = 300.0
  c.report_at = (100, 200, 300)
  return c
