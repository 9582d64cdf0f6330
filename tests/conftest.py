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


# NAS_JAX_COMPILE_LOG=path: one JSON line per test with its wall seconds, JAX's own trace, lowering
# and XLA compile seconds in this process (subprocesses not included), and the programs it compiled
# (``compiled``: name and seconds of each XLA compilation, cache misses only) and took from the
# persistent cache (``hits``), to see where a slow test's time goes and which programs recur.
_COMPILE_LOG = os.environ.get('NAS_JAX_COMPILE_LOG')
if _COMPILE_LOG:
  import json
  import logging
  import re
  import time

  import jax.monitoring
  import pytest

  _spent = {}
  _programs = {'compiled': [], 'hits': []}

  def _listen(event, seconds, **kwargs):
    del kwargs
    name = event.rsplit('/', 1)[-1].removesuffix('_duration')
    _spent[name] = _spent.get(name, 0.0) + seconds

  jax.monitoring.register_event_duration_secs_listener(_listen)

  class _Programs(logging.Handler):
    """Collects JAX's debug lines about XLA compilations and persistent-cache hits."""

    done = re.compile(r'Finished XLA compilation of (.+) in ([0-9.]+) sec')
    hit = re.compile(r"Persistent compilation cache hit for '([^']+)'")

    def emit(self, record):
      text = record.getMessage()
      if m := self.done.search(text):
        _programs['compiled'].append([m.group(1), round(float(m.group(2)), 3)])
      elif m := self.hit.search(text):
        _programs['hits'].append(m.group(1))

  for _name in ('jax._src.compiler', 'jax._src.dispatch'):
    _logger = logging.getLogger(_name)
    _logger.setLevel(logging.DEBUG)
    _logger.propagate = False  # JAX's debug lines stay out of pytest's captured logs
    _logger.addHandler(_Programs())

  @pytest.hookimpl(hookwrapper=True)
  def pytest_runtest_protocol(item, nextitem):
    del nextitem
    _spent.clear()
    _programs['compiled'].clear()
    _programs['hits'].clear()
    start = time.perf_counter()
    yield
    row = {'test': item.nodeid, 'wall': round(time.perf_counter() - start, 2)}
    row.update({k: round(v, 2) for k, v in sorted(_spent.items())})
    row.update({k: list(v) for k, v in _programs.items()})
    with open(_COMPILE_LOG, 'a') as f:
      f.write(json.dumps(row) + '\n')
