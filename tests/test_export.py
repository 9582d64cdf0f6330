"""Export of a retrained network: the layout rewrite against a NumPy convolution, every format
reloaded in a fresh process against the JAX model, and the run checks (one line, nothing
written)."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import train_demo
from nas_jax import export, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def numpy_conv_cnhw(x, w, stride, pad, dilation, groups):
  """Direct convolution of CNHW ``x`` with an HWIO kernel ``w`` (I = C / groups), by loops."""
  c, n, h, wd = x.shape
  kh, kw, cin, cout = w.shape
  xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  oh = (h + 2 * pad - dilation * (kh - 1) - 1) // stride + 1
  ow = (wd + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
  out = np.zeros((cout, n, oh, ow), np.float64)
  per_group = cout // groups
  for o in range(cout):
    g = o // per_group
    for i in range(cin):
      for a in range(kh):
        for b in range(kw):
          patch = xp[
              g * cin + i,
              :,
              a * dilation : a * dilation + stride * oh : stride,
              b * dilation : b * dilation + stride * ow : stride,
          ]
          out[o] += w[a, b, i, o] * patch
  return out


@pytest.mark.parametrize(
    'stride,pad,dilation,groups', [(1, 1, 1, 1), (2, 1, 1, 1), (1, 2, 2, 4), (2, 2, 2, 4)]
)
def test_standard_layout_matches_a_numpy_convolution(stride, pad, dilation, groups):
  rng = np.random.RandomState(0)
  x = rng.randn(4, 2, 7, 6).astype(np.float32)  # C, N, H, W
  w = rng.randn(3, 3, 4 // groups, 4).astype(np.float32)  # H, W, I, O

  def fn(x):
    y = jax.lax.conv_general_dilated(
        x,
        w,
        (stride, stride),
        ((pad, pad), (pad, pad)),
        rhs_dilation=(dilation, dilation),
        dimension_numbers=('CNHW', 'HWIO', 'CNHW'),
        feature_group_count=groups,
    )
    return jax.nn.relu(y)

  rewritten = export.standard_conv_layout(fn)
  expected = np.maximum(numpy_conv_cnhw(x, w, stride, pad, dilation, groups), 0)
  np.testing.assert_allclose(np.asarray(jax.jit(rewritten)(x)), expected, rtol=1e-4, atol=1e-4)
  convs = [
      e for e in jax.make_jaxpr(rewritten)(x).eqns if e.primitive.name == 'conv_general_dilated'
  ]
  assert len(convs) == 1
  lhs, rhs, out = convs[0].params['dimension_numbers']
  assert tuple(lhs) == tuple(rhs) == tuple(out) == (0, 1, 2, 3)  # NCHW, OIHW, NCHW


def test_standard_layout_rebuilds_scans_and_keeps_a_symbolic_batch():
  w = np.random.RandomState(1).randn(1, 1, 3, 3).astype(np.float32)

  def fn(x):  # x: (N, 3); two pointwise convs as a scan over a CNHW view
    h = x.T[:, :, None, None]

    def body(h, _):
      y = jax.lax.conv_general_dilated(
          h, w, (1, 1), 'VALID', dimension_numbers=('CNHW', 'HWIO', 'CNHW')
      )
      return jnp.tanh(y), None

    h, _ = jax.lax.scan(body, h, None, length=2)
    return h[:, :, 0, 0].T

  x = np.random.RandomState(2).randn(5, 3).astype(np.float32)
  expected = np.tanh(np.tanh(x @ w[0, 0]) @ w[0, 0])
  rewritten = export.standard_conv_layout(fn)
  np.testing.assert_allclose(np.asarray(rewritten(x)), expected, rtol=1e-5, atol=1e-5)
  (batch,) = jax.export.symbolic_shape('b')
  exported = jax.export.export(jax.jit(rewritten))(jax.ShapeDtypeStruct((batch, 3), jnp.float32))
  np.testing.assert_allclose(np.asarray(exported.call(x)), expected, rtol=1e-5, atol=1e-5)


def _export_cli(*flags):
  """``python -m experiments.export`` with ``flags``, as a user runs it."""
  return subprocess.run(
      [sys.executable, '-m', 'experiments.export', *flags],
      cwd=REPO,
      capture_output=True,
      text=True,
      check=False,
  )


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  """A tiny DARTS-space retraining (3 cells: both reduction cells, every DARTS op kind of
  DARTS_V2: separable, dilated, max pool, skip and factorized reduce), 1 epoch of 3 steps."""
  workdir = str(tmp_path_factory.mktemp('export') / 'run')
  config = train_demo.get_config()
  config.genotype = 'DARTS_V2'
  config.epochs = 1
  config.max_steps_per_epoch = 3
  config.layers = 3
  config.tensorboard = False
  train.run_train(config, workdir, log=lambda line: None)
  return workdir


def test_every_format_reloads_in_a_fresh_process_and_matches_jax(finished_run):
  proc = _export_cli(f'--workdir={finished_run}', '--repeats=2')
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = os.path.join(finished_run, 'export')
  with open(os.path.join(out, 'export.json')) as f:
    report = json.load(f)
  with open(os.path.join(finished_run, 'results.json')) as f:
    results = json.load(f)
  # The in-process JAX model is the retrained one: its accuracy is the run's.
  assert report['jax']['test_accuracy'] == pytest.approx(results['test_accuracy'], abs=1e-6)
  assert set(report['formats']) == set(export.FORMATS)
  for fmt, entry in report['formats'].items():
    assert 'error' not in entry, (fmt, entry)
    assert os.path.exists(os.path.join(out, entry['file']))
    assert entry['bytes'] > 1000
    assert entry['max_abs_logit_diff'] < 1e-3, fmt
    assert entry['parity'] is True
    assert abs(entry['test_accuracy'] - report['jax']['test_accuracy']) <= 1 / report['test_images']
    assert set(entry['latency_ms']) == {'1', str(report['protocol_batch'])}
    assert all(v > 0 for v in entry['latency_ms'].values())
  for fmt in export.FORMATS:  # the table names each artifact
    assert export.FILENAMES[fmt] in proc.stdout
  assert not [n for n in os.listdir(finished_run) if n.startswith('.export')]


def test_a_format_that_cannot_be_produced_is_one_line_and_the_others_come_out(
    finished_run, monkeypatch
):
  def unsupported(fn, image_shape, path):
    open(path, 'w').close()  # a converter that leaves a partial file behind
    raise NotImplementedError('No ONNX handler for primitive\n  some_op: details')

  monkeypatch.setitem(export._WRITERS, 'onnx', unsupported)
  lines = []
  report = export.export_run(finished_run, ('jax_export', 'onnx'), repeats=1, log=lines.append)
  onnx = report['formats']['onnx']
  assert onnx['error'].startswith('cannot be produced: NotImplementedError: No ONNX handler')
  assert '\n' not in onnx['error'] and lines == [f'onnx: {onnx["error"]}']
  assert report['formats']['jax_export']['parity'] is True
  out = os.path.join(finished_run, 'export')
  assert sorted(os.listdir(out)) == ['export.json', 'model.jax_export']  # no partial model.onnx
  assert 'cannot be produced' in export.format_table(report)
  # Timing rounds, each in a fresh process: one median per round and batch.
  (times,) = export.latency_rounds([finished_run], 'jax_export', (1, 2), rounds=2, repeats=1)
  assert sorted(times) == [1, 2] and all(len(t) == 2 and min(t) > 0 for t in times.values())
  with pytest.raises(export.ExportError, match='has no onnx artifact .cannot be produced'):
    export.latency_rounds([finished_run], 'onnx', (1,), rounds=1)


def test_an_interrupted_export_keeps_the_previous_one(finished_run, monkeypatch):
  export.export_run(finished_run, ('jax_export',), repeats=1, log=lambda line: None)
  out = os.path.join(finished_run, 'export')
  before = sorted(os.listdir(out))

  def killed(fn, image_shape, path):
    raise KeyboardInterrupt

  monkeypatch.setitem(export._WRITERS, 'onnx', killed)
  with pytest.raises(KeyboardInterrupt):
    export.export_run(finished_run, ('jax_export', 'onnx'), repeats=1, log=lambda line: None)
  assert sorted(os.listdir(out)) == before
  assert not [n for n in os.listdir(finished_run) if n.startswith('.export')]


def test_bad_runs_and_formats_are_one_line_and_write_nothing(finished_run, tmp_path):
  with pytest.raises(export.ExportError, match="unknown export format 'pt'"):
    export.check_formats(['onnx', 'pt'])
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(export.ExportError, match='has no results.json: not a finished'):
    export.export_run(str(empty))
  # A run whose newest checkpoint is before its last epoch (its config asks for two).
  unfinished = tmp_path / 'unfinished'
  subprocess.run(['cp', '-r', finished_run, str(unfinished)], check=True)
  config = train.read_config(str(unfinished / 'config.json'))
  config.epochs = 2
  (unfinished / 'config.json').write_text(train.config_json(config))
  subprocess.run(['rm', '-rf', str(unfinished / 'export')], check=True)
  with pytest.raises(export.ExportError, match=r'at epoch 1 of 2: the retraining has not finished'):
    export.export_run(str(unfinished))
  assert not os.path.exists(unfinished / 'export')
  for bad in (empty, unfinished):
    assert not [n for n in os.listdir(bad) if n.startswith('.export')]
  proc = _export_cli(f'--workdir={unfinished}', '--formats=onnx,pt')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "error: unknown export format 'pt'; known: jax_export, saved_model, tflite, onnx"
  ]
