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
