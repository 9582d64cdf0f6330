"""One discrete search in a work directory, resumable: the round-based sibling of ``runner``.

:class:`QueryLoop` runs ``strategy`` against ``estimator`` query by query
(``nas_jax.discrete.run_python``: the jitted ask and tell, the estimator between them) and
owns what a long search needs:

- ``history.jsonl``: every query (its architecture, genotype, hash, score, reported metric,
  cost, the simulated seconds spent so far, and whether it was read at full fidelity);
- ``metrics.jsonl`` (plus TensorBoard): the incumbent after each round, with its percentile
  and regret where the estimator has a ground truth;
- ``checkpoints/``: the strategy's state every ``checkpoint_every`` rounds and at the end,
  with the round, the seconds spent and an early-stopping rule's history. A killed search
  (SIGKILL included) resumes from the newest checkpoint, its files cut back to it, and
  ends as the uninterrupted one would;
- a progress line every ``log_every`` seconds with the ETA.

The incumbent is the query with the best primary score among the full-fidelity ones. A
budget in simulated seconds (``budget_seconds``) ends the search after the round that
reaches it. ``experiments.discrete`` writes the summary and the plots from what this returns.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import os
import time
from typing import Any

import jax
import numpy as np

from nas_jax import checkpoint, discrete
from nas_jax import metrics as metrics_lib

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
  """The resumable search (module docstring).

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
    restored = ckpt.restore(template)
    if restored is None:
      return None, 0, None, 0.0
    state, position, step0 = restored
    if rule is not None:
      if 'early_stop_seen' not in position:
        raise checkpoint.CheckpointError(
            f'the checkpoint in {ckpt.directory} was written without config.early_stop: '
            'resume it with early_stop.epoch=0, or start in a new workdir'
        )
      rule.restore(position['early_stop_seen'])
    first = position['round']
    self.log(f'resumed from the checkpoint after round {first} ({step0} queries)')
    return (state, first), first, step0, position['spent']

  def run(self, strategy, estimator, space, key: jax.Array) -> dict[str, Any]:
    """Runs (or resumes) the search; returns the incumbent's history record with its
    ``score`` (``{'score': -inf}`` when no query was read at full fidelity)."""
    if self.num_queries % self.batch:
      raise ValueError(
          f'num_queries ({self.num_queries}) must be a multiple of batch ({self.batch})'
      )
    template, _ = discrete.initial_state(strategy, space, key)
    ckpt = checkpoint.Checkpoints(os.path.join(self.workdir, checkpoint.CHECKPOINT_DIR))
    rule = estimator.early_stop  # its history is a part of the position
    start, first_round, step0, spent = self._resume(ckpt, template, rule)
    metrics = metrics_lib.MetricsLog(self.workdir, step0)
    history = metrics_lib.MetricsLog(self.workdir, step0, tensorboard=False, filename=HISTORY_FILE)
    best = {'score': -np.inf}
    for record in metrics_lib.read_metrics(history.path):  # the queries before the checkpoint
      if record.get('full', True) and record['primary'] > best['score']:
        best = dict(record, score=record['primary'])
    rounds = self.num_queries // self.batch
    started, last_log = time.perf_counter(), 0.0

    def on_round(state, i, trace):
      nonlocal spent, last_log
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
      now = time.perf_counter()
      if done or now - last_log >= self.log_every:
        last_log = now
        rate = (i + 1 - first_round) / max(now - started, 1e-9)
        eta = (rounds - i - 1) / max(rate, 1e-9)
        self.log(
            f'query {step}/{self.num_queries} | {spent:.0f} s simulated | best {self.metric} '
            f'{abs(best["score"]):.4f}: {self.report} {best["report"]:.4f} (percentile '
            f'{percentile:.1f}, regret {regret:.4f}) | ETA {metrics_lib.format_seconds(eta)}'
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
