#!/usr/bin/env bash
# Downloads the small pure-Python wheels that benchmarks/gpu_check.sh installs offline on the GPU
# machine (its image has no registry access and lacks ml_collections). Run it here, from the
# repository root or anywhere; it fills wheels/ (ignored by git), which the GPU run must carry.
#
#   bash benchmarks/gpu_wheels.sh
#
# ml_collections is what the test and benchmark path needs (nas_jax.bilevel, nas_jax.search and
# experiments/configs import it). absl-py and PyYAML are its dependencies; the GPU image has them
# (absl-py, and PyYAML through flax), and absl-py is fetched as a fallback. PyYAML is not fetched:
# its wheels are built per platform and Python version.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-$(command -v python3 || command -v python)}
pin() { grep -iE "^$1==" requirements.txt | head -1; }   # the versions make test uses
mkdir -p wheels
"$PY" -m pip download --no-deps --only-binary=:all: --dest wheels \
  "$(pin ml_collections)" "$(pin absl-py)"
ls -l wheels
