"""How long do test files take with a cold compilation cache under each set of XLA:CPU flags?

  python -m benchmarks.test_compile [--files=tests/test_bilevel.py,tests/test_search.py]
      [--flags=default,expensive_off] [--repeats=2]

Each row runs pytest on the files in a fresh process with ``XLA_FLAGS`` set to one flag set and
``JAX_COMPILATION_CACHE_DIR`` pointing at a new empty directory, so every program compiles
(the cold compile a fresh clone pays). The flag sets alternate within each repeat, so a ratio
between two rows is taken in the same run, on the same machine and load. It prints a table of
wall seconds (min and median over the repeats), and whether the tests passed: a flag set that
changes a numerical result fails the tests' own checks.

Flag sets (``--flags``; the tests' own default is ``default``, set in ``tests/conftest.py``):

- ``default``: ``--xla_backend_optimization_level=0``;
- ``expensive_off``: that plus ``--xla_llvm_disable_expensive_passes=true`` (precise: its
  gradients agree with float64 within 1e-6, ``docs/flag_precision.md``);
- ``o2``: XLA's own default optimization level (no flags).

``--xla_cpu_use_fusion_emitters=false`` is not offered: it miscomputes gradients
(``benchmarks/flag_precision.py``). Never time anything while a build or another benchmark
runs: the machine has 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from benchmarks.common import timed_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAG_SETS = {
    'default': '--xla_backend_optimization_level=0',
    'expensive_off': (
        '--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true'
    ),
    'o2': '',
}
DEFAULT_FILES = 'tests/test_bilevel.py,tests/test_search.py,tests/test_wiring.py'


def run_once(files: list[str], flags: str) -> tuple[float, bool, str]:
  """``(wall seconds, passed, pytest's last line)`` of one cold-cache pytest run."""
  with tempfile.TemporaryDirectory() as cache:
    env = dict(os.environ, XLA_FLAGS=flags, JAX_COMPILATION_CACHE_DIR=cache)
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    proc, seconds = timed_run(['-m', 'pytest', '-q', '-p', 'no:cacheprovider', *files], env, REPO)
  lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
  return seconds, proc.returncode == 0, lines[-1] if lines else proc.stderr[-200:]


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--files', default=DEFAULT_FILES, help='comma-separated test files')
  parser.add_argument('--flags', default='default,expensive_off', help='comma-separated flag sets')
  parser.add_argument('--repeats', type=int, default=2)
  args = parser.parse_args(argv)
  files = [f for f in args.files.split(',') if f]
  names = [n for n in args.flags.split(',') if n]
  unknown = [n for n in names if n not in FLAG_SETS]
  if unknown or args.repeats < 1 or not files:
    parser.exit(
        2, f'error: flag sets must be among {sorted(FLAG_SETS)}, repeats >= 1, files given\n'
    )
  seconds = {n: [] for n in names}
  passed = {n: True for n in names}
  last = {}
  for r in range(args.repeats):
    order = names if r % 2 == 0 else names[::-1]  # alternate, so drift favours neither
    for name in order:
      s, ok, line = run_once(files, FLAG_SETS[name])
      seconds[name].append(s)
      passed[name] &= ok
      last[name] = line
      print(f'repeat {r + 1}, {name}: {s:.1f} s, {line}', flush=True)
  print(f'\n{len(files)} test files: {", ".join(files)}; cold compilation cache per run\n')
  print('| flag set | XLA_FLAGS | min s | median s | vs first | tests |')
  print('|---|---|---|---|---|---|')
  base = min(seconds[names[0]])
  for name in names:
    low = min(seconds[name])
    print(
        f'| {name} | `{FLAG_SETS[name] or "(none)"}` | {low:.1f} | '
        f'{statistics.median(seconds[name]):.1f} | {low / base:.2f} | '
        f'{"passed" if passed[name] else "FAILED: " + last[name]} |'
    )


if __name__ == '__main__':
  main()
