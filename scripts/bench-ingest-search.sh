#!/usr/bin/env bash
# Foundation figures for BENCHMARKS.md: ingest throughput and peak memory on the PubMed sample
# (keyword index only), and BM25 search latency and quality on the BioASQ development set.
# Usage: scripts/bench-ingest-search.sh [DATA_HOME] [BIOASQ_DIR]
#   DATA_HOME: a home folder where `clinrag setup` ran (default $CLINRAG_HOME or ./.clinrag)
#   BIOASQ_DIR: folder with corpus.jsonl and questions.jsonl (default ../shared/data/bioasq-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-${CLINRAG_HOME:-$PWD/.clinrag}}"
bioasq="${2:-../shared/data/bioasq-dev}"
cargo build --release --bin clinrag
bin=$PWD/target/release/clinrag
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
timed() { /usr/bin/time -f '%e s wall, %M KB peak RSS' "$@"; }

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
echo "== ingest the PubMed sample (MEDLINE XML + PMC JATS), cold"
timed "$bin" --home "$scratch/pubmed" ingest --json "$data/corpus/pubmed" | tee "$scratch/ingest.json"
python3 - "$scratch/ingest.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["throughput"]
print(f"documents {r['documents_ingested']}, chunks {r['chunks']}, {r['bytes']/1e6:.1f} MB in {r['seconds']:.1f} s: "
      f"{t['documents_per_s']:.0f} docs/s, {t['chunks_per_s']:.0f} chunks/s, {t['mb_per_s']:.2f} MB/s, failures {len(r['failures'])}")
PY
echo "== re-ingest (unchanged)"
timed "$bin" --home "$scratch/pubmed" ingest "$data/corpus/pubmed"
"$bin" --home "$scratch/pubmed" stats
echo "== BM25 latency of 200 BioASQ questions over the PubMed sample index (quality not meaningful here)"
"$bin" --home "$scratch/pubmed" eval retrieval --questions "$bioasq/questions.jsonl" --k 10 --limit 200

echo "== ingest BioASQ corpus"
timed "$bin" --home "$scratch/bioasq" ingest "$bioasq/corpus.jsonl"
echo "== BM25 over the first 200 BioASQ questions (latency)"
"$bin" --home "$scratch/bioasq" eval retrieval --questions "$bioasq/questions.jsonl" --k 10 --limit 200
echo "== BM25 over all BioASQ questions (quality)"
"$bin" --home "$scratch/bioasq" eval retrieval --questions "$bioasq/questions.jsonl" --k 10
