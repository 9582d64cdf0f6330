"""Test set-up: quiet TensorFlow, persistent compilation cache, tiny configs."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# The tests' programs are tiny and compile-bound: XLA's backend at -O0 compiles them faster (one
# search test, cold cache: 51-54 s against 59-71 s) and computes the same functions. Set
# XLA_FLAGS to override; subprocesses and the notebook kernel inherit it. Never add
# --xla_cpu_use_fusion_emitters=false: it miscomputes some gradients by up to 1e-2
# (benchmarks/flag_precision.py, docs/testing.md).
os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=0')

from nas_jax import runtime  # noqa: E402

runtime.enable_compilation_cache()


# The test files, slowest first (cold compilation cache, 2-core CPU). make test hands whole files
# to 2 workers in this order (--dist loadfile --no-loadscope-reorder): the longest go first, so
# that no worker is left with a long file at the end while the other idles.
SLOWEST_FIRST = (  # file totals of session 13's cold-cache run
    'test_strategies.py',
    'test_tabular.py',
    'test_live_search.py',
    'test_bilevel.py',
    'test_discrete.py',
    'test_parallel.py',
    'test_wiring.py',
    'test_evalnet.py',
    'test_proxies.py',
    'test_darts_archnet.py',
    'test_launchers.py',
    'test_notebook.py',
    'test_ops.py',
    'test_warm_start_report.py',
    'test_checkpoint_faults.py',
    'test_weight_sharing.py',
    'test_search.py',
    'test_train.py',
    'test_nb201_equivalence.py',
    'test_resume.py',
    'test_predictors.py',
    'test_search_resume.py',
    'test_nb201.py',
    'test_discrete_report.py',
    'test_early_stopping.py',
    'test_errors.py',
    'test_data.py',
)


def pytest_collection_modifyitems(items):
  rank = {name: k for k, name in enumerate(SLOWEST_FIRST)}
  items.sort(key=lambda item: rank.get(os.path.basename(item.path), len(rank)))


# NAS_JAX_COMPILE_LOG=path: one JSON line per test with its wall seconds and JAX's own trace,
# lowering and XLA compile seconds in this process (subprocesses not included), to see where a
# slow test's time goes.
_COMPILE_LOG = os.environ.get('NAS_JAX_COMPILE_LOG')
if _COMPILE_LOG:
  import json
  import time

  import jax.monitoring
  import pytest

  _spent = {}

  def _listen(event, seconds, **kwargs):
    del kwargs
    name = event.rsplit('/', 1)[-1].removesuffix('_duration')
    _spent[name] = _spent.get(name, 0.0) + seconds

  jax.monitoring.register_event_duration_secs_listener(_listen)

  @pytest.hookimpl(hookwrapper=True)
  def pytest_runtest_protocol(item, nextitem):
    del nextitem
    _spent.clear()
    start = time.perf_counter()
    yield
    row = {'test': item.nodeid, 'wall': round(time.perf_counter() - start, 2)}
    row.update({k: round(v, 2) for k, v in sorted(_spent.items())})
    with open(_COMPILE_LOG, 'a') as f:
      f.write(json.dumps(row) + '\n')
