"""Tabular benchmarks: the population trainer, the builder, the ``Table`` and the NATS reader.

* :mod:`nas_jax.tabular.protocol`: the fixed training recipe (:class:`Protocol`).
* :mod:`nas_jax.tabular.trainer`: :class:`PopulationTrainer`, many architectures
  from one compiled program.
* :mod:`nas_jax.tabular.builder`: the resumable builder behind ``experiments.tabulate``.
* :mod:`nas_jax.tabular.table`: the :class:`Table` file format and its queries.
* :mod:`nas_jax.tabular.latency`: the per-op latency lookup table.
* :mod:`nas_jax.tabular.nats`: NATS-Bench topology files converted to a :class:`Table`.

:func:`load_shipped` reads the table that ships inside the package.
"""

from __future__ import annotations

import os

from nas_jax.tabular.protocol import Protocol
from nas_jax.tabular.table import Table, TableError

__all__ = [
    'Protocol',
    'SHIPPED',
    'SHIPPED_MEMORY_TABLES',
    'SHIPPED_TABLES',
    'Table',
    'TableError',
    'load',
    'load_shipped',
]

_DATA = os.path.join(os.path.dirname(__file__), 'data')
SHIPPED_TABLES = {
    # NB201 over none, skip, 3x3 conv and 3x3 average pooling on the animal-mnist silhouettes
    # at 8x8, 10 epochs, 2 seeds (rebuild: python -m experiments.tabulate with
    # experiments/configs/tabulate_nb201_animal.py). Its seeds agree at Kendall tau 0.69:
    # the table that ranks cells (docs/animal_table.md).
    'animal': os.path.join(_DATA, 'nb201_animal_4ops.npz'),
    # NB201 over 4 ops on MNIST-5k (rebuild: python -m experiments.tabulate with
    # experiments/configs/tabulate_nb201_mnist.py). Its seeds agree at Kendall tau 0.24:
    # a fixture, not a basis for ranking strategies (docs/table_pilot.md).
    'mnist': os.path.join(_DATA, 'nb201_mnist5k_4ops.npz'),
}
"""The tables that ship inside the package, by the name ``--table`` flags take."""
SHIPPED = SHIPPED_TABLES['animal']
"""The default table (``--table=shipped``)."""
SHIPPED_MEMORY_TABLES = {
    metric: os.path.join(_DATA, f'memory_nb201_animal_{metric.split("_")[1]}.json')
    for metric in ('memory_inference', 'memory_training')
}
"""The additive memory cost tables (``config.cost.memory_table``) fitted to the default table's
memory columns (rebuild: ``python -m experiments.memory_table --table=shipped
--metric=memory_training --out=nas_jax/tabular/data/memory_nb201_animal_training.json``, and
the same for ``memory_inference``; docs/costs.md)."""


def load_shipped() -> Table:
  """The default shipped table (:data:`SHIPPED`)."""
  return Table.load(SHIPPED)


PUBLISHED = ('analog-nasbench', 'nas-bench-graph:<dataset>')


def load(ref) -> Table:
  """What ``--table`` flags take: ``'shipped'`` (:func:`load_shipped`), a shipped table by
  name (:data:`SHIPPED_TABLES`: ``'animal'``, ``'mnist'``), a published table read
  from its installed package (``'analog-nasbench'``: :func:`nas_jax.tabular.analog.read`;
  ``'nas-bench-graph:cora'`` and the other datasets: :func:`nas_jax.tabular.nbgraph.read`),
  or a table file's path. A one-line TableError for an unknown name or dataset."""
  ref = str(ref)
  if ref == 'shipped':
    return load_shipped()
  if ref in SHIPPED_TABLES:
    return Table.load(SHIPPED_TABLES[ref])
  if ref == 'analog-nasbench':
    from nas_jax.tabular import analog  # pylint: disable=import-outside-toplevel

    return analog.read()
  if ref.startswith('nas-bench-graph'):
    from nas_jax.tabular import nbgraph  # pylint: disable=import-outside-toplevel

    name, _, dataset = ref.partition(':')
    if name != 'nas-bench-graph' or not dataset:
      raise TableError(
          f"a NAS-Bench-Graph table is named 'nas-bench-graph:<dataset>' (one of "
          f'{", ".join(nbgraph.DATASETS)}), got {ref!r}'
      )
    return nbgraph.read(dataset)
  return Table.load(ref)
