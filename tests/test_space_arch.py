"""Discrete-search operations of the search spaces: decisions, NB201 and DARTS archs."""

import collections

import jax
import numpy as np
import pytest

from nas_jax.spaces import decisions
from nas_jax.spaces.darts import arch as darts_arch
from nas_jax.spaces.darts import discretize
from nas_jax.spaces.darts.genotype import (
    DARTS_PRIMITIVES,
    DARTS_V1,
    DARTS_V2,
    Genotype,
    GenotypeError,
)
from nas_jax.spaces.nb201 import arch as nb201_arch
from nas_jax.spaces.nb201.genotype import EDGES, NB201_PRIMITIVES, NB201Genotype

SUBSET = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3')
C1, C3, AP, SK, NO = 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3', 'skip_connect', 'none'
TINY = ('none', 'skip_connect', 'sep_conv_3x3')


def _one_line(e: pytest.ExceptionInfo) -> str:
  message = str(e.value)
  assert message and '\n' not in message
  return message


# -- Decisions ---------------------------------------------------------------------------


def test_size_is_the_exact_product():
  assert decisions.size((2, 3, 4)) == 24
  assert decisions.size(()) == 1
  assert decisions.size((1, 1)) == 1
  assert decisions.size((7,) * 40) == 7**40  # beyond int64, still exact
  assert isinstance(decisions.size(np.array([2, 3])), int)


def test_enumerate_all_is_lexicographic_distinct_and_matches_index():
  options = (2, 1, 3, 2)
  archs = list(decisions.enumerate_all(options))
  assert len(archs) == len(set(archs)) == decisions.size(options) == 12
  assert archs == sorted(archs)
  assert archs[0] == (0, 0, 0, 0) and archs[-1] == (1, 0, 2, 1)
  for i, arch in enumerate(archs):
    assert decisions.index(arch, options) == i
    assert decisions.from_index(i, options) == arch
  assert list(decisions.enumerate_all(())) == [()]


def test_index_round_trip_on_a_huge_space():
  options = (7, 3, 10) * 20
  arch = tuple((5 * d + 1) % n for d, n in enumerate(options))
  i = decisions.index(arch, options)
  assert i > 2**63 and decisions.from_index(i, options) == arch
  last = decisions.size(options) - 1
  assert decisions.from_index(last, options) == tuple(n - 1 for n in options)


def test_mutate_changes_exactly_one_decision_and_reaches_every_neighbour():
  options = (2, 1, 3, 4)
  arch = [1, 0, 2, 0]
  seen = collections.Counter()
  for seed in range(300):
    out = decisions.mutate(jax.random.key(seed), arch, options)
    assert isinstance(out, tuple) and all(type(v) is int for v in out)
    decisions.check(out, options)
    changed = [d for d in range(4) if out[d] != arch[d]]
    assert len(changed) == 1 and changed[0] != 1  # the 1-option decision never moves
    seen[out] += 1
  assert arch == [1, 0, 2, 0]  # the input is left alone
  assert set(seen) == set(decisions.neighbours(arch, options))  # every (decision, value)
  # Decision first (1/3 each), then a value: decision 0 has one other value.
  assert 60 < seen[(0, 0, 2, 0)] < 140


def test_mutate_accepts_legacy_keys_and_is_a_function_of_the_key():
  options = (5,) * 6
  arch = (0,) * 6
  legacy = jax.random.PRNGKey(3)
  assert decisions.mutate(legacy, arch, options) == decisions.mutate(legacy, arch, options)
  outs = {decisions.mutate(jax.random.key(s), arch, options) for s in range(20)}
  assert len(outs) > 5


def test_neighbours_are_every_single_change_in_order():
  options = (2, 1, 3, 4)
  arch = (1, 0, 2, 0)
  out = decisions.neighbours(arch, options)
  assert len(out) == sum(n - 1 for n in options) == 6
  assert out == [(0, 0, 2, 0), (1, 0, 0, 0), (1, 0, 1, 0), (1, 0, 2, 1), (1, 0, 2, 2), (1, 0, 2, 3)]
  for other in out:
    assert sum(a != b for a, b in zip(arch, other)) == 1
  assert decisions.neighbours((0, 0), (1, 1)) == []


def test_sample_is_reproducible_per_key_and_differs_across_keys():
  options = (5,) * 6
  a = decisions.sample(jax.random.key(0), options, 50)
  assert a == decisions.sample(jax.random.key(0), options, 50)
  assert a != decisions.sample(jax.random.key(1), options, 50)
  assert len(a) == 50 and all(type(v) is int for arch in a for v in arch)
  for arch in a:
    decisions.check(arch, options)
  legacy = decisions.sample(jax.random.PRNGKey(7), (2, 3), 4)
  assert legacy == decisions.sample(jax.random.PRNGKey(7), (2, 3), 4)
  assert decisions.sample(jax.random.key(0), options, 0) == []
  assert decisions.sample(jax.random.key(0), (), 2) == [(), ()]
  assert decisions.sample(jax.random.key(0), (1, 1), 3) == [(0, 0)] * 3


def test_sample_is_uniform_over_a_small_space():
  options = (2, 3, 4)
  n = 4800  # 200 expected per cell of the 24
  counts = collections.Counter(decisions.sample(jax.random.key(42), options, n))
  observed = np.array([counts[a] for a in decisions.enumerate_all(options)], np.float64)
  assert observed.sum() == n
  expected = n / decisions.size(options)
  chi2 = float(((observed - expected) ** 2 / expected).sum())
  try:
    from scipy import stats  # pylint: disable=import-outside-toplevel

    assert stats.chi2.sf(chi2, df=23) > 1e-4
  except ImportError:
    assert chi2 < 60.0  # df = 23: mean 23, sd ~6.8; p(chi2 > 60) ~ 4e-5


def test_decision_errors_are_one_line():
  with pytest.raises(ValueError, match='options'):
    decisions.size((2, 0))
  with pytest.raises(ValueError, match='options'):
    decisions.size('23')
  with pytest.raises(ValueError, match='decision'):
    decisions.check((0, 0), (2, 2, 2))
  with pytest.raises(ValueError, match=r'arch\[1\] = 3 is out of range') as e:
    decisions.check((0, 3), (2, 3))
  _one_line(e)
  with pytest.raises(ValueError, match='integer'):
    decisions.check((0, 1.0), (2, 3))
  with pytest.raises(ValueError, match='no decision has 2 or more options') as e:
    decisions.mutate(jax.random.key(0), (0, 0), (1, 1))
  _one_line(e)
  with pytest.raises(ValueError, match='out of range'):
    decisions.mutate(jax.random.key(0), (2, 0), (2, 2))
  with pytest.raises(ValueError, match='index'):
    decisions.from_index(6, (2, 3))
  with pytest.raises(ValueError, match='n must be'):
    decisions.sample(jax.random.key(0), (2,), -1)


# -- NB201 ---------------------------------------------------------------------------------


def _cell(*edge_ops: str) -> NB201Genotype:
  """Ops on edges (0,1), (0,2), (1,2), (0,3), (1,3), (2,3)."""
  return NB201Genotype.from_edge_ops(edge_ops)


def _all_cells(primitives):
  return [
      nb201_arch.to_genotype(a, primitives)
      for a in decisions.enumerate_all(nb201_arch.options(primitives))
  ]


@pytest.fixture(scope='module')
def full_cells():
  return _all_cells(NB201_PRIMITIVES)


def test_nb201_options_and_round_trip_over_the_whole_space(full_cells):
  options = nb201_arch.options(NB201_PRIMITIVES)
  assert options == (5,) * 6 and decisions.size(options) == 15625
  archs = list(decisions.enumerate_all(options))
  assert len(set(full_cells)) == 15625
  for arch, genotype in zip(archs, full_cells):
    assert nb201_arch.from_genotype(genotype, NB201_PRIMITIVES) == arch
  # The arch is the edge ops in EDGES order.
  g = nb201_arch.to_genotype((3, 0, 4, 1, 2, 0), NB201_PRIMITIVES)
  assert g.edge_ops() == (C3, NO, AP, SK, C1, NO)


def test_nb201_round_trip_on_the_four_op_subset():
  assert nb201_arch.options(SUBSET) == (4,) * 6
  cells = _all_cells(SUBSET)
  assert len(set(cells)) == 4096
  for arch, genotype in zip(decisions.enumerate_all(nb201_arch.options(SUBSET)), cells):
    assert nb201_arch.from_genotype(genotype, SUBSET) == arch
  # The index follows SUBSET, not NB201_PRIMITIVES.
  assert nb201_arch.from_genotype(_cell(C3, NO, SK, C1, C1, C3), SUBSET) == (3, 0, 1, 2, 2, 3)
  with pytest.raises(GenotypeError, match="edge 1->2 uses op 'avg_pool_3x3'") as e:
    nb201_arch.from_genotype(_cell(C3, NO, AP, C1, C1, C3), SUBSET)
  _one_line(e)


def test_nb201_isomorphism_counts(full_cells):
  assert len({nb201_arch.unique_str(g) for g in full_cells}) == 6466  # the benchmark's count
  assert len({nb201_arch.hash(g) for g in full_cells}) == 6466
  assert len({nb201_arch.functional_str(g) for g in full_cells}) == 4930
  assert len({nb201_arch.hash(g, rule='functional') for g in full_cells}) == 4930
  subset = _all_cells(SUBSET)
  assert len({nb201_arch.unique_str(g) for g in subset}) == 1236
  assert len({nb201_arch.functional_str(g) for g in subset}) == 871


def test_nb201_counts_on_none_and_skip_match_a_hand_count():
  cells = _all_cells((NO, SK))
  # Functional: the output is '0' once per all-skip input->output path, 0..4 times, and each
  # multiplicity occurs (none; 0->3; + 0->1->3; + 0->2->3; all skip): 5 classes.
  assert sorted({nb201_arch.functional_str(g) for g in cells}) == [
      '#',
      '0',
      '0+0',
      '0+0+0',
      '0+0+0+0',
  ]
  # NB201 rule: node 3 joins three terms. With a zero edge 2->3 ('#') the other two terms
  # ('#' or '0') give 3 strings of 3 tokens; with a skip 2->3 its term is node 2's label
  # '#+#', '#+0' or '0+0', and the joined strings are the sorted 4-token strings
  # '#+#+#+#', '#+#+#+0', '#+#+0+0', '#+0+0+0', '0+0+0+0': 3 + 5 = 8.
  assert sorted({nb201_arch.unique_str(g) for g in cells}) == sorted(
      ['#+#+#', '#+#+0', '#+0+0', '#+#+#+#', '#+#+#+0', '#+#+0+0', '#+0+0+0', '0+0+0+0']
  )


def test_nb201_functional_classes_match_a_numerical_evaluation(full_cells):
  # Every op a fixed random map with f(0) = 0, nonlinear so that f(x) + f(y) != f(x + y);
  # cells with equal functional strings compute the same output, others differ.
  rng = np.random.default_rng(0)
  x = rng.normal(size=8)
  maps = {op: rng.normal(size=(8, 8)) for op in (C1, C3, AP)}
  archs = np.array(list(decisions.enumerate_all(nb201_arch.options(NB201_PRIMITIVES))))
  nodes = [np.broadcast_to(x, (len(archs), 8))]
  for target in (1, 2, 3):
    total = 0.0
    for e, (source, t) in enumerate(EDGES):
      if t != target:
        continue
      v = nodes[source]
      candidates = np.stack(
          [np.zeros_like(v), v] + [np.tanh(v @ maps[op].T) for op in NB201_PRIMITIVES[2:]], axis=1
      )
      total = total + candidates[np.arange(len(archs)), archs[:, e]]
    nodes.append(total)
  outputs = nodes[3]
  classes = {}
  for g, out in zip(full_cells, outputs):
    first = classes.setdefault(nb201_arch.functional_str(g), out)
    np.testing.assert_allclose(out, first, atol=1e-9)
  assert len(np.unique(np.round(outputs, 6), axis=0)) == len(classes) == 4930


def test_nb201_unique_str_of_hand_built_cells():
  resnet = _cell(C3, C3, AP, SK, C3, SK)
  # node 1 '(0)@c3'; node 2 terms '(0)@c3', '((0)@c3)@ap'; node 3 terms '0', '((0)@c3)@c3',
  # node 2's label.
  n1 = f'(0)@{C3}'
  n2 = '+'.join(sorted([f'(0)@{C3}', f'({n1})@{AP}']))
  assert nb201_arch.unique_str(resnet) == '+'.join(sorted(['0', f'({n1})@{C3}', n2]))
  assert nb201_arch.unique_str(_cell(*[NO] * 6)) == '#+#+#'
  assert nb201_arch.functional_str(_cell(*[NO] * 6)) == '#'
  assert nb201_arch.unique_str(_cell(NO, NO, NO, C1, NO, NO)) == f'#+#+(0)@{C1}'


def _same(a, b, rule):
  return nb201_arch.hash(a, rule) == nb201_arch.hash(b, rule)


@pytest.mark.parametrize('rule', ['nb201', 'functional'])
def test_nb201_isomorphic_pairs_share_a_hash(rule):
  # A skip 0->1 makes node 1 a copy of the input: conv on 1->3 equals conv on 0->3.
  assert _same(_cell(SK, NO, NO, NO, C3, NO), _cell(NO, NO, NO, C3, NO, NO), rule)
  # With node 1 a copy of the input, the two edges into node 2 commute.
  assert _same(_cell(SK, C1, C3, NO, NO, SK), _cell(SK, C3, C1, NO, NO, SK), rule)
  # A 'none' edge into node 1 makes node 1 zero ('#'): what leaves it does not matter.
  assert _same(_cell(NO, C3, C1, AP, SK, C1), _cell(NO, C3, AP, AP, C3, C1), rule)
  # Summing at node 3 is commutative: swap the convs of the parallel paths 0->3 and 0->1->3
  # (skip on 0->1).
  assert _same(_cell(SK, NO, NO, C1, C3, NO), _cell(SK, NO, NO, C3, C1, NO), rule)


@pytest.mark.parametrize('rule', ['nb201', 'functional'])
def test_nb201_non_isomorphic_pairs_differ(rule):
  assert not _same(_cell(NO, NO, NO, C3, NO, NO), _cell(NO, NO, NO, C1, NO, NO), rule)
  # Op order along a path matters: c3 then c1 is not c1 then c3.
  assert not _same(_cell(C3, NO, NO, NO, C1, NO), _cell(C1, NO, NO, NO, C3, NO), rule)
  # skip + conv is not conv alone.
  assert not _same(_cell(NO, NO, NO, C3, NO, NO), _cell(SK, NO, NO, C3, SK, NO), rule)
  # x + x is not x.
  assert not _same(_cell(SK, NO, NO, SK, SK, NO), _cell(NO, NO, NO, SK, NO, NO), rule)


def test_nb201_rules_differ_where_documented():
  # Node 2 reads only zeros ('#+#' for the nb201 rule, still "non-zero" downstream):
  # functionally the 2->3 edge is then irrelevant.
  a = _cell(C3, NO, NO, C1, NO, C3)
  b = _cell(C3, NO, NO, C1, NO, AP)
  assert not _same(a, b, 'nb201') and _same(a, b, 'functional')
  assert nb201_arch.functional_str(a) == f'(0)@{C1}'
  # Two parallel conv paths through nodes 1 and 2 whose node 2 also reads a zero (1->2
  # none): nb201 keeps '#' inside node 2's label, so swapping the convs changes it.
  a = _cell(C3, C1, NO, NO, SK, SK)
  b = _cell(C1, C3, NO, NO, SK, SK)
  assert not _same(a, b, 'nb201') and _same(a, b, 'functional')
  with pytest.raises(ValueError, match='unknown NB201 hash rule') as e:
    nb201_arch.hash(a, rule='strict')
  _one_line(e)
  assert len(nb201_arch.hash(a)) == 16 and int(nb201_arch.hash(a), 16) >= 0


def test_nb201_onehot():
  arch = (3, 0, 4, 1, 2, 0)
  out = nb201_arch.encode_onehot(arch, NB201_PRIMITIVES)
  assert out.shape == (30,) and out.dtype == np.float32
  expected = np.zeros((6, 5), np.float32)
  for e, k in enumerate(arch):
    expected[e, k] = 1.0
  np.testing.assert_array_equal(out.reshape(6, 5), expected)
  assert nb201_arch.encode_onehot((0,) * 6, SUBSET).shape == (24,)


def test_nb201_path_encoding_of_hand_built_cells():
  prims = NB201_PRIMITIVES  # digits: skip 0, c1 1, c3 2, ap 3; M = 4
  assert nb201_arch.path_encoding_length(prims) == 84
  assert nb201_arch.path_encoding_length(SUBSET) == 3 + 9 + 27

  def encode(*edge_ops):
    arch = nb201_arch.from_genotype(_cell(*edge_ops), prims)
    out = nb201_arch.encode_path(arch, prims)
    assert out.shape == (84,) and out.dtype == np.float32
    return sorted(np.flatnonzero(out).tolist())

  # 0->3 [ap] = 3; 0->1->3 and 0->2->3 have a none edge; 0->1->2->3 [c3, skip, c1] =
  # 4 + 16 + (2*16 + 0*4 + 1) = 53.
  assert encode(C3, NO, SK, AP, NO, C1) == [3, 53]
  # All skip: [skip] = 0, [skip, skip] (twice) = 4, [skip, skip, skip] = 20.
  assert encode(*[SK] * 6) == [0, 4, 20]
  # 0->1->3 [c1, c3] = 4 + 1*4 + 2 = 10; 0->2->3 [ap, skip] = 4 + 12 = 16; 0->3 none;
  # 0->1->2->3 [c1, c1, skip] = 20 + 16 + 4 = 40.
  assert encode(C1, AP, C1, NO, C3, SK) == [10, 16, 40]
  assert encode(*[NO] * 6) == []


def test_nb201_errors_are_one_line():
  with pytest.raises(ValueError, match='decision') as e:
    nb201_arch.to_genotype((0,) * 5, NB201_PRIMITIVES)
  _one_line(e)
  with pytest.raises(ValueError, match='out of range'):
    nb201_arch.to_genotype((0, 0, 0, 0, 0, 4), SUBSET)
  with pytest.raises(ValueError, match='unknown op'):
    nb201_arch.options(('none', 'sep_conv_3x3'))
  with pytest.raises(GenotypeError, match='NB201Genotype'):
    nb201_arch.from_genotype(DARTS_V2, NB201_PRIMITIVES)
  with pytest.raises(GenotypeError, match='NB201Genotype'):
    nb201_arch.unique_str('|none~0|')


# -- DARTS ---------------------------------------------------------------------------------


def _nodes(pairs):
  """The per-node sets of (op, input) pairs of one cell."""
  return [frozenset(pairs[k : k + 2]) for k in range(0, len(pairs), 2)]


def _same_up_to_pair_order(a: Genotype, b: Genotype) -> bool:
  return (
      _nodes(a.normal) == _nodes(b.normal)
      and _nodes(a.reduce) == _nodes(b.reduce)
      and set(a.normal_concat) == set(b.normal_concat)
      and set(a.reduce_concat) == set(b.reduce_concat)
  )


def test_darts_options_and_size():
  assert darts_arch.options(DARTS_PRIMITIVES, 4) == (1, 7, 7, 3, 7, 7, 6, 7, 7, 10, 7, 7) * 2
  assert decisions.size(darts_arch.options(DARTS_PRIMITIVES, 4)) == (180 * 7**8) ** 2
  # Without 'none' every op is an edge op.
  assert darts_arch.options(('skip_connect', 'sep_conv_3x3'), 1) == (1, 2, 2) * 2
  assert darts_arch.input_pairs(2) == ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def test_darts_to_genotype_lists_inputs_ascending():
  # Normal node 0: pair (0, 1) sep/skip; node 1: pair index 2 = (1, 2), skip on 1, sep on 2.
  arch = (0, 1, 0, 2, 0, 1) + (0, 0, 0, 1, 1, 1)
  g = darts_arch.to_genotype(arch, TINY, 2)
  assert g == Genotype(
      normal=((TINY[2], 0), (TINY[1], 1), (TINY[1], 1), (TINY[2], 2)),
      normal_concat=(2, 3),
      reduce=((TINY[1], 0), (TINY[1], 1), (TINY[2], 0), (TINY[2], 2)),
      reduce_concat=(2, 3),
  )
  assert darts_arch.from_genotype(g, TINY, 2) == arch


def _swap_pairs(pairs):
  """The cell with each node's two pairs listed the other way round."""
  return tuple(p for k in range(0, len(pairs), 2) for p in pairs[k : k + 2][::-1])


def test_darts_round_trips_random_archs():
  options = darts_arch.options(DARTS_PRIMITIVES, 4)
  for arch in decisions.sample(jax.random.key(5), options, 20):
    g = darts_arch.to_genotype(arch, DARTS_PRIMITIVES, 4)
    assert darts_arch.from_genotype(g, DARTS_PRIMITIVES, 4) == arch
    # Listing every node's pairs the other way round gives the same arch.
    flipped = Genotype(
        _swap_pairs(g.normal), g.normal_concat[::-1], _swap_pairs(g.reduce), g.reduce_concat
    )
    assert darts_arch.from_genotype(flipped, DARTS_PRIMITIVES, 4) == arch
    assert darts_arch.hash(flipped) == darts_arch.hash(g)


@pytest.mark.parametrize(
    'primitives, steps', [(DARTS_PRIMITIVES, 4), (TINY, 2), (('skip_connect', 'max_pool_3x3'), 3)]
)
def test_darts_round_trips_derived_genotypes(primitives, steps):
  rng = np.random.default_rng(steps)
  shape = (discretize.num_edges(steps), len(primitives))
  for _ in range(10):
    derived = discretize.derive_genotype(
        rng.normal(size=shape),
        rng.normal(size=shape),
        primitives=primitives,
        steps=steps,
        multiplier=steps,
    )
    arch = darts_arch.from_genotype(derived, primitives, steps)
    again = darts_arch.to_genotype(arch, primitives, steps)
    assert _same_up_to_pair_order(again, derived)
    assert darts_arch.canonical_str(again) == darts_arch.canonical_str(derived)
    assert darts_arch.from_genotype(again, primitives, steps) == arch


@pytest.mark.parametrize('genotype', [DARTS_V1, DARTS_V2])
def test_darts_published_genotypes_round_trip(genotype):
  arch = darts_arch.from_genotype(genotype, DARTS_PRIMITIVES, 4)
  again = darts_arch.to_genotype(arch, DARTS_PRIMITIVES, 4)
  assert _same_up_to_pair_order(again, genotype) and again != genotype  # pairs reordered
  assert darts_arch.hash(again) == darts_arch.hash(genotype)


def test_darts_enumerate_a_tiny_space():
  # TINY has 2 edge ops. Per cell: node 0 has 1 pair x 2 x 2 ops = 4, node 1 has
  # C(3, 2) = 3 pairs x 2 x 2 = 12: 48 per cell, 48**2 = 2304 archs.
  options = darts_arch.options(TINY, 2)
  assert options == (1, 2, 2, 3, 2, 2) * 2 and decisions.size(options) == 2304
  archs = list(decisions.enumerate_all(options))
  genotypes = [darts_arch.to_genotype(a, TINY, 2) for a in archs]
  assert len(set(archs)) == len(set(genotypes)) == 2304
  assert all(darts_arch.from_genotype(g, TINY, 2) == a for a, g in zip(archs, genotypes))
  # Isomorphism classes per cell: node 3 reading node 2 (pairs (0, 2), (1, 2)) gives
  # 4 * 2 * 4 = 32 distinct cells; node 3 reading only the inputs (pair (0, 1)) makes nodes
  # 2 and 3 interchangeable, so those 4 * 4 = 16 cells form 4 + C(4, 2) = 10 classes:
  # 42 per cell, 42**2 = 1764 for the genotype.
  assert len({darts_arch.hash(g) for g in genotypes}) == 42**2


def test_darts_isomorphic_pair_shares_a_hash():
  sep, skip, mp, ap = 'sep_conv_3x3', 'skip_connect', 'max_pool_3x3', 'avg_pool_3x3'
  dil = 'dil_conv_3x3'
  # Nodes 2 and 3 both read only the cell inputs, so they can be swapped; node 4 reads both
  # and node 5 reads node 3 (node 2 after the swap).
  cell = ((sep, 0), (skip, 1), (mp, 0), (ap, 1), (dil, 2), (sep, 3), (sep, 3), (skip, 0))
  swapped = ((mp, 0), (ap, 1), (sep, 0), (skip, 1), (sep, 2), (dil, 3), (skip, 0), (sep, 2))
  concat = (2, 3, 4, 5)
  a = Genotype(cell, concat, DARTS_V2.reduce, concat)
  b = Genotype(swapped, concat, DARTS_V2.reduce, concat)
  assert a != b
  assert darts_arch.canonical_str(a) == darts_arch.canonical_str(b)
  assert darts_arch.hash(a) == darts_arch.hash(b)
  assert darts_arch.from_genotype(a, DARTS_PRIMITIVES, 4) != darts_arch.from_genotype(
      b, DARTS_PRIMITIVES, 4
  )
  # Not isomorphic: node 5 reads the node that applies max/avg pooling instead.
  c = Genotype(cell[:6] + ((sep, 2), (skip, 0)), concat, DARTS_V2.reduce, concat)
  assert darts_arch.hash(a) != darts_arch.hash(c)
  # Not isomorphic: the two cell inputs exchanged (c_{k-2} and c_{k-1} differ).
  d = Genotype(((sep, 1), (skip, 0)) + cell[2:], concat, DARTS_V2.reduce, concat)
  assert darts_arch.hash(a) != darts_arch.hash(d)
  # Not isomorphic: the same cells with normal and reduce exchanged.
  e = Genotype(DARTS_V2.reduce, concat, cell, concat)
  assert darts_arch.hash(a) != darts_arch.hash(e)


def test_darts_canonical_str_rule():
  g = Genotype(
      ((TINY[1], 1), (TINY[2], 0), (TINY[2], 2), (TINY[1], 0)),
      (3, 2),
      ((TINY[1], 0), (TINY[1], 1), (TINY[1], 2), (TINY[1], 1)),
      (2, 3),
  )
  n2 = 'sep_conv_3x3(a)+skip_connect(b)'
  r2 = 'skip_connect(a)+skip_connect(b)'
  assert darts_arch.canonical_str(g) == (
      f'normal:{n2}|sep_conv_3x3({n2})+skip_connect(a)'
      f';reduce:{r2}|skip_connect(b)+skip_connect({r2})'
  )


def test_darts_onehot():
  arch = (0, 1, 0, 2, 0, 1) + (0, 0, 0, 1, 1, 1)  # as in test_darts_to_genotype_lists_...
  out = darts_arch.encode_onehot(arch, TINY, 2)
  assert out.shape == (2 * 5 * 2,) and out.dtype == np.float32
  normal, reduce = out.reshape(2, 5, 2)
  # Edges (node, input): (0,0) (0,1) (1,0) (1,1) (1,2); ops skip 0, sep 1.
  np.testing.assert_array_equal(normal, [[0, 1], [1, 0], [0, 0], [1, 0], [0, 1]])
  np.testing.assert_array_equal(reduce, [[1, 0], [1, 0], [0, 1], [0, 0], [0, 1]])
  assert darts_arch.encode_onehot(
      darts_arch.from_genotype(DARTS_V2, DARTS_PRIMITIVES, 4), DARTS_PRIMITIVES, 4
  ).shape == (2 * 14 * 7,)


def test_darts_path_encoding_of_a_hand_built_cell():
  # Ops: skip 0, sep 1 (K' = 2, steps 2): S = 2 + 4 = 6 entries per input, 12 per cell.
  sk, sep = 'skip_connect', 'sep_conv_3x3'
  # Normal: node 2 = skip(0) + sep(1); node 3 = sep(0) + skip(2).
  # Paths from 0: 0->2 [skip] = 0; 0->3 [sep] = 1; 0->2->3 [skip, skip] = 2 + 0 = 2.
  # Paths from 1: 1->2 [sep] = 6 + 1 = 7; 1->2->3 [sep, skip] = 6 + 2 + 2 = 10.
  # Reduce: node 2 = sep(0) + sep(1); node 3 = sep(1) + sep(2).
  # From 0: [sep] = 1; [sep, sep] = 2 + 3 = 5. From 1: [sep] = 7 (twice: 1->2, 1->3);
  # [sep, sep] = 6 + 5 = 11.
  g = Genotype(
      ((sk, 0), (sep, 1), (sk, 2), (sep, 0)),
      (2, 3),
      ((sep, 0), (sep, 1), (sep, 2), (sep, 1)),
      (2, 3),
  )
  arch = darts_arch.from_genotype(g, TINY, 2)
  assert arch == (0, 0, 1, 1, 1, 0) + (0, 1, 1, 2, 1, 1)
  out = darts_arch.encode_path(arch, TINY, 2)
  assert out.shape == (24,) == (darts_arch.path_encoding_length(TINY, 2),)
  assert out.dtype == np.float32
  assert np.flatnonzero(out[:12]).tolist() == [0, 1, 2, 7, 10]
  assert np.flatnonzero(out[12:]).tolist() == [1, 5, 7, 11]
  assert darts_arch.path_encoding_length(DARTS_PRIMITIVES, 4) == 2 * 5600
  darts = darts_arch.encode_path(
      darts_arch.from_genotype(DARTS_V2, DARTS_PRIMITIVES, 4), DARTS_PRIMITIVES, 4
  )
  assert darts.shape == (11200,)


def test_darts_path_encoding_counts_paths_of_every_length():
  # A chain 0 -> 2 -> 3 -> 4 -> 5 of skips (the second input of every node is 1 via sep):
  # from input 0, skip sequences of length 1..4 all occur.
  sk, sep = 'skip_connect', 'sep_conv_3x3'
  cell = ((sk, 0), (sep, 1), (sk, 2), (sep, 1), (sk, 3), (sep, 1), (sk, 4), (sep, 1))
  g = Genotype(cell, (2, 3, 4, 5), cell, (2, 3, 4, 5))
  out = darts_arch.encode_path(darts_arch.from_genotype(g, TINY, 4), TINY, 4)
  per_input = 2 + 4 + 8 + 16
  from_0 = np.flatnonzero(out[:per_input]).tolist()
  assert from_0 == [0, 2, 6, 14]  # [skip] * L at offset 2 + 4 + ... for L = 1..4
  # From 1: [sep] then [sep, skip], [sep, skip, skip], [sep, skip, skip, skip].
  from_1 = np.flatnonzero(out[per_input : 2 * per_input]).tolist()
  assert from_1 == [1, 2 + 2, 6 + 4, 14 + 8]


def test_darts_from_genotype_rejects_what_the_space_cannot_express():
  concat = (2, 3, 4, 5)

  def bad(normal, normal_concat=concat, primitives=DARTS_PRIMITIVES):
    with pytest.raises(GenotypeError) as e:
      darts_arch.from_genotype(
          Genotype(normal, normal_concat, DARTS_V2.reduce, concat), primitives, 4
      )
    return _one_line(e)

  assert 'intermediate node' in bad(DARTS_V2.normal[:6], (2, 3, 4))
  assert 'reads input 0 twice' in bad(
      (('sep_conv_3x3', 0), ('skip_connect', 0)) + DARTS_V2.normal[2:]
  )
  assert "'none'" in bad((('none', 0),) + DARTS_V2.normal[1:])
  assert "'skip_connect'" in bad(DARTS_V2.normal, primitives=('none', 'sep_conv_3x3'))
  assert 'concat' in bad(DARTS_V2.normal, (2, 3, 5))
  assert 'concat' in bad(DARTS_V2.normal, (1, 2, 3, 4, 5))
  with pytest.raises(GenotypeError, match='intermediate node'):
    darts_arch.from_genotype(DARTS_V2, DARTS_PRIMITIVES, 3)
  with pytest.raises(GenotypeError, match='expected a Genotype'):
    darts_arch.from_genotype(NB201Genotype.from_edge_ops([NO] * 6), DARTS_PRIMITIVES, 4)
  with pytest.raises(ValueError, match='steps'):
    darts_arch.options(DARTS_PRIMITIVES, 0)
  with pytest.raises(ValueError, match="other than 'none'"):
    darts_arch.options(('none',), 2)
  with pytest.raises(ValueError, match='decision'):
    darts_arch.to_genotype((0,) * 5, DARTS_PRIMITIVES, 4)
