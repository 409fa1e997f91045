#!/usr/bin/env bash
# Runs every test of credrisk on a fresh machine: creates the pinned Python venv that holds the
# independent oracles (pyarrow, scikit-learn, shap, mlflow, schemathesis), then builds once in the
# release profile and runs the unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== python oracles (pinned: ../shared/requirements.txt) -> .venv"
bash ../shared/peer/setup.sh .venv >/dev/null
export CREDRISK_PYTHON="$PWD/.venv/bin/python"
echo "== cargo test --release"
cargo test --release "$@"
