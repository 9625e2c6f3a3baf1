//! The vector index suite (run against every [`VectorIndex`] implementation available here),
//! hybrid search over a keyword index and a vector index, and the catalog-to-vectors repair.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::{Arc, RwLock};

use clinrag_retrieval::embed::{EmbedResult, Embedder};
use clinrag_retrieval::fusion::{HybridSearcher, SearchMode};
use clinrag_retrieval::vector::{
    ChunkPayload, FlatIndex, VectorError, VectorIndex, sync_from_catalog,
};
use clinrag_retrieval::{Catalog, Chunk, Document, KeywordIndex, SearchFilter};

/// A deterministic bag-of-words embedder: each lower-cased word hashes to one of 64 axes.
struct HashEmbedder;

impl Embedder for HashEmbedder {
    fn name(&self) -> &str {
        "hash-64"
    }
    fn dim(&self) -> usize {
        64
    }
    fn embed(&self, texts: &[String]) -> EmbedResult<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| hash_vec(t)).collect())
    }
}

fn hash_vec(t: &str) -> Vec<f32> {
    let mut v = vec![0f32; 64];
    for w in t
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = w
            .to_lowercase()
            .bytes()
            .fold(1469598103934665603u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(1099511628211)
            });
        v[(h % 64) as usize] += 1.0;
    }
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter().map(|x| x / n).collect()
}

fn payload(doc: &str, ord: u32, year: i32, source: &str, text: &str) -> ChunkPayload {
    ChunkPayload {
        chunk_id: format!("{doc}#{ord}"),
        doc_id: doc.into(),
        year: Some(year),
        source: source.into(),
        title: format!("title of {doc}"),
        section: "abstract".into(),
        start: 0,
        end: text.chars().count(),
        text: text.into(),
        doc_hash: String::new(),
    }
}

/// A pseudo-random unit vector (xorshift), reproducible from `seed`.
fn rand_vec(seed: u64, dim: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let v: Vec<f32> = (0..dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

/// The shared suite: `open(dir)` opens the implementation under test in `dir` for dimension 8.
/// `discards_uncommitted`: whether changes after the last commit are gone after a drop and
/// reopen (the flat index), or kept (Qdrant flushes on drop); both are consistent states that
/// `sync_from_catalog` repairs from the catalog.
fn suite(open: &dyn Fn(&Path) -> Box<dyn VectorIndex>, discards_uncommitted: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut idx = open(&dir);
    assert!(idx.is_empty());
    // 30 documents of 3 chunks; years 2000..2029, two sources.
    let mut all = Vec::new();
    for d in 0..30u64 {
        let doc = format!("D{d}");
        let src = if d % 2 == 0 { "pubmed" } else { "pmc" };
        let points: Vec<_> = (0..3u32)
            .map(|o| {
                let v = rand_vec(d * 10 + u64::from(o), 8);
                all.push((format!("{doc}#{o}"), v.clone(), 2000 + d as i32, src));
                (payload(&doc, o, 2000 + d as i32, src, "x"), v)
            })
            .collect();
        idx.upsert_document(&doc, points).unwrap();
    }
    assert_eq!(idx.len(), 90);
    // Exact order against a naive scan.
    let q = rand_vec(999, 8);
    let mut naive: Vec<(f32, String)> = all
        .iter()
        .map(|(id, v, _, _)| (v.iter().zip(&q).map(|(a, b)| a * b).sum(), id.clone()))
        .collect();
    naive.sort_by(|a, b| b.0.total_cmp(&a.0));
    let hits = idx.search(&q, 10, &SearchFilter::default()).unwrap();
    let got: Vec<&str> = hits.iter().map(|h| h.payload.chunk_id.as_str()).collect();
    let want: Vec<&str> = naive.iter().take(10).map(|x| x.1.as_str()).collect();
    assert_eq!(got, want);
    assert!((hits[0].score - naive[0].0).abs() < 1e-5);
    // Filters.
    let f = SearchFilter {
        year_min: Some(2010),
        year_max: Some(2014),
        sources: vec!["pmc".into()],
    };
    let hits = idx.search(&q, 100, &f).unwrap();
    assert_eq!(
        hits.len(),
        3 * 2,
        "odd documents 2011 and 2013, three chunks each"
    );
    assert!(
        hits.iter()
            .all(|h| h.payload.source == "pmc" && (2010..=2014).contains(&h.payload.year.unwrap()))
    );
    // Replace and delete by document.
    idx.upsert_document(
        "D0",
        vec![(payload("D0", 0, 2000, "pubmed", "new"), q.clone())],
    )
    .unwrap();
    assert_eq!(idx.len(), 88);
    let top = idx.search(&q, 1, &SearchFilter::default()).unwrap();
    assert_eq!(top[0].payload.chunk_id, "D0#0");
    assert_eq!(top[0].payload.text, "new");
    assert!(idx.delete_document("D1").unwrap());
    assert!(!idx.delete_document("D1").unwrap());
    assert_eq!(idx.len(), 85);
    assert!(!idx.doc_ids().unwrap().contains("D1"));
    // Wrong dimension.
    assert!(matches!(
        idx.search(&[1.0, 0.0], 3, &SearchFilter::default()),
        Err(VectorError::Dimension {
            expected: 8,
            got: 2
        })
    ));
    assert!(matches!(
        idx.upsert_document("X", vec![(payload("X", 0, 2000, "pubmed", "x"), vec![1.0])]),
        Err(VectorError::Dimension { .. })
    ));
    // Durable after commit, uncommitted changes lost.
    idx.commit().unwrap();
    idx.delete_document("D2").unwrap();
    drop(idx);
    let idx = open(&dir);
    let (n, docs) = if discards_uncommitted {
        (85, 29)
    } else {
        (82, 28)
    };
    assert_eq!(idx.len(), n);
    assert_eq!(idx.doc_ids().unwrap().len(), docs);
    assert_eq!(
        idx.doc_hashes().unwrap().len(),
        docs,
        "doc_hashes lists the same documents"
    );
    let top = idx.search(&q, 1, &SearchFilter::default()).unwrap();
    assert_eq!(top[0].payload.chunk_id, "D0#0");
    assert!(
        idx.search(&q, 0, &SearchFilter::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn flat_index_passes_the_suite() {
    suite(
        &|dir: &Path| -> Box<dyn VectorIndex> {
            Box::new(FlatIndex::open(dir, "test-embedder", 8).unwrap())
        },
        true,
    );
}

#[test]
fn open_index_dispatches_on_the_recorded_kind() {
    use clinrag_retrieval::vector::{default_kind, open_index};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut idx = open_index(&dir, "m", 8, Some("flat")).unwrap();
    assert_eq!(idx.meta().kind, "flat");
    idx.upsert_document(
        "D",
        vec![(payload("D", 0, 2000, "pubmed", "x"), rand_vec(1, 8))],
    )
    .unwrap();
    idx.commit().unwrap();
    drop(idx);
    // Without a kind, the recorded one is opened (whatever the build's default is).
    let idx = open_index(&dir, "m", 8, None).unwrap();
    assert_eq!((idx.meta().kind.as_str(), idx.len()), ("flat", 1));
    drop(idx);
    // Asking for another kind, or an unknown recorded kind, is a clear error; nothing rewritten.
    let before = std::fs::read(dir.join("meta.json")).unwrap();
    match open_index(&dir, "m", 8, Some("qdrant-edge")) {
        Err(e @ VectorError::KindMismatch { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("flat") && msg.contains("qdrant-edge"), "{msg}");
        }
        Err(e) => panic!("expected KindMismatch, got {e}"),
        Ok(_) => panic!("expected KindMismatch, got an open index"),
    }
    let meta = String::from_utf8(before.clone())
        .unwrap()
        .replace("\"flat\"", "\"hnsw-x\"");
    std::fs::write(dir.join("meta.json"), &meta).unwrap();
    assert!(matches!(
        open_index(&dir, "m", 8, None),
        Err(VectorError::KindMismatch { .. })
    ));
    assert!(matches!(
        FlatIndex::open(&dir, "m", 8),
        Err(VectorError::KindMismatch { .. })
    ));
    // A new folder gets the build's default kind.
    let idx = open_index(&tmp.path().join("w"), "m", 8, None).unwrap();
    assert_eq!(idx.meta().kind, default_kind());
}

#[cfg(feature = "qdrant-edge")]
mod edge {
    use super::*;
    use clinrag_retrieval::qdrant_edge::{EdgeIndex, EdgeOptions};

    #[test]
    fn qdrant_edge_index_passes_the_suite() {
        suite(
            &|dir: &Path| -> Box<dyn VectorIndex> {
                Box::new(EdgeIndex::open(dir, "test-embedder", 8).unwrap())
            },
            false,
        );
    }

    #[test]
    fn qdrant_edge_refuses_another_embedder_and_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("v");
        let mut idx = EdgeIndex::open(&dir, "model-a", 8).unwrap();
        idx.upsert_document(
            "D",
            vec![(payload("D", 0, 2000, "pubmed", "x"), rand_vec(1, 8))],
        )
        .unwrap();
        idx.commit().unwrap();
        drop(idx);
        assert!(matches!(
            EdgeIndex::open(&dir, "model-b", 8),
            Err(VectorError::EmbedderMismatch { .. })
        ));
        assert!(matches!(
            EdgeIndex::open(&dir, "model-a", 384),
            Err(VectorError::EmbedderMismatch { .. })
        ));
        assert!(matches!(
            FlatIndex::open(&dir, "model-a", 8),
            Err(VectorError::KindMismatch { .. })
        ));
        let idx = EdgeIndex::open(&dir, "model-a", 8).unwrap();
        assert_eq!(idx.len(), 1, "nothing was rewritten by the refused opens");
    }

    /// The HNSW graph is really built and searched (a tiny indexing threshold), and its top 10
    /// agree with the exact scan on nearly every query.
    #[test]
    fn qdrant_edge_graph_search_recall_against_exact() {
        let tmp = tempfile::tempdir().unwrap();
        let dim = 32;
        let opts = EdgeOptions {
            indexing_threshold_kb: Some(10),
            full_scan_threshold_kb: 1,
            ..Default::default()
        };
        let mut idx = EdgeIndex::open_with(&tmp.path().join("e"), "m", dim, opts).unwrap();
        let mut flat = FlatIndex::open(&tmp.path().join("f"), "m", dim).unwrap();
        for d in 0..300u64 {
            let doc = format!("D{d}");
            let pts: Vec<_> = (0..5u32)
                .map(|o| {
                    (
                        payload(&doc, o, 2000 + (d % 20) as i32, "pubmed", "x"),
                        rand_vec(d * 7 + u64::from(o) + 1, dim),
                    )
                })
                .collect();
            idx.upsert_document(&doc, pts.clone()).unwrap();
            flat.upsert_document(&doc, pts).unwrap();
        }
        idx.commit().unwrap();
        assert_eq!(idx.len(), 1500);
        assert!(idx.indexed_vectors() > 0, "no HNSW graph was built");
        let (mut found, mut total) = (0usize, 0usize);
        for q in 0..50u64 {
            let qv = rand_vec(100_000 + q, dim);
            let want: std::collections::HashSet<String> = flat
                .search(&qv, 10, &SearchFilter::default())
                .unwrap()
                .into_iter()
                .map(|h| h.payload.chunk_id)
                .collect();
            let got = idx.search(&qv, 10, &SearchFilter::default()).unwrap();
            assert_eq!(got.len(), 10);
            found += got
                .iter()
                .filter(|h| want.contains(&h.payload.chunk_id))
                .count();
            total += 10;
            let exact = idx.search_exact(&qv, 10, &SearchFilter::default()).unwrap();
            let exact: std::collections::HashSet<String> =
                exact.into_iter().map(|h| h.payload.chunk_id).collect();
            assert_eq!(exact, want, "Qdrant's exact scan equals the flat index");
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.95, "recall@10 {recall}");
        // Filters still apply on the graph path.
        let f = SearchFilter {
            year_min: Some(2005),
            year_max: Some(2006),
            sources: vec![],
        };
        let hits = idx.search(&rand_vec(5, dim), 20, &f).unwrap();
        assert_eq!(hits.len(), 20);
        assert!(
            hits.iter()
                .all(|h| matches!(h.payload.year, Some(2005 | 2006)))
        );
    }
}

#[test]
fn flat_index_refuses_another_embedder_and_corrupt_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut idx = FlatIndex::open(&dir, "model-a", 8).unwrap();
    idx.upsert_document(
        "D",
        vec![(payload("D", 0, 2000, "pubmed", "x"), rand_vec(1, 8))],
    )
    .unwrap();
    idx.commit().unwrap();
    let before = std::fs::read(dir.join("flat.bin")).unwrap();
    match FlatIndex::open(&dir, "model-b", 8) {
        Err(e @ VectorError::EmbedderMismatch { .. }) => {
            assert!(e.to_string().contains("model-a") && e.to_string().contains("model-b"));
        }
        other => panic!("expected EmbedderMismatch, got {other:?}"),
    }
    assert!(matches!(
        FlatIndex::open(&dir, "model-a", 384),
        Err(VectorError::EmbedderMismatch {
            found_dim: 8,
            expected_dim: 384,
            ..
        })
    ));
    assert_eq!(
        std::fs::read(dir.join("flat.bin")).unwrap(),
        before,
        "nothing rewritten"
    );
    std::fs::write(dir.join("flat.bin"), &before[..before.len() - 5]).unwrap();
    assert!(matches!(
        FlatIndex::open(&dir, "model-a", 8),
        Err(VectorError::Corrupt { .. })
    ));
    std::fs::write(dir.join("flat.bin"), b"garbage").unwrap();
    assert!(matches!(
        FlatIndex::open(&dir, "model-a", 8),
        Err(VectorError::Corrupt { .. })
    ));
}

fn doc(id: &str, year: i32, title: &str, text: &str) -> (Document, Vec<Chunk>) {
    let body = format!("{title}\n\n{text}");
    let n = body.chars().count();
    let mut d = Document {
        doc_id: id.into(),
        source: "pubmed".into(),
        source_path: "t.xml".into(),
        title: title.into(),
        authors: vec![],
        journal: None,
        year: Some(year),
        mesh: vec![],
        doi: None,
        body,
        sections: vec![],
        content_hash: String::new(),
    };
    d.content_hash = d.compute_hash();
    let c = Chunk {
        chunk_id: Chunk::make_id(id, 0),
        doc_id: id.into(),
        ord: 0,
        section: "abstract".into(),
        start: 0,
        end: n,
    };
    (d, vec![c])
}

#[tokio::test]
async fn catalog_sync_repairs_vectors_and_hybrid_search_fuses() {
    let tmp = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&Catalog::sqlite_url(tmp.path()))
        .await
        .unwrap();
    let docs = vec![
        doc(
            "PMID:1",
            2001,
            "Heart failure",
            "Diuretics relieve congestion in heart failure.",
        ),
        doc(
            "PMID:2",
            2010,
            "Asthma",
            "Inhaled corticosteroids control asthma.",
        ),
        doc(
            "PMID:3",
            2020,
            "Kidney",
            "Renal failure and dialysis outcomes.",
        ),
        doc(
            "PMID:4",
            2021,
            "Fever",
            "Fever of unknown origin in children.",
        ),
    ];
    let run = catalog.begin_run(&["t.xml".into()]).await.unwrap();
    catalog.put_documents(run, &docs, &[]).await.unwrap();
    let kw = KeywordIndex::open_or_create(&tmp.path().join("kw")).unwrap();
    let mut w = kw.writer().unwrap();
    for (d, c) in &docs {
        w.replace_document(d, c, &[]).unwrap();
    }
    w.commit().unwrap();
    w.finish().unwrap();

    let emb: Arc<dyn Embedder> = Arc::new(HashEmbedder);
    let vdir = tmp.path().join("vectors");
    let mut idx = FlatIndex::open(&vdir, emb.name(), emb.dim()).unwrap();
    let r = sync_from_catalog(&catalog, emb.clone(), &mut idx, 3, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (r.embedded_documents, r.embedded_chunks, r.removed_documents),
        (4, 4, 0)
    );
    // Losing a document (a crash between catalog and vectors) is repaired; an orphan removed.
    idx.delete_document("PMID:3").unwrap();
    idx.upsert_document(
        "PMID:99",
        vec![(payload("PMID:99", 0, 2000, "pubmed", "x"), hash_vec("x"))],
    )
    .unwrap();
    idx.commit().unwrap();
    let r = sync_from_catalog(&catalog, emb.clone(), &mut idx, 3, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((r.embedded_documents, r.removed_documents), (1, 1));
    let ids: Vec<String> = idx.doc_ids().unwrap().into_iter().collect();
    assert_eq!(ids, ["PMID:1", "PMID:2", "PMID:3", "PMID:4"]);
    let r = sync_from_catalog(&catalog, emb.clone(), &mut idx, 3, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(r.embedded_documents, 0, "nothing to do when consistent");
    // A document re-ingested with new content is embedded again.
    let changed = doc(
        "PMID:2",
        2010,
        "Asthma",
        "Inhaled corticosteroids and montelukast.",
    );
    let run = catalog.begin_run(&["t.xml".into()]).await.unwrap();
    catalog
        .put_documents(run, std::slice::from_ref(&changed), &[])
        .await
        .unwrap();
    let r = sync_from_catalog(&catalog, emb.clone(), &mut idx, 3, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((r.embedded_documents, r.removed_documents), (1, 0));
    let top = idx
        .search(&hash_vec("montelukast"), 1, &SearchFilter::default())
        .unwrap();
    assert_eq!(top[0].payload.doc_id, "PMID:2");

    let vectors: Arc<RwLock<dyn VectorIndex>> = Arc::new(RwLock::new(idx));
    let s = HybridSearcher::new(kw.clone()).with_dense(emb, vectors);
    let f = SearchFilter::default();
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        let hits = s.search("renal failure dialysis", 3, mode, &f).unwrap();
        assert_eq!(hits[0].doc_id, "PMID:3", "{mode:?}");
        assert_eq!(hits[0].rank, 1);
        assert_eq!(hits[0].text, docs[2].0.body, "{mode:?}: citation text");
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
    // Filters apply to both retrievers.
    let f = SearchFilter {
        year_min: Some(2015),
        ..Default::default()
    };
    let hits = s.search("failure", 5, SearchMode::Hybrid, &f).unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| h.doc_id == "PMID:3" || h.doc_id == "PMID:4")
    );
    // Bad queries and a missing vector index are clear errors.
    assert!(s.search("   ", 5, SearchMode::Hybrid, &f).is_err());
    assert!(
        s.search(&"a".repeat(100_000), 5, SearchMode::Dense, &f)
            .is_err()
    );
    let bm25_only = HybridSearcher::new(kw);
    assert!(matches!(
        bm25_only.search("fever", 5, SearchMode::Dense, &f),
        Err(clinrag_retrieval::SearchError::NoVectors)
    ));
}

#[cfg(feature = "qdrant-server")]
mod server {
    use super::*;
    use clinrag_retrieval::qdrant_server::{ServerIndex, ServerOptions};

    fn options(url: &str, dir: &Path) -> ServerOptions {
        let mut o = ServerOptions::from_env(url);
        // One fresh collection per test folder.
        o.collection = format!(
            "clinrag_test_{:x}",
            clinrag_retrieval::vector::point_id(&dir.display().to_string())
        );
        o
    }

    /// Runs against a real server: `CLINRAG_TEST_QDRANT_URL=http://localhost:6334` (see
    /// docs/arch/dense.md); skipped (with a note) when it is not set.
    #[test]
    fn qdrant_server_index_passes_the_suite() {
        let Ok(url) = std::env::var("CLINRAG_TEST_QDRANT_URL") else {
            eprintln!("skipped: set CLINRAG_TEST_QDRANT_URL to a Qdrant server's gRPC URL");
            return;
        };
        suite(
            &|dir: &Path| -> Box<dyn VectorIndex> {
                Box::new(ServerIndex::open(dir, "test-embedder", 8, options(&url, dir)).unwrap())
            },
            false,
        );
    }

    /// No server: a clear error naming the URL, after the retries, in bounded time.
    #[test]
    fn unreachable_server_is_a_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let tmp = tempfile::tempdir().unwrap();
        let mut o = ServerOptions::new(&url);
        o.attempts = 3;
        o.backoff = std::time::Duration::from_millis(20);
        let t = std::time::Instant::now();
        match ServerIndex::open(&tmp.path().join("v"), "m", 8, o) {
            Err(e @ VectorError::Backend(_)) => {
                assert!(e.to_string().contains(&url), "{e}");
            }
            other => panic!("expected a backend error, got {other:?}"),
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(20));
    }
}
