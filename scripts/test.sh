#!/usr/bin/env bash
# Runs every test of credrisk on a fresh machine: creates (or reuses) the Python venv that holds
# the independent oracles pinned in tests/requirements.txt (pyarrow, scikit-learn, shap, mlflow,
# schemathesis, ...), then builds once in the release profile and runs the unit and end-to-end
# tests. Arguments go to `cargo test` (e.g. `scripts/test.sh --test explain`).
# CREDRISK_VENV picks another venv directory (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${CREDRISK_VENV:-.venv}
echo "== python oracles (pinned: tests/requirements.txt) -> $venv"
CREDRISK_PYTHON=$(bash scripts/setup-python.sh "$venv")
export CREDRISK_PYTHON
echo "== cargo test --release${*:+ $*}"
cargo test --release "$@"
