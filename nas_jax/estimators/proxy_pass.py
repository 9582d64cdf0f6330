"""A proxy pass: zero-cost proxies of many cells without data, resumable, timed.

Abdelfattah et al. (ICLR 2021; github.com/SamsungLabs/zero-cost-nas, ``nasbench2_pred.py``)
score every NB201 cell at its CIFAR-10 size (C=16, N=5, 32x32x3) on one minibatch of the
training data. :class:`ProxyPass` scores cells at any such size without a dataset:

* ``synflow`` needs no data by definition (an all-ones example: :func:`proxies.synflow`);
* the data-dependent proxies (``grad_norm``, ``snip``, ``grasp``, ``fisher``, ``jacov``,
  ``naswot``) get one **Gaussian** batch, ``x ~ N(0, 1)`` per pixel (the scale of
  standardized images) and labels uniform over the classes, drawn once from ``seed``.
  That departs from the reference, which reads CIFAR-10: reports must say so beside
  each such number.

The weights of every cell are drawn from one key (``seed``), so two cells share the
weights of the ops they share; the network is the space's arch network (``nn.switch``
over each edge's ops, one compiled program for every cell, each call running only the
chosen ops).

:func:`run_pass` scores a list of cells in chunks and keeps its progress in an ``.npz``:
a killed pass resumes from its last whole chunk and never repeats a finished one. The file
records the seconds of each chunk and of the compile, so the pass is its own timing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import io
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from nas_jax.estimators import proxies
from nas_jax.registry import unknown
from nas_jax.util import atomic_write

__all__ = [
    'PassError',
    'ProxyPass',
    'gaussian_batch',
    'nb201_has_path',
    'network_costs',
    'pair_ceiling',
    'rank_correlations',
    'run_pass',
]


class PassError(ValueError):
  """A pass file that does not belong to the pass asked for, or bad pass settings."""


def gaussian_batch(image_shape, batch: int, num_classes: int, seed: int = 0):
  """``(x, y)``: ``x`` (batch, H, W, C) float32 ``N(0, 1)``, ``y`` uniform class labels."""
  kx, ky = jax.random.split(jax.random.key(seed))
  x = jax.random.normal(kx, (batch,) + tuple(image_shape), jnp.float32)
  y = jax.random.randint(ky, (batch,), 0, num_classes)
  return x, y


class ProxyPass:
  """The proxies ``names`` of one cell at a time, one compiled program for every cell.

  Args:
    space: a space with an arch network (``space.arch_network``).
    names: proxies of :data:`proxies.PROXIES`.
    num_classes, channels, layers, image_shape: the network's size (NB201's CIFAR-10:
      10, 16, 5, (32, 32, 3)).
    batch: the Gaussian batch's size (``synflow`` alone reads one all-ones example).
    seed: the weights' and the batch's seed.
  """

  def __init__(
      self,
      space,
      names: Sequence[str],
      *,
      num_classes: int,
      channels: int,
      layers: int,
      image_shape,
      batch: int,
      seed: int = 0,
  ):
    names = tuple(names)
    if not names:
      raise PassError('a proxy pass needs at least one proxy')
    for name in names:
      if name not in proxies.PROXIES:
        raise PassError(unknown('proxy', name, proxies.PROXIES))
    if batch < 1 or (batch < 2 and set(names) - {'synflow'}):
      raise PassError(f'batch must be >= 2 for a data-dependent proxy, got {batch}')
    self.space, self.names, self.seed, self.batch = space, names, int(seed), int(batch)
    self.size = dict(
        num_classes=int(num_classes),
        channels=int(channels),
        layers=int(layers),
        image_shape=tuple(int(s) for s in image_shape),
    )
    self.net = net = space.arch_network(num_classes, channels=channels, layers=layers)
    self.x, self.y = gaussian_batch(image_shape, batch, num_classes, seed)

    def score(arch, x, y):
      variables = net.init(jax.random.key(self.seed), x[:1], arch, False)
      forward = proxies.forward_of(net, variables, arch)
      return jnp.stack([proxies.PROXIES[n](forward, variables['params'], x, y) for n in names])

    self._jit = jax.jit(score)
    self._compiled = None

  def settings(self) -> str:
    """What a pass file must match to be resumed by this pass."""
    return (
        f'space={self.space.name} primitives={",".join(self.space.primitives)} '
        f'proxies={",".join(self.names)} batch={self.batch} seed={self.seed} '
        + ' '.join(f'{k}={v}' for k, v in self.size.items())
    )

  def compile(self) -> float:
    """Compiles the scorer (once); returns the seconds it took (0 when already compiled)."""
    if self._compiled is not None:
      return 0.0
    start = time.perf_counter()
    arch = jnp.zeros((len(self.space.options),), jnp.int32)
    self._compiled = self._jit.lower(arch, self.x, self.y).compile()
    return time.perf_counter() - start

  def __call__(self, arch) -> np.ndarray:
    """The proxies of one cell (its decision tuple), in the order of ``names``."""
    self.compile()
    out = self._compiled(jnp.asarray(arch, jnp.int32), self.x, self.y)
    return np.asarray(out, np.float64)


def _load(path: str | None, settings: str, archs: np.ndarray, k: int) -> dict[str, np.ndarray]:
  """The pass's progress: read from ``path`` when it exists, else nothing scored."""
  fresh = dict(
      scores=np.full((len(archs), k), np.nan),
      seconds=np.full(len(archs), np.nan),
      compile_seconds=np.zeros(0),
  )
  if path is None or not os.path.exists(path):
    return fresh
  try:
    with np.load(path, allow_pickle=False) as f:
      saved = {name: f[name] for name in f.files}
  except (OSError, ValueError) as e:
    raise PassError(f'{path}: not a proxy pass file ({e})') from None
  if str(saved.get('settings')) != settings:
    raise PassError(
        f'{path} holds another pass ({saved.get("settings")}); this one is {settings}: '
        'remove the file or name another'
    )
  if not np.array_equal(saved.get('archs'), archs):
    raise PassError(f'{path} scored other cells than the ones asked: remove it or name another')
  return {name: saved[name] for name in fresh}


def run_pass(
    scorer: ProxyPass,
    archs,
    path: str | None = None,
    *,
    chunk: int = 100,
    limit_s: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, np.ndarray]:
  """Scores each cell of ``archs`` (N, D) with ``scorer``, resuming from ``path``.

  Returns ``{'scores': (N, K), 'seconds': (N,), 'compile_seconds': (sittings,)}``: NaN
  for cells not scored yet, each cell's seconds the mean over its chunk, one compile per
  sitting that scored anything. The file at ``path`` (if given) is rewritten atomically
  after every chunk. ``limit_s`` stops after the chunk that crosses that many seconds
  (the pass then resumes where it stopped).
  """
  archs = np.asarray(archs, np.int32)
  state = _load(path, scorer.settings(), archs, len(scorer.names))
  todo = np.flatnonzero(np.isnan(state['seconds']))
  if len(todo) == 0:
    return state
  start = time.perf_counter()
  compile_s = scorer.compile()
  state['compile_seconds'] = np.append(state['compile_seconds'], compile_s)
  log(f'proxy pass: {len(archs) - len(todo)} of {len(archs)} cells done; compile {compile_s:.1f} s')
  for begin in range(0, len(todo), chunk):
    rows = todo[begin : begin + chunk]
    t = time.perf_counter()
    values = np.stack([scorer(archs[i]) for i in rows])
    state['scores'][rows] = values
    state['seconds'][rows] = (time.perf_counter() - t) / len(rows)
    if path:
      buf = io.BytesIO()
      np.savez(buf, settings=np.asarray(scorer.settings()), archs=archs, **state)
      atomic_write(path, buf.getvalue())
    done = len(archs) - len(todo) + begin + len(rows)
    log(
        f'proxy pass: {done} of {len(archs)} cells, {state["seconds"][rows].mean() * 1e3:.1f} ms/cell'
    )
    if limit_s is not None and time.perf_counter() - start > limit_s:
      break
  return state


# --- ranking a pass against a table ------------------------------------------------------------


def nb201_has_path(space, archs) -> np.ndarray:
  """Whether each NB201 cell (decision tuples, (N, 6)) has an input-to-output path with no
  ``none`` edge (the cells without one output zeros)."""
  from nas_jax.spaces.nb201.arch import PATHS  # pylint: disable=import-outside-toplevel

  live = np.asarray(archs) != space.primitives.index('none')
  return np.any([live[:, list(p)].all(axis=1) for p in PATHS], axis=0)


def network_costs(space, archs, *, num_classes, channels, layers, image_shape) -> dict:
  """``{'params': (N,), 'flops': (N,)}`` of each cell's evaluation network at that size
  (exact counts, additive over decisions: ``nas_jax.tabular.costs``)."""
  # pylint: disable=import-outside-toplevel
  from nas_jax.tabular import costs
  from nas_jax.tabular.protocol import Protocol

  protocol = Protocol(channels=channels, cells_per_stage=layers, image_size=image_shape[0])
  table = costs.additive_costs(space, protocol, num_classes, tuple(image_shape))
  return {name: costs.predict(base, c, archs) for name, (base, c) in table.items()}


def rank_correlations(score, truth, rng=None, boots: int = 1000) -> tuple[float, float, float]:
  """``(Spearman rho, Kendall tau, rho's bootstrap standard error)`` over the finite pairs;
  the standard error is NaN unless ``rng`` (a NumPy Generator) is given."""
  import scipy.stats  # pylint: disable=import-outside-toplevel

  score, truth = np.asarray(score, np.float64), np.asarray(truth, np.float64)
  ok = np.isfinite(score) & np.isfinite(truth)
  score, truth = score[ok], truth[ok]
  rho = scipy.stats.spearmanr(score, truth)[0]
  tau = scipy.stats.kendalltau(score, truth)[0]
  se = float('nan')
  if rng is not None:
    draws = rng.integers(0, len(truth), (boots, len(truth)))
    se = float(np.std([scipy.stats.spearmanr(score[d], truth[d])[0] for d in draws], ddof=1))
  return float(rho), float(tau), se


def pair_ceiling(values, groups) -> tuple[int, float, float]:
  """``(pairs, Spearman rho, Kendall tau)`` between the first two values of every group of two
  or more (e.g. separately trained cells of one isomorphism class): the ceiling of any score
  that is one number per group."""
  import scipy.stats  # pylint: disable=import-outside-toplevel

  first, second = {}, {}
  for v, g in zip(values, groups):
    if g not in first:
      first[g] = v
    elif g not in second:
      second[g] = v
  keys = sorted(second)
  a = np.asarray([first[k] for k in keys])
  b = np.asarray([second[k] for k in keys])
  return len(keys), float(scipy.stats.spearmanr(a, b)[0]), float(scipy.stats.kendalltau(a, b)[0])
