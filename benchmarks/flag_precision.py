"""Do XLA:CPU's compile-speed flags change what the search step computes?

  python -m benchmarks.flag_precision [--strategies=darts_minus,fairdarts]

For each strategy, the architecture gradient of one search step (tests/test_wiring.py's
setting: the DARTS cell over 4 parameter-free ops, 2 nodes, 3 cells of C=4, a batch of 4
8x8 images) is computed three ways under each set of ``XLA_FLAGS``, each in a fresh
process with the compilation cache off:

- ``step``: the jitted search step (``alpha - alpha_new`` with ``optax.sgd(1.0)``);
- ``grad``: ``jax.jit(jax.grad(CE(val) + R(alpha)))``, the test's independent reference;
- ``float64``: the same gradient with every array in float64 (x64 on, flags at default),
  from the same float32 state: the truth both are judged against.

It prints the largest absolute error of ``step`` and ``grad`` against ``float64``, next to
the gradient's largest entry. A float32 computation is off by about 1e-7 to 1e-6 here; an
error of 1e-4 or more is a different computation, not rounding.

Cost: about 20 s per process on the 2-core CPU (8 processes per strategy).
"""

import argparse
import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
O0 = '--xla_backend_optimization_level=0'
NO_FUSION = '--xla_cpu_use_fusion_emitters=false'
CHEAP_LLVM = '--xla_llvm_disable_expensive_passes=true'
FLAG_SETS = {
    'XLA default': '',
    "-O0 (the tests' flags)": O0,
    '-O0, no fusion emitters': f'{O0} {NO_FUSION}',
    '-O0, cheap LLVM passes': f'{O0} {CHEAP_LLVM}',
    '-O0, both': f'{O0} {NO_FUSION} {CHEAP_LLVM}',
    'no fusion emitters': NO_FUSION,
}

_CHILD = r"""
import pickle, sys
mode, name, state_path, out_path = sys.argv[1:5]
import jax
if mode == 'f64':
  jax.config.update('jax_enable_x64', True)
import jax.numpy as jnp, numpy as np, optax
from tests import test_wiring as tw
from nas_jax import bilevel

st = tw._strategy(name, **({'partial_channels': 2} if name == 'pcdarts' else {}))
model = tw._model(st)
train, val = tw._batches()
weight_tx = bilevel.weight_optimizer(lambda s: 0.05, momentum=0.9, weight_decay=3e-4, grad_clip=None)
arch_tx = optax.sgd(1.0)
epoch = 2
import os
if mode == 'f32':
  state = bilevel.init_state(model, jax.random.key(0, impl='rbg'), train[0], weight_tx, arch_tx, st)
  rng = np.random.default_rng(1)
  state = state.replace(step=jnp.asarray(epoch, jnp.int32), arch=jax.tree.map(
      lambda a: jnp.asarray(rng.normal(size=a.shape), jnp.float32), state.arch))
  if os.path.exists(state_path):  # every run starts from the first run's state
    with open(state_path, 'rb') as f:
      p, s, a, k = pickle.load(f)
    state = state.replace(params=p, batch_stats=s, arch=a, key=k)
  else:
    with open(state_path, 'wb') as f:
      pickle.dump(jax.device_get((state.params, state.batch_stats, state.arch, state.key)), f)
  params, stats, arch, key0 = state.params, state.batch_stats, state.arch, state.key
  x = val[0]
else:
  with open(state_path, 'rb') as f:
    params, stats, arch, key0 = pickle.load(f)
  wide = lambda t: jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), t)
  params, stats, arch, x = wide(params), wide(stats), wide(arch), jnp.asarray(val[0], jnp.float64)
key = jax.random.fold_in(jax.random.fold_in(bilevel.unwrap_key(key0), epoch), 0)
aux = 1.0 * (tw.EPOCHS - epoch) / tw.EPOCHS if name == 'darts_minus' else None

def total(a):
  logits, _ = model.apply({'params': params, 'batch_stats': stats}, x, st.weights(a, key, epoch),
                          train=True, aux_coef=aux, mutable=['batch_stats'])
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, val[1]).mean()
  return ce + tw._hand_regularizer(name, a, epoch)

out = {'grad': jax.device_get(jax.jit(jax.grad(total))(arch))}
if mode == 'f32':
  step = jax.jit(bilevel.make_search_step(model, weight_tx, arch_tx, lambda s: 0.05, order=1,
      hyper=bilevel.Hyper(0.9, 3e-4), strategy=st, steps_per_epoch=1))
  new, _ = step(state, train, val)
  out['step'] = jax.device_get(jax.tree.map(lambda a, b: a - b, state.arch, new.arch))
with open(out_path, 'wb') as f:
  pickle.dump(out, f)
"""


def _child(mode: str, name: str, flags: str, state_path: str) -> dict:
  env = dict(
      os.environ,
      XLA_FLAGS=flags,
      JAX_ENABLE_COMPILATION_CACHE='false',
      TF_CPP_MIN_LOG_LEVEL='3',
      PYTHONPATH=REPO,
  )
  with tempfile.NamedTemporaryFile(suffix='.pkl') as out:
    proc = subprocess.run(
        [sys.executable, '-c', _CHILD, mode, name, state_path, out.name],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
      sys.exit(f'error: {mode} {name} under {flags!r}: {proc.stderr.strip().splitlines()[-1]}')
    with open(out.name, 'rb') as f:
      return pickle.load(f)


def _max_error(tree: dict, truth: dict) -> float:
  return max(float(np.abs(np.asarray(tree[k], np.float64) - truth[k]).max()) for k in truth)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--strategies', default='darts_minus,fairdarts')
  args = parser.parse_args()
  import jax  # pylint: disable=import-outside-toplevel

  print(f'JAX {jax.__version__}, backend {jax.default_backend()}')
  print()
  print('| strategy | XLA_FLAGS | max abs error of the step | of jax.grad | max abs gradient |')
  print('|---|---|---|---|---|')
  for name in args.strategies.split(','):
    with tempfile.TemporaryDirectory() as tmp:
      state_path = os.path.join(tmp, 'state.pkl')
      runs = {label: _child('f32', name, flags, state_path) for label, flags in FLAG_SETS.items()}
      truth = _child('f64', name, '', state_path)['grad']
      truth = {k: np.asarray(v, np.float64) for k, v in truth.items()}
      scale = max(float(np.abs(v).max()) for v in truth.values())
      for label, run in runs.items():
        print(
            f'| {name} | {label} | {_max_error(run["step"], truth):.1e} | '
            f'{_max_error(run["grad"], truth):.1e} | {scale:.3f} |',
            flush=True,
        )


if __name__ == '__main__':
  main()
