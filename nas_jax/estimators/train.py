"""The training estimator: each asked architecture trained live, under a table protocol.

``TrainEstimator(space, protocol)`` trains every queried architecture with the
population trainer (``nas_jax.tabular.trainer``) at one training seed, and
returns what a table built under the same protocol would hold for it: the metric
after ``epoch`` epochs (training runs the protocol's schedule up to there, as an
early stop), the cost in measured train seconds, and the test accuracy as the
report. It is the estimator for spaces and data no table covers, the DARTS space
included.

The reference is NB201's search protocol (Dong & Yang, ICLR 2020; AutoDL-Projects
``exps/NAS-Bench-201-algos/R_EA.py``, ``train_and_eval``): a query returns the architecture's
validation accuracy after the protocol's training and charges its training time plus one
validation pass. There the number is looked up in the table (``TabularEstimator``); here
the architecture is trained live. Departures: the cost is the measured wall time on this
machine, not the table's recorded time, and one training seed answers a query where NB201
draws one of the table's seeds at random.

Two ways to compile (``network``), both measured by ``python -m benchmarks.tabular
--preset=darts_live``:

* ``'arch'``: the space's arch network, one program for every architecture (the
  cell is data), compiled once per search and kept by the persistent compilation
  cache; each step runs the chosen ops through a conditional;
* ``'cell'``: one evaluation network per cell, compiled per cell (faster steps,
  a compile per query).

An asked batch is trained as one population: in the trainer's vmapped form (on an
accelerator) its members step together, sharded over the local devices, and over
several hosts each process trains every ``process_count``-th member and the results
are all-gathered, so every process tells its strategy the same numbers.

It runs outside ``jit`` (``jittable = False``): ``nas_jax.discrete.run_python``
calls it between the jitted ask and tell. A cell asked again is trained again
(with the same seed, so it gets the same result) and charged again, as a real
search would pay.
"""

from __future__ import annotations

import jax
import numpy as np

from nas_jax import data as data_lib
from nas_jax.estimators.tabular import Results
from nas_jax.tabular.table import LOWER_IS_BETTER
from nas_jax.tabular.trainer import Member, PopulationTrainer, cell_network, load_splits

NETWORKS = ('arch', 'cell')
ROW = 6  # the columns of local_rows


def _gather(local: np.ndarray) -> np.ndarray:
  """Every process's ``(n, F)`` rows, stacked process by process (identity on one host)."""
  if jax.process_count() == 1:
    return local[None]
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

  return np.asarray(multihost_utils.process_allgather(local))


class TrainEstimator:
  """Live training (see the module docstring).

  Args:
    space: a space with an arch network (NB201, DARTS).
    protocol: a ``nas_jax.tabular.protocol.Protocol`` (``cells_per_stage`` is the
      space's ``layers``: N per stage in NB201, the cell count L in DARTS).
    metric: what the search optimizes (an epoch metric, e.g. ``val_acc``).
    epoch: read the metric after this many epochs (None: the protocol's last).
    report: the metric answers are reported by (``test_acc``).
    seed: the training seed of every member.
    data_dir: where the dataset lives (None: the default).
    network: ``'arch'`` or ``'cell'`` (module docstring).
    form: the population trainer's form (``'auto'``: sequential on CPU, vmapped elsewhere).
    splits: the loaded data (default: loaded from the protocol).
    early_stop: an early-stopping rule (``early_stopping.MedianStopping``) applied inside
      training: a query it stops after its epoch is charged only the epochs it ran, told
      its metric there and marked ``full=False``.
  """

  jittable = False
  table = None  # no ground truth: live training has no table to rank its answer in

  def __init__(
      self,
      space,
      protocol,
      metric='val_acc',
      epoch=None,
      report='test_acc',
      seed=0,
      data_dir=None,
      network='arch',
      form='auto',
      splits=None,
      early_stop=None,
  ):
    if network not in NETWORKS:
      raise ValueError(f'network must be one of {NETWORKS}, got {network!r}')
    self.space, self.protocol = space, protocol
    self.metric, self.report_metric, self.seed = metric, report, int(seed)
    self.network = network
    self.num_epochs = protocol.epochs
    self.default_epochs = epoch or protocol.epochs
    if not 1 <= self.default_epochs <= self.num_epochs:
      raise ValueError(f'epoch must be in 1..{self.num_epochs}, got {epoch!r}')
    self.objectives = ()
    self._sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    self.splits = splits if splits is not None else load_splits(protocol, data_dir)
    self.form = form
    self.num_classes = data_lib.dataset_meta(protocol.dataset).num_classes
    self.trainer = None
    if network == 'arch':
      self.trainer = PopulationTrainer(space, protocol, self.splits, form=form)
    self.early_stop = early_stop
    if early_stop is not None:
      early_stop.check_epochs(self.default_epochs)
    self.compiled_cells = 0  # per-cell programs built ('cell')
    self.members_trained = 0  # by this process

  def _stop(self, epoch: int, record: dict) -> np.ndarray:
    """The trainer's ``stop``: the rule's verdict at its epoch, nothing stopped elsewhere."""
    rule = self.early_stop
    if epoch != rule.epoch:
      return np.zeros(len(record[self.metric]), bool)
    return ~rule.keep(rule.signal(record[self.metric], record['train_loss'], self._sign))

  def _train(self, archs: list[tuple[int, ...]], epochs: int) -> list[dict]:
    members = [Member(a, self.seed) for a in archs]
    steps = None if epochs == self.num_epochs else epochs * self.steps_per_epoch
    stop = None
    if self.early_stop is not None and epochs > self.early_stop.epoch:
      stop = self._stop
    if self.trainer is not None:
      return self.trainer.train(members, max_steps=steps, stop=stop)
    out = []
    for m in members:
      net = cell_network(self.space, m.arch, self.num_classes, self.protocol)
      trainer = PopulationTrainer(
          self.space, self.protocol, self.splits, form='sequential', network=net
      )
      self.compiled_cells += 1
      out.append(trainer.train([m], max_steps=steps, stop=stop)[0])
    return out

  @property
  def steps_per_epoch(self) -> int:
    return self.splits.train.num_examples // self.protocol.batch_size

  def _epochs(self, n: int, epochs) -> np.ndarray:
    epochs = np.full(n, self.default_epochs) if epochs is None else np.asarray(epochs)
    return np.clip(epochs.astype(int), 1, self.num_epochs)

  def local_rows(self, archs, epochs, count: int = 1, index: int = 0) -> np.ndarray:
    """Trains process ``index``'s share of the batch (every ``count``-th member from
    ``index``); ``(ceil(n / count), ROW)`` rows ``(value, report, cost, epochs run,
    early-stopping signal, position)``, NaN rows padding the share to the same length on
    every process."""
    archs = np.asarray(archs)
    mine = np.arange(index, len(archs), count)
    rows = np.full((-(-len(archs) // count), ROW), np.nan, np.float32)
    rule = self.early_stop
    for e in np.unique(epochs[mine]):
      picked = mine[epochs[mine] == e]
      results = self._train([tuple(int(a) for a in archs[i]) for i in picked], int(e))
      self.members_trained += len(picked)
      for i, r in zip(picked, results):
        ran = min(int(np.sum(~np.isnan(r['val_acc']))), int(e))  # accuracy is never NaN
        signal = np.nan
        if rule is not None and ran >= rule.epoch:
          signal = rule.signal(r[self.metric][None], r['train_loss'][None], self._sign)[0]
        rows[i // count] = (
            r[self.metric][ran - 1],
            r[self.report_metric][ran - 1],
            r['train_seconds'],
            ran,
            signal,
            i,
        )
    return rows

  @staticmethod
  def _in_order(gathered: np.ndarray) -> np.ndarray:
    """Every process's :meth:`local_rows` as one ``(n, ROW)`` array in asked order."""
    flat = np.asarray(gathered).reshape(-1, ROW)
    flat = flat[~np.isnan(flat[:, -1])]
    return flat[np.argsort(flat[:, -1], kind='stable')]

  def assemble(self, gathered: np.ndarray, epochs: np.ndarray) -> Results:
    """The batch's Results from every process's :meth:`local_rows`, in asked order."""
    del epochs  # each row holds the epochs its member ran
    ordered = self._in_order(gathered)
    value = ordered[:, 0].astype(np.float32)
    return Results(
        score=(self._sign * value).astype(np.float32),
        value=value,
        report=ordered[:, 1].astype(np.float32),
        cost=ordered[:, 2].astype(np.float32),
        full=ordered[:, 3] >= self.default_epochs,
    )

  def __call__(self, archs, key=None, epochs=None) -> Results:
    del key  # training is a function of the member's seed
    archs = np.asarray(archs)
    epochs = self._epochs(len(archs), epochs)
    rows = _gather(self.local_rows(archs, epochs, jax.process_count(), jax.process_index()))
    if self.early_stop is not None:  # every process adds the same signals, in asked order
      self.early_stop.record(self._in_order(rows)[:, 4])
    return self.assemble(rows, epochs)
