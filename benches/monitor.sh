#!/usr/bin/env bash
# `credrisk monitor` on a 1M-row batch, beside a NumPy/SciPy script computing the same drift
# (benches/monitor_peer.py: PSI, KS, chi-squared per input; it has no model, so it neither scores
# the batch nor computes approvals, which credrisk does). Both read the same Parquet files; the
# reference is the same 50k rows (credrisk trains with --test-data on them). Wall seconds and peak
# RSS come from /usr/bin/time -v; the load average is printed before each run (the machine may be
# shared).
#
#   benches/monitor.sh                 # needs: cargo, /usr/bin/time, the venv (scripts/setup-python.sh)
#   ROWS=200000 benches/monitor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROWS=${ROWS:-1000000}
PY=${PY:-${CREDRISK_PYTHON:-$root/.venv/bin/python}}
work=${WORK:-$root/target/monitor-bench}
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found: apt-get install -y time" >&2; exit 2; }
[ -x "$PY" ] || { echo "no python at $PY: run scripts/setup-python.sh or set CREDRISK_PYTHON" >&2; exit 2; }
mkdir -p "$work"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$root/target}/release/credrisk

if [ ! -f "$work/batch.parquet" ] || [ "$(cat "$work/rows" 2>/dev/null)" != "$ROWS" ]; then
  rm -rf "$work/out" "$work/mlruns"
  "$bin" generate --rows 250000 --seed 11 --prefix "$work/train" -q
  "$bin" generate --rows 50000 --seed 12 --prefix "$work/ref" -q
  "$bin" generate --rows "$ROWS" --seed 13 --period 2027-03 --unemployment-shift 0.05 \
    --shock-region Biobío --prefix "$work/batch" -q
  echo "$ROWS" >"$work/rows"
fi
if [ ! -f "$work/out/model/reference.json" ]; then
  "$bin" train --data "$work/train.parquet" --test-data "$work/ref.parquet" --outputs "$work/out" \
    --n-estimators 100 --max-depth 12 --min-samples-leaf 20 --no-tracking --quiet >&2
fi

measure() { # label, command...
  local label=$1; shift
  echo "# $label · load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -v "$@" >"$work/stdout" 2>"$work/time" || true
  grep -E "peer seconds" "$work/stdout" || true
  awk -F': ' '/Elapsed \(wall clock\)/ {print "  wall " $2} /User time/ {u=$2} /System time/ {printf "  CPU %.1f s (user + system)\n", u+$2}
    /Maximum resident set size/ {printf "  peak RSS %.0f MB\n", $2/1024}' "$work/time"
}
measure "credrisk monitor, $ROWS rows, no tracking" \
  "$bin" monitor --model "$work/out/model" --data "$work/batch.parquet" --no-tracking --json
measure "credrisk monitor, $ROWS rows, logged to a file store" \
  "$bin" monitor --model "$work/out/model" --data "$work/batch.parquet" --tracking-uri "$work/mlruns" --json
measure "NumPy/SciPy drift (monitor_peer.py), $ROWS rows" \
  "$PY" benches/monitor_peer.py "$work/ref.parquet" "$work/batch.parquet"
