"""β-DARTS (Ye et al., 2022): the beta-decay regularization of alpha.

The architecture loss adds ``lambda(epoch) * mean_e logsumexp_k(alpha_ek)``
(the mean over every edge of every cell type). Its gradient is
``softmax(alpha_e) / E``: it pulls down the ops that softmax already
favours, which keeps the softmax weights (the "beta" of the paper) from
running away and the supernet's weights from over-fitting to them.
``lambda`` rises linearly, ``lambda_max * epoch / epochs``
(``beta_decay_max``, 50, as in the code's 0 -> 49.5 over 100 epochs).
It applies to the architecture step only (alpha is not a weight-step
variable). Everything else is DARTS.
"""

import jax
import jax.numpy as jnp

from nas_jax.strategies.base import Strategy, non_negative, register


def beta_decay_loss(arch, cells) -> jax.Array:
  """``mean_e logsumexp(alpha_e)`` over the edges of the given cells."""
  return jnp.mean(jnp.concatenate([jax.nn.logsumexp(arch[c], axis=-1) for c in cells]))


@register
class BetaDARTS(Strategy):
  name = 'beta_darts'

  def __init__(self, space, epochs=50, init_scale=1e-3, beta_decay_max=50.0):
    super().__init__(space, epochs, init_scale)
    self.lambda_max = non_negative(self.name, 'beta_decay_max', beta_decay_max)

  def coefficient(self, epoch):
    return self.lambda_max * jnp.asarray(epoch, jnp.float32) / self.epochs

  def regularizer(self, arch, epoch):
    return self.coefficient(epoch) * beta_decay_loss(arch, self.space.cells)
