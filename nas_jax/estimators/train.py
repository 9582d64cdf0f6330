"""The training estimator: each asked architecture trained live, under a table protocol.

``TrainEstimator(space, protocol)`` trains every queried architecture with the
population trainer (``nas_jax.tabular.trainer``: one compiled program for every
architecture of the space, so a search compiles once), at one training seed, and
returns what a table built under the same protocol would hold for it: the metric
after ``epoch`` epochs (training runs the protocol's schedule up to there, as an
early stop), the cost in measured train seconds, and the test accuracy as the
report. It is the estimator for spaces and data no table covers.

It runs outside ``jit`` (``jittable = False``): ``nas_jax.discrete.run_python``
calls it between the jitted ask and tell. A cell asked again is trained again
(with the same seed, so it gets the same result) and charged again, as a real
search would pay.
"""

from __future__ import annotations

import numpy as np

from nas_jax.estimators.tabular import Results
from nas_jax.tabular.table import LOWER_IS_BETTER
from nas_jax.tabular.trainer import Member, PopulationTrainer, load_splits


class TrainEstimator:
  """Live training (see the module docstring).

  Args:
    space: a space with an arch network (the NB201 space).
    protocol: a ``nas_jax.tabular.protocol.Protocol``.
    metric: what the search optimizes (an epoch metric, e.g. ``val_acc``).
    epoch: read the metric after this many epochs (None: the protocol's last).
    report: the metric answers are reported by (``test_acc``).
    seed: the training seed of every member.
    data_dir: where the dataset lives (None: the default).
  """

  jittable = False

  def __init__(
      self, space, protocol, metric='val_acc', epoch=None, report='test_acc', seed=0, data_dir=None
  ):
    self.space, self.protocol = space, protocol
    self.metric, self.report_metric, self.seed = metric, report, int(seed)
    self.num_epochs = protocol.epochs
    self.default_epochs = epoch or protocol.epochs
    if not 1 <= self.default_epochs <= self.num_epochs:
      raise ValueError(f'epoch must be in 1..{self.num_epochs}, got {epoch!r}')
    self.objectives = ()
    self._sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    self.trainer = PopulationTrainer(space, protocol, load_splits(protocol, data_dir))

  def __call__(self, archs, key=None, epochs=None) -> Results:
    del key  # training is a function of the member's seed
    archs = np.asarray(archs)
    epochs = np.full(len(archs), self.default_epochs) if epochs is None else np.asarray(epochs)
    epochs = np.clip(epochs.astype(int), 1, self.num_epochs)
    score, value, report, cost = [], [], [], []
    for arch, e in zip(archs, epochs):
      steps = None if e == self.num_epochs else int(e) * self.trainer.steps_per_epoch
      result = self.trainer.train(
          [Member(tuple(int(a) for a in arch), self.seed)], max_steps=steps
      )[0]
      v = float(result[self.metric][e - 1])
      value.append(v)
      score.append(self._sign * v)
      report.append(float(result[self.report_metric][e - 1]))
      cost.append(float(result['train_seconds']))
    return Results(
        score=np.asarray(score, np.float32),
        value=np.asarray(value, np.float32),
        report=np.asarray(report, np.float32),
        cost=np.asarray(cost, np.float32),
        full=epochs >= self.default_epochs,
    )
