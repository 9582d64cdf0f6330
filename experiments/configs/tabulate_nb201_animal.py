"""The animal-silhouette table: the NB201 cell, every unique cell at 2 seeds, on animal-mnist.

Command (resumable: rerun it to go on; it continues the pilot's members, which are the
first cells of the same build order):
  python -m experiments.tabulate --config=experiments/configs/tabulate_nb201_animal.py \
      --workdir=runs/table_pilot/animal_e10_s8_pool --local_processes=2
  (another pilot protocol after ':', e.g. tabulate_nb201_animal.py:animal_e10_s8, with
  its own --workdir=runs/table_pilot/animal_e10_s8)

Protocol (``experiments/configs/table_pilot.py`` names it): NB201's SGD recipe on the
NB201 network with N=1 cell per stage and C=8, on the offline animal-mnist silhouettes at
8x8 with random flips (train on 5,000, validate on the other 2,216, test on 2,500), 10
epochs; the ops none, skip, 3x3 average pooling and 3x3 convolution (1,236 unique cells;
the MNIST table's set with pooling in place of its 1x1 convolution, which the pilot chose).

Expected result, from its 150-cell pilot (docs/table_pilot.md): seed-against-seed Kendall tau
0.644 +- 0.039 on test accuracy, Spearman rho 0.814, a separation of 8.8; test accuracy
p10 0.766, p90 0.857. (``animal_e10_s8``, with the 1x1 convolution, reached tau 0.445 and a
separation of 3.3 only.)
Expected cost on the 2-core CPU: 2,472 members at about 8.4 wall seconds each with two
processes, about 5.8 hours, over several sittings.
"""

from experiments.configs import table_pilot

PROTOCOL = 'animal_e10_s8_pool'  # the pilot's choice (docs/table_pilot.md)


def get_config(arg=None):
  c = table_pilot.get_config(arg or PROTOCOL)
  c.max_cells = None  # every unique cell
  return c
