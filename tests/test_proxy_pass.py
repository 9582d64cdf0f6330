"""The proxy pass (nas_jax.estimators.proxy_pass) and its ranking helpers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from nas_jax import spaces
from nas_jax.estimators import proxies, proxy_pass
from nas_jax.spaces.nb201 import EDGES

TINY = dict(num_classes=3, channels=4, layers=1, image_shape=(8, 8, 3))


@pytest.fixture(scope='module')
def space():
  return spaces.get('nb201')


@pytest.fixture(scope='module')
def scorer(space):
  return proxy_pass.ProxyPass(space, ['synflow', 'grad_norm'], batch=4, **TINY)


def test_gaussian_batch_is_standard_normal_with_uniform_labels():
  x, y = proxy_pass.gaussian_batch((8, 8, 3), 512, 10, seed=1)
  x, y = np.asarray(x), np.asarray(y)
  assert x.shape == (512, 8, 8, 3) and y.shape == (512,)
  assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01  # 98,304 draws: se 0.003
  assert set(y.tolist()) == set(range(10))
  assert scipy.stats.chisquare(np.bincount(y, minlength=10)).pvalue > 1e-3


def test_a_pass_scores_what_the_proxies_give_on_that_cell(space, scorer):
  """The pass's numbers are the proxies of the cell's own network and batch."""
  arch = np.asarray([3, 1, 2, 0, 4, 3])
  got = scorer(arch)
  net = space.arch_network(3, channels=4, layers=1)
  a = jnp.asarray(arch)
  variables = net.init(jax.random.key(0), scorer.x[:1], a, False)
  forward = proxies.forward_of(net, variables, a)
  want = [
      float(proxies.synflow(forward, variables['params'], scorer.x, scorer.y)),
      float(proxies.grad_norm(forward, variables['params'], scorer.x, scorer.y)),
  ]
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # synflow of a cell with no input-output path: no weight reaches the output through the cell
  # but the stem and classifier still do; the score is finite and below the live cell's
  dead = scorer(np.zeros(6, int))
  assert np.isfinite(dead).all() and dead[0] < got[0]


def test_run_pass_resumes_without_rescoring(space, scorer, tmp_path):
  archs = np.random.default_rng(0).integers(0, 5, (5, 6))
  path = str(tmp_path / 'pass.npz')
  calls = []

  class Counting:
    names, settings, compile = scorer.names, scorer.settings, scorer.compile

    def __call__(self, arch):
      calls.append(tuple(arch))
      return scorer(arch)

  first = proxy_pass.run_pass(Counting(), archs, path, chunk=2, limit_s=0.0, log=lambda _: None)
  assert np.isfinite(first['seconds']).sum() == 2  # stopped after the first chunk
  rest = proxy_pass.run_pass(Counting(), archs, path, chunk=2, log=lambda _: None)
  assert len(calls) == 5  # the two finished cells were not scored again
  whole = proxy_pass.run_pass(scorer, archs, None, chunk=5, log=lambda _: None)
  np.testing.assert_allclose(rest['scores'], whole['scores'], rtol=1e-6)
  assert len(rest['compile_seconds']) == 2  # one per sitting that scored cells
  again = proxy_pass.run_pass(Counting(), archs, path, chunk=2, log=lambda _: None)
  assert len(calls) == 5 and np.array_equal(again['scores'], rest['scores'])


def test_a_pass_file_of_another_pass_is_refused_in_one_line(space, scorer, tmp_path):
  archs = np.zeros((2, 6), int)
  path = str(tmp_path / 'pass.npz')
  proxy_pass.run_pass(scorer, archs, path, log=lambda _: None)
  other = proxy_pass.ProxyPass(space, ['synflow'], batch=1, **TINY)
  with pytest.raises(proxy_pass.PassError, match='holds another pass') as e:
    proxy_pass.run_pass(other, archs, path, log=lambda _: None)
  assert '\n' not in str(e.value)
  with pytest.raises(proxy_pass.PassError, match='other cells'):
    proxy_pass.run_pass(scorer, archs + 1, path, log=lambda _: None)
  (tmp_path / 'junk.npz').write_bytes(b'not a zip')
  with pytest.raises(proxy_pass.PassError, match='not a proxy pass file'):
    proxy_pass.run_pass(scorer, archs, str(tmp_path / 'junk.npz'), log=lambda _: None)


def test_bad_pass_settings_are_one_line_errors(space):
  with pytest.raises(proxy_pass.PassError, match='unknown proxy'):
    proxy_pass.ProxyPass(space, ['nope'], batch=2, **TINY)
  with pytest.raises(proxy_pass.PassError, match='batch must be >= 2'):
    proxy_pass.ProxyPass(space, ['snip'], batch=1, **TINY)


def test_costs_at_nb201_size_span_nb201s_published_range(space):
  """Dong & Yang (ICLR 2020): on CIFAR-10 the 15,625 networks have 0.07 to 1.53 M
  parameters and 7.8 to 220.1 M FLOPs (the all-none / all-3x3 cells)."""
  every = np.asarray(list(space.enumerate()))
  c = proxy_pass.network_costs(
      space, every, num_classes=10, channels=16, layers=5, image_shape=(32, 32, 3)
  )
  assert round(c['params'].min() / 1e6, 2) == 0.07 and round(c['params'].max() / 1e6, 2) == 1.53
  assert round(c['flops'].min() / 1e6, 1) == 7.8 and round(c['flops'].max() / 1e6, 1) == 220.1


def test_has_path_counts_nb201s_dead_cells(space):
  """341 of the 15,625 cells have no input-output path (counted independently in
  tests/test_analog.py from the package's 10 % cells)."""
  every = np.asarray(list(space.enumerate()))
  alive = proxy_pass.nb201_has_path(space, every)
  assert (~alive).sum() == 341
  conv = space.primitives.index('nor_conv_3x3')
  none = space.primitives.index('none')
  only_03 = [none] * 6
  only_03[EDGES.index((0, 3))] = conv  # the direct edge alone
  only_01 = [none] * 6
  only_01[EDGES.index((0, 1))] = conv  # reaches node 1, which reaches nothing
  assert alive[np.all(every == np.asarray(only_03), axis=1)].all()
  assert not alive[np.all(every == np.asarray(only_01), axis=1)].any()


def test_noise_ceiling_pairs_each_class_first_two_cells():
  acc = np.asarray([1.0, 2.0, 9.0, 3.0, 5.0, 4.0, 8.0])
  klass = np.asarray([0, 0, 0, 1, 1, 2, 2])  # pairs (1,2), (3,5), (4,8); the 9 is a third cell
  n, rho, tau = proxy_pass.pair_ceiling(acc, klass)
  assert n == 3
  assert rho == pytest.approx(1.0) and tau == pytest.approx(1.0)
