#!/usr/bin/env bash
# The main job end to end on a fresh machine: build, generate 250k applicants, train the forest
# (metrics, plots, model, MLflow run in ./mlruns), explain the example customer, and say how to
# serve the model.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/credrisk
$bin generate --rows "${ROWS:-250000}" --seed 42 --prefix data/chilean_credit_data
$bin train --data data/chilean_credit_data.parquet --outputs outputs
$bin explain --customer ../shared/peer/customer.json --lang en
cat <<'TXT'

Serve the model (latest FINISHED run in ./mlruns):
  target/release/credrisk serve --port 8000
then, from another terminal:
  curl -s -X POST localhost:8000/predict -H 'content-type: application/json' -d @../shared/peer/customer.json
  curl -s -X POST 'localhost:8000/explain?lang=en' -H 'content-type: application/json' \
       -d '{"customer": {"age": 45, "gender": "f", "region": "Metropolitana", "education_level": "media", "marital_status": "casado", "housing_status": "arriendo", "dependents": 2, "income": 800000, "employment_years": 6, "credit_history_months": 84, "num_loans": 2, "avg_monthly_payment": 150000, "delinquency_rate": 0.05, "credit_inquiries": 1, "regional_cpi": 0.034, "regional_unemployment": 0.086}}'
MLflow UI over the same runs (Python venv from scripts/test.sh):
  MLFLOW_ALLOW_FILE_STORE=true .venv/bin/mlflow ui --backend-store-uri file://$PWD/mlruns
then open the "UI:" link train printed (it asks for the classic Model training view).
TXT
