"""Regularized evolution over the shipped table (NB201 cell, 4 ops, animal silhouettes), NB201's protocol.

Command:
  python -m experiments.discrete --config=experiments/configs/discrete_rea.py \
      --workdir=runs/discrete_rea
  (another strategy: experiments/configs/discrete_{random,local_search,reinforce,bananas,
  hyperband,nsga2}.py, or
  --config.strategy_name=NAME; its settings: --config.strategy.population=20, ...)

Each query reads the cell's validation accuracy after the table's last epoch at one of
its seeds drawn at random (NB201's simulated training) and charges that member's train
seconds. The search's answer after each query is the cell with the best validation
accuracy so far; it is reported by its seed-mean test accuracy, its percentile among
the table's cells and its regret to the best cell.

``--config.seeds=N`` runs N searches (seeds ``seed .. seed + N - 1``) as one compiled,
vmapped program and reports mean +- std at each budget in ``--config.report_at``; one
seed runs query by query with checkpoints, history and plots.

Expected result and cost: see the README's discrete-search table (``python -m
benchmarks.discrete_search``); one seed of 100 queries takes seconds on a 2-core CPU.
"""

import ml_collections

from experiments.configs import common, tabulate_nb201_animal
from nas_jax.config_checks import ConfigError
from nas_jax.registry import unknown


def estimator_section(name: str) -> ml_collections.ConfigDict:
  """The settings of estimator ``name`` at their defaults (``experiments.discrete`` switches
  the section with ``--config.estimator_name``).

  - ``'tabular'``: ``table`` ('shipped': the package's table, or a table file); ``seed``, the
    table seed a query reads ('random' per query, 'mean', or one of the table's seeds);
    ``report_table``, a table the report is read from instead ('': ``table``), matched by
    cell hash (NB201's protocol searches a cifar10-valid hp=12 table and reports cifar10
    hp=200's test accuracy).
  - ``'train'``: each query trained live under the shipped table's own space (``space_name``,
    ``space``) and ``protocol``, at training ``seed``; ``network`` 'arch' (the space's arch
    network, one compiled program for every cell) or 'cell' (one evaluation network compiled
    per cell; ``benchmarks.tabular --preset=darts_live`` measures both); ``data_dir``.
  """
  s = ml_collections.ConfigDict()
  if name == 'tabular':
    s.table = 'shipped'
    s.seed = 'random'
    s.report_table = ''
    return s
  if name == 'train':
    table_build = tabulate_nb201_animal.get_config()
    s.space_name = table_build.space_name
    s.space = table_build.space
    s.protocol = table_build.protocol
    s.seed = 0
    s.network = 'arch'
    s.data_dir = ml_collections.config_dict.placeholder(str)
    return s
  raise ConfigError(unknown('estimator', name, ESTIMATORS))


ESTIMATORS = ('tabular', 'train')


def get_config(arg=None):
  del arg
  c = ml_collections.ConfigDict()
  # The strategy (nas_jax.strategies.discrete) and, in config.strategy, its settings at their
  # defaults: NB201's REA settings (population 10, tournament 3) are REA's own.
  common.set_component(c, 'strategy', 'rea', registry='discrete_strategy')
  # The estimator (estimator_section below): 'tabular', a lookup in a table; or 'train', each
  # query trained live (one seed at a time). Naming the other on the command line
  # (--config.estimator_name=train) switches the section to its defaults.
  c.estimator_name = 'tabular'
  c.estimator = estimator_section('tabular')
  c.metric = 'val_acc'  # what the search optimizes
  c.epoch = ml_collections.config_dict.placeholder(int)  # None: the table's last epoch
  c.report = 'test_acc'  # what the answer is reported by
  c.objectives = ()  # more objectives for multi-objective search (nsga2): 'params', ...
  # Early stopping by the median rule (nas_jax.estimators.early_stopping.MedianStopping): a
  # query is read after early_stop.epoch epochs and trained on only if its signal ('sotl':
  # minus the summed training losses; 'metric': config.metric) reaches the quantile of every
  # query's so far. epoch 0: off. One search at a time (config.seeds 1), single objective.
  c.early_stop = ml_collections.ConfigDict()
  c.early_stop.epoch = 0
  c.early_stop.warmup = 10
  c.early_stop.quantile = 0.5
  c.early_stop.signal = 'sotl'
  # The budget: queries, or simulated seconds of training (then at most max_queries).
  c.budget = 100.0
  c.budget_unit = 'queries'
  c.max_queries = 1000
  # Architectures per ask; None: the strategy's own (1; NSGA-II: a generation, its population).
  c.batch = ml_collections.config_dict.placeholder(int)
  c.seed = 0
  c.seeds = 1
  c.report_at = (25, 50, 100)  # budgets (in budget_unit) of the multi-seed summary
  c.checkpoint_every = 20  # rounds
  c.log_every = 5.0  # seconds
  return c
