"""Trains a batch with the live estimator, in one process or as one of several, and prints JSON.

Launched by test_live_search.py in fresh processes (``jax.distributed`` must start before
any other JAX call):

  python tests/live_worker.py [NUM_PROCESSES PROCESS_ID ADDRESS]
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tests'))


def main():
  from nas_jax import parallel, runtime

  if len(sys.argv) > 1:
    parallel.initialize(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
  runtime.enable_compilation_cache()
  import jax
  import numpy as np
  from test_live_search import ARCHS, SMALL

  from nas_jax import spaces
  from nas_jax.estimators import TrainEstimator
  from nas_jax.tabular.protocol import Protocol

  space = spaces.get('nb201', ('none', 'nor_conv_1x1'))
  est = TrainEstimator(space, Protocol.from_dict(SMALL), seed=1)
  epochs = np.asarray([2, 1, 2])
  res = est(ARCHS, None, epochs)
  print(
      json.dumps(
          dict(
              processes=jax.process_count(),
              index=jax.process_index(),
              value=np.asarray(res.value).tolist(),
              report=np.asarray(res.report).tolist(),
              full=np.asarray(res.full).tolist(),
              trained=est.members_trained,
          )
      )
  )


if __name__ == '__main__':
  main()
