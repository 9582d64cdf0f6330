"""Every config file in experiments/configs passes its loop's validation (no training)."""

import glob
import importlib
import os

import pytest

from nas_jax import data, search, train
from nas_jax.spaces import nb201
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES, Genotype

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The variant arguments each search config's get_config accepts (None: the default).
SEARCH_VARIANTS = {
    'search_beta_darts': ['darts', 'nb201'],
    'search_darts_cifar10': [None, 'order=1', 'order=2'],
    'search_darts_minus': ['darts', 'nb201'],
    'search_demo': [None],
    'search_drnas': ['darts', 'nb201'],
    'search_fairdarts': ['darts', 'nb201'],
    'search_gdas': ['darts', 'nb201'],
    'search_pcdarts': ['darts', 'nb201'],
    'search_snas': ['darts', 'nb201'],
}
# Train configs take no variant; the value is the network kind each one retrains.
TRAIN_NETWORKS = {
    'train_darts_cifar10': 'cifar',
    'train_darts_imagenet': 'imagenet',
    'train_demo': 'cifar',
    'train_nb201_cifar10': 'nb201',
    'train_nb201_demo': 'nb201',
}
# The strategy each paper config is for (the file name says which).
STRATEGY_OF = {name: name[len('search_') :] for name in SEARCH_VARIANTS}
STRATEGY_OF.update({'search_darts_cifar10': 'darts', 'search_demo': 'darts'})


def _config(name, arg=None):
  return importlib.import_module(f'experiments.configs.{name}').get_config(arg)


TABULATE = (
    'tabulate_nb201_mnist',
    'tabulate_nb201_animal',
    'table_pilot',
)  # tabular benchmark builds (and pilots)
TABLE_SEARCH = ('search_table',)  # searches in a table's space and protocol (arg: the table)
DISCRETE = (  # experiments.discrete: the strategy each file runs
    'discrete_bananas',
    'discrete_darts_live',
    'discrete_hyperband',
    'discrete_local_search',
    'discrete_nsga2',
    'discrete_random',
    'discrete_rea',
    'discrete_rea_live',
    'discrete_reinforce',
)


def test_every_config_file_is_covered():
  # A new config file must be added to the tables above (and so be validated here).
  files = {os.path.basename(p)[:-3] for p in glob.glob(f'{REPO}/experiments/configs/*.py')}
  expected = set(SEARCH_VARIANTS) | set(TRAIN_NETWORKS) | set(TABULATE) | set(TABLE_SEARCH)
  expected |= set(DISCRETE)
  assert files - {'__init__', 'common'} == expected


@pytest.mark.parametrize('name', DISCRETE)
def test_discrete_config_validates(name):
  from nas_jax import components

  module = importlib.import_module(f'experiments.configs.{name}')
  assert 'python -m experiments.discrete' in module.__doc__ and name in module.__doc__
  c = module.get_config()
  strategy, estimator, space = components.discrete_search(c)
  expected = {'discrete_darts_live': 'rea'}.get(name, name[len('discrete_') :])
  assert strategy.name == expected.replace('_live', '')
  assert estimator.space == space
  assert c.budget_unit == 'seconds' or c.budget <= c.max_queries
  assert all(b <= c.budget for b in c.report_at)


@pytest.mark.parametrize('name', TABULATE)
def test_tabulate_config_validates(name):
  from nas_jax import components, spaces
  from nas_jax.tabular.protocol import Protocol

  c = _config(name)
  protocol = Protocol.from_dict(c.protocol)
  space = spaces.get(c.space_name, tuple(c.space.primitives), hash_rule=c.space.hash_rule)
  assert components.space(c) == space
  assert protocol.epochs >= 1 and len(c.seeds) >= 2 and space.arch_network is not None


def test_table_search_config_is_the_tables_space_and_protocol(tmp_path):
  from nas_jax import tabular

  table = tabular.load_shipped()
  c = _config('search_table')  # default: the shipped table
  search.validate_config(c)
  protocol = table.metadata['protocol']
  assert (c.space_name, tuple(c.space.primitives)) == (
      table.space.name,
      tuple(table.space.primitives),
  )
  assert (c.dataset, c.image_size, c.init_channels, c.layers) == (
      protocol['dataset'],
      protocol['image_size'],
      protocol['channels'],
      protocol['cells_per_stage'],
  )
  search.build_model(c, data.dataset_meta(c.dataset).num_classes)
  by_path = _config('search_table', tabular.SHIPPED).to_dict()
  assert (c.table, by_path.pop('table')) == ('shipped', tabular.SHIPPED)  # where cards look up
  assert by_path == {k: v for k, v in c.to_dict().items() if k != 'table'}
  with pytest.raises(tabular.TableError, match='no table file'):
    _config('search_table', str(tmp_path / 'missing.npz'))


@pytest.mark.parametrize('name,arg', [(n, a) for n, args in SEARCH_VARIANTS.items() for a in args])
def test_search_config_validates(name, arg):
  c = _config(name, arg)
  search.validate_config(c)
  assert c.strategy_name == STRATEGY_OF[name]
  space = arg if arg in ('darts', 'nb201') else 'darts'
  assert c.space_name == space
  expected = nb201.NB201_PRIMITIVES if space == 'nb201' else DARTS_PRIMITIVES
  # FairDARTS drops 'none' (its sigmoid weights make it meaningless); the rest keep the space's ops.
  if c.strategy_name == 'fairdarts':
    expected = tuple(p for p in expected if p != 'none')
  assert tuple(c.space.primitives) == tuple(expected)
  if arg and arg.startswith('order='):
    assert c.order == int(arg[-1])
  # The supernet module can be constructed from it (nothing is traced).
  search.build_model(c, data.dataset_meta(c.dataset).num_classes)


@pytest.mark.parametrize('name', sorted(SEARCH_VARIANTS))
def test_search_config_rejects_unknown_variants(name):
  if SEARCH_VARIANTS[name] == [None]:
    return  # takes no variant (the argument is ignored)
  with pytest.raises(ValueError, match='unknown config variant'):
    _config(name, 'order=3' if name == 'search_darts_cifar10' else 'nb101')


@pytest.mark.parametrize('name', sorted(TRAIN_NETWORKS))
def test_train_config_validates(name):
  c = _config(name)
  genotype = train.validate_config(c)
  space, kind = train.network(c)
  assert kind == TRAIN_NETWORKS[name] and kind in space.network_kinds
  assert isinstance(genotype, nb201.NB201Genotype if kind == 'nb201' else Genotype)
  # The evaluation network can be constructed from it (nothing is traced).
  model = train.build_model(c, genotype, data.dataset_meta(c.dataset).num_classes)
  assert getattr(model, 'auxiliary', False) == (c.auxiliary_weight > 0)
