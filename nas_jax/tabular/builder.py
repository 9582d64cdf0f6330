"""The tabular builder: every unique cell of a space, trained under one protocol, resumably.

``python -m experiments.tabulate --config=experiments/configs/tabulate_nb201_animal.py
--workdir=runs/table`` runs :func:`build`. The work list is every isomorphism
class of the space (``space.unique()``, one representative each) times every
seed, seed-major (all cells at the first seed, then the next), the cells in a
fixed shuffled order, so that a partial build is a uniform sample of the space.

Each finished member ``(cell, seed)`` is one small file,
``results/seed<s>/<hash>.npz``, written atomically and carrying a checksum of
its arrays. A restart (after SIGKILL, a reboot, a new sitting) skips every
member with a valid file; a file that does not load or whose checksum fails is
reported, removed and trained again, never silently kept. ``manifest.json``
records the space, the protocol digest and the seeds; resuming a directory
under a different one is refused in one line. ``table.npz`` is assembled from
the result files at the end, or at any time with ``--assemble_only``.

A table is lossless for its members, so :func:`unpack` (``--from_table``) turns
an assembled table back into result files: a build whose directory was lost
resumes from the table it shipped, and a table gains a seed by unpacking it
into a build with one more seed.

Several hosts (``jax.distributed``) split the work list by process index and
write into the same directory.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import hashlib
import io
import json
import os
import time
from typing import Any, NamedTuple

import jax
import numpy as np

from nas_jax.config_checks import ConfigError
from nas_jax.runner import Progress
from nas_jax.tabular import costs
from nas_jax.tabular import latency as latency_lib
from nas_jax.tabular.protocol import Protocol
from nas_jax.tabular.table import EPOCH_METRICS, FORMAT_VERSION, SEED_METRICS, Table
from nas_jax.tabular.trainer import Member, PopulationTrainer, load_splits
from nas_jax.util import atomic_write, is_int

__all__ = ['BuildError', 'BuildPlan', 'assemble', 'build', 'plan', 'unpack', 'work_list']

_ORDER_SEED = 0


class BuildError(RuntimeError):
  """A build directory that cannot be resumed as asked; the message is one line."""


class BuildPlan(NamedTuple):
  """What a build directory holds: its space, protocol and seeds, and the members in build
  order (:func:`plan`)."""

  space: Any
  protocol: Protocol
  seeds: tuple[int, ...]
  unique: dict[str, tuple]
  members: list[tuple[str, int]]


def plan(space, protocol: Protocol, seeds, max_cells: int | None = None) -> BuildPlan:
  """The build of every unique cell of ``space`` under ``protocol`` at each of ``seeds``
  (``max_cells``: only the first cells of the build order, a pilot; see :func:`work_list`).
  A bad value is a one-line ConfigError that names the argument."""
  seeds = tuple(seeds)
  if not seeds or not all(is_int(s) and s >= 0 for s in seeds) or len(set(seeds)) != len(seeds):
    raise ConfigError(f'seeds must be distinct non-negative integers, got {seeds!r}')
  if max_cells is not None and (not is_int(max_cells) or max_cells < 1):
    raise ConfigError(f'max_cells must be a positive integer or None, got {max_cells!r}')
  return BuildPlan(space, protocol, seeds, *work_list(space, seeds, max_cells))


def work_list(
    space, seeds, max_cells: int | None = None
) -> tuple[dict[str, tuple], list[tuple[str, int]]]:
  """``({hash: arch}, [(hash, seed)])``: the unique cells and the members in build order.

  ``max_cells`` keeps only the first cells of the fixed shuffled order (a uniform sample
  of the space, every seed on the same cells: a pilot). The pilot's members are the
  first members of the full build at every seed, so its table seeds the full build
  (``unpack``); the table's rows are still every unique cell, the others NaN.
  """
  unique = space.unique()
  order = sorted(unique)
  order = [order[i] for i in np.random.default_rng(_ORDER_SEED).permutation(len(order))]
  order = order[:max_cells]
  return unique, [(h, s) for s in seeds for h in order]


def _result_path(workdir: str, h: str, seed: int) -> str:
  return os.path.join(workdir, 'results', f'seed{seed}', f'{h}.npz')


def _checksum(arrays: dict[str, np.ndarray]) -> str:
  digest = hashlib.sha1()
  for key in sorted(arrays):
    digest.update(key.encode())
    digest.update(np.ascontiguousarray(arrays[key]).tobytes())
  return digest.hexdigest()


def write_result(path: str, result: dict[str, Any], h: str) -> None:
  """One member's result file (atomic, with the checksum of its arrays)."""
  arrays = {k: np.asarray(result[k], np.float32) for k in EPOCH_METRICS + SEED_METRICS}
  arrays['arch'] = np.asarray(result['arch'], np.int32)
  arrays['seed'] = np.asarray(result['seed'], np.int64)
  arrays['hash'] = np.asarray(h)
  arrays['checksum'] = np.asarray(_checksum(arrays))
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  atomic_write(path, buf.getvalue())


def read_result(path: str) -> dict[str, np.ndarray] | None:
  """A valid result file's arrays, or None for a missing, unreadable or corrupt one."""
  if not os.path.exists(path):
    return None
  try:
    with np.load(path, allow_pickle=False) as f:
      arrays = {k: f[k] for k in f.files}
    stored = str(arrays.pop('checksum'))
    if stored != _checksum(arrays):
      return None
    for key in EPOCH_METRICS + SEED_METRICS:
      arrays[key]  # pylint: disable=pointless-statement
    return arrays
  except Exception:  # pylint: disable=broad-except
    return None


def _manifest(space, protocol: Protocol, seeds) -> dict[str, Any]:
  return dict(
      format_version=FORMAT_VERSION,
      space=space.name,
      primitives=list(space.primitives),
      hash_rule=getattr(space, 'hash_rule', None),
      protocol=protocol.to_dict(),
      protocol_digest=protocol.digest(),
      seeds=list(seeds),
  )


def _check_manifest(workdir: str, manifest: dict[str, Any]) -> None:
  path = os.path.join(workdir, 'manifest.json')
  if os.path.exists(path):
    with open(path, encoding='utf-8') as f:
      old = json.load(f)
    for key in ('space', 'primitives', 'hash_rule', 'protocol_digest', 'seeds'):
      if old.get(key) != manifest[key]:
        raise BuildError(
            f'{workdir} holds a build with a different {key} ({old.get(key)!r}, asked '
            f'{manifest[key]!r}); use a new --workdir'
        )
    return
  atomic_write(path, json.dumps(manifest, indent=2) + '\n')


def build(
    plan: BuildPlan,
    workdir: str,
    *,
    data_dir: str | None = None,
    population: str = 'auto',
    edge_mode: str = 'switch',
    group: int = 64,
    log_every: float = 60.0,
    latency_lut: str | None = None,
    log: Callable[[str], None] = print,
    max_members: int | None = None,
    assemble_only: bool = False,
    part: tuple[int, int] = (0, 1),
    assemble: bool = True,
) -> dict[str, Any]:
  """Trains every missing member, then assembles ``table.npz``. Returns a summary dict.

  Args:
    plan: what to build (:func:`plan`; ``nas_jax.components.table_plan`` reads it from a
      tabulate config).
    workdir: the build directory (created; resumed when it exists).
    data_dir: where the protocol's dataset is prepared (None: the default).
    population: how members run: 'auto' (sequential on CPU, vmap elsewhere), 'sequential'
      or 'vmap' (:class:`~nas_jax.tabular.trainer.PopulationTrainer`).
    edge_mode: 'switch' (only the chosen op runs) or 'masked' (every candidate).
    group: members per vmapped program.
    log_every: seconds between progress lines.
    latency_lut: a :class:`~nas_jax.tabular.latency.LatencyTable` file whose predictions
      become the table's latency columns (None: none).
    log: progress lines.
    max_members: stop after training this many members (a bounded sitting).
    assemble_only: train nothing; assemble the table from the finished members.
    part: ``(k, P)``: train every ``P``-th pending member from the ``k``-th (one of ``P``
      local processes; ``experiments/tabulate.py --local_processes``). Applied after the
      split between hosts.
    assemble: write ``table.npz`` at the end (the processes of a split build leave it to
      their parent). Without it the summary has no ``complete`` or ``table``.
  """
  k, p = part
  if not (is_int(k) and is_int(p) and 0 <= k < p):
    raise ConfigError(f'part must be k/P with 0 <= k < P, got {k}/{p}')
  space, protocol, seeds, unique, members = plan
  os.makedirs(workdir, exist_ok=True)
  _check_manifest(workdir, _manifest(space, protocol, seeds))
  done, corrupt = 0, 0
  pending = []
  finished = {}  # (hash, seed) -> result arrays: read once, for the scan and the assembly
  for h, s in members:
    path = _result_path(workdir, h, s)
    if (result := read_result(path)) is not None:
      finished[h, s] = result
      done += 1
      continue
    if os.path.exists(path):
      corrupt += 1
      log(f'result {os.path.relpath(path, workdir)} is corrupt: removed, will retrain')
      with contextlib.suppress(FileNotFoundError):  # a sibling process may remove it first
        os.remove(path)
    pending.append((h, s))
  pending = pending[jax.process_index() :: jax.process_count()][k::p]
  share = len(pending)  # this process's share of the whole build (the ETA's work)
  log(
      f'{space.name} space, {len(space.primitives)} ops: {len(unique)} unique cells x '
      f'{len(seeds)} seeds = {len(members)} members; {done} done, {len(pending)} to train here'
  )
  trained, train_seconds = 0, 0.0
  if max_members is not None:
    pending = pending[:max_members]
  if pending and not assemble_only:  # (max_members=0 reads and assembles without the data)
    splits = load_splits(protocol, data_dir)
    # This process's share of the whole build, not just this sitting's (--max_members).
    progress = Progress(share)
    trainer = PopulationTrainer(space, protocol, splits, form=population, edge_mode=edge_mode)
    group = 1 if trainer.form == 'sequential' else max(1, int(group))
    log(f'population form {trainer.form} (edge mode {edge_mode}), {group} per program')
    for i in range(0, len(pending), group):
      chunk = pending[i : i + group]
      results = trainer.train([Member(unique[h], s) for h, s in chunk])
      for (h, s), result in zip(chunk, results):
        write_result(_result_path(workdir, h, s), result, h)
        finished[h, s] = result
        train_seconds += result['train_seconds']
      trained += len(chunk)
      if progress.due(log_every) or trained == len(pending):
        rate = progress.rate(trained) * 3600
        last = results[-1]
        count = (
            f'{done + trained}/{len(members)} members'
            if p == 1
            else f'part {k}/{p}: {trained}/{share} of its members'  # the others run alongside
        )
        log(
            f'{count} | {rate:.0f} arch/h | '
            f'{rate * protocol.epochs:.0f} arch-epochs/h | ETA {progress.eta(trained)} | last '
            f'{space.to_text(space.to_genotype(last["arch"]))} seed {last["seed"]}: test '
            f'{float(last["test_acc"][-1]):.4f}'
        )
  summary = dict(
      members=len(members),
      done=done + trained,
      trained=trained,
      corrupt=corrupt,
      train_seconds=train_seconds,
  )
  if not assemble:
    return summary
  table = _assemble(plan, workdir, latency_lut, log, finished)
  return dict(summary, complete=table.complete(), table=os.path.join(workdir, 'table.npz'))


def unpack(
    plan: BuildPlan, workdir: str, table_path: str, *, log: Callable[[str], None] = print
) -> int:
  """Writes a result file for every measured member of the table at ``table_path`` that
  ``workdir`` lacks; returns how many it wrote.

  The table must come from the same build: the same space, op set, hash rule and
  protocol (by digest), its seeds among the plan's. Its values, train seconds
  included, are copied exactly (the table stores the result files' float32
  values), so the resumed build trains only what the table does not hold.
  """
  space, protocol, seeds, unique, _ = plan
  table = Table.load(table_path)
  meta = table.metadata
  manifest = _manifest(space, protocol, seeds)
  for key in ('space', 'primitives', 'hash_rule', 'protocol_digest'):
    if meta.get(key) != manifest[key]:
      raise BuildError(
          f'{table_path} has a different {key} ({meta.get(key)!r}) from the build '
          f'({manifest[key]!r}); it cannot seed this build'
      )
  if extra := sorted(set(table.seeds) - set(seeds)):
    raise BuildError(f'{table_path} has seeds {extra} that this build does not have ({seeds})')
  if missing := sorted(set(table.hashes) - set(unique)):
    raise BuildError(f'{table_path} has {len(missing)} rows that are not cells of the space')
  os.makedirs(workdir, exist_ok=True)
  _check_manifest(workdir, manifest)
  written = 0
  for i, h in enumerate(table.hashes):
    for j, s in enumerate(table.seeds):
      values = {k: table.epoch[k][i, j] for k in EPOCH_METRICS}
      values.update({k: table.seed[k][i, j] for k in SEED_METRICS})
      if any(np.isnan(v).any() for v in values.values()):
        continue  # not measured in the table
      path = _result_path(workdir, h, s)
      if read_result(path) is not None:
        continue  # the build's own file is kept
      write_result(path, dict(values, arch=table.archs[i], seed=s), h)
      written += 1
  log(f'unpacked {written} members from {table_path} into {workdir}')
  return written


def assemble(
    plan: BuildPlan,
    workdir: str,
    *,
    latency_lut: str | None = None,
    log: Callable[[str], None] = print,
) -> Table:
  """Reads every valid result file of ``workdir`` into a :class:`Table` and writes ``table.npz``.

  Members not yet trained are NaN. Costs (params, FLOPs) are added for every
  row, and predicted latencies when ``latency_lut`` names a lookup file.
  """
  return _assemble(plan, workdir, latency_lut, log)


def _assemble(
    plan: BuildPlan, workdir: str, lut_path, log: Callable[[str], None], finished=None
) -> Table:
  """``finished``: results already in memory, by ``(hash, seed)``; the rest are read from
  their files (members other hosts trained meanwhile, or everything for ``assemble``)."""
  space, protocol, seeds, unique, _ = plan
  finished = finished or {}
  hashes = sorted(unique)
  archs = np.asarray([unique[h] for h in hashes], np.int32)
  a, s, e = len(hashes), len(seeds), protocol.epochs
  epoch = {k: np.full((a, s, e), np.nan, np.float32) for k in EPOCH_METRICS}
  seed = {k: np.full((a, s), np.nan, np.float32) for k in SEED_METRICS}
  found = 0
  for i, h in enumerate(hashes):
    for j, sd in enumerate(seeds):
      result = finished.get((h, sd))
      if result is None:
        result = read_result(_result_path(workdir, h, sd))
      if result is None:
        continue
      found += 1
      for k in EPOCH_METRICS:
        epoch[k][i, j] = result[k]
      for k in SEED_METRICS:
        seed[k][i, j] = result[k]
  from nas_jax import data as data_lib  # pylint: disable=import-outside-toplevel

  meta = data_lib.dataset_meta(protocol.dataset)
  image_shape = data_lib.input_shape(protocol.dataset, protocol.image_size)
  arch = {}
  for name, (base, c) in costs.additive_costs(
      space, protocol, meta.num_classes, image_shape
  ).items():
    arch[name] = costs.predict(base, c, archs)
  if lut_path:
    lut = latency_lib.LatencyTable.load(lut_path)
    lut.check(space, protocol)
    for batch_key, batch in (('latency_b1', 1), ('latency_batch', protocol.batch_size)):
      arch[batch_key] = lut.predict(archs, batch)
  total_seconds = float(np.nansum(seed['train_seconds']))
  metadata = dict(
      space=space.name,
      primitives=list(space.primitives),
      hash_rule=getattr(space, 'hash_rule', None),
      dataset=protocol.dataset,
      protocol=protocol.to_dict(),
      protocol_digest=protocol.digest(),
      seeds=list(seeds),
      members_measured=found,
      members_total=a * s,
      build_train_seconds=total_seconds,
      robustness=dict(
          noise=f'test accuracy with Gaussian noise of std {protocol.noise_std} added to the '
          'pixels (in [0, 1] units, before normalization), one fixed draw for every cell',
          fgsm=f'test accuracy after one FGSM step of {protocol.fgsm_eps} (pixel units, '
          'clipped to [0, 1]) on the test loss, in eval mode',
      ),
      latency=(
          f'predicted from the per-op lookup table {os.path.basename(lut_path)}'
          if lut_path
          else 'not measured'
      ),
      flops='multiply-adds of one image (convolutions and the classifier)',
      train_seconds='wall seconds of the training steps on the building machine',
      machine=f'{jax.default_backend()} ({jax.device_count()} devices)',
      built_by='python -m experiments.tabulate',
      built_at=time.strftime('%Y-%m-%d'),
  )
  table = Table(hashes, archs, seeds, epoch, seed, arch, metadata)
  table.save(os.path.join(workdir, 'table.npz'))
  log(f'table {os.path.join(workdir, "table.npz")}: {found}/{a * s} members measured')
  return table
