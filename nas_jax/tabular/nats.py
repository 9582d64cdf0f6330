"""NATS-Bench topology (TSS, the NAS-Bench-201 space) files read into a :class:`Table`.

The ``nats_bench`` package reads NATS-Bench's ``NATS-tss-v1_0-3ffb9.pickle.pbz2``
(a bz2-compressed pickle) without torch; :func:`convert` walks it through
that API and writes the same :class:`~nas_jax.tabular.table.Table` that
``experiments.tabulate`` builds, keyed by the same NB201 hashes, so every
strategy that reads a table runs on the real benchmark.

Which numbers are which (the usual confusion):

* ``dataset='cifar10-valid'``: trained on CIFAR-10's train split (25k
  images), ``val_*`` is the other 25k (``x-valid``), ``test_*`` the 10k test
  set (``ori-test``). This is the split NB201's *search* protocol uses.
* ``dataset='cifar10'``: trained on train + valid (50k); there is no
  validation column, and ``test_*`` is the test set. NB201 reports its
  final CIFAR-10 accuracies from here.
* ``cifar100`` and ``ImageNet16-120``: ``val_*`` is ``x-valid`` and
  ``test_*`` is ``x-test`` (the two halves of the original test set).
* ``hp='12'``: a 12-epoch budget (cosine schedule over 12 epochs), the
  budget of NB201's search protocol. ``hp='200'``: the full 200 epochs, the
  "final" accuracies. A 200-epoch curve read at epoch 12 is *not* the 12-epoch
  budget (its learning rate has not decayed).

NATS-Bench's search protocol (``exps/NATS-algos`` of AutoDL-Projects) asks
``api.simulate_train_eval(arch, 'cifar10', hp='12')``: the last-epoch ``x-valid``
accuracy of ``cifar10-valid`` at one of the cell's seeds drawn at random (for
``cifar100`` / ``ImageNet16-120``, their own ``x-valid``), charging that seed's
``train-all-time`` plus its ``valid-per-time`` (one pass over the validation set:
the ``x-valid`` eval seconds summed over the epochs, divided by the epoch count).
Its figures (``exps/NATS-Bench/draw-fig6.py``) report the found cell's seed-mean
``test-accuracy`` of ``get_more_info(arch, 'cifar10', hp='200', is_random=False)``. Here that is a
``cifar10-valid``/``hp='12'`` table searched on ``val_acc`` and a ``cifar10``/
``hp='200'`` table reporting ``test_acc``
(``TabularEstimator(search_table, report_table=report_table)``); the converted
table's ``train_seconds`` is ``train-all-time`` and its ``eval_seconds`` is
``valid-per-time`` (absent for ``cifar10``, which has no validation split), both
after the last epoch, per seed.

Accuracies are stored as fractions (NATS-Bench's percentages / 100), params
and FLOPs as counts (NATS-Bench's millions x 1e6), ``latency_batch`` in seconds as
NATS-Bench measured it (batch 256). Isomorphic cells were trained separately in
NATS-Bench; a row keeps the lowest-index cell of its class (its
``nats_index``). The table's seeds are the union of every row's: NATS-Bench
trained some cells at fewer seeds than others, and a member a cell was not
trained at is NaN (its row's seed mean is over the seeds it has).
"""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np

from nas_jax.tabular.table import EPOCH_METRICS, SEED_METRICS, Table, TableError
from nas_jax.util import one_line

__all__ = ['DATASETS', 'HPS', 'convert']

DATASETS = ('cifar10-valid', 'cifar10', 'cifar100', 'ImageNet16-120')
HPS = ('12', '200')
_KEYS = {
    'train_loss': 'train-loss',
    'train_acc': 'train-accuracy',
    'val_loss': 'valid-loss',
    'val_acc': 'valid-accuracy',
    'test_loss': 'test-loss',
    'test_acc': 'test-accuracy',
}
_ACCURACY = ('train_acc', 'val_acc', 'test_acc')


def _api(source):
  try:
    from nats_bench.api_topology import NATStopology  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise TableError('reading NATS-Bench files needs the nats_bench package') from None
  try:
    with contextlib.redirect_stdout(io.StringIO()):
      return NATStopology(source, fast_mode=False, verbose=False)
  except Exception as err:  # the package raises bare ValueErrors and unpickling errors
    raise TableError(f'cannot read NATS-Bench topology data {source!r}: {one_line(err)}') from None


def _seeds(results, dataset) -> list[int]:
  """The seeds a cell (its ``ArchResults`` at one hp) was trained at on ``dataset``."""
  try:
    return sorted(results.get_dataset_seeds(dataset))
  except KeyError:  # not trained on that dataset at all
    return []


def _rows(api, space) -> dict[str, int]:
  """Cell hash -> the first NATS-Bench index of that class, over the cells of ``space``'s ops."""
  from nas_jax.spaces.nb201 import genotype as nb201_genotype  # pylint: disable=import-outside-toplevel

  rows: dict[str, int] = {}
  for index in sorted(api.evaluated_indexes):
    g = nb201_genotype.NB201Genotype.from_string(api.meta_archs[index])
    if set(g.edge_ops()) <= set(space.primitives):
      rows.setdefault(space.hash(space.from_genotype(g)), index)
  if not rows:
    raise TableError(
        f'the NATS-Bench data has no evaluated architecture over {", ".join(space.primitives)}'
    )
  return rows


def _read_member(api, index, dataset, hp, sd, epochs, at, epoch, seed) -> None:
  """Fills row/column ``at`` of the per-epoch arrays ``epoch`` and the per-seed arrays
  ``seed`` with NATS-Bench's record of architecture ``index`` at seed ``sd``."""
  for e in range(epochs):
    info = api.get_more_info(index, dataset, iepoch=e, hp=hp, is_random=sd)
    for name, key in _KEYS.items():
      if info.get(key) is not None:
        scale = 0.01 if name in _ACCURACY else 1.0
        epoch[name][at + (e,)] = info[key] * scale
  # after the last epoch: what simulate_train_eval charges (module docstring)
  for name, key in (('train_seconds', 'train-all-time'), ('eval_seconds', 'valid-per-time')):
    if info.get(key) is not None:
      seed[name][at] = info[key]


def convert(
    source, dataset: str = 'cifar10-valid', hp: str = '12', path=None, primitives=None
) -> Table:
  """Converts NATS-Bench topology data into a :class:`Table` (and writes it to ``path``).

  Args:
    source: the ``.pickle.pbz2`` file path, or the dict it holds.
    dataset: one of :data:`DATASETS` (module docstring).
    hp: the training budget, ``'12'`` or ``'200'`` epochs.
    path: where to save the table (None: not saved).
    primitives: an op subset (None: NB201's five ops): the table of that sub-space, the
      cells using only those ops (e.g. the shipped table's four, so that one report
      reads both tables over the same cells).
  """
  from nas_jax.spaces.nb201 import NB201Space  # pylint: disable=import-outside-toplevel
  from nas_jax.spaces.nb201 import genotype as nb201_genotype  # pylint: disable=import-outside-toplevel

  if dataset not in DATASETS:
    raise TableError(f'NATS-Bench dataset must be one of {", ".join(DATASETS)}, got {dataset!r}')
  if str(hp) not in HPS:
    raise TableError(f'NATS-Bench hp must be one of {", ".join(HPS)}, got {hp!r}')
  hp = str(hp)
  try:
    space = NB201Space(tuple(primitives or NB201Space.default_primitives))
  except ValueError as e:
    raise TableError(one_line(e)) from None
  api = _api(source)
  rows = _rows(api, space)
  hashes = sorted(rows)
  indexes = [rows[h] for h in hashes]
  available = [_seeds(api.arch2infos_dict[index][hp], dataset) for index in indexes]
  seeds = sorted(set().union(*available))
  if not seeds:
    raise TableError(f'the NATS-Bench data has no {dataset} results at hp={hp}')
  i0 = next(i for i, have in enumerate(available) if have)
  first = api.arch2infos_dict[indexes[i0]][hp]
  epochs = first.all_results[(dataset, available[i0][0])].get_total_epoch()
  a, s = len(hashes), len(seeds)
  epoch = {k: np.full((a, s, epochs), np.nan, np.float32) for k in EPOCH_METRICS}
  seed = {k: np.full((a, s), np.nan, np.float32) for k in SEED_METRICS + ('eval_seconds',)}
  arch = {k: np.full(a, np.nan) for k in ('params', 'flops', 'latency_batch', 'nats_index')}
  archs = []
  for i, index in enumerate(indexes):
    archs.append(
        space.from_genotype(nb201_genotype.NB201Genotype.from_string(api.meta_archs[index]))
    )
    for j, sd in enumerate(seeds):
      if sd in available[i]:
        _read_member(api, index, dataset, hp, sd, epochs, (i, j), epoch, seed)
    if available[i]:
      cost = api.get_cost_info(index, dataset, hp=hp)
      arch['params'][i] = cost['params'] * 1e6
      arch['flops'][i] = cost['flops'] * 1e6
      arch['latency_batch'][i] = cost['latency'] if cost['latency'] is not None else np.nan
    arch['nats_index'][i] = index
  if np.isnan(seed['eval_seconds']).all():  # cifar10: no validation split, no eval time
    del seed['eval_seconds']
  metadata = dict(
      space=space.name,
      primitives=list(space.primitives),
      hash_rule=space.hash_rule,
      dataset=dataset,
      protocol=dict(source='NATS-Bench topology (TSS)', hp=hp, epochs=epochs),
      seeds=seeds,
      members_measured=int(np.sum(~np.isnan(epoch['train_acc'][:, :, -1]))),
      members_total=a * s,
      build_train_seconds=float(np.nansum(seed['train_seconds'])),
      robustness=dict(noise='not in NATS-Bench', fgsm='not in NATS-Bench'),
      latency="NATS-Bench's own measured latency at its batch of 256 (seconds)",
      flops='multiply-adds of one image, from NATS-Bench (millions x 1e6)',
      train_seconds=f'NATS-Bench train-all-time after the {epochs}-epoch budget',
      eval_seconds=(
          'NATS-Bench valid-per-time after the last epoch (one pass over x-valid; what '
          'simulate_train_eval adds to train-all-time)'
          if 'eval_seconds' in seed
          else f'none: {dataset} has no validation split'
      ),
      built_by='nas_jax.tabular.nats.convert',
      built_at=time.strftime('%Y-%m-%d'),
  )
  table = Table(hashes, np.asarray(archs, np.int32), seeds, epoch, seed, arch, metadata)
  if path is not None:
    table.save(path)
  return table
