//! Measures graph build, snapshot load, linker build and linker throughput on a clinrag home.
//!
//! `cargo run --release -p clinrag-kg --example kgbench -- HOME build|load|link [TEXT_DIR]`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clinrag_kg::{Linker, VocabPaths, build_graph, snapshot};

fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

fn gather(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                gather(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

/// Abstract texts from PubMed XML(.gz) is out of scope here: plain text, Markdown and the
/// `text` of JSONL lines are read as they are.
fn read_texts(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    gather(dir, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "md" || ext == "txt" {
            if let Ok(t) = std::fs::read_to_string(&f) {
                out.push(t);
            }
        } else if ext == "jsonl"
            && let Ok(t) = std::fs::read_to_string(&f)
        {
            for line in t.lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                    && let Some(s) = v.get("text").and_then(|s| s.as_str())
                {
                    out.push(s.to_string());
                }
            }
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let home = PathBuf::from(
        args.get(1)
            .ok_or("usage: kgbench HOME build|load|link [TEXT_DIR]")?,
    );
    let mode = args.get(2).map(String::as_str).unwrap_or("load");
    let snap = home.join(clinrag_kg::SNAPSHOT_PATH);
    match mode {
        "build" => {
            let t = Instant::now();
            let g = build_graph(&VocabPaths::from_home(&home))?;
            println!(
                "build: {:.2} s, {} nodes, {} edges; {}",
                t.elapsed().as_secs_f64(),
                g.node_count(),
                g.edge_count(),
                rss()
            );
            for r in g.reports() {
                println!("{r}");
            }
            let t = Instant::now();
            snapshot::save(&g, &snap)?;
            let size = std::fs::metadata(&snap)?.len();
            println!(
                "save: {:.2} s, {:.1} MB",
                t.elapsed().as_secs_f64(),
                size as f64 / 1e6
            );
        }
        "load" | "link" => {
            let before = rss();
            let t = Instant::now();
            let g = Arc::new(snapshot::load(&snap)?);
            println!(
                "load: {:.3} s, {} nodes, {} edges; before: {before}; after: {}",
                t.elapsed().as_secs_f64(),
                g.node_count(),
                g.edge_count(),
                rss()
            );
            let t = Instant::now();
            let built = Linker::new(g.clone())?;
            println!(
                "linker build: {:.3} s, {} terms; {}",
                t.elapsed().as_secs_f64(),
                built.term_count(),
                rss()
            );
            // The dictionary cache `clinrag` uses (kg/linker.bin, keyed by the snapshot): the
            // first open writes it when it is missing or stale, the second reads it.
            let key = snapshot::fingerprint(&snap)?;
            let cache = home.join(clinrag_kg::LINKER_CACHE_PATH);
            drop(built);
            for pass in ["first", "second"] {
                let t = Instant::now();
                let l = Linker::open_cached(g.clone(), &cache, key)?;
                println!(
                    "linker open_cached ({pass}): {:.3} s, {} terms; {}",
                    t.elapsed().as_secs_f64(),
                    l.term_count(),
                    rss()
                );
            }
            let linker = Linker::open_cached(g, &cache, key)?;
            if mode == "link" {
                let dir = PathBuf::from(args.get(3).ok_or("link needs TEXT_DIR")?);
                let texts = read_texts(&dir);
                let bytes: usize = texts.iter().map(String::len).sum();
                // Warm-up on the first text, then the timed pass over all.
                if let Some(t0) = texts.first() {
                    let _ = linker.link(t0);
                }
                let t = Instant::now();
                let mut mentions = 0usize;
                let mut negated = 0usize;
                for text in &texts {
                    let m = linker.link(text);
                    negated += m.iter().filter(|m| m.negated).count();
                    mentions += m.len();
                }
                let secs = t.elapsed().as_secs_f64();
                // Baselines in the same run: tokenising alone, and clinrag-phenotype's exact
                // HPO label matcher (the fallback `clinrag rare --text` uses).
                let t = Instant::now();
                let mut toks = 0usize;
                for text in &texts {
                    toks += clinrag_kg::tokenize(text).len();
                }
                let tsecs = t.elapsed().as_secs_f64();
                println!(
                    "baseline tokenize: {:.2} s = {:.2} MB/s, {toks} tokens",
                    tsecs,
                    bytes as f64 / 1e6 / tsecs
                );
                if let Ok(ont) = clinrag_phenotype::Ontology::load(home.join("vocab/hpo/hp.obo")) {
                    let matcher = clinrag_phenotype::PhenotypeMatcher::new(&ont);
                    let t = Instant::now();
                    let mut n = 0usize;
                    for text in &texts {
                        n += matcher.find(text).len();
                    }
                    let psecs = t.elapsed().as_secs_f64();
                    println!(
                        "baseline clinrag-phenotype PhenotypeMatcher (HPO only): {:.2} s = {:.2} MB/s, {n} mentions",
                        psecs,
                        bytes as f64 / 1e6 / psecs
                    );
                }
                println!(
                    "link: {} texts, {:.2} MB in {:.2} s = {:.2} MB/s, {} mentions ({} negated); {}",
                    texts.len(),
                    bytes as f64 / 1e6,
                    secs,
                    bytes as f64 / 1e6 / secs,
                    mentions,
                    negated,
                    rss()
                );
            }
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(())
}
