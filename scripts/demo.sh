#!/usr/bin/env bash
# The main job end to end on a fresh machine: build, generate 250k applicants (ROWS=... for
# fewer), train the forest (metrics, plots, model, MLflow run in ./mlruns), explain the example
# customer and a denied one, and say how to serve the model and call it with the examples.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/credrisk
$bin generate --rows "${ROWS:-250000}" --seed 42 --prefix data/chilean_credit_data
$bin train --data data/chilean_credit_data.parquet --outputs outputs
$bin explain --customer examples/customer.json --lang en
$bin explain --customer examples/denied.json --lang en
cat <<TXT

Serve the model (the latest FINISHED run in ./mlruns):
  $bin serve --port 8000
then, from another terminal, ask with the example customers of examples/:
  curl -s localhost:8000/predict -H 'content-type: application/json' -d @examples/customer.json
  curl -s 'localhost:8000/explain?lang=en' -H 'content-type: application/json' -d @examples/denied.json
  curl -s localhost:8000/predict/batch -H 'content-type: application/json' \\
       -d "{\"customers\": \$(cat examples/batch.json)}"
Explain a whole file the same way: $bin explain --customer examples/batch.csv
MLflow UI over the same runs (the venv scripts/setup-python.sh creates):
  MLFLOW_ALLOW_FILE_STORE=true .venv/bin/mlflow ui --backend-store-uri file://$PWD/mlruns
then open the "UI:" link train printed (it asks for the classic Model training view).
TXT
