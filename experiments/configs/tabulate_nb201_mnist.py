"""The shipped table: the NB201 cell over 4 ops, every unique cell, 2 seeds, on offline MNIST-5k.

Command:
  python -m experiments.tabulate --config=experiments/configs/tabulate_nb201_mnist.py \
      --workdir=runs/table_nb201_mnist --local_processes=2
  (rerun the same command to resume; add --max_members=N for a bounded sitting;
  --local_processes=2 trains in two one-core processes, 1.33x one process on 2 cores)

Space: the NB201 cell restricted to ('none', 'skip_connect', 'nor_conv_1x1',
'nor_conv_3x3'): 4,096 cells, 1,236 unique under NB201's isomorphism rule.

Protocol (NB201's recipe, scaled to a 2-core CPU): the NB201 network with
N=1 cell per stage and C=8 (8, 16, 32 channels) on MNIST-5k at 12x12 (train
on the first 3,000 of the 4,000 training images, validate on the other 1,000,
test on the 1,000 test images); SGD with Nesterov momentum 0.9, weight decay
5e-4, learning rate 0.1 on a cosine schedule to 0, batch 64, 3 epochs (46
steps each), random crops with 1 pixel of padding. Robustness: test accuracy
under Gaussian pixel noise of std 0.3 and under FGSM at eps 0.05.

Expected cost on this project's 2-core CPU: in one process the build ran at
500-545 members/h (about 6.9 s per member: 5.4 s training, the rest
evaluation and writing), so 2,472 members take about 4.7 hours; two one-core
processes (--local_processes=2) train 1.33x faster (benchmarks/tabular.py),
about 3.5 hours in all. Compiling is 20-35 s, once per process.
Expected result: test accuracy from 0.10 (cells without a path from input to
output) to about 0.96.
"""

import ml_collections

from experiments.configs import common


def get_config(arg=None):
  del arg
  c = ml_collections.ConfigDict()
  common.set_component(
      c, 'space', 'nb201', primitives=('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3')
  )  # NB201's hash rule (its default)
  c.seeds = (0, 1)
  c.data_dir = ml_collections.config_dict.placeholder(str)
  c.protocol = ml_collections.ConfigDict(
      dict(
          dataset='mnist5k',
          train_split='train[:75%]',
          val_split='train[75%:]',
          test_split='test',
          image_size=12,
          channels=8,
          cells_per_stage=1,
          epochs=3,
          batch_size=64,
          learning_rate=0.1,
          lr_min=0.0,
          momentum=0.9,
          nesterov=True,
          weight_decay=5e-4,
          crop_padding=1,
          flip=False,
          eval_batch=500,
          noise_std=0.3,
          fgsm_eps=0.05,
      )
  )
  # How the population runs: 'auto' (sequential on CPU, vmap elsewhere), 'sequential', 'vmap'.
  c.population = 'auto'
  c.edge_mode = 'switch'  # 'switch': only the chosen op runs; 'masked': every candidate
  c.group = 64  # members per vmapped program
  c.log_every = 60  # seconds between progress lines
  c.latency_lut = ml_collections.config_dict.placeholder(str)  # a LatencyTable JSON file
  # Only the first this many cells of the build order, at every seed (a pilot); None: all.
  c.max_cells = ml_collections.config_dict.placeholder(int)
  return c
