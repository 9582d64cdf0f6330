"""The facts of a tabular benchmark: distribution, extremes, noise ceiling, cost and robustness.

  python -m experiments.reports.table_report [--table=shipped] [--out=docs/figures]
  python -m experiments.reports.table_report --cell='|nor_conv_3x3~0|+|...|' [--cell=...]


Prints a markdown report (docs/tabular.md holds the shipped table's) and writes
``OUT/table_accuracy.png`` (the histogram of the final test accuracy, the seed
mean), ``OUT/table_pareto.png`` (test accuracy against params, its front) and
``OUT/table_robustness.png`` (noise and FGSM accuracy against clean accuracy).
Every number comes from the table file: nothing is trained. With ``--cell``
(a genotype string, a genotype JSON file or a table hash; repeatable) it prints
only those cells' rows: every metric per seed, rank, percentile and regret.
"""

import os

from absl import flags

from experiments import cli

_TABLE = flags.DEFINE_string('table', 'shipped', "A table.npz, or 'shipped'.")
_OUT = flags.DEFINE_string('out', 'docs/figures', 'Where the PNGs go.')
_CELL = flags.DEFINE_multi_string(
    'cell', [], 'Print this cell (genotype string or file, or a table hash) instead.'
)


def cell_report(table, ref: str) -> str:
  """One cell's rows: per seed, the final value of every epoch and seed metric; costs; rank."""
  import numpy as np

  key = ref if ref in table.hashes else table.space.from_genotype(table.space.load_genotype(ref))
  row = table.row(key)
  arch = tuple(int(a) for a in table.archs[row])
  out = table.report(arch)
  lines = [
      f'`{table.space.to_text(table.space.to_genotype(arch))}` (hash {table.hashes[row]})',
      '',
      '| metric | ' + ' | '.join(f'seed {s}' for s in table.seeds) + ' | mean |',
      '|---|' + '---|' * (len(table.seeds) + 1),
  ]
  for metric in tuple(table.epoch) + tuple(table.seed):
    per_seed = [table.values(metric, seed=s)[row] for s in table.seeds]
    cells = ' | '.join('not measured' if np.isnan(x) else f'{x:.4f}' for x in per_seed)
    mean = table.values(metric)[row]
    lines.append(f'| {metric} | {cells} | {"-" if np.isnan(mean) else f"{mean:.4f}"} |')
  costs = ', '.join(f'{m} {table.values(m)[row]:.4g}' for m in table.arch)
  lines += ['', f'Costs: {costs}.']
  if out['rank'] is None:
    lines.append('Not measured yet: no rank.')
  else:
    lines.append(
        f'Rank {out["rank"]} of {out["measured_rows"]} measured cells (percentile '
        f'{out["percentile"]:.1f}), regret {out["regret"]:.4f} to the best ({out["best"]:.4f}).'
    )
  return '\n'.join(lines) + '\n'


def report(table, out_dir: str) -> str:
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  import numpy as np
  from scipy import stats

  space = table.space
  meta = table.metadata
  v = table.values('test_acc')
  ok = ~np.isnan(v)
  lines = [
      f'{len(table)} unique cells of the {meta["space"]} space over {", ".join(meta["primitives"])}; '
      f'{meta.get("members_measured")}/{meta.get("members_total")} cell-seeds measured '
      f'(seeds {table.seeds}, {table.num_epochs} epochs); {meta.get("build_train_seconds", 0) / 3600:.2f} '
      'h of training so far.',
      '',
      '| cell | test acc (seed mean) | params | genotype |',
      '|---|---|---|---|',
  ]
  summary = table.summary('test_acc')
  for name in ('best', 'median', 'worst'):
    r = summary[name]
    text = space.to_text(space.to_genotype(tuple(r['arch'])))
    lines.append(
        f'| {name} | {r["value"]:.4f} | {table.query(r["hash"], "params"):.0f} | `{text}` |'
    )
  q = summary['quantiles']
  lines += [
      '',
      'Quantiles of the test accuracy: '
      + ', '.join(f'{float(k):.0%} {x:.4f}' for k, x in q.items()),
      '',
      '| against test accuracy (measured cells) | Spearman rho | Kendall tau |',
      '|---|---|---|',
  ]
  for metric in (
      'val_acc',
      'params',
      'flops',
      'latency_b1',
      'latency_batch',
      'memory_inference',
      'memory_training',
      'noise_acc',
      'fgsm_acc',
  ):
    if metric not in table.metrics:
      continue
    x = table.values(metric)
    both = ok & ~np.isnan(x)
    lines.append(
        f'| {metric} | {stats.spearmanr(x[both], v[both]).statistic:.3f} | '
        f'{stats.kendalltau(x[both], v[both]).statistic:.3f} |'
    )
  lines += _noise(table)
  os.makedirs(out_dir, exist_ok=True)
  fig, ax = plt.subplots(figsize=(6, 3))
  ax.hist(v[ok], bins=60)
  ax.set_yscale('log')
  ax.set_xlabel('final test accuracy (mean over seeds)')
  ax.set_ylabel('cells (log)')
  ax.set_title(f'{meta["space"]}, {len(meta["primitives"])} ops, {ok.sum()} cells')
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, 'table_accuracy.png'), dpi=110)
  plt.close(fig)
  front = table.pareto('test_acc', 'params')
  p = table.values('params')
  fig, ax = plt.subplots(figsize=(6, 3.5))
  ax.scatter(p[ok], v[ok], s=4, alpha=0.4, label='cells')
  ax.plot(p[front], v[front], 'r.-', label='Pareto front')
  ax.set_ylim(max(0.0, np.nanquantile(v, 0.02) - 0.02), 1.0)
  ax.set_xlabel('params')
  ax.set_ylabel('test accuracy')
  ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, 'table_pareto.png'), dpi=110)
  plt.close(fig)
  robust = [m for m in ('noise_acc', 'fgsm_acc') if m in table.metrics]
  if robust:
    lines += ['', *_robustness(table, v, ok, robust, out_dir)]
  return '\n'.join(lines) + '\n'


def _noise(table) -> list[str]:
  """The noise ceiling and the separation of the test accuracy (``nas_jax.tabular.noise``),
  over every cell measured at the first two seeds and over the live ones (above chance)."""
  import numpy as np

  from nas_jax import data
  from nas_jax.tabular import noise

  if len(table.seeds) < 2:
    return ['', 'One seed: no noise ceiling.']
  per_seed = table.epoch['test_acc'][:, :2, -1]
  both = ~np.isnan(per_seed).any(1)
  if both.sum() < 3:
    return ['', 'Fewer than 3 cells measured at both seeds: no noise ceiling yet.']
  chance = 1.0 / data.dataset_meta(table.metadata['protocol']['dataset']).num_classes
  stats = noise.seed_agreement(per_seed, alive_above=chance + 0.01)
  lines = [
      '',
      '| seed 0 vs seed 1, test accuracy | cells | Kendall τ | Spearman ρ | p10-p90 of the means '
      '| mean abs(seed 0 - seed 1) | separation |',
      '|---|---|---|---|---|---|---|',
  ]
  for name, s in (('all measured cells', stats), ('live cells (above chance)', stats.get('alive'))):
    if s is None:
      continue
    lines.append(
        f'| {name} | {s["cells"]} | {s["tau"]:.3f} ± {s["tau_se"]:.3f} | '
        f'{s["rho"]:.3f} ± {s["rho_se"]:.3f} | {s["p10"]:.4f}-{s["p90"]:.4f} | '
        f'{s["mean_abs_diff"]:.4f} | {s["separation"]:.1f} |'
    )
  lines += [
      '',
      f"± is the bootstrap standard error over cells. A cell's seed mean has a standard error "
      f'of {noise.cell_se(table.epoch["test_acc"][:, :, -1]):.4f} on average (its per-cell '
      f'noise); the Spearman-Brown projection of the live cells\' Pearson r to 2-seed means is {stats["rho_2seeds"]:.3f}.',
  ]
  return lines


def _robustness(table, clean, ok, metrics, out_dir: str) -> list[str]:
  """How robust accuracy relates to clean accuracy: ranges, the top decile, a scatter PNG."""
  import matplotlib.pyplot as plt
  import numpy as np

  top = ok & (clean >= np.nanquantile(clean[ok], 0.9))
  rest = ok & ~top
  lines = [
      '| robust metric | range (measured cells) | mean | top 10 % by clean acc | the other 90 % |',
      '|---|---|---|---|---|',
  ]
  fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
  for ax, metric in zip(axes[0], metrics):
    x = table.values(metric)
    lines.append(
        f'| {metric} | {np.nanmin(x[ok]):.3f}-{np.nanmax(x[ok]):.3f} | {np.nanmean(x[ok]):.3f} | '
        f'{np.nanmean(x[top]):.3f} | {np.nanmean(x[rest]):.3f} |'
    )
    ax.scatter(clean[ok], x[ok], s=4, alpha=0.4)
    ax.set_xlim(max(0.0, np.nanquantile(clean, 0.02) - 0.01), min(1.0, np.nanmax(clean) + 0.01))
    ax.set_xlabel('clean test accuracy')
    ax.set_ylabel(metric)
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, 'table_robustness.png'), dpi=110)
  plt.close(fig)
  lines.append(
      f'\nClean test accuracy of the same cells: {np.nanmin(clean[ok]):.3f}-'
      f'{np.nanmax(clean[ok]):.3f} (the top 10 %: at least {np.nanmin(clean[top]):.3f}).'
  )
  return lines


def main(argv):
  del argv
  from nas_jax import tabular  # after flag parsing: keeps --help fast

  def run():
    table = tabular.load(_TABLE.value)
    if _CELL.value:
      return '\n'.join(cell_report(table, ref) for ref in _CELL.value)
    return report(table, _OUT.value)

  print(cli.run_or_exit(run))


if __name__ == '__main__':
  cli.run(main)
