"""Reports a genotype's evaluation network: parameters, multiply-adds, cell drawings.

  python -m experiments.inspect --genotype=DARTS_V2 --out=runs/inspect \
      [--config=experiments/configs/train_darts_cifar10.py]

Prints one JSON line with ``params_m`` (the auxiliary head excluded, as the
papers count) and ``flops_m`` (multiply-adds of one image) and writes
``cell_normal.png`` and ``cell_reduce.png`` into ``--out``. The network is the
config's (default: the DARTS CIFAR-10 retraining network, 20 cells, C=36);
nothing is compiled or run.
"""

import json

from absl import app
from absl import flags
from ml_collections import config_flags

from experiments import cli

_GENOTYPE = flags.DEFINE_string(
    'genotype', None, 'A published genotype name (e.g. DARTS_V2) or a genotype file path.',
    required=True)
_OUT = flags.DEFINE_string('out', None, 'Directory for the cell drawings.', required=True)
_CONFIG = config_flags.DEFINE_config_file(
    'config', 'experiments/configs/train_darts_cifar10.py', 'Training config (the network).',
    lock_config=True)


def inspect(genotype_ref: str, config, out_dir: str) -> dict:
  """The one-line report as a dict; writes the two cell drawings."""
  from nas_jax import data, evalnet, plot, train
  from nas_jax.genotype import load_genotype
  genotype = load_genotype(genotype_ref)
  evalnet.check_genotype(genotype)
  meta = data.dataset_meta(config.dataset)
  shape = data.input_shape(config.dataset, config.image_size)
  model = train.build_model(config, genotype, meta.num_classes)
  params = evalnet.param_shapes(model, shape)
  normal, reduce = plot.plot_genotype(genotype, out_dir)
  return {'genotype': genotype_ref, 'network': config.network, 'layers': config.layers,
          'init_channels': config.init_channels, 'input_shape': list(shape),
          'params_m': round(evalnet.count_params(params) / 1e6, 6),
          'params_with_aux_m': round(evalnet.count_params(params, exclude=None) / 1e6, 6),
          'flops_m': round(evalnet.count_macs(model, shape) / 1e6, 3),
          'cell_normal': normal, 'cell_reduce': reduce}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  report = cli.run_or_exit(lambda: inspect(_GENOTYPE.value, _CONFIG.value, _OUT.value))
  print(json.dumps(report))


if __name__ == '__main__':
  app.run(main)
