#!/usr/bin/env bash
# One-step set-up on a fresh machine: system packages, .venv, PyTorch, scikit-learn-extra, the project
# (with its test tools and Ray, for `bench run --executor ray`).
#
#   bash scripts/setup.sh            # everything
#   TORCH_SPEC="torch==2.5.1" bash scripts/setup.sh   # another torch (e.g. a CUDA build elsewhere)
#   SKIP_APT=1 bash scripts/setup.sh # no Debian packages (no root, or already installed)
#
# Safe to run again: finished steps are quick no-ops.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# The CPU build that lies on this project's machines; a newer torch already in .venv is kept.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

step() { printf '\n== %s\n' "$*"; }

if [ -z "${SKIP_APT:-}" ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    packages=$(tr '\n' ' ' < scripts/apt-packages.txt)
    missing=$(for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
    if [ -n "$missing" ]; then
        step "Debian packages: $missing"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
    fi
fi

if [ ! -x .venv/bin/python ]; then
    step "virtual environment .venv"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)

step "build tools and numpy"
"${PIP[@]}" install --upgrade pip "setuptools>=68" wheel cython "numpy>=1.24"

if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    step "PyTorch ($TORCH_SPEC)"
    "${PIP[@]}" install "$TORCH_SPEC"
fi

if ! .venv/bin/python -c "import sklearn_extra.cluster" >/dev/null 2>&1; then
    # The 0.3.0 wheel is built against NumPy 1 and breaks on NumPy 2: build it from source (~40 s).
    step "scikit-learn-extra from source"
    "${PIP[@]}" install scikit-learn
    "${PIP[@]}" install --no-binary scikit-learn-extra --no-build-isolation "scikit-learn-extra>=0.3"
fi

step "the project, its test tools and Ray (editable)"
"${PIP[@]}" install -e ".[dev,ray]"

step "check"
.venv/bin/bench list >/dev/null
echo "set-up done: activate with  source .venv/bin/activate"
