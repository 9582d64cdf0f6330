"""The DARTS-space cells published with their papers (DARTS V1/V2, PC-DARTS, P-DARTS), by name."""

from __future__ import annotations

from nas_jax.spaces.darts.genotype import Genotype
from nas_jax.spaces.genotype_files import GenotypeError

DARTS_V1 = Genotype(
    normal=(
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 0),
        ('skip_connect', 0),
        ('sep_conv_3x3', 1),
        ('skip_connect', 0),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 0),
        ('skip_connect', 2),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ('max_pool_3x3', 0),
        ('max_pool_3x3', 1),
        ('skip_connect', 2),
        ('max_pool_3x3', 0),
        ('max_pool_3x3', 0),
        ('skip_connect', 2),
        ('skip_connect', 2),
        ('avg_pool_3x3', 0),
    ),
    reduce_concat=(2, 3, 4, 5),
)
"""DARTS (first order) cell from the DARTS paper (Liu et al., 2019)."""

DARTS_V2 = Genotype(
    normal=(
        ('sep_conv_3x3', 0),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 0),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 1),
        ('skip_connect', 0),
        ('skip_connect', 0),
        ('dil_conv_3x3', 2),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ('max_pool_3x3', 0),
        ('max_pool_3x3', 1),
        ('skip_connect', 2),
        ('max_pool_3x3', 1),
        ('max_pool_3x3', 0),
        ('skip_connect', 2),
        ('skip_connect', 2),
        ('max_pool_3x3', 1),
    ),
    reduce_concat=(2, 3, 4, 5),
)
"""DARTS (second order) cell from the DARTS paper (Liu et al., 2019)."""

PC_DARTS = Genotype(
    normal=(
        ('sep_conv_3x3', 1),
        ('skip_connect', 0),
        ('sep_conv_3x3', 0),
        ('dil_conv_3x3', 1),
        ('sep_conv_5x5', 0),
        ('sep_conv_3x3', 1),
        ('avg_pool_3x3', 0),
        ('dil_conv_3x3', 1),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ('sep_conv_5x5', 1),
        ('max_pool_3x3', 0),
        ('sep_conv_5x5', 1),
        ('sep_conv_5x5', 2),
        ('sep_conv_3x3', 0),
        ('sep_conv_3x3', 3),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 2),
    ),
    reduce_concat=(2, 3, 4, 5),
)
"""PC-DARTS cell searched on CIFAR-10 (Xu et al., 2020): 2.57 +- 0.07 % error, 3.6 M params."""

PC_DARTS_IMAGENET = Genotype(
    normal=(
        ('skip_connect', 1),
        ('sep_conv_3x3', 0),
        ('sep_conv_3x3', 0),
        ('skip_connect', 1),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 3),
        ('sep_conv_3x3', 1),
        ('dil_conv_5x5', 4),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ('sep_conv_3x3', 0),
        ('skip_connect', 1),
        ('dil_conv_5x5', 2),
        ('max_pool_3x3', 1),
        ('sep_conv_3x3', 2),
        ('sep_conv_3x3', 1),
        ('sep_conv_5x5', 0),
        ('sep_conv_3x3', 3),
    ),
    reduce_concat=(2, 3, 4, 5),
)
"""PC-DARTS cell searched on ImageNet (Xu et al., 2020): 24.2 % top-1 error, 5.3 M params."""

PDARTS = Genotype(
    normal=(
        ('skip_connect', 0),
        ('dil_conv_3x3', 1),
        ('skip_connect', 0),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 1),
        ('sep_conv_3x3', 3),
        ('sep_conv_3x3', 0),
        ('dil_conv_5x5', 4),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ('avg_pool_3x3', 0),
        ('sep_conv_5x5', 1),
        ('sep_conv_3x3', 0),
        ('dil_conv_5x5', 2),
        ('max_pool_3x3', 0),
        ('dil_conv_3x3', 1),
        ('dil_conv_3x3', 1),
        ('dil_conv_5x5', 3),
    ),
    reduce_concat=(2, 3, 4, 5),
)
"""P-DARTS cell searched on CIFAR-10 (Chen et al., 2019): 2.50 % error, 3.4 M params."""

DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    'normal_concat=range(2, 6), '
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
    "('skip_connect', 2), ('max_pool_3x3', 1)], "
    'reduce_concat=range(2, 6))'
)
"""The DARTS_V2 genotype in the text form printed by the DARTS search code."""

NAMED_GENOTYPES: dict[str, Genotype] = {
    'DARTS_V1': DARTS_V1,
    'DARTS_V2': DARTS_V2,
    'PC_DARTS': PC_DARTS,
    'PC_DARTS_IMAGENET': PC_DARTS_IMAGENET,
    'PDARTS': PDARTS,
}
"""Published genotypes by name."""


def get_named(name: str) -> Genotype:
  """Returns a published genotype by name.

  Args:
    name: A key of :data:`NAMED_GENOTYPES`, e.g. ``'DARTS_V2'``.

  Returns:
    The genotype.

  Raises:
    GenotypeError: If ``name`` is unknown; the message lists the known names.
  """
  try:
    return NAMED_GENOTYPES[name]
  except (KeyError, TypeError):
    raise GenotypeError(
        f'unknown genotype name {name!r} (known: ' f"{', '.join(sorted(NAMED_GENOTYPES))})"
    ) from None
