//! qdrant-edge against exact brute force on the same vectors: build time, recall@10 and query
//! latency (p50/p95) of both.
//!
//! Vectors: the chunks of an existing flat index (`--flat DIR`, e.g. `$CLINRAG_HOME/index/vectors`
//! of a flat-index ingest: real sentence embeddings), or `--synthetic N` clustered unit vectors
//! of dimension 384 (1,000 Gaussian clusters). Every 100th vector is held out as a query and not
//! indexed.
//!
//! ```sh
//! cargo run --release -p clinrag-retrieval --features qdrant-edge --example vector_bench -- \
//!   --flat $CLINRAG_HOME/index/vectors            # or: --synthetic 50000
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Instant;

use clinrag_retrieval::SearchFilter;
use clinrag_retrieval::qdrant_edge::{EdgeIndex, EdgeOptions};
use clinrag_retrieval::vector::{ChunkPayload, FlatIndex, VectorIndex};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Roughly normal (sum of 4 uniforms, centred).
    fn gauss(&mut self) -> f32 {
        (0..4)
            .map(|_| (self.next() % 10_000) as f32 / 10_000.0)
            .sum::<f32>()
            - 2.0
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn synthetic(n: usize, dim: usize) -> Vec<(ChunkPayload, Vec<f32>)> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let centres: Vec<Vec<f32>> = (0..1000)
        .map(|_| unit((0..dim).map(|_| r.gauss()).collect()))
        .collect();
    (0..n)
        .map(|i| {
            let c = &centres[(r.next() % 1000) as usize];
            let v = unit(c.iter().map(|x| x + 0.08 * r.gauss()).collect());
            let doc = format!("S{}", i / 3);
            (
                ChunkPayload {
                    chunk_id: format!("{doc}#{}", i % 3),
                    doc_id: doc,
                    year: Some(1990 + (i % 35) as i32),
                    source: if i % 2 == 0 { "pubmed" } else { "pmc" }.into(),
                    title: String::new(),
                    section: "abstract".into(),
                    start: 0,
                    end: 0,
                    text: String::new(),
                    doc_hash: String::new(),
                },
                v,
            )
        })
        .collect()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let tmp = tempfile::tempdir().unwrap();
    let (points, source) = match a.get(1).map(String::as_str) {
        Some("--flat") => {
            let dir = std::path::Path::new(&a[2]);
            let meta: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap())
                    .unwrap();
            let flat = FlatIndex::open(
                dir,
                meta["embedder"].as_str().unwrap(),
                meta["dim"].as_u64().unwrap() as usize,
            )
            .unwrap();
            let pts: Vec<_> = flat.iter().map(|(p, v)| (p.clone(), v.to_vec())).collect();
            (pts, format!("flat index {}", dir.display()))
        }
        Some("--synthetic") => {
            let n: usize = a[2].parse().unwrap();
            (
                synthetic(n, 384),
                format!("{n} synthetic clustered vectors"),
            )
        }
        _ => panic!("usage: vector_bench --flat DIR | --synthetic N"),
    };
    let dim = points[0].1.len();
    let (mut queries, mut indexed) = (Vec::new(), Vec::new());
    for (i, p) in points.into_iter().enumerate() {
        if i % 100 == 50 {
            queries.push(p.1);
        } else {
            indexed.push(p);
        }
    }
    // Group by document, as ingest writes them.
    let mut by_doc: std::collections::BTreeMap<String, Vec<(ChunkPayload, Vec<f32>)>> =
        Default::default();
    for p in indexed {
        by_doc.entry(p.0.doc_id.clone()).or_default().push(p);
    }
    let n: usize = by_doc.values().map(Vec::len).sum();

    let t = Instant::now();
    let mut flat = FlatIndex::open(&tmp.path().join("flat"), "bench", dim).unwrap();
    for (d, pts) in &by_doc {
        flat.upsert_document(d, pts.clone()).unwrap();
    }
    flat.commit().unwrap();
    let flat_build = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut edge = EdgeIndex::open_with(
        &tmp.path().join("edge"),
        "bench",
        dim,
        EdgeOptions::default(),
    )
    .unwrap();
    for (d, pts) in &by_doc {
        edge.upsert_document(d, pts.clone()).unwrap();
    }
    let insert = t.elapsed().as_secs_f64();
    let t2 = Instant::now();
    edge.commit().unwrap();
    let optimize = t2.elapsed().as_secs_f64();
    let edge_build = t.elapsed().as_secs_f64();
    drop(edge);
    let t = Instant::now();
    let edge = EdgeIndex::open(&tmp.path().join("edge"), "bench", dim).unwrap();
    let reopen = t.elapsed().as_secs_f64();
    assert_eq!(edge.len(), n);

    let k = 10;
    let f = SearchFilter::default();
    let filtered = SearchFilter {
        year_min: Some(2000),
        year_max: Some(2009),
        sources: vec!["pubmed".into()],
    };
    let (mut found, mut found_f, mut total, mut total_f) = (0usize, 0usize, 0usize, 0usize);
    let (mut lat_flat, mut lat_edge, mut lat_edge_f) = (Vec::new(), Vec::new(), Vec::new());
    for q in &queries {
        let t = Instant::now();
        let want: HashSet<String> = flat
            .search(q, k, &f)
            .unwrap()
            .into_iter()
            .map(|h| h.payload.chunk_id)
            .collect();
        lat_flat.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let got = edge.search(q, k, &f).unwrap();
        lat_edge.push(t.elapsed().as_secs_f64() * 1e3);
        found += got
            .iter()
            .filter(|h| want.contains(&h.payload.chunk_id))
            .count();
        total += want.len();
        let want_f: HashSet<String> = flat
            .search(q, k, &filtered)
            .unwrap()
            .into_iter()
            .map(|h| h.payload.chunk_id)
            .collect();
        let t = Instant::now();
        let got_f = edge.search(q, k, &filtered).unwrap();
        lat_edge_f.push(t.elapsed().as_secs_f64() * 1e3);
        found_f += got_f
            .iter()
            .filter(|h| want_f.contains(&h.payload.chunk_id))
            .count();
        total_f += want_f.len();
    }
    println!(
        "{}",
        serde_json::json!({
            "vectors": source,
            "indexed": n,
            "dim": dim,
            "queries": queries.len(),
            "segments": edge.segments(),
            "hnsw_indexed_vectors": edge.indexed_vectors(),
            "flat_build_s": flat_build,
            "edge_insert_s": insert,
            "edge_optimize_s": optimize,
            "edge_build_s": edge_build,
            "edge_reopen_s": reopen,
            "recall_at_10": found as f64 / total.max(1) as f64,
            "recall_at_10_filtered": found_f as f64 / total_f.max(1) as f64,
            "flat_p50_ms": pct(&mut lat_flat, 0.5),
            "flat_p95_ms": pct(&mut lat_flat, 0.95),
            "edge_p50_ms": pct(&mut lat_edge, 0.5),
            "edge_p95_ms": pct(&mut lat_edge, 0.95),
            "edge_filtered_p50_ms": pct(&mut lat_edge_f, 0.5),
            "edge_filtered_p95_ms": pct(&mut lat_edge_f, 0.95),
        })
    );
}
