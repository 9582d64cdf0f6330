"""Exports a finished retraining run for deployment, and checks every artifact.

  python -m experiments.export --workdir=runs/demo/train
  python -m experiments.export --workdir=RUN --formats=jax_export,onnx [--repeats=20]
  python -m experiments.export --workdir=OLD_RUN --config=experiments/configs/train_demo.py \\
      --config.genotype=...      # a run retrained before runs kept their config.json

Writes ``RUN/export/``: ``model.jax_export`` (jax.export StableHLO, symbolic batch),
``saved_model/`` (jax2tf), ``model.tflite`` (TensorFlow's converter) and ``model.onnx``
(jax2onnx), each reloaded in a fresh process, run on the test set and timed, and
``export.json`` with the results, printed as a table (``nas_jax.export``). A format that
cannot be produced is reported in one line with its reason; the others still come out. A run
that has not finished, an unknown format or a bad config is one ``error:`` line and exit
status 2, with nothing written.
"""

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'A finished retraining run (python -m experiments.train).', required=True
)
_FORMATS = flags.DEFINE_list(
    'formats',
    'jax_export,saved_model,tflite,onnx',
    'Formats to write: jax_export, saved_model, tflite, onnx.',
)
_REPEATS = flags.DEFINE_integer(
    'repeats', 20, 'Timed calls per latency (the median is reported).', lower_bound=1
)
_CONFIG = cli.define_config_file(
    'config',
    None,
    "The run's training config (default: the run's config.json).",
    switches={'space_name': ('space', 'space')},
    optional=True,
)


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments
  from nas_jax import export

  report = cli.run_or_exit(
      lambda: export.export_run(
          _WORKDIR.value, _FORMATS.value, config=_CONFIG.value, repeats=_REPEATS.value
      )
  )
  print(f'exported {report["genotype"]} ({report["space"]}) from step {report["checkpoint_step"]}')
  print(export.format_table(report))
  print(f'outputs in {_WORKDIR.value}/export: export.json and the artifacts')


if __name__ == '__main__':
  cli.run(main)
