"""Timing shared by the benchmark scripts."""

import resource
import time


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


def peak_rss_gib() -> float:
  """This process's peak resident memory in GiB."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_child(module: str, args: list[str], timeout: int):
  """Runs ``python -m module *args`` with the compilation cache off; parses its last stdout line.

  Each benchmark row runs in its own process, so "compile" is a cold compile
  and the peak RSS is the row's own.

  Returns:
    ``(result, None)`` with the child's JSON result, or ``(None, why)`` with a
    short reason (timeout, or the child's last stderr line).
  """
  import json
  import os
  import subprocess
  import sys
  env = dict(os.environ, JAX_ENABLE_COMPILATION_CACHE='false', TF_CPP_MIN_LOG_LEVEL='3')
  try:
    proc = subprocess.run([sys.executable, '-m', module, *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
  except subprocess.TimeoutExpired:
    return None, f'not finished in {timeout} s'
  if proc.returncode:
    lines = proc.stderr.strip().splitlines() or ['no output']
    return None, f'failed: {lines[-1]}'
  return json.loads(proc.stdout.strip().splitlines()[-1]), None
