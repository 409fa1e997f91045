#!/usr/bin/env bash
# `POST /recourse` latency over HTTP, one client: the default model (`credrisk generate` then
# `credrisk train` with its defaults: 200 trees, depth 14, on 250k rows), `credrisk serve` on
# 127.0.0.1, and one keep-alive client (benches/recourse_http.py) sending the first CUSTOMERS
# (200) customers of a fresh generated file that the model denies, one after another, each once
# (a warm-up pass over the first 20 is not counted). Prints p50, p90, p99 and max in ms, how many
# searches finished within their bound (`search.exhaustive`) and had options, and the load
# average (the machine may be shared). The issue's target: p50 under 50 ms, p99 under 200 ms.
#
#   benches/recourse_http.sh
#   CUSTOMERS=100 MAX_CHANGES=3 benches/recourse_http.sh
#
# Data and model are cached in target/recourse-bench/ (delete it to regenerate).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CUSTOMERS=${CUSTOMERS:-200}
MAX_CHANGES=${MAX_CHANGES:-2}
PY=${PY:-${CREDRISK_PYTHON:-$root/.venv/bin/python}}
work=${WORK:-$root/target/recourse-bench}
[ -x "$PY" ] || { echo "no python at $PY: run scripts/setup-python.sh (it creates .venv)" >&2; exit 2; }
mkdir -p "$work"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$root/target}/release/credrisk

cd "$work"
[ -f data.parquet ] || "$bin" generate --rows 250000 --seed 42 --prefix data --quiet
[ -d default/model ] || "$bin" train --data data.parquet --outputs default --tracking-uri "$work/mlruns" --quiet
[ -f fresh.parquet ] || "$bin" generate --rows 5000 --seed 4242 --prefix fresh --quiet

port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --model-uri default/model --host 127.0.0.1 --port "$port" >serve.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
"$PY" "$root/benches/recourse_http.py" --base "http://127.0.0.1:$port" --data fresh.parquet \
  --customers "$CUSTOMERS" --max-changes "$MAX_CHANGES"
