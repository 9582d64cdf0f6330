"""Successive halving and Hyperband over training epochs (Li, Jamieson, DeSalvo, Rostamizadeh &
Talwalkar, JMLR 2018), as multi-fidelity search around random sampling.

With a maximum of ``max_epochs`` epochs (R) and a halving rate ``eta``, Hyperband runs
``s_max + 1`` brackets, ``s_max = floor(log_eta R)``. Bracket ``s`` starts
``n = ceil((s_max + 1) / (s + 1) * eta^s)`` random architectures at ``r = R eta^-s``
epochs; each rung keeps the best ``floor(n_i / eta)`` and trains them at ``eta`` times the
epochs, up to R (:func:`brackets` lists them). ``brackets='sh'`` runs only the most
aggressive bracket ``s_max`` (successive halving). The schedule repeats until the budget
is spent.

Each query asks one architecture at the epochs its rung gives (``fidelity``); a table
estimator reads that epoch's column and charges that many epochs, a promoted
architecture being trained again from scratch at its new budget. Only queries at R
epochs (the search's own fidelity) can become the incumbent, so R must be the
estimator's own fidelity: left unset (the default), ``max_epochs`` is taken from the
estimator when the loop binds the strategy to it (:meth:`Hyperband.bind`), and a value
that differs is a one-line ConfigError (with a smaller R no query would ever be at the
search's fidelity, and the search would have no answer). ``eta`` defaults to 3.

Reference: the paper's Algorithm 1 and its Table 1 (R = 81, eta = 3; the test checks the
brackets against it). No reference code is followed. Departures: queries run one at a
time in schedule order (the paper runs a rung in parallel, which gives the same choices),
and a promoted architecture is retrained from scratch at its new budget (a table cannot
resume training).
"""

from __future__ import annotations

import dataclasses
import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nas_jax.strategies.discrete import base


def brackets(max_epochs: int, eta: int, only_sh: bool = False) -> list[list[tuple[int, int]]]:
  """Hyperband's brackets: per bracket, its rungs as ``(architectures, epochs)``."""
  s_max = int(math.floor(math.log(max_epochs) / math.log(eta) + 1e-9))
  out = []
  for s in range(s_max, -1, -1) if not only_sh else [s_max]:
    n = int(math.ceil((s_max + 1) / (s + 1) * eta**s))
    rungs = []
    for i in range(s + 1):
      n_i = int(math.floor(n * eta ** (-i)))
      r_i = int(round(max_epochs * eta ** (i - s)))
      rungs.append((max(n_i, 1), max(r_i, 1)))
    out.append(rungs)
  return out


def _schedule(max_epochs: int, eta: int, only_sh: bool) -> np.ndarray:
  """One pass over every bracket, a row per query: ``(slot, epochs, rung size, first rung,
  last slot of the rung)``. A rung's slot ``j`` holds the ``j``-th best of the rung before."""
  rows = []
  for rungs in brackets(max_epochs, eta, only_sh):
    for i, (n_i, r_i) in enumerate(rungs):
      for j in range(n_i):
        rows.append((j, r_i, n_i, i == 0, j == n_i - 1))
  return np.asarray(rows, np.int32)


@flax.struct.dataclass
class HyperbandState:
  rung_archs: jax.Array  # (W, D): this rung's architectures (promoted ones, from rung 1 on)
  rung_scores: jax.Array  # (W,): their scores, as told
  position: jax.Array  # () int32: the next query's row of the schedule
  epochs: jax.Array  # (1,) int32: the last ask's fidelity
  space: object = flax.struct.field(pytree_node=False)


@base.register('hyperband')
@dataclasses.dataclass(frozen=True)
class Hyperband(base.DiscreteStrategy):
  """Hyperband (``brackets='hyperband'``) or successive halving (``'sh'``) over epochs."""

  max_epochs: int | None = None  # None: the estimator's own fidelity (bind)
  eta: int = 3
  brackets: str = 'hyperband'
  batch_ask = False

  def check(self):
    if self.max_epochs is not None:
      base.positive('hyperband.max_epochs', self.max_epochs)
    base.positive('hyperband.eta', self.eta)
    if self.eta < 2:
      raise base.ConfigError(f'hyperband.eta must be >= 2, got {self.eta}')
    if self.brackets not in ('hyperband', 'sh'):
      raise base.ConfigError(
          f"hyperband.brackets must be 'hyperband' or 'sh', got {self.brackets!r}"
      )

  def bind(self, estimator):
    top = int(estimator.default_epochs)
    if self.max_epochs is None:
      return dataclasses.replace(self, max_epochs=top)
    if self.max_epochs != top:
      raise base.ConfigError(
          f"hyperband.max_epochs={self.max_epochs} is not the estimator's fidelity ({top} "
          f"epochs, the search's own): leave it unset or set {top}"
      )
    return self

  def schedule(self) -> np.ndarray:
    if self.max_epochs is None:
      raise base.ConfigError(
          'hyperband.max_epochs is unset: bind the strategy to its estimator first '
          '(strategy.bind(estimator), as the discrete loop does)'
      )
    return _schedule(self.max_epochs, self.eta, self.brackets == 'sh')

  def init(self, key, space):
    del key
    width = int(self.schedule()[:, 2].max())
    return HyperbandState(
        rung_archs=jnp.zeros((width, len(space.options)), jnp.int32),
        rung_scores=jnp.full((width,), -jnp.inf, jnp.float32),
        position=jnp.zeros((), jnp.int32),
        epochs=jnp.zeros((1,), jnp.int32),
        space=space,
    )

  def ask(self, state, key, n=1):
    if n != 1:
      raise base.ConfigError(f'hyperband asks one architecture at a time, not {n}')
    table = jnp.asarray(self.schedule())
    row = table[state.position % len(table)]
    slot, epochs, first = row[0], row[1], row[3].astype(bool)
    arch = jnp.where(first, base.sample(key, state.space, 1)[0], state.rung_archs[slot])
    return arch[None].astype(jnp.int32), state.replace(epochs=epochs[None])

  def fidelity(self, state):
    return state.epochs

  def tell(self, state, archs, scores):
    table = jnp.asarray(self.schedule())
    row = table[state.position % len(table)]
    slot, size, last = row[0], row[2], row[4].astype(bool)
    width = state.rung_archs.shape[0]
    rung_archs = state.rung_archs.at[slot].set(archs[0].astype(jnp.int32))
    score = jnp.nan_to_num(scores[0].astype(jnp.float32), nan=-jnp.inf)
    rung_scores = state.rung_scores.at[slot].set(score)
    # the rung is complete: sorted best first, so the next rung's slot j is its j-th best
    valid = jnp.arange(width) < size
    order = jnp.argsort(jnp.where(valid, -rung_scores, jnp.inf))
    promoted = rung_archs[order]
    rung_archs = jnp.where(last, promoted, rung_archs)
    rung_scores = jnp.where(last, jnp.full((width,), -jnp.inf), rung_scores)
    return state.replace(
        rung_archs=rung_archs, rung_scores=rung_scores, position=state.position + 1
    )
