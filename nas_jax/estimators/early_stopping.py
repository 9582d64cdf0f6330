"""Early stopping by a learning-curve rule: train every query a few epochs, finish the good ones.

:class:`MedianStopping` is the median stopping rule of Google Vizier (Golovin et al., KDD
2017) in the form that suits a stream of queries: every query trains to epoch ``epoch``
(k) and is read there; it trains on to the search's own epoch only if its *signal* at k
is at least the ``quantile`` (0.5: the median) of the signals of every query read so far
(the stopped ones included). The first ``warmup`` queries always finish. Two signals:

* ``'metric'``: the search's metric after k epochs (``val_acc``), signed so that higher
  is better;
* ``'sotl'``: minus the sum of the training losses over epochs 1..k (SoTL-E; Ru et al.,
  "Speedy Performance Estimation for Neural Architecture Search", NeurIPS 2021), which on
  the shipped table ranks cells far better than the epoch-1 validation accuracy does
  (``docs/estimator_report.md``).

A stopped query is told its metric after k epochs, is charged k epochs of training, and
is marked ``full=False``: it can never be the search's answer (``discrete.incumbent``).

Two ways in:

* ``TrainEstimator(..., early_stop=rule)``: the live estimator applies the rule inside
  training (``PopulationTrainer.train(stop=...)``), so a stopped cell costs only the
  epochs it ran;
* :class:`EarlyStopped` wraps a table estimator (a lookup of epoch k, then of the last
  epoch), the form for measuring the rule over many seeds (``experiments.reports.early_stopping_report``).

The rule keeps its history in Python, so both run through ``discrete.run_python``
(``jittable = False``). Queries asked at a fidelity of their own (Hyperband's
``epochs``) pass through unchanged: those strategies stop early themselves.
"""

from __future__ import annotations

import copy

import jax
import numpy as np

from nas_jax.estimators.tabular import Results, TabularEstimator

SIGNALS = ('metric', 'sotl')


class MedianStopping:
  """Stop a query after ``epoch`` epochs unless its signal reaches the ``quantile`` of
  every signal read so far (module docstring).

  Args:
    epoch: the epoch k the rule reads (1-based; below the search's own epoch).
    warmup: queries that always finish, before the rule starts stopping.
    quantile: the share of the queries so far that a query must match or beat.
    signal: ``'metric'`` or ``'sotl'``.
  """

  def __init__(self, epoch: int, warmup: int = 10, quantile: float = 0.5, signal='metric'):
    if not (isinstance(epoch, int) and epoch >= 1):
      raise ValueError(f'early stopping epoch must be a positive integer, got {epoch!r}')
    if not (isinstance(warmup, int) and warmup >= 0):
      raise ValueError(f'early stopping warmup must be a non-negative integer, got {warmup!r}')
    if not 0.0 <= quantile <= 1.0:
      raise ValueError(f'early stopping quantile must be in [0, 1], got {quantile!r}')
    if signal not in SIGNALS:
      raise ValueError(f'early stopping signal must be one of {SIGNALS}, got {signal!r}')
    self.epoch, self.warmup, self.quantile, self.signal_name = epoch, warmup, quantile, signal
    self.seen: list[float] = []  # every finite signal read, in order

  def check_epochs(self, epochs: int) -> None:
    """Raises a ValueError unless the rule's epoch lies below the search's ``epochs``."""
    if not self.epoch < epochs:
      raise ValueError(
          f'early stopping epoch {self.epoch} must be below the epoch the search reads '
          f'({epochs})'
      )

  def signal(self, metric: np.ndarray, train_loss: np.ndarray, sign: float) -> np.ndarray:
    """(n,) the signal from learning curves ``(n, >= epoch)`` (epoch 1 first); ``sign``
    makes the metric higher-is-better."""
    k = self.epoch
    if self.signal_name == 'metric':
      return sign * np.asarray(metric, np.float64)[:, k - 1]
    return -np.asarray(train_loss, np.float64)[:, :k].sum(axis=1)

  def threshold(self) -> float | None:
    """The signal a query must reach to finish (None during the warm-up)."""
    if len(self.seen) < self.warmup or not self.seen:
      return None
    return float(np.quantile(np.asarray(self.seen), self.quantile))

  def keep(self, signals) -> np.ndarray:
    """(n,) bool: which queries finish. A batch is judged against the queries before it;
    a NaN signal (a diverged run) stops."""
    signals = np.asarray(signals, np.float64)
    t = self.threshold()
    if t is None:
      return np.ones(signals.shape, bool)
    return signals >= t

  def record(self, signals) -> None:
    """Adds a batch's signals (NaN ones skipped) to the history, in order."""
    signals = np.asarray(signals, np.float64).reshape(-1)
    self.seen.extend(float(s) for s in signals[np.isfinite(signals)])

  def restore(self, seen) -> None:
    """Replaces the history by ``seen`` (a checkpoint's copy of :attr:`seen`): a resumed
    search judges its next queries as the uninterrupted one would."""
    seen = [float(s) for s in seen]
    if not all(np.isfinite(seen)):
      raise ValueError('an early-stopping history holds finite signals only')
    self.seen = seen


class EarlyStopped:
  """A table estimator under an early-stopping ``rule`` (module docstring).

  Each batch is looked up twice with the same key (so at the same seeds): after the
  rule's epoch and after the estimator's own; a stopped query takes the first lookup and
  its cost, a finished one the second. ``stopped`` counts the queries stopped so far.

  Every other attribute (``table``, ``rows``, ``best_report``, ...) is the wrapped
  estimator's.

  Args:
    estimator: a ``TabularEstimator`` (single objective).
    rule: a :class:`MedianStopping` (its history grows with every batch).
  """

  jittable = False

  def __init__(self, estimator: TabularEstimator, rule: MedianStopping):
    if estimator.objectives:
      raise ValueError('early stopping takes a single-objective estimator')
    self.estimator, self.rule = estimator, rule
    self.objectives = ()
    self.space = estimator.space
    self.default_epochs = estimator.default_epochs
    self._read = jax.jit(estimator.__call__)
    # each query's training-loss curve at the seed its lookups read (the 'sotl' signal)
    self._losses = None
    if 'train_loss' in estimator.table.epoch:
      losses = TabularEstimator(estimator.table, metric='train_loss', seed=estimator.seed)
      self._losses = jax.jit(losses.curves)
    self._check(rule)
    self.stopped = self.queries = 0

  def _check(self, rule: MedianStopping) -> None:
    rule.check_epochs(self.default_epochs)
    if rule.signal_name == 'sotl' and self._losses is None:
      raise ValueError("the 'sotl' signal needs the table's train_loss curves; it has none")

  def __getattr__(self, name):
    # the wrapped estimator's table, rows, best_report, ... (what the launcher reads)
    if name == 'estimator':  # not set yet (copy, unpickling): no recursion
      raise AttributeError(name)
    return getattr(self.estimator, name)

  @property
  def table(self):
    """The wrapped estimator's table (its ground truth)."""
    return self.estimator.table

  @property
  def early_stop(self) -> MedianStopping:
    """The rule (under the name ``TrainEstimator`` gives its own)."""
    return self.rule

  def with_rule(self, rule: MedianStopping) -> EarlyStopped:
    """A copy under a fresh ``rule`` (and counts) that shares the compiled lookups: one
    per search seed, compiled once."""
    self._check(rule)
    other = copy.copy(self)
    other.rule, other.stopped, other.queries = rule, 0, 0
    return other

  def __call__(self, archs, key, epochs=None) -> Results:
    archs = np.asarray(archs, np.int32)
    if epochs is not None:  # a multi-fidelity strategy's own schedule
      return jax.tree.map(np.asarray, self._read(archs, key, epochs))
    n, k = len(archs), self.rule.epoch
    early = jax.tree.map(np.asarray, self._read(archs, key, np.full(n, k, np.int32)))
    full = jax.tree.map(np.asarray, self._read(archs, key, None))
    losses = np.asarray(self._losses(archs, key)) if self.rule.signal_name == 'sotl' else None
    metric = np.full((n, k), np.nan)
    metric[:, k - 1] = early.value
    signal = self.rule.signal(metric, losses, self.estimator.sign)
    keep = self.rule.keep(signal)
    self.rule.record(signal)
    self.stopped += int((~keep).sum())
    self.queries += n
    return Results(*(np.where(keep, f, e) for f, e in zip(full, early)))
