"""Checkpoints (Orbax), metrics files and the run bookkeeping shared by search and retraining.

A run's state is the jit state pytree (weights, optimizer states, alpha, step)
plus a small JSON record of where the loop stands (epoch, batch index,
partial epoch sums). The data order is a pure function of ``(seed, epoch,
batch)`` (``nas_jax.data.BatchStream``) and every random key is derived from
the seed and the step, so those two are the whole state: rerunning the same
command on the same workdir continues where the last checkpoint left off and
produces bit-identical results on the CPU.

Orbax writes each checkpoint into a temporary directory and renames it when
complete, so a run killed during a save loses only the step in flight.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any, Callable

import numpy as np

CHECKPOINT_DIR = 'checkpoints'
METRICS_FILE = 'metrics.jsonl'


def atomic_write(path: str, payload: bytes | str) -> None:
  """Writes ``payload`` to ``path`` through a temporary file and a rename."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  mode = 'wb' if isinstance(payload, bytes) else 'w'
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.')
  try:
    with os.fdopen(fd, mode) as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


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
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           enable_async_checkpointing=False,
                                           cleanup_tmp_directories=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    """The step of the newest complete checkpoint, or None."""
    return self._manager.latest_step()

  def save(self, step: int, state: Any, position: dict[str, Any]) -> bool:
    """Saves ``state`` and ``position`` as checkpoint ``step`` (no-op if it exists)."""
    if self._manager.latest_step() == step:
      return False
    ocp = self._ocp
    self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                     position=ocp.args.JsonSave(position)),
                       force=True)
    self._manager.wait_until_finished()
    return True

  def restore(self, template: Any) -> tuple[Any, dict[str, Any], int] | None:
    """Restores the newest checkpoint into the structure and shardings of ``template``.

    Returns:
      ``(state, position, step)``, or None when there is no checkpoint.
    """
    step = self._manager.latest_step()
    if step is None:
      return None
    ocp = self._ocp
    restored = self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(template),
                                      position=ocp.args.JsonRestore()))
    return restored['state'], dict(restored['position']), step

  def close(self) -> None:
    self._manager.close()


def restore_or_start(ckpt: Checkpoints, state: Any,
                     log: Callable[[str], None]) -> tuple[Any, dict[str, Any], int | None]:
  """The newest checkpoint's ``(state, position, step)``, or the fresh start ``(state, ..., None)``.

  The position is where the loop stands: ``epoch``, batch ``index`` within it,
  the partial epoch ``sums`` of the metrics and the ``seconds`` run so far.
  """
  restored = ckpt.restore(state)
  if restored is None:
    return state, {'epoch': 0, 'index': 0, 'sums': {}, 'seconds': 0.0}, None
  state, position, step = restored
  log(f'resumed from the checkpoint at step {step} (epoch {position["epoch"] + 1}, '
      f'batch {position["index"]}) in {ckpt.directory}')
  return state, position, step


def _jsonable(value: Any) -> Any:
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, (np.floating, np.integer)):
    return value.item()
  return value


class MetricsLog:
  """``metrics.jsonl`` (one JSON object per line) plus TensorBoard event files.

  Every record has a ``step``. On resume (``resume_step`` given) the lines
  written after that step by the interrupted run are dropped, so the file
  reads as if the run had never stopped.

  Args:
    workdir: run directory; the events go to ``workdir/tensorboard``.
    resume_step: the restored checkpoint's step, or None for a fresh run.
    enabled: False on non-writing processes of a multi-host run.
    tensorboard: whether to write event files.
  """

  def __init__(self, workdir: str, resume_step: int | None = None, enabled: bool = True,
               tensorboard: bool = True):
    self.path = os.path.join(workdir, METRICS_FILE)
    self.enabled = enabled
    self._tb = None
    if not enabled:
      return
    kept = [r for r in read_metrics(self.path) if r.get('step', 0) <= resume_step] if (
        resume_step is not None and os.path.exists(self.path)) else []
    atomic_write(self.path, ''.join(json.dumps(r) + '\n' for r in kept))
    if tensorboard:
      from flax.metrics import tensorboard as tb
      self._tb = tb.SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def write(self, record: dict[str, Any], prefix: str = '') -> None:
    """Appends ``record`` to the jsonl file and its scalars to TensorBoard."""
    if not self.enabled:
      return
    record = {k: _jsonable(v) for k, v in record.items()}
    with open(self.path, 'a') as f:
      f.write(json.dumps(record) + '\n')
      f.flush()
    if self._tb is not None:
      for key, value in record.items():
        if key != 'step' and isinstance(value, (int, float)) and not isinstance(value, bool):
          self._tb.scalar(prefix + key, value, record['step'])
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def read_metrics(path: str) -> list[dict[str, Any]]:
  """The records of a ``metrics.jsonl`` file (a torn last line, from a kill, is skipped)."""
  records = []
  with open(path) as f:
    lines = f.read().split('\n')
  for n, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError:
      if n == len(lines) or (n == len(lines) - 1 and not lines[-1]):
        continue  # the line being written when the run was killed
      raise ValueError(f'{path}: line {n} is not valid JSON') from None
  return records


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or infinite; the message names the step."""


def check_finite(loss: Any, step: int, where: str, checkpoint_step: int | None) -> None:
  """Raises NonFiniteLossError (one line) if any entry of ``loss`` is NaN or infinite."""
  values = np.ravel(np.asarray(loss, np.float64))
  if all(math.isfinite(v) for v in values):
    return
  kept = (f'the last good checkpoint (step {checkpoint_step}) is kept'
          if checkpoint_step is not None else 'no checkpoint was written yet')
  raise NonFiniteLossError(f'loss is {values.tolist() if values.size > 1 else values[0]} at step '
                           f'{step} ({where}); stopping, {kept}')


def format_seconds(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'
