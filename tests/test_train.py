"""Retraining: end to end, resume equivalence, the loss, NaN stop, bad input, the inspect tool."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from test_evalnet import hand_count  # parameters and multiply-adds counted by hand

from experiments.configs import common, train_demo
from nas_jax import checkpoint, data, runner, train
from nas_jax import metrics as metrics_lib
from nas_jax.spaces.darts.genotype import DARTS_V2, GenotypeError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(**overrides):
  c = train_demo.get_config()
  c.dataset = 'cifar10'
  c.image_size = 8
  c.layers = 3
  c.init_channels = 4
  c.batch_size = 4
  c.eval_batch_size = 6  # 16 test images: the last batch is padded and masked
  c.epochs = 2
  c.max_steps_per_epoch = 3
  c.checkpoint_every = 2
  c.cutout_length = 2
  c.log_every = 0
  c.genotype = 'DARTS_V2'
  if 'space' in overrides:  # another space, its section at that space's defaults
    common.set_component(c, 'space', overrides.pop('space'))
  for k, v in overrides.items():
    c[k] = v
  return c


def run(config, workdir, **kw):
  with tfds.testing.mock_data(num_examples=16):
    return train.run_train(config, str(workdir), log=lambda line: None, **kw)


def test_tiny_retrain_writes_results(tmp_path, monkeypatch):
  config = tiny_config()
  result = run(config, tmp_path)
  names = set(os.listdir(tmp_path))
  assert {
      'results.json',
      'metrics.jsonl',
      'cell_normal.png',
      'cell_reduce.png',
      'checkpoints',
      'tensorboard',
  } <= names
  results = json.loads((tmp_path / 'results.json').read_text())
  for key in ('test_accuracy', 'params_m', 'flops_m', 'epochs', 'seconds'):
    assert key in results
  assert 0.0 <= results['test_accuracy'] <= 1.0 and results['epochs'] == 2
  params, macs = hand_count(DARTS_V2, channels=4, layers=3, size=8)
  assert results['params_m'] == pytest.approx(params / 1e6, rel=1e-12)
  assert results['flops_m'] == pytest.approx(macs / 1e6, rel=1e-12)
  records = metrics_lib.read_metrics(str(tmp_path / 'metrics.jsonl'))
  assert [r['epoch'] for r in records] == [1, 2] and [r['step'] for r in records] == [3, 6]
  # Drop path rises linearly from 0: epoch e (from 0) uses drop_path_prob * e / epochs.
  assert [r['drop_prob'] for r in records] == [0.0, 0.1]
  assert 'test_acc' in records[-1] and 'test_acc' not in records[0]
  assert os.listdir(tmp_path / 'tensorboard')
  assert result['resumed_from'] is None

  # The test accuracy is over exactly the 16 test images, although batches of 6 pad the
  # last one with 2 images: one forward pass over all 16, counted here.
  state = result['state']
  with tfds.testing.mock_data(num_examples=16):
    test = data.test_split(config)
  assert test.num_examples == 16 and 16 % config.eval_batch_size
  meta = data.dataset_meta(config.dataset)
  model = train.build_model(config, DARTS_V2, meta.num_classes)
  logits, _ = jax.jit(lambda v, x: model.apply(v, x, train=False))(
      {'params': state.params, 'batch_stats': state.batch_stats},
      data.normalize(test.images, meta.mean, meta.std),
  )
  correct = int(np.sum(np.argmax(np.asarray(logits), -1) == test.labels))
  assert 0 < correct < 16  # neither all nor none right: a miscount would show
  assert result['test_accuracy'] == results['test_accuracy'] == records[-1]['test_acc']
  assert results['test_accuracy'] == pytest.approx(correct / 16, abs=1e-12)

  # Rerunning the finished run resumes after the last epoch: no batch is drawn (no
  # training), and the state, the metrics and the results are those of the first run.
  metrics_text = (tmp_path / 'metrics.jsonl').read_text()

  def no_training(self, epoch, index):
    raise AssertionError(f'trained again: batch ({epoch}, {index}) drawn')

  monkeypatch.setattr(data.BatchStream, 'batch', no_training)
  again = run(config, tmp_path)
  assert again['resumed_from'] == 6 and int(again['state'].step) == 6
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state), jax.device_get(again['state']))
  assert (tmp_path / 'metrics.jsonl').read_text() == metrics_text
  rerun = json.loads((tmp_path / 'results.json').read_text())
  # (compile_seconds is None: nothing was compiled for training in the rerun)
  strip = lambda r: {k: v for k, v in r.items() if k != 'compile_seconds'}
  assert strip(rerun) == strip(results)


def _log_softmax(z):
  z = np.asarray(z, np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_train_loss_is_main_plus_weighted_auxiliary_cross_entropy():
  # One step with a weight that is not the default; no drop path, so the forward pass is
  # deterministic and can be repeated here.
  config = tiny_config(auxiliary_weight=0.7, drop_path_prob=0.0)
  model = train.build_model(config, DARTS_V2, 10)
  recipe = train.Recipe.from_config(config)
  tx, schedule = train.make_optimizer(recipe, steps_per_epoch=3)
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(4, 8, 8, 3)), jnp.float32)
  labels = jnp.asarray([1, 3, 3, 7], jnp.int32)
  variables = jax.jit(
      lambda x: model.init({'params': jax.random.key(0, impl='rbg')}, x, train=True)
  )(images)
  state = train.TrainState(
      step=jnp.zeros((), jnp.int32),
      params=variables['params'],
      batch_stats=variables['batch_stats'],
      opt_state=tx.init(variables['params']),
  )
  (logits, aux), _ = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats']))(
      variables, images
  )
  assert aux is not None
  step = jax.jit(train.make_train_step(model, tx, schedule, recipe, steps_per_epoch=3))
  _, out = step(state, images, labels)
  ce = lambda z: -np.mean(_log_softmax(z)[np.arange(4), np.asarray(labels)])
  main, auxiliary = ce(logits), ce(aux)
  assert auxiliary > 0.1  # the aux term is large enough to tell the weights apart
  np.testing.assert_allclose(float(out['loss']), main + 0.7 * auxiliary, rtol=1e-5)
  np.testing.assert_allclose(
      float(out['acc']), np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(labels))
  )


def test_interrupted_retrain_resumes_bit_identically(tmp_path, monkeypatch):
  reference = run(tiny_config(), tmp_path / 'ref')
  original = runner.check_finite

  def crash_at_step_5(loss, step, where, saved):
    if step == 5:
      raise KeyboardInterrupt('simulated kill')
    return original(loss, step, where, saved)

  monkeypatch.setattr(runner, 'check_finite', crash_at_step_5)
  with pytest.raises(KeyboardInterrupt):
    run(tiny_config(), tmp_path / 'cut')
  monkeypatch.setattr(runner, 'check_finite', original)
  assert not (tmp_path / 'cut' / 'results.json').exists()
  resumed = run(tiny_config(), tmp_path / 'cut')
  assert resumed['resumed_from'] == 4  # the step-4 checkpoint; step 5 was in flight
  jax.tree.map(
      np.testing.assert_array_equal,
      jax.device_get(reference['state']),
      jax.device_get(resumed['state']),
  )
  strip = lambda rs: [{k: v for k, v in r.items() if k != 'seconds'} for r in rs]
  assert strip(metrics_lib.read_metrics(str(tmp_path / 'ref' / 'metrics.jsonl'))) == strip(
      metrics_lib.read_metrics(str(tmp_path / 'cut' / 'metrics.jsonl'))
  )
  assert resumed['test_accuracy'] == reference['test_accuracy']


def test_nan_loss_stops_with_one_line_and_keeps_checkpoint(tmp_path, monkeypatch):
  from nas_jax import data

  original = data.BatchStream.batch

  def poisoned(self, epoch, index):
    images, labels = original(self, epoch, index)
    if (epoch, index) == (0, 2):
      images = np.full_like(images, np.nan)
    return images, labels

  monkeypatch.setattr(data.BatchStream, 'batch', poisoned)
  with pytest.raises(metrics_lib.NonFiniteLossError) as e:
    run(tiny_config(), tmp_path)
  message = str(e.value)
  assert '\n' not in message
  assert 'at step 3' in message and 'checkpoint (step 2) is kept' in message
  ckpt = checkpoint.Checkpoints(str(tmp_path / 'checkpoints'))
  assert ckpt.latest_step() == 2
  ckpt.close()
  assert not (tmp_path / 'results.json').exists()


@pytest.mark.parametrize(
    'genotype,message',
    [
        ('NOT_A_CELL', "'NOT_A_CELL' is neither a known genotype name"),
        ('{bad}', 'malformed JSON'),
        ('{unknown_op}', "unknown op 'conv_9x9'"),
    ],
)
def test_bad_genotype_is_a_one_line_error(tmp_path, genotype, message):
  bad = tmp_path / 'bad.json'
  bad.write_text('{"normal": [["sep_conv_3x3", 0]')
  unknown = tmp_path / 'unknown.json'
  text = DARTS_V2.to_json().replace('dil_conv_3x3', 'conv_9x9')
  unknown.write_text(text)
  ref = {'{bad}': str(bad), '{unknown_op}': str(unknown)}.get(genotype, genotype)
  with pytest.raises(GenotypeError) as e:
    run(tiny_config(genotype=ref), tmp_path / 'run')
  assert message in str(e.value) and '\n' not in str(e.value)
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize(
    'overrides,message',
    [
        ({'drop_path_prob': 1.0}, 'config.drop_path_prob must be in [0, 1)'),
        (
            {'network': 'mobile'},
            "config.network: the darts space has network kinds cifar, imagenet, got 'mobile'",
        ),
        (
            {'network': 'nb201'},
            "got 'nb201' ('nb201' is the nb201 space's: set config.space_name)",
        ),
        ({'space': 'nbgraph'}, 'config.space_name: the nbgraph space has no evaluation'),
        (
            {'space_name': 'nb_201'},
            "config.space_name: unknown search space 'nb_201'; did you mean 'nb201'?",
        ),
        ({'lr_schedule': 'step'}, "config.lr_schedule must be 'cosine' or 'exponential'"),
        ({'batch_size': 100}, 'config.batch_size (100) is larger than the train split'),
    ],
)
def test_bad_train_config_is_a_one_line_error(tmp_path, overrides, message):
  with pytest.raises(train.ConfigError) as e:
    run(tiny_config(**overrides), tmp_path / 'run')
  assert message in str(e.value) and '\n' not in str(e.value)


def test_schedules():
  c = train.Recipe(epochs=4, learning_rate=0.1, learning_rate_min=0.0)
  _, cosine = train.make_optimizer(c, steps_per_epoch=10)
  # Per-epoch cosine (torch CosineAnnealingLR stepped per epoch): epoch 2 of 4 is half.
  np.testing.assert_allclose(
      [cosine(0), cosine(9), cosine(20), cosine(39)],
      [0.1, 0.1, 0.05, 0.1 * (1 + np.cos(np.pi * 3 / 4)) / 2],
      rtol=1e-6,
  )
  c = train.Recipe(lr_schedule='exponential', learning_rate=0.1, lr_decay=0.97)
  _, exp = train.make_optimizer(c, steps_per_epoch=10)
  np.testing.assert_allclose([exp(0), exp(10), exp(35)], [0.1, 0.097, 0.1 * 0.97**3], rtol=1e-6)
  logits = np.array([[2.0, 0.0, -1.0]], np.float32)
  p = np.exp(logits) / np.exp(logits).sum()
  target = np.array([0.1 / 3, 0.1 / 3, 0.1 / 3]) + np.array([0.9, 0, 0])
  np.testing.assert_allclose(
      train.smoothed_cross_entropy(logits, np.array([0]), 0.1),
      -(target * np.log(p)).sum(),
      rtol=1e-6,
  )


def test_inspect_reports_darts_v2(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.inspect', '--genotype=DARTS_V2', f'--out={tmp_path}'],
      cwd=REPO,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  assert abs(report['params_m'] - 3.3) < 0.1 and report['params_m'] == 3.349342
  assert 500 < report['flops_m'] < 560
  assert sorted(os.listdir(tmp_path)) == ['cell_normal.png', 'cell_reduce.png']
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.inspect', '--genotype=NOPE', f'--out={tmp_path}/x'],
      cwd=REPO,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith("error: 'NOPE' is neither a known")


def test_recipe_defaults_are_darts_and_a_config_sets_every_field():
  # quark0/darts train.py: 600 epochs, batch 96, SGD 0.025 cosine to 0, momentum 0.9, wd 3e-4,
  # clip 5, auxiliary weight 0.4, drop path 0.2, cutout 16; evaluation batch our own.
  r = train.Recipe()
  assert (r.epochs, r.batch_size, r.learning_rate, r.learning_rate_min) == (600, 96, 0.025, 0.0)
  assert (r.momentum, r.weight_decay, r.grad_clip, r.nesterov) == (0.9, 3e-4, 5.0, False)
  assert (r.auxiliary_weight, r.drop_path_prob, r.cutout_length) == (0.4, 0.2, 16)
  config = tiny_config(epochs=7, learning_rate=0.3, cutout_length=0, nesterov=True)
  recipe = train.Recipe.from_config(config)
  for field in dataclasses.fields(train.Recipe):  # every field is a key of the config
    assert getattr(recipe, field.name) == config[field.name], field.name
  assert (recipe.epochs, recipe.learning_rate, recipe.nesterov) == (7, 0.3, True)
