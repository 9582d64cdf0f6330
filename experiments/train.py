"""Retrains a genotype from scratch (DARTS' evaluation protocol).

  python -m experiments.train --config=experiments/configs/train_demo.py --workdir=runs/x \
      --config.genotype=DARTS_V2            # or a genotype.json written by the search
  python -m experiments.train --config=experiments/configs/train_nb201_demo.py --workdir=runs/y \
      --config.genotype='|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'

The space is ``--config.space_name`` (its settings ``--config.space.KEY``), its evaluation
network ``--config.network`` (DARTS: cifar or imagenet). Rerunning the same command with
the same --workdir resumes from the newest checkpoint that restores. Bad input prints one line starting with ``error:`` and exits with status 2.
"""

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.', required=True)
_CONFIG = cli.define_config_file(
    'config', None, 'Training config file.', switches={'space_name': ('space', 'space')}
)


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  from nas_jax import train  # after flag parsing: keeps --help fast

  result = cli.run_or_exit(lambda: train.run_train(_CONFIG.value, _WORKDIR.value))
  print(
      f'test accuracy {result["test_accuracy"]:.4f} | {result["params_m"]:.3f} M params | '
      f'{result["flops_m"]:.1f} M multiply-adds | {result["epochs"]} epochs in '
      f'{result["seconds"]:.0f} s'
  )
  cells = ' '.join(train.network(_CONFIG.value)[0].plot_names())
  print(
      f'outputs in {_WORKDIR.value}: results.json metrics.jsonl {cells} tensorboard/ '
      'checkpoints/'
  )


if __name__ == '__main__':
  cli.run(main)
