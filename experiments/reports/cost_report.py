"""Cost-aware search, judged: a lambda sweep on the table, and latency targets in the DARTS space.

  python -m experiments.reports.cost_report [--workdir=runs/cost_report]
      [--out=docs/cost_aware.md] [--figure=docs/figures/cost_front.png]
      [--parts=table,targets] [--darts_lut=runs/latency/darts_demo_b64.json]

**Part 1, the table** (the shipped animal table: NB201 over 4 ops, test accuracy and the
latency its lookup table predicts at batch 1).
- DARTS- (the strategy that ranked highest on this table, docs/ground_truth.md) searches
  the table's space (``configs/search_table.py``, 4 epochs x 50 steps, ``--seeds`` vmapped
  seeds per lambda) with the additive latency term ``lambda * (E[latency] / target - 1)``,
  the target the table's median latency, for each lambda of ``--lambdas``. The cost is the
  lookup table ``nas_jax/tabular/data/latency_nb201_animal.json`` (``config.cost``).
- Each derived cell is looked up: its seed-mean test accuracy and latency. Per seed, the
  cells of the sweep's lambdas form one front. Its hypervolume over the table's true front
  (from the table's median accuracy and slowest cell, as ``nas_jax.traces.hypervolume_ratio``)
  is compared with NSGA-II's and random search's at a matched search cost.
- The matched cost: one seed's sweep took ``S`` seconds of search. A discrete query stands for
  training one cell (the table's mean training seconds per cell, ``T``), so each discrete seed
  gets ``ceil(S / T)`` queries, rounded up to NSGA-II's generation of 20, over
  ``--discrete_seeds`` seeds.

**Part 2, the DARTS space** (needs ``--darts_lut``, a lookup table of the demo retraining
network written by ``python -m benchmarks.latency_cells``; at batch 64 by default, where the
ops' compute, not their dispatch, makes the network's time).
- Each target of ``--darts_targets`` is a fraction of the way from the cheapest cell the
  table can derive to DARTS_V2's predicted latency in that network. A DARTS search
  (``configs/search_demo.py``) adds the latency term (lambda ``--darts_weight``, the demo
  retraining network's size: 6 cells, C=16), and with ``--darts_hard`` the target also
  constrains the derived cell (``nas_jax.costs.constrained_derive``).
- The derived cell is retrained (``configs/train_demo.py``) and exported
  (``nas_jax.export``, ``jax_export``). Its predicted latency and the exported model's
  measured latency at the table's batch are set against the target. With
  ``--darts_measured`` the search times its final cell's network and derives it again with a
  tighter budget until the timing meets the target (``config.cost.measured``). The exported
  models are
  timed after every search and retraining is done, each in a fresh process, over
  ``--darts_rounds`` interleaved rounds (``nas_jax.export.latency_rounds``).

Every run resumes from its checkpoints when the command is rerun. Cost on the 2-core CPU:
about 20 minutes.
"""

import json
import math
import os
import time

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', 'runs/cost_report', 'Where the runs go (resumed).')
_OUT = flags.DEFINE_string('out', 'docs/cost_aware.md', 'The markdown report.')
_FIGURE = flags.DEFINE_string('figure', 'docs/figures/cost_front.png', 'The front figure.')
_PARTS = flags.DEFINE_list(
    'parts', 'table,targets', 'Which parts to run: table (part 1), targets (part 2).'
)
_SEEDS = flags.DEFINE_integer('seeds', 3, 'Vmapped seeds per lambda.', lower_bound=1)
_LAMBDAS = flags.DEFINE_list('lambdas', '0,0.03,0.1,0.3,1', 'The additive weights swept.')
_DISCRETE_SEEDS = flags.DEFINE_integer(
    'discrete_seeds', 100, 'Seeds of NSGA-II and random search.', lower_bound=2
)
_STEPS = flags.DEFINE_integer('steps', 50, 'Search steps per epoch (part 1).', lower_bound=1)
_EPOCHS = flags.DEFINE_integer('epochs', 4, 'Search epochs (part 1).', lower_bound=1)
_DARTS_LUT = flags.DEFINE_string(
    'darts_lut', 'runs/latency/darts_demo_b64.json', 'Part 2: the DARTS network lookup table.'
)
_DARTS_TARGETS = flags.DEFINE_list(
    'darts_targets',
    '0.3,0.7',
    "Part 2: targets, as fractions of the way from the cheapest cell to DARTS_V2's latency.",
)
_DARTS_ROUNDS = flags.DEFINE_integer(
    'darts_rounds', 5, 'Part 2: timing rounds of each exported model.', lower_bound=1
)
_DARTS_WEIGHT = flags.DEFINE_float('darts_weight', 0.1, 'Part 2: lambda.', lower_bound=0.0)
_DARTS_HARD = flags.DEFINE_bool(
    'darts_hard', True, 'Part 2: the target also constrains the derived cell.'
)
_DARTS_MEASURED = flags.DEFINE_bool(
    'darts_measured',
    True,
    'Part 2 (with --darts_hard): the final cell is timed and derived again until it meets it.',
)

LUT = 'nas_jax/tabular/data/latency_nb201_animal.json'


def _mean_sd(values) -> str:
  import numpy as np

  v = np.asarray(values, np.float64)
  return f'{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}'


def _first_seconds(run: str, seconds: float) -> float:
  """The seconds the search in ``run`` took when it first finished (kept in the run, so
  that a rerun, which resumes it in no time, reports the same matched cost)."""
  path = os.path.join(run, 'report_seconds.json')
  if os.path.exists(path):
    with open(path) as f:
      return float(json.load(f)['seconds'])
  with open(path, 'w') as f:
    json.dump({'seconds': seconds}, f)
  return seconds


def table_part(workdir: str, log=print) -> dict:
  """Part 1 (module doc): the sweep, the fronts and the hypervolume ratios."""
  import jax
  import numpy as np

  from experiments.configs import common, search_table
  from nas_jax import discrete, search, tabular, traces
  from nas_jax.estimators import TabularEstimator
  from nas_jax.strategies import discrete as ds

  table = tabular.load('shipped')
  space = table.space
  latency_us = table.values('latency_b1') * 1e6
  acc = table.values('test_acc')
  target = float(np.median(latency_us))
  lambdas = [float(x) for x in _LAMBDAS.value]
  cells = np.zeros((_SEEDS.value, len(lambdas), len(space.options)), np.int32)
  search_seconds = 0.0
  sweep = []
  for j, lam in enumerate(lambdas):
    config = search_table.for_table(table, 'shipped')
    common.set_component(config, 'strategy', 'darts_minus')
    config.num_seeds = _SEEDS.value
    config.epochs = _EPOCHS.value
    config.max_steps_per_epoch = _STEPS.value
    config.log_every = 0
    config.tensorboard = False
    config.cost.name = 'latency'
    config.cost.target = target
    config.cost.weight = lam
    config.cost.latency_table = LUT
    config.cost.latency_batch = 1
    run = os.path.join(workdir, f'lambda_{lam:g}')
    result = search.run_search(config, run, log=lambda _: None)
    search_seconds += _first_seconds(run, result['seconds'])
    rows = []
    for s, g in enumerate(result['genotype']):
      arch = space.from_genotype(g)
      cells[s, j] = arch
      r = table.row(arch)
      rows.append(
          dict(seed=s, genotype=space.to_text(g), acc=float(acc[r]), latency=float(latency_us[r]))
      )
    last = result['metrics'][-1]
    last = last if isinstance(last, list) else [last]
    expected = float(np.mean([r['cost_expected'] for r in last]))
    sweep.append(dict(weight=lam, rows=rows, expected=expected))
    log(f'lambda {lam:g}: ' + ', '.join(f'{r["acc"]:.4f}/{r["latency"]:.0f}us' for r in rows))
  mo = TabularEstimator(table, metric='test_acc', seed='mean', objectives=('latency_b1',))
  hv_search = traces.hypervolume_ratio(cells, mo, len(lambdas))
  per_seed_seconds = search_seconds / _SEEDS.value
  cell_seconds = float(np.nanmean(table.values('train_seconds')))
  queries = int(math.ceil(per_seed_seconds / cell_seconds / 20.0) * 20)
  keys = discrete.seed_keys(range(_DISCRETE_SEEDS.value))
  fronts, hv = {}, {}
  for name, strategy, batch in (
      ('nsga2', ds.get('nsga2', population=20), 20),
      ('random', ds.get('random'), 1),
  ):
    trace = discrete.run_seeds(strategy, mo, space, keys, queries, batch)
    hv[name] = np.asarray(discrete.hypervolume_ratio(trace.archs, mo, queries))
    fronts[name] = np.asarray(jax.device_get(trace.archs))[0]
  return dict(
      table=table,
      target=target,
      lambdas=lambdas,
      sweep=sweep,
      cells=cells,
      hv_search=np.asarray(hv_search),
      hv=hv,
      fronts=fronts,
      queries=queries,
      per_seed_seconds=per_seed_seconds,
      cell_seconds=cell_seconds,
  )


def _search_rounds(search_dir: str) -> list:
  """The final cell's timings in the search (``cost.json``: ``[predicted, measured]`` per
  try), empty without a measured hard target."""
  path = os.path.join(search_dir, 'cost.json')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return json.load(f)['rounds']


def darts_part(workdir: str, lut_path: str, log=print) -> dict:
  """Part 2 (module doc): searches at latency targets, retrained and exported."""
  import numpy as np

  from experiments.configs import search_demo, train_demo
  from nas_jax import costs, export, search, spaces, train
  from nas_jax.spaces.darts import genotype as darts_genotype

  lut = costs.load_table(lut_path)
  space = spaces.get('darts')
  batch = int(lut.metadata['batch'])
  reference = lut.of_genotype(space, darts_genotype.DARTS_V2)
  uniform = {c: np.ones(space.shape()) for c in space.cells}
  cheapest = costs.constrained_derive(space, uniform, lut, 0.0).cost  # no cell meets 0 us
  rows = []
  for fraction in (float(f) for f in _DARTS_TARGETS.value):
    target = cheapest + fraction * (reference - cheapest)
    run = os.path.join(workdir, f'darts_target_{fraction:g}')
    config = search_demo.get_config()
    config.tensorboard = False
    config.log_every = 0
    config.cost.update(
        name='latency',
        target=target,
        weight=_DARTS_WEIGHT.value,
        hard=_DARTS_HARD.value,
        measured=_DARTS_HARD.value and _DARTS_MEASURED.value,
        latency_table=lut_path,
        latency_batch=batch,
        channels=int(lut.metadata['channels']),
        layers=int(lut.metadata['layers']),
    )
    result = search.run_search(config, os.path.join(run, 'search'), log=lambda _: None)
    genotype = result['genotype']
    train_config = train_demo.get_config()
    train_config.genotype = os.path.join(run, 'search', 'genotype.json')
    train_config.tensorboard = False
    retrained = train.run_train(train_config, os.path.join(run, 'train'), log=lambda _: None)
    export.export_run(os.path.join(run, 'train'), ('jax_export',), log=lambda _: None)
    rows.append(
        dict(
            fraction=fraction,
            target=target,
            run=os.path.join(run, 'train'),
            predicted=lut.of_genotype(space, genotype),
            test_acc=retrained['test_accuracy'],
            params_m=retrained['params_m'],
            genotype=space.to_text(genotype),
            expected_last=result['metrics'][-1]['cost_expected'],
            feasible=result['metrics'][-1].get('cost_feasible'),
            rounds=_search_rounds(os.path.join(run, 'search')),
        )
    )
  # The artifacts are timed only now, each in a fresh process and in interleaved rounds, when
  # nothing of the searches and retrainings runs beside them.
  measured = export.latency_rounds(
      [r['run'] for r in rows], 'jax_export', (batch,), rounds=_DARTS_ROUNDS.value
  )
  for r, times in zip(rows, measured):
    us = np.asarray(times[batch]) * 1e6
    r.update(measured=float(np.median(us)), measured_range=[float(us.min()), float(us.max())])
    log(
        f'target {r["target"]:.0f} us: predicted {r["predicted"]:.0f}, measured {r["measured"]:.0f}'
    )
  return dict(
      reference=reference, cheapest=cheapest, rows=rows, lut=lut_path, lut_meta=dict(lut.metadata)
  )


def figure(part: dict, path: str) -> None:
  """The table's cells, its true front, the sweep's cells and the discrete fronts (seed 0)."""
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  import numpy as np

  from nas_jax import pareto

  table = part['table']
  lat = table.values('latency_b1') * 1e6
  acc = table.values('test_acc')
  fig, ax = plt.subplots(figsize=(7, 4.5))
  ax.scatter(lat, acc, s=4, c='0.8', label=f'the table ({len(acc)} cells)')
  front = pareto.front(np.stack([acc, -lat], 1))
  order = front[np.argsort(lat[front])]
  ax.step(lat[order], acc[order], where='post', c='k', lw=1, label='true front')
  colors = plt.cm.viridis(np.linspace(0, 0.9, len(part['lambdas'])))
  for j, lam in enumerate(part['lambdas']):
    rows = table.rows_of(part['cells'][:, j])
    ax.scatter(
        lat[rows], acc[rows], s=36, color=colors[j], edgecolor='k', label=f'DARTS- λ={lam:g}'
    )
  for name, marker in (('nsga2', 'x'), ('random', '+')):
    rows = np.unique(table.rows_of(part['fronts'][name][: part['queries']]))
    f = rows[pareto.front(np.stack([acc[rows], -lat[rows]], 1))]
    ax.scatter(
        lat[f],
        acc[f],
        marker=marker,
        s=40,
        c='C3' if name == 'nsga2' else 'C0',
        label=f'{name} front (seed 0)',
    )
  ax.set_xlabel('latency at batch 1, µs (lookup table)')
  ax.set_ylabel('test accuracy (seed mean)')
  ax.set_ylim(np.quantile(acc, 0.05), acc.max() + 0.01)
  ax.legend(fontsize=7, loc='lower right')
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=120)
  plt.close(fig)


def markdown(table_out: dict | None, darts_out: dict | None, figure_path: str) -> str:
  import numpy as np

  lines = [
      '# Cost-aware search: does a latency term find cells that are fast and accurate?',
      '',
      'One run of `python -m experiments.reports.cost_report` '
      f'({time.strftime("%Y-%m-%d")}, the 2-core CPU).',
  ]
  if table_out is not None:
    t = table_out
    noise = cli.noise_ceiling(t['table'])
    lines += [
        '',
        '## On the animal table: a λ sweep of DARTS- against NSGA-II and random search',
        '',
        f'Target: the table\'s median latency, {t["target"]:.0f} µs at batch 1 (lookup table). '
        f'{len(t["lambdas"])} values of λ × {t["cells"].shape[0]} seeds, {_EPOCHS.value} epochs × '
        f'{_STEPS.value} steps each; one seed\'s sweep took {t["per_seed_seconds"]:.0f} s of '
        f'search, the table trains a cell in {t["cell_seconds"]:.1f} s on average, so the '
        f'discrete strategies get {t["queries"]} queries per seed ({_DISCRETE_SEEDS.value} '
        'seeds).',
        '',
        '| λ | test accuracy (seeds) | latency µs (seeds) | E[latency] µs, last epoch |',
        '|---|---|---|---|',
    ]
    for s in t['sweep']:
      a = [r['acc'] for r in s['rows']]
      lat = [r['latency'] for r in s['rows']]
      lines.append(
          f'| {s["weight"]:g} | {_mean_sd(a)} | {np.mean(lat):.0f} ± {np.std(lat, ddof=1):.0f} | '
          f'{s["expected"]:.0f} |'
      )
    hv_r = t['hv']['random']
    lines += [
        '',
        '| front | hypervolume ratio, mean ± std | minus random search, ± SE |',
        '|---|---|---|',
        f'| DARTS- λ sweep (one front per seed) | {_mean_sd(t["hv_search"])} | '
        f'{cli.against_random(t["hv_search"], hv_r, 0.0, higher_is_better=True, digits=3)} |',
        f'| NSGA-II, {t["queries"]} queries | {_mean_sd(t["hv"]["nsga2"])} | '
        f'{cli.against_random(t["hv"]["nsga2"], hv_r, 0.0, higher_is_better=True, digits=3)} |',
        f'| random search, {t["queries"]} queries | {_mean_sd(hv_r)} | |',
        '',
        f'![fronts]({os.path.relpath(figure_path, "docs")})',
        '',
        f"The ground truth's noise: the table's two seeds agree at Kendall τ "
        f"{noise['test_acc_tau']:.2f} on test accuracy, and a cell's seed mean has a standard "
        f"error of {noise['cell_se']:.4f}; the latencies are the lookup table's predictions "
        '(ρ 0.875 against measured networks at batch 64, docs/animal_table.md).',
    ]
  if darts_out is not None:
    d = darts_out
    lines += [
        '',
        '## In the DARTS space: two latency targets, retrained and exported',
        '',
        f'Lookup table `{d["lut"]}` (batch {d["lut_meta"].get("batch")}, '
        f'{d["lut_meta"].get("channels")} channels, {d["lut_meta"].get("layers")} cells, '
        f'{d["lut_meta"].get("backend")}): DARTS_V2 predicted at {d["reference"]:.0f} µs, the '
        f'cheapest derivable cell at {d["cheapest"]:.0f} µs. λ = {_DARTS_WEIGHT.value:g}, '
        f'hard target: {"yes" if _DARTS_HARD.value else "no"}, timed in the search: '
        f'{"yes" if _DARTS_HARD.value and _DARTS_MEASURED.value else "no"}. Latencies at batch '
        f'{d["lut_meta"].get("batch")}.',
        '',
        '| target µs | derived cell, predicted µs | exported (jax_export), measured µs, median '
        '(min-max over rounds) | measured / target | in the search: predicted → timed µs | '
        'test acc | params M |',
        '|---|---|---|---|---|---|---|',
    ]
    for r in d['rows']:
      low, high = r['measured_range']
      lines.append(
          f'| {r["target"]:.0f} | {r["predicted"]:.0f} | {r["measured"]:.0f} ({low:.0f}-{high:.0f}) '
          f'| {r["measured"] / r["target"]:.2f} | '
          + (', '.join(f'{p:.0f} → {m:.0f}' for p, m in r.get('rounds', [])) or '-')
          + f' | {r["test_acc"]:.4f} | {r["params_m"]:.3f} |'
      )
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv

  def go():
    workdir = _WORKDIR.value
    os.makedirs(workdir, exist_ok=True)
    table_out = darts_out = None
    if 'table' in _PARTS.value:
      table_out = table_part(workdir)
      figure(table_out, _FIGURE.value)
    if 'targets' in _PARTS.value:
      darts_out = darts_part(workdir, _DARTS_LUT.value)
    text = markdown(table_out, darts_out, _FIGURE.value)
    with open(_OUT.value, 'w') as f:
      f.write(text)
    print(text)
    summary = {'table': table_out is not None, 'darts': darts_out is not None}
    print(json.dumps(summary))

  cli.run_or_exit(go)


if __name__ == '__main__':
  cli.run(main)
