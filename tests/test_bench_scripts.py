"""The benchmark scripts' own logic (their timings are taken on a quiet machine, not here)."""

import pytest

from benchmarks import test_compile


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
