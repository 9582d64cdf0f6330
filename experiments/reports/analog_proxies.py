"""Data-free estimators at NB201's CIFAR-10 size, ranked against AnalogNAS-Bench's 15,625 cells.

  python -m experiments.reports.analog_proxies [--workdir=runs/analog_proxies] [--sample=200]
      [--batch=64] [--limit_s=] [--out=docs/analog_proxies.md]

The ground truth is ``analog-nasbench``'s baseline test accuracy of every NB201 cell, each
trained once on CIFAR-10 for 200 epochs (``nas_jax.tabular.analog``). Each estimator scores
the cell's network at NB201's own CIFAR-10 size (C=16, N=5, 32x32x3, 10 classes), the
size of Abdelfattah et al.'s NB201 study, without reading any data:

* ``params`` and ``flops``: exact counts of the evaluation network (``tabular.costs``);
* ``synflow``: all-ones input by definition, scored over **all 15,625 cells**;
* ``grad_norm``, ``snip``, ``grasp``, ``fisher``, ``jacov``: one **Gaussian** batch of
  ``--batch`` examples (``N(0, 1)`` pixels, uniform labels; ``nas_jax.estimators.proxy_pass``),
  not CIFAR-10 as in the reference, and labelled so wherever printed. They cost seconds a
  cell on this 2-core CPU, so they score the first ``--sample`` cells of a fixed random
  order of all cells (a uniform sample; a later run with a larger ``--sample`` extends it,
  as the pass resumes from ``--workdir``). The data-free estimators are also ranked on that
  same sample, so every column of the sample's table compares like with like.

Correlations are Spearman's rho and Kendall's tau against the per-cell test accuracy, over
all cells and over the cells with a path from input to output (341 cells have none and
score 10 %). A sample's correlation carries a bootstrap standard error (1,000 resamples).
The table's own noise ceiling: NB201's isomorphic cells were trained separately, so two
cells of one class are two runs of one network; the rank correlation between a class's
first two cells, over the classes with two or more, bounds what any score of the class can
reach. The published figures (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021: Spearman rho over NB201 CIFAR-10, with CIFAR-10 batches) are printed beside
ours. The timing table comes from the same run: compile, seconds per cell and in total.
"""

import time

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', 'runs/analog_proxies', 'Pass files (resumable).')
_SAMPLE = flags.DEFINE_integer(
    'sample', 200, 'Cells scored by the Gaussian proxies.', lower_bound=2
)
_BATCH = flags.DEFINE_integer(
    'batch', 64, "The Gaussian batch (the reference's 64).", lower_bound=2
)
_SEED = flags.DEFINE_integer('seed', 0, 'Weights, Gaussian batch and cell order seed.')
_LIMIT = flags.DEFINE_float('limit_s', None, 'Stop each pass after this many seconds.')
_GAUSSIAN = flags.DEFINE_list(
    'gaussian', ['grad_norm', 'snip', 'grasp', 'fisher', 'jacov'], 'Data-dependent proxies.'
)
_OUT = flags.DEFINE_string('out', 'docs/analog_proxies.md', 'The markdown report.')

SIZE = dict(num_classes=10, channels=16, layers=5, image_shape=(32, 32, 3))
PUBLISHED = {  # Abdelfattah et al. 2021, NB201 CIFAR-10, |Spearman rho| (CIFAR-10 batches)
    'synflow': '0.737',
    'jacov': '0.731',
    'snip': '0.596',
    'grad_norm': '0.594',
    'grasp': '0.514',
    'fisher': '0.36',
    # no CIFAR-10 figure found; White et al.'s (ICLR 2022 blog track, Table 1): CIFAR-100,
    # 1,000 random NB201 cells, against validation accuracy
    'params': '0.7346 (CIFAR-100, 1,000 cells)',
    'flops': '0.7142 (CIFAR-100, 1,000 cells)',
}
SOURCES = (
    'Published: zero-cost-nas (SamsungLabs/zero-cost-nas, `notebooks/nasbench201_correlations.ipynb`, '
    '"Table 1: Spearman ρ of zero-cost proxies on NAS-Bench-201", the figures of Abdelfattah et al., '
    "ICLR 2021): |ρ| (the notebook takes the absolute value) against NB201's cifar10-valid test "
    'accuracy over all 15,625 cells, each proxy on CIFAR-10 batches. params and FLOPs: no CIFAR-10 '
    'figure found; White et al., "A Deeper Look at Zero-Cost Proxies for Lightweight NAS" (ICLR 2022 '
    'blog track, Table 1) give CIFAR-100 over 1,000 random cells against validation accuracy.'
)


def cells():
  """``(space, archs (N, 6), test accuracy (N,), class ids (N,))`` of every analog cell,
  in the NB201 space's decision order."""
  import numpy as np

  from nas_jax import tabular
  from nas_jax.spaces import decisions
  from nas_jax.tabular import analog

  table = cli.run_or_exit(lambda: tabular.load('analog-nasbench'))
  members = analog.member_archs(table)  # (A, S, 6), -1 where a class has fewer cells
  acc = np.asarray(table.epoch['test_acc'][..., -1], np.float64)  # (A, S)
  row, col = np.nonzero(members[..., 0] >= 0)
  archs, acc, klass = members[row, col], acc[row, col], row
  order = np.argsort([decisions.index(a, table.space.options) for a in archs])
  return table.space, archs[order], acc[order], klass[order]


def _pass(space, names, batch, archs, path):
  from nas_jax.estimators import proxy_pass

  scorer = cli.run_or_exit(
      lambda: proxy_pass.ProxyPass(space, names, batch=batch, seed=_SEED.value, **SIZE)
  )
  state = cli.run_or_exit(
      lambda: proxy_pass.run_pass(
          scorer, archs, path, chunk=50 if batch > 1 else 500, limit_s=_LIMIT.value
      )
  )
  return state


def main(argv):
  del argv
  import os

  import numpy as np

  from nas_jax.estimators import proxy_pass
  from nas_jax.util import atomic_write

  space, archs, acc, klass = cells()
  alive = proxy_pass.nb201_has_path(space, archs)
  order = np.random.default_rng(_SEED.value).permutation(len(archs))
  sample = order[: min(_SAMPLE.value, len(archs))]
  workdir = _WORKDIR.value
  start = time.perf_counter()
  scores = proxy_pass.network_costs(space, archs, **SIZE)
  cost_s = time.perf_counter() - start
  free = _pass(space, ['synflow'], 1, archs[order], os.path.join(workdir, 'synflow.npz'))
  gauss = _pass(
      space,
      _GAUSSIAN.value,
      _BATCH.value,
      archs[sample],
      os.path.join(workdir, f'gaussian_b{_BATCH.value}.npz'),
  )
  synflow = np.full(len(archs), np.nan)
  synflow[order] = free['scores'][:, 0]
  scores['synflow'] = synflow
  scored = int(np.isfinite(synflow).sum())
  n_pairs, ceiling_rho, ceiling_tau = proxy_pass.pair_ceiling(acc, klass)
  rng = np.random.default_rng(_SEED.value)
  lines = [
      f'# Data-free estimators against AnalogNAS-Bench ({len(archs):,} NB201 cells, CIFAR-10)',
      '',
      f'Written by `python -m experiments.reports.analog_proxies --sample={_SAMPLE.value} '
      f'--batch={_BATCH.value}` (one run; the pass files in `{workdir}`). Ground truth: '
      "analog-nasbench's baseline test accuracy, one 200-epoch run per cell. Every network "
      "at NB201's CIFAR-10 size (C=16, N=5, 32x32x3, 10 classes), weights from one seed.",
      '',
      f"**The table's noise ceiling**: {n_pairs:,} isomorphism classes hold two or more "
      'separately trained cells; their first two cells agree at Spearman rho '
      f"{ceiling_rho:.3f} / Kendall tau {ceiling_tau:.3f}. No score of a cell's structure "
      'can rank the trained cells much better than one training run ranks another.',
      '',
      f'## All cells ({scored:,} scored; {int(alive.sum()):,} with an input-output path)',
      '',
      '| estimator | input | rho, all | tau, all | rho, with a path | tau, with a path '
      '| published abs(rho) |',
      '|---|---|---|---|---|---|---|',
  ]
  for name in ('params', 'flops', 'synflow'):
    r, t, _ = proxy_pass.rank_correlations(scores[name], acc)
    rp, tp, _ = proxy_pass.rank_correlations(scores[name][alive], acc[alive])
    source = 'all-ones example' if name == 'synflow' else 'none (counted)'
    lines.append(
        f'| {name} | {source} | {r:.3f} | {t:.3f} | {rp:.3f} | {tp:.3f} | '
        f'{PUBLISHED.get(name, "")} |'
    )
  lines += ['', SOURCES]
  done = np.isfinite(gauss['seconds'])
  where = sample[done]
  lines += [
      '',
      f'## A uniform sample of {int(done.sum())} cells: the data-dependent proxies on a Gaussian '
      'batch',
      '',
      f'Batch {_BATCH.value} of N(0, 1) pixels with uniform random labels, **not CIFAR-10** (the '
      "reference's input): these columns measure the proxies' response to the architecture "
      'alone. rho ± its bootstrap standard error.',
      '',
      '| estimator | input | rho | tau | published abs(rho) |',
      '|---|---|---|---|---|',
  ]
  sample_scores = {name: scores[name][where] for name in ('params', 'flops', 'synflow')}
  for j, name in enumerate(_GAUSSIAN.value):
    sample_scores[name] = gauss['scores'][done, j]
  for name, value in sample_scores.items():
    r, t, se = proxy_pass.rank_correlations(value, acc[where], rng)
    source = {'params': 'none', 'flops': 'none', 'synflow': 'all-ones'}.get(
        name, f'Gaussian batch {_BATCH.value}'
    )
    lines.append(
        f'| {name} | {source} | {r:.3f} ± {se:.3f} | {t:.3f} | ' f'{PUBLISHED.get(name, "")} |'
    )
  lines += [
      '',
      '## Cost of the pass (this run, this machine)',
      '',
      '| estimator | cells | compile s | ms per cell (mean) | ms per cell (median) | total s '
      '| projected to 15,625 cells s |',
      '|---|---|---|---|---|---|---|',
      f'| params + flops | {len(archs):,} | 0 (traced, not compiled) | '
      f'{cost_s / len(archs) * 1e3:.3f} | | {cost_s:.1f} | {cost_s:.1f} |',
  ]
  for label, state in (('synflow', free), (f'{"+".join(_GAUSSIAN.value)} (one program)', gauss)):
    sec = state['seconds'][np.isfinite(state['seconds'])]
    comp = float(np.sum(state['compile_seconds']))
    total = float(sec.sum()) + comp
    proj = comp + float(sec.mean()) * 15_625 if len(sec) else float('nan')
    lines.append(
        f'| {label} | {len(sec):,} | {comp:.1f} | {sec.mean() * 1e3:.1f} | '
        f'{np.median(sec) * 1e3:.1f} | {total:.1f} | {proj:.0f} |'
    )
  lines += [
      '',
      'Compile: summed over the sittings that scored cells (a resumed pass compiles again). '
      'Per cell: the mean over its chunk of cells. CPU, no other job running.',
      '',
  ]
  atomic_write(_OUT.value, '\n'.join(lines))
  print('\n'.join(lines))


if __name__ == '__main__':
  cli.run(main)
