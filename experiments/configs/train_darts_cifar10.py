"""Retraining a cell on CIFAR-10 with DARTS' evaluation settings (Liu et al., ICLR 2019).

Command:
  python -m experiments.train --config=experiments/configs/train_darts_cifar10.py \
      --workdir=runs/darts_v2 --config.genotype=DARTS_V2

Settings: 20 cells, C=36, batch 96, 600 epochs, SGD 0.025 -> 0 (cosine, per
epoch), momentum 0.9, wd 3e-4, clip 5; auxiliary head weight 0.4, drop path
0.2, cutout 16; the whole 50,000-image train split; test on the 10,000 test
images.

Expected result (paper): 2.76 +/- 0.09 % test error for DARTS_V2 with 3.3 M
parameters (`python -m experiments.inspect --genotype=DARTS_V2` reports
3.349 M). Published cost: about 1.5 GPU-days on a 1080Ti. On this project's
2-core CPU one step takes 26 s after a 48 s cold compile (README, "Retraining
step"); at 521 steps per epoch, 312,600 steps, the full run is a GPU job.
Rerunning the same command resumes from the newest checkpoint.

CIFAR-10 must be prepared in TFDS' data_dir beforehand (this machine is offline).
"""

from experiments.configs import common


def get_config(arg=None):
  del arg
  return common.train_defaults()
