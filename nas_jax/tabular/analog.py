"""AnalogNAS-Bench (IBM's ``analog-nasbench`` package) read into a :class:`Table`.

The package retrained every one of NB201's 15,625 cells on CIFAR-10 for 200 epochs, once
each, and measured the trained network's test accuracy digitally (``baseline_accuracy``:
10.0 to 94.07 %), after post-training quantization (``ptq_accuracy``), after
quantization-aware training (``qat_accuracy``), on simulated analog in-memory hardware
(``noisy_accuracy``, ``analog_accuracy``) and on that hardware after its conductances
drifted for 60 s, 1 h, 1 day and 30 days (``baseline_drift_*`` and ``analog_drift_*``, a
mean and a standard deviation over repeated noisy evaluations). Its data, ``data.anb``,
is a pickle of ``{arch tuple: analognasbench.data.Architecture}``, the drift fields being
``analognasbench.data.DriftMeasurement(value, uncertainty)``; every value is a float in
percent. The package declares no licence, so :func:`read` reads that file where the package
is installed (``pip install analog-nasbench==0.1.3``) and nothing of it is copied here; it
is unpickled by :func:`nas_jax.tabular.safe_pickle.load` with those two classes mapped to
plain records, so no code of the package runs (its module imports ``pkg_resources``; it is
located with ``importlib.util.find_spec``, which does not execute a top-level package).

The encoding of the package's arch tuple (:data:`EDGE_ORDER`, :data:`OP_CODES`)
-------------------------------------------------------------------------------
Position ``p`` of the tuple is the op on edge ``EDGE_ORDER[p]`` = ``(0, 1), (0, 2), (0, 3),
(1, 2), (1, 3), (2, 3)`` (``(source, target)``, sorted by source then target: *not*
:data:`nas_jax.spaces.nb201.EDGES` order, which puts ``(1, 2)`` before ``(0, 3)``), and
code ``c`` is the op ``OP_CODES[c]`` = ``skip_connect, none, nor_conv_3x3, nor_conv_1x1,
avg_pool_3x3``. That is NASLib's ``op_indices`` convention (its ``OP_NAMES = Identity,
Zero, ReLUConvBN3x3, ReLUConvBN1x1, AvgPool1x1`` over ``EDGE_LIST = (1,2), (1,3), (1,4),
(2,3), (2,4), (3,4)``), which IBM's example training script for the benchmark uses
(``NasBench201SearchSpace().set_spec(architecture)``). Checked against the data (the tests
repeat the checks on the installed package):

* code 1 is ``none`` and the edge order is one of two: exactly the 341 cells with no
  input-to-output path under this reading (``nas_jax.spaces.nb201.arch.PATHS``) score
  10.0 %, and no other cell does. Of the 720 edge orders only this one and its mirror image
  (node ``i`` -> ``3 - i``, which maps the dead set onto itself) give that set; the mirror
  is not NASLib's order, and the data hardly tells them apart (under either, NB201's
  isomorphic cells agree to a mean standard deviation of 0.28 points).
* code 0 is ``skip_connect``: the cells that compute ``conv3x3(x)`` through skips (skip
  on ``(0,1)`` then conv on ``(1,3)``; conv on ``(0,1)`` then skip on ``(1,3)``; skip on
  ``(0,2)`` then conv on ``(2,3)``; conv on ``(0,1)`` then skips on ``(1,2)``, ``(2,3)``)
  score 91.4-91.6 %, like the conv alone on ``(0,3)`` (91.7 %); with code 3 or 4 read as
  the skip, the same cells give 84-91 %.
* code 2 is the 3x3 convolution (the best cell, ``(2, 2, 0, 2, 3, 2)`` = 94.07 %, is
  ``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|``,
  a conv-heavy cell with a skip from input to output as NB201's best ones), code 3 the 1x1
  convolution and code 4 the pooling: alone on ``(0,3)`` they score 91.7, 89.2 and 75.1 %,
  and as the all-same cell 93.2, 89.5 and 50.3 %.

:func:`to_genotype` / :func:`from_genotype` convert between the two forms.

Rows, seeds and metrics
-----------------------
Rows are NB201's isomorphism classes (``space.hash``, rule ``'nb201'``: 6,466 over the
15,625 cells). Isomorphic cells were trained separately, so a class's cells are
independent measurements of one network: the table keeps every one of them as the row's
*seeds*. The members of a class, sorted by their decision tuple in the NB201 space's
encoding, fill seed columns ``0, 1, ..., k - 1``; the table's seeds are ``range(S)`` with
``S`` the largest class, and a class of ``k < S`` cells is NaN in the other columns (the
row's seed mean is over its ``k`` cells). In the full data ``S`` is 275 (a single op on
``(0, 3)`` with every other path cut: 275 cells), 5,116 rows hold one cell, and each metric
is a mostly-NaN (6,466, 275) float32 array (7 MB in memory). ``archs[row]`` is the row's first member;
``metadata['members']`` lists every column's cell (its ``decisions.index``) and
:func:`member_archs` decodes them. ``TabularEstimator(seed='random')`` draws one of a
row's measured columns per query, so a query of a class reads one of its cells' single
runs at random; ``seed='mean'`` reads the class mean.

Accuracies are fractions (the package's percentages / 100):

* ``epoch/test_acc`` ``(A, S, 1)``: ``baseline_accuracy``, the digital test accuracy after
  the 200 epochs. The epoch axis holds only that final value (the package has no curves),
  so ``epoch=None`` (or 1) reads it; ``metadata['protocol']['epochs']`` is 200.
* ``seed/ptq_acc``, ``seed/qat_acc``, ``seed/noise_acc`` (``noisy_accuracy``),
  ``seed/analog_acc``, and ``seed/{baseline,analog}_drift_{60,3600,86400,2592000}s_acc``
  with their ``..._std``. The package does not define them; in IBM's example script the
  trained network converted to analog tiles (PCM noise model) is evaluated as is and after
  hardware-aware fine-tuning, and the drift of both is measured, which matches
  ``noisy_accuracy`` (median 61 %) / ``analog_accuracy`` (median 85 %) and
  ``baseline_drift`` (median 39 % at 60 s) / ``analog_drift`` (83 %); that reading is
  recorded in the metadata, not verified. ``noise_acc`` here is that analog-hardware noise,
  not the Gaussian weight noise of the tables ``nas_jax.tabular.builder`` writes.

There is no validation split and no ``val_acc``: the package's test accuracy was measured
on CIFAR-10's test set (over 25 passes with the training augmentation, in the example
script), and nothing else was held out. A search on this table must say
``metric='test_acc'`` (``TabularEstimator``'s default ``val_acc`` is a TableError), with the
caveat that it then selects on the very numbers it is judged by, which flatters any search
compared to NB201's validation protocol. No params, FLOPs, train or eval seconds are in the
package; the table has no ``arch`` metrics and no ``train_seconds`` (which
``TabularEstimator`` reads for a query's cost: it refuses this table until it treats a
missing ``train_seconds`` as an unknown cost).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import time
from typing import Any

import numpy as np

from nas_jax.tabular import safe_pickle
from nas_jax.tabular.table import Table, TableError

__all__ = [
    'DRIFT_SECONDS',
    'EDGE_ORDER',
    'METRICS',
    'OP_CODES',
    'PACKAGE',
    'data_path',
    'from_genotype',
    'member_archs',
    'read',
    'to_genotype',
]

PACKAGE = 'analog-nasbench'
VERSION = '0.1.3'
_MODULE = 'analognasbench'
_INSTALL = f'pip install {PACKAGE}=={VERSION}'
CLASSES = ((f'{_MODULE}.data', 'Architecture'), (f'{_MODULE}.data', 'DriftMeasurement'))
"""The package's classes the pickle names (and nothing else)."""

EDGE_ORDER: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
"""``(source, target)`` of the edge at each position of the package's arch tuple."""
OP_CODES: tuple[str, ...] = (
    'skip_connect',
    'none',
    'nor_conv_3x3',
    'nor_conv_1x1',
    'avg_pool_3x3',
)
"""The NB201 op of each code of the package's arch tuple."""
DRIFT_SECONDS = (60, 3600, 86400, 2592000)
_SCALAR = {
    'ptq_acc': 'ptq_accuracy',
    'qat_acc': 'qat_accuracy',
    'noise_acc': 'noisy_accuracy',
    'analog_acc': 'analog_accuracy',
}
_DRIFT = {
    f'{kind}_drift_{t}s_acc': f'{kind}_drift_{t}'
    for kind in ('baseline', 'analog')
    for t in DRIFT_SECONDS
}
METRICS = (
    ('test_acc',)
    + tuple(_SCALAR)
    + tuple(name for metric in _DRIFT for name in (metric, metric + '_std'))
)
"""Every metric of the table (``test_acc`` per epoch, the others per seed)."""
_DEAD_MAX = 0.105  # a cell with no input-to-output path scores 10 %: the encoding check


def _space():
  from nas_jax.spaces.nb201 import NB201Space  # pylint: disable=import-outside-toplevel

  return NB201Space()  # the published table's space: NB201's cell over its 5 ops


def to_genotype(arch):
  """The NB201 genotype of one of the package's arch tuples (module docstring)."""
  from nas_jax.spaces.nb201.genotype import EDGES, NB201Genotype  # pylint: disable=import-outside-toplevel

  codes = tuple(arch)
  if len(codes) != len(EDGE_ORDER) or not all(
      isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < len(OP_CODES)
      for c in codes
  ):
    raise TableError(
        f'an {PACKAGE} architecture is {len(EDGE_ORDER)} op codes in 0..{len(OP_CODES) - 1}, '
        f'got {str(arch)[:80]!r}'
    )
  op = {edge: OP_CODES[c] for edge, c in zip(EDGE_ORDER, codes)}
  return NB201Genotype.from_edge_ops([op[edge] for edge in EDGES])


def from_genotype(genotype) -> tuple[int, ...]:
  """The package's arch tuple of an NB201 genotype (the inverse of :func:`to_genotype`)."""
  from nas_jax.spaces.nb201.genotype import EDGES  # pylint: disable=import-outside-toplevel

  op = dict(zip(EDGES, genotype.edge_ops()))
  return tuple(OP_CODES.index(op[edge]) for edge in EDGE_ORDER)


def data_path() -> str:
  """Where the installed package keeps ``data.anb`` (found without importing the package);
  a one-line TableError naming the install command when it is not installed."""
  try:
    spec = importlib.util.find_spec(_MODULE)
  except (ImportError, ValueError):
    spec = None
  candidates = []
  if spec is not None and spec.submodule_search_locations:
    candidates += [os.path.join(d, 'data.anb') for d in spec.submodule_search_locations]
  try:
    files = importlib.metadata.files(PACKAGE) or []
    candidates += [str(f.locate()) for f in files if str(f) == f'{_MODULE}/data.anb']
  except importlib.metadata.PackageNotFoundError:
    pass
  for path in candidates:
    if os.path.isfile(path):
      return path
  raise TableError(f'the {PACKAGE} data is not installed ({_INSTALL})')


def _version() -> str | None:
  try:
    return importlib.metadata.version(PACKAGE)
  except importlib.metadata.PackageNotFoundError:
    return None


def _number(value, where: str) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
    raise TableError(f'{where} is not a number ({type(value).__name__})')
  return float(value)


def _cells(source, label: str) -> dict[tuple[int, ...], dict[str, float]]:
  """``{package arch tuple: {metric: value in percent}}`` from the pickle at ``source``."""
  data = safe_pickle.load(source, classes=CLASSES, what=label)
  if not isinstance(data, dict) or not data:
    raise TableError(
        f'{label}: expected a non-empty dict of architectures, got {type(data).__name__}'
    )
  cells = {}
  for key, record in data.items():
    if not isinstance(key, tuple):
      raise TableError(f'{label}: an architecture key is a {type(key).__name__}, not a tuple')
    arch = key
    to_genotype(arch)  # validates the key
    where = f'{label}: architecture {arch}'
    if not isinstance(record, safe_pickle.Record):
      raise TableError(f'{where} is a {type(record).__name__}, not an Architecture')
    fields = vars(record)
    if 'architecture' in fields and tuple(fields['architecture']) != arch:
      raise TableError(f'{where} holds the record of {fields["architecture"]}')
    values = {}
    for name, field in [('test_acc', 'baseline_accuracy')] + list(_SCALAR.items()):
      if field not in fields:
        raise TableError(f'{where} has no {field}')
      values[name] = _number(fields[field], f'{where} {field}')
    for name, field in _DRIFT.items():
      drift = fields.get(field)
      if not isinstance(drift, safe_pickle.Record) or not {'value', 'uncertainty'} <= set(
          vars(drift)
      ):
        raise TableError(f'{where} {field} is not a DriftMeasurement')
      values[name] = _number(drift.value, f'{where} {field}.value')
      values[name + '_std'] = _number(drift.uncertainty, f'{where} {field}.uncertainty')
    cells[tuple(int(c) for c in arch)] = values
  return cells


def _dead(genotype) -> bool:
  """Whether no path of non-``none`` edges leads from the cell's input to its output."""
  from nas_jax.spaces.nb201.arch import PATHS  # pylint: disable=import-outside-toplevel

  ops = genotype.edge_ops()
  return not any(all(ops[e] != 'none' for e in path) for path in PATHS)


def read(source=None) -> Table:
  """The AnalogNAS-Bench table (module docstring): from the installed package's
  ``data.anb`` (``source=None``), or from a file (path or bytes) in its format.

  A missing package, a file that is not the package's pickle, or data that contradicts the
  encoding (a cell without an input-to-output path above 10 %) is a one-line TableError."""
  from nas_jax.spaces import decisions  # pylint: disable=import-outside-toplevel

  if source is None:
    source = data_path()
  label = os.path.basename(str(source)) if isinstance(source, (str, os.PathLike)) else 'data.anb'
  cells = _cells(source, label)
  space = _space()
  classes: dict[str, list[tuple[tuple[int, ...], dict[str, float]]]] = {}
  for package_arch, values in cells.items():
    genotype = to_genotype(package_arch)
    if _dead(genotype) and values['test_acc'] / 100 > _DEAD_MAX:
      raise TableError(
          f'{label}: architecture {package_arch} has no input-to-output path but scores '
          f'{values["test_acc"]:.2f} %: the data does not follow the {PACKAGE} encoding'
      )
    arch = tuple(int(a) for a in space.from_genotype(genotype))
    classes.setdefault(space.hash(arch), []).append((arch, values))
  hashes = sorted(classes)
  for h in hashes:
    classes[h].sort(key=lambda member: member[0])
  s = max(len(members) for members in classes.values())
  a = len(hashes)
  table = {name: np.full((a, s), np.nan, np.float32) for name in METRICS}
  for i, h in enumerate(hashes):
    for j, (_, values) in enumerate(classes[h]):
      for name in METRICS:
        table[name][i, j] = values[name] / 100
  archs = np.asarray([classes[h][0][0] for h in hashes], np.int32)
  measured = int(sum(len(members) for members in classes.values()))
  metadata: dict[str, Any] = dict(
      space=space.name,
      primitives=list(space.primitives),
      hash_rule=space.hash_rule,
      dataset='cifar10',
      protocol=dict(
          source=f'{PACKAGE} {_version() or "(version unknown)"} (AnalogNAS-Bench, IBM)',
          epochs=200,
          curves='none: the epoch axis holds the final test accuracy only',
          runs_per_cell=1,
      ),
      seeds=list(range(s)),
      seed_meaning=(
          "the isomorphic cells of the row's class, each trained once, sorted by decision "
          'tuple (seed j = member j; NaN past the class size)'
      ),
      package_encoding=dict(edge_order=[list(e) for e in EDGE_ORDER], op_codes=list(OP_CODES)),
      cells=measured,
      members=[[decisions.index(arch, space.options) for arch, _ in classes[h]] for h in hashes],
      members_measured=measured,
      members_total=a * s,
      dead_cells=int(sum(_dead(to_genotype(c)) for c in cells)),
      validation='none: no validation split; search with metric="test_acc" (selects on the '
      'numbers it is judged by)',
      metrics=dict(
          test_acc='baseline_accuracy: digital test accuracy after 200 epochs',
          ptq_acc='ptq_accuracy: after post-training quantization',
          qat_acc='qat_accuracy: after quantization-aware training',
          noise_acc=(
              'noisy_accuracy: the trained network on simulated analog tiles (PCM noise), '
              'no hardware-aware fine-tuning (reading of IBM example script, not verified)'
          ),
          analog_acc=(
              'analog_accuracy: on simulated analog tiles after hardware-aware fine-tuning '
              '(same reading)'
          ),
          drift=(
              '{baseline,analog}_drift_<t>s_acc: baseline = the network as trained, analog = '
              'fine-tuned, on analog tiles after <t> seconds of conductance drift; mean and '
              '_std over repeated noisy evaluations'
          ),
      ),
      robustness=dict(
          noise=f"{PACKAGE}'s noisy_accuracy (analog hardware noise, see metrics)",
          fgsm=f'not in {PACKAGE}',
      ),
      licence=f'none declared by {PACKAGE}: read from the installed package, never copied',
      built_by='nas_jax.tabular.analog.read',
      built_at=time.strftime('%Y-%m-%d'),
  )
  epoch = {'test_acc': table['test_acc'][:, :, None]}
  seed = {name: table[name] for name in METRICS if name != 'test_acc'}
  return Table(hashes, archs, list(range(s)), epoch, seed, {}, metadata)


def member_archs(table: Table) -> np.ndarray:
  """(A, S, 6) the decision tuple (NB201 space encoding) of the cell in each row's seed
  column, -1 where the column has none (from ``metadata['members']``: per row, the
  ``nas_jax.spaces.decisions.index`` of its cells in column order)."""
  from nas_jax.spaces import decisions  # pylint: disable=import-outside-toplevel

  members = table.metadata.get('members')
  if not isinstance(members, list) or len(members) != len(table):
    raise TableError('the table records no members (not a table nas_jax.tabular.analog wrote)')
  options = table.space.options
  out = np.full((len(table), len(table.seeds), len(options)), -1, np.int32)
  for row, indexes in enumerate(members):
    for column, i in enumerate(indexes):
      out[row, column] = decisions.from_index(int(i), options)
  return out
