"""Tests for nas_jax.plot (cell DAG pictures and alpha-history plots)."""

from __future__ import annotations

import json
import os

from matplotlib import image as mpl_image
from matplotlib.figure import Figure
import numpy as np
import pytest

from nas_jax import plot, spaces
from nas_jax.spaces.darts import plot as darts_plot
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES, DARTS_V2

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _one_line(error: pytest.ExceptionInfo) -> str:
  msg = str(error.value)
  assert msg and '\n' not in msg and '\r' not in msg
  return msg


def _assert_png(path) -> np.ndarray:
  with open(path, 'rb') as f:
    assert f.read(8) == PNG_SIGNATURE
  pixels = mpl_image.imread(path)
  assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
  assert pixels.shape[0] >= 100 and pixels.shape[1] >= 100
  assert pixels.std() > 0.01  # Something was drawn.
  return pixels


def _softmax_history(epochs: int, edges: int, ops: int, seed: int = 0):
  rng = np.random.default_rng(seed)

  def probs():
    x = np.exp(rng.normal(size=(edges, ops)))
    return x / x.sum(axis=-1, keepdims=True)

  return [{'normal': probs(), 'reduce': probs()} for _ in range(epochs)]


# -- cell_edges --------------------------------------------------------------------


def test_cell_edges_darts_v2_normal():
  expected = [
      ('c_{k-2}', '0', 'sep_conv_3x3'),
      ('c_{k-1}', '0', 'sep_conv_3x3'),
      ('c_{k-2}', '1', 'sep_conv_3x3'),
      ('c_{k-1}', '1', 'sep_conv_3x3'),
      ('c_{k-1}', '2', 'sep_conv_3x3'),
      ('c_{k-2}', '2', 'skip_connect'),
      ('c_{k-2}', '3', 'skip_connect'),
      ('0', '3', 'dil_conv_3x3'),
      ('0', 'c_{k}', ''),
      ('1', 'c_{k}', ''),
      ('2', 'c_{k}', ''),
      ('3', 'c_{k}', ''),
  ]
  assert darts_plot.cell_edges(DARTS_V2.normal, DARTS_V2.normal_concat) == expected


def test_cell_edges_skips_none_and_labels_concatenated_inputs():
  pairs = [('none', 0), ('sep_conv_3x3', 1), ('none', 2), ('max_pool_3x3', 0)]
  assert darts_plot.cell_edges(pairs, [1, 2, 3]) == [
      ('c_{k-1}', '0', 'sep_conv_3x3'),
      ('c_{k-2}', '1', 'max_pool_3x3'),
      ('c_{k-1}', 'c_{k}', ''),
      ('0', 'c_{k}', ''),
      ('1', 'c_{k}', ''),
  ]


@pytest.mark.parametrize(
    'pairs, concat, message',
    [
        ('sep_conv_3x3', [2], 'pairs'),
        ([], [2], 'even number'),
        ([('sep_conv_3x3', 0)], [2], 'even number'),
        ([('sep_conv_3x3', 0), 'skip_connect'], [2], r'pairs\[1\]'),
        ([('sep_conv_3x3', 0), (3, 1)], [2], r'pairs\[1\]: op name'),
        ([('sep_conv_3x3', 0), ('skip_connect', '1')], [2], r'pairs\[1\]: input index'),
        ([('sep_conv_3x3', 0), ('skip_connect', True)], [2], r'pairs\[1\]: input index'),
        ([('sep_conv_3x3', 0), ('skip_connect', 2)], [2], 'out of range for node 0'),
        ([('sep_conv_3x3', 0), ('skip_connect', -1)], [2], 'out of range for node 0'),
        ([('sep_conv_3x3', 0), ('skip_connect', 1)], [3], 'concat: node index 3 out of range'),
        ([('sep_conv_3x3', 0), ('skip_connect', 1)], [], 'concat'),
        ([('sep_conv_3x3', 0), ('skip_connect', 1)], [2, 2], 'twice'),
        ([('sep_conv_3x3', 0), ('skip_connect', 1)], ['2'], 'concat'),
    ],
)
def test_bad_cells_raise_one_line_value_errors(tmp_path, pairs, concat, message):
  with pytest.raises(ValueError, match=message) as error:
    darts_plot.cell_edges(pairs, concat)
  _one_line(error)
  target = tmp_path / 'cell.png'
  with pytest.raises(ValueError, match=message) as error:
    darts_plot.plot_cell(pairs, concat, target)
  _one_line(error)
  assert not target.exists()


# -- plot_cell / plot_genotype ----------------------------------------------------------


def test_plot_genotype_writes_two_pngs(tmp_path):
  out_dir = tmp_path / 'new' / 'dir'
  normal, reduce = darts_plot.plot_genotype(DARTS_V2, out_dir)
  assert normal == os.path.join(out_dir, 'cell_normal.png')
  assert reduce == os.path.join(out_dir, 'cell_reduce.png')
  for path in (normal, reduce):
    _assert_png(path)
  assert sorted(os.listdir(out_dir)) == ['cell_normal.png', 'cell_reduce.png']


def test_plot_cell_returns_edges_and_overwrites(tmp_path):
  target = tmp_path / 'cell.png'
  target.write_bytes(b'old')
  pairs = [('none', 0), ('sep_conv_3x3', 1)]
  assert darts_plot.plot_cell(pairs, [2], target, title='tiny') == [
      ('c_{k-1}', '0', 'sep_conv_3x3'),
      ('0', 'c_{k}', ''),
  ]
  _assert_png(target)
  assert os.listdir(tmp_path) == ['cell.png']


def test_plot_genotype_rejects_non_genotype(tmp_path):
  with pytest.raises(ValueError, match='Genotype') as error:
    darts_plot.plot_genotype(DARTS_V2.to_dict(), tmp_path)
  _one_line(error)


def test_failed_save_leaves_no_file_and_no_temp(tmp_path, monkeypatch):
  def broken_savefig(self, *args, **kwargs):
    raise RuntimeError('disk on fire')

  monkeypatch.setattr(Figure, 'savefig', broken_savefig)
  target = tmp_path / 'cell.png'
  with pytest.raises(RuntimeError, match='disk on fire'):
    darts_plot.plot_cell(DARTS_V2.normal, DARTS_V2.normal_concat, target)
  assert os.listdir(tmp_path) == []
  # An existing file is left untouched.
  target.write_bytes(b'previous picture')
  with pytest.raises(RuntimeError, match='disk on fire'):
    plot.plot_alpha_history(_softmax_history(2, 5, 3), ['a', 'b', 'c'], target)
  assert target.read_bytes() == b'previous picture'
  assert os.listdir(tmp_path) == ['cell.png']


# -- plot_alpha_history -------------------------------------------------------------


def test_alpha_edge_labels_follow_darts_order():
  assert darts_plot.alpha_edge_labels(5) == [
      'n0<-c_{k-2}',
      'n0<-c_{k-1}',
      'n1<-c_{k-2}',
      'n1<-c_{k-1}',
      'n1<-n0',
  ]
  labels = darts_plot.alpha_edge_labels(14)
  assert len(labels) == 14
  assert labels[9] == 'n3<-c_{k-2}' and labels[13] == 'n3<-n2'
  with pytest.raises(ValueError, match='DARTS edge count') as error:
    darts_plot.alpha_edge_labels(6)
  _one_line(error)


def test_plot_alpha_history_writes_png(tmp_path):
  target = tmp_path / 'plots' / 'alphas.png'
  history = _softmax_history(3, 14, len(DARTS_PRIMITIVES))
  low, high = plot.plot_alpha_history(history, DARTS_PRIMITIVES, target, title='search')
  values = np.stack([h[c] for h in history for c in ('normal', 'reduce')])
  assert low < values.min() and values.max() < high
  pixels = _assert_png(target)
  assert pixels.shape[1] > pixels.shape[0]  # Two cell panels side by side.
  assert os.listdir(target.parent) == ['alphas.png']


def _with(history, t, cell, value):
  history = [dict(entry) for entry in history]
  history[t][cell] = value
  return history


_GOOD = _softmax_history(3, 14, 8)


@pytest.mark.parametrize(
    'history, primitives, message',
    [
        ([], DARTS_PRIMITIVES, 'empty'),
        ({'normal': _GOOD[0]['normal']}, DARTS_PRIMITIVES, 'sequence'),
        (_GOOD, DARTS_PRIMITIVES[:7], '8 ops per edge, but 7 primitives'),
        (_GOOD, [], 'primitives'),
        (_GOOD, list(DARTS_PRIMITIVES[:7]) + ['none'], 'distinct'),
        (
            _with(_GOOD, 2, 'reduce', _GOOD[0]['reduce'][:9]),
            DARTS_PRIMITIVES,
            r"history\[2\]\['reduce'\] has shape \(9, 8\), but history\[0\] has \(14, 8\)",
        ),
        (_with(_GOOD, 1, 'normal', _GOOD[0]['normal'][0]), DARTS_PRIMITIVES, '2-D'),
        (_with(_GOOD, 1, 'normal', [['x', 'y']]), DARTS_PRIMITIVES, 'numeric'),
        ([{'normal': _GOOD[0]['normal']}], DARTS_PRIMITIVES, "without 'reduce'"),
        (_softmax_history(2, 13, 8), DARTS_PRIMITIVES, '13 edges, not a DARTS edge count'),
        (_softmax_history(2, 6, 8), DARTS_PRIMITIVES, '6 edges'),
        (_with(_GOOD, 0, 'normal', _GOOD[0]['normal'] * 3), DARTS_PRIMITIVES, 'outside'),
    ],
)
def test_plot_alpha_history_bad_input(tmp_path, history, primitives, message):
  target = tmp_path / 'alphas.png'
  with pytest.raises(ValueError, match=message) as error:
    plot.plot_alpha_history(history, primitives, target)
  _one_line(error)
  assert not target.exists()


# -- alpha_history_from_metrics --------------------------------------------------------


def test_alpha_history_from_metrics_round_trip(tmp_path):
  history = _softmax_history(3, 5, 4, seed=1)
  lines = [json.dumps({'epoch': 0, 'train_loss': 2.3})]  # No alphas: skipped.
  for t, entry in enumerate(history):
    lines.append(
        json.dumps(
            {
                'epoch': t + 1,
                'alpha_normal': entry['normal'].tolist(),
                'alpha_reduce': entry['reduce'].tolist(),
            }
        )
    )
  lines.insert(2, '')  # Blank lines are skipped too.
  path = tmp_path / 'metrics.jsonl'
  path.write_text('\n'.join(lines) + '\n')
  loaded = plot.alpha_history_from_metrics(path)
  assert len(loaded) == 3
  for got, want in zip(loaded, history):
    assert set(got) == {'normal', 'reduce'}
    np.testing.assert_array_equal(got['normal'], want['normal'])
    np.testing.assert_array_equal(got['reduce'], want['reduce'])
  plot.plot_alpha_history(loaded, ['a', 'b', 'c', 'd'], tmp_path / 'alphas.png')
  _assert_png(tmp_path / 'alphas.png')


@pytest.mark.parametrize(
    'bad_line, message',
    [
        ('{"alpha_normal": [[1.0]], ', 'line 3 is not valid JSON'),
        ('[1, 2]', 'line 3 is not a JSON object'),
        ('{"alpha_normal": [[0.5, 0.5]]}', 'line 3 lacks alpha_reduce'),
        ('{"alpha_normal": [0.5, 0.5], "alpha_reduce": [[0.5, 0.5]]}', 'line 3: alpha_normal'),
    ],
)
def test_alpha_history_from_metrics_reports_bad_line(tmp_path, bad_line, message):
  good = json.dumps({'alpha_normal': [[0.5, 0.5]] * 2, 'alpha_reduce': [[0.5, 0.5]] * 2})
  path = tmp_path / 'metrics.jsonl'
  path.write_text('\n'.join([good, good, bad_line, good]) + '\n')
  with pytest.raises(ValueError, match=message) as error:
    plot.alpha_history_from_metrics(path)
  msg = _one_line(error)
  assert str(path) in msg


def test_alpha_plot_zooms_on_near_uniform_history(tmp_path):
  k = len(DARTS_PRIMITIVES)
  near = [
      {
          c: np.full((14, k), 1 / k) + 0.002 * t * (np.arange(k) - 3.5) / 3.5 / k
          for c in ('normal', 'reduce')
      }
      for t in range(3)
  ]
  low, high = plot.plot_alpha_history(near, DARTS_PRIMITIVES, tmp_path / 'near.png')
  assert 0.12 < low < 1 / k < high < 0.13
  peaked = [{c: np.tile(np.eye(k)[0] * 0.9 + 0.1 / k, (14, 1)) for c in ('normal', 'reduce')}]
  low, high = plot.plot_alpha_history(peaked, DARTS_PRIMITIVES, tmp_path / 'peaked.png')
  assert low < 0.0 < 1.0 < high < 1.1


def test_nb201_alpha_history_round_trip_and_plot(tmp_path):
  """An NB201 search logs alpha_cell (and alpha_entropy_cell, which is not an alpha)."""
  history = [{'cell': h['normal']} for h in _softmax_history(3, 6, 5, seed=2)]
  path = tmp_path / 'metrics.jsonl'
  path.write_text(
      ''.join(
          json.dumps({'epoch': t + 1, 'alpha_cell': h['cell'].tolist(), 'alpha_entropy_cell': 1.5})
          + '\n'
          for t, h in enumerate(history)
      )
  )
  loaded = plot.alpha_history_from_metrics(path)
  assert [set(h) for h in loaded] == [{'cell'}] * 3
  for got, want in zip(loaded, history):
    np.testing.assert_array_equal(got['cell'], want['cell'])
  names = ['none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3']
  plot.plot_alpha_history(loaded, names, tmp_path / 'alphas.png')
  pixels = _assert_png(tmp_path / 'alphas.png')
  assert pixels.shape[0] > 200  # three rows of panels (nodes 1-3)
  assert spaces.get('nb201').edge_rows('cell', 6) == [
      [(0, 'n1<-0')],
      [(1, 'n2<-0'), (2, 'n2<-1')],
      [(3, 'n3<-0'), (4, 'n3<-1'), (5, 'n3<-2')],
  ]
  with pytest.raises(ValueError, match='has 5 edges, but an NB201 cell has 6') as error:
    plot.plot_alpha_history([{'cell': history[0]['cell'][:5]}], names, tmp_path / 'bad.png')
  _one_line(error)
  # A file mixing the two spaces' keys is refused with the line number.
  path.write_text(
      path.read_text() + json.dumps({'alpha_normal': [[1.0]], 'alpha_reduce': [[1.0]]}) + '\n'
  )
  with pytest.raises(ValueError, match='line 4 has other alpha keys') as error:
    plot.alpha_history_from_metrics(path)
  _one_line(error)


def test_the_search_passes_its_space_and_nothing_is_guessed(tmp_path, monkeypatch):
  """With ``space`` given, the history's keys are not matched against the registry."""
  history = [{'cell': h['normal']} for h in _softmax_history(2, 6, 4, seed=3)]
  monkeypatch.setattr(plot, '_history_space', lambda entry: pytest.fail('the space was guessed'))
  space = spaces.get('nb201', ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3'))
  plot.plot_alpha_history(history, space.primitives, tmp_path / 'a.png', space=space)
  _assert_png(tmp_path / 'a.png')
