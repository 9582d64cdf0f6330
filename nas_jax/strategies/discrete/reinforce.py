"""REINFORCE (Williams 1992) over a factorized categorical policy, as NB201's and
NATS-Bench's RL baseline (Dong & Yang 2020; reference code AutoDL-Projects'
``exps/NATS-algos/reinforce.py``): logits initialized as ``1e-3 * N(0, 1)``, Adam, and an
exponential moving average of the reward with momentum 0.9 as the baseline.

The learning rate defaults to 0.01, what NATS-Bench's ``run-all.sh`` passes for its
topology search space (the NB201 space, searched with the ``simulate_train_eval`` protocol
that ``experiments.discrete`` reproduces). NB201's older ``REINFORCE.sh`` shows 0.001 in
its usage line; set ``learning_rate=0.001`` for that. The rewards are fractions here and
percentages there, which Adam's scale invariance makes immaterial (up to its epsilon).

The policy holds one logit vector per decision (``space.options``; values beyond a
decision's options are masked out), so ``pi(a) = prod_d softmax(logits_d)[a_d]``.
Each told result ``r`` first updates the baseline ``b`` (a bias-corrected moving
average, so the first reward is its own baseline), then takes one Adam step on
``-(r - b) log pi(a)``, whose gradient with respect to ``logits_d`` is
``-(r - b) (onehot(a_d) - softmax(logits_d))`` (:func:`log_prob_grad`).
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nas_jax.strategies.discrete import base


@flax.struct.dataclass
class ReinforceState:
  logits: jax.Array  # (D, K): K the largest option count; masked entries stay unused
  opt_state: optax.OptState
  ema: jax.Array  # (2,): the moving average's numerator and denominator
  space: object = flax.struct.field(pytree_node=False)


def _mask(space) -> np.ndarray:
  k = max(space.options)
  return np.arange(k)[None, :] < np.asarray(space.options)[:, None]


def probabilities(space, logits: jax.Array) -> jax.Array:
  """(D, K) per-decision probabilities (0 beyond a decision's options)."""
  return jax.nn.softmax(jnp.where(_mask(space), logits, -jnp.inf), axis=-1)


def log_prob(space, logits: jax.Array, arch: jax.Array) -> jax.Array:
  """``log pi(arch)`` under the factorized policy."""
  logp = jax.nn.log_softmax(jnp.where(_mask(space), logits, -jnp.inf), axis=-1)
  return jnp.take_along_axis(logp, arch[:, None].astype(jnp.int32), axis=-1).sum()


def log_prob_grad(space, logits: jax.Array, arch: jax.Array) -> jax.Array:
  """``d log pi(arch) / d logits`` in closed form: ``onehot(arch) - probabilities``."""
  onehot = jax.nn.one_hot(arch, logits.shape[-1], dtype=logits.dtype)
  return jnp.where(_mask(space), onehot - probabilities(space, logits), 0.0)


@base.register('reinforce')
@dataclasses.dataclass(frozen=True)
class Reinforce(base.DiscreteStrategy):
  """Policy gradient with Adam (``learning_rate``) and an EMA baseline (``momentum``)."""

  learning_rate: float = 0.01
  momentum: float = 0.9

  def check(self):
    base.positive('reinforce.learning_rate', self.learning_rate, integer=False)
    if not 0 <= self.momentum < 1:
      raise base.ConfigError(f'reinforce.momentum must be in [0, 1), got {self.momentum!r}')

  def _optimizer(self):
    return optax.adam(self.learning_rate)

  def init(self, key, space):
    shape = (len(space.options), max(space.options))
    logits = 1e-3 * jax.random.normal(key, shape, jnp.float32)
    return ReinforceState(
        logits=logits,
        opt_state=self._optimizer().init(logits),
        ema=jnp.zeros((2,), jnp.float32),
        space=space,
    )

  def ask(self, state, key, n=1):
    logp = jnp.log(probabilities(state.space, state.logits))
    archs = jax.random.categorical(key, logp, axis=-1, shape=(n, logp.shape[0]))
    return archs.astype(jnp.int32), state

  def tell(self, state, archs, scores):
    m = self.momentum
    optimizer = self._optimizer()

    def one(state, member):
      arch, reward = member
      ema = m * state.ema + (1 - m) * jnp.stack([reward, 1.0])
      advantage = reward - ema[0] / ema[1]
      grad = -advantage * log_prob_grad(state.space, state.logits, arch)
      updates, opt_state = optimizer.update(grad, state.opt_state, state.logits)
      stepped = state.replace(
          logits=optax.apply_updates(state.logits, updates), opt_state=opt_state, ema=ema
      )
      # an unmeasured cell (a NaN reward) teaches nothing: the state is kept as it was
      return (
          jax.tree.map(lambda new, old: jnp.where(jnp.isfinite(reward), new, old), stepped, state),
          None,
      )

    state, _ = jax.lax.scan(one, state, (archs.astype(jnp.int32), scores.astype(jnp.float32)))
    return state
