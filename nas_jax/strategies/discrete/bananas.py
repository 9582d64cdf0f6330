"""BANANAS (White, Neiswanger & Savani, AAAI 2021): Bayesian optimization with an ensemble of
neural predictors on the path encoding.

The first ``num_init`` asks are random. After that each ask

1. fits an ensemble of ``ensemble`` MLPs (``layers`` hidden layers of ``width`` units,
   ReLU; Adam at ``learning_rate``, ``epochs`` full-batch steps on the mean absolute
   error, each member from its own initialization) from the path encoding
   (``space.encode(arch, 'path')``) to the scores told so far;
2. proposes ``candidates`` architectures by mutating the ``parents`` best so far (one
   decision each, ``space.mutate``);
3. scores them by the acquisition, independent Thompson sampling (``'its'``: one draw
   from ``N(mean, std)`` of the ensemble's predictions per candidate; the paper's
   choice) or an upper confidence bound (``'ucb'``: ``mean + ucb_beta * std``), and
   returns the ``n`` best.

The paper's defaults: 10 random starts, an ensemble of 5 networks of 10 layers of
width 20 trained for 200 epochs with Adam at 0.01, 100 candidates from the 10 best,
ITS, and 10 architectures per ask (``ask(n=10)``; any ``n`` works). Scores are
standardized before fitting. The history lives in fixed-size buffers of
``max_queries`` entries, so the whole search compiles once and runs under ``vmap``.

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
  """The predictor: ``layers`` ReLU layers of ``width`` units and a scalar output."""

  layers: int
  width: int

  @nn.compact
  def __call__(self, x):
    for _ in range(self.layers):
      x = nn.relu(nn.Dense(self.width)(x))
    return nn.Dense(1)(x)[..., 0]


def fit_ensemble(keys, x, y, mask, layers: int, width: int, epochs: int, learning_rate: float):
  """One :class:`MLP` per key, each fitted by ``epochs`` full-batch Adam steps on the mean
  absolute error over the rows where ``mask`` is 1 (BANANAS' recipe); vmapped params."""
  net = MLP(layers, width)
  optimizer = optax.adam(learning_rate)
  count = jnp.maximum(mask.sum(), 1.0)

  def train_one(key):
    params = net.init(key, x[:1])

    def loss(p):
      return (jnp.abs(net.apply(p, x) - y) * mask).sum() / count

    def step(carry, _):
      p, opt = carry
      grads = jax.grad(loss)(p)
      updates, opt = optimizer.update(grads, opt, p)
      return (optax.apply_updates(p, updates), opt), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, epochs)
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
  epochs: int = 200
  learning_rate: float = 0.01
  candidates: int = 100
  parents: int = 10
  acquisition: str = 'its'
  ucb_beta: float = 1.0
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
        'candidates',
        'parents',
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
        keys, x, y, mask, self.layers, self.width, self.epochs, self.learning_rate
    )
    return params, mean, std

  def predict(self, params, state, archs) -> tuple[jax.Array, jax.Array]:
    """The ensemble's mean and standard deviation (standardized units) for archs (n, D)."""
    preds = predict_ensemble(params, self.inputs(state.space, archs), self.layers, self.width)
    return preds.mean(0), preds.std(0)

  # --- ask/tell -----------------------------------------------------------------------------------
  def ask(self, state, key, n=1):
    space = state.space
    key_random, key_parent, key_mutate, key_its = jax.random.split(key, 4)
    random_archs = base.sample(key_random, space, n)

    def propose(_):
      params, _, _ = self.fit(state)
      valid = self._measured(state)
      ranked = jnp.argsort(jnp.where(valid, -state.scores, jnp.inf))
      top = ranked[: self.parents]
      top_count = jnp.clip(valid.sum(), 1, self.parents)
      picks = top[jax.random.randint(key_parent, (self.candidates,), 0, top_count)]
      cands = jax.vmap(lambda k, a: base.mutate(k, space, a))(
          jax.random.split(key_mutate, self.candidates), state.archs[picks]
      )
      mean, std = self.predict(params, state, cands)
      if self.acquisition == 'its':
        value = mean + std * jax.random.normal(key_its, mean.shape)
      else:
        value = mean + self.ucb_beta * std
      # the n best distinct candidates (a repeat of an earlier pick scores -inf)
      same = (cands[:, None, :] == cands[None, :, :]).all(-1)
      first = ~jnp.any(jnp.tril(same, -1), axis=1)
      value = jnp.where(first, value, -jnp.inf)
      order = jnp.argsort(-value)
      return cands[order[:n]]

    if n > self.candidates:
      raise base.ConfigError(f'bananas asks at most candidates={self.candidates} at once, not {n}')
    archs = jax.lax.cond(state.told >= self.num_init, propose, lambda _: random_archs, operand=None)
    return archs.astype(jnp.int32), state

  def tell(self, state, archs, scores):
    n = archs.shape[0]
    index = jnp.minimum(state.told + jnp.arange(n), self.max_queries - 1)
    return state.replace(
        archs=state.archs.at[index].set(archs.astype(jnp.int32)),
        scores=state.scores.at[index].set(scores.astype(jnp.float32)),
        told=jnp.minimum(state.told + n, self.max_queries),
    )
