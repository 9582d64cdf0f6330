"""Learning-curve estimators read off a table: early stopping and SoTL-E.

* :func:`early_val`: the validation accuracy after ``epoch`` epochs, the estimate an early
  stop gives (the table's schedule is the full one, read part way);
* :func:`sotl`: SoTL-E (Ru et al., NeurIPS 2021), the negated sum of the epoch-mean training
  losses over the ``window`` epochs ending at ``epoch`` (all of them by default): lower
  training loss sooner ranks higher.

Both return one value per table row, the seed mean, higher better, and the simulated cost
per row (``cost``: the train seconds of ``epoch`` epochs, as the tabular estimator
charges).
"""

from __future__ import annotations

import numpy as np

__all__ = ['early_val', 'epoch_cost', 'sotl']


def _check_epoch(table, epoch: int) -> int:
  if not (isinstance(epoch, (int, np.integer)) and 1 <= epoch <= table.num_epochs):
    raise ValueError(f'epoch must be in 1..{table.num_epochs}, got {epoch!r}')
  return int(epoch)


def early_val(table, epoch: int) -> np.ndarray:
  return table.values('val_acc', _check_epoch(table, epoch))


def sotl(table, epoch: int, window: int | None = None) -> np.ndarray:
  epoch = _check_epoch(table, epoch)
  window = epoch if window is None else int(window)
  if not 1 <= window <= epoch:
    raise ValueError(f'window must be in 1..{epoch}, got {window!r}')
  losses = [table.values('train_loss', e) for e in range(epoch - window + 1, epoch + 1)]
  return -np.sum(losses, axis=0)


def epoch_cost(table, epoch: int) -> np.ndarray:
  """Seconds to train each row for ``epoch`` epochs (seed mean, pro rata)."""
  return table.query_seconds(_check_epoch(table, epoch))
