"""One resumable epoch loop, shared by the differentiable search and the retraining.

:class:`EpochLoop` owns what every long run needs and nothing of what it trains:

- **resume**: the newest checkpoint that restores gives the state and the position (epoch,
  batch, the epoch's partial metric sums, the seconds run); a killed run, SIGKILL included,
  goes on from there, its metrics files cut back to the checkpoint's step;
- **checkpoints** every ``checkpoint_every`` steps and at every epoch end;
- **the NaN stop**: a non-finite loss stops the run in one line naming the step, the last
  good checkpoint kept;
- **progress** every ``log_every`` steps with the rate and the ETA, and an epoch line;
- **metrics**: one ``metrics.jsonl`` (plus TensorBoard) per output directory, one
  directory per seed of a vmapped multi-seed run.

The caller gives the step (``step(state, epoch, i) -> (state, metrics)``, metrics fetched to
the host: arrays with a leading seed axis, or scalars) and what an epoch's end records
(``end_epoch``). Both ``nas_jax.search.run_search`` and ``nas_jax.train.run_train`` are this
loop with their own step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import dataclasses
import os
import time
from typing import Any

import jax
import numpy as np

from nas_jax.checkpoint import CHECKPOINT_DIR, Checkpoints, restore_or_start
from nas_jax.metrics import MetricsLog, check_finite, format_seconds

# ``(state, epoch, means, epoch seconds, run seconds) -> (one record per metrics directory,
# the epoch's log line)``; ``means`` are the epoch's metric sums over its steps.
EndEpoch = Callable[[Any, int, dict[str, np.ndarray], float, float], tuple[list[dict], str]]
# ``(epoch, i, means so far, steps per second) -> a progress line`` (without the ETA).
Progress = Callable[[int, int, dict[str, np.ndarray], float], str]


@dataclasses.dataclass
class LoopResult:
  """What a finished :meth:`EpochLoop.run` leaves: the final state, the seconds of the first
  step (its compile, None if the run resumed past its last step), the seconds run over all
  sittings, the checkpoint step it resumed from (None: a fresh start) and the epochs this
  sitting ran."""

  state: Any
  compile_seconds: float | None
  run_seconds: float
  resumed_from: int | None
  epochs_run: int


@dataclasses.dataclass
class EpochLoop:
  """The resumable loop (module docstring).

  Args:
    workdir: the run directory; checkpoints go to ``workdir/checkpoints``.
    epochs, steps_per_epoch: the loop's length.
    metric_dirs: one metrics directory per record ``end_epoch`` returns (default:
      ``[workdir]``).
    finite: metric name -> what it is (``'weight step'``), each checked for NaN after every
      step ('' names nothing).
    checkpoint_every: steps between mid-epoch checkpoints (0: only at epoch ends).
    keep_checkpoints: how many checkpoints are kept.
    log_every: steps between progress lines (0: none).
    tensorboard: whether the metrics also go to TensorBoard event files.
    writer: False on a multi-host run's non-writing processes.
    log: where lines go.
  """

  workdir: str
  epochs: int
  steps_per_epoch: int
  metric_dirs: Sequence[str] | None = None
  finite: Mapping[str, str] = dataclasses.field(default_factory=lambda: {'loss': ''})
  checkpoint_every: int = 0
  keep_checkpoints: int = 2
  log_every: int = 0
  tensorboard: bool = True
  writer: bool = True
  log: Callable[[str], None] = print

  def run(self, state, step, end_epoch: EndEpoch, progress: Progress | None = None) -> LoopResult:
    """Runs (or resumes) the epochs; see the module docstring."""
    ckpt = Checkpoints(os.path.join(self.workdir, CHECKPOINT_DIR), keep=self.keep_checkpoints)
    state, position, resumed_from = restore_or_start(ckpt, state, self.log)
    logs = [
        MetricsLog(d, resume_step=resumed_from, enabled=self.writer, tensorboard=self.tensorboard)
        for d in (self.metric_dirs or [self.workdir])
    ]
    last_saved = resumed_from

    def save(epoch, index, sums, seconds):
      nonlocal last_saved
      pos = {
          'epoch': epoch,
          'index': index,
          'seconds': seconds,
          'sums': {k: np.asarray(v, np.float64).tolist() for k, v in sums.items()},
      }
      at = int(np.ravel(jax.device_get(state.step))[0])
      if ckpt.save(at, state, pos):
        last_saved = at

    compile_seconds = None
    run_seconds = position['seconds']
    steps = self.steps_per_epoch
    total = self.epochs * steps
    for epoch in range(position['epoch'], self.epochs):
      resuming = epoch == position['epoch']
      first = position['index'] if resuming else 0
      sums = {k: np.asarray(v, np.float64) for k, v in position['sums'].items()} if resuming else {}
      epoch_start = time.time()
      for i in range(first, steps):
        t0 = time.time()
        state, metrics = step(state, epoch, i)
        if compile_seconds is None:
          compile_seconds = time.time() - t0
        done = epoch * steps + i + 1
        for key, what in self.finite.items():
          where = f'epoch {epoch + 1}, batch {i + 1}' + (f', {what}' if what else '')
          check_finite(metrics[key], done, where, last_saved)
        for k, v in metrics.items():
          sums[k] = sums.get(k, 0.0) + np.asarray(v, np.float64)
        if progress and self.log_every > 0 and (i + 1) % self.log_every == 0 and i + 1 < steps:
          rate = (i + 1 - first) / max(time.time() - epoch_start, 1e-9)
          means = {k: v / (i + 1) for k, v in sums.items()}
          eta = format_seconds((total - done) / rate)
          self.log(f'{progress(epoch, i, means, rate)} | ETA {eta}')
        if self.checkpoint_every > 0 and done % self.checkpoint_every == 0 and i + 1 < steps:
          save(epoch, i + 1, sums, run_seconds + time.time() - epoch_start)
      seconds = time.time() - epoch_start
      run_seconds += seconds
      means = {k: v / steps for k, v in sums.items()}
      records, line = end_epoch(state, epoch, means, seconds, run_seconds)
      for metrics_log, record in zip(logs, records):
        metrics_log.write(record)  # before the checkpoint: a resume drops lines past its step
      save(epoch + 1, 0, {}, run_seconds)
      eta = run_seconds / (epoch + 1) * (self.epochs - epoch - 1)
      self.log(f'{line} | ETA {format_seconds(eta)}')
    for metrics_log in logs:
      metrics_log.close()
    ckpt.close()
    return LoopResult(
        state=state,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        resumed_from=resumed_from,
        epochs_run=self.epochs - position['epoch'],
    )
