"""The candidate protocols of the table pilot: a uniform sample of cells, two seeds each.

Command (every candidate in turn, resumable; writes docs/table_pilot.md):
  python -m experiments.reports.table_pilot --candidates=animal_e3_s12,mnist_e10_s12,...

One candidate by hand:
  python -m experiments.tabulate --config=experiments/configs/table_pilot.py:animal_e3_s12 \
      --workdir=runs/table_pilot/animal_e3_s12 --local_processes=2

Every candidate is the shipped table's build (experiments/configs/tabulate_nb201_mnist.py:
the NB201 cell over none, skip, conv 1x1 and conv 3x3, N=1, C=8, NB201's SGD recipe) with
the changes its name says, limited to the first ``max_cells`` (150) cells of the build
order at seeds 0 and 1. The sample is the first cells of the full build at each seed, so
a pilot's table seeds the full build of its protocol (``tabulate --from_table``).

Names: ``<dataset>_e<epochs>_s<image size>[_5op|_pool]``.
- mnist: the offline MNIST-5k (train 3,000, val 1,000, test 1,000).
- animal: the offline animal-mnist silhouettes (train 5,000, val 2,216, test 2,500), with
  random horizontal flips (animals face either way).
- _5op: NB201's full op set (adds avg_pool_3x3; 6,466 unique cells instead of 1,236).
- _pool: none, skip, conv 3x3 and avg_pool_3x3 (avg pooling in place of the 1x1 conv: a
  weak op, as in NB201, so the cells spread further; still 1,236 unique cells).

Expected cost on the project's 2-core CPU (two one-core processes): the shipped protocol
trains about 700 members/h; cost grows with steps x pixels (the pilot prints the measured
seconds per member).
"""

from experiments.configs import tabulate_nb201_mnist
from nas_jax.config_checks import ConfigError

DATASETS = {
    'mnist': dict(
        dataset='mnist5k', train_split='train[:75%]', val_split='train[75%:]', flip=False
    ),
    'animal': dict(
        dataset='animal_mnist', train_split='train[:5000]', val_split='train[5000:]', flip=True
    ),
}
OP_SETS = {
    '5op': ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3'),
    'pool': ('none', 'skip_connect', 'nor_conv_3x3', 'avg_pool_3x3'),
}
DEFAULT = 'animal_e3_s12'


def parse(name: str) -> dict:
  """The config changes a candidate name stands for (one-line ConfigError if malformed)."""
  parts = name.split('_')
  ops = OP_SETS.get(parts[-1])
  if ops:
    parts = parts[:-1]
  if (
      len(parts) != 3
      or parts[0] not in DATASETS
      or not parts[1].startswith('e')
      or not parts[1][1:].isdigit()
      or not parts[2].startswith('s')
      or not parts[2][1:].isdigit()
  ):
    raise ConfigError(
        f'pilot candidate {name!r} is not <dataset>_e<epochs>_s<size>[_<ops>] with dataset '
        f'in {sorted(DATASETS)} and ops in {sorted(OP_SETS)}'
    )
  protocol = dict(DATASETS[parts[0]], epochs=int(parts[1][1:]), image_size=int(parts[2][1:]))
  return dict(protocol=protocol, primitives=ops)


def get_config(arg=None):
  name = arg or DEFAULT
  change = parse(name)
  c = tabulate_nb201_mnist.get_config()
  c.protocol.update(change['protocol'])
  if change['primitives']:
    c.space.primitives = change['primitives']
  c.max_cells = 150
  c.candidate = name
  return c
