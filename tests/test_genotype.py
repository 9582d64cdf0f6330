"""Tests for nas_jax.spaces.darts.genotype."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random

import pytest

from nas_jax.spaces.darts import genotype as genotype_lib
from nas_jax.spaces.darts.genotype import (
    DARTS_PRIMITIVES,
    DARTS_V1,
    DARTS_V2,
    DARTS_V2_TEXT,
    NAMED_GENOTYPES,
    Genotype,
    GenotypeError,
    get_named,
    load_genotype,
    load_json,
    save_json,
)

# The DARTS_V2 genotype as written in the DARTS reference `genotypes.py`.
DARTS_V2_LIST_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    'normal_concat=[2, 3, 4, 5], '
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
    "('skip_connect', 2), ('max_pool_3x3', 1)], "
    'reduce_concat=[2, 3, 4, 5])'
)


def _random_genotype(seed: int) -> Genotype:
  rng = random.Random(seed)

  def cell(steps):
    return [(rng.choice(DARTS_PRIMITIVES), rng.randrange(2 + k // 2)) for k in range(2 * steps)]

  def concat(steps):
    nodes = list(range(2 + steps))
    return rng.sample(nodes, rng.randint(1, len(nodes)))

  n_steps, r_steps = rng.randint(1, 6), rng.randint(1, 6)
  return Genotype(
      normal=cell(n_steps),
      normal_concat=concat(n_steps),
      reduce=cell(r_steps),
      reduce_concat=concat(r_steps),
  )


def _assert_one_line(error: pytest.ExceptionInfo) -> str:
  msg = str(error.value)
  assert msg and '\n' not in msg and '\r' not in msg
  return msg


# -- Constants ------------------------------------------------------------------------


def test_primitives_order():
  assert DARTS_PRIMITIVES == (
      'none',
      'max_pool_3x3',
      'avg_pool_3x3',
      'skip_connect',
      'sep_conv_3x3',
      'sep_conv_5x5',
      'dil_conv_3x3',
      'dil_conv_5x5',
  )


def test_published_genotypes():
  assert DARTS_V2.normal == (
      ('sep_conv_3x3', 0),
      ('sep_conv_3x3', 1),
      ('sep_conv_3x3', 0),
      ('sep_conv_3x3', 1),
      ('sep_conv_3x3', 1),
      ('skip_connect', 0),
      ('skip_connect', 0),
      ('dil_conv_3x3', 2),
  )
  assert DARTS_V2.reduce == (
      ('max_pool_3x3', 0),
      ('max_pool_3x3', 1),
      ('skip_connect', 2),
      ('max_pool_3x3', 1),
      ('max_pool_3x3', 0),
      ('skip_connect', 2),
      ('skip_connect', 2),
      ('max_pool_3x3', 1),
  )
  assert DARTS_V1.normal == (
      ('sep_conv_3x3', 1),
      ('sep_conv_3x3', 0),
      ('skip_connect', 0),
      ('sep_conv_3x3', 1),
      ('skip_connect', 0),
      ('sep_conv_3x3', 1),
      ('sep_conv_3x3', 0),
      ('skip_connect', 2),
  )
  assert DARTS_V1.reduce == (
      ('max_pool_3x3', 0),
      ('max_pool_3x3', 1),
      ('skip_connect', 2),
      ('max_pool_3x3', 0),
      ('max_pool_3x3', 0),
      ('skip_connect', 2),
      ('skip_connect', 2),
      ('avg_pool_3x3', 0),
  )
  for g in (DARTS_V1, DARTS_V2):
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
    assert g.normal_steps == g.reduce_steps == 4
    g.validate(DARTS_PRIMITIVES)
  assert NAMED_GENOTYPES['DARTS_V1'] == DARTS_V1 and NAMED_GENOTYPES['DARTS_V2'] == DARTS_V2
  assert set(NAMED_GENOTYPES) == {'DARTS_V1', 'DARTS_V2', 'PC_DARTS', 'PC_DARTS_IMAGENET', 'PDARTS'}


def test_darts_v2_text_constant():
  assert 'normal_concat=range(2, 6)' in DARTS_V2_TEXT
  assert 'reduce_concat=range(2, 6)' in DARTS_V2_TEXT
  assert Genotype.from_darts_text(DARTS_V2_TEXT) == DARTS_V2
  assert DARTS_V2.to_darts_text(concat_as_range=True) == DARTS_V2_TEXT


# -- Construction and validation --------------------------------------------------------


def test_lists_are_coerced_to_tuples():
  g = Genotype(
      normal=[['skip_connect', 0], ['sep_conv_3x3', 1]],
      normal_concat=[2],
      reduce=[('max_pool_3x3', 1), ['avg_pool_3x3', 0]],
      reduce_concat=range(2, 3),
  )
  assert g.normal == (('skip_connect', 0), ('sep_conv_3x3', 1))
  assert g.reduce == (('max_pool_3x3', 1), ('avg_pool_3x3', 0))
  assert g.normal_concat == (2,) and g.reduce_concat == (2,)
  assert isinstance(g.normal[0], tuple)
  assert hash(g) == hash(Genotype(**dataclasses.asdict(g)))
  with pytest.raises(dataclasses.FrozenInstanceError):
    g.normal = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    'kwargs,needle',
    [
        ({'normal': [('a', 0)]}, 'even number'),
        ({'normal': []}, 'at least one node'),
        ({'normal': 'sep_conv_3x3'}, 'sequence'),
        ({'normal': [('a', 0), ('b', 2)]}, 'normal[1]: input index 2 out of range'),
        (
            {'normal': [('a', 0), ('b', 1), ('c', 4), ('d', 0)]},
            'normal[2]: input index 4 out of range for node 1 (valid: 0..2)',
        ),
        ({'reduce': [('a', -1), ('b', 0)]}, 'reduce[0]: input index -1'),
        ({'normal': [('a', 0), ('b', True)]}, 'must be an integer'),
        ({'normal': [('a', 0), ('b', 1.0)]}, 'must be an integer'),
        ({'normal': [('a', 0), ('b', '1')]}, 'must be an integer'),
        ({'normal': [(3, 0), ('b', 1)]}, 'op name must be a string'),
        ({'normal': [('', 0), ('b', 1)]}, 'non-empty'),
        ({'normal': [("a'b", 0), ('b', 1)]}, 'may not contain quotes'),
        ({'normal': [('a b', 0), ('b', 1)]}, 'may not contain quotes'),
        ({'normal': [('a', 0, 1), ('b', 1)]}, 'expected an (op, input) pair'),
        ({'normal_concat': [2, 6]}, 'normal_concat: node index 6 out of range'),
        ({'normal_concat': [2, 2]}, 'listed twice'),
        ({'normal_concat': []}, 'at least one node'),
        ({'reduce_concat': [2, '3']}, 'reduce_concat: node index must be'),
    ],
)
def test_invalid_genotypes_raise(kwargs, needle):
  fields = DARTS_V2.to_dict()
  fields.update(kwargs)
  with pytest.raises(GenotypeError) as info:
    Genotype(**fields)
  assert needle in _assert_one_line(info)


def test_genotype_error_is_value_error():
  assert issubclass(GenotypeError, ValueError)


def test_validate_against_primitives():
  g = Genotype(
      normal=[('sep_conv_3x3', 0), ('conv_7x1_1x7', 1)],
      normal_concat=[2],
      reduce=[('skip_connect', 0), ('max_pool_3x3', 1)],
      reduce_concat=[2],
  )
  with pytest.raises(GenotypeError) as info:
    g.validate(DARTS_PRIMITIVES)
  msg = _assert_one_line(info)
  assert 'normal[1]' in msg and "'conv_7x1_1x7'" in msg
  g.validate(DARTS_PRIMITIVES + ('conv_7x1_1x7',))
  assert g.ops() == {'sep_conv_3x3', 'conv_7x1_1x7', 'skip_connect', 'max_pool_3x3'}


# -- JSON --------------------------------------------------------------------------------


@pytest.mark.parametrize('g', [DARTS_V1, DARTS_V2] + [_random_genotype(s) for s in range(10)])
def test_json_round_trip(g, tmp_path):
  assert Genotype.from_json(g.to_json()) == g
  assert Genotype.from_json(g.to_json(indent=2)) == g
  assert Genotype.from_dict(g.to_dict()) == g
  assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
  path = tmp_path / 'sub' / 'genotype.json'
  save_json(g, path)
  assert load_json(path) == g
  assert load_json(str(path)) == g
  assert Genotype.load_json(path) == g


def test_to_dict_values():
  d = DARTS_V2.to_dict()
  assert list(d) == ['normal', 'normal_concat', 'reduce', 'reduce_concat']
  assert d['normal'][0] == ['sep_conv_3x3', 0]
  assert d['reduce'][-1] == ['max_pool_3x3', 1]
  assert d['normal_concat'] == [2, 3, 4, 5]


@pytest.mark.parametrize(
    'data,needle',
    [
        (
            {'normal': [['a', 0], ['b', 1]], 'normal_concat': [2]},
            'missing key(s): reduce, reduce_concat',
        ),
        (dict(DARTS_V2.to_dict(), extra=1), 'unknown key(s): extra'),
        ([1, 2], 'expected a JSON object'),
        (dict(DARTS_V2.to_dict(), normal=[['a', 0], ['b', 7]]), 'input index 7 out of range'),
    ],
)
def test_from_dict_schema_errors(data, needle):
  with pytest.raises(GenotypeError) as info:
    Genotype.from_dict(data)
  assert needle in _assert_one_line(info)


def test_from_json_malformed():
  with pytest.raises(GenotypeError) as info:
    Genotype.from_json('{"normal": [\n')
  assert 'malformed JSON at line 2' in _assert_one_line(info)


def test_save_json_overwrites_and_leaves_no_temp_files(tmp_path):
  path = tmp_path / 'g.json'
  save_json(DARTS_V1, path)
  DARTS_V2.save_json(path)
  assert load_json(path) == DARTS_V2
  assert os.listdir(tmp_path) == ['g.json']
  assert json.loads(path.read_text()) == DARTS_V2.to_dict()


def test_save_json_failure_keeps_old_file(tmp_path, monkeypatch):
  path = tmp_path / 'g.json'
  save_json(DARTS_V1, path)

  def failing_replace(src, dst):
    raise OSError('simulated failure')

  monkeypatch.setattr(genotype_lib.os, 'replace', failing_replace)
  with pytest.raises(OSError, match='simulated failure'):
    save_json(DARTS_V2, path)
  monkeypatch.undo()
  assert load_json(path) == DARTS_V1
  assert os.listdir(tmp_path) == ['g.json']


@pytest.mark.parametrize(
    'content,needle',
    [
        ('{not json', 'malformed JSON at line 1 column 2'),
        ('', 'malformed JSON'),
        ('{"normal": []}', 'missing key(s)'),
        ('["a"]', 'expected a JSON object'),
    ],
)
def test_load_json_malformed_file_names_path(tmp_path, content, needle):
  path = tmp_path / 'bad.json'
  path.write_text(content)
  with pytest.raises(GenotypeError) as info:
    load_json(path)
  msg = _assert_one_line(info)
  assert str(path) in msg
  assert needle in msg


def test_load_json_missing_file(tmp_path):
  path = tmp_path / 'missing.json'
  with pytest.raises(GenotypeError) as info:
    load_json(path)
  msg = _assert_one_line(info)
  assert str(path) in msg and 'does not exist' in msg


def test_load_json_directory(tmp_path):
  with pytest.raises(GenotypeError) as info:
    load_json(tmp_path)
  assert str(tmp_path) in _assert_one_line(info)


# -- DARTS text form ------------------------------------------------------------------


def test_to_darts_text_matches_reference_repr():
  assert DARTS_V2.to_darts_text() == DARTS_V2_LIST_TEXT
  assert str(DARTS_V2) == DARTS_V2_LIST_TEXT


@pytest.mark.parametrize('g', [DARTS_V1, DARTS_V2] + [_random_genotype(s) for s in range(20)])
def test_darts_text_round_trip(g):
  for as_range in (False, True):
    text = g.to_darts_text(concat_as_range=as_range)
    assert '\n' not in text
    assert Genotype.from_darts_text(text) == g


def test_concat_as_range_only_when_contiguous():
  g = Genotype(
      normal=[('a', 0), ('b', 1), ('c', 2), ('d', 0)],
      normal_concat=[3, 2],
      reduce=[('a', 0), ('b', 1)],
      reduce_concat=[2],
  )
  text = g.to_darts_text(concat_as_range=True)
  assert 'normal_concat=[3, 2]' in text and 'reduce_concat=[2]' in text


@pytest.mark.parametrize(
    'text',
    [
        DARTS_V2_LIST_TEXT,
        DARTS_V2_TEXT,
        DARTS_V2_TEXT.replace('range(2, 6)', 'range(2,6)'),
        DARTS_V2_TEXT.replace('range(2, 6)', 'range(2, 6, 1)'),
        DARTS_V2_LIST_TEXT.replace("'", '"'),
        DARTS_V2_LIST_TEXT[len('Genotype') :],
        DARTS_V2_LIST_TEXT.replace(', ', ',\n    ').replace('(', '( '),
        'DARTS_V2 = ' + DARTS_V2_TEXT,
        'genotype = ' + DARTS_V2_LIST_TEXT + '\n',
        DARTS_V2_LIST_TEXT.replace('])', '],)'),
        DARTS_V2_LIST_TEXT.replace('5])', '5,])'),
    ],
)
def test_darts_text_variants_parse(text):
  assert Genotype.from_darts_text(text) == DARTS_V2


def test_dataclass_repr_parses():
  for g in (DARTS_V1, DARTS_V2, _random_genotype(0)):
    assert Genotype.from_darts_text(repr(g)) == g


def test_darts_text_fields_in_any_order():
  d = DARTS_V1
  text = (
      f'Genotype(reduce_concat=range(2, 6), reduce={list(d.reduce)!r}, '
      f'normal_concat=(2, 3, 4, 5), normal={list(d.normal)!r})'
  )
  assert Genotype.from_darts_text(text) == DARTS_V1


def test_darts_text_range_single_argument():
  text = (
      "Genotype(normal=[('a', 0), ('b', 1)], normal_concat=range(3), "
      "reduce=[('a', 0), ('b', 1)], reduce_concat=range(2, 3))"
  )
  g = Genotype.from_darts_text(text)
  assert g.normal_concat == (0, 1, 2)
  assert g.reduce_concat == (2,)


@pytest.mark.parametrize(
    'text,needle',
    [
        (DARTS_V2_LIST_TEXT[:-1], "expected ',' or ')' closing the Genotype"),
        (
            DARTS_V2_LIST_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3' 0)", 1),
            "expected ',' after the op name",
        ),
        (
            DARTS_V2_LIST_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3',)", 1),
            'expected an integer input index',
        ),
        (
            DARTS_V2_LIST_TEXT.replace("('sep_conv_3x3', 0)", '(sep_conv_3x3, 0)', 1),
            'expected a quoted op name',
        ),
        (
            DARTS_V2_LIST_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', 0, 1)", 1),
            "expected ')' closing the (op, input)",
        ),
        (
            DARTS_V2_LIST_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', 'a')", 1),
            'expected an integer input index',
        ),
        (
            DARTS_V2_LIST_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', 1.5)", 1),
            "found '.'",
        ),
        ("__import__('os')", "expected 'Genotype' or '('"),
        ("__import__('os').system('rm -rf /')", "expected 'Genotype' or '('"),
        ("Genotype(normal=__import__('os'))", "expected '[' opening"),
        (
            "Genotype(normal_concat=__import__('os'))",
            'expected a list of node indices or range(...)',
        ),
        ("Genotype(normal=[('a', 0)], os=1)", 'expected a field name'),
        ('', "expected '(' opening the Genotype fields at character 0"),
        ('Genotype()', 'expected a field name'),
        (DARTS_V2_LIST_TEXT + ' extra', 'expected end of text'),
        (
            DARTS_V2_LIST_TEXT.replace("'sep_conv_3x3', 0)", "'sep_conv_3x3, 0)", 1),
            "expected ',' after the op name",
        ),
        (
            "Genotype(normal=[('sep_conv_3x3",
            "expected closing ' (string opened at character 18) at character 31",
        ),
        (
            DARTS_V2_TEXT.replace('range(2, 6)', 'range(2, x)', 1),
            'expected an integer range argument',
        ),
        (
            DARTS_V2_TEXT.replace('range(2, 6)', 'range(2, 6, 1, 1)', 1),
            'range takes at most 3 arguments',
        ),
        (DARTS_V2_TEXT.replace('range(2, 6)', 'range(2, 6, 0)', 1), 'step must not be zero'),
        (
            DARTS_V2_TEXT.replace('range(2, 6)', 'list(2, 6)', 1),
            'expected a list of node indices or range(...)',
        ),
        ('Genotype(normal=[], normal=[])', 'given twice'),
        (
            "Genotype(normal=[('a', 0), ('b', 1)], normal_concat=[2])",
            'missing field(s) reduce, reduce_concat',
        ),
        ("Genotype(normal=[('a', 0) ('b', 1)])", "expected ',' or ']'"),
        ("Genotype(normal=[('a', \u00b2)])", "found '\u00b2'"),
        ("Genotype(normal=[('a', " + '9' * 5000 + ')])', 'at most 18 digits'),
        ("Genotype(normal=[('a', 0), ('b', 1)];", "found ';'"),
    ],
)
def test_malformed_darts_text_raises(text, needle):
  with pytest.raises(GenotypeError) as info:
    Genotype.from_darts_text(text)
  msg = _assert_one_line(info)
  assert needle in msg
  assert (
      'at character' in msg
      or 'missing field' in msg
      or 'twice' in msg
      or 'step must not be zero' in msg
  )


def test_malformed_darts_text_reports_position():
  text = "Genotype(normal=[('a', 0) ('b', 1)])"
  with pytest.raises(GenotypeError) as info:
    Genotype.from_darts_text(text)
  pos = text.index("('b'")
  assert f'at character {pos}' in str(info.value)


def test_multiline_text_error_is_one_line():
  text = "Genotype(\n  normal=[('a',\n 'x')],\n)"
  with pytest.raises(GenotypeError) as info:
    Genotype.from_darts_text(text)
  msg = _assert_one_line(info)
  assert f"at character {text.index(chr(39) + 'x')}" in msg


@pytest.mark.parametrize(
    'old,new,needle',
    [
        ("('dil_conv_3x3', 2)", "('dil_conv_3x3', 6)", 'normal[7]: input index 6 out of range'),
        (
            "('sep_conv_3x3', 1)",
            "('sep_conv_3x3', 2)",
            'normal[1]: input index 2 out of range for node 0',
        ),
        ("('sep_conv_3x3', 0)", "('sep_conv_3x3', -1)", 'normal[0]: input index -1 out of range'),
        (
            'normal_concat=[2, 3, 4, 5]',
            'normal_concat=[2, 3, 4, 9]',
            'normal_concat: node index 9 out of range',
        ),
    ],
)
def test_darts_text_index_out_of_range(old, new, needle):
  text = DARTS_V2_LIST_TEXT.replace(old, new, 1)
  assert text != DARTS_V2_LIST_TEXT
  with pytest.raises(GenotypeError) as info:
    Genotype.from_darts_text(text)
  assert needle in _assert_one_line(info)


def test_from_darts_text_requires_str():
  with pytest.raises(GenotypeError):
    Genotype.from_darts_text(b'Genotype()')  # type: ignore[arg-type]


# -- Names and loading ---------------------------------------------------------------


def test_get_named():
  assert get_named('DARTS_V1') is DARTS_V1
  assert get_named('DARTS_V2') is DARTS_V2


def test_get_named_unknown_lists_known_names():
  with pytest.raises(GenotypeError) as info:
    get_named('DARTS_V3')
  msg = _assert_one_line(info)
  assert "'DARTS_V3'" in msg and 'DARTS_V1' in msg and 'DARTS_V2' in msg


def test_load_genotype_by_name_and_instance():
  assert load_genotype('DARTS_V2') is DARTS_V2
  assert load_genotype(DARTS_V1) is DARTS_V1


def test_load_genotype_from_files(tmp_path):
  json_path = tmp_path / 'arch.json'
  save_json(DARTS_V1, json_path)
  assert load_genotype(json_path) == DARTS_V1
  assert load_genotype(str(json_path)) == DARTS_V1

  text_path = tmp_path / 'arch.txt'
  text_path.write_text('genotype = ' + DARTS_V2_TEXT + '\n')
  assert load_genotype(text_path) == DARTS_V2

  no_suffix = tmp_path / 'arch'
  no_suffix.write_text(DARTS_V1.to_darts_text())
  assert load_genotype(str(no_suffix)) == DARTS_V1


def test_load_genotype_malformed_text_file_names_path(tmp_path):
  path = tmp_path / 'arch.txt'
  path.write_text("__import__('os')")
  with pytest.raises(GenotypeError) as info:
    load_genotype(path)
  msg = _assert_one_line(info)
  assert str(path) in msg and 'at character 0' in msg


def test_load_genotype_malformed_json_file_names_path(tmp_path):
  path = tmp_path / 'arch.json'
  path.write_text(DARTS_V2_TEXT)  # DARTS text in a .json file.
  with pytest.raises(GenotypeError) as info:
    load_genotype(path)
  msg = _assert_one_line(info)
  assert str(path) in msg and 'malformed JSON' in msg


def test_load_genotype_unknown(tmp_path):
  with pytest.raises(GenotypeError) as info:
    load_genotype('NOT_A_GENOTYPE')
  msg = _assert_one_line(info)
  assert 'NOT_A_GENOTYPE' in msg and 'DARTS_V1, DARTS_V2' in msg
  with pytest.raises(GenotypeError):
    load_genotype(pathlib.Path(tmp_path / 'missing.json'))
  with pytest.raises(GenotypeError):
    load_genotype(42)  # type: ignore[arg-type]


# -- Published cells, op by op ---------------------------------------------------------

# Copied from yuhuixu1993/PC-DARTS, genotypes.py (PC_DARTS_cifar and PC_DARTS_image; the
# PC-DARTS paper's Figures 3 and 4); concat is range(2, 6) there.
PUBLISHED_PC_DARTS_CIFAR = {
    'normal': [
        ('sep_conv_3x3', 1),
        ('skip_connect', 0),
        ('sep_conv_3x3', 0),
        ('dil_conv_3x3', 1),
        ('sep_conv_5x5', 0),
        ('sep_conv_3x3', 1),
        ('avg_pool_3x3', 0),
        ('dil_conv_3x3', 1),
    ],
    'normal_concat': [2, 3, 4, 5],
    'reduce': [
        ('sep_conv_5x5', 1),
        ('max_pool_3x3', 0),
        ('sep_conv_5x5', 1),
        ('sep_conv_5x5', 2),
        ('sep_conv_3x3', 0),
        ('sep_conv_3x3', 3),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 2),
    ],
    'reduce_concat': [2, 3, 4, 5],
}
PUBLISHED_PC_DARTS_IMAGENET = {
    'normal': [
        ('skip_connect', 1),
        ('sep_conv_3x3', 0),
        ('sep_conv_3x3', 0),
        ('skip_connect', 1),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 3),
        ('sep_conv_3x3', 1),
        ('dil_conv_5x5', 4),
    ],
    'normal_concat': [2, 3, 4, 5],
    'reduce': [
        ('sep_conv_3x3', 0),
        ('skip_connect', 1),
        ('dil_conv_5x5', 2),
        ('max_pool_3x3', 1),
        ('sep_conv_3x3', 2),
        ('sep_conv_3x3', 1),
        ('sep_conv_5x5', 0),
        ('sep_conv_3x3', 3),
    ],
    'reduce_concat': [2, 3, 4, 5],
}
# Copied from chenxin061/pdarts, genotypes.py (PDARTS; concat range(2, 6)).
PUBLISHED_PDARTS = {
    'normal': [
        ('skip_connect', 0),
        ('dil_conv_3x3', 1),
        ('skip_connect', 0),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 3),
        ('sep_conv_3x3', 0),
        ('dil_conv_5x5', 4),
    ],
    'normal_concat': [2, 3, 4, 5],
    'reduce': [
        ('avg_pool_3x3', 0),
        ('sep_conv_5x5', 1),
        ('sep_conv_3x3', 0),
        ('dil_conv_5x5', 2),
        ('max_pool_3x3', 0),
        ('dil_conv_3x3', 1),
        ('dil_conv_3x3', 1),
        ('dil_conv_5x5', 3),
    ],
    'reduce_concat': [2, 3, 4, 5],
}


@pytest.mark.parametrize(
    'name,published',
    [
        ('PC_DARTS', PUBLISHED_PC_DARTS_CIFAR),
        ('PC_DARTS_IMAGENET', PUBLISHED_PC_DARTS_IMAGENET),
        ('PDARTS', PUBLISHED_PDARTS),
    ],
)
def test_shipped_genotypes_match_their_papers_op_by_op(name, published):
  g = NAMED_GENOTYPES[name]
  assert getattr(genotype_lib, name) is g
  for cell in ('normal', 'reduce'):
    shipped = getattr(g, cell)
    assert len(shipped) == len(published[cell]) == 8
    # Slot by slot, so a failure names the first differing (op, input) pair.
    for slot, (got, want) in enumerate(zip(shipped, published[cell])):
      assert tuple(got) == want, f'{name}.{cell}[{slot}]: {got} != {want}'
    assert list(getattr(g, f'{cell}_concat')) == published[f'{cell}_concat']
  g.validate(DARTS_PRIMITIVES)
