"""Every cheap estimator ranked against a table's ground truth, on every cell.

  python -m experiments.reports.estimator_report [--table=shipped] [--predictor_seeds=10]
      [--train_sizes=10,20,50,100,200] [--out=docs/estimator_report.md]

At the defaults it runs about 22 minutes on a 2-core CPU over the animal table (it took
48 on the MNIST table). Run it with no time limit, on a quiet machine (its cost column is
measured). Each row is printed to stdout as it is computed.

Ground truth is the seed-mean test accuracy after the table's last epoch. Each estimator
scores every cell of the table and is reported by Spearman rho and Kendall tau against
it, the precision at the top 10 % and its cost per architecture:

* baselines read from the table: params, FLOPs, latency (batch 1 and the protocol's
  batch), and the final validation accuracy (what NB201's protocol searches on);
* learning curves (``nas_jax.estimators.curves``): the validation accuracy after 1 and 2
  epochs (an early stop) and SoTL-E after 1, 2 and all epochs; their cost is the table's
  train seconds for those epochs;
* zero-cost proxies (``nas_jax.estimators.proxies``): grad_norm, snip, grasp, fisher,
  synflow and jacov, each cell scored at initialization (seed 0 weights) on one batch of 64
  training images by the table protocol's arch network, all six in one compiled program;
  the cost column is that program's measured time per cell divided among the six;
* weight sharing (``nas_jax.estimators.weight_sharing``): every cell's validation accuracy
  under one set of shared weights in the protocol's arch network. ``spos``: trained by
  uniform single-path sampling for ``--spos_epochs`` epochs of the protocol's recipe, scored
  with the inherited BatchNorm statistics and with statistics recalibrated per cell (8
  training batches); ``darts`` and ``gdas``: the supernet of a DARTS (first order) or GDAS
  search in the table's space (``experiments/configs/search_table.py`` for
  ``--search_epochs`` full epochs), its weights mapped into the arch network, recalibrated.
  Their cost is the shared training's seconds divided among the cells plus each cell's
  measured scoring seconds;
* learned predictors (``nas_jax.estimators.predictors``) on the one-hot and path
  encodings, trained on ``n`` random cells and evaluated on all the others, mean +- std
  over ``--predictor_seeds`` draws, for each ``n`` in ``--train_sizes`` (what they cost is
  the training of their ``n`` cells, ``n`` times the table's mean train seconds).

The published NB201 CIFAR-10 figures for the proxies (Abdelfattah et al. 2021, |Spearman
rho| over the 15,625 cells: synflow 0.737, jacov 0.731, snip 0.596, grad_norm 0.594, grasp
0.514, fisher 0.36) are printed next to ours; ours are on the shipped table (animal silhouettes at 8x8, a 4-op,
1-cell-per-stage network), so the ordering and the method are the point, not the numbers.
"""

import time

from absl import flags

from experiments import cli

_TABLE = flags.DEFINE_string('table', 'shipped', "The table ('shipped' or a table file).")
_PRED_SEEDS = flags.DEFINE_integer('predictor_seeds', 10, 'Draws per train size.', lower_bound=1)
_SIZES = flags.DEFINE_list('train_sizes', ['10', '20', '50', '100', '200'], 'Predictor n.')
_BATCH = flags.DEFINE_integer('batch', 64, 'The proxies minibatch.', lower_bound=2)
_PROXIES = flags.DEFINE_list('proxies', None, 'Proxies to compute (default: all).')


def _known_proxies(names):
  from nas_jax.estimators import proxies
  from nas_jax.registry import unknown

  for name in names or ():
    if name not in proxies.PROXIES:
      raise flags.ValidationError(unknown('proxy', name, proxies.PROXIES))
  return True


flags.register_validator('proxies', _known_proxies)
_PREDICTORS = flags.DEFINE_list('predictors', None, 'Predictors to fit (default: all).')
_ENCODINGS = flags.DEFINE_list('encodings', ['onehot', 'path'], 'Predictor encodings.')
_SHARING = flags.DEFINE_list(
    'weight_sharing', ['spos', 'darts', 'gdas'], 'Weight-sharing rows (spos, darts, gdas).'
)
_SPOS_EPOCHS = flags.DEFINE_integer('spos_epochs', 10, 'SPOS supernet epochs.', lower_bound=1)
_SEARCH_EPOCHS = flags.DEFINE_integer(
    'search_epochs', 10, 'DARTS/GDAS search epochs.', lower_bound=1
)
_SEARCH_STEPS = flags.DEFINE_integer(
    'search_steps', -1, 'Steps per search epoch (-1: whole epochs; smoke tests).'
)
_OUT = flags.DEFINE_string('out', 'docs/estimator_report.md', 'The markdown report.')

PUBLISHED = {  # |Spearman rho|, NB201 CIFAR-10 (Abdelfattah et al. 2021), as the issue recalls
    'synflow': 0.737,
    'jacov': 0.731,
    'snip': 0.596,
    'grad_norm': 0.594,
    'grasp': 0.514,
    'fisher': 0.36,
}


SHARING = ('spos', 'darts', 'gdas')


def _supernet_variables(strategy, table):
  """The supernet weights of a ``strategy`` search in ``table``'s space (search_table.py)."""
  import tempfile

  from experiments.configs import common, search_table
  from nas_jax import search

  c = search_table.for_table(table)
  common.set_component(c, 'strategy', strategy)
  c.epochs = _SEARCH_EPOCHS.value
  c.max_steps_per_epoch = _SEARCH_STEPS.value
  c.log_every = 10**9
  with tempfile.TemporaryDirectory() as workdir:
    start = time.perf_counter()
    result = search.run_search(c, workdir, log=lambda line: None)
    seconds = time.perf_counter() - start
  state = result['state']
  print(f'{strategy} search: {seconds:.1f} s, cell {result["genotype"]}', flush=True)
  return {'params': state.params, 'batch_stats': state.batch_stats}, seconds


def _weight_sharing(kind, table, protocol):
  """``(name, scores, cost per arch)`` rows of one weight-sharing estimator."""
  from nas_jax.estimators import weight_sharing as ws

  space = table.space
  if kind == 'spos':
    run = ws.train_spos(space, protocol, _SPOS_EPOCHS.value, seed=0)
    print(f'spos: {run.seconds:.1f} s, epoch losses {run.epoch_loss}', flush=True)
    variables, seconds, modes = run.variables, run.seconds, ('inherited', 'recalibrated')
    label, supernet = f'SPOS ({_SPOS_EPOCHS.value} epochs)', False
  else:
    variables, seconds = _supernet_variables(kind, table)
    modes, supernet = ('recalibrated',), True
    label = f'{kind.upper()} supernet ({_SEARCH_EPOCHS.value} epochs)'
  out = []
  for bn in modes:
    est = ws.SharedWeightEstimator(space, protocol, variables, bn=bn, supernet=supernet)
    est(table.archs[:1])  # compile outside the timing
    start = time.perf_counter()
    got = est(table.archs)
    per_cell = (time.perf_counter() - start) / len(table)
    out.append((f'{label}, {bn} BN', got.value, seconds / len(table) + per_cell))
    print(f'{label} {bn}: {per_cell:.3f} s per cell', flush=True)
  return out


def _predictor_rows(space, table, truth) -> list[str]:
  """The predictors' markdown rows: each of ``--predictors`` on each of ``--encodings``."""
  import numpy as np

  from nas_jax.estimators import predictors, ranking

  sizes = [int(n) for n in _SIZES.value]
  lines = [
      '',
      f'**Predictors**, trained on n random cells (their seed-mean test accuracy), evaluated on '
      f'all the others; mean ± std over {_PRED_SEEDS.value} draws of ρ / τ / top-10 %.',
      '',
      '| predictor | encoding | ' + ' | '.join(f'n = {n}' for n in sizes) + ' |',
      '|---|---|' + '---|' * len(sizes),
  ]
  encodings = {k: np.stack([space.encode(a, k) for a in table.archs]) for k in _ENCODINGS.value}
  ok = np.flatnonzero(np.isfinite(truth))
  for name in _PREDICTORS.value or predictors.PREDICTORS:
    if name not in predictors.PREDICTORS:
      cli.fail(f'unknown predictor {name!r}; known: {", ".join(predictors.PREDICTORS)}')
    for kind, x in encodings.items():
      cells = []
      for n in sizes:
        stats = []
        for s in range(_PRED_SEEDS.value):
          perm = np.random.default_rng(s).permutation(ok)
          train, test = perm[:n], perm[n:]
          pred = predictors.fit_predict(name, x[train], truth[train], x[test], seed=s)
          c = ranking.correlations(pred, truth[test])
          stats.append((c['spearman'], c['kendall'], c['precision']))
        st = np.nan_to_num(np.asarray(stats))
        cells.append(
            f'{st[:, 0].mean():.3f} ± {st[:, 0].std():.3f} / {st[:, 1].mean():.3f} / '
            f'{st[:, 2].mean():.2f}'
        )
      lines.append(f'| {name} | {kind} | ' + ' | '.join(cells) + ' |')
      print(f'{name} {kind} done', flush=True)
  return lines


def main(argv):
  del argv
  import numpy as np

  from nas_jax import tabular
  from nas_jax.estimators import curves, proxies, ranking
  from nas_jax.tabular.protocol import Protocol
  from nas_jax.util import atomic_write

  table = cli.run_or_exit(lambda: tabular.load(_TABLE.value))
  space = table.space
  truth = table.values('test_acc')
  seconds = table.query_seconds()
  rows = []  # (group, name, scores, cost per arch)

  def add(group, name, scores, cost):
    rows.append((group, name, np.asarray(scores, np.float64), float(cost)))
    c = ranking.correlations(rows[-1][2], truth)  # printed now: a killed run keeps its rows
    print(f'row {group} | {name}: rho {c["spearman"]:.3f}, cost {cost:.4g} s/arch', flush=True)

  for name, sign in (('params', 1), ('flops', 1), ('latency_b1', -1), ('latency_batch', -1)):
    if name in table.arch:
      add('table', name + (' (negated)' if sign < 0 else ''), sign * table.values(name), 0.0)
  add('table', 'val_acc (final epoch)', table.values('val_acc'), np.nanmean(seconds))
  for e in range(1, table.num_epochs):
    add(
        'curve',
        f'val_acc at epoch {e}',
        curves.early_val(table, e),
        np.nanmean(curves.epoch_cost(table, e)),
    )
  if 'train_loss' in table.epoch:
    for e in range(1, table.num_epochs + 1):
      add(
          'curve',
          f'SoTL-E, epochs 1..{e}',
          curves.sotl(table, e),
          np.nanmean(curves.epoch_cost(table, e)),
      )

  protocol = Protocol.from_dict(table.metadata['protocol'])
  names = tuple(_PROXIES.value or proxies.PROXIES)
  est = cli.run_or_exit(
      lambda: proxies.ProxyEstimator(space, protocol, names, batch=_BATCH.value, seed=0)
  )
  est(table.archs[:1])  # compile outside the timing
  start = time.perf_counter()
  est(table.archs)
  per_cell = (time.perf_counter() - start) / len(table)
  values = est.last_values
  print(f'proxies: {len(table)} cells in {per_cell * len(table):.1f} s', flush=True)
  for k, name in enumerate(names):
    add('proxy', name, values[:, k], per_cell / len(names))

  for kind in _SHARING.value:
    if kind not in SHARING:
      cli.fail(f'unknown weight-sharing row {kind!r}; known: {", ".join(SHARING)}')
  for kind in _SHARING.value:
    for name, scores, cost in _weight_sharing(kind, table, protocol):
      add('sharing', name, scores, cost)

  lines = [
      f'Table: {space.name} over {", ".join(space.primitives)}, {len(table)} cells; ground '
      'truth: seed-mean test accuracy after the last epoch. rho/tau: Spearman/Kendall against '
      'it; top-10 %: the share of the best 10 % of cells that the estimator also puts in its '
      'best 10 %; cost: seconds per architecture (simulated train seconds for the table and '
      'curve rows, measured compute for the proxies; for weight sharing, the shared training '
      'divided among the cells plus the measured scoring).',
      '',
      '| group | estimator | Spearman ρ | Kendall τ | top-10 % | cost s/arch | published |ρ| (NB201 C10) |',
      '|---|---|---|---|---|---|---|',
  ]
  for group, name, scores, cost in rows:
    c = ranking.correlations(scores, truth)
    lines.append(
        f'| {group} | {name} | {c["spearman"]:.3f} | {c["kendall"]:.3f} | {c["precision"]:.2f} '
        f'| {cost:.3g} | {PUBLISHED.get(name, "")} |'
    )

  if _ENCODINGS.value:  # --encodings= (empty): no predictor rows
    lines += _predictor_rows(space, table, truth)
  text = '\n'.join(lines) + '\n'
  atomic_write(_OUT.value, text)
  print(text)


if __name__ == '__main__':
  cli.run(main)
