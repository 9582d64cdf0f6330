"""A retrained network as deployable artifacts, each reloaded in a fresh process and checked.

``export_run(workdir)`` (``python -m experiments.export``) reads a finished retraining run
(``nas_jax.train``: its ``config.json``, ``results.json`` and final checkpoint) and writes
``workdir/export/``:

* ``model.jax_export``: ``jax.export``'s serialized StableHLO with a symbolic batch
  dimension; ``jax.export.deserialize(...).call(images)`` runs it.
* ``saved_model/``: a TensorFlow SavedModel through ``jax2tf`` (its ``serve`` signature,
  any batch).
* ``model.tflite``: TensorFlow's TFLite converter from that SavedModel (builtin ops only),
  run with ``tf.lite.Interpreter``.
* ``model.onnx``: through ``jax2onnx`` (opset 23, symbolic batch), run with onnxruntime.
* ``export.json``: for each format the file size, the max |logit difference| against the JAX
  model over the test set, the test accuracy by each, and the median latency at batch 1 and at
  the protocol's batch (the retraining's ``batch_size``) on this machine; a format that could
  not be produced has its one-line reason instead.

Every artifact takes ``float32`` images ``(N, H, W, C)`` of pixel values in [0, 255] (the
dataset's ``uint8`` images cast; its normalization is inside the model) and returns the logits ``(N, classes)``. Each one
is reloaded and run in a fresh Python process (``python -m nas_jax.export``), so the check
covers what a deployment loads, not an object still in memory. The parity rule: the test
accuracies of the artifact and of the JAX model differ by at most one image.

ONNX conversion sees a rewritten program. The networks compute in the channel-major ``CNHW``
layout (``nas_jax.ops``), whose convolution dimension numbers ONNX's ``Conv`` does not take;
:func:`standard_conv_layout` re-expresses every convolution as ``NCHW`` between transposes
(the same numbers, ONNX's own layout), and inlines the program's calls so that the converter
sees plain primitives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import jax
from jax.extend import core as jex_core
import jax.numpy as jnp
import numpy as np

from nas_jax.util import DIR_MODE, atomic_write, median_seconds

__all__ = [
    'FORMATS',
    'ExportError',
    'export_run',
    'inference_fn',
    'load',
    'standard_conv_layout',
    'write',
]

FORMATS = ('jax_export', 'saved_model', 'tflite', 'onnx')
FILENAMES = {
    'jax_export': 'model.jax_export',
    'saved_model': 'saved_model',
    'tflite': 'model.tflite',
    'onnx': 'model.onnx',
}
EXPORT_DIR = 'export'
REPORT = 'export.json'
LATENCY_REPEATS = 20


class ExportError(ValueError):
  """A run that cannot be exported, or an unknown format (one line)."""


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
  """``formats`` if every one is known (ExportError naming the unknown one otherwise)."""
  formats = tuple(formats)
  for f in formats:
    if f not in FORMATS:
      raise ExportError(f'unknown export format {f!r}; known: {", ".join(FORMATS)}')
  if not formats:
    raise ExportError(f'no export format given; known: {", ".join(FORMATS)}')
  return formats


def inference_fn(model, variables, mean, std) -> Callable[[jax.Array], jax.Array]:
  """``images (N, H, W, C) float32 in [0, 255] -> logits (N, classes) float32``: the evaluation
  network in inference mode (running batch statistics, no auxiliary head) after the dataset's
  normalization (``nas_jax.data.normalize``: ``(images / 255 - mean) / std``)."""
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)

  def fn(images):
    logits, _ = model.apply(variables, (images / 255.0 - mean) / std, train=False)
    return logits.astype(jnp.float32)

  return fn


def _standard_conv(lhs, rhs, params):
  """``conv_general_dilated`` with ``params``, computed in NCHW / OIHW between transposes."""
  lhs_spec, rhs_spec, out_spec = params['dimension_numbers']
  out = jax.lax.conv_general_dilated(
      jnp.transpose(lhs, lhs_spec),
      jnp.transpose(rhs, rhs_spec),
      params['window_strides'],
      params['padding'],
      lhs_dilation=params['lhs_dilation'],
      rhs_dilation=params['rhs_dilation'],
      dimension_numbers=('NCHW', 'OIHW', 'NCHW'),
      feature_group_count=params['feature_group_count'],
      batch_group_count=params['batch_group_count'],
      precision=params['precision'],
      preferred_element_type=params['preferred_element_type'],
  )
  return jnp.transpose(out, np.argsort(out_spec))


def _is_standard(params) -> bool:
  lhs, rhs, out = params['dimension_numbers']
  identity = tuple(range(len(lhs)))
  return tuple(lhs) == identity and tuple(rhs) == identity and tuple(out) == identity


def _interpret(closed, *args):
  """Evaluates a closed jaxpr with every non-NCHW convolution in NCHW (calls inlined)."""
  jaxpr = closed.jaxpr
  env: dict[Any, Any] = {}

  def read(v):
    return v.val if isinstance(v, jex_core.Literal) else env[v]

  for var, value in zip(jaxpr.constvars, closed.consts):
    env[var] = value
  for var, value in zip(jaxpr.invars, args):
    env[var] = value
  for eqn in jaxpr.eqns:
    invals = [read(v) for v in eqn.invars]
    name = eqn.primitive.name
    if name == 'conv_general_dilated' and not _is_standard(eqn.params):
      outs = [_standard_conv(*invals, eqn.params)]
    elif name in ('pjit', 'jit', 'closed_call', 'core_call'):
      outs = _interpret(eqn.params.get('jaxpr') or eqn.params['call_jaxpr'], *invals)
    elif name in ('custom_jvp_call', 'custom_vjp_call'):  # the primal computation, inlined
      outs = _interpret(eqn.params['call_jaxpr'], *invals)
    elif name == 'scan':
      outs = _interpret_scan(eqn.params, invals)
    else:
      outs = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))
      if not eqn.primitive.multiple_results:
        outs = [outs]
    for var, value in zip(eqn.outvars, outs):
      env[var] = value
  return [read(v) for v in jaxpr.outvars]


def _interpret_scan(params, invals):
  """A ``scan`` equation as ``lax.scan`` over the interpreted body."""
  n_consts, n_carry = params['num_consts'], params['num_carry']
  consts, init, xs = (
      invals[:n_consts],
      invals[n_consts : n_consts + n_carry],
      invals[n_consts + n_carry :],
  )

  def body(carry, x):
    outs = _interpret(params['jaxpr'], *consts, *carry, *x)
    return list(outs[:n_carry]), list(outs[n_carry:])

  carry, ys = jax.lax.scan(
      body,
      list(init),
      list(xs),
      length=params['length'],
      reverse=params['reverse'],
      unroll=params['unroll'],
  )
  return [*carry, *ys]


def standard_conv_layout(fn: Callable) -> Callable:
  """``fn`` re-expressed with every convolution in NCHW / OIHW.

  The returned function traces ``fn`` at its arguments' shapes (symbolic dimensions
  included: it runs inside the caller's trace) and evaluates that program with each
  convolution of another layout computed as transpose, NCHW convolution, transpose; calls
  (``jit``, ``custom_jvp``) are inlined and scans rebuilt around the rewritten body. The
  numbers are the same; converters that take only NCHW convolutions (ONNX) can take it.
  """

  def rewritten(*args):
    outs = _interpret(jax.make_jaxpr(fn)(*args), *args)
    return outs[0] if len(outs) == 1 else tuple(outs)

  return rewritten


# --- writing -------------------------------------------------------------------------------


def _quiet_tensorflow() -> None:
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def _write_jax_export(fn, image_shape, path: str) -> None:
  from jax import export

  (batch,) = export.symbolic_shape('batch')
  spec = jax.ShapeDtypeStruct((batch, *image_shape), jnp.float32)
  blob = export.export(jax.jit(fn))(spec).serialize()
  with open(path, 'wb') as f:
    f.write(blob)


def _tf_module(fn, image_shape):
  _quiet_tensorflow()
  from jax.experimental import jax2tf
  import tensorflow as tf

  module = tf.Module()
  shape = ', '.join(str(d) for d in image_shape)
  module.serve = tf.function(
      jax2tf.convert(fn, polymorphic_shapes=[f'(batch, {shape})'], with_gradient=False),
      autograph=False,
      input_signature=[tf.TensorSpec([None, *image_shape], tf.float32, name='images')],
  )
  return module


def _write_saved_model(fn, image_shape, path: str) -> None:
  import tensorflow as tf

  module = _tf_module(fn, image_shape)
  tf.saved_model.save(module, path, signatures={'serving_default': module.serve})


def _write_tflite(fn, image_shape, path: str) -> None:
  import tensorflow as tf

  module = _tf_module(fn, image_shape)
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [module.serve.get_concrete_function()], module
  )
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  blob = converter.convert()
  with open(path, 'wb') as f:
    f.write(blob)


def _write_onnx(fn, image_shape, path: str) -> None:
  import logging

  try:
    from jax2onnx import to_onnx
  except ImportError as e:
    raise RuntimeError(f'jax2onnx is not installed ({e})') from None
  # jax2onnx imports all of its plugin modules, examples included, and logs a traceback for
  # each example whose library (equinox, dm_pix) is absent; none of them converts our ops.
  logger = logging.getLogger('jax2onnx')
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    proto = to_onnx(
        standard_conv_layout(fn),
        [('batch', *image_shape)],
        model_name='nas_jax',
        input_names=['images'],
        output_names=['logits'],
        return_mode='proto',
    )
  finally:
    logger.setLevel(level)
  with open(path, 'wb') as f:
    f.write(proto.SerializeToString())


_WRITERS = {
    'jax_export': _write_jax_export,
    'saved_model': _write_saved_model,
    'tflite': _write_tflite,
    'onnx': _write_onnx,
}


def write(fmt: str, fn: Callable, image_shape: Sequence[int], path: str) -> None:
  """Writes ``fn`` (:func:`inference_fn`) for images of ``image_shape`` (H, W, C) as ``fmt``
  at ``path`` (a directory for ``saved_model``, else a file)."""
  check_formats([fmt])
  _WRITERS[fmt](fn, tuple(int(d) for d in image_shape), path)


# --- reading (in the fresh process) --------------------------------------------------------


def load(fmt: str, path: str) -> Callable[[np.ndarray], np.ndarray]:
  """The artifact ``fmt`` at ``path`` as ``images (N, H, W, C) float32 -> logits`` (NumPy), run
  by its own runtime: ``jax.export``, TensorFlow, the TFLite interpreter or onnxruntime."""
  check_formats([fmt])
  if fmt == 'jax_export':
    from jax import export

    with open(path, 'rb') as f:
      exported = export.deserialize(bytearray(f.read()))
    call = jax.jit(exported.call)
    return lambda images: np.asarray(call(images))
  _quiet_tensorflow()
  if fmt == 'saved_model':
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures['serving_default']
    return lambda images: next(iter(serve(images=tf.constant(images)).values())).numpy()
  if fmt == 'tflite':
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=path)
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    shape = [None]

    def run(images):
      if shape[0] != images.shape:
        interpreter.resize_tensor_input(inp['index'], images.shape)
        interpreter.allocate_tensors()
        shape[0] = images.shape
      interpreter.set_tensor(inp['index'], images)
      interpreter.invoke()
      return interpreter.get_tensor(out['index']).copy()

    return run
  import onnxruntime

  session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
  name = session.get_inputs()[0].name
  return lambda images: session.run(None, {name: images})[0]


def logits_and_latency(
    fn: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    eval_batch: int,
    latency_batches: Sequence[int],
    repeats: int,
) -> tuple[np.ndarray, dict[str, float]]:
  """``fn``'s logits of ``images`` (in batches of ``eval_batch``) and its median latency at each
  of ``latency_batches`` (``{str(batch): seconds}``, on the first images, tiled if too few)."""
  logits = np.concatenate(
      [np.asarray(fn(images[i : i + eval_batch])) for i in range(0, len(images), eval_batch)]
  )
  latency = {}
  for b in latency_batches:
    batch = np.resize(images, (b, *images.shape[1:]))  # repeats the images if b > len(images)
    latency[str(b)] = median_seconds(fn, batch, repeats, warmup=2)
  return logits, latency


def _check_main(argv: Sequence[str]) -> None:
  """``python -m nas_jax.export FORMAT PATH IMAGES.npy OUT_PREFIX EVAL_BATCH REPEATS B1,B2``:
  loads the artifact, writes ``OUT_PREFIX.npy`` (logits) and ``OUT_PREFIX.json`` (load and
  latency seconds)."""
  fmt, path, images_path, out, eval_batch, repeats, batches = argv
  t0 = time.perf_counter()
  fn = load(fmt, path)
  load_seconds = time.perf_counter() - t0
  images = np.load(images_path)
  logits, latency = logits_and_latency(
      fn, images, int(eval_batch), [int(b) for b in batches.split(',')], int(repeats)
  )
  np.save(out + '.npy', logits.astype(np.float32))
  with open(out + '.json', 'w') as f:
    json.dump({'load_seconds': load_seconds, 'latency_seconds': latency}, f)


def check_in_fresh_process(
    fmt: str,
    path: str,
    images_path: str,
    out_prefix: str,
    eval_batch: int,
    latency_batches: Sequence[int],
    repeats: int = LATENCY_REPEATS,
) -> tuple[np.ndarray, dict[str, Any]]:
  """Runs the artifact in a new Python process (:func:`_check_main`); its logits and timings.

  Raises:
    RuntimeError: the process failed (its last line of output as the reason).
  """
  cmd = [
      sys.executable,
      '-m',
      'nas_jax.export',
      fmt,
      path,
      images_path,
      out_prefix,
      str(eval_batch),
      str(repeats),
      ','.join(str(b) for b in latency_batches),
  ]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
  if proc.returncode:
    lines = [x for x in (proc.stderr + proc.stdout).strip().splitlines() if x.strip()]
    raise RuntimeError(f'reloading it failed: {lines[-1] if lines else proc.returncode}')
  with open(out_prefix + '.json') as f:
    timings = json.load(f)
  return np.load(out_prefix + '.npy'), timings


def latency_rounds(
    runs: Sequence[str],
    fmt: str,
    batches: Sequence[int],
    *,
    rounds: int = 5,
    repeats: int = LATENCY_REPEATS,
) -> list[dict[int, list[float]]]:
  """The ``fmt`` artifact of each exported run in ``runs``, timed in a fresh process per
  round (:func:`check_in_fresh_process` on the run's test images), the runs interleaved within
  each round so that a slow spell of the machine falls on all of them: per run,
  ``{batch: [median seconds of round 1, ...]}``."""
  from nas_jax import data, train

  inputs = []
  for run in runs:
    with open(os.path.join(run, EXPORT_DIR, REPORT)) as f:
      report = json.load(f)
    entry = report['formats'].get(fmt, {})
    if 'error' in entry or 'file' not in entry:
      raise ExportError(f'{run} has no {fmt} artifact ({entry.get("error", "not exported")})')
    config = train.read_config(os.path.join(run, train.CONFIG_FILE))
    images = np.asarray(data.test_split(config).images[: max(batches)], np.float32)
    inputs.append((os.path.join(run, EXPORT_DIR, entry['file']), images))
  out = [{b: [] for b in batches} for _ in runs]
  with tempfile.TemporaryDirectory() as scratch:
    for i, (_, images) in enumerate(inputs):
      np.save(os.path.join(scratch, f'images_{i}.npy'), images)
    for _ in range(rounds):
      for i, (path, images) in enumerate(inputs):
        _, timings = check_in_fresh_process(
            fmt,
            path,
            os.path.join(scratch, f'images_{i}.npy'),
            os.path.join(scratch, f'out_{i}'),
            len(images),
            batches,
            repeats,
        )
        for b in batches:
          out[i][b].append(float(timings['latency_seconds'][str(b)]))
  return out


if __name__ == '__main__':
  _check_main(sys.argv[1:])


# --- a finished retraining run -------------------------------------------------------------


@dataclasses.dataclass
class FinishedRun:
  """What an export reads from a retraining run: its config, results, space, genotype,
  evaluation network and final variables."""

  workdir: str
  config: Any
  results: dict[str, Any]
  space: Any
  genotype: Any
  model: Any
  variables: dict[str, Any]
  step: int


def read_run(workdir: str, config=None) -> FinishedRun:
  """The finished retraining run in ``workdir`` (``nas_jax.train``).

  ``config`` (a ConfigDict) replaces the run's ``config.json`` (a run retrained before that
  file was written needs it).

  Raises:
    ExportError: no such run, it has not finished (no ``results.json``, or the newest
      checkpoint is not at the last epoch), or the checkpoint does not restore (one line).
  """
  from nas_jax import checkpoint, data, train
  from nas_jax.config_checks import ConfigError

  if not os.path.isdir(workdir):
    raise ExportError(f'{workdir} is not a directory (give a retraining run: --workdir=RUN)')
  results_path = os.path.join(workdir, 'results.json')
  if not os.path.exists(results_path):
    raise ExportError(
        f'{workdir} has no results.json: not a finished retraining run (python -m '
        'experiments.train writes it after the last epoch)'
    )
  with open(results_path) as f:
    results = json.load(f)
  if config is None:
    config_path = os.path.join(workdir, train.CONFIG_FILE)
    if not os.path.exists(config_path):
      raise ExportError(
          f'{workdir} has no {train.CONFIG_FILE} (it was retrained before runs kept their '
          'config): give the config it was trained with, --config=FILE'
      )
    config = train.read_config(config_path)
  try:
    genotype = train.validate_config(config)
    space, _ = train.network(config)
    recipe = train.Recipe.from_config(config)
  except ConfigError as e:
    raise ExportError(f'the run config: {e}') from None
  meta = data.dataset_meta(config.dataset)
  image_shape = data.input_shape(config.dataset, config.image_size)
  model = train.build_model(config, genotype, meta.num_classes)
  tx, _ = train.make_optimizer(recipe, 1)  # the state's layout does not depend on the steps
  template = train.initial_state(model, tx, image_shape, recipe.seed)
  try:
    restored = checkpoint.read_newest(os.path.join(workdir, 'checkpoints'), template)
  except checkpoint.CheckpointError as e:
    raise ExportError(str(e)) from None
  if restored is None:
    raise ExportError(f'{workdir} has no checkpoint to export (checkpoints/ is empty or absent)')
  state, position, step = restored
  if position.get('epoch') != recipe.epochs or position.get('index', 0) != 0:
    raise ExportError(
        f'the newest checkpoint of {workdir} (step {step}) is at epoch {position.get("epoch")} of '
        f'{recipe.epochs}: the retraining has not finished (rerun its train command to finish it)'
    )
  variables = {'params': state.params, 'batch_stats': state.batch_stats}
  return FinishedRun(workdir, config, results, space, genotype, model, variables, step)


def _one_line(error: BaseException) -> str:
  lines = [x.strip() for x in str(error).strip().splitlines() if x.strip()]
  text = lines[0] if lines else type(error).__name__
  for line in lines[1:]:  # a converter's reason follows its generic first line
    if 'error' in line.lower():
      text = f'{text} {line}'
      break
  return f'{type(error).__name__}: {text}'[:400]


def _remove(path: str) -> None:
  if os.path.isdir(path):
    shutil.rmtree(path, ignore_errors=True)
  elif os.path.exists(path):
    os.remove(path)


def _size(path: str) -> int:
  if os.path.isdir(path):
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )
  return os.path.getsize(path)


@dataclasses.dataclass
class _Check:
  """Writes one format and checks it in a fresh process against the JAX model's logits."""

  images_path: str
  scratch: str
  eval_batch: int
  latency_batches: Sequence[int]
  repeats: int
  labels: np.ndarray
  ref_logits: np.ndarray

  def run(self, fmt: str, fn: Callable, image_shape, staging: str) -> dict[str, Any]:
    """The report entry of ``fmt`` (with ``'error'``, one line, if it failed)."""
    path = os.path.join(staging, FILENAMES[fmt])
    entry: dict[str, Any] = {'file': FILENAMES[fmt]}
    t0 = time.perf_counter()
    try:
      write(fmt, fn, image_shape, path)
    except Exception as e:  # pylint: disable=broad-except
      # Any converter failure (an unsupported op, a missing package) ends this format only.
      _remove(path)  # a converter may leave part of its output
      return dict(entry, error=f'cannot be produced: {_one_line(e)}')
    entry['write_seconds'] = time.perf_counter() - t0
    entry['bytes'] = _size(path)
    try:
      logits, timings = check_in_fresh_process(
          fmt,
          path,
          self.images_path,
          os.path.join(self.scratch, fmt),
          self.eval_batch,
          self.latency_batches,
          self.repeats,
      )
    except RuntimeError as e:
      return dict(entry, error=str(e))
    correct = np.argmax(logits, -1) == self.labels
    ref_correct = np.argmax(self.ref_logits, -1) == self.labels
    return dict(
        entry,
        max_abs_logit_diff=float(np.max(np.abs(logits - self.ref_logits))),
        test_accuracy=float(correct.mean()),
        predictions_differ=int(np.sum(np.argmax(logits, -1) != np.argmax(self.ref_logits, -1))),
        load_seconds=timings['load_seconds'],
        latency_ms={b: s * 1e3 for b, s in timings['latency_seconds'].items()},
        parity=abs(int(correct.sum()) - int(ref_correct.sum())) <= 1,
    )


def export_run(
    workdir: str,
    formats: Sequence[str] = FORMATS,
    *,
    config=None,
    repeats: int = LATENCY_REPEATS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Exports the finished retraining run in ``workdir`` (module docstring); returns the report
  also written to ``workdir/export/export.json``.

  The artifacts are written into a fresh directory beside ``export/``, which replaces it
  only when every format has been tried: a killed export leaves the previous one whole.
  """
  from nas_jax import data

  formats = check_formats(formats)
  run = read_run(workdir, config)
  config = run.config
  meta = data.dataset_meta(config.dataset)
  image_shape = tuple(data.input_shape(config.dataset, config.image_size))
  test = data.test_split(config)
  images = np.asarray(test.images, np.float32)
  labels = np.asarray(test.labels)
  eval_batch = min(int(config.eval_batch_size), len(images))
  protocol_batch = int(config.batch_size)
  latency_batches = sorted({1, protocol_batch})
  fn = inference_fn(run.model, run.variables, meta.mean, meta.std)
  jitted = jax.jit(fn)
  ref_logits, ref_latency = logits_and_latency(jitted, images, eval_batch, latency_batches, repeats)
  ref_correct = np.argmax(ref_logits, -1) == labels
  report: dict[str, Any] = {
      'run': os.path.abspath(workdir),
      'checkpoint_step': run.step,
      'space': run.space.name,
      'genotype': run.space.to_text(run.genotype),
      'network': run.results.get('network'),
      'dataset': config.dataset,
      'input': {'shape': [None, *image_shape], 'dtype': 'float32', 'pixels': '[0, 255]'},
      'test_images': int(len(images)),
      'protocol_batch': protocol_batch,
      'latency_repeats': repeats,
      'backend': f'{jax.default_backend()} ({jax.devices()[0].device_kind})',
      'jax': {
          'test_accuracy': float(ref_correct.mean()),
          'latency_ms': {b: s * 1e3 for b, s in ref_latency.items()},
      },
      'formats': {},
  }
  final = os.path.join(workdir, EXPORT_DIR)
  staging = tempfile.mkdtemp(prefix='.export-', dir=workdir)
  os.chmod(staging, DIR_MODE)  # mkdtemp's 0700 is for secrets; this is an output
  scratch = tempfile.mkdtemp(prefix='nas_jax_export_')
  try:
    images_path = os.path.join(scratch, 'images.npy')
    np.save(images_path, images)
    check = _Check(images_path, scratch, eval_batch, latency_batches, repeats, labels, ref_logits)
    for fmt in formats:
      report['formats'][fmt] = entry = check.run(fmt, fn, image_shape, staging)
      if 'error' in entry:
        log(f'{fmt}: {entry["error"]}')
    atomic_write(os.path.join(staging, REPORT), json.dumps(report, indent=2) + '\n')
    old = None
    if os.path.exists(final):
      old = tempfile.mkdtemp(prefix='.export-old-', dir=workdir)
      os.replace(final, os.path.join(old, EXPORT_DIR))
    os.replace(staging, final)
    if old:
      shutil.rmtree(old, ignore_errors=True)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
    if os.path.isdir(staging):
      shutil.rmtree(staging, ignore_errors=True)
  return report


def format_table(report: dict[str, Any]) -> str:
  """The report as a Markdown table: one row per artifact, JAX's in-process model first."""
  batches = sorted(report['jax']['latency_ms'], key=int)
  head = (
      '| artifact | size | max abs logit diff | test accuracy | parity | '
      + ' | '.join(f'latency ms @ {b}' for b in batches)
      + ' |'
  )
  rows = [head, '|' + '---|' * (5 + len(batches))]
  jax_row = report['jax']
  rows.append(
      f'| JAX (in process) | | 0 | {jax_row["test_accuracy"]:.4f} | reference | '
      + ' | '.join(f'{jax_row["latency_ms"][b]:.2f}' for b in batches)
      + ' |'
  )
  for e in report['formats'].values():
    if 'error' in e:
      rows.append(f'| {e["file"]} | | | | no: {e["error"]} |' + ' |' * len(batches))
      continue
    rows.append(
        f'| {e["file"]} | {e["bytes"] / 1e6:.2f} MB | {e["max_abs_logit_diff"]:.2e} | '
        f'{e["test_accuracy"]:.4f} | {"yes" if e["parity"] else "NO"} | '
        + ' | '.join(f'{e["latency_ms"][b]:.2f}' for b in batches)
        + ' |'
    )
  return '\n'.join(rows)
