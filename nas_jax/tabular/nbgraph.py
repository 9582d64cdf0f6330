"""NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets and Benchmarks) read into a :class:`Table`.

The ``nas-bench-graph`` package (``pip install nas-bench-graph==1.4.0``) ships one
``light/<dataset>.bench`` file per dataset: a pickle of ``{key: {'valid_perf', 'perf',
'latency', 'para'}}``, ``key`` the architecture's ``Arch.valid_hash`` (our space's hash,
:mod:`nas_jax.spaces.nbgraph`). It is read with :func:`nas_jax.tabular.safe_pickle.load`
(builtins and NumPy scalars only; nothing of the package is imported or run).

Which numbers are which:

* ``val_acc`` / ``test_acc``: ``valid_perf`` / ``perf``, accuracies as fractions (as the
  file stores them). NAS-Bench-Graph trained every architecture 3 times and stores the
  mean of the 3 runs only (the per-run values and seeds are not in the file): the table has
  one seed column (seed 0) holding that mean, and one epoch (the value after training).
* ``latency`` (arch metric): ``latency``, NAS-Bench-Graph's measured inference seconds.
* ``params`` (arch metric): ``para`` (millions) x 1e6, a count.
* ``train_seconds``: the file has no training time. It is stored as NaN (unknown) for every
  row, so a ``TabularEstimator``'s costs are NaN and a budget in simulated seconds is refused:
  count a search's cost in queries.

Every architecture of the space has a row (as ``TabularEstimator`` needs): one per hash
class, keyed by the hash. The class of the cells of skips only (hash ``'88888'``, the
identity), which NAS-Bench-Graph leaves out, is a row of NaN (unmeasured: a search never
takes it as its incumbent), and so is any class a given file lacks.
"""

from __future__ import annotations

import importlib.util
import os
import time

import numpy as np

from nas_jax.tabular import safe_pickle
from nas_jax.tabular.table import Table, TableError
from nas_jax.util import one_line

__all__ = ['DATASETS', 'FIELDS', 'bench_path', 'read']

DATASETS = (
    'cora',
    'citeseer',
    'pubmed',
    'cs',
    'physics',
    'photo',
    'computers',
    'arxiv',
    'proteins',
)
FIELDS = ('valid_perf', 'perf', 'latency', 'para')
_PIP = 'pip install nas-bench-graph==1.4.0'


def _check_dataset(dataset) -> str:
  if dataset not in DATASETS:
    raise TableError(
        f'NAS-Bench-Graph dataset must be one of {", ".join(DATASETS)}, got {dataset!r}'
    )
  return dataset


def bench_path(dataset: str) -> str:
  """The installed package's ``light/<dataset>.bench`` (found without importing it)."""
  _check_dataset(dataset)
  spec = importlib.util.find_spec('nas_bench_graph')
  if spec is None or not spec.submodule_search_locations:
    raise TableError(f'reading NAS-Bench-Graph needs its package: {_PIP}')
  path = os.path.join(list(spec.submodule_search_locations)[0], 'light', f'{dataset}.bench')
  if not os.path.isfile(path):
    raise TableError(f'no NAS-Bench-Graph file {path} (reinstall: {_PIP})')
  return path


def _space(dataset: str):
  from nas_jax.spaces.nbgraph import (  # pylint: disable=import-outside-toplevel
      GNN_OPS,
      PROTEINS_OPS,
      NBGraphSpace,
  )

  return NBGraphSpace(PROTEINS_OPS if dataset == 'proteins' else GNN_OPS)


def _entries(bench, label: str) -> dict[int, tuple[float, ...]]:
  """``{key: (valid_perf, perf, latency, para)}``, checked (a one-line TableError)."""
  if not isinstance(bench, dict) or not bench:
    raise TableError(f'{label}: not a NAS-Bench-Graph table (a non-empty dict of architectures)')
  out = {}
  for key, row in bench.items():
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
      raise TableError(f'{label}: not a NAS-Bench-Graph table (key {one_line(key)!r})')
    if not isinstance(row, dict) or any(f not in row for f in FIELDS):
      raise TableError(
          f'{label}: the entry of {key} is not a dict of {", ".join(FIELDS)} '
          f'(got {one_line(row)[:80]})'
      )
    try:
      out[int(key)] = tuple(float(row[f]) for f in FIELDS)
    except (TypeError, ValueError):
      raise TableError(f'{label}: the entry of {key} has a non-number value') from None
  return out


def read(dataset: str, source=None) -> Table:
  """NAS-Bench-Graph's ``dataset`` (one of :data:`DATASETS`) as a :class:`Table`.

  Args:
    dataset: which table; ``proteins`` is over the 5 proteins ops, the others over all 9.
    source: a ``.bench`` file in the package's format (None: the installed package's).
  """
  _check_dataset(dataset)
  path = bench_path(dataset) if source is None else os.fspath(source)
  entries = _entries(safe_pickle.load(path), path)
  space = _space(dataset)
  ids, hashes = space.class_index()
  first = {}
  for i, c in enumerate(ids.tolist()):
    first.setdefault(c, i)
  rows = {h: k for k, h in enumerate(hashes)}
  foreign = [key for key in entries if str(key) not in rows]
  if foreign:
    raise TableError(
        f'{path}: {len(foreign)} keys are no architecture of the nbgraph space over '
        f'{", ".join(space.primitives)} (e.g. {foreign[0]})'
    )
  a = len(hashes)
  values = np.full((a, len(FIELDS)), np.nan)
  for key, row in entries.items():
    values[rows[str(key)]] = row
  archs = np.asarray([space.from_index(first[c]) for c in range(a)], np.int32)
  epoch = {'val_acc': values[:, 0, None, None], 'test_acc': values[:, 1, None, None]}
  seed = {'train_seconds': np.full((a, 1), np.nan)}
  arch = {'latency': values[:, 2], 'params': np.round(values[:, 3] * 1e6)}
  metadata = dict(
      space=space.name,
      primitives=list(space.primitives),
      dataset=dataset,
      source=f'NAS-Bench-Graph 1.4.0 light/{dataset}.bench' if source is None else path,
      protocol=dict(
          source='NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets and Benchmarks)',
          epochs=1,
          runs='the mean of 3 training runs (per-run values not published)',
      ),
      seeds=[0],
      measured=len(entries),
      rows=a,
      unmeasured=(
          'NaN rows: the class of skips only (hash 88888, left out of NAS-Bench-Graph) and any '
          'class the file lacks'
      ),
      latency="NAS-Bench-Graph's measured inference latency (seconds)",
      params="NAS-Bench-Graph's para (millions) x 1e6",
      train_seconds='none in NAS-Bench-Graph: stored as NaN (unknown); budget a search in queries',
      built_by='nas_jax.tabular.nbgraph.read',
      built_at=time.strftime('%Y-%m-%d'),
  )
  return Table(hashes, archs, [0], epoch, seed, arch, metadata)
