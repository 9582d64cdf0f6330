"""Timing, provenance and child processes shared by the benchmark scripts."""

import resource
import time

# Reference figures measured elsewhere. They are printed with this provenance and
# never as a ratio measured in the current run (../shared/DESIGN.md, "Reference step times").
TORCH_REFERENCE = (
    'quark0/darts, PyTorch 2.13, 2 threads, measured 2026-12-01 on a 2-core CPU '
    '(../shared/DESIGN.md)'
)


def time_step(step, state, *args, steps: int):
  """Cold-compiles the jitted ``step(state, *args) -> (state, metrics)``, then times ``steps`` calls.

  Returns:
    ``(compile_s, step_s, metrics)``: the lower+compile seconds, the mean
    seconds per step after one warm-up step, and the last step's metrics.
  """
  import jax

  t = time.perf_counter()
  compiled = step.lower(state, *args).compile()
  compile_s = time.perf_counter() - t
  state, _ = compiled(state, *args)  # warm-up
  jax.block_until_ready(state)
  t = time.perf_counter()
  for _ in range(steps):
    state, metrics = compiled(state, *args)
  jax.block_until_ready(state)
  return compile_s, (time.perf_counter() - t) / steps, metrics


def time_seeds(name: str, estimator, seeds: int, queries: int, **settings):
  """Times ``seeds`` searches of strategy ``name`` (``nas_jax.discrete.run_seeds``: one
  compiled, vmapped program) twice: the first call with its compile, then the compiled one.
  NSGA-II asks 20 per generation and BANANAS 10 (``max_queries=queries``); ``settings``
  go to the strategy.

  Returns:
    ``(first call s, second call s, trace)``.
  """
  import jax
  import numpy as np

  from nas_jax import discrete
  from nas_jax.strategies import discrete as ds

  batch = {'nsga2': 20, 'bananas': 10}.get(name, 1)
  if name == 'bananas':
    settings = dict(settings, max_queries=queries)
  strategy = ds.get(name, **settings)
  keys = discrete.seed_keys(np.arange(seeds))
  walls = []
  for _ in range(2):
    start = time.perf_counter()
    trace = discrete.run_seeds(strategy, estimator, estimator.space, keys, queries, batch)
    jax.block_until_ready(trace)
    walls.append(time.perf_counter() - start)
  return walls[0], walls[1], trace


def peak_rss_gib() -> float:
  """This process's peak resident memory in GiB (host memory, not an accelerator's)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def device_info() -> dict:
  """The child's backend and device, and its peak device memory where the backend reports it.

  Returns:
    A dict with ``backend``, ``device_kind``, ``devices``, ``jax`` (the version)
    and ``peak_device_gib`` (None on backends without memory statistics, e.g. CPU).
  """
  import jax

  device = jax.devices()[0]
  try:
    stats = device.memory_stats() or {}
  except Exception:  # pylint: disable=broad-except  (backends without memory statistics)
    stats = {}
  peak = stats.get('peak_bytes_in_use')
  return {
      'backend': jax.default_backend(),
      'device_kind': device.device_kind,
      'devices': jax.device_count(),
      'jax': jax.__version__,
      'peak_device_gib': peak / 2**30 if peak else None,
  }


def provenance_line(results: dict) -> str:
  """One line saying where and when the rows in ``results`` (name -> child result) were measured."""
  import datetime
  import os

  if not results:
    return 'run: no row finished'
  first = next(iter(results.values()))
  line = (
      f'run: {datetime.date.today().isoformat()}, backend {first["backend"]} '
      f'({first["devices"]} x {first["device_kind"]}), {os.cpu_count()} CPU cores, '
      f'JAX {first["jax"]}, each row a fresh process with a cold compile'
  )
  peaks = [
      f'{name} {r["peak_device_gib"]:.2f}'
      for name, r in results.items()
      if r.get('peak_device_gib') is not None
  ]
  if peaks:
    line += '; peak device memory GiB: ' + ', '.join(peaks)
  return line


def timed_run(argv: list[str], env: dict, cwd: str):
  """``(completed process, wall seconds)`` of ``python argv`` in ``cwd`` (output captured)."""
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel

  start = time.perf_counter()
  proc = subprocess.run(
      [sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
  )
  return proc, time.perf_counter() - start


def run_child(module: str, args: list[str], timeout: int):
  """Runs ``python -m module *args`` with the compilation cache off; parses its last stdout line.

  Each benchmark row runs in its own process, so "compile" is a cold compile
  and the peak RSS is the row's own.

  Returns:
    ``(result, None)`` with the child's JSON result, or ``(None, why)`` with a
    short reason (timeout, or the child's last stderr line).
  """
  return run_children(module, [args], timeout)[0]


def run_children(module: str, arg_lists: list[list[str]], timeout: int, env=None):
  """:func:`run_child` for several children at once (started together, run concurrently).

  ``env`` adds variables to the children's environment. Returns one
  ``(result, why)`` per child, in order.
  """
  import json
  import os
  import subprocess
  import sys
  import time

  env = dict(
      os.environ, JAX_ENABLE_COMPILATION_CACHE='false', TF_CPP_MIN_LOG_LEVEL='3', **(env or {})
  )
  procs = [
      subprocess.Popen(
          [sys.executable, '-m', module, *args],
          env=env,
          stdout=subprocess.PIPE,
          stderr=subprocess.PIPE,
          text=True,
      )
      for args in arg_lists
  ]
  deadline = time.monotonic() + timeout
  out = []
  for proc in procs:
    try:
      stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.communicate()
      out.append((None, f'not finished in {timeout} s'))
      continue
    if proc.returncode:
      lines = stderr.strip().splitlines() or ['no output']
      out.append((None, f'failed: {lines[-1]}'))
      continue
    out.append((json.loads(stdout.strip().splitlines()[-1]), None))
  return out


def run_seed_rows(module: str, plan, queries: int, seeds: int, timeout: int, extra_args=()) -> dict:
  """Each ``(row, measured seeds)`` of ``plan`` in its own child (``python -m module
  --child=row --child_seeds=n --queries=queries *extra_args``, see :func:`run_child`); returns
  ``{row: result}`` with the child's wall projected to ``seeds`` seeds (``projected``). A
  failed row is printed and left out."""
  results = {}
  for row, measured in plan:
    args = [f'--child={row}', f'--child_seeds={measured}', f'--queries={queries}', *extra_args]
    res, why = run_child(module, args, timeout)
    if res is None:
      print(f'{row}: failed ({why})')
      continue
    res['projected'] = res['wall'] * seeds / res['measured_seeds']
    results[row] = res
  return results
