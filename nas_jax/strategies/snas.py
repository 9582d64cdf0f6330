"""SNAS (Xie et al., 2019): relaxed Gumbel-softmax (concrete) op weights, one-level.

For every forward pass and edge ``e``, ``z_e = softmax((alpha_e + g) / tau)``
with ``g ~ Gumbel(0, 1)`` (one sample per cell type, shared by its cells): a sample of the concrete distribution, which
every op is weighted by. Unlike DARTS there is no bilevel split: one loss on
the training batch updates the weights and ``alpha`` together
(``Strategy.one_level``; the validation batch is only measured). ``tau``
falls linearly from ``tau_max`` (1.0) at the first epoch to ``tau_min``
(0.03) at the last, as the SNAS code's annealing does over its 150 epochs.
The genotype is derived from ``softmax(alpha)``. Not implemented: SNAS'
resource constraint (a FLOPs/size/MAC penalty, off by default in the code).

Settings: ``tau_max``, ``tau_min`` (keyword arguments; the search config's keys of the same names).
"""

import jax

from nas_jax.strategies.base import Strategy, gumbel, linear, register, temperature_range


def concrete(alpha: jax.Array, key: jax.Array, tau) -> jax.Array:
  """A relaxed one-hot (concrete) sample of each row of ``alpha`` at temperature ``tau``."""
  g = gumbel(key, alpha.shape, alpha.dtype)
  return jax.nn.softmax((alpha + g) / tau, axis=-1)


@register
class SNAS(Strategy):
  name = 'snas'
  one_level = True
  stochastic = True

  def __init__(self, space, epochs=50, init_scale=1e-3, tau_max=1.0, tau_min=0.03):
    super().__init__(space, epochs, init_scale)
    self.tau_max, self.tau_min = temperature_range(self.name, tau_max, tau_min)

  def tau(self, epoch):
    return linear(self.tau_max, self.tau_min, epoch, self.epochs)

  def weights(self, arch, key, epoch):
    tau = self.tau(epoch)
    keys = jax.random.split(key, len(self.space.cells))
    return {cell: concrete(arch[cell], k, tau) for cell, k in zip(self.space.cells, keys)}
