#!/usr/bin/env bash
# What the GPU check (tools/gpu_check.sh) must carry to a machine with no internet:
# wheels/ (git-ignored): the cp312 manylinux x86_64 wheels of what that machine lacks,
# and data/mnist.npz (git-ignored): a copy of $MNIST_NPZ. Run here, with internet:
#
#   MNIST_NPZ=/path/to/mnist.npz bash tools/gpu_wheels.sh
#
# The machine already has jax, jaxlib, numpy, matplotlib, h5py, ml-dtypes, pytest and
# more (/work/.library/device/KINDS.md): their large wheels are left out, and pip
# there keeps its own copies where they satisfy the requirements. Everything that
# travels (tree, wheels, data) must stay under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
# pip evaluates a requirement's markers (python_version == "3.12") with the Python it
# runs on, whatever --python-version says: download with a Python 3.12 (PYTHON312).
pip312="${PYTHON312:-python3.12}"
if ! "$pip312" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
  echo "warning: no Python 3.12 (set PYTHON312): markers are read with $python" >&2
  pip312="$python"
fi
# The check's own needs, pinned to the versions tested here.
needs="keras papermill jupytext nbformat nbclient ipykernel nbval pytest-xdist execnet filelock"
pinned=$("$python" - $needs <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for name in sys.argv[1:]:
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        print(name)
PY
)
# Large compiled wheels the machine's image holds (and TensorFlow, which must not come).
present="numpy jax jaxlib matplotlib pillow fonttools h5py kiwisolver contourpy ml_dtypes
  pyyaml psutil coverage charset_normalizer tensorflow torch"

new="$(mktemp -d)"
"$pip312" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 -d "$new" $pinned
for name in $present; do rm -f "$new/$name"-[0-9]*.whl; done
mkdir -p wheels
rm -f wheels/*.whl wheels/requirements.txt  # only what this script wrote before
mv "$new"/*.whl wheels/
echo "$pinned" > wheels/requirements.txt

mkdir -p data
if [ ! -f data/mnist.npz ]; then
  [ -f "${MNIST_NPZ:-}" ] || { echo "error: set MNIST_NPZ to a copy of mnist.npz" >&2; exit 2; }
  cp "$MNIST_NPZ" data/mnist.npz
fi

mib() { du -sb "$@" | awk '{s += $1} END {printf "%.1f", s / 1048576}'; }
# The tree that travels: tracked files still there, and untracked ones git does not ignore.
tree=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null || true) | tail -1 | cut -f1)
echo "wheels/: $(ls wheels/*.whl | wc -l) wheels, $(mib wheels) MiB"
echo "travels: tree $(awk "BEGIN {printf \"%.1f\", $tree / 1048576}") MiB + wheels/ $(mib wheels) MiB + data/ $(mib data/mnist.npz) MiB (limit 64 MiB)"
