//! Embedding throughput of the BERT embedder on the first N records of a JSONL corpus
//! (`{"title","text"}` per line): chunks/s and tokens/s. Compare with
//! `retrieval/tests/fixtures/st_bench.py` on the same records.
//!
//! `cargo run --release -p clinrag-retrieval --example embed_bench -- MODEL_DIR CORPUS.jsonl N [BATCH [BATCH_TOKENS]]`
//!
//! With `CANDLE_BERT=1` it times candle's general `BertModel` instead (the embedder before the
//! packed encoder: inputs sorted by length, batches of BATCH padded to their longest), on the
//! same texts, for a before/after figure in one run.
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
    if std::env::var_os("CANDLE_BERT").is_some() {
        candle_reference(model, &texts, batch);
        return;
    }
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
            "batches": st.batches - before.batches,
            "truncated": st.truncated - before.truncated,
        })
    );
}

/// candle's `BertModel` on padded batches of `batch` length-sorted texts, mean-pooled.
fn candle_reference(model: &str, texts: &[String], batch: usize) {
    use candle_core::{DType, Device, Tensor};
    use candle_transformers::models::bert::{BertModel, Config};
    let dir = std::path::Path::new(model);
    let cfg: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let vb = candle_nn::VarBuilder::from_buffered_safetensors(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let m = BertModel::load(vb, &cfg).unwrap();
    let mut tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    // The file's own settings pad and cut at 128: padding is per batch here, the cut at 256.
    tok.with_truncation(None).unwrap();
    tok.with_padding(None);
    let mut ids: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| {
            let mut v = tok.encode(t.as_str(), true).unwrap().get_ids().to_vec();
            if v.len() > 256 {
                let last = v[v.len() - 1];
                v.truncate(255);
                v.push(last);
            }
            v
        })
        .collect();
    ids.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let tokens: usize = ids.iter().map(Vec::len).sum();
    let t = Instant::now();
    for b in ids.chunks(batch) {
        let len = b[0].len();
        let flat: Vec<u32> = b
            .iter()
            .flat_map(|v| v.iter().copied().chain(std::iter::repeat(0)).take(len))
            .collect();
        let mask: Vec<u32> = b
            .iter()
            .flat_map(|v| (0..len).map(move |i| u32::from(i < v.len())))
            .collect();
        let x = Tensor::from_vec(flat, (b.len(), len), &Device::Cpu).unwrap();
        let mk = Tensor::from_vec(mask, (b.len(), len), &Device::Cpu).unwrap();
        let h = m.forward(&x, &x.zeros_like().unwrap(), Some(&mk)).unwrap();
        clinrag_retrieval::embed::mean_pool(&h, &mk).unwrap();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "runtime": "candle BertModel (padded batches)",
            "threads": candle_core::utils::get_num_threads(),
            "chunks": texts.len(), "batch": batch, "seconds": s,
            "chunks_per_s": texts.len() as f64 / s, "tokens": tokens,
            "tokens_per_s": tokens as f64 / s,
        })
    );
}
