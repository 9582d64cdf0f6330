"""Batching: the data order and augmentation of every batch are a pure function of
``(seed, epoch, index)``, so an interrupted run resumes at the exact batch it stopped at."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from nas_jax.data.augment import augment, cutout, normalize
from nas_jax.data.catalog import dataset_meta
from nas_jax.data.splits import ArraySplit

# Extra word mixed into the augmentation seed so that its random stream can
# never coincide with the permutation stream of ``np.random.default_rng``.
_AUGMENT_STREAM_TAG = 0xA5A5


# --------------------------------------------------------------------------
# Batching.
# --------------------------------------------------------------------------


class BatchStream:
  """Deterministic, resumable mini-batches of an in-memory split.

  The order of epoch ``e`` is ``np.random.default_rng([seed, e]).permutation(N)``
  and the augmentation of batch ``i`` of epoch ``e`` draws from a generator
  seeded with ``(seed, e, i)``.  Any batch can therefore be produced
  directly, and a resumed run sees exactly the batches it would have seen.
  The last incomplete batch of each epoch is dropped.
  """

  def __init__(
      self,
      split: ArraySplit,
      batch_size: int,
      *,
      seed: int,
      mean: Sequence[float] | None = None,
      std: Sequence[float] | None = None,
      crop_padding: int = 0,
      flip: bool = False,
      cutout_length: int = 0,
  ) -> None:
    """Creates the stream.

    Args:
        split: The examples.
        batch_size: Examples per batch.
        seed: Non-negative integer seed of order and augmentation.
        mean: Per-channel normalization mean; None scales to [0, 1] only.
        std: Per-channel normalization std; None scales to [0, 1] only.
        crop_padding: Random-crop padding (0: no cropping).
        flip: Whether to apply random horizontal flips.
        cutout_length: Side of the cutout square (0: no cutout); its
            centre is drawn after the crop and flip.

    Raises:
        ValueError: If ``batch_size`` is not in ``[1, N]`` or ``seed < 0``.
    """
    if batch_size < 1:
      raise ValueError(f'batch_size must be positive, got {batch_size}')
    if batch_size > split.num_examples:
      raise ValueError(
          f'batch_size {batch_size} is larger than the {split.num_examples} '
          f'examples of split {split.description!r}'
      )
    if seed < 0:
      raise ValueError(f'seed must be non-negative, got {seed}')
    channels = split.images.shape[-1]
    self.split = split
    self.batch_size = int(batch_size)
    self.seed = int(seed)
    self.mean = tuple(mean) if mean is not None else (0.0,) * channels
    self.std = tuple(std) if std is not None else (1.0,) * channels
    self.crop_padding = int(crop_padding)
    self.flip = bool(flip)
    self.cutout_length = int(cutout_length)
    self._cached: tuple[int, np.ndarray] | None = None

  @classmethod
  def for_dataset(
      cls,
      split: ArraySplit,
      batch_size: int,
      *,
      seed: int,
      dataset: str,
      train: bool,
      cutout_length: int = 0,
  ) -> BatchStream:
    """Creates a stream with the dataset's normalization and augmentation.

    Args:
        split: The examples.
        batch_size: Examples per batch.
        seed: Non-negative integer seed.
        dataset: Name in :data:`DATASETS` giving mean, std, flip, padding.
        train: If True, apply random crop (and flip where appropriate);
            if False, only normalize.
        cutout_length: Cutout square side for training streams (0: none).

    Returns:
        The configured :class:`BatchStream`.
    """
    meta = dataset_meta(dataset)
    return cls(
        split,
        batch_size,
        seed=seed,
        mean=meta.mean,
        std=meta.std,
        crop_padding=meta.crop_padding if train else 0,
        flip=meta.flip if train else False,
        cutout_length=cutout_length if train else 0,
    )

  @property
  def steps_per_epoch(self) -> int:
    """Number of full batches per epoch.

    Returns:
        ``N // batch_size``.
    """
    return self.split.num_examples // self.batch_size

  def __len__(self) -> int:
    """Number of full batches per epoch.

    Returns:
        ``steps_per_epoch``.
    """
    return self.steps_per_epoch

  def permutation(self, epoch: int) -> np.ndarray:
    """Order of the examples in an epoch.

    Args:
        epoch: Non-negative epoch number.

    Returns:
        Permutation of ``range(N)`` (read-only; the latest is cached).
    """
    cached = self._cached
    if cached is not None and cached[0] == epoch:
      return cached[1]
    if epoch < 0:
      raise ValueError(f'epoch must be non-negative, got {epoch}')
    perm = np.random.default_rng([self.seed, int(epoch)]).permutation(self.split.num_examples)
    perm.flags.writeable = False
    self._cached = (int(epoch), perm)
    return perm

  def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Produces one batch directly, without iterating over earlier ones.

    Args:
        epoch: Epoch number.
        index: Batch index within the epoch, in ``[0, steps_per_epoch)``.

    Returns:
        ``(images float32 (B, H, W, C), labels int32 (B,))``.
    """
    if not 0 <= index < self.steps_per_epoch:
      raise IndexError(f'batch index {index} out of range [0, {self.steps_per_epoch})')
    rows = self.permutation(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
    images = self.split.images[rows]
    rng = np.random.default_rng([self.seed, int(epoch), int(index), _AUGMENT_STREAM_TAG])
    if self.crop_padding or self.flip:
      images = augment(images, rng, crop_padding=self.crop_padding, flip=self.flip)
    images = normalize(images, self.mean, self.std)
    if self.cutout_length:
      height, width = images.shape[1:3]
      centers = np.stack(
          [rng.integers(0, height, len(rows)), rng.integers(0, width, len(rows))], axis=1
      )
      images = cutout(images, centers, self.cutout_length)
    return images, self.split.labels[rows]

  def epoch_batches(self, epoch: int, start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Iterates over the batches of an epoch.

    Args:
        epoch: Epoch number.
        start: First batch index (to resume mid-epoch).

    Returns:
        Iterator of ``(images, labels)`` as in :meth:`batch`.
    """
    for index in range(start, self.steps_per_epoch):
      yield self.batch(epoch, index)

  def batch_at_step(self, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Produces the batch of a global step, cycling through epochs.

    Args:
        step: Global step; epoch ``step // steps_per_epoch``, batch
            ``step % steps_per_epoch``.

    Returns:
        ``(images, labels)`` as in :meth:`batch`.
    """
    epoch, index = divmod(int(step), self.steps_per_epoch)
    return self.batch(epoch, index)
