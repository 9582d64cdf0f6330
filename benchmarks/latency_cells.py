"""A latency lookup table of a retraining config's evaluation network, validated on networks.

  python -m benchmarks.latency_cells [--config=train_demo] [--batches=1,64] [--networks=24]
      [--fit_networks=40] [--out=runs/latency/darts_demo]

Measures ``nas_jax.costs.measure_latency`` of the config's evaluation network (the DARTS
demo retraining by default: 6 cells, C=16, 16x16 MNIST-5k shapes; ``--config=train_demo:nb201``
for the NB201 one): every op at every distinct place (per cell type, stride, channel width and
size), at each batch, writes each table to ``--out`` + ``_b<batch>.json`` (what
``config.cost.latency_table`` reads), then compiles ``--networks`` evaluation networks of
random genotypes (fixed seed), measures each one's inference and prints, per batch, the rank
correlation of the lookup prediction with the measurement and its mean error.

Timing ops alone misses what they cost inside a network (fusion, dispatch), most of all for
cells of cheap ops, the cells a latency target pushes a search to. So it also measures
``--fit_networks`` other networks (their cells' ops drawn from skewed op mixes, so that cheap
and costly cells are both present), fits the additive table that explains them best
(``nas_jax.costs.fit_table``, edges that are the same place sharing each op's entry), writes it
to ``--out`` + ``_b<batch>_fit.json`` and prints its row on the same validation networks, and
both tables' prediction for the cheapest cell the lookup table derives. Run it on a quiet
machine: every number is a timing.
"""

import argparse
import importlib
import os

import numpy as np


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='train_demo', help='a retraining config[:arg]')
  parser.add_argument('--genotype', default=None, help="the base genotype (default: the config's)")
  parser.add_argument('--batches', default='1,64')
  parser.add_argument('--networks', type=int, default=24)
  parser.add_argument('--fit_networks', type=int, default=40)
  parser.add_argument('--runs', type=int, default=30)
  parser.add_argument('--out', default='runs/latency/darts_demo')
  args = parser.parse_args()
  import jax
  from scipy import stats

  from benchmarks.common import device_info
  from nas_jax import costs, data, train

  name, _, arg = args.config.partition(':')
  config = importlib.import_module(f'experiments.configs.{name}').get_config(arg or None)
  space, _ = train.network(config)
  if args.genotype:
    config.genotype = args.genotype
  genotype = train.validate_config(config)
  num_classes = data.dataset_meta(config.dataset).num_classes
  shape = data.input_shape(config.dataset, config.image_size)
  model = train.build_model(config, genotype, num_classes)
  size = dict(channels=config.init_channels, layers=config.layers)
  print(device_info())
  print(
      f'{space.name} evaluation network, {size}, images {shape}; base genotype '
      f'{space.to_text(genotype)}'
  )
  keys = jax.random.split(jax.random.key(0), args.networks)
  others = [space.to_genotype(space.sample(k, 1)[0]) for k in keys]
  mixes = costs.op_mixes(space, args.fit_networks, seed=1)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  print(
      '| batch | table | entries | base us | networks | Spearman rho | Kendall tau | '
      'mean abs error % | measured us (min-max) | cheapest cell: predicted / measured us |'
  )
  print('|---|---|---|---|---|---|---|---|---|---|')

  def seconds(g, batch):
    net = train.build_model(config, g, num_classes)
    return costs.network_seconds(net, shape, batch, args.runs) * 1e6

  for batch in (int(b) for b in args.batches.split(',')):
    table = costs.measure_latency(
        space, model, shape, genotype, batch, runs=args.runs, network=size
    )
    path = f'{args.out}_b{batch}.json'
    costs.save_table(table, path)
    measured = np.asarray([seconds(g, batch) for g in others])
    uniform = {c: np.ones(space.shape()) for c in space.cells}
    cheapest = costs.constrained_derive(space, uniform, table, 0.0).genotype
    cheapest_us = seconds(cheapest, batch)
    tables = [('lookup', table, path)]
    if args.fit_networks:
      fit_us = [seconds(g, batch) for g in mixes]
      fitted = costs.fit_table(
          space,
          mixes,
          fit_us,
          'latency',
          groups=costs.edge_groups(table),
          metadata=dict(table.metadata, fit_seed=1, fit_range_us=[min(fit_us), max(fit_us)]),
      )
      fit_path = f'{args.out}_b{batch}_fit.json'
      costs.save_table(fitted, fit_path)
      tables.append(('fitted', fitted, fit_path))
    for kind, t, where in tables:
      predicted = np.asarray([t.of_genotype(space, g) for g in others])
      rho = stats.spearmanr(measured, predicted).statistic
      tau = stats.kendalltau(measured, predicted).statistic
      err = float(np.mean(np.abs(predicted - measured) / measured) * 100)
      entries = sum(int(np.count_nonzero(o)) for o in t.ops.values())
      print(
          f'| {batch} | {kind} | {entries} | {t.base:.0f} | {len(others)} | {rho:.3f} | '
          f'{tau:.3f} | {err:.1f} | {measured.min():.0f}-{measured.max():.0f} | '
          f'{t.of_genotype(space, cheapest):.0f} / {cheapest_us:.0f} |',
          flush=True,
      )
      print(f'  {kind} table: {where}')


if __name__ == '__main__':
  main()
