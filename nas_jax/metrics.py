"""Run metrics: the ``metrics.jsonl`` log (plus TensorBoard), the NaN stop and time formats.

Every record has a ``step``; on resume the lines a killed run wrote after its last
checkpoint are dropped (:class:`MetricsLog`), so the file reads as if the run had never
stopped. A torn last line is skipped when read (:func:`read_metrics`).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from nas_jax.util import atomic_write

METRICS_FILE = 'metrics.jsonl'


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
    filename: the jsonl file in ``workdir`` (another name for a second record, such as a
      discrete search's ``history.jsonl``).
  """

  def __init__(
      self,
      workdir: str,
      resume_step: int | None = None,
      enabled: bool = True,
      tensorboard: bool = True,
      filename: str = METRICS_FILE,
  ):
    self.path = os.path.join(workdir, filename)
    self.enabled = enabled
    self._tb = None
    if not enabled:
      return
    kept = (
        [r for r in read_metrics(self.path) if r.get('step', 0) <= resume_step]
        if (resume_step is not None and os.path.exists(self.path))
        else []
    )
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
  kept = (
      f'the last good checkpoint (step {checkpoint_step}) is kept'
      if checkpoint_step is not None
      else 'no checkpoint was written yet'
  )
  raise NonFiniteLossError(
      f'loss is {values.tolist() if values.size > 1 else values[0]} at step '
      f'{step} ({where}); stopping, {kept}'
  )


def format_seconds(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'
