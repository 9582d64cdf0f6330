"""The fixed training protocol of a tabular benchmark.

Every cell of a table is trained under one :class:`Protocol`: NAS-Bench-201's
recipe (SGD with Nesterov momentum 0.9, weight decay 5e-4, a cosine learning
rate from 0.1 to 0, random-crop augmentation), with the network size, the
image size, the batch and the epochs a build chooses. The protocol is part
of a table's metadata, and its digest guards a build directory against being
resumed under a different protocol.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from nas_jax.config_checks import ConfigError

__all__ = ['Protocol']


@dataclasses.dataclass(frozen=True)
class Protocol:
  """One training recipe and the data it runs on.

  Attributes:
    dataset: TFDS name (``mnist5k`` ships offline).
    train_split, val_split, test_split: TFDS split strings. The weights are fit
      on ``train_split``; ``val`` and ``test`` are only evaluated.
    image_size: images are resized to this square (None: native size).
    channels: C of the first stage of the evaluation network.
    cells_per_stage: N.
    epochs: training epochs; every metric is recorded after each.
    batch_size: training batch (the last incomplete batch of an epoch is dropped).
    learning_rate: the cosine schedule's start (it decays to ``lr_min`` at the last step).
    lr_min: the schedule's end.
    momentum: SGD momentum (Nesterov when ``nesterov``).
    nesterov: Nesterov momentum.
    weight_decay: L2 coefficient added to the gradient (PyTorch's SGD convention).
    crop_padding: random-crop padding of the training images (0: no crop).
    flip: random horizontal flips.
    eval_batch: batch of the evaluation passes.
    noise_std: the Gaussian input noise of the robustness metric, in [0, 1] pixel units.
    fgsm_eps: the FGSM step of the robustness metric, in [0, 1] pixel units
      (one signed-gradient step on the test loss, pixels clipped to [0, 1]).
  """

  dataset: str = 'mnist5k'
  train_split: str = 'train[:75%]'
  val_split: str = 'train[75%:]'
  test_split: str = 'test'
  image_size: int | None = 12
  channels: int = 8
  cells_per_stage: int = 1
  epochs: int = 3
  batch_size: int = 64
  learning_rate: float = 0.1
  lr_min: float = 0.0
  momentum: float = 0.9
  nesterov: bool = True
  weight_decay: float = 5e-4
  crop_padding: int = 1
  flip: bool = False
  eval_batch: int = 500
  noise_std: float = 0.3
  fgsm_eps: float = 0.05

  def __post_init__(self):
    for key in ('channels', 'cells_per_stage', 'epochs', 'batch_size', 'eval_batch'):
      value = getattr(self, key)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f'protocol.{key} must be a positive integer, got {value!r}')
    if self.image_size is not None and (
        isinstance(self.image_size, bool)
        or not isinstance(self.image_size, int)
        or self.image_size < 4
        or self.image_size % 4
    ):
      raise ConfigError(
          f'protocol.image_size must be a multiple of 4 (two stride-2 blocks) or None, '
          f'got {self.image_size!r}'
      )
    for key in ('learning_rate', 'momentum', 'weight_decay', 'lr_min', 'noise_std', 'fgsm_eps'):
      value = getattr(self, key)
      if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f'protocol.{key} must be a non-negative number, got {value!r}')
    if self.crop_padding < 0:
      raise ConfigError(f'protocol.crop_padding must be >= 0, got {self.crop_padding!r}')

  @classmethod
  def from_dict(cls, values: Any) -> Protocol:
    """The protocol of ``values`` (a mapping of :class:`Protocol` fields, e.g. a table's
    ``metadata['protocol']``); an unknown key or bad value is a one-line ConfigError."""
    values = dict(values.to_dict() if hasattr(values, 'to_dict') else values)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ConfigError(
          f'protocol has unknown keys {", ".join(unknown)}; known: {", ".join(sorted(known))}'
      )
    return cls(**values)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  def digest(self) -> str:
    """A 16-hex-digit digest of every field (equal protocols, equal digests)."""
    text = json.dumps(self.to_dict(), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]
