"""The animal-silhouette table: the NB201 cell, every unique cell at 2 seeds, on animal-mnist.

Command (resumable: rerun it to go on; it continues the pilot's members, which are the
first cells of the same build order):
  python -m experiments.tabulate --config=experiments/configs/tabulate_nb201_animal.py \
      --workdir=runs/table_pilot/animal_e10_s8 --local_processes=2
  (another pilot protocol after ':', e.g. tabulate_nb201_animal.py:animal_e10_s8_pool, with
  its own --workdir=runs/table_pilot/animal_e10_s8_pool)

Protocol (``experiments/configs/table_pilot.py`` names it): NB201's SGD recipe on the
NB201 network with N=1 cell per stage and C=8, on the offline animal-mnist silhouettes at
8x8 with random flips (train on 5,000, validate on the other 2,216, test on 2,500), 10
epochs; the op set of the shipped table (none, skip, conv 1x1, conv 3x3: 1,236 unique
cells), or the ``_pool`` one (avg pooling in place of the 1x1 convolution).

Expected result, from its 150-cell pilot (docs/table_pilot.md): seed-against-seed Kendall tau
0.445 +- 0.050 on test accuracy, a separation of 3.3; test accuracy mostly 0.84-0.87.
Expected cost on the 2-core CPU: 2,472 members at 10-19 wall seconds each with two
processes, about 7-13 hours (the upper figure measured with other work on the cores), over
several sittings.
"""

from experiments.configs import table_pilot

PROTOCOL = 'animal_e10_s8'  # the pilot's choice so far (docs/table_pilot.md)


def get_config(arg=None):
  c = table_pilot.get_config(arg or PROTOCOL)
  c.max_cells = None  # every unique cell
  return c
