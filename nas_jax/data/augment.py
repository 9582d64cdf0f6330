"""Normalization and augmentation, vectorized over the batch in numpy: random crops with
padding, horizontal flips and cutout."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# --------------------------------------------------------------------------
# Normalization and augmentation.
# --------------------------------------------------------------------------


def normalize(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
  """Scales uint8 pixels to [0, 1] and standardizes each channel.

  Args:
      images: ``uint8`` array (..., C).
      mean: Per-channel mean (length C) of the [0, 1]-scaled pixels.
      std: Per-channel standard deviation (length C).

  Returns:
      ``float32`` array ``(images / 255 - mean) / std``.
  """
  mean_arr = np.asarray(mean, dtype=np.float32)
  std_arr = np.asarray(std, dtype=np.float32)
  if mean_arr.shape != (images.shape[-1],) or std_arr.shape != (images.shape[-1],):
    raise ValueError(
        f'mean/std have {mean_arr.shape}/{std_arr.shape} entries but images have '
        f'{images.shape[-1]} channels'
    )
  out = images.astype(np.float32) * np.float32(1.0 / 255.0)
  out -= mean_arr
  out /= std_arr
  return out


def crop_and_flip(
    images: np.ndarray, offsets: np.ndarray, flips: np.ndarray, *, padding: int
) -> np.ndarray:
  """Zero-pads, crops and optionally mirrors each image (deterministic part).

  Each image is padded with ``padding`` zero pixels on every side, then the
  window of the original size whose top-left corner is ``offsets[i]`` in
  padded coordinates is cut out, and mirrored left-right where
  ``flips[i]``.  An offset of ``(padding, padding)`` is no shift.  The
  whole batch is handled with a single fancy-indexing gather.

  Args:
      images: ``uint8`` array (N, H, W, C).
      offsets: Integer array (N, 2) of (row, col) offsets in ``[0, 2*padding]``.
      flips: Boolean array (N,).
      padding: Zero padding on each side.

  Returns:
      ``uint8`` array (N, H, W, C).
  """
  n, height, width, _ = images.shape
  offsets = np.asarray(offsets, dtype=np.intp)
  flips = np.asarray(flips, dtype=bool)
  if offsets.shape != (n, 2) or flips.shape != (n,):
    raise ValueError(f'offsets must be ({n}, 2) and flips ({n},)')
  if offsets.min(initial=0) < 0 or offsets.max(initial=0) > 2 * padding:
    raise ValueError(f'offsets must lie in [0, {2 * padding}]')
  if padding:
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  else:
    padded = images
  rows = offsets[:, :1] + np.arange(height)  # (N, H)
  col_steps = np.where(flips[:, None], np.arange(width - 1, -1, -1), np.arange(width))
  cols = offsets[:, 1:] + col_steps  # (N, W)
  return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def augment(
    images: np.ndarray, rng: np.random.Generator, *, crop_padding: int, flip: bool
) -> np.ndarray:
  """Random crop with zero padding and random horizontal flip, batched.

  Equivalent to torchvision's ``RandomCrop(size, padding=crop_padding)``
  followed by ``RandomHorizontalFlip()`` applied to each image, as in DARTS.

  Args:
      images: ``uint8`` array (N, H, W, C).
      rng: Source of randomness; draws offsets first, then flips.
      crop_padding: Zero padding of the random crop (0 disables cropping).
      flip: Whether to mirror each image with probability 1/2.

  Returns:
      Augmented ``uint8`` array (N, H, W, C); a copy of ``images`` when
      both augmentations are disabled.
  """
  if crop_padding < 0:
    raise ValueError(f'crop_padding must be >= 0, got {crop_padding}')
  if crop_padding == 0 and not flip:
    return images.copy()
  n = images.shape[0]
  offsets = rng.integers(0, 2 * crop_padding + 1, size=(n, 2))
  flips = rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool)
  return crop_and_flip(images, offsets, flips, padding=crop_padding)


def cutout(images: np.ndarray, centers: np.ndarray, length: int) -> np.ndarray:
  """Zeroes a ``length`` x ``length`` square of each image, clipped at the borders.

  As in DARTS' retraining (``utils.Cutout``), the square is centred on
  ``centers[i]`` (row, col), which may lie anywhere in the image, and is
  applied after normalization, so the masked pixels are exactly zero.

  Args:
      images: float array (N, H, W, C); modified in place and returned.
      centers: Integer array (N, 2) of square centres.
      length: Side of the square.

  Returns:
      ``images``.
  """
  n, height, width, _ = images.shape
  half = length // 2
  rows = np.arange(height)[None, :]
  cols = np.arange(width)[None, :]
  y, x = centers[:, :1], centers[:, 1:]
  in_rows = (rows >= np.clip(y - half, 0, height)) & (rows < np.clip(y + half, 0, height))
  in_cols = (cols >= np.clip(x - half, 0, width)) & (cols < np.clip(x + half, 0, width))
  mask = in_rows[:, :, None] & in_cols[:, None, :]  # (N, H, W)
  images[mask] = 0.0
  return images
