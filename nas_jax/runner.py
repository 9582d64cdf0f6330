"""One resumable runner: the loops of every long job, on one core.

The core is what any long run needs, whatever it trains:

- **resume**: ``checkpoint.restore_or_start`` gives the newest checkpoint's state and
  position (a killed run, SIGKILL included, goes on from there), and the metrics files
  (``metrics.MetricsLog``) are cut back to the checkpoint's step;
- **the NaN stop** (``metrics.check_finite``): a non-finite loss stops the run in one line
  naming the step, the last good checkpoint kept;
- **progress** with the rate and the ETA (:class:`Progress`).

Three drivers run on it:

- :class:`EpochLoop`: epochs of steps, checkpointed every ``checkpoint_every`` steps and at
  every epoch end; ``nas_jax.search.search`` (differentiable search) and
  ``nas_jax.train.retrain`` (retraining) are this loop with their own step;
- :class:`QueryLoop`: a discrete search, round by round (the jitted ask and tell, the
  estimator between them), every query in ``history.jsonl``, checkpointed every
  ``checkpoint_every`` rounds; ``experiments.discrete`` runs it;
- the table builder (``nas_jax.tabular.builder.build``) resumes from its per-member result
  files instead of a checkpoint, and reports its progress with :class:`Progress`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import dataclasses
import os
import time
from typing import Any

import jax
import numpy as np

from nas_jax import discrete
from nas_jax.checkpoint import CHECKPOINT_DIR, CheckpointError, Checkpoints, restore_or_start
from nas_jax.metrics import MetricsLog, check_finite, format_seconds, read_metrics

__all__ = ['HISTORY_FILE', 'EpochLoop', 'LoopResult', 'Progress', 'QueryLoop', 'standing']

# ``(state, epoch, means, epoch seconds, run seconds) -> (one record per metrics directory,
# the epoch's log line)``; ``means`` are the epoch's metric sums over its steps.
EndEpoch = Callable[[Any, int, dict[str, np.ndarray], float, float], tuple[list[dict], str]]
# ``(epoch, i, means so far, steps per second) -> a progress line`` (without the ETA).
ProgressLine = Callable[[int, int, dict[str, np.ndarray], float], str]


class Progress:
  """The rate and the ETA of a run counted in units (steps, rounds, members).

  ``total`` units make the run, ``done`` of them were done before this sitting; the rate is
  over this sitting's units since the Progress was made (or last :meth:`restart`-ed), so an
  earlier sitting's or a compile's time does not enter it unless it falls in the window.
  """

  def __init__(self, total: int, done: int = 0, clock: Callable[[], float] = time.perf_counter):
    self.total = total
    self._clock = clock
    self.restart(done)
    self._last_line = self._started

  def restart(self, done: int) -> None:
    """Starts a new rate window at ``done`` units."""
    self._first = done
    self._started = self._clock()

  def rate(self, done: int) -> float:
    """Units per second since the window started."""
    return (done - self._first) / max(self._clock() - self._started, 1e-9)

  def eta(self, done: int) -> str:
    """``H:MM:SS`` left for the ``total - done`` units at the window's rate."""
    return format_seconds((self.total - done) / max(self.rate(done), 1e-9))

  def due(self, every_seconds: float) -> bool:
    """Whether ``every_seconds`` have passed since the last due line (then starts the next)."""
    now = self._clock()
    if now - self._last_line < every_seconds:
      return False
    self._last_line = now
    return True


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

  def run(
      self, state, step, end_epoch: EndEpoch, progress: ProgressLine | None = None
  ) -> LoopResult:
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
    progress_of = Progress(total)
    for epoch in range(position['epoch'], self.epochs):
      resuming = epoch == position['epoch']
      first = position['index'] if resuming else 0
      sums = {k: np.asarray(v, np.float64) for k, v in position['sums'].items()} if resuming else {}
      epoch_start = time.time()
      progress_of.restart(epoch * steps + first)  # the rate of this epoch's steps
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
          means = {k: v / (i + 1) for k, v in sums.items()}
          line = progress(epoch, i, means, progress_of.rate(done))
          self.log(f'{line} | ETA {progress_of.eta(done)}')
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


HISTORY_FILE = 'history.jsonl'


def standing(estimator, arch, report: float, report_metric: str) -> tuple[float, float]:
  """The percentile of ``arch`` among its table's cells by ``report_metric`` and its regret
  (``report`` against the table's best); NaN for an estimator without a ground truth
  (``estimator.table`` None: live training)."""
  if estimator.table is None:
    return float('nan'), float('nan')
  percentile = estimator.report_table.percentile(arch, report_metric)
  return percentile, float(discrete.regret(estimator, report))


@dataclasses.dataclass
class QueryLoop:
  """One discrete search in a work directory, resumable.

  It runs ``strategy`` against ``estimator`` query by query (``nas_jax.discrete.run_python``:
  the jitted ask and tell, the estimator between them) and writes:

  - ``history.jsonl``: every query (its architecture, genotype, hash, score, reported
    metric, cost, the simulated seconds spent so far, and whether it was read at full
    fidelity);
  - ``metrics.jsonl`` (plus TensorBoard): the incumbent after each round, with its
    percentile and regret where the estimator has a ground truth;
  - ``checkpoints/``: the strategy's state every ``checkpoint_every`` rounds and at the end,
    with the round, the seconds spent and an early-stopping rule's history. A killed search
    (SIGKILL included) resumes from the newest checkpoint, its files cut back to it, and
    ends as the uninterrupted one would;
  - a progress line every ``log_every`` seconds with the ETA.

  The incumbent is the query with the best primary score among the full-fidelity ones. A
  budget in simulated seconds (``budget_seconds``) ends the search after the round that
  reaches it. ``experiments.discrete`` writes the summary and the plots from what this
  returns.

  Args:
    workdir: the run directory (created by the caller).
    num_queries: the queries to ask in all, a multiple of ``batch``.
    batch: architectures per round (per ``ask``).
    budget_seconds: end after the round whose simulated seconds reach this (None: no such
      budget; the search asks ``num_queries``).
    checkpoint_every: rounds between checkpoints (one is always written at the end).
    log_every: seconds between progress lines.
    metric, report: the names of the searched and the reported metric, for the log lines and
      the percentile.
    log: where lines go.
  """

  workdir: str
  num_queries: int
  batch: int = 1
  budget_seconds: float | None = None
  checkpoint_every: int = 20
  log_every: float = 5.0
  metric: str = 'val_acc'
  report: str = 'test_acc'
  log: Callable[[str], None] = print

  @property
  def history_path(self) -> str:
    return os.path.join(self.workdir, HISTORY_FILE)

  def _spent_out(self, spent: float) -> bool:
    return self.budget_seconds is not None and spent >= self.budget_seconds

  def _resume(self, ckpt, template, rule):
    """``(start, first round, queries done, seconds spent)`` from the newest checkpoint."""
    state, position, step0 = restore_or_start(
        ckpt,
        template,
        self.log,
        start={'round': 0, 'spent': 0.0},
        where=lambda position, step: f'step {step} (round {position["round"]})',
    )
    if step0 is None:
      return None, 0, None, 0.0
    if rule is not None:
      if 'early_stop_seen' not in position:
        raise CheckpointError(
            f'the checkpoint in {ckpt.directory} was written without config.early_stop: '
            'resume it with early_stop.epoch=0, or start in a new workdir'
        )
      rule.restore(position['early_stop_seen'])
    first = position['round']
    return (state, first), first, step0, position['spent']

  def run(self, strategy, estimator, space, key: jax.Array) -> dict[str, Any]:
    """Runs (or resumes) the search; returns the incumbent's history record with its
    ``score`` (``{'score': -inf}`` when no query was read at full fidelity)."""
    if self.num_queries % self.batch:
      raise ValueError(
          f'num_queries ({self.num_queries}) must be a multiple of batch ({self.batch})'
      )
    template, _ = discrete.initial_state(strategy, space, key)
    ckpt = Checkpoints(os.path.join(self.workdir, CHECKPOINT_DIR))
    rule = estimator.early_stop  # its history is a part of the position
    start, first_round, step0, spent = self._resume(ckpt, template, rule)
    metrics = MetricsLog(self.workdir, step0)
    history = MetricsLog(self.workdir, step0, tensorboard=False, filename=HISTORY_FILE)
    best = {'score': -np.inf}
    for record in read_metrics(history.path):  # the queries before the checkpoint
      if record.get('full', True) and record['primary'] > best['score']:
        best = dict(record, score=record['primary'])
    rounds = self.num_queries // self.batch
    progress = Progress(rounds, first_round)

    def on_round(state, i, trace):
      nonlocal spent
      step = (i + 1) * self.batch
      for j in range(self.batch):
        spent += float(trace.cost[j])
        record = self._record(space, trace, j, step - self.batch + j + 1, spent)
        history.write(record)
        if record['full'] and record['primary'] > best['score']:
          best.clear()
          best.update(record, score=record['primary'])
      percentile, regret = standing(estimator, best.get('arch'), best.get('report'), self.report)
      metrics.write(
          dict(
              step=step,
              spent=spent,
              best_score=best['score'],
              best_report=best['report'],
              percentile=percentile,
              regret=regret,
          )
      )
      done = (i + 1 == rounds) or self._spent_out(spent)
      if done or (i + 1) % self.checkpoint_every == 0:
        position = {'round': i + 1, 'spent': spent}
        if rule is not None:
          position['early_stop_seen'] = list(rule.seen)
        ckpt.save(step, state, position)
      if progress.due(self.log_every) or done or i == first_round:  # the sitting's first
        self.log(
            f'query {step}/{self.num_queries} | {spent:.0f} s simulated | best {self.metric} '
            f'{abs(best["score"]):.4f}: {self.report} {best["report"]:.4f} (percentile '
            f'{percentile:.1f}, regret {regret:.4f}) | ETA {progress.eta(i + 1)}'
        )
      return done

    if first_round < rounds and not self._spent_out(spent):
      discrete.run_python(
          strategy,
          estimator,
          space,
          key,
          self.num_queries,
          self.batch,
          start=start,
          on_round=on_round,
      )
    metrics.close()
    ckpt.close()
    return best

  @staticmethod
  def _record(space, trace, j: int, step: int, spent: float) -> dict[str, Any]:
    """The history record of the round's ``j``-th query."""
    arch = [int(a) for a in np.asarray(trace.archs[j])]
    score = np.asarray(trace.score[j], np.float64)  # () or (objectives,)
    return dict(
        step=step,
        arch=arch,
        genotype=space.to_text(space.to_genotype(arch)),
        hash=space.hash(arch),
        score=score.tolist(),
        primary=float(score.reshape(-1)[0]),  # the metric's score (the first objective)
        report=float(trace.report[j]),
        cost=float(trace.cost[j]),
        spent=spent,
        full=bool(trace.full[j]),
    )
