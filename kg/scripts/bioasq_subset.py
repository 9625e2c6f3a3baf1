#!/usr/bin/env python3
"""Reduced BioASQ set for the hybrid graph-expansion benchmark (benchmarks/kg.md).

Usage: bioasq_subset.py BIOASQ_DIR OUT_DIR [QUESTIONS=120] [DOCS=1500] [SEED=7]

Samples QUESTIONS questions whose gold PMIDs are all in the corpus, keeps their gold documents
and fills up to DOCS documents with random other records of the corpus. Writes
OUT_DIR/subset-corpus.jsonl and OUT_DIR/subset-questions.jsonl (nothing goes into the repository).
"""
import json
import os
import random
import sys

src, out = sys.argv[1], sys.argv[2]
n_q = int(sys.argv[3]) if len(sys.argv) > 3 else 120
n_docs = int(sys.argv[4]) if len(sys.argv) > 4 else 1500
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 7
corpus = [json.loads(l) for l in open(os.path.join(src, "corpus.jsonl"))]
ids = {d["id"] for d in corpus}
qs = [json.loads(l) for l in open(os.path.join(src, "questions.jsonl"))]
ok = [q for q in qs if q.get("gold_pmids") and all("PMID:" + p in ids for p in q["gold_pmids"])]
rng = random.Random(seed)
sel = rng.sample(ok, n_q)
gold = {"PMID:" + p for q in sel for p in q["gold_pmids"]}
others = [d for d in corpus if d["id"] not in gold]
rng.shuffle(others)
sub = [d for d in corpus if d["id"] in gold] + others[: max(0, n_docs - len(gold))]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "subset-corpus.jsonl"), "w") as f:
    for d in sub:
        f.write(json.dumps(d) + "\n")
with open(os.path.join(out, "subset-questions.jsonl"), "w") as f:
    for q in sel:
        f.write(json.dumps(q) + "\n")
print(f"{len(sel)} questions, {len(gold)} gold documents, {len(sub)} documents")
