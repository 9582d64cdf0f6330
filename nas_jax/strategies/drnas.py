"""DrNAS (Chen et al., 2021): op weights sampled from a Dirichlet over each edge.

``alpha`` maps to Dirichlet concentrations ``c = elu(alpha) + 1 > 0``; every
forward pass samples ``w_e ~ Dir(c_e)`` per edge (one sample per cell type,
shared by its cells), and the architecture loss is differentiated through
the sample with the pathwise (implicit reparameterization) gradient of
``jax.random.dirichlet``. The regularizer ``reg``:

* ``'l2'`` (the code's default): ``reg_scale / 2 * ||alpha||^2``, which is
  what the code's Adam weight decay on alpha adds to the gradient. Set
  ``arch_weight_decay = 0`` to not count it twice (the paper configs do).
* ``'kl'``: ``reg_scale * sum_e KL(Dir(c_e) || Dir(1))``, the paper's
  distance to a uniform Dirichlet anchor.

``reg_scale`` defaults to 1e-3. The genotype is derived
from ``softmax(alpha)``, as in the code. The progressive variant (partial
channels shrinking while ops are pruned) is not implemented; partial
channels alone are available as ``partial_channels``.
"""

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma, gammaln

from nas_jax.config_checks import ConfigError
from nas_jax.strategies.base import Strategy, non_negative, positive_int, register


def concentration(alpha: jax.Array) -> jax.Array:
  return jax.nn.elu(alpha) + 1.0


def dirichlet_kl(c: jax.Array, prior: jax.Array) -> jax.Array:
  """``KL(Dir(c) || Dir(prior))`` over the last axis (closed form)."""
  c0 = jnp.sum(c, -1)
  return (
      gammaln(c0)
      - jnp.sum(gammaln(c), -1)
      - gammaln(jnp.sum(prior, -1))
      + jnp.sum(gammaln(prior), -1)
      + jnp.sum((c - prior) * (digamma(c) - digamma(c0)[..., None]), -1)
  )


@register
class DrNAS(Strategy):
  name = 'drnas'
  stochastic = True

  def __init__(
      self, space, epochs=50, init_scale=1e-3, reg='l2', reg_scale=1e-3, partial_channels=1
  ):
    super().__init__(space, epochs, init_scale)
    if reg not in ('l2', 'kl'):
      raise ConfigError(f"drnas.reg must be 'l2' or 'kl', got {reg!r}")
    self.reg = reg
    self.reg_scale = non_negative(self.name, 'reg_scale', reg_scale)
    self.partial = positive_int(self.name, 'partial_channels', partial_channels)

  def weights(self, arch, key, epoch):
    del epoch
    keys = jax.random.split(key, len(self.space.cells))
    return {
        cell: jax.random.dirichlet(k, concentration(arch[cell]))
        for cell, k in zip(self.space.cells, keys)
    }

  def regularizer(self, arch, epoch):
    del epoch
    total = jnp.zeros((), jnp.float32)
    for cell in self.space.cells:
      a = arch[cell]
      if self.reg == 'kl':
        c = concentration(a)
        total = total + jnp.sum(dirichlet_kl(c, jnp.ones_like(c)))
      else:
        total = total + 0.5 * jnp.sum(jnp.square(a))
    return self.reg_scale * total
