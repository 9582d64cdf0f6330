"""DARTS- (Chu et al., 2021): an auxiliary skip connection with a decaying coefficient.

Every edge adds ``beta * skip(x)`` to its mixed output (``skip`` is the
identity, or a factorized reduce at stride 2; ``supernet.MixedOp.aux_skip``),
with ``beta = beta0 * (epochs - epoch) / epochs`` falling linearly from
``beta0`` (``aux_skip_beta``, 1) towards 0. The auxiliary path takes
over the role that skip connections otherwise win in the search (stable
gradient flow), so ``alpha``'s skip weight stops being inflated.
Everything else is DARTS.
"""

import jax.numpy as jnp

from nas_jax.strategies.base import Strategy, non_negative, register


@register
class DARTSMinus(Strategy):
  name = 'darts_minus'
  aux_skip = True

  def __init__(self, space, epochs=50, init_scale=1e-3, aux_skip_beta=1.0):
    super().__init__(space, epochs, init_scale)
    self.beta0 = non_negative(self.name, 'aux_skip_beta', aux_skip_beta)

  def aux_coef(self, epoch):
    return self.beta0 * (self.epochs - jnp.asarray(epoch, jnp.float32)) / self.epochs
