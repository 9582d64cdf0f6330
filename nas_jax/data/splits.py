"""A whole split of a dataset held in memory (``uint8`` NHWC images, ``int32`` labels)."""

from __future__ import annotations

import dataclasses

import numpy as np

# --------------------------------------------------------------------------
# In-memory splits.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ArraySplit:
  """A whole dataset split held in memory.

  Attributes:
      images: ``uint8`` array of shape (N, H, W, C).
      labels: ``int32`` array of shape (N,).
      dataset: Name of the dataset the split comes from (for messages).
      split: TFDS split string it was read with (for messages).
  """

  images: np.ndarray
  labels: np.ndarray
  dataset: str = ''
  split: str = ''

  def __post_init__(self) -> None:
    """Checks the array dtypes and shapes.

    Raises:
        ValueError: If images are not uint8 NHWC, labels not int32 (N,),
            or their lengths differ.
    """
    if self.images.dtype != np.uint8 or self.images.ndim != 4:
      raise ValueError(f'images must be uint8 NHWC, got {self.images.dtype} {self.images.shape}')
    if self.labels.dtype != np.int32 or self.labels.ndim != 1:
      raise ValueError(
          f'labels must be int32 of shape (N,), got {self.labels.dtype} {self.labels.shape}'
      )
    if len(self.images) != len(self.labels):
      raise ValueError(f'{len(self.images)} images but {len(self.labels)} labels')

  @property
  def num_examples(self) -> int:
    """Number of examples in the split.

    Returns:
        N.
    """
    return int(self.labels.shape[0])

  @property
  def image_shape(self) -> tuple[int, int, int]:
    """Shape of one image.

    Returns:
        (H, W, C).
    """
    return tuple(int(d) for d in self.images.shape[1:])  # type: ignore[return-value]

  @property
  def description(self) -> str:
    """Human-readable name of the split for messages.

    Returns:
        E.g. ``"cifar10 train[:50%]"``.
    """
    return ' '.join(p for p in (self.dataset, self.split) if p) or '<unnamed split>'
