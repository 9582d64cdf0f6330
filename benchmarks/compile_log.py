"""Where does the test suite's time go? Tables from a compile log of one pytest run.

  NAS_JAX_COMPILE_LOG=/tmp/cl.jsonl JAX_COMPILATION_CACHE_DIR=$(mktemp -d) \
      .venv/bin/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder tests
  python -m benchmarks.compile_log /tmp/cl.jsonl [--top=25]

``tests/conftest.py`` writes one JSON line per test when ``NAS_JAX_COMPILE_LOG`` is set: its
wall seconds, JAX's trace, lowering and XLA compile seconds in the pytest worker, and each
XLA compilation (program name and seconds) and persistent-cache hit. With an empty cache
directory every compilation is a cold one, as on a fresh clone. Subprocesses a test starts
are not in the log; their time shows as the test's wall time less its in-process seconds.

Prints three tables:

- per test file: tests, wall seconds, XLA compile seconds, trace + lowering seconds, and the
  rest (running, and subprocesses);
- the slowest tests, the same columns;
- programs by name: how many times a program of that name compiled (distinct shapes or
  settings: a program compiled twice with the same key is a cache hit, not a compilation),
  in how many files, and the seconds. A name compiled in many files is the place to share one
  compiled program between tests.
"""

from __future__ import annotations

import argparse
import collections
import json
import os


def read(path: str) -> list[dict]:
  """The log's rows (one per test)."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _seconds(row: dict) -> tuple[float, float, float]:
  """``(XLA compile, trace + lowering, rest)`` seconds of one test row."""
  compile_s = row.get('backend_compile', 0.0)
  trace_s = row.get('jaxpr_trace', 0.0) + row.get('jaxpr_to_mlir_module', 0.0)
  return compile_s, trace_s, max(row['wall'] - compile_s - trace_s, 0.0)


def by_file(rows: list[dict]) -> list[tuple]:
  """``(file, tests, wall, compile, trace, rest)``, the slowest file first."""
  acc = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
  for row in rows:
    a = acc[os.path.basename(row['test'].split('::')[0])]
    a[0] += 1
    a[1] += row['wall']
    for k, v in enumerate(_seconds(row)):
      a[2 + k] += v
  return sorted(((f, *v) for f, v in acc.items()), key=lambda r: -r[2])


def by_program(rows: list[dict]) -> list[tuple]:
  """``(program, compilations, files, seconds)``, the most seconds first."""
  count = collections.Counter()
  seconds = collections.Counter()
  files = collections.defaultdict(set)
  for row in rows:
    f = os.path.basename(row['test'].split('::')[0])
    for name, s in row.get('compiled', []):
      count[name] += 1
      seconds[name] += s
      files[name].add(f)
  return sorted(((n, count[n], len(files[n]), seconds[n]) for n in count), key=lambda r: -r[3])


def _table(header: list[str], rows: list[tuple]) -> str:
  fmt = lambda v: f'{v:.1f}' if isinstance(v, float) else str(v)
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(fmt(v) for v in r) + ' |' for r in rows]
  return '\n'.join(lines)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('log', help='the NAS_JAX_COMPILE_LOG file of one pytest run')
  parser.add_argument('--top', type=int, default=25)
  args = parser.parse_args(argv)
  rows = read(args.log)
  total = sum(r['wall'] for r in rows)
  compile_s = sum(_seconds(r)[0] for r in rows)
  print(
      f'{len(rows)} tests, {total:.0f} s of test time (summed over workers), '
      f'{compile_s:.0f} s of it XLA compiles in the pytest workers\n'
  )
  cols = ['wall s', 'compile s', 'trace+lower s', 'rest s']
  print(_table(['file', 'tests', *cols], by_file(rows)))
  print()
  slow = sorted(rows, key=lambda r: -r['wall'])[: args.top]
  print(_table(['test', *cols], [(r['test'], r['wall'], *_seconds(r)) for r in slow]))
  print()
  print(_table(['program', 'compilations', 'files', 'compile s'], by_program(rows)[: args.top]))


if __name__ == '__main__':
  main()
