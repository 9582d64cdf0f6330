"""Weight-sharing estimation: every cell scored with one set of trained weights.

The shared network is the space's arch network (``space.arch_network``): every candidate op
on every edge, the architecture a call argument, one compiled program for every cell. Two
ways to get its weights:

* :func:`train_spos` trains it by uniform single-path sampling (SPOS, Guo et al., ECCV 2020;
  "RS-WS" in NB201's terms): each SGD step draws one architecture, every decision uniform over
  its options (``space.sample``), and updates only the ops that path runs. The protocol's
  recipe (SGD, cosine schedule, batch, augmentation), for ``epochs`` epochs.
* :func:`from_supernet` maps the weights of a gradient-based search's supernet (DARTS, GDAS,
  ... from ``nas_jax.search.run_search``: ``state.params``, ``state.batch_stats``) into the
  arch network: candidate ``op`` of an edge becomes the arch network's ``op_k``; the
  supernet's cell BatchNorms are not affine, so their scale and bias are 1 and 0. Under those
  weights the arch network computes exactly the supernet with the cell's one-hot op weights.

:class:`SharedWeightEstimator` scores cells with such weights: the score is the validation
accuracy of the cell's path. BatchNorm's running statistics are ``'inherited'`` (those the
shared training accumulated over every path) or ``'recalibrated'`` (recomputed for the cell:
the mean of its batch statistics over ``recalibrate_batches`` training batches, as SPOS
does).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nas_jax import ops
from nas_jax.estimators.tabular import Results
from nas_jax.tabular.trainer import PopulationTrainer

__all__ = ['SharedWeightEstimator', 'SposRun', 'from_supernet', 'spos_archs', 'train_spos']

BN_MODES = ('inherited', 'recalibrated')


@dataclasses.dataclass
class SposRun:
  """What :func:`train_spos` returns: the shared ``variables`` (params, batch_stats), the
  architecture of every step (``archs``, (steps, D)), the mean training loss of each epoch
  and the seconds (compile included)."""

  variables: dict[str, Any]
  archs: np.ndarray
  epoch_loss: list[float]
  seconds: float


def spos_archs(space, seed: int, steps: int) -> np.ndarray:
  """The (steps, D) paths SPOS trains at ``seed``: every decision uniform over its options."""
  archs = np.asarray(space.sample(jax.random.fold_in(jax.random.key(seed), 1), steps), np.int32)
  return archs.reshape(int(steps), len(space.options))


def train_spos(space, protocol, epochs: int, seed: int = 0, splits=None) -> SposRun:
  """Trains the arch network by uniform single-path sampling (module docstring).

  Args:
    space: a space with an arch network.
    protocol: the training recipe (``nas_jax.tabular.protocol.Protocol``); ``epochs``
      replaces its epoch count (the cosine schedule spans them).
    epochs: passes over the training split, >= 1.
    seed: the weights, data order and path draws.
    splits: the loaded data (default: loaded from the protocol).
  """
  if int(epochs) < 1:
    raise ValueError(f'SPOS epochs must be >= 1, got {epochs!r}')
  start = time.perf_counter()
  protocol = dataclasses.replace(protocol, epochs=int(epochs))
  trainer = PopulationTrainer(space, protocol, splits, form='sequential')
  steps = trainer.steps_per_epoch
  archs = spos_archs(space, seed, steps * protocol.epochs)
  state = trainer.init_state(seed)
  stream = trainer._stream(seed)  # pylint: disable=protected-access
  epoch_loss = []
  for epoch in range(protocol.epochs):
    total = 0.0
    for i in range(steps):
      x, y = stream.batch(epoch, i)
      state, sums = trainer._step(  # pylint: disable=protected-access
          state, jnp.asarray(x), jnp.asarray(y), jnp.asarray(archs[epoch * steps + i])
      )
      total += float(sums[0])
    epoch_loss.append(total / (steps * protocol.batch_size))
  variables = {'params': state['params'], 'batch_stats': state['batch_stats']}
  return SposRun(variables, archs, epoch_loss, time.perf_counter() - start)


def from_supernet(space, supernet_variables: dict[str, Any], template: dict[str, Any]):
  """The arch network's variables from a supernet's (module docstring; the space's
  ``arch_variables_from_supernet``: the NB201 space maps either supernet mode, ``'weighted'``
  or ``'hard'``, without partial channels or the auxiliary skip).

  Args:
    space: the space whose supernet and arch network these are.
    supernet_variables: ``{'params': ..., 'batch_stats': ...}`` of ``space.supernet``.
    template: the arch network's variables (or their shapes, ``jax.eval_shape``), whose
      tree the result takes.

  Raises:
    ValueError: one line naming the first arch-network variable with no supernet source.
  """
  return space.arch_variables_from_supernet(supernet_variables, template)


class SharedWeightEstimator:
  """Cells scored with shared weights: the validation accuracy of each cell's path.

  Args:
    space, protocol: the arch network's space and size, and the data (as for the trainer).
    variables: the arch network's ``params`` and ``batch_stats`` (:func:`train_spos`), or
      with ``supernet=True`` an NB201 supernet's (mapped by :func:`from_supernet`).
    bn: ``'inherited'`` or ``'recalibrated'`` (module docstring).
    recalibrate_batches: training batches per cell for ``'recalibrated'``.
    seed: which training batches recalibrate.
    splits: the loaded data (default: loaded from the protocol).

  The score and value are the validation accuracy, the report the test accuracy of the
  cell's path under the shared weights, the cost the measured seconds per cell.
  """

  jittable = False
  objectives = ()
  table = None  # no ground truth of its own
  early_stop = None

  def __init__(
      self,
      space,
      protocol,
      variables: dict[str, Any],
      bn: str = 'recalibrated',
      recalibrate_batches: int = 8,
      seed: int = 0,
      splits=None,
      supernet: bool = False,
  ):
    if bn not in BN_MODES:
      raise ValueError(f'bn must be one of {BN_MODES}, got {bn!r}')
    if int(recalibrate_batches) < 1:
      raise ValueError(f'recalibrate_batches must be >= 1, got {recalibrate_batches!r}')
    self.space, self.bn = space, bn
    self.trainer = trainer = PopulationTrainer(space, protocol, splits, form='sequential')
    if supernet:
      template = jax.eval_shape(lambda: trainer.init_state(0))
      template = {'params': template['params'], 'batch_stats': template['batch_stats']}
      variables = from_supernet(space, variables, template)
    self.shared = {'params': variables['params'], 'batch_stats': variables['batch_stats']}
    self._zero_stats = jax.tree.map(jnp.zeros_like, self.shared['batch_stats'])
    stream = trainer._stream(seed)  # pylint: disable=protected-access
    self._recal_batches = [
        jnp.asarray(stream.batch(0, i)[0])
        for i in range(min(int(recalibrate_batches), trainer.steps_per_epoch))
    ]
    net = trainer.net

    def batch_stats_of(params, zeros, x, arch):
      """One batch's statistics: its update from zero running statistics over (1 - m)."""
      _, new = net.apply(
          {'params': params, 'batch_stats': zeros}, x, arch, True, mutable=['batch_stats']
      )
      return jax.tree.map(lambda s: s / (1.0 - ops.BN_MOMENTUM), new['batch_stats'])

    self._batch_stats_of = jax.jit(batch_stats_of)

  def variables(self, arch) -> dict[str, Any]:
    """The variables a cell is scored with (its recalibrated statistics, or the shared)."""
    if self.bn == 'inherited':
      return self.shared
    arch = jnp.asarray(arch, jnp.int32)
    total = None
    for x in self._recal_batches:
      stats = self._batch_stats_of(self.shared['params'], self._zero_stats, x, arch)
      total = stats if total is None else jax.tree.map(jnp.add, total, stats)
    n = float(len(self._recal_batches))
    return {'params': self.shared['params'], 'batch_stats': jax.tree.map(lambda s: s / n, total)}

  def accuracy(self, arch, split: str = 'val', variables=None) -> float:
    """The cell's accuracy on ``'val'`` or ``'test'`` under ``variables`` (default:
    :meth:`variables`)."""
    v = variables if variables is not None else self.variables(arch)
    state = {'params': v['params'], 'batch_stats': v['batch_stats']}
    sets = self.trainer._eval_sets[split]  # pylint: disable=protected-access
    arch = jnp.asarray(arch, jnp.int32)
    return float(self.trainer._evaluate(state, *sets, arch)[1])  # pylint: disable=protected-access

  def __call__(self, archs, key=None, epochs=None):
    del key, epochs  # one fidelity
    archs = np.asarray(archs, np.int32)
    val, test, costs = [], [], []
    for arch in archs:
      start = time.perf_counter()
      v = self.variables(arch)
      val.append(self.accuracy(arch, 'val', v))
      costs.append(time.perf_counter() - start)
      test.append(self.accuracy(arch, 'test', v))
    value = np.asarray(val, np.float32)
    return Results(
        score=value,
        value=value,
        report=np.asarray(test, np.float32),
        cost=np.asarray(costs, np.float32),
        full=np.ones(len(archs), bool),
    )
