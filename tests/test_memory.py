"""Peak memory from XLA's analysis: hand-counted argument and output bytes, the networks'
programs, and the analysis against a fresh process's measured peak."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import train_demo
from nas_jax import memory, netstats, train


def test_program_memory_counts_arguments_and_outputs_by_hand():
  a = jax.ShapeDtypeStruct((64, 32), jnp.float32)
  b = jax.ShapeDtypeStruct((32, 16), jnp.float32)
  compiled = jax.jit(lambda a, b: jnp.tanh(a @ b)).lower(a, b).compile()
  m = memory.program_memory(compiled)
  assert m['arguments'] == (64 * 32 + 32 * 16) * 4
  assert m['outputs'] == 64 * 16 * 4
  assert m['peak'] == m['arguments'] + m['outputs'] + m['temporaries'] - m['aliased']


@pytest.fixture(scope='module')
def nb201_demo(tmp_path_factory):
  config = train_demo.get_config('nb201')
  genotype = train.validate_config(config)
  model = train.build_model(config, genotype, 10)
  path = str(tmp_path_factory.mktemp('memory') / 'config.json')
  with open(path, 'w') as f:
    f.write(train.config_json(config))
  return config, model, path


def test_network_memory_of_the_inference_and_training_programs(nb201_demo):
  config, model, _ = nb201_demo
  recipe = train.Recipe.from_config(config)
  small = memory.network_memory(model, recipe, (16, 16, 1), 8)
  large = memory.network_memory(model, recipe, (16, 16, 1), 64)
  params = netstats.param_shapes(model, (16, 16, 1))
  variables_bytes = 4 * netstats.count_params(params, exclude=None)
  # Inference's arguments: the parameters, the BatchNorm statistics and the images, by hand.
  stats = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 1)), train=False)
  )['batch_stats']
  stats_bytes = 4 * sum(int(np.prod(x.shape)) for x in jax.tree.leaves(stats))
  assert large['inference']['arguments'] == variables_bytes + stats_bytes + 64 * 16 * 16 * 4
  assert large['inference']['outputs'] == 64 * 10 * 4
  for program in ('inference', 'training'):
    assert large[program]['temporaries'] > small[program]['temporaries']
    assert large[program]['peak'] > small[program]['peak']
  # Training keeps every activation for the backward pass, and the optimizer state.
  assert large['training']['peak'] > 2 * large['inference']['peak']


def test_the_analysis_is_close_to_a_fresh_process_measured_peak(nb201_demo):
  config, model, path = nb201_demo
  analysis = memory.network_memory(model, train.Recipe.from_config(config), (16, 16, 1), 256)
  a = analysis['training']
  run_part = a['outputs'] + a['temporaries'] - a['aliased']
  measured = memory.measured_peak(path, 'training', 256)
  # The process also touches allocator and thread memory; the analysis is the program's buffers.
  assert 0.5 * run_part < measured < 2.0 * run_part + 8 * 2**20, (measured, run_part)


def test_table_memory_columns_are_each_cells_analysis_and_resume(tmp_path):
  from nas_jax import data, tabular
  from nas_jax.tabular import costs
  from nas_jax.tabular.protocol import Protocol
  from nas_jax.tabular.table import Table

  full = tabular.load('shipped')
  rows = [0, len(full) // 2]
  table = Table(
      [full.hashes[i] for i in rows],
      full.archs[rows],
      full.seeds,
      {k: v[rows] for k, v in full.epoch.items()},
      {k: v[rows] for k, v in full.seed.items()},
      {k: v[rows] for k, v in full.arch.items() if k not in costs.MEMORY_METRICS},
      {k: v for k, v in full.metadata.items() if k not in ('memory', 'memory_backend')},
  )
  assert 'memory_training' not in table.arch  # the shipped table's own columns are dropped
  lines = []
  out = costs.with_memory_columns(table, str(tmp_path / 'cells'), lines.append)
  protocol = Protocol.from_dict(table.metadata['protocol'])
  shape = data.input_shape(protocol.dataset, protocol.image_size)
  net = table.space.evalnet(
      table.space.to_genotype(tuple(table.archs[1])),
      10,
      channels=protocol.channels,
      layers=protocol.cells_per_stage,
  )
  direct = memory.network_memory(net, costs.protocol_recipe(protocol), shape, protocol.batch_size)
  assert out.arch['memory_training'][1] == direct['training']['peak']
  assert out.arch['memory_inference'][1] == direct['inference']['peak']
  assert (out.arch['params'] == table.arch['params']).all()
  assert 'memory' in out.metadata
  assert (
      out.metadata['memory_backend'] == f'{jax.default_backend()}: {jax.devices()[0].device_kind}'
  )
  # The second pass reads every cell's kept result: nothing is compiled again.
  calls = []
  original = memory.network_memory
  try:
    memory.network_memory = lambda *a, **k: calls.append(a) or original(*a, **k)
    again = costs.with_memory_columns(table, str(tmp_path / 'cells'), lines.append)
  finally:
    memory.network_memory = original
  assert not calls
  np.testing.assert_array_equal(again.arch['memory_training'], out.arch['memory_training'])
