"""Latency of an exported run's artifacts against the JAX model, over repeated rounds.

  python -m benchmarks.export --workdir=RUN [--rounds=5] [--repeats=20]

``RUN`` is a retraining run that ``python -m experiments.export`` has exported (``RUN/export``).
Each round measures the in-process JAX model (``jax.jit`` of the same inference function) and
then every artifact in a fresh process (``nas_jax.export.latency_rounds``, as the export
checks it), each the median of ``--repeats`` calls at batch 1 and at the run's protocol
batch. The table gives, per artifact and batch, the median over rounds with its min-max, and
the artifact's time over JAX's *in the same round* as mean +- the standard error over rounds:
the one ratio this script claims. A ratio within two standard errors of 1 is a tie. Run it
on a quiet machine: every number is a timing.
"""

import argparse
import json
import os


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--repeats', type=int, default=20)
  args = parser.parse_args()
  import jax
  import numpy as np

  from benchmarks.common import device_info
  from nas_jax import data, export

  report_path = os.path.join(args.workdir, export.EXPORT_DIR, export.REPORT)
  if not os.path.exists(report_path):
    raise SystemExit(f'error: {report_path} does not exist: export the run first')
  with open(report_path) as f:
    report = json.load(f)
  run = export.read_run(args.workdir)
  meta = data.dataset_meta(run.config.dataset)
  images = np.asarray(data.test_split(run.config).images, np.float32)
  batches = sorted({1, int(report['protocol_batch'])})
  formats = [f for f, e in report['formats'].items() if 'error' not in e]
  jitted = jax.jit(export.inference_fn(run.model, run.variables, meta.mean, meta.std))
  print(device_info())
  print(f'{args.workdir}: {report["genotype"]}; {args.rounds} rounds x {args.repeats} calls')
  times = {name: {b: [] for b in batches} for name in ['jax', *formats]}
  for r in range(args.rounds):
    _, latency = export.logits_and_latency(
        jitted, images[: max(batches)], max(batches), batches, args.repeats
    )
    for b in batches:
      times['jax'][b].append(latency[str(b)])
    for fmt in formats:
      (one,) = export.latency_rounds([args.workdir], fmt, batches, rounds=1, repeats=args.repeats)
      for b in batches:
        times[fmt][b] += one[b]
    print(f'  round {r + 1}/{args.rounds} done', flush=True)
  head = ' | '.join(f'ms @ {b} (min-max) | / JAX @ {b}, ± SE' for b in batches)
  print(f'| artifact | {head} |')
  print('|---|' + '---|---|' * len(batches))
  for name, per_batch in times.items():
    cells = []
    for b in batches:
      t = np.asarray(per_batch[b]) * 1e3
      ratio = t / (np.asarray(times['jax'][b]) * 1e3)
      se = ratio.std(ddof=1) / np.sqrt(len(ratio)) if len(ratio) > 1 else float('nan')
      cells.append(
          f'{np.median(t):.2f} ({t.min():.2f}-{t.max():.2f}) | '
          + ('1' if name == 'jax' else f'{ratio.mean():.2f} ± {se:.2f}')
      )
    print(f'| {"JAX (in process)" if name == "jax" else name} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
  main()
