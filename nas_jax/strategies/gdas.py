"""GDAS (Dong & Yang, 2019): one sampled op per edge, straight-through Gumbel-softmax.

For every forward pass and edge ``e``:

  probs = softmax((log_softmax(alpha_e) + g) / tau),   g ~ Gumbel(0, 1)
  h     = one_hot(argmax probs) - stop_gradient(probs) + probs

so ``h`` is exactly one-hot in value and has the softmax's gradient. The
supernet runs in ``'hard'`` mode: only op ``argmax h`` is computed on each
edge (a real conditional, ``nn.switch``), and the ops that were not run add
their weight ``h_k`` (zero in value) so that they still receive a gradient
(``supernet.MixedOp``). That is the NB201-space estimator of the GDAS
code; in the DARTS space the code computes ``h_k* op_k*(x)`` alone, so only
the sampled op's weight gets a gradient, and the DARTS-space supernet does the same
(``EdgeOptions.hard_others``): the rule is the network's, this strategy only samples ``h``. ``tau`` falls linearly from ``tau_max`` (10) at the
first epoch to ``tau_min`` (0.1) at the last. The genotype is derived from
``softmax(alpha)`` as in DARTS.

Settings: ``tau_max``, ``tau_min`` (keyword arguments; the search config's keys of the same names).

Reference implementation: D-X-Y/AutoDL-Projects (the GDAS search cell and
``exps/NAS-Bench-201-algos/GDAS.py``); the paper is Dong & Yang, "Searching for a Robust
Neural Architecture in Four GPU Hours", CVPR 2019. Departure: the DARTS-space gradient
rule above follows the code, not the NB201 one.
"""

import jax
import jax.numpy as jnp

from nas_jax.strategies.base import Strategy, gumbel, linear, register, temperature_range


def hard_gumbel(alpha: jax.Array, key: jax.Array, tau) -> tuple[jax.Array, jax.Array]:
  """``(h, probs)``: the straight-through one-hot sample of each row of ``alpha`` and its softmax."""
  probs = jax.nn.softmax(
      (jax.nn.log_softmax(alpha, axis=-1) + gumbel(key, alpha.shape, alpha.dtype)) / tau, axis=-1
  )
  one_hot = jax.nn.one_hot(jnp.argmax(probs, axis=-1), alpha.shape[-1], dtype=alpha.dtype)
  return one_hot - jax.lax.stop_gradient(probs) + probs, probs


@register
class GDAS(Strategy):
  name = 'gdas'
  mode = 'hard'
  stochastic = True

  def __init__(self, space, epochs=50, init_scale=1e-3, tau_max=10.0, tau_min=0.1):
    super().__init__(space, epochs, init_scale)
    self.tau_max, self.tau_min = temperature_range(self.name, tau_max, tau_min)

  def tau(self, epoch):
    return linear(self.tau_max, self.tau_min, epoch, self.epochs)

  def weights(self, arch, key, epoch):
    tau = self.tau(epoch)
    keys = jax.random.split(key, len(self.space.cells))
    out = {}
    for cell, k in zip(self.space.cells, keys):
      out[cell], _ = hard_gumbel(arch[cell], k, tau)
    return out
