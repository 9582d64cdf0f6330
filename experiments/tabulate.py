"""Builds a tabular benchmark: every unique cell of a space trained under one protocol.

  python -m experiments.tabulate --config=experiments/configs/tabulate_nb201_animal.py \
      --workdir=runs/table_animal [--max_members=N] [--assemble_only] \
      [--local_processes=2] [--from_table=TABLE.npz]

Rerunning the same command with the same --workdir resumes: finished cells are
kept, a corrupt result is retrained. The table is written to WORKDIR/table.npz
(nas_jax.tabular.Table). Bad input prints one line starting with ``error:``
and exits with status 2.

``--local_processes=P`` trains in P processes at once, each pinned to one core
with single-threaded XLA, each taking every P-th pending member; this process
waits for them and assembles the table. On the project's 2-core CPU two such
processes build 1.33x faster than one process using both cores
(``python -m benchmarks.tabular --rows=switch,procs2``). The children die with
their parent, so a killed build resumes as usual.

``--from_table=TABLE.npz`` first writes the members that an assembled table of
the same build holds into --workdir (the shipped table, when the build
directory was lost; or a table to extend with more seeds), then resumes.
"""

import os
import sys

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'Build directory (resumed).', required=True)
_MAX = flags.DEFINE_integer(
    'max_members', None, 'Train at most this many members (per process), then stop.'
)
_ASSEMBLE = flags.DEFINE_bool('assemble_only', False, 'Only assemble table.npz from the results.')
_PROCESSES = flags.DEFINE_integer(
    'local_processes', 1, 'Train in this many one-core processes at once.', lower_bound=1
)
_FROM = flags.DEFINE_string(
    'from_table', None, 'Seed --workdir with the members of this table of the same build first.'
)
_PART = flags.DEFINE_string('part', None, 'k/P: one of the --local_processes children (internal).')
_CONFIG = cli.define_config_file(
    'config', 'experiments/configs/tabulate_nb201_animal.py', 'Tabulate config file.'
)


_OWN_FLAGS = ('--local_processes', '--part', '--from_table')


def _pinned(k: int):
  """A ``preexec_fn``: the child runs on the ``k``-th core and is killed when its parent dies."""

  import ctypes
  import signal

  from nas_jax.runtime import pin_to_core  # imported here: the forked child imports nothing

  try:
    libc = ctypes.CDLL('libc.so.6', use_errno=True)
  except OSError:  # not glibc: the children then outlive a killed parent
    libc = None

  def setup():
    pin_to_core(k)
    if libc is not None:
      libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG

  return setup


def _children(p: int) -> int:
  """Runs ``p`` copies of this command as ``--part=k/p`` children; returns the first failure."""
  import subprocess

  args, skip = [], False
  for a in sys.argv[1:]:  # this command's flags, less the ones that split it
    if skip:
      skip = False
    elif a in _OWN_FLAGS:
      skip = True
    elif not a.startswith(tuple(f + '=' for f in _OWN_FLAGS)):
      args.append(a)
  from nas_jax.runtime import SINGLE_THREAD_XLA_FLAGS as single

  env = dict(os.environ, XLA_FLAGS=f'{os.environ.get("XLA_FLAGS", "")} {single}'.strip())
  procs = [
      subprocess.Popen(
          [sys.executable, '-m', 'experiments.tabulate', *args, f'--part={k}/{p}'],
          env=env,
          preexec_fn=_pinned(k),
      )
      for k in range(p)
  ]
  codes = [proc.wait() for proc in procs]
  return next((c for c in codes if c), 0)


def _parse_part(text: str) -> tuple[int, int]:
  from nas_jax.config_checks import ConfigError

  try:
    k, p = (int(x) for x in text.split('/'))
  except ValueError:
    raise ConfigError(f'--part must be k/P, got {text!r}') from None
  return k, p


def main(argv):
  del argv
  from nas_jax import components  # after flag parsing: keeps --help fast
  from nas_jax.tabular import builder

  part = cli.run_or_exit(lambda: _parse_part(_PART.value)) if _PART.value else None
  plan = cli.run_or_exit(lambda: components.table_plan(_CONFIG.value))
  options = components.build_options(_CONFIG.value)
  if part:  # a child of --local_processes: train its share; the parent assembles
    result = cli.run_or_exit(
        lambda: builder.build(
            plan,
            _WORKDIR.value,
            **options,
            log=lambda line: print(f'[{part[0]}/{part[1]}] {line}', flush=True),
            max_members=_MAX.value,
            part=part,
            assemble=False,
        )
    )
    print(f'[{part[0]}/{part[1]}] trained {result["trained"]} members', flush=True)
    return
  if _FROM.value:  # before any child starts: they then see the unpacked members as done
    cli.run_or_exit(lambda: builder.unpack(plan, _WORKDIR.value, _FROM.value))
  train_here = not _ASSEMBLE.value
  if _PROCESSES.value > 1 and train_here:
    if code := _children(_PROCESSES.value):
      sys.exit(code)
    train_here = False  # the children trained; assemble what they wrote
  result = cli.run_or_exit(
      lambda: builder.build(
          plan,
          _WORKDIR.value,
          **options,
          max_members=_MAX.value,
          assemble_only=not train_here,
      )
  )
  state = 'complete' if result['complete'] else 'partial'
  print(
      f'{result["done"]}/{result["members"]} members ({result["trained"]} trained now, '
      f'{result["corrupt"]} corrupt retrained); {state} table: {result["table"]}'
  )


if __name__ == '__main__':
  cli.run(main)
