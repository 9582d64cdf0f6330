"""PC-DARTS (Xu et al., 2020): partial channels and edge normalization.

* Partial channels: on every edge only the first ``C/K`` channels go through
  the mixed op; the other channels bypass it (2x2 max pooled at stride 2)
  and the two parts are channel-shuffled in ``K`` groups
  (``supernet.MixedOp.partial``). ``K = partial_channels`` (4).
* Edge normalization: each edge also has a score ``beta_e``; node ``i``
  sums its input edges weighted by ``softmax(beta)`` over that node's inputs
  (``base.node_softmax``). The genotype is derived from
  ``softmax(alpha_e) * softmax(beta)_e``, so ``beta`` decides which inputs
  each node keeps.
* In the NB201 space (not in the paper, which searches the DARTS space)
  every node keeps all of its input edges, so edge normalization only
  re-weights them during the search: ``softmax(beta)_e`` is one positive
  factor per row of the strengths, which cannot change that row's argmax,
  and the derived NB201 cell is the argmax of ``alpha`` per edge. ``beta``
  shapes the search (the edges' share of each node's sum), not the
  read-off. This is the intended semantics here; the tests check it.
* Warm-up: the search loop's ``arch_warmup_epochs`` (15 in the paper) epochs of weight
  training before alpha and beta are updated (``nas_jax.bilevel``).
"""

import jax
import jax.numpy as jnp

from nas_jax.strategies.base import Strategy, node_softmax, positive_int, register


@register
class PCDARTS(Strategy):
  name = 'pcdarts'

  def __init__(self, space, epochs=50, init_scale=1e-3, partial_channels=4):
    super().__init__(space, epochs, init_scale)
    self.partial = positive_int(self.name, 'partial_channels', partial_channels)

  def init(self, key):
    k_alpha, k_beta = jax.random.split(key)
    arch = super().init(k_alpha)
    keys = jax.random.split(k_beta, len(self.space.cells))
    for cell, k in zip(self.space.cells, keys):
      arch[f'beta_{cell}'] = self.init_scale * jax.random.normal(k, (self.space.num_edges,))
    return arch

  def edge_weights(self, arch, cell):
    return node_softmax(arch[f'beta_{cell}'], self.space)

  def weights(self, arch, key, epoch):
    del key, epoch
    return {
        cell: (jax.nn.softmax(arch[cell], axis=-1), self.edge_weights(arch, cell))
        for cell in self.space.cells
    }

  def strengths(self, arch):
    arch = {k: jnp.asarray(v, jnp.float32) for k, v in arch.items()}
    return {
        cell: jax.nn.softmax(arch[cell], axis=-1) * self.edge_weights(arch, cell)[:, None]
        for cell in self.space.cells
    }
