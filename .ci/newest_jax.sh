#!/usr/bin/env bash
# The newest releases that pyproject.toml allows, in a throwaway virtual environment: install them
# (no constraints file, so pip takes the newest in each range), show what came, import sdae, run
# the accelerator check at toy sizes (a tiny training, a tiny sweep, the bench, a tiny table) and
# this check's tests. Not part of the default CI (.ci/run pins the tested stack): it needs PyPI,
# and JAX >= 0.11 needs Python >= 3.12.
#
#   PYTHON=python3.12 MNIST_DIR=../shared/data/mnist bash .ci/newest_jax.sh
#
# VENV=DIR reuses (or makes) the environment there; by default a temporary one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.12}"
VENV="${VENV:-$(mktemp -d)/venv}"
MNIST_DIR="${MNIST_DIR:-../shared/data/mnist}"
OUT="$(mktemp -d)"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q --upgrade --upgrade-strategy eager '.[test]'
"$VENV/bin/python" -m pip uninstall -q -y sdae  # the checkout itself is what runs (PYTHONPATH)
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md, sys
print("python", sys.version.split()[0])
for p in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "tensorflow-datasets"):
  try:
    print(p, md.version(p))
  except md.PackageNotFoundError:
    print(p, "not installed")
EOF
export PYTHONPATH="$PWD"
"$VENV/bin/python" -c "import sdae, sdae.data, sdae.experiment, sdae.sweep; print('import sdae: ok', sdae.__file__)"
"$VENV/bin/python" -m experiments.accelerator_check --tiny --data_dir="$MNIST_DIR" --workdir="$OUT/check" \
  | tail -n 1
"$VENV/bin/python" -m pytest -q tests/test_accelerator_check.py
echo "newest_jax: ok ($OUT)"
