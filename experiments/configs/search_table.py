"""A search in a tabular benchmark's own space and protocol, so that its cell can be looked up.

Command:
  python -m experiments.search --config=experiments/configs/search_table.py \
      --workdir=runs/search_table
  (the table after ':': 'shipped' (the default, the package's NB201 table) or a table file,
  e.g. --config=experiments/configs/search_table.py:mnist for the MNIST table)

The search runs in the table's space and op set, on the table's dataset at its
image size, with its channels and cells per stage: the supernet is the table's
network with every candidate on every edge, and the derived cell is one of the
table's rows. Look it up with ``tabular.load(...).report(cell)``, or run every
strategy at once with ``python -m experiments.compare --table=shipped``.

The rest is the demo search (``search_demo.py``): DARTS first order, batch 32,
3 epochs of 25 steps, architecture learning rate 0.08. For the shipped table
(NB201 cell over 4 ops, N=1, C=8, the animal silhouettes at 8x8) 4 vmapped seeds
(``--config.num_seeds=4``) cost about 25 s on a 2-core CPU, 9 s of it compiling.
Expected result: 75 steps are short; DARTS-'s 4 seeds landed at the 51st percentile on
average, a tie with one random cell (45.2). At 4 epochs of 50 steps
(``--config.epochs=4 --config.max_steps_per_epoch=50``, compare ``--table``'s shorter
budget and the demo's) DARTS-, DrNAS, DARTS and beta-DARTS land above random
(docs/ground_truth.md).
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
