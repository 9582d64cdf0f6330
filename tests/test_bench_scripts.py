"""The benchmark scripts' own logic (their timings are taken on a quiet machine, not here)."""

import json

import pytest

from benchmarks import compile_log, test_compile


def test_compile_table_alternates_flag_sets_and_divides_by_the_first(monkeypatch, capsys):
  calls = []
  fake = {'default': [30.0, 28.0], 'expensive_off': [21.0, 24.0]}  # seconds per repeat

  def run_once(files, flags):
    name = next(n for n, f in test_compile.FLAG_SETS.items() if f == flags)
    calls.append(name)
    return fake[name][sum(c == name for c in calls) - 1], True, '3 passed in 1.0s'

  monkeypatch.setattr(test_compile, 'run_once', run_once)
  test_compile.main(['--files=tests/a.py', '--flags=default,expensive_off', '--repeats=2'])
  # the order alternates between repeats, so a drift in load favours neither
  assert calls == ['default', 'expensive_off', 'expensive_off', 'default']
  out = capsys.readouterr().out.splitlines()
  rows = [line for line in out if line.startswith('| expensive_off')]
  # min 21.0 and median 22.5, against the first set's min 28.0: 0.75
  assert rows and '| 21.0 | 22.5 | 0.75 | passed |' in rows[0]


def test_compile_refuses_an_unknown_flag_set():
  with pytest.raises(SystemExit) as e:
    test_compile.main(['--flags=fusion_off'])
  assert e.value.code == 2


def test_compile_log_tables_sum_per_file_and_count_programs(tmp_path, capsys):
  rows = [
      {
          'test': 'tests/test_a.py::t1',
          'wall': 10.0,
          'backend_compile': 6.0,
          'jaxpr_trace': 1.0,
          'jaxpr_to_mlir_module': 0.5,
          'compiled': [['jit(step)', 4.0], ['jit(init)', 2.0]],
          'hits': [],
      },
      {
          'test': 'tests/test_a.py::t2',
          'wall': 3.0,
          'compiled': [],
          'hits': ['jit(step)'],
      },
      {
          'test': 'tests/test_b.py::t3',
          'wall': 8.0,
          'backend_compile': 5.0,
          'compiled': [['jit(step)', 5.0]],
          'hits': [],
      },
  ]
  log = tmp_path / 'cl.jsonl'
  log.write_text(''.join(json.dumps(r) + '\n' for r in rows))
  loaded = compile_log.read(str(log))
  # test_a.py: 2 tests, 13 s wall, 6 s compile, 1.5 s trace + lowering, 5.5 s rest (10 - 7.5 + 3)
  assert compile_log.by_file(loaded) == [
      ('test_a.py', 2, 13.0, 6.0, 1.5, 5.5),
      ('test_b.py', 1, 8.0, 5.0, 0.0, 3.0),
  ]
  # jit(step) compiled twice (two files; the hit is not a compilation), 9 s
  assert compile_log.by_program(loaded) == [('jit(step)', 2, 2, 9.0), ('jit(init)', 1, 1, 2.0)]
  compile_log.main([str(log), '--top=2'])
  out = capsys.readouterr().out
  assert out.startswith('3 tests, 21 s of test time') and '| jit(step) | 2 | 2 | 9.0 |' in out
