"""NAS-Bench-201: ops, genotype string form, derivation, evaluation network, retraining."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_train import run, tiny_config  # the tiny retraining set-up (mock CIFAR-10)

from nas_jax import netstats, ops, spaces, train
from nas_jax.spaces import nb201
from nas_jax.spaces.darts import ops as darts_ops
from nas_jax.spaces.darts.genotype import DARTS_V2, GenotypeError
from nas_jax.spaces.nb201 import EDGES, NB201Genotype, NB201Network

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESNET = (
    '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+'
    '|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
)
ALL_CONV = (
    '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+'
    '|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|'
)
ALL_NONE = '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'
MIXED = '|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|'


def _one_line(e: pytest.ExceptionInfo) -> str:
  message = str(e.value)
  assert message and '\n' not in message and '\r' not in message
  return message


# -- Ops ---------------------------------------------------------------------------------


def _op_variables(name, channels=4, affine=True):
  x = jnp.ones((channels, 2, 5, 5), jnp.float32)
  op = nb201.OPS.make(name, channels, 1, affine=affine)
  variables = op.init(jax.random.key(0), x, True)
  out, _ = op.apply(variables, x, True, mutable=['batch_stats'])
  return variables, out


@pytest.mark.parametrize('name', nb201.NB201_PRIMITIVES)
def test_nb201_ops_keep_the_shape_and_have_the_documented_parameters(name):
  variables, out = _op_variables(name)
  assert out.shape == (4, 2, 5, 5)
  n_params = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(variables.get('params', {})))
  # nor_conv_kxk: k*k*C*C conv weights (no bias) + affine BN; pooling has no BN at all.
  assert n_params == {'nor_conv_1x1': 16 + 8, 'nor_conv_3x3': 9 * 16 + 8}.get(name, 0)
  assert ('batch_stats' in variables) == name.startswith('nor_conv')
  if name == 'none':
    np.testing.assert_array_equal(out, 0.0)
  if name == 'skip_connect':
    np.testing.assert_array_equal(out, 1.0)
  if name == 'avg_pool_3x3':  # padded cells are not counted: a constant input stays constant
    np.testing.assert_allclose(out, 1.0, rtol=1e-6)


def test_nb201_ops_search_mode_and_registry():
  variables, _ = _op_variables('nor_conv_3x3', affine=False)
  assert sum(int(np.prod(v.shape)) for v in jax.tree.leaves(variables['params'])) == 9 * 16
  assert spaces.get('nb201').registry is nb201.OPS and spaces.get('darts').registry is darts_ops.OPS
  assert nb201.OPS.names() == nb201.NB201_PRIMITIVES
  assert nb201.OPS.validate(nb201.NB201_PRIMITIVES) == nb201.NB201_PRIMITIVES
  assert darts_ops.OPS.validate(['sep_conv_3x3', 'none']) == ('sep_conv_3x3', 'none')
  assert (
      isinstance(darts_ops.OPS.make('avg_pool_3x3', 4, 1), ops.Pool)
      and darts_ops.OPS.make('avg_pool_3x3', 4, 1).bn
  )
  assert not nb201.OPS.make('avg_pool_3x3', 4, 1).bn


@pytest.mark.parametrize(
    'call,message',
    [
        (
            lambda: nb201.OPS.make('nor_conv_3x3', 4, 2),
            "NB201 op 'nor_conv_3x3' exists at stride 1 only, got stride 2",
        ),
        (
            lambda: nb201.OPS.make('skip_connect', 4, 2),
            "NB201 op 'skip_connect' exists at stride 1 only",
        ),
        (
            lambda: nb201.OPS.make('sep_conv_3x3', 4, 1),
            "unknown op 'sep_conv_3x3'; known ops of the nb201 space: avg_pool_3x3, none, nor_conv_1x1",
        ),
        (
            lambda: darts_ops.OPS.make('nor_conv_3x3', 4, 1),
            "unknown op 'nor_conv_3x3'; known ops of the darts space: ",
        ),
        (
            lambda: spaces.get('nb101'),
            "unknown search space 'nb101'; did you mean 'nb201'? (known: darts, nb201, nbgraph)",
        ),
        (lambda: spaces.get('DARTS'), "unknown search space 'DARTS'"),
        (
            lambda: nb201.OPS.validate(['none', 'max_pool_3x3']),
            "unknown op 'max_pool_3x3' in primitives",
        ),
    ],
)
def test_nb201_op_errors_are_one_line(call, message):
  with pytest.raises(ValueError) as e:
    call()
  assert message in _one_line(e)


# -- Genotype ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'text',
    [RESNET, ALL_CONV, ALL_NONE, MIXED] + [nb201.random_genotype(s).to_string() for s in range(4)],
)
def test_string_round_trip(text, tmp_path):
  g = NB201Genotype.from_string(text)
  assert g.to_string() == text and str(g) == text
  assert NB201Genotype.from_string(f'  {text}\n') == g  # surrounding whitespace is ignored
  assert NB201Genotype(g.nodes) == g and hash(NB201Genotype(g.nodes)) == hash(g)
  assert NB201Genotype.from_edge_ops(g.edge_ops()) == g
  assert json.loads(g.to_json()) == {'space': 'nb201', 'arch': text}
  assert NB201Genotype.from_json(g.to_json(indent=2)) == g
  # load: the string itself, a .json file, a text file with the string.
  assert nb201.load(text) == g and nb201.load(g) is g
  nb201.save_json(g, tmp_path / 'sub' / 'genotype.json')
  assert [p.name for p in (tmp_path / 'sub').iterdir()] == ['genotype.json']  # no temp file left
  assert nb201.load(str(tmp_path / 'sub' / 'genotype.json')) == g
  (tmp_path / 'arch.txt').write_text(text + '\n')
  assert nb201.load(tmp_path / 'arch.txt') == g


def test_constructor_takes_lists_and_the_brief_example():
  g = NB201Genotype(
      [
          [('nor_conv_3x3', 0)],
          [['nor_conv_3x3', 0], ('avg_pool_3x3', 1)],
          [('skip_connect', 0), ('nor_conv_3x3', 1), ('skip_connect', np.int64(2))],
      ]
  )
  assert g.nodes == (
      (('nor_conv_3x3', 0),),
      (('nor_conv_3x3', 0), ('avg_pool_3x3', 1)),
      (('skip_connect', 0), ('nor_conv_3x3', 1), ('skip_connect', 2)),
  )
  assert g.to_string() == RESNET
  with pytest.raises(dataclasses.FrozenInstanceError):
    g.nodes = ()


@pytest.mark.parametrize(
    'text,message',
    [
        ('', 'empty NB201 genotype string'),
        (
            '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|',
            "has 2 node group(s), expected 3 joined by '+'",
        ),
        (RESNET + '+|none~0|', 'has 4 node group(s), expected 3'),
        (RESNET[1:], "node 1 'nor_conv_3x3~0|': must start and end with '|'"),
        (
            RESNET[:-1],
            "node 3 '|skip_connect~0|nor_conv_3x3~1|skip_connect~2': must start and end "
            "with '|'",
        ),
        (
            RESNET.replace('nor_conv_3x3~0|avg', 'nor_conv_3x3~0avg'),
            "has 1 edge(s), expected 2 ('|op~input|' for each of nodes 0..1)",
        ),
        (RESNET.replace('|+|nor_conv_3x3~0|avg_pool_3x3~1|+', '|+||+'), 'node 2 of NB201 genotype'),
        (
            RESNET.replace('avg_pool_3x3', 'conv_5x5'),
            "node 2, entry 2: unknown op 'conv_5x5'; known NB201 ops: none, skip_connect, nor_conv_1x1, "
            'nor_conv_3x3, avg_pool_3x3',
        ),
        (RESNET.replace('avg_pool_3x3', 'sep_conv_3x3'), "unknown op 'sep_conv_3x3'"),
        (
            RESNET.replace('avg_pool_3x3~1', 'avg_pool_3x3~0'),
            'node 2, entry 2: input index 0, expected 1 (node 2 reads nodes 0..1 once each, in order)',
        ),
        (
            '|nor_conv_3x3~0|+|avg_pool_3x3~1|nor_conv_3x3~0|+'
            '|skip_connect~0|nor_conv_3x3~1|skip_connect~2|',
            'node 2, entry 1: input index 1, expected 0',
        ),
        (
            RESNET.replace('skip_connect~2', 'skip_connect~3'),
            'node 3, entry 3: input index 3, expected 2',
        ),
        (RESNET.replace('~1|+', '|+'), "node 2, entry 2: expected 'op~input', got 'avg_pool_3x3'"),
        (
            RESNET.replace('avg_pool_3x3~1', 'avg_pool_3x3~one'),
            "node 2, entry 2: input index 'one' is not a non-negative integer",
        ),
        (
            RESNET.replace('avg_pool_3x3~1', 'avg_pool_3x3~-1'),
            "input index '-1' is not a non-negative",
        ),
    ],
)
def test_parse_errors_are_one_line_and_name_the_problem(text, message):
  with pytest.raises(GenotypeError) as e:
    NB201Genotype.from_string(text)
  assert isinstance(e.value, ValueError)
  assert message in _one_line(e)


@pytest.mark.parametrize(
    'make,message',
    [
        (lambda: NB201Genotype.from_string(42), 'an NB201 genotype string must be a str, got int'),
        (lambda: NB201Genotype.from_json('{"space": "nb201", "arch": '), 'malformed JSON'),
        (lambda: NB201Genotype.from_json('[1]'), 'must be an object'),
        (
            lambda: NB201Genotype.from_json('{"space": "darts", "arch": "x"}'),
            '"space" must be "nb201", got \'darts\'',
        ),
        (
            lambda: NB201Genotype.from_json('{"space": "nb201"}'),
            '"arch" must be the genotype string',
        ),
        (lambda: NB201Genotype(((('none', 0),),)), 'an NB201 cell has 3 nodes (1, 2, 3), got 1'),
        (lambda: NB201Genotype.from_edge_ops(['none'] * 5), 'has 6 edges, got 5 ops'),
        (lambda: nb201.load('DARTS_V2'), "'DARTS_V2' is neither an NB201 genotype string"),
        (lambda: nb201.load(3.5), 'must be given as its string form or a file path, got float'),
    ],
)
def test_other_genotype_errors_are_one_line(make, message):
  with pytest.raises(GenotypeError) as e:
    make()
  assert message in _one_line(e)


def test_file_errors_name_the_path(tmp_path):
  bad = tmp_path / 'bad.json'
  bad.write_text(json.dumps({'space': 'nb201', 'arch': RESNET.replace('~2', '~1')}))
  with pytest.raises(GenotypeError) as e:
    nb201.load(str(bad))
  assert f"genotype file '{bad}': node 3, entry 3: input index 1, expected 2" in _one_line(e)
  txt = tmp_path / 'arch.txt'
  txt.write_text(json.dumps({'space': 'nb201', 'arch': RESNET}))  # JSON in a text file
  assert nb201.load(str(txt)).to_string() == RESNET


def test_edges_and_counts():
  assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
  assert [nb201.edge_index(t, s) for s, t in EDGES] == list(range(6))
  with pytest.raises(ValueError) as e:
    nb201.edge_index(1, 2)
  assert 'no NB201 edge from node 2 to node 1' in _one_line(e)
  g = NB201Genotype.from_string(RESNET)
  assert g.edges() == [
      (1, 0, 'nor_conv_3x3'),
      (2, 0, 'nor_conv_3x3'),
      (2, 1, 'avg_pool_3x3'),
      (3, 0, 'skip_connect'),
      (3, 1, 'nor_conv_3x3'),
      (3, 2, 'skip_connect'),
  ]
  assert [(s, t) for t, s, _ in g.edges()] == list(EDGES)
  assert g.count_ops() == {
      'none': 0,
      'skip_connect': 2,
      'nor_conv_1x1': 0,
      'nor_conv_3x3': 3,
      'avg_pool_3x3': 1,
  }
  assert g.num_parameter_free() == 3 and g.num_skip() == 2
  none = NB201Genotype.from_string(ALL_NONE)
  assert none.num_parameter_free() == 6 and none.num_skip() == 0
  assert NB201Genotype.from_string(ALL_CONV).num_parameter_free() == 0


def test_derive_genotype_from_a_hand_built_alpha():
  # Columns: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3.
  alpha = np.array(
      [
          [0.1, 0.2, 0.3, 0.9, 0.0],  # 0 -> 1: nor_conv_3x3
          [2.0, 0.2, 0.3, 0.9, 0.0],  # 0 -> 2: none wins (kept, as NB201 does)
          [0.0, 0.0, 0.0, 0.0, 0.5],  # 1 -> 2: avg_pool_3x3
          [0.0, 1.5, 1.5, 0.0, 0.0],  # 0 -> 3: a tie goes to the earlier op, skip_connect
          [-1.0, -2.0, -0.5, -3.0, -4.0],  # 1 -> 3: nor_conv_1x1
          [0.0, 0.0, 0.0, 0.0, 0.0],  # 2 -> 3: all equal: none
      ],
      np.float32,
  )
  expected = '|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|'
  assert nb201.derive_genotype(alpha).to_string() == expected
  assert nb201.derive_genotype(jnp.asarray(alpha, jnp.bfloat16)).to_string() == expected
  # A reduced op set (no none): columns follow the given primitives.
  prims = ('skip_connect', 'nor_conv_3x3')
  g = nb201.derive_genotype(np.tile([[0.0, 1.0]], (6, 1)), prims)
  assert g.edge_ops() == ('nor_conv_3x3',) * 6


@pytest.mark.parametrize(
    'alpha,primitives,message',
    [
        (
            np.zeros((6, 4)),
            nb201.NB201_PRIMITIVES,
            'NB201 alpha must have shape (6, 5) (edges x ops), ' 'got (6, 4)',
        ),
        (np.zeros((14, 5)), nb201.NB201_PRIMITIVES, 'got (14, 5)'),
        (np.full((6, 5), np.nan), nb201.NB201_PRIMITIVES, 'non-finite'),
        (np.zeros((6, 2)), ('none', 'sep_conv_3x3'), "unknown op 'sep_conv_3x3' in primitives"),
    ],
)
def test_derive_genotype_errors_are_one_line(alpha, primitives, message):
  with pytest.raises(ValueError) as e:
    nb201.derive_genotype(alpha, primitives)
  assert message in _one_line(e)


def test_random_genotype_is_a_seeded_uniform_sample():
  g = nb201.random_genotype(7)
  assert g == nb201.random_genotype(7) and g != nb201.random_genotype(8)
  samples = [nb201.random_genotype(s) for s in range(300)]
  for k in range(6):  # every op shows up on every edge
    assert {s.edge_ops()[k] for s in samples} == set(nb201.NB201_PRIMITIVES)
  no_none = [nb201.random_genotype(s, ('skip_connect', 'nor_conv_3x3')) for s in range(20)]
  assert all(set(s.edge_ops()) <= {'skip_connect', 'nor_conv_3x3'} for s in no_none)
  with pytest.raises(ValueError, match='seed must be a non-negative integer'):
    nb201.random_genotype(-1)


def test_plot_nb201_cell(tmp_path):
  edges = nb201.plot_nb201_cell(NB201Genotype.from_string(MIXED), tmp_path / 'cell.png')
  assert edges == [
      ('0', '1', 'avg_pool_3x3'),
      ('0', '2', 'nor_conv_1x1'),
      ('0', '3', 'skip_connect'),
      ('1', '3', 'nor_conv_1x1'),
      ('2', '3', 'avg_pool_3x3'),
  ]  # the none edge 1 -> 2 is not drawn
  with open(tmp_path / 'cell.png', 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


# -- Evaluation network --------------------------------------------------------------------


def hand_params(g: NB201Genotype, c: int, n: int, classes: int) -> int:
  """Parameters of the NB201 network from the layer formulas."""
  conv = lambda k, cin, cout: k * k * cin * cout
  bn = lambda ch: 2 * ch  # affine scale and bias
  per_op = {
      'nor_conv_3x3': lambda ch: conv(3, ch, ch) + bn(ch),
      'nor_conv_1x1': lambda ch: conv(1, ch, ch) + bn(ch),
  }
  cell = lambda ch: sum(per_op.get(op, lambda ch: 0)(ch) for op in g.edge_ops())
  residual = lambda cin, cout: (
      conv(3, cin, cout) + bn(cout) + conv(3, cout, cout) + bn(cout) + conv(1, cin, cout)
  )
  return (
      conv(3, 3, c)
      + bn(c)
      + n * (cell(c) + cell(2 * c) + cell(4 * c))
      + residual(c, 2 * c)
      + residual(2 * c, 4 * c)
      + bn(4 * c)
      + 4 * c * classes
      + classes
  )


def hand_macs(g: NB201Genotype, c: int, n: int, classes: int, size: int) -> int:
  """Multiply-adds of one image from the layer formulas (output elements x fan-in)."""
  per_op = {'nor_conv_3x3': 9, 'nor_conv_1x1': 1}
  cell = lambda ch, hw: sum(per_op.get(op, 0) for op in g.edge_ops()) * hw * hw * ch * ch
  residual = lambda cin, cout, hw: (hw // 2) ** 2 * cout * (9 * cin + 9 * cout + cin)
  return (
      size * size * c * 27
      + n * (cell(c, size) + cell(2 * c, size // 2) + cell(4 * c, size // 4))
      + residual(c, 2 * c, size)
      + residual(2 * c, 4 * c, size // 2)
      + 4 * c * classes
  )


@pytest.mark.parametrize('text', [ALL_CONV, ALL_NONE, RESNET, MIXED])
def test_param_and_mac_counts_match_the_layer_formulas(text):
  g = NB201Genotype.from_string(text)
  for scan in (False, True):
    model = NB201Network(g, 10, channels=16, cells_per_stage=5, scan_cells=scan)
    params = netstats.param_shapes(model, (32, 32, 3))
    assert netstats.count_params(params) == hand_params(g, 16, 5, 10)
  assert netstats.count_macs(model, (32, 32, 3)) == hand_macs(g, 16, 5, 10, 32)


def test_published_nb201_sizes():
  # The benchmark's CIFAR-10 figures: about 1.5316 M (all 3x3 convs) and 0.0734 M (all none).
  conv = hand_params(NB201Genotype.from_string(ALL_CONV), 16, 5, 10)
  none = hand_params(NB201Genotype.from_string(ALL_NONE), 16, 5, 10)
  assert (conv, none) == (1_531_546, 73_306)
  assert abs(conv / 1e6 - 1.5316) / 1.5316 < 0.01
  assert abs(none / 1e6 - 0.0734) / 0.0734 < 0.01


def test_cell_semantics():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2, 5, 5)), jnp.float32)

  def cell(text):
    module = nb201.NB201Cell(NB201Genotype.from_string(text), 3, train=False)
    variables = module.init(jax.random.key(0), x)
    return module.apply(variables, x), variables

  # All skips: node1 = x, node2 = x + x, node3 = x + x + 2x.
  out, variables = cell(
      '|skip_connect~0|+|skip_connect~0|skip_connect~1|+'
      '|skip_connect~0|skip_connect~1|skip_connect~2|'
  )
  np.testing.assert_allclose(out, 4 * x, rtol=1e-6)
  assert not variables
  out, _ = cell(ALL_NONE)
  np.testing.assert_array_equal(out, 0.0)
  # Only the path 0 -avg-> 1 -skip-> 2 -skip-> 3.
  out, variables = cell('|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|')
  np.testing.assert_allclose(out, ops.avg_pool_3x3(x, 1), rtol=1e-6)
  assert not variables


def test_tiny_network_forward_backward_and_build():
  g = NB201Genotype.from_string(MIXED)
  model = spaces.for_network('nb201').evalnet(
      g,
      10,
      kind='nb201',
      channels=4,
      layers=2,
      auxiliary=False,
      dw_conv=ops.depthwise_conv(),
      scan_cells=False,
  )
  assert isinstance(model, NB201Network) and model.cells_per_stage == 2
  images = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 3)), jnp.float32)
  labels = jnp.array([1, 7])
  variables = model.init({'params': jax.random.key(0)}, images[:1], train=True)
  assert 'cell_2_1' in variables['params'] and 'auxiliary_head' not in variables['params']

  def loss_fn(params):
    (logits, aux), updates = model.apply(
        {'params': params, 'batch_stats': variables['batch_stats']},
        images,
        train=True,
        drop_prob=jnp.float32(0.2),
        rngs={'dropout': jax.random.key(1)},
        mutable=['batch_stats'],
    )
    assert aux is None and logits.shape == (2, 10)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), updates

  (loss, updates), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(variables['params'])
  assert np.isfinite(float(loss))
  for leaf in jax.tree.leaves(grads):
    assert np.all(np.isfinite(leaf)) and np.any(leaf != 0)
  assert jax.tree.structure(updates['batch_stats']) == jax.tree.structure(variables['batch_stats'])
  logits, aux = model.apply(variables, images, train=False)
  assert aux is None and logits.shape == (2, 10)


@pytest.mark.parametrize(
    'call,error,message',
    [
        (
            lambda: spaces.get('nb201').evalnet(DARTS_V2, 10),
            GenotypeError,
            'the nb201 space needs an NB201Genotype, got Genotype',
        ),
        (
            lambda: spaces.get('darts').evalnet(
                NB201Genotype.from_string(RESNET), 10, kind='cifar'
            ),
            GenotypeError,
            'the darts space needs a DARTS Genotype',
        ),
        (
            lambda: spaces.get('nb201').evalnet(
                NB201Genotype.from_string(RESNET), 10, auxiliary=True
            ),
            ValueError,
            'the NB201 network has no auxiliary head',
        ),
        (
            lambda: spaces.for_network('resnet'),
            ValueError,
            "unknown network kind 'resnet'; known: cifar, imagenet, nb201",
        ),
    ],
)
def test_build_errors_are_one_line(call, error, message):
  with pytest.raises(error) as e:
    call()
  assert message in _one_line(e)


def test_residual_block_needs_even_sizes():
  block = nb201.ResidualBlock(4, train=False)
  with pytest.raises(ValueError, match='needs even sizes, got 5x5'):
    block.init(jax.random.key(0), jnp.zeros((2, 1, 5, 5)))
  out, _ = block.init_with_output(jax.random.key(0), jnp.zeros((2, 1, 6, 6)))
  assert out.shape == (4, 1, 3, 3)


# -- Retraining ----------------------------------------------------------------------------


def nb201_config(**overrides):
  c = tiny_config(
      space='nb201',
      genotype=MIXED,
      layers=1,
      init_channels=4,
      epochs=1,
      max_steps_per_epoch=2,
      auxiliary_weight=0.0,
      drop_path_prob=0.0,
      cutout_length=0,
      nesterov=True,
      grad_clip=0.0,
      learning_rate=0.1,
      scan_cells=False,
  )
  for k, v in overrides.items():
    c[k] = v
  return c


def test_tiny_nb201_retrain_writes_results(tmp_path):
  result = run(nb201_config(), tmp_path)
  assert {'results.json', 'metrics.jsonl', 'cell.png', 'checkpoints'} <= set(os.listdir(tmp_path))
  assert 'cell_normal.png' not in os.listdir(tmp_path)
  results = json.loads((tmp_path / 'results.json').read_text())
  assert results['genotype'] == MIXED and results['network'] == 'nb201'
  assert results['space'] == 'nb201'
  assert 0.0 <= results['test_accuracy'] <= 1.0 and results['epochs'] == 1
  g = NB201Genotype.from_string(MIXED)
  assert results['params_m'] == pytest.approx(hand_params(g, 4, 1, 10) / 1e6)
  assert results['flops_m'] == pytest.approx(hand_macs(g, 4, 1, 10, 8) / 1e6)
  assert int(jax.device_get(result['state'].step)) == 2


@pytest.mark.parametrize(
    'overrides,error,message',
    [
        (
            {'auxiliary_weight': 0.4},
            train.ConfigError,
            'config.auxiliary_weight must be 0 for the nb201 network',
        ),
        (
            {'drop_path_prob': 0.2},
            train.ConfigError,
            'config.drop_path_prob must be 0 for the nb201',
        ),
        ({'genotype': 'DARTS_V2'}, GenotypeError, "'DARTS_V2' is neither an NB201 genotype string"),
        ({'genotype': MIXED.replace('none', 'zero')}, GenotypeError, "unknown op 'zero'"),
    ],
)
def test_bad_nb201_config_is_a_one_line_error(tmp_path, overrides, error, message):
  with pytest.raises(error) as e:
    run(nb201_config(**overrides), tmp_path / 'run')
  assert message in _one_line(e)
  assert not (tmp_path / 'run').exists()


def test_nesterov_matches_torch_sgd():
  lr, mu, wd = 0.1, 0.9, 5e-4
  c = nb201_config(
      learning_rate=lr,
      learning_rate_min=lr,
      momentum=mu,
      weight_decay=wd,
      nesterov=True,
      grad_clip=0.0,
  )
  tx, _ = train.make_optimizer(train.Recipe.from_config(c), steps_per_epoch=10)
  p = np.array([1.0, -2.0])
  grads = [np.array([0.5, 0.25]), np.array([-1.0, 2.0])]
  params, state = jnp.asarray(p), tx.init(jnp.asarray(p))
  buf = np.zeros(2)
  for g in grads:
    updates, state = tx.update(jnp.asarray(g), state, params)
    params = optax.apply_updates(params, updates)
    d = g + wd * p  # torch.optim.SGD(nesterov=True)
    buf = mu * buf + d
    p = p - lr * (d + mu * buf)
  np.testing.assert_allclose(params, p, rtol=1e-6)


def test_inspect_reports_an_nb201_cell(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.inspect',  # its default config, the DARTS one, switched to NB201's space
          '--config.space_name=nb201',
          '--config.layers=5',
          '--config.init_channels=16',
          '--config.auxiliary_weight=0',
          '--config.drop_path_prob=0',
          f'--genotype={ALL_CONV}',
          f'--out={tmp_path}',
      ],
      cwd=REPO,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  assert report['params_m'] == 1.531546 and report['flops_m'] == 220.12
  assert report['arch'] == ALL_CONV and os.listdir(tmp_path) == ['cell.png']
  assert (report['space'], report['network']) == ('nb201', 'nb201')
