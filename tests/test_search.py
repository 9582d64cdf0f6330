"""End-to-end search under tfds.testing.mock_data, the launcher, and config errors."""

import dataclasses
import json
import os
import subprocess
import sys

from config_helpers import configure  # tests/ is on sys.path under pytest
import numpy as np
import pytest
import tensorflow_datasets as tfds

from experiments.configs import search_demo
from nas_jax import metrics as metrics_lib
from nas_jax import search, spaces
from nas_jax.spaces.darts.genotype import DARTS_PRIMITIVES, Genotype

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(**overrides):
  c = search_demo.get_config()
  c.dataset = 'cifar10'
  c.image_size = 8
  c.layers = 3
  c.init_channels = 4
  c.batch_size = 4
  c.epochs = 2
  c.max_steps_per_epoch = 2
  c.log_every = 0
  c.arch_learning_rate = 3e-4  # the paper's (the demo config raises it)
  return configure(c, **overrides)


# Order 2 runs in a smaller space (its exactness is tested in test_bilevel.py; here it
# is the loop end to end), which halves its compile time.
SMALL_SPACE = dict(
    layers=2,
    steps=2,
    multiplier=2,
    primitives=['none', 'max_pool_3x3', 'skip_connect', 'sep_conv_3x3'],
)


@pytest.mark.parametrize('order,space,edges', [(1, {}, 14), (2, SMALL_SPACE, 5)])
def test_tiny_search_writes_all_outputs(tmp_path, order, space, edges):
  lines = []
  config = tiny_config(order=order, **space)
  ops = len(config.space.primitives or DARTS_PRIMITIVES)
  with tfds.testing.mock_data(num_examples=16):
    result = search.run_search(config, str(tmp_path), log=lines.append)
  names = sorted(os.listdir(tmp_path))
  assert names == [
      'alphas.npz',
      'alphas.png',
      'cell_normal.png',
      'cell_reduce.png',
      'checkpoints',
      'genotype.json',
      'genotype.txt',
      'metrics.jsonl',
      'tensorboard',
  ]
  alphas = np.load(tmp_path / 'alphas.npz')
  assert alphas['normal'].shape == (edges, ops) and alphas['reduce'].shape == (edges, ops)
  # The genotype is the discretization of the final alpha.
  genotype = Genotype.from_json((tmp_path / 'genotype.json').read_text())
  assert genotype == result['genotype']
  assert Genotype.from_darts_text((tmp_path / 'genotype.txt').read_text()) == genotype
  from nas_jax.spaces.darts.discretize import derive_genotype

  assert (
      derive_genotype(
          alphas['normal'],
          alphas['reduce'],
          primitives=config.space.primitives,
          steps=config.space.steps,
          multiplier=config.space.multiplier,
      )
      == genotype
  )
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['epoch'] for r in records] == [1, 2]
  for r in records:
    for key in (
        'train_loss',
        'train_acc',
        'val_loss',
        'val_acc',
        'alpha_entropy_normal',
        'alpha_entropy_reduce',
        'seconds',
    ):
      assert np.isfinite(r[key]), key
    assert 0 < r['alpha_entropy_normal'] <= np.log(ops) + 1e-6
  assert records[-1]['step'] == 4
  # alpha moved between the epochs (softmax(alpha) is recorded to 6 decimals).
  assert records[0]['alpha_normal'] != records[1]['alpha_normal']
  # softmax(alpha) per edge is recorded each epoch (for alphas.png) and matches alphas.npz.
  p = np.exp(alphas['normal']) / np.exp(alphas['normal']).sum(-1, keepdims=True)
  np.testing.assert_allclose(records[-1]['alpha_normal'], p, atol=1e-6)
  assert len(lines) == 2 and all('ETA' in line for line in lines)


@pytest.mark.parametrize(
    'overrides,message',
    [
        ({'primitives': ['none', 'conv_9x9']}, "unknown op 'conv_9x9'"),
        ({'order': 3}, 'config.order must be 1 or 2, got 3'),
        ({'batch_size': 100}, 'config.batch_size (100) is larger than the train split'),
        ({'dataset': 'imagenet_nope'}, 'config.dataset'),
        ({'init_channels': 5}, 'config.init_channels must be even'),
    ],
)
def test_bad_config_values_give_one_line_errors(tmp_path, overrides, message):
  with tfds.testing.mock_data(num_examples=16):
    with pytest.raises(search.ConfigError) as e:
      search.run_search(tiny_config(**overrides), str(tmp_path))
  assert message in str(e.value)
  assert '\n' not in str(e.value)
  assert not os.listdir(tmp_path)  # nothing half-written


def _launch(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run(
      [sys.executable, '-m', 'experiments.search', *args],
      cwd=REPO,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )


def test_launcher_reports_bad_input_in_one_line(tmp_path):
  cfg = 'experiments/configs/search_demo.py'
  proc = _launch(f'--config={cfg}', f'--workdir={tmp_path}/a', '--config.order=3')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == 'error: config.order must be 1 or 2, got 3'
  assert 'Traceback' not in proc.stderr
  proc = _launch(
      f'--config={cfg}',
      f'--workdir={tmp_path}/b',
      '--config.dataset=cifar10',
      f'--config.data_dir={tmp_path}/empty',
      '--config.download=False',
  )
  assert proc.returncode == 2
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('error: ') and 'cifar10' in last and 'mnist5k' in last
  assert 'Traceback' not in proc.stderr
  assert not os.path.exists(f'{tmp_path}/b/genotype.json')


def test_nan_loss_stops_the_search_with_one_line_and_keeps_checkpoint(tmp_path, monkeypatch):
  from nas_jax import checkpoint, data

  original = data.BatchStream.batch

  def poisoned(self, epoch, index):  # the second epoch's last batch (step 4) turns to NaN
    images, labels = original(self, epoch, index)
    return (np.full_like(images, np.nan) if (epoch, index) == (1, 1) else images), labels

  monkeypatch.setattr(data.BatchStream, 'batch', poisoned)
  with tfds.testing.mock_data(num_examples=16):
    with pytest.raises(metrics_lib.NonFiniteLossError) as e:
      search.run_search(tiny_config(**SMALL_SPACE), str(tmp_path), log=lambda line: None)
  message = str(e.value)
  assert '\n' not in message
  assert 'at step 4 (epoch 2, batch 2, weight step)' in message
  assert 'last good checkpoint (step 2) is kept' in message
  ckpt = checkpoint.Checkpoints(str(tmp_path / 'checkpoints'))
  assert ckpt.latest_step() == 2
  ckpt.close()
  assert not (tmp_path / 'genotype.json').exists()
  assert [r['epoch'] for r in metrics_lib.read_metrics(str(tmp_path / 'metrics.jsonl'))] == [1]


def test_launcher_names_only_the_outputs_that_exist(tmp_path):
  from experiments import search as launcher

  (tmp_path / 'checkpoints').mkdir()
  for name in ('genotype.txt', 'cell.png', 'alphas.png'):
    (tmp_path / name).write_text('x')
  assert launcher.output_names(str(tmp_path)) == [
      'alphas.png',
      'cell.png',
      'checkpoints/',
      'genotype.txt',
  ]


def test_bilevel_defaults_are_darts_and_a_config_sets_every_field():
  # quark0/darts train_search.py: 50 epochs, batch 64, SGD 0.025 cosine to 0.001, momentum 0.9,
  # wd 3e-4, clip 5; alpha's Adam 3e-4, betas (0.5, 0.999), wd 1e-3; first order.
  b = search.Bilevel()
  assert (b.epochs, b.batch_size, b.learning_rate, b.learning_rate_min) == (50, 64, 0.025, 0.001)
  assert (b.momentum, b.weight_decay, b.grad_clip, b.order) == (0.9, 3e-4, 5.0, 1)
  assert (b.arch_learning_rate, b.arch_beta1, b.arch_beta2) == (3e-4, 0.5, 0.999)
  assert b.arch_weight_decay == 1e-3
  config = tiny_config(order=2, arch_warmup_epochs=1, batch_size=6)
  recipe = search.Bilevel.from_config(config)
  for field in dataclasses.fields(search.Bilevel):  # every field is a key of the config
    assert getattr(recipe, field.name) == config[field.name], field.name
  # 'auto' unrolls the phases where the space asks for it (NB201's convolutions), not in DARTS'
  assert recipe.unroll(spaces.get('nb201')) and not recipe.unroll(spaces.get('darts'))
  assert search.Bilevel(phase_loop='unroll').unroll(spaces.get('darts'))
