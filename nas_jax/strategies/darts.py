"""DARTS (Liu et al., 2019): softmax(alpha) mixed ops, bilevel, 1st or exact 2nd order.

``alpha`` per cell type is ``(E, K)``, initialized ``1e-3 * N(0, 1)``; each
edge computes ``sum_k softmax(alpha_e)_k op_k(x)``; the genotype keeps each
node's two strongest inputs by their strongest non-``none`` op
(``Space.derive``). The order of the architecture gradient is
the search loop's ``order`` (``nas_jax.bilevel``).
"""

from nas_jax.strategies.base import Strategy, register


@register
class DARTS(Strategy):
  name = 'darts'
