"""Reports a genotype's evaluation network: parameters, multiply-adds, cell drawings.

  python -m experiments.inspect --genotype=DARTS_V2 --out=runs/inspect \
      [--config=experiments/configs/train_darts_cifar10.py]

  python -m experiments.inspect --config=experiments/configs/train_nb201_cifar10.py \
      --genotype='|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|' \
      --out=runs/inspect_nb201

Prints one JSON line with ``params_m`` (the auxiliary head excluded, as the
papers count) and ``flops_m`` (multiply-adds of one image) and writes
``cell_normal.png`` and ``cell_reduce.png`` into ``--out`` (``cell.png`` for
an NB201 cell). The network is the config's (default: the DARTS CIFAR-10
retraining network, 20 cells, C=36; with ``config.space_name='nb201'`` the
genotype is an NB201 string or file); nothing is compiled or run, unless
``--memory``: then the inference and training programs are compiled at the config's
``batch_size`` and the report adds XLA's peak memory of each (``nas_jax.memory``:
``inference_memory_mib``, ``training_memory_mib``).
"""

import json

from absl import flags

from experiments import cli

_GENOTYPE = flags.DEFINE_string(
    'genotype',
    None,
    'A published genotype name (e.g. DARTS_V2) or a genotype file path; for '
    "a config with space_name='nb201', an NB201 genotype string or file.",
    required=True,
)
_OUT = flags.DEFINE_string('out', None, 'Directory for the cell drawings.', required=True)
_MEMORY = flags.DEFINE_bool(
    'memory',
    False,
    "Also compile the inference and training programs at the config's batch_size and report "
    "XLA's peak memory of each (seconds to minutes).",
)
_CONFIG = cli.define_config_file(
    'config',
    'experiments/configs/train_darts_cifar10.py',
    'Training config (the space and network).',
    switches={'space_name': ('space', 'space')},
)


def inspect(genotype_ref: str, config, out_dir: str, memory: bool = False) -> dict:
  """The one-line report as a dict; writes the cell drawings (two, or one for NB201). With
  ``memory``, XLA's peak bytes of the inference and training programs at the config's batch."""
  import os

  from nas_jax import data, netstats, train

  config = config.copy_and_resolve_references()
  config.genotype = genotype_ref
  genotype = train.validate_config(config)  # the config's values, and the genotype for it
  space, kind = train.network(config)
  meta = data.dataset_meta(config.dataset)
  shape = data.input_shape(config.dataset, config.image_size)
  model = train.build_model(config, genotype, meta.num_classes)
  params = netstats.param_shapes(model, shape)
  report = {
      'genotype': genotype_ref,
      'space': space.name,
      'network': kind,
      'layers': config.layers,
      'init_channels': config.init_channels,
      'input_shape': list(shape),
      'params_m': round(netstats.count_params(params) / 1e6, 6),
      'params_with_aux_m': round(netstats.count_params(params, exclude=None) / 1e6, 6),
      'flops_m': round(netstats.count_macs(model, shape) / 1e6, 3),
  }
  if memory:
    from nas_jax import memory as memory_lib

    peaks = memory_lib.network_memory(
        model, train.Recipe.from_config(config), shape, config.batch_size
    )
    report['memory_batch'] = config.batch_size
    report['inference_memory_mib'] = round(memory_lib.mebibytes(peaks['inference']['peak']), 3)
    report['training_memory_mib'] = round(memory_lib.mebibytes(peaks['training']['peak']), 3)
  paths = space.plot(genotype, out_dir)
  report['arch'] = space.to_text(genotype)
  return dict(report, **{os.path.splitext(os.path.basename(p))[0]: p for p in paths})


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  report = cli.run_or_exit(
      lambda: inspect(_GENOTYPE.value, _CONFIG.value, _OUT.value, _MEMORY.value)
  )
  print(json.dumps(report))


if __name__ == '__main__':
  cli.run(main)
