"""XLA's peak memory of evaluation networks against the peak a fresh process measures.

  python -m benchmarks.memory [--batches=64,256]

For each network (the demo's DARTS retraining at 16x16, 6 cells, C=16, DARTS_V2; the NB201
demo retraining, N=1, C=8; both on MNIST-5k's shapes) and batch, compiles the inference and the
training program and prints ``nas_jax.memory.network_memory``'s figures (what
``experiments.inspect --memory`` and the cost columns report) beside
``nas_jax.memory.measured_peak``: the growth of a fresh process's peak resident size while the
program runs once, its arguments and code already in place. The measured side is compared with
the analysis' ``outputs + temporaries - aliased`` (the arguments exist before the reset).
Linux only (it reads /proc/self/status). About 4 minutes on the 2-core CPU.
"""

import argparse
import json
import os
import tempfile


def networks():
  from experiments.configs import train_demo

  darts = train_demo.get_config()
  darts.genotype = 'DARTS_V2'
  return {'darts_demo': darts, 'nb201_demo': train_demo.get_config('nb201')}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batches', default='64,256')
  args = parser.parse_args()
  from benchmarks.common import device_info
  from nas_jax import data, memory, train

  print(device_info())
  print(
      '| network | batch | program | arguments MiB | temporaries MiB | XLA peak MiB | '
      'XLA out+temp-alias MiB | measured growth MiB | measured / XLA |'
  )
  print('|---|---|---|---|---|---|---|---|---|')
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for name, config in networks().items():
      path = os.path.join(tmp, f'{name}.json')
      with open(path, 'w') as f:
        f.write(train.config_json(config))
      genotype = train.validate_config(config)
      model = train.build_model(config, genotype, data.dataset_meta(config.dataset).num_classes)
      shape = data.input_shape(config.dataset, config.image_size)
      for batch in (int(b) for b in args.batches.split(',')):
        analysis = memory.network_memory(model, train.Recipe.from_config(config), shape, batch)
        for program in ('inference', 'training'):
          a = analysis[program]
          run_part = a['outputs'] + a['temporaries'] - a['aliased']
          measured = memory.measured_peak(path, program, batch)
          mib = memory.mebibytes
          print(
              f'| {name} | {batch} | {program} | {mib(a["arguments"]):.2f} | '
              f'{mib(a["temporaries"]):.2f} | {mib(a["peak"]):.2f} | {mib(run_part):.2f} | '
              f'{mib(measured):.2f} | {measured / run_part:.2f} |',
              flush=True,
          )
          rows.append(dict(network=name, batch=batch, program=program, xla=a, measured=measured))
  print(json.dumps({'rows': len(rows)}))


if __name__ == '__main__':
  main()
