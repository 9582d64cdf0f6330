"""The dataset catalog: each dataset's classes, image shape, normalization and augmentation,
and the errors that name a dataset or split."""

from __future__ import annotations

import dataclasses
from typing import Any

MNIST5K_NAME = 'mnist5k'
ANIMAL_MNIST_NAME = 'animal_mnist'


# --------------------------------------------------------------------------
# Dataset metadata.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DatasetMeta:
  """Static facts about a dataset that the model and input pipeline need.

  Attributes:
      num_classes: Number of label classes.
      image_shape: Native (height, width, channels) of the images.
      mean: Per-channel mean of the pixels scaled to [0, 1].
      std: Per-channel standard deviation of the pixels scaled to [0, 1].
      flip: Whether random horizontal flips are a label-preserving
          augmentation (False for digits).
      crop_padding: Zero padding of the random-crop augmentation.
  """

  num_classes: int
  image_shape: tuple[int, int, int]
  mean: tuple[float, ...]
  std: tuple[float, ...]
  flip: bool
  crop_padding: int = 4

  def __getitem__(self, key: str) -> Any:
    """Gives dict-style read access to the fields.

    Args:
        key: Field name, e.g. ``"num_classes"``.

    Returns:
        The value of that field.
    """
    if key not in {f.name for f in dataclasses.fields(self)}:
      raise KeyError(key)
    return getattr(self, key)


DATASETS: dict[str, DatasetMeta] = {
    MNIST5K_NAME: DatasetMeta(
        num_classes=10,
        image_shape=(28, 28, 1),
        mean=(0.1307,),
        std=(0.3081,),
        flip=False,
    ),
    # animal_mnist's own pixel statistics (over all 9,716 images).
    ANIMAL_MNIST_NAME: DatasetMeta(
        num_classes=10,
        image_shape=(28, 28, 1),
        mean=(0.2728,),
        std=(0.4056,),
        flip=True,
    ),
    'cifar10': DatasetMeta(
        num_classes=10,
        image_shape=(32, 32, 3),
        mean=(0.49139968, 0.48215827, 0.44653124),
        std=(0.24703233, 0.24348505, 0.26158768),
        flip=True,
    ),
    'cifar100': DatasetMeta(
        num_classes=100,
        image_shape=(32, 32, 3),
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        flip=True,
    ),
    'imagenet2012': DatasetMeta(
        num_classes=1000,
        image_shape=(224, 224, 3),
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        flip=True,
    ),
    'svhn_cropped': DatasetMeta(
        num_classes=10,
        image_shape=(32, 32, 3),
        mean=(0.4377, 0.4438, 0.4728),
        std=(0.198, 0.201, 0.197),
        flip=False,
    ),
}


def _known_names() -> str:
  """Lists the names of the datasets in :data:`DATASETS`.

  Returns:
      Comma-separated, sorted dataset names.
  """
  return ', '.join(sorted(DATASETS))


def dataset_meta(name: str) -> DatasetMeta:
  """Looks up the metadata of a dataset.

  Args:
      name: Dataset name, a key of :data:`DATASETS`.

  Returns:
      The dataset's :class:`DatasetMeta`.

  Raises:
      ValueError: For an unknown name (one-line message listing known ones).
  """
  try:
    return DATASETS[name]
  except KeyError:
    raise ValueError(f'unknown dataset {name!r}; known datasets: {_known_names()}') from None


def input_shape(name: str, image_size: int | None = None) -> tuple[int, int, int]:
  """Gives the (height, width, channels) of the images a model will see.

  Args:
      name: Dataset name, a key of :data:`DATASETS`.
      image_size: Side of the square resize applied by :func:`load_split`,
          or None for the native size.

  Returns:
      The image shape after the optional resize.
  """
  height, width, channels = dataset_meta(name).image_shape
  if image_size is not None:
    height = width = int(image_size)
  return (height, width, channels)


class SplitError(ValueError):
  """A split string that names no data (malformed, or empty); the message is one line."""


class DatasetUnavailableError(RuntimeError):
  """A TFDS dataset is not prepared in ``data_dir`` and cannot be downloaded.

  Its message is a single line meant to be printed without a traceback.
  """


def _unavailable(name: str, data_dir: str, reason: str = '') -> DatasetUnavailableError:
  """Builds the one-line error for a dataset that cannot be read.

  Args:
      name: Dataset name.
      data_dir: Directory where the prepared dataset was looked for.
      reason: Optional short extra reason (e.g. a download failure).

  Returns:
      The error, ready to be raised.
  """
  extra = f' ({reason})' if reason else ''
  message = (
      f'dataset {name!r} is not available offline in data_dir={data_dir!r}{extra} '
      f'(prepare it with tfds on a machine with internet, or use '
      f'--config.dataset={MNIST5K_NAME}, which ships with the package)'
  )
  return DatasetUnavailableError(' '.join(message.split()))
