"""FairDARTS (Chu et al., 2020): independent sigmoid op weights and the zero-one loss.

Each op on an edge is weighted by ``sigmoid(alpha_ek)`` independently (no
softmax competition, so skip connections no longer crowd out the other ops
"unfairly"), and the architecture loss adds

  L_01 = -w01 * mean_{cells, e, k} (sigmoid(alpha_ek) - 1/2)^2

which pushes every weight towards 0 or 1. ``w01 = zero_one_weight``
(10). The paper's search space has no ``none`` op. The genotype keeps each
node's two inputs with the largest sigmoid (the code's further 0.85
threshold, which can drop ops, is not applied: a DARTS genotype has two
inputs per node).
"""

import jax
import jax.numpy as jnp

from nas_jax.strategies.base import Strategy, non_negative, register


def zero_one_loss(arch, cells) -> jax.Array:
  """``-mean((sigmoid(alpha) - 0.5)^2)`` over every entry of the given cells' alpha."""
  s = jnp.concatenate([jax.nn.sigmoid(arch[c]).ravel() for c in cells])
  return -jnp.mean(jnp.square(s - 0.5))


@register
class FairDARTS(Strategy):
  name = 'fairdarts'

  def __init__(self, space, epochs=50, init_scale=1e-3, zero_one_weight=10.0):
    super().__init__(space, epochs, init_scale)
    self.w01 = non_negative(self.name, 'zero_one_weight', zero_one_weight)

  def weights(self, arch, key, epoch):
    del key, epoch
    return {cell: jax.nn.sigmoid(arch[cell]) for cell in self.space.cells}

  def regularizer(self, arch, epoch):
    del epoch
    return self.w01 * zero_one_loss(arch, self.space.cells)

  def strengths(self, arch):
    return {cell: jax.nn.sigmoid(jnp.asarray(arch[cell], jnp.float32)) for cell in self.space.cells}
