"""A search in a tabular benchmark's own space and protocol, so that its cell can be looked up.

Command:
  python -m experiments.search --config=experiments/configs/search_table.py \
      --workdir=runs/search_table
  (the table after ':': 'shipped' (the default, the package's NB201 table) or a table file,
  e.g. --config=experiments/configs/search_table.py:runs/table_nb201_mnist/table.npz)

The search runs in the table's space and op set, on the table's dataset at its
image size, with its channels and cells per stage: the supernet is the table's
network with every candidate on every edge, and the derived cell is one of the
table's rows. Look it up with ``tabular.load(...).report(cell)``, or run every
strategy at once with ``python -m experiments.compare --table=shipped``.

The rest is the demo search (``search_demo.py``): DARTS first order, batch 32,
3 epochs of 25 steps, architecture learning rate 0.08. For the shipped table
(NB201 cell over 4 ops, N=1, C=8, MNIST-5k at 12x12) that costs about a minute
on a 2-core CPU (most of it compilation); expected result: H(alpha) a little
below its uniform value ln 4 = 1.386 per edge, and a cell that the table places
anywhere from the median up (short searches are near-random; compare
``--table`` measures how far above random each strategy gets).
"""

from experiments.configs import common, search_demo


def for_table(table, source=None):
  """The demo search resized to ``table``'s space, op set and protocol (a ``tabular.Table``);
  ``source`` (its file, or 'shipped') is kept as ``config.table``, where the multi-seed
  search's reproduction card looks its cells up."""
  protocol = table.metadata['protocol']
  c = search_demo.get_config()
  c.table = source or ''
  common.set_component(c, 'space', table.space.name, primitives=tuple(table.space.primitives))
  c.dataset = protocol['dataset']
  c.image_size = protocol['image_size']
  c.init_channels = protocol['channels']
  c.layers = protocol['cells_per_stage']
  return c


def get_config(arg=None):
  from nas_jax import tabular

  return for_table(tabular.load(arg or 'shipped'), arg or 'shipped')
