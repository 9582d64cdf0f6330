"""Tests for nas_jax.spaces.darts.discretize."""

from __future__ import annotations

import numpy as np
import pytest

from nas_jax.spaces.darts.discretize import (
    NONE_OP,
    derive_cell,
    derive_genotype,
    edge_index,
    edge_list,
    num_edges,
)
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES, DARTS_V1, DARTS_V2, Genotype

P = DARTS_PRIMITIVES
OP = {name: k for k, name in enumerate(P)}


def _softmax(x: np.ndarray) -> np.ndarray:
  e = np.exp(x - x.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)


def _alpha_for(pairs, steps: int = 4) -> np.ndarray:
  """Logits that encode `pairs`: the first pair of each node is strongest."""
  alpha = np.zeros((num_edges(steps), len(P)))
  for k, (name, j) in enumerate(pairs):
    alpha[edge_index(k // 2, j), OP[name]] = 6.0 if k % 2 == 0 else 4.0
  return alpha


def _reference_cell(weights, primitives, steps):
  """Literal loop transcription of the DARTS rule, used as an oracle."""
  excluded = primitives.index('none') if 'none' in primitives else None
  gene, start, n = [], 0, 2
  for _ in range(steps):
    w = weights[start : start + n]

    def strength(x, w=w):
      return max(w[x][k] for k in range(len(w[x])) if k != excluded)

    edges = sorted(range(n), key=lambda x: -strength(x))[:2]
    for j in edges:
      k_best = None
      for k in range(len(w[j])):
        if k != excluded and (k_best is None or w[j][k] > w[j][k_best]):
          k_best = k
      gene.append((primitives[k_best], j))
    start += n
    n += 1
  return tuple(gene)


# -- Edge helpers ------------------------------------------------------------------


def test_num_edges():
  assert num_edges(1) == 2
  assert num_edges(2) == 5
  assert num_edges(4) == 14
  assert num_edges(5) == 20


def test_edge_index_values():
  assert edge_index(0, 0) == 0
  assert edge_index(0, 1) == 1
  assert edge_index(1, 0) == 2
  assert edge_index(1, 2) == 4
  assert edge_index(2, 0) == 5
  assert edge_index(2, 3) == 8
  assert edge_index(3, 0) == 9
  assert edge_index(3, 4) == 13


def test_edge_list_matches_edge_index():
  edges = edge_list(4)
  assert len(edges) == 14
  assert edges[:5] == ((0, 0), (0, 1), (1, 0), (1, 1), (1, 2))
  for row, (node, j) in enumerate(edges):
    assert edge_index(node, j) == row


@pytest.mark.parametrize('node,inp', [(-1, 0), (0, 2), (1, 3), (2, -1), (True, 0), (0.0, 0)])
def test_edge_index_invalid(node, inp):
  with pytest.raises(ValueError):
    edge_index(node, inp)


@pytest.mark.parametrize('steps', [0, -2, 1.5, True])
def test_num_edges_invalid(steps):
  with pytest.raises(ValueError):
    num_edges(steps)


# -- Hand-built alphas ---------------------------------------------------------------


def test_hand_built_small_cell():
  prims = ('none', 'conv', 'pool')
  # steps = 2: rows are 0->n0, 1->n0, 0->n1, 1->n1, 2->n1.
  alpha = np.array(
      [
          [0.0, 1.0, 3.0],  # input 0 -> node 0: pool (weaker edge)
          [0.0, 5.0, 1.0],  # input 1 -> node 0: conv (stronger edge)
          [0.0, 2.0, 0.5],  # input 0 -> node 1: conv, 2nd strongest
          [0.0, 0.2, 0.1],  # input 1 -> node 1: weakest, dropped
          [0.0, 0.0, 4.0],  # input 2 -> node 1: pool, strongest
      ]
  )
  g = derive_genotype(alpha, alpha, primitives=prims, steps=2, multiplier=2, apply_softmax=False)
  expected = Genotype(
      normal=(('conv', 1), ('pool', 0), ('pool', 2), ('conv', 0)),
      normal_concat=(2, 3),
      reduce=(('conv', 1), ('pool', 0), ('pool', 2), ('conv', 0)),
      reduce_concat=(2, 3),
  )
  assert g == expected
  # Same result through the softmax: the chosen ops dominate their rows.
  assert derive_genotype(alpha, alpha, primitives=prims, steps=2, multiplier=2) == expected


@pytest.mark.parametrize('genotype', [DARTS_V1, DARTS_V2], ids=['DARTS_V1', 'DARTS_V2'])
def test_hand_built_recovers_published_genotypes(genotype):
  g = derive_genotype(_alpha_for(genotype.normal), _alpha_for(genotype.reduce))
  assert g == genotype


def test_pairs_ordered_by_strength_not_input_index():
  alpha = np.zeros((14, len(P)))
  alpha[edge_index(3, 4), OP['dil_conv_5x5']] = 9.0  # strongest into node 3
  alpha[edge_index(3, 1), OP['sep_conv_5x5']] = 7.0
  alpha[edge_index(3, 0), OP['avg_pool_3x3']] = 5.0  # third: dropped
  normal = derive_genotype(alpha, alpha).normal
  assert normal[6:] == (('dil_conv_5x5', 4), ('sep_conv_5x5', 1))


def test_none_is_excluded_even_when_largest_everywhere():
  alpha = np.zeros((14, len(P)))
  alpha[:, OP['none']] = 10.0
  alpha[edge_index(0, 1), OP['sep_conv_3x3']] = 3.0
  alpha[edge_index(0, 0), OP['skip_connect']] = 2.0
  alpha[edge_index(1, 2), OP['dil_conv_3x3']] = 3.0
  alpha[edge_index(1, 0), OP['avg_pool_3x3']] = 2.0
  alpha[edge_index(2, 3), OP['sep_conv_5x5']] = 3.0
  alpha[edge_index(2, 2), OP['max_pool_3x3']] = 2.0
  alpha[edge_index(3, 4), OP['dil_conv_5x5']] = 3.0
  alpha[edge_index(3, 1), OP['skip_connect']] = 2.0
  expected_normal = (
      ('sep_conv_3x3', 1),
      ('skip_connect', 0),
      ('dil_conv_3x3', 2),
      ('avg_pool_3x3', 0),
      ('sep_conv_5x5', 3),
      ('max_pool_3x3', 2),
      ('dil_conv_5x5', 4),
      ('skip_connect', 1),
  )
  for apply_softmax in (True, False):
    g = derive_genotype(alpha, alpha, apply_softmax=apply_softmax)
    assert g.normal == expected_normal
    assert g.reduce == expected_normal
    assert NONE_OP not in g.ops()


def test_none_only_dominant_gives_lowest_non_none_op():
  alpha = np.zeros((14, len(P)))
  alpha[:, OP['none']] = 50.0
  g = derive_genotype(alpha, alpha)
  assert g.normal == (('max_pool_3x3', 0), ('max_pool_3x3', 1)) * 4


def test_without_none_nothing_is_excluded():
  prims = ('zero', 'conv', 'none_like')  # No op is called exactly 'none'.
  alpha = np.zeros((2, 3))
  alpha[0, 0] = 5.0
  alpha[1, 2] = 6.0
  pairs = derive_cell(alpha, primitives=prims, steps=1, apply_softmax=False)
  assert pairs == (('none_like', 1), ('zero', 0))


def test_none_found_by_name_in_any_column():
  prims = ('conv', 'pool', 'none')
  alpha = np.array([[1.0, 2.0, 9.0], [3.0, 0.0, 9.0]])
  pairs = derive_cell(alpha, primitives=prims, steps=1, apply_softmax=False)
  assert pairs == (('conv', 1), ('pool', 0))


# -- Ties ------------------------------------------------------------------------------


def test_all_equal_weights_lowest_indices_win():
  for apply_softmax in (True, False):
    g = derive_genotype(np.zeros((14, 8)), np.ones((14, 8)), apply_softmax=apply_softmax)
    expected = (('max_pool_3x3', 0), ('max_pool_3x3', 1)) * 4
    assert g.normal == expected
    assert g.reduce == expected


def test_edge_tie_lower_input_wins():
  alpha = np.zeros((14, len(P)))
  # Node 2 (inputs 0..3): inputs 3 and 1 tie for first, input 2 is third.
  alpha[edge_index(2, 3), OP['sep_conv_3x3']] = 4.0
  alpha[edge_index(2, 1), OP['sep_conv_5x5']] = 4.0
  alpha[edge_index(2, 2), OP['skip_connect']] = 3.0
  # Raw weights: the tied rows are permutations of each other, and a softmax
  # over them need not round identically.
  g = derive_genotype(alpha, alpha, apply_softmax=False)
  assert g.normal[4:6] == (('sep_conv_5x5', 1), ('sep_conv_3x3', 3))
  # Identical rows stay exactly tied through the softmax.
  alpha[edge_index(2, 1)] = alpha[edge_index(2, 3)]
  g = derive_genotype(alpha, alpha)
  assert g.normal[4:6] == (('sep_conv_3x3', 1), ('sep_conv_3x3', 3))


def test_op_tie_lower_op_wins():
  alpha = np.zeros((14, len(P)))
  alpha[edge_index(0, 0), [OP['dil_conv_5x5'], OP['skip_connect'], OP['sep_conv_3x3']]] = 3.0
  alpha[edge_index(0, 1), OP['avg_pool_3x3']] = 1.0
  g = derive_genotype(alpha, alpha)
  assert g.normal[0:2] == (('skip_connect', 0), ('avg_pool_3x3', 1))


# -- Softmax ---------------------------------------------------------------------------


@pytest.mark.parametrize('seed', range(5))
def test_softmax_flag_consistent(seed):
  rng = np.random.default_rng(seed)
  a_n = rng.normal(size=(14, 8))
  a_r = rng.normal(size=(14, 8))
  with_softmax = derive_genotype(a_n, a_r, apply_softmax=True)
  precomputed = derive_genotype(_softmax(a_n), _softmax(a_r), apply_softmax=False)
  assert with_softmax == precomputed
  # Adding a per-edge constant to the logits does not change the softmax.
  shifted = derive_genotype(a_n + rng.normal(size=(14, 1)) * 3, a_r + rng.normal(size=(14, 1)) * 3)
  assert shifted == with_softmax


def test_softmax_changes_edge_ranking():
  prims = ('none', 'a', 'b')
  alpha = np.array(
      [[0.0, 2.0, 2.0], [0.0, 1.9, -10.0]]  # Raw max 2.0, softmax max ~0.47.
  )  # Raw max 1.9, softmax max ~0.87.
  raw = derive_cell(alpha, primitives=prims, steps=1, apply_softmax=False)
  soft = derive_cell(alpha, primitives=prims, steps=1, apply_softmax=True)
  assert raw == (('a', 0), ('a', 1))
  assert soft == (('a', 1), ('a', 0))


@pytest.mark.parametrize('seed', range(20))
def test_matches_reference_loop(seed):
  rng = np.random.default_rng(100 + seed)
  steps = int(rng.integers(1, 6))
  multiplier = int(rng.integers(1, steps + 1))
  # Quantised logits make ties frequent.
  a_n = rng.integers(-2, 3, size=(num_edges(steps), 8)).astype(float)
  a_r = rng.normal(size=(num_edges(steps), 8))
  g = derive_genotype(a_n, a_r, steps=steps, multiplier=multiplier)
  assert g.normal == _reference_cell(_softmax(a_n), P, steps)
  assert g.reduce == _reference_cell(_softmax(a_r), P, steps)
  concat = tuple(range(2 + steps - multiplier, steps + 2))
  assert g.normal_concat == concat
  assert g.reduce_concat == concat


# -- Steps / multiplier -------------------------------------------------------------


def test_concat_from_multiplier():
  g = derive_genotype(np.zeros((14, 8)), np.zeros((14, 8)), multiplier=2)
  assert g.normal_concat == (4, 5)
  assert g.reduce_concat == (4, 5)
  g3 = derive_genotype(np.zeros((9, 8)), np.zeros((9, 8)), steps=3, multiplier=3)
  assert g3.normal_concat == (2, 3, 4)
  assert len(g3.normal) == 6


def test_accepts_lists_and_float32():
  alpha = _alpha_for(DARTS_V2.normal).astype(np.float32)
  g = derive_genotype(alpha.tolist(), alpha)
  assert g.normal == DARTS_V2.normal


# -- Errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    'shape_n,shape_r,bad,given',
    [
        ((14, 7), (14, 8), 'alpha_normal', '(14, 7)'),
        ((14, 8), (13, 8), 'alpha_reduce', '(13, 8)'),
        ((14,), (14, 8), 'alpha_normal', '(14,)'),
        ((1, 14, 8), (14, 8), 'alpha_normal', '(1, 14, 8)'),
    ],
)
def test_wrong_shape_raises(shape_n, shape_r, bad, given):
  with pytest.raises(ValueError) as info:
    derive_genotype(np.zeros(shape_n), np.zeros(shape_r))
  msg = str(info.value)
  assert '\n' not in msg
  assert bad in msg
  assert '(14, 8)' in msg and given in msg


def test_wrong_steps_for_shape_raises():
  with pytest.raises(ValueError, match=r'expected shape \(9, 8\).*got \(14, 8\)'):
    derive_genotype(np.zeros((14, 8)), np.zeros((14, 8)), steps=3, multiplier=3)


def test_non_finite_raises():
  alpha = np.zeros((14, 8))
  alpha[3, 2] = np.nan
  with pytest.raises(ValueError, match='alpha_reduce'):
    derive_genotype(np.zeros((14, 8)), alpha)


@pytest.mark.parametrize(
    'kwargs',
    [
        {'multiplier': 0},
        {'multiplier': 5},
        {'steps': 0},
        {'primitives': ('none',) * 8},
        {'primitives': 'abcdefgh'},
    ],
)
def test_invalid_arguments_raise(kwargs):
  with pytest.raises(ValueError):
    derive_genotype(np.zeros((14, 8)), np.zeros((14, 8)), **kwargs)


def test_only_none_primitive_raises():
  with pytest.raises(ValueError, match="other than 'none'"):
    derive_cell(np.zeros((2, 1)), primitives=('none',), steps=1)


def test_random_genotype_is_a_valid_seeded_sample():
  from nas_jax.spaces.darts.discretize import random_genotype

  g = random_genotype(7)
  assert g == random_genotype(7) and g != random_genotype(8)
  g.validate(DARTS_PRIMITIVES)
  for cell in (g.normal, g.reduce):
    assert len(cell) == 8 and all(op != 'none' for op, _ in cell)
    for node in range(4):
      (_, a), (_, b) = cell[2 * node : 2 * node + 2]
      assert a != b and max(a, b) <= node + 1  # two distinct earlier inputs
  assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
  # Over many seeds every op and every input position shows up.
  samples = [random_genotype(s) for s in range(200)]
  assert {op for s in samples for op, _ in s.normal} == set(DARTS_PRIMITIVES) - {'none'}
  assert {j for s in samples for _, j in s.normal[6:]} == {0, 1, 2, 3, 4}
