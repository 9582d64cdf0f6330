"""Checkpoints (Orbax) and the resume position shared by search and retraining.

A run's state is the jit state pytree (weights, optimizer states, alpha, step)
plus a small JSON record of where the loop stands (epoch, batch index,
partial epoch sums). The data order is a pure function of ``(seed, epoch,
batch)`` (``nas_jax.data.BatchStream``) and every random key is derived from
the seed and the step, so those two are the whole state: rerunning the same
command on the same workdir continues where the last checkpoint left off and
produces bit-identical results on the CPU.

Orbax writes each checkpoint into a temporary directory and renames it when
complete, so a run killed during a save loses only the step in flight. A
checkpoint that is complete on disk but does not restore (a truncated or
damaged file) is skipped: the run resumes from the newest one that restores,
and moves the others to ``checkpoints_unreadable/`` so that it can save those
steps again. If none restores, the run stops with one line and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
import logging
import os
import sys
from typing import Any
import warnings

from nas_jax.metrics import METRICS_FILE, read_metrics

CHECKPOINT_DIR = 'checkpoints'
UNREADABLE_SUFFIX = '_unreadable'  # checkpoints/ -> checkpoints_unreadable/


class CheckpointError(RuntimeError):
  """No checkpoint of a run directory restores; the message is one line."""


def _root_cause(error: BaseException, limit: int = 300) -> str:
  """The innermost cause of ``error`` in one line.

  Orbax wraps TensorStore's one-line reason (e.g. ``OUT_OF_RANGE: ... is not
  valid for value of size 100``) in an exception carrying pages of spec.
  """
  while error.__cause__ is not None:
    error = error.__cause__
  lines = str(error).strip().splitlines()
  line = lines[0].strip() if lines else type(error).__name__
  return line if len(line) <= limit else line[: limit - 3] + '...'


_ORBAX_DIR = f'{os.sep}orbax{os.sep}'
_LEFTOVER_LOGS = ('exception was never retrieved', 'was destroyed but it is pending')
_NEVER_AWAITED = r"coroutine '.*' was never awaited"


def _not_a_leftover_report(record: logging.LogRecord) -> bool:
  return not any(text in record.getMessage() for text in _LEFTOVER_LOGS)


def _drop_leftover_unraisable(unraisable, previous) -> None:
  error, code = unraisable.exc_value, getattr(unraisable.object, 'cr_code', None)
  if isinstance(error, RuntimeError) and str(error) == 'Event loop is closed':
    return
  if code is not None and _ORBAX_DIR in code.co_filename:
    return
  previous(unraisable)


def _quiet_orphaned_reads() -> Callable[[], None]:
  """Keeps the reads a failed restore leaves behind from printing; returns the undo.

  Orbax gathers a restore's reads on an event loop that it closes when the
  first read fails; the other reads finish later, on TensorStore's threads.
  Python reports each leftover at some later time, through three channels:
  unraisable exceptions ('Event loop is closed' from their callbacks, and the
  read error again when their coroutines are collected), asyncio's log
  ('Future exception was never retrieved') and 'coroutine ... was never
  awaited' warnings: dozens of tracebacks after one-line messages. Only these
  reports are dropped, and only until the undo (when no restore failed).
  """
  undo = []
  previous = sys.unraisablehook
  if getattr(previous, 'func', None) is not _drop_leftover_unraisable:
    sys.unraisablehook = functools.partial(_drop_leftover_unraisable, previous=previous)
    undo.append(lambda: setattr(sys, 'unraisablehook', previous))
  asyncio_log = logging.getLogger('asyncio')  # nas_jax itself runs no asyncio
  if _not_a_leftover_report not in asyncio_log.filters:
    asyncio_log.addFilter(_not_a_leftover_report)
    undo.append(lambda: asyncio_log.removeFilter(_not_a_leftover_report))
  if not any(
      f[0] == 'ignore' and f[1] and f[1].pattern == _NEVER_AWAITED for f in warnings.filters
  ):
    warnings.filterwarnings('ignore', message=_NEVER_AWAITED, category=RuntimeWarning)
    entry = warnings.filters[0]
    undo.append(lambda: entry in warnings.filters and warnings.filters.remove(entry))

  def undo_all():
    for fn in reversed(undo):
      fn()

  return undo_all


class Checkpoints:
  """Orbax ``CheckpointManager`` for ``(state pytree, JSON position)`` pairs.

  Args:
    directory: where the step directories go (created).
    keep: how many of the newest checkpoints to keep.
  """

  def __init__(self, directory: str, keep: int = 2):
    import orbax.checkpoint as ocp  # slow import: only runs that checkpoint pay it

    self._ocp = ocp
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        create=True,
        enable_async_checkpointing=False,
        cleanup_tmp_directories=True,
    )
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    """The step of the newest complete checkpoint, or None."""
    return self._manager.latest_step()

  def save(self, step: int, state: Any, position: dict[str, Any]) -> bool:
    """Saves ``state`` and ``position`` as checkpoint ``step`` (no-op if it exists)."""
    if self._manager.latest_step() == step:
      return False
    ocp = self._ocp
    self._manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), position=ocp.args.JsonSave(position)
        ),
        force=True,
    )
    self._manager.wait_until_finished()
    return True

  def restore(
      self, template: Any, log: Callable[[str], None] = print
  ) -> tuple[Any, dict[str, Any], int] | None:
    """Restores the newest checkpoint that restores completely into ``template``.

    Checkpoints that fail to restore are tried newest first and skipped: each
    gets one line on ``log`` and is moved to ``<directory>_unreadable/``, so
    that the resumed run can save its step again (and the files are kept).

    Returns:
      ``(state, position, step)``, or None when there is no checkpoint.

    Raises:
      CheckpointError: there are checkpoints but none restores; nothing was
        moved or changed.
    """
    steps = sorted(self._manager.all_steps(), reverse=True)
    if not steps:
      return None
    ocp = self._ocp
    failed = []
    # Before the first read: a failed one's leftovers can be reported before it raises.
    undo_quiet = _quiet_orphaned_reads()
    for step in steps:
      try:
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(template), position=ocp.args.JsonRestore()
            ),
        )
      except Exception as e:  # pylint: disable=broad-except
        # Orbax and TensorStore raise Exception, ValueError, OSError, KeyError, ...;
        # whatever it is, this step cannot be resumed from.
        failed.append((step, _root_cause(e)))
        continue
      if not failed:
        undo_quiet()  # no read was left behind
      else:
        aside = self._set_aside([s for s, _ in failed])
        for s, reason in failed:
          log(
              f'skipped the checkpoint at step {s}: it does not restore ({reason}); '
              f'moved it to {aside}'
          )
      return restored['state'], dict(restored['position']), step
    step, reason = failed[0]
    rest = [str(s) for s, _ in failed[1:]]
    older = (
        f'; step {rest[0]} fails too'
        if len(rest) == 1
        else f'; steps {", ".join(rest)} fail too'
        if rest
        else ''
    )
    raise CheckpointError(
        f'no checkpoint in {self.directory} restores (step {step}: {reason}{older}); nothing '
        f'was changed. To start over, use a new --workdir or remove {self.directory}'
    )

  def _set_aside(self, steps: list[int]) -> str:
    """Moves step directories out of Orbax's view, into ``<directory>_unreadable/``."""
    aside = self.directory + UNREADABLE_SUFFIX
    multihost = self._ocp.multihost
    if multihost.process_index() == 0:  # one shared directory: one process moves
      os.makedirs(aside, exist_ok=True)
      for step in steps:
        target, n = os.path.join(aside, str(step)), 1
        while os.path.exists(target):  # the same step set aside by an earlier resume
          target, n = os.path.join(aside, f'{step}.{n}'), n + 1
        os.replace(os.path.join(self.directory, str(step)), target)
    multihost.sync_global_processes('nas_jax_checkpoints_set_aside')
    self._manager.reload()
    return aside

  def close(self) -> None:
    self._manager.close()


def read_newest(directory: str, template: Any) -> tuple[Any, dict[str, Any], int] | None:
  """The newest checkpoint in ``directory`` as ``(state, position, step)``, read only.

  Unlike :meth:`Checkpoints.restore` (a resume), nothing is created, moved or skipped: a reader
  of a finished run (an export) must not change it. None when ``directory`` holds no
  checkpoint.

  Raises:
    CheckpointError: the newest checkpoint does not restore into ``template`` (one line).
  """
  import orbax.checkpoint as ocp

  directory = os.path.abspath(directory)
  if not os.path.isdir(directory):
    return None
  options = ocp.CheckpointManagerOptions(
      read_only=True, create=False, max_to_keep=None, save_interval_steps=0
  )
  previous = logging.getLogger('absl').level
  logging.getLogger('absl').setLevel(logging.ERROR)  # Orbax warns that the reader is read-only
  try:
    manager = ocp.CheckpointManager(directory, options=options)
  finally:
    logging.getLogger('absl').setLevel(previous)
  try:
    step = manager.latest_step()
    if step is None:
      return None
    try:
      restored = manager.restore(
          step,
          args=ocp.args.Composite(
              state=ocp.args.StandardRestore(template), position=ocp.args.JsonRestore()
          ),
      )
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointError(
          f'the checkpoint at step {step} in {directory} does not restore ({_root_cause(e)})'
      ) from None
    return restored['state'], dict(restored['position']), step
  finally:
    manager.close()


def _epoch_position(position: dict[str, Any], step: int) -> str:
  return f'step {step} (epoch {position["epoch"] + 1}, batch {position["index"]})'


def restore_or_start(
    ckpt: Checkpoints,
    state: Any,
    log: Callable[[str], None],
    start: dict[str, Any] | None = None,
    where: Callable[[dict[str, Any], int], str] = _epoch_position,
) -> tuple[Any, dict[str, Any], int | None]:
  """The newest checkpoint's ``(state, position, step)``, or the fresh start ``(state, start, None)``.

  The position is where the loop stands. The default (``start`` None) is an epoch loop's:
  ``epoch``, batch ``index`` within it, the partial epoch ``sums`` of the metrics and the
  ``seconds`` run so far; ``where(position, step)`` describes a restored one in the resume
  line. Checkpoints that do not restore are skipped (see ``Checkpoints.restore``);
  if none restores, CheckpointError is raised before anything is written, so
  a run never starts over on top of the metrics of the one it was resuming.
  """
  restored = ckpt.restore(state, log)
  if restored is None:
    # No step directory at all (none written yet, or removed by hand): say so where an
    # earlier run left metrics, which the fresh run replaces.
    metrics = os.path.join(os.path.dirname(ckpt.directory), METRICS_FILE)
    if os.path.exists(metrics) and read_metrics(metrics):
      log(
          f'no checkpoint in {ckpt.directory}: starting from step 0 (the records in '
          f'{metrics} are replaced)'
      )
    fresh = {'epoch': 0, 'index': 0, 'sums': {}, 'seconds': 0.0} if start is None else start
    return state, dict(fresh), None
  state, position, step = restored
  log(f'resumed from the checkpoint at {where(position, step)} in {ckpt.directory}')
  return state, position, step
