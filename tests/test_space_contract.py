"""The Space contract, for every registered space and a few op subsets.

Each case builds a space through ``nas_jax.spaces`` and checks, through the
``Space`` object only, what discrete search, the tables and the strategies
rely on: the genotype round trips, the decision operations, the hash, the
encodings and that an op subset is a space in its own right.
"""

import dataclasses
import itertools
import math
import pathlib
import re

from config_helpers import bare  # tests/ is on sys.path under pytest
import jax
import ml_collections
import numpy as np
import pytest

from nas_jax import components, spaces, strategies

CASES = {
    'darts': dict(name='darts'),
    'darts_tiny': dict(
        name='darts', primitives=('none', 'skip_connect', 'sep_conv_3x3'), steps=2, multiplier=2
    ),
    'darts_no_none': dict(
        name='darts', primitives=('max_pool_3x3', 'skip_connect', 'sep_conv_3x3', 'dil_conv_3x3')
    ),
    'nb201': dict(name='nb201'),
    'nb201_4ops': dict(
        name='nb201', primitives=('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3')
    ),
    'nb201_2ops': dict(name='nb201', primitives=('nor_conv_3x3', 'skip_connect')),
    'nbgraph': dict(name='nbgraph'),
    'nbgraph_proteins': dict(name='nbgraph', primitives=('gcn', 'sage', 'arma', 'fc', 'skip')),
}


def _space(case):
  kw = dict(CASES[case])
  return spaces.get(kw.pop('name'), kw.pop('primitives', None), **kw)


@pytest.fixture(params=sorted(CASES))
def space(request):
  return _space(request.param)


def _archs(space, n=12, seed=0):
  return space.sample(jax.random.key(seed), n)


def test_every_registered_space_has_a_case():
  assert {c['name'] for c in CASES.values()} == set(spaces.NAMES)


def test_derive_of_one_hot_is_the_genotype(space):
  for arch in _archs(space):
    g = space.to_genotype(arch)
    w = space.one_hot(g)
    assert set(w) == set(space.cells)
    assert all(v.shape == space.shape() for v in w.values())
    derived = space.derive(w)
    # DARTS lists a node's two inputs by strength (tied here); the decisions are order-free.
    assert space.from_genotype(derived) == arch
    assert space.hash(space.from_genotype(derived)) == space.hash(arch)
    if space.name == 'nb201':
      assert derived == g


def test_text_and_json_round_trips(space, tmp_path):
  for k, arch in enumerate(_archs(space, 6)):
    g = space.to_genotype(arch)
    assert space.load_genotype(space.to_text(g)) == g
    assert type(g).from_json(g.to_json()) == g
    path = tmp_path / f'g{k}.json'
    path.write_text(g.to_json(indent=2))
    assert space.load_genotype(str(path)) == g


def test_from_genotype_inverts_to_genotype(space):
  for arch in _archs(space, 20, seed=1):
    assert space.from_genotype(space.to_genotype(arch)) == arch


def test_mutate_changes_exactly_one_decision_and_keeps_its_argument(space):
  options = space.options
  for k, arch in enumerate(_archs(space, 20, seed=2)):
    before = tuple(arch)
    child = space.mutate(jax.random.key(100 + k), arch)
    assert tuple(arch) == before
    diff = [i for i, (a, b) in enumerate(zip(arch, child)) if a != b]
    assert len(diff) == 1 and 0 <= child[diff[0]] < options[diff[0]]


def test_neighbours_are_every_one_decision_change(space):
  arch = _archs(space, 1, seed=3)[0]
  nbrs = space.neighbours(arch)
  assert len(nbrs) == sum(n - 1 for n in space.options)
  assert len(set(nbrs)) == len(nbrs)
  for n in nbrs:
    assert sum(a != b for a, b in zip(arch, n)) == 1


def test_size_and_enumerate(space):
  size = space.size()
  assert size == math.prod(space.options)
  if size > 20_000:  # the full DARTS space: 1e18 archs; check the head of the enumeration
    head = list(itertools.islice(space.enumerate(), 50))
    assert len(set(head)) == 50
    return
  archs = list(space.enumerate())
  assert len(archs) == size == len(set(archs))
  assert [space.index(a) for a in archs[:30]] == list(range(30))


def test_encodings_are_float_vectors_that_tell_archs_apart(space):
  archs = list(dict.fromkeys(_archs(space, 30, seed=4)))
  for kind in ('onehot', 'path'):
    vectors = [space.encode(a, kind) for a in archs]
    assert all(v.dtype == np.float32 and v.ndim == 1 for v in vectors)
    assert len({v.shape for v in vectors}) == 1
  onehots = {space.encode(a, 'onehot').tobytes() for a in archs}
  assert len(onehots) == len(archs)
  with pytest.raises(ValueError, match="unknown encoding 'graph'"):
    space.encode(archs[0], 'graph')


def test_sample_is_reproducible_and_honours_the_op_subset(space):
  a = _archs(space, 8, seed=5)
  assert a == _archs(space, 8, seed=5) and a != _archs(space, 8, seed=6)
  for arch in a:
    g = space.to_genotype(arch)
    used = {op for *_, op in space.edges(g)}
    assert used <= set(space.primitives)


def test_every_strategy_honours_the_op_subset():
  subset = CASES['nb201_4ops']['primitives']
  for name in strategies.NAMES:
    config = bare(strategy=name, space='nb201', primitives=subset, epochs=3)
    st = components.strategy(config)
    assert st.space.primitives == subset
    arch = st.init(jax.random.key(0))
    assert arch['cell'].shape == (6, 4)
    g = st.derive(arch)
    assert {op for *_, op in st.space.edges(g)} <= set(subset)


# -- Hashes: hand-built isomorphic and non-isomorphic pairs -----------------------------------

NB201 = spaces.get('nb201')
DARTS = spaces.get('darts')


def _nb201(text):
  return NB201.from_genotype(NB201.load_genotype(text))


@pytest.mark.parametrize(
    'a,b',
    [
        # Node 1 is zero, so the op on 1->2 and 1->3 does not matter (both terms are '#').
        (
            '|none~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|',
            '|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_3x3~1|skip_connect~2|',
        ),
        # skip on 1->2 and skip on 0->1 compose to the same term as skip 0->2 with zero 1->2.
        (
            '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|',
            '|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|',
        ),
    ],
)
def test_nb201_isomorphic_cells_share_a_hash(a, b):
  assert _nb201(a) != _nb201(b)
  assert NB201.hash(_nb201(a)) == NB201.hash(_nb201(b))


@pytest.mark.parametrize(
    'a,b',
    [
        # The op on 0->3 is on the one path to the output.
        (
            '|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|',
            '|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|',
        ),
        (
            '|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_3x3~1|skip_connect~2|',
            '|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_3x3~1|nor_conv_3x3~2|',
        ),
    ],
)
def test_nb201_different_cells_have_different_hashes(a, b):
  # (Changing an op on an edge out of a node that reaches nothing would not count: node 1 of
  # '|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|' is dead.)
  assert NB201.hash(_nb201(a)) != NB201.hash(_nb201(b))


def test_nb201_unique_count_is_the_benchmarks():
  assert NB201.size() == 5**6 == 15_625
  assert len(NB201.unique()) == 6_466
  functional = dataclasses.replace(NB201, hash_rule='functional')
  assert len(functional.unique()) < 6_466


def _darts(normal):
  g = DARTS.load_genotype('DARTS_V2')
  return DARTS.from_genotype(dataclasses.replace(g, normal=normal))


def test_darts_renumbered_independent_nodes_share_a_hash():
  # Nodes 2 and 3 read only the cell inputs; swapping them (and relabelling node 4's and 5's
  # inputs) is the same cell.
  a = (
      ('sep_conv_3x3', 0),
      ('sep_conv_3x3', 1),
      ('skip_connect', 0),
      ('dil_conv_3x3', 1),
      ('max_pool_3x3', 2),
      ('sep_conv_5x5', 3),
      ('skip_connect', 2),
      ('avg_pool_3x3', 4),
  )
  b = (
      ('skip_connect', 0),
      ('dil_conv_3x3', 1),
      ('sep_conv_3x3', 0),
      ('sep_conv_3x3', 1),
      ('max_pool_3x3', 3),
      ('sep_conv_5x5', 2),
      ('skip_connect', 3),
      ('avg_pool_3x3', 4),
  )
  assert _darts(a) != _darts(b)
  assert DARTS.hash(_darts(a)) == DARTS.hash(_darts(b))
  c = a[:7] + (('avg_pool_3x3', 3),)  # node 5 reads node 3 instead of node 4: another cell
  assert DARTS.hash(_darts(c)) != DARTS.hash(_darts(a))


# -- The registry ---------------------------------------------------------------------------------


def test_a_new_space_registers_itself_and_the_config_finds_it():

  @spaces.register
  @dataclasses.dataclass(frozen=True)
  class Copy(type(NB201)):
    name = 'nb201_copy_for_test'

  try:
    config = ml_collections.ConfigDict({'space_name': 'nb201_copy_for_test'})
    config.space = components.section('space', 'nb201_copy_for_test')
    space = components.space(config)
    assert isinstance(space, Copy) and space.primitives == NB201.primitives
    assert spaces.get('nb201_copy_for_test', ('none', 'skip_connect')).size() == 2**6
  finally:
    spaces.REGISTRY.remove('nb201_copy_for_test')
  with pytest.raises(
      ValueError, match=r"unknown search space 'nope' \(known: darts, nb201, nbgraph\)"
  ):
    spaces.get('nope')
  with pytest.raises(
      ValueError, match="unknown op 'sep_conv_3x3' in primitives; known ops of the " 'nb201 space'
  ):
    spaces.get('nb201', ('none', 'sep_conv_3x3'))


def test_no_code_outside_the_spaces_branches_on_a_space_name():
  """Strategies, the loops, the plots, the launchers and the configs reach space-specific
  behaviour through the Space object: no comparison with a space's name outside spaces/."""
  root = pathlib.Path(__file__).resolve().parents[1]
  names = '|'.join(spaces.NAMES)
  pattern = re.compile(
      rf"""(==|!=)\s*['"]({names})['"]|['"]({names})['"]\s*(==|!=)|"""
      rf"""\bif\b[^\n#]*['"]({names})['"]\s+(not\s+)?in\b"""
  )
  offenders = []
  for folder in ('nas_jax', 'experiments', 'benchmarks'):
    for path in (root / folder).rglob('*.py'):
      if 'spaces' in path.relative_to(root).parts:
        continue
      for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if pattern.search(line.split('#')[0]):
          offenders.append(f'{path.relative_to(root)}:{lineno}: {line.strip()}')
  assert not offenders, '\n'.join(offenders)
