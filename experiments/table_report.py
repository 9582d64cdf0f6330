"""The facts of a tabular benchmark: distribution, extremes, noise ceiling, cost and robustness.

  python -m experiments.table_report [--table=shipped] [--out=docs/figures]

Prints a markdown report (docs/tabular.md holds the shipped table's) and writes
``OUT/table_accuracy.png`` (the histogram of the final test accuracy, the seed
mean), ``OUT/table_pareto.png`` (test accuracy against params, its front) and
``OUT/table_robustness.png`` (noise and FGSM accuracy against clean accuracy).
Every number comes from the table file: nothing is trained.
"""

import os

from absl import flags

from experiments import cli

_TABLE = flags.DEFINE_string('table', 'shipped', "A table.npz, or 'shipped'.")
_OUT = flags.DEFINE_string('out', 'docs/figures', 'Where the PNGs go.')


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
  if len(table.seeds) > 1:
    a, b = (table.values('test_acc', seed=s) for s in table.seeds[:2])
    both = ~(np.isnan(a) | np.isnan(b))
    if both.sum() > 2:
      lines.append(
          f'| seed {table.seeds[0]} vs seed {table.seeds[1]} (the noise ceiling, {both.sum()} cells) '
          f'| {stats.spearmanr(a[both], b[both]).statistic:.3f} | '
          f'{stats.kendalltau(a[both], b[both]).statistic:.3f} |'
      )
    else:
      lines.append(f'| seed {table.seeds[0]} vs seed {table.seeds[1]} | not measured yet | |')
  for metric in (
      'val_acc',
      'params',
      'flops',
      'latency_b1',
      'latency_batch',
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

  print(cli.run_or_exit(lambda: report(tabular.load(_TABLE.value), _OUT.value)))


if __name__ == '__main__':
  cli.run(main)
