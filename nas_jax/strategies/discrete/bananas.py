"""BANANAS (White, Neiswanger & Savani, AAAI 2021): Bayesian optimization with an ensemble of
neural predictors on the path encoding. The reference implementation is naszilla
(``naszilla/nas_algorithms.py:bananas``, ``nas_benchmarks.py:get_candidates``,
``meta_neural_net.py``, ``acquisition_functions.py``); this module follows it as below.

The first ``num_init`` asks are random architectures of distinct isomorphism classes. After
that each ask

1. fits an ensemble of ``ensemble`` MLPs (``layers`` hidden layers of ``width`` units,
   ReLU, Glorot-uniform kernels and zero biases as Keras' ``Dense``) from the path
   encoding (``space.encode(arch, 'path')``) to the scores told so far: the mean absolute
   error, Adam at ``learning_rate`` with naszilla's ``beta_2 = 0.99``, ``epochs`` epochs
   of shuffled minibatches of ``batch_size`` (the last one partial, as Keras' ``fit``),
   each member from its own initialization and shuffles;
2. proposes ``candidates`` architectures by mutating the ``parents`` best so far (one
   decision each, ``space.mutate``), keeping only mutations whose isomorphism class has
   never been asked and is not already a candidate (naszilla's ``get_candidates`` with
   ``allow_isomorphisms=False``): ``patience * candidates`` mutations are drawn, and the
   first ``candidates`` qualifying ones kept;
3. scores them by the acquisition, independent Thompson sampling (``'its'``: one draw
   from ``N(mean, std)`` of the ensemble's predictions per candidate; the paper's
   choice) or an upper confidence bound (``'ucb'``: ``mean + ucb_beta * std``, naszilla's
   explore factor 0.5), and returns the ``n`` best. Should fewer than ``n`` candidates
   qualify, the rest are random architectures of classes never asked.

So BANANAS never asks an isomorphism class twice, as the reference never queries an
architecture twice (``state.seen`` holds every class asked).

The defaults are naszilla's: 10 random starts, an ensemble of 5 networks of 10 layers of
width 20 trained for 150 epochs at batch 32 with Adam at 0.01, 100 candidates, ITS, and
10 architectures per ask (``ask(n=10)``; any ``n`` works). Where this departs from it:

* scores are standardized before fitting (naszilla fits raw validation losses in
  percent; our tables hold fractions, and standardizing makes the fit scale-free);
* candidates are one-decision mutations of parents drawn uniformly from the 10 best
  (naszilla mutates the single best first, each operation with probability 1/6, moving to
  the next best only when too few distinct candidates come out).

The history lives in fixed-size buffers of ``max_queries`` entries, so the whole search
compiles once and runs under ``vmap``; a search longer than that is refused
(:meth:`Bananas.check_queries`, and ``tell`` past it when called outside ``jit``).

One seed gives the same picks whether it runs alone, as a scan or one round at a time.
Vmapped over many seeds the ensemble's matmuls are batched and round differently in the
last bits, so picks after the first fit can differ from the single run; the integer
strategies (random, REA, local search) and REINFORCE agree exactly.

The path encoding is read from a table of every architecture's encoding, so BANANAS
runs in spaces small enough to enumerate (``base.MAX_CLASS_INDEX``).
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nas_jax.strategies.discrete import base


@functools.lru_cache(maxsize=8)
def _encodings(space, kind: str) -> np.ndarray:
  if space.size() > base.MAX_CLASS_INDEX:
    raise base.ConfigError(
        f'bananas needs every encoding of the space; the {space.name} space has {space.size()} '
        f'architectures (at most {base.MAX_CLASS_INDEX})'
    )
  return np.stack([space.encode(a, kind) for a in space.enumerate()]).astype(np.float32)


def encode(space, archs: jax.Array, kind: str = 'path') -> jax.Array:
  """``space.encode`` of archs (..., D) -> (..., F), as a gather from the encoding table."""
  return jnp.asarray(_encodings(space, kind))[base.arch_index(space, archs)]


class Features:
  """Extra predictor inputs per architecture, concatenated to the encoding (BANANAS with
  zero-cost-proxy features, for example): ``values`` ``(space.size(), F)`` in
  ``space.enumerate()`` order. Compared and hashed by identity (a strategy setting that
  holds an array), so build one per feature set and reuse it.

  :meth:`from_rows` spreads per-table-row values (``(rows, F)``, one row per
  isomorphism class) over every architecture of the class, each column replaced by its
  rank among the rows scaled to [0, 1] (proxies span many orders of magnitude and some
  are negative; the rank keeps only their order, the part a ranking uses)."""

  def __init__(self, values, names=()):
    self.values = np.asarray(values, np.float32)
    if self.values.ndim != 2 or not np.isfinite(self.values).all():
      raise base.ConfigError(
          f'bananas features must be a finite (architectures, F) array, got shape '
          f'{self.values.shape}'
      )
    self.names = tuple(names)

  @classmethod
  def from_rows(cls, table, values, names=()) -> Features:
    """Features from ``values`` ``(len(table), F)`` per table row (NaN ranks lowest)."""
    values = np.asarray(values, np.float64)
    if values.ndim != 2 or len(values) != len(table):
      raise base.ConfigError(
          f'bananas features need one row per table row ({len(table)}), got shape {values.shape}'
      )
    dense = table.dense_rows()
    if (dense < 0).any():
      raise base.ConfigError('bananas features need a table row for every architecture')
    keyed = np.where(np.isfinite(values), values, -np.inf)
    ranks = np.argsort(np.argsort(keyed, axis=0, kind='stable'), axis=0, kind='stable')
    return cls((ranks / max(len(table) - 1, 1))[dense], names)

  def __repr__(self):
    return f'Features({self.values.shape[1]}: {", ".join(self.names) or "unnamed"})'


class MLP(nn.Module):
  """The predictor: ``layers`` ReLU layers of ``width`` units and a scalar output, with
  Keras' ``Dense`` initialization (Glorot-uniform kernels, zero biases) as naszilla's."""

  layers: int
  width: int

  @nn.compact
  def __call__(self, x):
    init = nn.initializers.glorot_uniform()
    for _ in range(self.layers):
      x = nn.relu(nn.Dense(self.width, kernel_init=init)(x))
    return nn.Dense(1, kernel_init=init)(x)[..., 0]


def minibatch_steps(count, epochs: int, batch_size: int) -> jax.Array:
  """The optimizer steps of ``epochs`` epochs over ``count`` rows at ``batch_size``, the
  last batch of each epoch partial (Keras' ``fit``): ``epochs * ceil(count / batch_size)``."""
  return epochs * ((count + batch_size - 1) // batch_size)


def fit_ensemble(
    keys,
    x,
    y,
    mask,
    layers: int,
    width: int,
    epochs: int,
    learning_rate: float,
    batch_size: int = 32,
):
  """One :class:`MLP` per key, each fitted on the rows where ``mask`` is 1 by naszilla's
  recipe: the mean absolute error, Adam (``beta_2 = 0.99``), ``epochs`` epochs of
  minibatches of ``batch_size`` in a fresh random order each epoch, the last batch of an
  epoch partial (:func:`minibatch_steps` steps in all). Returns vmapped params.

  The told rows may be fewer than the buffer (``mask``), so the steps run in a
  ``while_loop`` whose length follows the count: each step ``t`` is batch ``t % B`` of
  epoch ``t // B`` (``B = ceil(count / batch_size)``), whose order is a permutation of the
  told rows drawn from the member's key and the epoch."""
  net = MLP(layers, width)
  optimizer = optax.adam(learning_rate, b1=0.9, b2=0.99)
  x, y, mask = jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask)
  valid = mask > 0
  count = valid.sum().astype(jnp.int32)
  per_epoch = jnp.maximum((count + batch_size - 1) // batch_size, 1)
  total = epochs * per_epoch * (count > 0)
  rows = x.shape[0]

  def train_one(key):
    init_key, order_key = jax.random.split(key)
    params = net.init(init_key, x[:1])

    def loss(p, xb, yb, mb):
      return (jnp.abs(net.apply(p, xb) - yb) * mb).sum() / jnp.maximum(mb.sum(), 1.0)

    def step(carry):
      t, p, opt = carry
      epoch, b = t // per_epoch, t % per_epoch
      # the told rows in a random order (the untold ones sort last)
      noise = jax.random.uniform(jax.random.fold_in(order_key, epoch), (rows,))
      order = jnp.argsort(jnp.where(valid, noise, 2.0))
      at = b * batch_size + jnp.arange(batch_size)
      idx = order[jnp.minimum(at, rows - 1)]
      mb = (at < count).astype(x.dtype)
      grads = jax.grad(loss)(p, x[idx], y[idx], mb)
      updates, opt = optimizer.update(grads, opt, p)
      return t + 1, optax.apply_updates(p, updates), opt

    _, params, _ = jax.lax.while_loop(
        lambda c: c[0] < total, step, (jnp.zeros((), jnp.int32), params, optimizer.init(params))
    )
    return params

  return jax.vmap(train_one)(keys)


def predict_ensemble(params, x, layers: int, width: int) -> jax.Array:
  """(members, n) predictions of a :func:`fit_ensemble` ensemble."""
  return jax.vmap(lambda p: MLP(layers, width).apply(p, x))(params)


@flax.struct.dataclass
class BananasState:
  archs: jax.Array  # (max_queries, D): every architecture told, in order
  scores: jax.Array  # (max_queries,)
  told: jax.Array  # () int32
  seen: jax.Array  # (classes,) bool: every isomorphism class asked so far
  key: jax.Array  # the ensemble's initialization key, as raw key data (checkpointable)
  space: object = flax.struct.field(pytree_node=False)


@base.register('bananas')
@dataclasses.dataclass(frozen=True)
class Bananas(base.DiscreteStrategy):
  """Neural-ensemble Bayesian optimization (see the module docstring)."""

  num_init: int = 10
  ensemble: int = 5
  layers: int = 10
  width: int = 20
  epochs: int = 150
  batch_size: int = 32
  learning_rate: float = 0.01
  candidates: int = 100
  parents: int = 10
  patience: int = 5  # mutations drawn per candidate kept (naszilla's patience_factor)
  acquisition: str = 'its'
  ucb_beta: float = 0.5
  encoding: str = 'path'
  max_queries: int = 1000
  features: Features | None = None  # extra inputs concatenated to the encoding

  def check(self):
    for name in (
        'num_init',
        'ensemble',
        'layers',
        'width',
        'epochs',
        'batch_size',
        'candidates',
        'parents',
        'patience',
        'max_queries',
    ):
      base.positive(f'bananas.{name}', getattr(self, name))
    base.positive('bananas.learning_rate', self.learning_rate, integer=False)
    if self.acquisition not in ('its', 'ucb'):
      raise base.ConfigError(
          f"bananas.acquisition must be 'its' or 'ucb', got {self.acquisition!r}"
      )

  def init(self, key, space):
    _encodings(space, self.encoding)  # fail early, outside any trace
    if self.features is not None and len(self.features.values) != space.size():
      raise base.ConfigError(
          f'bananas features have {len(self.features.values)} rows, the {space.name} space '
          f'{space.size()} architectures'
      )
    d = len(space.options)
    return BananasState(
        archs=jnp.zeros((self.max_queries, d), jnp.int32),
        scores=jnp.zeros((self.max_queries,), jnp.float32),
        told=jnp.zeros((), jnp.int32),
        seen=base.unseen(space),
        key=jax.random.key_data(key),
        space=space,
    )

  # --- the predictor -------------------------------------------------------------------------
  def inputs(self, space, archs) -> jax.Array:
    """The predictor's inputs for archs (..., D): the encoding, then any features."""
    x = encode(space, archs, self.encoding)
    if self.features is None:
      return x
    extra = jnp.asarray(self.features.values)[base.arch_index(space, archs)]
    return jnp.concatenate([x, extra], axis=-1)

  def _measured(self, state) -> jax.Array:
    """(max_queries,) bool: history entries told and not NaN (an unmeasured cell)."""
    return (jnp.arange(self.max_queries) < state.told) & ~jnp.isnan(state.scores)

  def fit(self, state) -> tuple[dict, jax.Array, jax.Array]:
    """The ensemble fitted to the history: ``(params, mean, std)`` of the standardization."""
    mask = self._measured(state).astype(jnp.float32)
    count = jnp.maximum(mask.sum(), 1.0)
    mean = (state.scores * mask).sum() / count
    std = jnp.sqrt((((state.scores - mean) * mask) ** 2).sum() / count) + 1e-6
    y = jnp.where(mask > 0, (state.scores - mean) / std, 0.0)
    x = self.inputs(state.space, state.archs)
    key = jax.random.wrap_key_data(state.key)
    keys = jax.random.split(jax.random.fold_in(key, state.told), self.ensemble)
    params = fit_ensemble(
        keys,
        x,
        y,
        mask,
        self.layers,
        self.width,
        self.epochs,
        self.learning_rate,
        self.batch_size,
    )
    return params, mean, std

  def predict(self, params, state, archs) -> tuple[jax.Array, jax.Array]:
    """The ensemble's mean and standard deviation (standardized units) for archs (n, D)."""
    preds = predict_ensemble(params, self.inputs(state.space, archs), self.layers, self.width)
    return preds.mean(0), preds.std(0)

  # --- ask/tell -----------------------------------------------------------------------------------
  def check_queries(self, num_queries):
    if num_queries > self.max_queries:
      raise base.ConfigError(
          f'bananas.max_queries={self.max_queries} holds fewer than the {num_queries} queries '
          'asked for: raise it'
      )

  def candidate_pool(self, state, key) -> tuple[jax.Array, jax.Array]:
    """``(archs (patience * candidates, D), keep (…,) bool)``: mutations of the best told
    architectures, ``keep`` marking the first ``candidates`` whose class was never asked
    and occurs nowhere earlier in the pool."""
    space = state.space
    key_parent, key_mutate = jax.random.split(key)
    pool = self.patience * self.candidates
    valid = self._measured(state)
    ranked = jnp.argsort(jnp.where(valid, -state.scores, jnp.inf))
    top = ranked[: self.parents]
    top_count = jnp.clip(valid.sum(), 1, self.parents)
    picks = top[jax.random.randint(key_parent, (pool,), 0, top_count)]
    archs = jax.vmap(lambda k, a: base.mutate(k, space, a))(
        jax.random.split(key_mutate, pool), state.archs[picks]
    )
    ids = base.class_of(space, archs)
    first = ~jnp.tril(ids[:, None] == ids[None, :], -1).any(1)
    fresh = first & ~state.seen[ids]
    keep = fresh & (jnp.cumsum(fresh) <= self.candidates)
    return archs.astype(jnp.int32), keep

  def ask(self, state, key, n=1):
    space = state.space
    if n > self.candidates:
      raise base.ConfigError(f'bananas asks at most candidates={self.candidates} at once, not {n}')
    key_random, key_pool, key_its = jax.random.split(key, 3)

    def propose(_):
      params, _, _ = self.fit(state)
      cands, keep = self.candidate_pool(state, key_pool)
      mean, std = self.predict(params, state, cands)
      if self.acquisition == 'its':
        value = mean + std * jax.random.normal(key_its, mean.shape)
      else:
        value = mean + self.ucb_beta * std
      value = jnp.where(keep, value, -jnp.inf)
      order = jnp.argsort(-value)[:n]
      return cands[order], keep[order]

    def random(_):
      return jnp.zeros((n, len(space.options)), jnp.int32), jnp.zeros((n,), bool)

    picks, ok = jax.lax.cond(state.told >= self.num_init, propose, random, operand=None)
    # slots without a qualifying candidate (all of them during the random starts): random
    # architectures of classes never asked
    seen = base.mark(space, state.seen, picks, ok)
    archs, seen = base.fill_unseen(key_random, space, seen, picks, ok)
    return archs.astype(jnp.int32), state.replace(seen=seen)

  def tell(self, state, archs, scores):
    n = archs.shape[0]
    if not isinstance(state.told, jax.core.Tracer) and int(state.told) + n > self.max_queries:
      raise ValueError(
          f'bananas has room for max_queries={self.max_queries} results; telling {n} more '
          f'after {int(state.told)} overflows it'
      )
    index = state.told + jnp.arange(n)  # past the buffer (only under jit): dropped
    return state.replace(
        archs=state.archs.at[index].set(archs.astype(jnp.int32), mode='drop'),
        scores=state.scores.at[index].set(scores.astype(jnp.float32), mode='drop'),
        told=jnp.minimum(state.told + n, self.max_queries),
    )
