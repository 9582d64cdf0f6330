#!/usr/bin/env bash
# The GPU check: one command on a GPU machine, under 8 minutes.
#
#   bash benchmarks/gpu_check.sh            # from the repository root (or anywhere: it cds there)
#
# 1. installs ml_collections offline from wheels/ (benchmarks/gpu_wheels.sh fills it) if missing;
# 2. prints jax.devices() and fails unless the default backend is a GPU;
# 3. runs the op-equivalence and bilevel tests (tests/test_ops.py, tests/test_bilevel.py, tests/test_nb201_equivalence.py) on it;
# 4. prints the tabular builder's rows (benchmarks.tabular, issue 15's GPU figure), then
#    `make bench`'s search rows (benchmarks.search_step) and retraining rows
#    (benchmarks.train_step) measured on it;
# 5. reruns any failed test with JAX_DEFAULT_MATMUL_PRECISION=highest, to tell a TF32 tolerance
#    from a real difference.
# It uses the machine's own python (no venv, no TensorFlow needed). Outputs go to $OUT if set,
# else runs/gpu_check/. Every step has a timeout, clamped to a total budget; the timeouts of
# steps 3-4 add up to 465 s, inside the default budget, so no step is skipped unless one fails
# slowly.
#
# Settings (environment):
#   GPU_CHECK_BUDGET_S=480     whole-run budget in seconds (each step's timeout is clamped to it)
#   GPU_CHECK_DRY_RUN=1        print the commands with their timeouts; run only the device listing
#   GPU_CHECK_ALLOW_CPU=1      do not fail when no GPU is visible (to try the script on a CPU)
#   GPU_CHECK_TESTS=...        test files (default: tests/test_ops.py tests/test_bilevel.py tests/test_nb201_equivalence.py)
#   GPU_CHECK_SEARCH_ROWS=...  default demo1,demo2,paper1,demo1x4 (paper2 compiles for long)
#   GPU_CHECK_TRAIN_ROWS=...   default demo,darts_v2
#   GPU_CHECK_TABULAR_ROWS=... default vmap16,switch (benchmarks.tabular, NB201 sizes; per_cell
#                              compiles 16 networks and needs more than the budget)
#   PYTHON=...                 the interpreter (default: python3, else python)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-480}
DRY_RUN=${GPU_CHECK_DRY_RUN:-0}
ALLOW_CPU=${GPU_CHECK_ALLOW_CPU:-0}
TESTS=${GPU_CHECK_TESTS:-tests/test_ops.py tests/test_bilevel.py tests/test_nb201_equivalence.py}
SEARCH_ROWS=${GPU_CHECK_SEARCH_ROWS:-demo1,demo2,paper1,demo1x4}
TRAIN_ROWS=${GPU_CHECK_TRAIN_ROWS:-demo,darts_v2}
TABULAR_ROWS=${GPU_CHECK_TABULAR_ROWS:-vmap16,switch}
PY=${PYTHON:-$(command -v python3 || command -v python)}
RESULTS=${OUT:-$REPO/runs/gpu_check}
DEPS=$REPO/.gpu_check_deps   # ml_collections goes here (pip --target), not into the image's python
mkdir -p "$RESULTS"
exec > >(tee -a "$RESULTS/gpu_check.log") 2>&1

export PYTHONPATH="$DEPS:$REPO${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=2
export JAX_COMPILATION_CACHE_DIR="$REPO/.jax_cache"

declare -a SUMMARY=()
FAILED=0

remaining() { echo $((BUDGET - ($(date +%s) - START))); }

# step NAME SECONDS CMD...: runs CMD under `timeout`, clamped to the budget left; records the result.
step() {
  local name=$1 limit=$2
  shift 2
  local left
  left=$(remaining)
  ((limit > left - 5)) && limit=$((left - 5))
  if ((limit < 15)); then
    echo "== $name: skipped, ${left} s of the ${BUDGET} s budget left"
    SUMMARY+=("$name: skipped (budget)")
    FAILED=1
    return 0
  fi
  echo "== $name (timeout ${limit} s): $*"
  if [[ $DRY_RUN == 1 ]]; then
    SUMMARY+=("$name: dry run")
    return 0
  fi
  local t0=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" || rc=$?
  local took=$((SECONDS - t0))
  if ((rc == 0)); then
    SUMMARY+=("$name: ok (${took} s)")
  else
    ((rc == 124 || rc == 137)) && SUMMARY+=("$name: TIMED OUT after ${limit} s") \
      || SUMMARY+=("$name: FAILED (exit ${rc}, ${took} s)")
    FAILED=1
  fi
  return 0
}

echo "== gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ), repo $REPO, python $PY, outputs in $RESULTS"
git -C "$REPO" rev-parse --short HEAD 2>/dev/null | sed 's/^/commit /' || true

# 1. ml_collections (pure Python; its deps absl-py and PyYAML come with the image's flax/absl).
if ! "$PY" -c 'import ml_collections' 2>/dev/null; then
  if [[ ! -d $REPO/wheels ]]; then
    echo "error: ml_collections is not installed and there is no wheels/ directory;" \
      "run 'bash benchmarks/gpu_wheels.sh' on a machine with the registry and carry wheels/ along"
    exit 2
  fi
  step "install ml_collections from wheels/" 60 \
    "$PY" -m pip install -q --no-index --find-links "$REPO/wheels" --no-deps --target "$DEPS" \
    ml_collections
  if [[ $DRY_RUN != 1 ]] && ! "$PY" -c 'import ml_collections' 2>/dev/null; then
    echo "error: ml_collections still does not import after the install (see above)"
    exit 2
  fi
fi
for pkg in absl yaml; do
  if ! "$PY" -c "import $pkg" 2>/dev/null; then
    [[ $pkg == absl ]] && whl=absl-py || whl=PyYAML
    step "install $whl from wheels/" 60 \
      "$PY" -m pip install -q --no-index --find-links "$REPO/wheels" --no-deps --target "$DEPS" "$whl"
  fi
done

# 2. The devices. This runs even in a dry run: it is cheap and it is the check that matters most.
echo "== devices"
DEVICE_CHECK='
import os, jax
print("jax", jax.__version__, "backend", jax.default_backend())
print("jax.devices():", jax.devices())
if jax.default_backend() != "gpu" and os.environ.get("GPU_CHECK_ALLOW_CPU") != "1":
  raise SystemExit("error: no GPU visible to JAX (backend %r); set GPU_CHECK_ALLOW_CPU=1 to go on"
                   % jax.default_backend())
'
timeout 120 "$PY" -c "$DEVICE_CHECK" | tee "$RESULTS/devices.txt"
command -v nvidia-smi >/dev/null && timeout 30 nvidia-smi -L | tee -a "$RESULTS/devices.txt" || true
"$PY" - <<'EOF' | tee "$RESULTS/versions.txt" || true
import importlib
for name in ('jax', 'jaxlib', 'flax', 'optax', 'chex', 'orbax.checkpoint', 'ml_collections',
             'numpy', 'pytest', 'absl', 'yaml'):
  try:
    print(name, getattr(importlib.import_module(name), '__version__', '?'))
  except Exception as e:  # pylint: disable=broad-except
    print(name, 'MISSING', type(e).__name__)
EOF

# 3. Op equivalence and the bilevel step on the GPU. These files need no TensorFlow/TFDS/mlxtend
# (docs/testing.md lists which do). No xdist: one process, one GPU.
# shellcheck disable=SC2086  (TESTS is a list of paths)
step "tests on the GPU" 150 "$PY" -m pytest -q -p no:xdist -o cache_dir="$RESULTS/.pytest_cache" \
  --junitxml="$RESULTS/tests.xml" $TESTS

# 4. The tabular builder at NB201's own sizes (C=16, N=5, 32x32, batch 256; random images),
# the population vmapped against a compile per cell, with the projected full-space build time.
step "tabular builder rows ($TABULAR_ROWS)" 150 bash -o pipefail -c \
  "'$PY' -m benchmarks.tabular --preset=paper --synthetic --cells=16 --rows=$TABULAR_ROWS \
   --timeout=140 | tee '$RESULTS/tabular.md'"

# 4b. make bench's search and retraining rows. Synthetic inputs: no nas_jax.data, no TFDS.
step "search step rows ($SEARCH_ROWS)" 95 bash -o pipefail -c \
  "'$PY' -m benchmarks.search_step --rows=$SEARCH_ROWS --steps=10 --timeout=85 \
   | tee '$RESULTS/search_step.md'"
step "retraining step rows ($TRAIN_ROWS)" 70 bash -o pipefail -c \
  "'$PY' -m benchmarks.train_step --rows=$TRAIN_ROWS --steps=10 --timeout=60 \
   | tee '$RESULTS/train_step.md'"

# 5. Failed tests again at full float32 matmul precision (the GPU's default uses TF32).
if [[ $DRY_RUN != 1 && -f $RESULTS/tests.xml ]] && grep -qE '<(failure|error)' "$RESULTS/tests.xml"; then
  # shellcheck disable=SC2086
  JAX_DEFAULT_MATMUL_PRECISION=highest step "failed tests again, matmul precision highest" 120 \
    "$PY" -m pytest -q -p no:xdist -o cache_dir="$RESULTS/.pytest_cache" --last-failed \
    --junitxml="$RESULTS/tests_highest.xml" $TESTS
fi

echo
echo "== summary ($(( $(date +%s) - START )) s of the ${BUDGET} s budget)" | tee "$RESULTS/summary.txt"
for line in "${SUMMARY[@]}"; do echo "  $line"; done | tee -a "$RESULTS/summary.txt"
if ((FAILED)); then
  echo "gpu_check: FAILED (see above and $RESULTS)"
  exit 1
fi
echo "gpu_check: ok"
