#!/usr/bin/env bash
# `credrisk score` throughput and memory, side by side with scikit-learn and shap on the same rows:
#  1. a 100-tree, depth-12, min-leaf-20 forest of both (credrisk's and sklearn's, trained on the
#     same 250k generated rows), whole process Parquet → Parquet on ROWS (1M) rows: rows/s and the
#     ratio; with --explain on EXPLAIN_ROWS (20k) against shap's TreeExplainer on SHAP_ROWS (2k);
#  2. the default model (`credrisk train` defaults) the same way;
#  3. peak RSS (/usr/bin/time -v) of `credrisk score` on BIG rows (10M; BIG=0 skips), without and
#     with --explain (BIG_EXPLAIN rows, default 200k, 7 batches: TreeSHAP of 10M rows takes hours on 2 cores;
#     memory is bounded by the batch, not the row count).
# The Python peer (../shared/peer) has no batch-scoring script, so sklearn/shap run from
# benches/score_sklearn.py in the oracle venv (PY, default .venv/bin/python).
# Data and models are cached in target/score-bench/ (delete it to regenerate). The load average
# is printed beside every measurement: the machine may be shared.
#
# EXPLAIN=0 leaves out every --explain run and shap (the score comparison alone, a few minutes).
#
#   benches/score.sh
#   ROWS=200000 BIG=0 benches/score.sh
#   EXPLAIN=0 BIG=0 benches/score.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROWS=${ROWS:-1000000}
EXPLAIN_ROWS=${EXPLAIN_ROWS:-20000}
SHAP_ROWS=${SHAP_ROWS:-2000}
BIG=${BIG:-10000000}
BIG_EXPLAIN=${BIG_EXPLAIN:-200000}
EXPLAIN=${EXPLAIN:-1}
[ "$EXPLAIN" = 0 ] && { SHAP_ROWS=0; BIG_EXPLAIN=0; }
PY=${PY:-${CREDRISK_PYTHON:-$root/.venv/bin/python}}
work=${WORK:-$root/target/score-bench}
[ -x "$PY" ] || { echo "no python at $PY: run scripts/setup-python.sh (it creates .venv)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found: apt-get install -y time" >&2; exit 2; }
[ -d "$root/../shared/peer" ] && [ ! -e "$root/../shared/peer/score.py" ] && echo "# peer: ../shared/peer has no batch scorer; sklearn/shap side from benches/score_sklearn.py"
mkdir -p "$work"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$root/target}/release/credrisk
load() { cut -d' ' -f1-3 /proc/loadavg; }

cd "$work"
[ -f train.parquet ] || "$bin" generate --rows 250000 --seed 42 --prefix train --quiet
[ -f rows.parquet ] || "$bin" generate --rows "$ROWS" --seed 7 --prefix rows --quiet
[ -f explain_rows.parquet ] || "$bin" generate --rows "$EXPLAIN_ROWS" --seed 8 --prefix explain_rows --quiet
[ -d small/model ] || "$bin" train --data train.parquet --n-estimators 100 --max-depth 12 --min-samples-leaf 20 \
  --outputs small --tracking-uri "$work/mlruns" --quiet
[ -d default/model ] || "$bin" train --data train.parquet --outputs default --tracking-uri "$work/mlruns" --quiet

# Runs `credrisk score ARGS` under /usr/bin/time; prints seconds and peak RSS (MB).
timed() {
  /usr/bin/time -v "$bin" score --quiet "$@" 2>time.txt >/dev/null || { cat time.txt >&2; exit 3; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' time.txt)
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' time.txt)
  echo "$wall $rss"
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n/s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a/b}'; }

printf '| what | rows | seconds | rows/s | peak RSS MB | load avg |\n|---|---|---|---|---|---|\n'
for model in small default; do
  read -r s m < <(timed --model "$model/model" --data rows.parquet --out "scored_$model.parquet")
  printf '| credrisk score, %s model | %s | %s | %s | %s | %s |\n' "$model" "$ROWS" "$s" "$(rate "$ROWS" "$s")" "$m" "$(load)"
  eval "score_$model=$(rate "$ROWS" "$s")"
  [ "$EXPLAIN" = 0 ] && continue
  read -r s m < <(timed --model "$model/model" --data explain_rows.parquet --out "explained_$model.parquet" --explain)
  printf '| credrisk score --explain, %s model | %s | %s | %s | %s | %s |\n' "$model" "$EXPLAIN_ROWS" "$s" "$(rate "$EXPLAIN_ROWS" "$s")" "$m" "$(load)"
  eval "explain_$model=$(rate "$EXPLAIN_ROWS" "$s")"
done
sk=$("$PY" "$root/benches/score_sklearn.py" --train train.parquet --data rows.parquet --out sklearn.parquet --shap-rows "$SHAP_ROWS")
sk_score=$("$PY" -c 'import json,sys; print(round(json.loads(sys.argv[1])["score_rows_per_s"]))' "$sk")
sk_nodes=$("$PY" -c 'import json,sys; print(round(json.loads(sys.argv[1])["nodes_per_tree"]))' "$sk")
printf '| sklearn predict_proba (n_jobs=-1), 100×12×20 (%s nodes a tree) | %s | | %s | | %s |\n' "$sk_nodes" "$ROWS" "$sk_score" "$(load)"
if [ "$EXPLAIN" != 0 ]; then
  sk_shap=$("$PY" -c 'import json,sys; print(round(json.loads(sys.argv[1])["shap_rows_per_s"]))' "$sk")
  printf '| shap TreeExplainer, same sklearn forest | %s | | %s | | %s |\n' "$SHAP_ROWS" "$sk_shap" "$(load)"
fi
echo
echo "ratio score (credrisk small / sklearn): $(ratio "$score_small" "$sk_score")×"
[ "$EXPLAIN" = 0 ] || echo "ratio --explain (credrisk small / shap): $(ratio "$explain_small" "$sk_shap")×"

if [ "$BIG" != 0 ]; then
  [ -f "big_$BIG.parquet" ] || "$bin" generate --rows "$BIG" --seed 11 --prefix "big_$BIG" --quiet
  read -r s m < <(timed --model default/model --data "big_$BIG.parquet" --out big_scored.parquet)
  printf '\n| credrisk score, default model | %s | %s | %s | %s | %s |\n' "$BIG" "$s" "$(rate "$BIG" "$s")" "$m" "$(load)"
  rm -f big_scored.parquet
  if [ "$BIG_EXPLAIN" != 0 ]; then
    big_explain=big_$BIG.parquet
    if [ "$BIG_EXPLAIN" != "$BIG" ]; then
      [ -f "big_$BIG_EXPLAIN.parquet" ] || "$bin" generate --rows "$BIG_EXPLAIN" --seed 11 --prefix "big_$BIG_EXPLAIN" --quiet
      big_explain=big_$BIG_EXPLAIN.parquet
    fi
    read -r s m < <(timed --model small/model --data "$big_explain" --out big_explained.parquet --explain)
    printf '| credrisk score --explain, small model | %s | %s | %s | %s | %s |\n' "$BIG_EXPLAIN" "$s" "$(rate "$BIG_EXPLAIN" "$s")" "$m" "$(load)"
    rm -f big_explained.parquet
  fi
fi
