"""The table pilot's statistics against scipy and by hand, on small synthetic tables."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats

from nas_jax.tabular import noise


def _table(cells=60, noise_std=0.01, seed=0):
  rng = np.random.default_rng(seed)
  truth = rng.uniform(0.5, 0.9, cells)
  return np.stack([truth + rng.normal(0, noise_std, cells) for _ in range(2)], axis=1)


def test_ceiling_is_scipy_on_the_two_seeds_and_drops_unmeasured_cells():
  per_seed = _table()
  per_seed[3, 1] = np.nan  # measured at one seed only: left out
  out = noise.seed_agreement(per_seed, boot=50)
  a, b = np.delete(per_seed[:, 0], 3), np.delete(per_seed[:, 1], 3)
  assert out['cells'] == 59
  assert out['tau'] == pytest.approx(scipy.stats.kendalltau(a, b).statistic, abs=1e-12)
  assert out['rho'] == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)
  assert out['pearson'] == pytest.approx(scipy.stats.pearsonr(a, b).statistic, abs=1e-12)
  assert 0 < out['tau_se'] < 0.2 and 0 < out['rho_se'] < 0.2


def test_separation_by_hand():
  # Four cells, seed values chosen so every quantity is a round number.
  per_seed = np.array([[0.50, 0.52], [0.60, 0.58], [0.70, 0.72], [0.80, 0.78]])
  out = noise.seed_agreement(per_seed, boot=0)
  means = np.array([0.51, 0.59, 0.71, 0.79])
  # numpy's default quantile interpolates linearly between order statistics.
  p10 = 0.51 + 0.3 * (0.59 - 0.51)
  p90 = 0.71 + 0.7 * (0.79 - 0.71)
  assert out['p10'] == pytest.approx(p10) and out['p90'] == pytest.approx(p90)
  assert out['mean_abs_diff'] == pytest.approx(0.02)
  assert out['separation'] == pytest.approx((p90 - p10) / 0.02)
  assert np.allclose(np.sort(means), means)
  assert out['tau'] == pytest.approx(1.0)


def test_more_noise_lowers_the_ceiling_and_the_separation():
  clean = noise.seed_agreement(_table(noise_std=0.005), boot=0)
  noisy = noise.seed_agreement(_table(noise_std=0.2), boot=0)
  assert clean['tau'] > 0.9 > 0.5 > noisy['tau']
  assert clean['separation'] > 5 * noisy['separation']


def test_spearman_brown_matches_simulated_seed_means():
  # Cells with true values of variance 1 and seed noise of variance 1: one seed r = 0.5;
  # two independent 2-seed means correlate at 2 * 0.5 / 1.5 = 2/3.
  assert noise.spearman_brown(0.5, 2) == pytest.approx(2 / 3)
  rng = np.random.default_rng(1)
  truth = rng.normal(size=200_000)
  mean_a = truth + rng.normal(size=(2, truth.size)).mean(0)
  mean_b = truth + rng.normal(size=(2, truth.size)).mean(0)
  assert np.corrcoef(mean_a, mean_b)[0, 1] == pytest.approx(2 / 3, abs=0.01)


def test_dead_cells_are_reported_apart_and_bad_input_is_one_line():
  per_seed = _table(cells=30)
  per_seed[:5] = 0.1  # five dead cells, tied at chance at both seeds
  out = noise.seed_agreement(per_seed, alive_above=0.15, boot=0)
  assert out['cells'] == 30 and out['alive']['cells'] == 25
  with pytest.raises(ValueError, match='cells, seeds >= 2'):
    noise.seed_agreement(np.zeros(5))
  with pytest.raises(ValueError, match='only 1 cells'):
    noise.seed_agreement(np.array([[0.5, np.nan], [0.6, 0.6]]))


def test_pilot_candidates_parse_and_a_bad_name_is_one_line():
  from experiments.configs import table_pilot

  c = table_pilot.get_config('animal_e6_s16_5op')
  assert c.protocol.dataset == 'animal_mnist' and c.protocol.epochs == 6
  assert c.protocol.image_size == 16 and len(c.space.primitives) == 5 and c.max_cells == 150
  pool = table_pilot.get_config('mnist_e3_s12_pool')
  assert pool.space.primitives == ('none', 'skip_connect', 'nor_conv_3x3', 'avg_pool_3x3')
  assert pool.protocol.dataset == 'mnist5k' and not pool.protocol.flip
  run = subprocess.run(
      [sys.executable, '-m', 'experiments.reports.table_pilot', '--candidates=cifar_e3', '--out='],
      capture_output=True,
      text=True,
      check=False,
  )
  assert run.returncode == 2
  assert run.stderr.strip().splitlines()[-1].startswith('error: pilot candidate')


def test_a_pilot_is_the_first_cells_of_the_full_build_at_every_seed():
  from experiments.configs import table_pilot
  from nas_jax import components, spaces
  from nas_jax.config_checks import ConfigError
  from nas_jax.tabular import builder

  space = spaces.get('nb201', ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3'))
  unique, full = builder.work_list(space, (0, 1))
  _, pilot = builder.work_list(space, (0, 1), 150)
  assert len(unique) == 1236 and len(pilot) == 300
  per_seed = len(full) // 2
  assert pilot == full[:150] + full[per_seed : per_seed + 150]
  assert {h for h, s in pilot if s == 0} == {h for h, s in pilot if s == 1}
  config = table_pilot.get_config('mnist_e3_s12')
  config.max_cells = 0
  with pytest.raises(ConfigError, match='config.max_cells must be a positive integer'):
    components.table_plan(config)


def test_shipped_tables_load_by_name():
  from nas_jax import tabular

  mnist = tabular.load('mnist')
  assert mnist.metadata['dataset'] == 'mnist5k' and len(mnist) == 1236
  animal = tabular.load('animal')
  assert animal.metadata['dataset'] == 'animal_mnist' and len(animal) == 1236
  assert tabular.SHIPPED == tabular.SHIPPED_TABLES['animal']  # the default
  assert tabular.load('shipped').hashes == tabular.load_shipped().hashes == animal.hashes


def test_the_default_table_meets_its_targets():
  # The shipped default must rank cells: every unique cell at 2 seeds, a file under 5 MiB,
  # its seeds agreeing at Kendall tau >= 0.6 (scipy on the raw columns) and a separation
  # (p90 - p10 of the seed means over the mean |seed 0 - seed 1|) >= 5, counted here.
  from nas_jax import tabular

  table = tabular.load_shipped()
  assert os.path.getsize(tabular.SHIPPED) < 5 * 2**20
  assert table.complete() and len(table.seeds) >= 2 and len(table) == len(table.space.unique())
  a, b = table.epoch['test_acc'][:, 0, -1], table.epoch['test_acc'][:, 1, -1]
  assert scipy.stats.kendalltau(a, b)[0] >= 0.6
  mean = (a.astype(np.float64) + b) / 2
  separation = (np.quantile(mean, 0.9) - np.quantile(mean, 0.1)) / np.mean(np.abs(a - b))
  assert separation >= 5


def test_the_default_tables_memory_columns_are_xla_analysis_of_its_cells():
  # The shipped memory columns are what nas_jax.memory reads off a compiled program of the
  # cell's evaluation network at the protocol's batch: recomputed here for the cell with the
  # most convolutions (the largest peaks), on a CPU as the table was.
  import jax

  from nas_jax import data, memory, tabular
  from nas_jax.tabular import costs
  from nas_jax.tabular.protocol import Protocol

  table = tabular.load_shipped()
  assert table.metadata['memory_backend'] == 'cpu: cpu'
  for name in costs.MEMORY_METRICS:
    assert np.all(table.arch[name] > 0), name
  assert np.all(table.arch['memory_training'] > table.arch['memory_inference'])
  if jax.default_backend() != 'cpu':
    pytest.skip('the columns were measured on a CPU')
  protocol = Protocol.from_dict(table.metadata['protocol'])
  i = int(np.argmax(table.arch['memory_training']))
  net = table.space.evalnet(
      table.space.to_genotype(tuple(int(a) for a in table.archs[i])),
      data.dataset_meta(protocol.dataset).num_classes,
      channels=protocol.channels,
      layers=protocol.cells_per_stage,
  )
  shape = data.input_shape(protocol.dataset, protocol.image_size)
  peaks = memory.network_memory(net, costs.protocol_recipe(protocol), shape, protocol.batch_size)
  assert table.arch['memory_training'][i] == peaks['training']['peak']
  assert table.arch['memory_inference'][i] == peaks['inference']['peak']
