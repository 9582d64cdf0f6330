"""The per-op latency lookup table, measured here, validated against measured networks.

  python -m benchmarks.latency [--table_config=tabulate_nb201_mnist] [--networks=24]
      [--out=nas_jax/tabular/data/latency_nb201_4ops.json]
  python -m benchmarks.latency --table_config=tabulate_nb201_animal \
      --out=nas_jax/tabular/data/latency_nb201_animal.json

Measures the lookup table (``nas_jax.tabular.latency.measure``) of a table's space and
protocol (``--table_config`` names a config in ``experiments/configs``: the MNIST table's by
default, NB201 cell, 4 ops, C=8, N=1, 12x12) at batch 1 and at the protocol's batch, writes
it to ``--out`` (the builder adds predicted latencies to a table from it:
``--config.latency_lut=...``), then compiles ``--networks`` evaluation networks of distinct
unique cells (drawn with a fixed seed), measures each one's inference, and prints the rank
correlation and the error of the prediction per batch. Never run it beside a build: the
machine has 2 cores.
"""

import argparse
import importlib
import time

import numpy as np


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
      '--table_config', default='tabulate_nb201_mnist', help='a table config of experiments/configs'
  )
  parser.add_argument('--networks', type=int, default=24)
  parser.add_argument('--out', default='nas_jax/tabular/data/latency_nb201_4ops.json')
  parser.add_argument('--runs', type=int, default=30)
  args = parser.parse_args()
  from scipy import stats

  from benchmarks.common import device_info
  from nas_jax import components
  from nas_jax import data as data_lib
  from nas_jax.tabular import latency

  config = importlib.import_module(f'experiments.configs.{args.table_config}').get_config()
  plan = components.table_plan(config)
  space, protocol = plan.space, plan.protocol
  ops = space.primitives
  print(
      f'{args.table_config}: {space.name} over {", ".join(ops)}; {protocol.dataset} at '
      f'{protocol.image_size}x{protocol.image_size}, C={protocol.channels}, '
      f'N={protocol.cells_per_stage}, batch {protocol.batch_size}'
  )
  shape = data_lib.input_shape(protocol.dataset, protocol.image_size)
  batches = (1, protocol.batch_size)
  t = time.perf_counter()
  lut = latency.measure(space, protocol, 10, shape, batches=batches, runs=args.runs)
  lut_s = time.perf_counter() - t
  lut.save(args.out)
  print(f'lookup table measured in {lut_s:.0f} s, written to {args.out}')
  print('| batch | base ms | ' + ' | '.join(f'{op} ms (stage 1/2/3)' for op in ops) + ' |')
  print('|' + '---|' * (2 + len(ops)))
  for b in batches:
    cells = ' | '.join(
        '/'.join(f'{lut.ops[b][s, j] * 1e3:.3f}' for s in range(3)) for j in range(len(ops))
    )
    print(f'| {b} | {lut.base[b] * 1e3:.3f} | {cells} |')
  unique = space.unique()
  hashes = sorted(unique)
  pick = np.random.default_rng(2).choice(len(hashes), args.networks, replace=False)
  archs = np.asarray([unique[hashes[i]] for i in pick])
  print()
  print(
      '| batch | networks | Spearman rho | Kendall tau | mean abs error % | measured ms (min-max) |'
  )
  print('|---|---|---|---|---|---|')
  for b in batches:
    measured = np.asarray(
        [latency.measure_network(space, protocol, 10, shape, a, b, args.runs) for a in archs]
    )
    predicted = lut.predict(archs, b)
    rho = stats.spearmanr(measured, predicted).statistic
    tau = stats.kendalltau(measured, predicted).statistic
    err = np.mean(np.abs(predicted - measured) / measured) * 100
    print(
        f'| {b} | {len(archs)} | {rho:.3f} | {tau:.3f} | {err:.1f} | '
        f'{measured.min() * 1e3:.3f}-{measured.max() * 1e3:.3f} |',
        flush=True,
    )
  info = device_info()
  print(
      f'run: {time.strftime("%Y-%m-%d")}, backend {info["backend"]} ({info["device_kind"]}), '
      f'JAX {info["jax"]}, one process; every network compiled, then timed over {args.runs} '
      'calls (median)'
  )


if __name__ == '__main__':
  main()
