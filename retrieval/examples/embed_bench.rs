//! Embedding throughput of the BERT embedder on the first N records of a JSONL corpus
//! (`{"title","text"}` per line): chunks/s and tokens/s. Compare with
//! `retrieval/tests/fixtures/st_bench.py` on the same records.
//!
//! `cargo run --release -p clinrag-retrieval --example embed_bench -- MODEL_DIR CORPUS.jsonl N [BATCH [BATCH_TOKENS]]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::time::Instant;

use clinrag_retrieval::embed::{BertEmbedder, BertOptions, Embedder};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (model, corpus, n) = (&a[1], &a[2], a[3].parse::<usize>().unwrap());
    let batch = a.get(4).map_or(32, |b| b.parse().unwrap());
    let f = std::io::BufReader::new(std::fs::File::open(corpus).unwrap());
    let texts: Vec<String> = f
        .lines()
        .take(n)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            let t = v["title"].as_str().unwrap_or("");
            let x = v["text"].as_str().unwrap_or("");
            if t.is_empty() {
                x.to_string()
            } else {
                format!("{t}. {x}")
            }
        })
        .collect();
    let e = BertEmbedder::load(
        std::path::Path::new(model),
        BertOptions {
            batch_size: batch,
            batch_tokens: a.get(5).map_or(0, |b| b.parse().unwrap()),
            max_len: None,
        },
    )
    .unwrap();
    // Warm-up (allocations, thread pool).
    e.embed(&texts[..texts.len().min(8)]).unwrap();
    let before = e.stats();
    let t = Instant::now();
    let v = e.embed(&texts).unwrap();
    let s = t.elapsed().as_secs_f64();
    let st = e.stats();
    let tokens = st.tokens - before.tokens;
    assert_eq!(v.len(), texts.len());
    println!(
        "{}",
        serde_json::json!({
            "runtime": "candle",
            "threads": candle_core::utils::get_num_threads(),
            "chunks": texts.len(),
            "batch": batch,
            "batch_tokens": a.get(5).map_or(0, |b| b.parse::<usize>().unwrap()),
            "seconds": s,
            "chunks_per_s": texts.len() as f64 / s,
            "tokens": tokens,
            "tokens_per_s": tokens as f64 / s,
            "padding_tokens": st.padding - before.padding,
            "truncated": st.truncated - before.truncated,
        })
    );
}
