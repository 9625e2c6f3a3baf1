//! Measures whether graph expansion helps keyword retrieval on the BioASQ development set:
//! a plain in-memory BM25 over `corpus.jsonl` against the same BM25 with the linker's
//! expansion terms (down-weighted) and with a boost for documents mentioning a linked concept.
//!
//! `cargo run --release -p clinrag-kg --example expand_eval -- HOME BIOASQ_DIR [WEIGHT] [BOOST]`
//!
//! This is a stand-in for the lead's hybrid retrieval: it shows the direction and size of the
//! effect of the expansion on a keyword retriever, not the final hybrid figure.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use clinrag_kg::{ExpandOptions, Linker, snapshot, tokenize};

const STOP: &[&str] = &[
    "the",
    "of",
    "and",
    "in",
    "to",
    "a",
    "is",
    "for",
    "with",
    "what",
    "which",
    "are",
    "by",
    "on",
    "as",
    "be",
    "an",
    "that",
    "from",
    "or",
    "at",
    "doe",
    "do",
    "how",
    "it",
    "this",
    "there",
    "can",
    "was",
    "were",
    "associated",
    "used",
    "use",
];

struct Bm25 {
    postings: HashMap<String, Vec<(u32, u32)>>,
    len: Vec<f32>,
    avg: f32,
}

impl Bm25 {
    fn new(docs: &[String]) -> Self {
        let stop: HashSet<&str> = STOP.iter().copied().collect();
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut len = Vec::with_capacity(docs.len());
        for (i, d) in docs.iter().enumerate() {
            let mut tf: HashMap<String, u32> = HashMap::new();
            let toks = tokenize(d);
            len.push(toks.len() as f32);
            for t in toks {
                if !stop.contains(t.norm.as_str()) {
                    *tf.entry(t.norm).or_default() += 1;
                }
            }
            for (w, c) in tf {
                postings.entry(w).or_default().push((i as u32, c));
            }
        }
        let avg = len.iter().sum::<f32>() / len.len().max(1) as f32;
        Bm25 { postings, len, avg }
    }

    fn score(&self, terms: &[(String, f32)], scores: &mut [f32]) {
        let n = self.len.len() as f32;
        for (t, w) in terms {
            let Some(p) = self.postings.get(t) else {
                continue;
            };
            let idf = ((n - p.len() as f32 + 0.5) / (p.len() as f32 + 0.5) + 1.0).ln();
            for &(d, tf) in p {
                let tf = tf as f32;
                let norm = tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * self.len[d as usize] / self.avg));
                scores[d as usize] += w * idf * norm;
            }
        }
    }
}

fn query_terms(text: &str, weight: f32, out: &mut HashMap<String, f32>) {
    let stop: HashSet<&str> = STOP.iter().copied().collect();
    for t in tokenize(text) {
        if !stop.contains(t.norm.as_str()) {
            let e = out.entry(t.norm).or_insert(0.0);
            *e = e.max(weight);
        }
    }
}

fn top(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] > 0.0).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let home = PathBuf::from(
        args.get(1)
            .ok_or("usage: expand_eval HOME BIOASQ_DIR [WEIGHT] [BOOST]")?,
    );
    let dir = PathBuf::from(
        args.get(2)
            .ok_or("usage: expand_eval HOME BIOASQ_DIR [WEIGHT] [BOOST]")?,
    );
    let weight: f32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0.3);
    let boost: f32 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(0.1);
    let graph = Arc::new(snapshot::load(&home.join(clinrag_kg::SNAPSHOT_PATH))?);
    let linker = Linker::new(graph)?;

    let mut ids = Vec::new();
    let mut docs = Vec::new();
    for line in std::fs::read_to_string(dir.join("corpus.jsonl"))?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        ids.push(v["pmid"].as_str().unwrap_or("").to_string());
        docs.push(format!(
            "{} {}",
            v["title"].as_str().unwrap_or(""),
            v["text"].as_str().unwrap_or("")
        ));
    }
    let t = std::time::Instant::now();
    let doc_concepts: Vec<HashSet<String>> = docs
        .iter()
        .map(|d| {
            linker
                .concept_counts(d)
                .into_iter()
                .map(|(c, _)| c)
                .collect()
        })
        .collect();
    eprintln!(
        "linked {} documents in {:.1} s",
        docs.len(),
        t.elapsed().as_secs_f64()
    );
    let bm25 = Bm25::new(&docs);

    let mut questions = Vec::new();
    for line in std::fs::read_to_string(dir.join("questions.jsonl"))?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let gold: HashSet<String> = v["gold_pmids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        questions.push((v["question"].as_str().unwrap_or("").to_string(), gold));
    }
    let variants = [
        "plain BM25",
        "+ expansion terms",
        "+ concept boost",
        "+ both",
    ];
    let mut recall = [0f64; 4];
    let mut mrr = [0f64; 4];
    let mut expanded_questions = 0usize;
    for (q, gold) in &questions {
        let e = linker.expand(q, ExpandOptions::default());
        if !e.terms.is_empty() {
            expanded_questions += 1;
        }
        let concepts: HashSet<&str> = e.concepts.iter().map(|c| c.id.as_str()).collect();
        for (v, slot) in recall.iter_mut().enumerate() {
            let mut terms = HashMap::new();
            query_terms(q, 1.0, &mut terms);
            if v == 1 || v == 3 {
                for t in &e.terms {
                    query_terms(&t.term, weight, &mut terms);
                }
            }
            let terms: Vec<(String, f32)> = terms.into_iter().collect();
            let mut scores = vec![0f32; docs.len()];
            bm25.score(&terms, &mut scores);
            if (v == 2 || v == 3) && !concepts.is_empty() {
                let max = scores.iter().copied().fold(0f32, f32::max);
                for (d, s) in scores.iter_mut().enumerate() {
                    let shared = doc_concepts[d]
                        .iter()
                        .filter(|c| concepts.contains(c.as_str()))
                        .count();
                    if shared > 0 && *s > 0.0 {
                        *s += boost * max * shared as f32 / concepts.len() as f32;
                    }
                }
            }
            let hits = top(&scores, 10);
            let found = hits.iter().filter(|&&d| gold.contains(&ids[d])).count();
            *slot += found as f64 / gold.len().max(1) as f64;
            if let Some(r) = hits.iter().position(|&d| gold.contains(&ids[d])) {
                mrr[v] += 1.0 / (r as f64 + 1.0);
            }
        }
    }
    let n = questions.len() as f64;
    println!(
        "{} questions ({} with expansion terms), {} documents; weight {weight}, boost {boost}",
        questions.len(),
        expanded_questions,
        docs.len()
    );
    for (v, name) in variants.iter().enumerate() {
        println!(
            "{name:<20} recall@10 {:.4}  MRR@10 {:.4}",
            recall[v] / n,
            mrr[v] / n
        );
    }
    Ok(())
}
