"""The one registry helper (nas_jax.registry) and the registries built on it."""

import dataclasses

import pytest

from nas_jax import estimators, registry, spaces
from nas_jax.config_checks import ConfigError
from nas_jax.estimators import proxies
from nas_jax.strategies import discrete as ds


@dataclasses.dataclass
class Evolution:
  population: int = 10
  sample: int = 3
  history: list = dataclasses.field(default_factory=list)


def scaled(space, factor=2.0, *, offset=0):
  return (space, factor, offset)


def test_build_passes_settings_over_the_defaults():
  r = registry.Registry('toy')
  r.register('evo')(Evolution)
  assert r.build('evo', population=20) == Evolution(population=20, sample=3)
  assert r.settings('evo') == {'population': 10, 'sample': 3, 'history': []}


def test_context_arguments_are_not_settings():
  r = registry.Registry('scaler', context=('space',))
  r.add('scaled', scaled)
  assert r.settings('scaled') == {'factor': 2.0, 'offset': 0}
  assert r.build('scaled', 'S', offset=1) == ('S', 2.0, 1)
  with pytest.raises(ConfigError, match="scaler scaled: unknown setting 'space'"):
    r.build('scaled', space='S')


@pytest.mark.parametrize(
    'call,message',
    [
        (
            lambda r: r.build('evolutoin'),
            "unknown toy 'evolutoin'; did you mean 'evolution'? (known: evolution, random)",
        ),
        (lambda r: r.build('zzz'), "unknown toy 'zzz' (known: evolution, random)"),
        (
            lambda r: r.build('evolution', populaton=3),
            "toy evolution: unknown setting 'populaton'; did you mean 'population'? "
            '(its settings: history, population, sample)',
        ),
    ],
)
def test_unknown_names_and_settings_are_one_line_with_the_nearest(call, message):
  r = registry.Registry('toy')
  r.add('evolution', Evolution)
  r.add('random', Evolution)
  with pytest.raises(ConfigError) as e:
    call(r)
  assert str(e.value) == message
  assert isinstance(e.value, ValueError)  # callers that catch ValueError keep working


def test_a_name_registers_once_unless_replaced():
  r = registry.Registry('toy')
  r.add('a', Evolution)
  with pytest.raises(ValueError, match="toy 'a' is registered twice"):
    r.add('a', scaled)
  r.add('a', scaled, replace=True)
  assert r['a'] is scaled and 'a' in r and list(r) == ['a'] and len(r) == 1


def test_a_factory_with_kwargs_checks_its_own_settings():
  r = registry.Registry('toy')
  r.add('lazy', lambda *a, **k: (a, k))
  assert r.build('lazy', 1, anything=2) == ((1,), {'anything': 2})


def test_the_package_registries_use_it():
  assert isinstance(spaces.REGISTRY, registry.Registry)
  assert spaces.REGISTRY.names() == ('darts', 'nb201', 'nbgraph')
  assert ds.REGISTRY.settings('rea') == {'population': 10, 'sample': 3}
  assert list(proxies.PROXIES) == [
      'grad_norm',
      'snip',
      'grasp',
      'fisher',
      'synflow',
      'jacov',
      'naswot',
  ]
  with pytest.raises(ConfigError, match="unknown proxy 'synfow'; did you mean 'synflow'"):
    proxies.ProxyEstimator(None, None, proxy='synfow')
  assert estimators.REGISTRY.names() == ('proxy', 'shared_weights', 'tabular', 'train')
  assert estimators.REGISTRY.settings('tabular')['metric'] == 'val_acc'
  with pytest.raises(ConfigError, match="unknown estimator 'tabluar'; did you mean 'tabular'"):
    estimators.REGISTRY.build('tabluar')
