"""Peak memory of an evaluation network, from XLA's analysis of its compiled programs.

``network_memory(model, recipe, image_shape, batch)`` compiles two programs at ``batch`` images
and reads ``compiled.memory_analysis()`` of each (nothing is run):

* **inference**: the network in eval mode, its variables and a batch in, the logits out;
* **training**: one retraining step (``nas_jax.train.make_train_step``: forward, backward,
  drop path, auxiliary head, the SGD update; the state donated, as the retraining runs it).

A program's peak is ``arguments + outputs + temporaries - aliased`` bytes: XLA's buffer
assignment (the temporaries' size is its peak of live intermediate buffers), not a process's
resident size. :func:`measured_peak` measures the latter in a fresh process, for checking.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ['cached_memory', 'measured_peak', 'network_memory', 'program_memory']


def program_memory(compiled) -> dict[str, int]:
  """``{'arguments', 'outputs', 'temporaries', 'aliased', 'peak'}`` bytes of a compiled program
  (``jax.jit(f).lower(...).compile()``)."""
  stats = compiled.memory_analysis()
  if stats is None:
    raise ValueError(f'{jax.default_backend()} gives no memory analysis of a compiled program')
  out = {
      'arguments': int(stats.argument_size_in_bytes),
      'outputs': int(stats.output_size_in_bytes),
      'temporaries': int(stats.temp_size_in_bytes),
      'aliased': int(stats.alias_size_in_bytes),
  }
  out['peak'] = out['arguments'] + out['outputs'] + out['temporaries'] - out['aliased']
  return out


def _programs(model, recipe, image_shape, batch: int):
  """The inference and training programs of ``model`` at ``batch``, lowered, with their
  abstract arguments."""
  from nas_jax import train  # pylint: disable=import-outside-toplevel

  tx, schedule = train.make_optimizer(recipe, 1)
  state = jax.eval_shape(lambda: train.initial_state(model, tx, image_shape, recipe.seed))
  images = jax.ShapeDtypeStruct((batch, *image_shape), jnp.float32)
  labels = jax.ShapeDtypeStruct((batch,), jnp.int32)

  def infer(params, batch_stats, x):
    logits, _ = model.apply({'params': params, 'batch_stats': batch_stats}, x, train=False)
    return logits

  step = train.make_train_step(model, tx, schedule, recipe, 1)
  inference = jax.jit(infer).lower(state.params, state.batch_stats, images)
  training = jax.jit(step, donate_argnums=0).lower(state, images, labels)
  return inference, training


PROGRAMS = ('inference', 'training')


def network_memory(
    model, recipe, image_shape, batch: int, programs=PROGRAMS
) -> dict[str, dict[str, int]]:
  """``{'inference': ..., 'training': ...}`` (those named in ``programs``), each
  :func:`program_memory` of the compiled program at ``batch`` images of ``image_shape``
  (module doc). Only the programs named are compiled."""
  unknown = [p for p in programs if p not in PROGRAMS]
  if unknown:
    raise ValueError(f'unknown program {unknown[0]!r}; known: {", ".join(PROGRAMS)}')
  lowered = dict(zip(PROGRAMS, _programs(model, recipe, tuple(image_shape), batch)))
  return {p: program_memory(lowered[p].compile()) for p in programs}


def cached_memory(
    networks, recipe, image_shape, batch: int, cache_dir: str, log=print
) -> list[dict[str, int]]:
  """``[{'memory_inference': peak, 'memory_training': peak}]`` bytes of each ``(key, build)``
  in ``networks`` (``build()`` gives the network), from :func:`network_memory` at ``batch``.

  Each result is written to ``cache_dir/<key>.json`` when measured and read from there when
  present (a damaged file is measured again), so an interrupted pass resumes where it stopped.
  Each network needs two compiles (seconds for a small network on a CPU).
  """
  import time  # pylint: disable=import-outside-toplevel

  from nas_jax.util import atomic_write  # pylint: disable=import-outside-toplevel

  os.makedirs(cache_dir, exist_ok=True)
  out, start, done = [], time.time(), 0
  networks = list(networks)
  for i, (key, build) in enumerate(networks):
    path = os.path.join(cache_dir, f'{key}.json')
    result = None
    if os.path.exists(path):
      try:
        with open(path) as f:
          kept = json.load(f)
        result = {f'memory_{p}': int(kept[f'memory_{p}']) for p in PROGRAMS}
      except (OSError, ValueError, KeyError, TypeError):
        result = None
    if result is None:
      peaks = network_memory(build(), recipe, image_shape, batch)
      result = {f'memory_{p}': peaks[p]['peak'] for p in PROGRAMS}
      atomic_write(path, json.dumps(result) + '\n')
      done += 1
      if done % 50 == 0 or (len(networks) < 200 and done % 10 == 0):
        log(f'memory: {i + 1}/{len(networks)} networks, {(time.time() - start) / done:.1f} s each')
    out.append(result)
  return out


def _rss_kib(field: str) -> int:
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith(field + ':'):
        return int(line.split()[1])
  raise RuntimeError(f'/proc/self/status has no {field}')


def _measure_main(spec_json: str) -> None:
  """The fresh process of :func:`measured_peak`: builds the program, compiles it, allocates its
  arguments, resets the peak resident size, runs it once, and prints the growth in bytes."""
  from nas_jax import data, train  # pylint: disable=import-outside-toplevel

  spec = json.loads(spec_json)
  config = train.read_config(spec['config'])
  genotype = train.validate_config(config)
  meta = data.dataset_meta(config.dataset)
  shape = data.input_shape(config.dataset, config.image_size)
  model = train.build_model(config, genotype, meta.num_classes)
  recipe = train.Recipe.from_config(config)
  inference, training = _programs(model, recipe, shape, spec['batch'])
  tx, _ = train.make_optimizer(recipe, 1)
  state = train.initial_state(model, tx, shape, recipe.seed)
  x = jnp.ones((spec['batch'], *shape), jnp.float32)
  y = jnp.zeros((spec['batch'],), jnp.int32)
  if spec['program'] == 'inference':
    run, args = inference.compile(), (state.params, state.batch_stats, x)
  else:
    run, args = training.compile(), (state, x, y)
  jax.block_until_ready(args)
  with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')  # resets the peak resident size (VmHWM) to the current one
  before = _rss_kib('VmRSS')
  jax.block_until_ready(run(*args))
  print(json.dumps({'growth_bytes': (_rss_kib('VmHWM') - before) * 1024}))


def measured_peak(config_path: str, program: str, batch: int) -> int:
  """The growth of a fresh process's peak resident size while running ``program``
  (``'inference'`` or ``'training'``) once, for the retraining config saved at
  ``config_path`` (``nas_jax.train.config_json``); Linux only. Arguments and compiled code
  are in place before the peak is reset, so the growth is the run's outputs and temporaries
  (as far as the allocator touches new pages)."""
  spec = json.dumps({'config': config_path, 'program': program, 'batch': int(batch)})
  proc = subprocess.run(
      [sys.executable, '-m', 'nas_jax.memory', spec],
      capture_output=True,
      text=True,
      check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'),
  )
  if proc.returncode:
    raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'failed')
  return int(json.loads(proc.stdout.strip().splitlines()[-1])['growth_bytes'])


def mebibytes(n: Any) -> float:
  return float(np.asarray(n)) / 2**20


if __name__ == '__main__':
  _measure_main(sys.argv[1])
