"""The process set-up: the persistent compilation cache's entries are written atomically."""

import os

from jax._src import lru_cache
import pytest

from nas_jax import runtime


def test_cache_entries_appear_whole_or_not_at_all(tmp_path, monkeypatch):
  # conftest turned the cache on (runtime.enable_compilation_cache), which installs the put
  assert lru_cache.LRUCache.put is runtime._put  # pylint: disable=protected-access
  cache = lru_cache.LRUCache(str(tmp_path), max_size=-1)  # unbounded, as the launchers use it
  cache.put('k1', b'x' * 1000)
  assert cache.get('k1') == b'x' * 1000
  cache.put('k1', b'other')  # an existing entry is kept, as JAX's own put does
  assert cache.get('k1') == b'x' * 1000
  # A write cut off before its rename leaves no entry a reader could load, and no temporary
  # file behind (JAX's own put wrote in place: a reader saw the partial bytes).
  real_replace = os.replace

  def cut(src, dst):
    with open(src, 'rb') as f:
      assert f.read() == b'y' * 1000  # the whole entry was written first, elsewhere
    assert not os.path.exists(dst)
    raise OSError('killed before the rename')

  monkeypatch.setattr(os, 'replace', cut)
  with pytest.raises(OSError, match='killed before the rename'):
    cache.put('k2', b'y' * 1000)
  assert cache.get('k2') is None
  monkeypatch.setattr(os, 'replace', real_replace)
  assert os.listdir(tmp_path) == ['k1-cache']
