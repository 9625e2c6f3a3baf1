#!/usr/bin/env bash
# Reproduces benchmarks/rare.md in one run: a simulated development set, `clinrag eval rare`
# (likelihood ratio and Resnik best-match average), the `hpo` crate's FunSimAvg ranking on the
# same cases, and `clinrag bench rare`.
#
#   CLINRAG_HOME=/tmp/clinrag-home phenotype/scripts/rare_benchmark.sh
#
# Env: CLINRAG (the clinrag binary, default $TARGET/release/clinrag), SEED (42), N (300), OUT (/tmp/rare-bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
HOME_DIR=${CLINRAG_HOME:-.clinrag}
TARGET=${CARGO_TARGET_DIR:-target}
CLINRAG=${CLINRAG:-$TARGET/release/clinrag}
SEED=${SEED:-42}
N=${N:-300}
OUT=${OUT:-/tmp/rare-bench}
mkdir -p "$OUT"

cargo build --release -p clinrag-phenotype --example hpo_baseline
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
"$CLINRAG" --home "$HOME_DIR" rare simulate --n "$N" --seed "$SEED" --out "$OUT/cases.jsonl"
echo "== clinrag eval rare"
"$CLINRAG" --home "$HOME_DIR" eval rare --cases "$OUT/cases.jsonl" | tee "$OUT/eval.txt"
"$CLINRAG" --home "$HOME_DIR" --json eval rare --cases "$OUT/cases.jsonl" > "$OUT/eval.json"
echo "== hpo crate FunSimAvg baseline, same cases"
/usr/bin/time -f "baseline cpu user %U s, sys %S s, wall %e s" \
  "$TARGET/release/examples/hpo_baseline" "$HOME_DIR/vocab/hpo" "$OUT/cases.jsonl" | tee "$OUT/hpo_baseline.json"
echo "== clinrag bench rare"
"$CLINRAG" --home "$HOME_DIR" bench rare --cases "$OUT/cases.jsonl" --repeat 3 | tee "$OUT/bench.txt"
"$CLINRAG" --home "$HOME_DIR" bench rare --cases "$OUT/cases.jsonl" --repeat 1 --scheme bma | tee -a "$OUT/bench.txt"
echo "== machine after: load $(cut -d' ' -f1-3 /proc/loadavg)"
