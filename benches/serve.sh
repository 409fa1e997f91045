#!/usr/bin/env bash
# `credrisk serve` against the FastAPI peer, side by side, same machine, same run: both serve a
# forest trained on the same 250k generated rows (100 trees, depth 12, min leaf 20); wrk POSTs
# the example customer (examples/customer.json) to /predict and /explain at 1 and 32 connections,
# DURATION s each, with the same client settings the peer's own script uses (bench_service.sh),
# then one connection again with client and server of both sharing one core (ONE_CORE=0 skips
# that). Prints one table with requests/s, p50 and p99 of both and the ratios. Without the peer
# beside the project (../shared/peer, absent from a clone on its own) it says so in one line and
# measures credrisk alone.
#
#   benches/serve.sh                  # needs: cargo, wrk (apt-get install -y wrk); the peer: .venv (scripts/setup-python.sh)
#   DURATION=5 ROWS=50000 benches/serve.sh
#
# Data and both models are cached in target/serve-bench/ (delete it to regenerate). Run it on an
# otherwise idle machine: the load average before each wrk run is printed beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=$root/../shared
ROWS=${ROWS:-250000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"1 32"}
WRK_THREADS=${WRK_THREADS:-1}
PEER_WORKERS=${PEER_WORKERS:-2}
WORKERS=${WORKERS:-$(nproc)}
PY=${PY:-$root/.venv/bin/python}
work=${WORK:-$root/target/serve-bench}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
with_peer=1
if [ ! -x "$shared/peer/bench_service.sh" ]; then
  with_peer=0
  echo "# peer: $shared/peer is absent; measuring credrisk serve alone"
fi
[ "$with_peer" = 0 ] || [ -x "$PY" ] || { echo "no python at $PY: run scripts/setup-python.sh (it creates .venv)" >&2; exit 2; }
mkdir -p "$work"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$root/target}/release/credrisk

# --- the same data and the same forest settings for both ---------------------------------------
if [ ! -f "$work/data.parquet" ] || [ "$(cat "$work/rows" 2>/dev/null)" != "$ROWS" ]; then
  rm -rf "$work/out" "$work/mlruns" "$work/peer"
  "$bin" generate --rows "$ROWS" --prefix "$work/data" >/dev/null
  echo "$ROWS" >"$work/rows"
fi
if [ ! -f "$work/out/model/model.crm" ]; then
  echo "# training credrisk (100 trees, depth 12, leaf 20) on $ROWS rows" >&2
  "$bin" train --data "$work/data.parquet" --outputs "$work/out" --tracking-uri "$work/mlruns" \
    --n-estimators 100 --max-depth 12 --min-samples-leaf 20 --seed 42 --quiet >&2
fi
if [ "$with_peer" = 1 ] && [ ! -f "$work/peer/model.joblib" ]; then
  echo "# training the scikit-learn peer with the same settings on the same Parquet" >&2
  mkdir -p "$work/peer"
  "$PY" "$shared/peer/train_sklearn.py" --data "$work/data.parquet" --out "$work/peer/model.joblib" \
    --n-estimators 100 --max-depth 12 --min-samples-leaf 20 --seed 42 >&2
fi

# --- our server ----------------------------------------------------------------------------------
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["customer"]
json.dump({"customer": c, "include_explanation": False}, open(sys.argv[2], "w"))
json.dump({"customer": c}, open(sys.argv[3], "w"))' examples/customer.json "$tmp/predict.json" "$tmp/explain.json"
cat >"$tmp/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.1f %.3f %.3f %.3f %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.mean / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA

declare -A ours peer
server_line=""

# Our server under PREFIX (empty, or a taskset), wrk under the same PREFIX at each of CONNS;
# results go to ours[endpoint,connections SUFFIX].
bench_ours() {
  local prefix=$1 conns=$2 suffix=$3
  $prefix "$bin" serve --model-uri "$work/out/model" --host 127.0.0.1 --port 0 --workers "$WORKERS" \
    >"$tmp/serve.log" 2>&1 &
  server_pid=$!
  local url="" addr
  for _ in $(seq 600); do  # bound: 60 s to bind and load
    if [ -z "$url" ]; then
      addr=$(grep -o '"address":"[^"]*"' "$tmp/serve.log" | head -1 | cut -d'"' -f4 || true)
      [ -n "$addr" ] && url="http://$addr"
    fi
    [ -n "$url" ] && curl -sf "$url/health" >/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  curl -sf "$url/health" >/dev/null || { echo "credrisk serve not ready" >&2; cat "$tmp/serve.log" >&2; exit 1; }
  for ep in predict explain; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
      --data @"$tmp/$ep.json" "$url/$ep")
    [ "$code" = 200 ] || { echo "/$ep answered $code" >&2; exit 1; }
    BODY_FILE="$tmp/$ep.json" $prefix wrk -t1 -c4 -d2s -s "$tmp/post.lua" "$url/$ep" >/dev/null  # warm-up
    for c in $conns; do
      load=$(cut -d' ' -f1-3 /proc/loadavg)
      out=$(BODY_FILE="$tmp/$ep.json" $prefix wrk -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" --timeout 30s \
        -s "$tmp/post.lua" "$url/$ep" 2>&1)
      read -r _ n rps p50 p99 mean errs <<<"$(grep '^RESULT' <<<"$out")"
      ours[$ep,$c$suffix]="$rps $p50 $p99 $n $errs $load"
    done
  done
  if [ -z "$suffix" ]; then
    # Our own handling time, from the server's latency histogram (all runs of each endpoint):
    # what wrk adds on top is the loopback, the client and the scheduler of this machine.
    local metrics
    metrics=$(curl -sf "$url/metrics")
    server_side() {  # endpoint, bound in seconds
      awk -v ep="$1" -v le="$2" -F'[{}" ]+' '
        $1 == "credrisk_http_request_duration_seconds_bucket" && $3 == ep && index($0, "le=\"" le "\"") { within = $NF }
        $1 == "credrisk_http_request_duration_seconds_count" && $3 == ep { total = $NF }
        END { if (total > 0) printf "%.2f%% of %d", 100 * within / total, total; else print "n/a" }' <<<"$metrics"
    }
    server_line="# server-side handling (/metrics): /predict within 1 ms: $(server_side /predict 0.001); /explain within 5 ms: $(server_side /explain 0.005)"
  fi
  kill -TERM "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# The peer with its own script (uvicorn, PEER_WORKERS workers, its own wrk) under PREFIX.
bench_peer() {
  local prefix=$1 conns=$2 suffix=$3 table
  table=$(PY=$PY MODEL_PATH="$work/peer/model.joblib" WORKERS=$PEER_WORKERS DURATION=$DURATION \
    CONNS="$conns" WRK_THREADS=$WRK_THREADS $prefix "$shared/peer/bench_service.sh")
  [ -n "$suffix" ] || echo "$table" | grep '^#' | sed 's/^# /# peer /'
  while IFS='|' read -r _ ep c rps p50 p99 _; do
    ep=$(echo "$ep" | tr -d ' /'); c=$(echo "$c" | tr -d ' ')
    peer[$ep,$c$suffix]="$(echo "$rps $p50 $p99" | tr -s ' ')"
  done < <(echo "$table" | grep -E '^\| /(predict|explain) ')
}

bench_ours "" "$CONNS" ""
[ "$with_peer" = 0 ] || bench_peer "" "$CONNS" ""
rows="$CONNS"
# One connection again with client and server sharing one core: on a VM, a request that has to
# wake the other, idle vCPU can wait on the hypervisor, and that wait is most of the one-connection
# p99 above. Both services get the same treatment (ONE_CORE=0 skips it).
if [ "${ONE_CORE:-1}" = 1 ] && command -v taskset >/dev/null; then
  bench_ours "taskset -c 0" 1 "(one-core)"
  [ "$with_peer" = 0 ] || bench_peer "taskset -c 0" 1 "(one-core)"
  rows="$rows 1(one-core)"
fi

echo "# credrisk: $WORKERS worker(s), model $work/out/model; client wrk $WRK_THREADS thread(s), ${DURATION}s per run"
echo "$server_line"
echo "| endpoint | connections | credrisk req/s | p50 ms | p99 ms | peer req/s | p50 ms | p99 ms | req/s ratio | p99 ratio | errors | load avg before |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for ep in predict explain; do
  for c in $rows; do
    read -r rps p50 p99 _n errs l1 l2 l3 <<<"${ours[$ep,$c]}"
    read -r prps pp50 pp99 <<<"${peer[$ep,$c]:-0 0 0}"
    ratio=$(awk -v a="$rps" -v b="$prps" 'BEGIN { if (b > 0) printf "%.0f×", a / b; else print "n/a" }')
    lat=$(awk -v a="$p99" -v b="$pp99" 'BEGIN { if (a > 0) printf "%.0f× lower", b / a; else print "n/a" }')
    echo "| /$ep | $c | $rps | $p50 | $p99 | $prps | $pp50 | $pp99 | $ratio | $lat | $errs | $l1 $l2 $l3 |"
  done
done
