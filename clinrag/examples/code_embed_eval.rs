//! Evaluates the ICD-10-CM coder with and without embedding similarity, and over a grid of
//! its options, in one process (the coder and the MiniLM embedder load once; clause
//! embeddings are cached across settings):
//! `cargo run --example code_embed_eval -- HOME FILE.jsonl... [--grid "floor,weight,base,span,k;..."]`
//! (`--misses` prints the misses of each file, except files whose name says `test4`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use clinrag_coding::{IcdCoder, TextEmbedder, eval};
use clinrag_retrieval::embed::{BertEmbedder, BertOptions, Embedder};

struct Minilm(BertEmbedder);

impl TextEmbedder for Minilm {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        self.0.embed(texts).map_err(|e| e.to_string())
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let misses = args.iter().any(|a| a == "--misses");
    args.retain(|a| a != "--misses");
    let grid = match args.iter().position(|a| a == "--grid") {
        Some(i) => {
            let g = args.get(i + 1).cloned().unwrap_or_default();
            args.drain(i..(i + 2).min(args.len()));
            g
        }
        None => String::new(),
    };
    let home = Path::new(&args[0]);
    let files = &args[1..];
    let t = Instant::now();
    let (mut icd, _) = IcdCoder::load_cached(home).unwrap();
    eprintln!("coder loaded in {:.2?}", t.elapsed());
    let t = Instant::now();
    let e = BertEmbedder::load(
        &home.join("models/all-minilm-l6-v2"),
        BertOptions::default(),
    )
    .unwrap();
    let source = icd.attach_embedder(home, Arc::new(Minilm(e))).unwrap();
    let size = std::fs::metadata(home.join(clinrag_coding::VEC_SNAPSHOT_PATH))
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!(
        "embedding index: {} code texts, {size} bytes, {source:?}, {:.2?}",
        icd.embedding_rows(),
        t.elapsed()
    );
    // Phrases (arguments not ending in .jsonl): their nearest code texts.
    for p in files.iter().filter(|f| !f.ends_with(".jsonl")) {
        println!("== {p}");
        for (code, text, sim) in icd.nearest_code_texts(p, 8).unwrap() {
            println!("  {sim:.3} {code:<9} {text}");
        }
    }
    let files: Vec<String> = files
        .iter()
        .filter(|f| f.ends_with(".jsonl"))
        .cloned()
        .collect();
    // Latency of the embedding signal on the first case file's texts (uncached: a fresh
    // embedder call per text): the embedder alone, then embedder + exact scan.
    if let Some(f) = files.first() {
        let texts: Vec<String> = eval::read_cases(Path::new(f))
            .unwrap()
            .into_iter()
            .map(|c| c.text)
            .take(60)
            .collect();
        let e = BertEmbedder::load(
            &home.join("models/all-minilm-l6-v2"),
            BertOptions::default(),
        )
        .unwrap();
        let mut embed_ms = Vec::new();
        let mut near_ms = Vec::new();
        for t in &texts {
            let s = Instant::now();
            e.embed(std::slice::from_ref(t)).unwrap();
            embed_ms.push(s.elapsed().as_secs_f64() * 1000.0);
            let s = Instant::now();
            icd.nearest_code_texts(&format!("{t} "), 10).unwrap();
            near_ms.push(s.elapsed().as_secs_f64() * 1000.0);
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[v.len() * 95 / 100])
        };
        let (e50, e95) = med(&mut embed_ms);
        let (n50, n95) = med(&mut near_ms);
        eprintln!(
            "latency over {} texts: embed p50 {e50:.1} p95 {e95:.1} ms; embed+scan p50 {n50:.1} p95 {n95:.1} ms",
            texts.len()
        );
    }
    let base = icd.options.clone();
    let mut settings: Vec<(String, clinrag_coding::IcdOptions)> = Vec::new();
    let mut off = base.clone();
    off.embedding = false;
    settings.push(("off".into(), off));
    settings.push((
        format!(
            "default({},{},{},{},{})",
            base.embed_floor, base.embed_weight, base.embed_base, base.embed_span, base.embed_k
        ),
        base.clone(),
    ));
    for g in grid.split(';').filter(|g| !g.trim().is_empty()) {
        let v: Vec<f32> = g.split(',').map(|x| x.trim().parse().unwrap()).collect();
        let mut o = base.clone();
        o.embed_floor = v[0];
        o.embed_weight = v[1];
        o.embed_base = v[2];
        o.embed_span = v[3];
        o.embed_k = v[4] as usize;
        settings.push((g.trim().to_string(), o));
    }
    let cases: Vec<(String, Vec<eval::Case>)> = files
        .iter()
        .map(|f| (f.clone(), eval::read_cases(Path::new(f)).unwrap()))
        .collect();
    for (name, o) in settings {
        icd.options = o;
        let mut line = format!("{name:<28}");
        for (f, c) in &cases {
            let r = eval::evaluate(c, |t| icd.code(t));
            let short = Path::new(f).file_stem().unwrap().to_string_lossy();
            line.push_str(&format!(
                " {short} {:.3}/{:.3}/{:.3} p50 {:.1} p95 {:.1} ms |",
                r.overall.top1,
                r.overall.top5,
                r.overall.category,
                r.overall.p50_ms,
                r.overall.p95_ms
            ));
            if misses && !f.contains("test4") {
                for (text, gold, got) in &r.misses {
                    eprintln!("  [{name}] {short}: {text:?} gold {gold:?} got {got:?}");
                }
            }
        }
        println!("{line}");
    }
}
