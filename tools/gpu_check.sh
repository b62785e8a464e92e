#!/usr/bin/env bash
# The GPU check, on a machine with a GPU, JAX and Python 3.12, no TensorFlow and no
# internet, with wheels/ and data/mnist.npz carried beside the tree (make them here
# with: bash tools/gpu_wheels.sh). It installs the wheels, then tools/gpu_check.py
# proves the stack, runs the README's JAX tests in smoke mode and every notebook in
# full mode until the deadline, writing ${OUT:-out}/gpu_check.json as it goes.
#
#   bash tools/gpu_check.sh          # on the GPU machine; about 8 minutes
#   bash tools/gpu_check.sh --tiny   # here, on a CPU: smoke mode, DNN3, 60 s deadline
#
# GPU_CHECK_DEADLINE (seconds, default 480; --tiny 60): no notebook starts after it.
# --tiny skips the wheel install when the packages are already importable (as in this
# project's .venv), so it checks the script, not the wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
export GPU_CHECK_STARTED=$(date +%s)
export OUT="${OUT:-$PWD/out}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
export MNIST_NPZ="${MNIST_NPZ:-$PWD/data/mnist.npz}"
mkdir -p "$OUT"

# The README's commands say "python"; the machine may have only python3.
shim="$(mktemp -d)"
ln -s "$(command -v python3)" "$shim/python"
export PATH="$shim:$PATH"

importable() {
  python3 -c "import keras, jax, papermill, jupytext, nbformat, nbval, ipykernel, dnnsteps" 2>/dev/null
}

if [ "${1:-}" = "--tiny" ] && importable; then
  GPU_CHECK_INSTALL="skipped (--tiny, the packages are importable here)"
else
  [ -f wheels/requirements.txt ] || { echo "error: no wheels/: run bash tools/gpu_wheels.sh and carry wheels/" >&2; exit 2; }
  [ -f "$MNIST_NPZ" ] || { echo "error: no MNIST at $MNIST_NPZ: carry data/mnist.npz" >&2; exit 2; }
  started=$(date +%s)
  # Never TensorFlow: only what wheels/requirements.txt names, the machine's own
  # packages where they satisfy it, and dnnsteps itself without its dependencies.
  python3 -m pip install -q --no-index --find-links wheels -r wheels/requirements.txt
  if ! python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>/dev/null; then
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # an old setuptools: use src/
  fi
  GPU_CHECK_INSTALL="wheels/ installed in $(( $(date +%s) - started )) s"
fi
export GPU_CHECK_INSTALL
python3 tools/gpu_check.py "$@" 2>&1 | tee "$OUT/check.log"
