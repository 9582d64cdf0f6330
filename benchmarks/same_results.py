"""Are the results bit-identical before and after a change that should not alter them?

  python -m benchmarks.same_results --out=runs/same_results/now.json \
      [--against=benchmarks/same_results.json] [--jobs=search_darts,discrete_rea,...]

Runs a fixed set of tiny jobs through the launchers, each in a fresh process with the
persistent compilation cache off and in its own work directory:

- a differentiable search of every strategy in both spaces (DARTS space at 8x8, 2 cells of
  C=4; the shipped table's NB201 space), a 2-seed vmapped search and DARTS' exact 2nd order;
- a retraining of a DARTS cell and of an NB201 cell;
- every discrete strategy on the shipped table (3 vmapped seeds), one seed query by query,
  NSGA-II over accuracy and params, and live training in the table's protocol;
- a table build of 3 cells at 2 seeds.

Each output file (``*.npz``, ``*.json``, ``*.jsonl``, ``*.txt``, checkpoints and TensorBoard
excepted) is reduced to a SHA-256 digest of its content with every timing field removed (keys
naming seconds, time, wall, ETA or dates). ``--against`` compares with a saved set and prints
one row per job: same, or the files and keys that differ. Exit status 1 if any differ.

The saved set ``benchmarks/same_results.json`` was taken on this project's 2-core CPU (JAX
0.10.2, XLA:CPU); floating-point results are only comparable on the same backend and machine
type: the set records its machine (:func:`machine`: JAX, backend, CPU model, a digest of the
CPU's feature flags) and a run on another prints a note first. Cost: about 15-25 minutes on
the 2-core CPU.
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile

import numpy as np

from benchmarks.common import timed_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_DARTS = [
    '--config.image_size=8',
    '--config.layers=2',
    '--config.init_channels=4',
    '--config.batch_size=8',
    '--config.epochs=2',
    '--config.max_steps_per_epoch=2',
    '--config.log_every=0',
    '--config.tensorboard=False',
]
TINY_TABLE = [
    '--config.epochs=1',
    '--config.max_steps_per_epoch=3',
    '--config.batch_size=16',
    '--config.log_every=0',
    '--config.tensorboard=False',
]
STRATEGIES = ('darts', 'gdas', 'snas', 'pcdarts', 'drnas', 'darts_minus', 'fairdarts', 'beta_darts')
DISCRETE = ('random', 'rea', 'local_search', 'reinforce', 'bananas', 'hyperband', 'nsga2')


def _search(config, strategy, extra):
  args = ['experiments.search', f'--config=experiments/configs/{config}']
  return args + [f'--config.strategy_name={strategy}'] + extra


def jobs() -> dict[str, list[str]]:
  """Job name -> launcher argv (module first); the work directory is appended."""
  out = {}
  for s in STRATEGIES:
    pcdarts = ['--config.strategy.partial_channels=2'] if s == 'pcdarts' else []
    out[f'search_darts_{s}'] = _search('search_demo.py', s, TINY_DARTS + pcdarts)
    out[f'search_nb201_{s}'] = _search('search_table.py', s, TINY_TABLE + pcdarts)
  out['search_darts_order2'] = _search(
      'search_demo.py',
      'darts',
      TINY_DARTS
      + ['--config.order=2', '--config.space.steps=2', '--config.space.multiplier=2']
      + ['--config.space.primitives=none,max_pool_3x3,skip_connect,sep_conv_3x3'],
  )
  out['search_nb201_drnas_2seeds'] = _search('search_table.py', 'drnas', TINY_TABLE) + [
      '--config.num_seeds=2'
  ]
  tiny_train = [
      '--config.image_size=8',
      '--config.batch_size=16',
      '--config.epochs=1',
      '--config.max_steps_per_epoch=3',
      '--config.log_every=0',
      '--config.tensorboard=False',
  ]
  out['train_darts'] = (
      ['experiments.train', '--config=experiments/configs/train_demo.py']
      + tiny_train
      + ['--config.layers=3', '--config.init_channels=4']
  )
  out['train_nb201'] = [
      'experiments.train',
      '--config=experiments/configs/train_nb201_demo.py',
  ] + tiny_train
  for s in DISCRETE:
    config = f'experiments/configs/discrete_{s}.py'
    out[f'discrete_{s}'] = ['experiments.discrete', f'--config={config}', '--config.seeds=3']
  out['discrete_rea_one_seed'] = [
      'experiments.discrete',
      '--config=experiments/configs/discrete_rea.py',
      '--config.max_queries=30',
      '--config.budget=30',
  ]
  out['discrete_rea_live'] = [
      'experiments.discrete',
      '--config=experiments/configs/discrete_rea.py',
      '--config.estimator_name=train',
      '--config.max_queries=3',
      '--config.budget=3',
      '--config.estimator.protocol.epochs=1',
  ]
  out['tabulate'] = [
      'experiments.tabulate',
      '--config=experiments/configs/tabulate_nb201_mnist.py',
      '--config.max_cells=3',
      '--config.protocol.epochs=1',
  ]
  return out


# measured seconds: a live query's cost and the seconds spent are wall time
TIMING = (
    'second',
    'time',
    'wall',
    'eta',
    'date',
    'elapsed',
    'clock',
    'throughput',
    'per_s',
    'cost',
    'spent',
)


def _timing(key: str) -> bool:
  key = key.lower()
  return any(t in key for t in TIMING)


def _strip(value):
  if isinstance(value, dict):
    return {k: _strip(v) for k, v in value.items() if not _timing(str(k))}
  if isinstance(value, list):
    return [_strip(v) for v in value]
  return value


def _digest(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()[:16]


def fingerprint_file(path: str) -> dict[str, str] | str:
  """A digest of one output (per array for ``.npz``), timing fields removed."""
  if path.endswith('.npz'):
    with np.load(path, allow_pickle=False) as z:
      return {
          k: _digest(f'{z[k].dtype}{z[k].shape}'.encode() + np.ascontiguousarray(z[k]).tobytes())
          for k in sorted(z.files)
          if not _timing(k)
      }
  with open(path, encoding='utf-8') as f:
    text = f.read()
  if path.endswith('.json'):
    return _digest(json.dumps(_strip(json.loads(text)), sort_keys=True).encode())
  if path.endswith('.jsonl'):
    rows = [_strip(json.loads(line)) for line in text.splitlines() if line.strip()]
    return _digest(json.dumps(rows, sort_keys=True).encode())
  return _digest(text.encode())


def fingerprint_dir(workdir: str) -> dict:
  out = {}
  for root, dirs, files in os.walk(workdir):
    dirs[:] = sorted(d for d in dirs if d not in ('checkpoints', 'tensorboard', 'results'))
    for name in sorted(files):
      if name.endswith(('.npz', '.json', '.jsonl', '.txt')):
        path = os.path.join(root, name)
        out[os.path.relpath(path, workdir)] = fingerprint_file(path)
  return out


def run_job(argv: list[str], workdir: str) -> tuple[float, str]:
  env = dict(os.environ, JAX_ENABLE_COMPILATION_CACHE='false', TF_CPP_MIN_LOG_LEVEL='3')
  proc, seconds = timed_run(['-m', *argv, f'--workdir={workdir}'], env, REPO)
  if proc.returncode:
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
    return seconds, f'failed ({proc.returncode}): {" ".join(tail)}'
  return seconds, ''


def compare(now: dict, then: dict) -> list[str]:
  """The files (and npz keys) whose digests differ between two fingerprints of one job."""
  diffs = []
  for name in sorted(set(now) | set(then)):
    a, b = now.get(name), then.get(name)
    if a == b:
      continue
    if isinstance(a, dict) and isinstance(b, dict):
      keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
      diffs.append(f'{name}[{",".join(keys)}]')
    else:
      diffs.append(name if a is not None and b is not None else f'{name} (only in one)')
  return diffs


def machine() -> dict[str, str]:
  """What floating-point results depend on besides the code: the JAX version, the backend, the
  CPU model and a digest of its feature flags (XLA:CPU compiles for the features it finds)."""
  import platform  # pylint: disable=import-outside-toplevel

  import jax  # pylint: disable=import-outside-toplevel

  model, cpu_flags = platform.processor(), ''
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        key, _, value = line.partition(':')
        if key.strip() == 'model name':
          model = value.strip()
        elif key.strip() == 'flags':
          cpu_flags = ' '.join(sorted(value.split()))
  except OSError:
    pass
  return {
      'jax': jax.__version__,
      'backend': jax.default_backend(),
      'cpu': model,
      'cpu_flags': _digest(cpu_flags.encode()),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True)
  parser.add_argument('--against', default='')
  parser.add_argument('--jobs', default='', help='comma-separated job names (default: all)')
  args = parser.parse_args()
  table = jobs()
  names = [n for n in args.jobs.split(',') if n] or list(table)
  unknown = sorted(set(names) - set(table))
  if unknown:
    sys.exit(f'error: unknown job(s) {", ".join(unknown)}; known: {", ".join(table)}')
  then, here = {}, machine()
  if args.against:
    with open(args.against, encoding='utf-8') as f:
      saved = json.load(f)
    then = saved['jobs']
    if saved.get('machine') != here:
      print(
          f'note: the saved set was taken on {saved.get("machine", "an unrecorded machine")}, '
          f'this run on {here}: floating-point results may differ for that reason alone\n'
      )
  result = {}
  if os.path.exists(args.out):  # resume: jobs already fingerprinted are kept
    with open(args.out, encoding='utf-8') as f:
      result = {k: v for k, v in json.load(f)['jobs'].items() if 'error' not in v}
  print('| job | seconds | files | against saved |')
  print('|---|---|---|---|')
  differ = False
  for name in names:
    if name not in result:
      with tempfile.TemporaryDirectory() as tmp:
        workdir = os.path.join(tmp, name)
        seconds, error = run_job(table[name], workdir)
        result[name] = {'error': error} if error else fingerprint_dir(workdir)
      os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
      with open(args.out + '.tmp', 'w', encoding='utf-8') as f:
        json.dump({'jobs': result, 'machine': here}, f, indent=1, sort_keys=True)
      os.replace(args.out + '.tmp', args.out)
    else:
      seconds = float('nan')
    verdict = '—'
    if name in then:
      diffs = compare(result[name], then[name])
      differ |= bool(diffs)
      verdict = 'same' if not diffs else 'DIFFERENT: ' + '; '.join(diffs)
    error = result[name].get('error')
    files = error or str(len(result[name]))
    print(f'| {name} | {seconds:.0f} | {files} | {verdict} |', flush=True)
  sys.exit(1 if differ else 0)


if __name__ == '__main__':
  main()
