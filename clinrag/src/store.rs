//! Opening the stores every command shares: the catalog (SQLite in the home folder unless a
//! database URL is given) and the keyword index.

use anyhow::Context;
use clinrag_ingest::{IngestConfig, Ingestor};
use std::sync::{Arc, RwLock};

use clinrag_retrieval::embed::{BertEmbedder, BertOptions, Embedder};
use clinrag_retrieval::vector::{FlatIndex, VectorIndex, sync_from_catalog};
use clinrag_retrieval::{Catalog, HybridSearcher, KeywordIndex};

use crate::Global;

/// Folder of the keyword index inside the home folder.
pub const KEYWORD_DIR: &str = "index/keyword";

/// Opens (and migrates) the catalog.
pub async fn catalog(g: &Global) -> anyhow::Result<Catalog> {
    std::fs::create_dir_all(&g.home)
        .with_context(|| format!("cannot create the home folder {}", g.home.display()))?;
    let url = g
        .database_url
        .clone()
        .unwrap_or_else(|| Catalog::sqlite_url(&g.home));
    Catalog::open(&url)
        .await
        .context("cannot open the catalog database")
}

/// Opens the keyword index, creating it when missing.
pub fn keyword(g: &Global) -> anyhow::Result<KeywordIndex> {
    Ok(KeywordIndex::open_or_create(&g.path(KEYWORD_DIR))?)
}

/// Folder of the vector index inside the home folder.
pub const VECTOR_DIR: &str = "index/vectors";
/// Folder of the embedding model inside the home folder.
pub const EMBED_MODEL_DIR: &str = "models/all-minilm-l6-v2";

/// Loads the embedding model when it is installed (`None` when its folder is absent; an error
/// when it is there but incomplete or corrupt).
pub fn embedder(g: &Global) -> anyhow::Result<Option<Arc<BertEmbedder>>> {
    let dir = g.path(EMBED_MODEL_DIR);
    if !dir.is_dir() {
        return Ok(None);
    }
    Ok(Some(Arc::new(BertEmbedder::load(
        &dir,
        BertOptions::default(),
    )?)))
}

/// The searcher: BM25, plus dense and hybrid modes when the vector index and the model exist.
pub fn searcher(g: &Global) -> anyhow::Result<HybridSearcher> {
    let s = HybridSearcher::new(keyword(g)?);
    let vdir = g.path(VECTOR_DIR);
    if !FlatIndex::exists(&vdir) {
        return Ok(s);
    }
    let Some(e) = embedder(g)? else {
        return Ok(s);
    };
    let idx = FlatIndex::open(&vdir, e.name(), e.dim())?;
    let idx: Arc<RwLock<dyn VectorIndex>> = Arc::new(RwLock::new(idx));
    Ok(s.with_dense(e, idx))
}

/// Keeps the vector index in line with the catalog after each ingest run and recovery.
struct VectorSync {
    embedder: Arc<BertEmbedder>,
    dir: std::path::PathBuf,
}

impl clinrag_ingest::DerivedIndex for VectorSync {
    fn sync<'a>(
        &'a self,
        catalog: &'a Catalog,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>
    {
        Box::pin(async move {
            let mut idx = FlatIndex::open(&self.dir, self.embedder.name(), self.embedder.dim())
                .map_err(|e| e.to_string())?;
            let r = sync_from_catalog(catalog, self.embedder.clone(), &mut idx, 256, &|n| {
                tracing::debug!("embedded {n} documents");
            })
            .await
            .map_err(|e| e.to_string())?;
            let st = self.embedder.stats();
            Ok(format!(
                "vectors: {} documents ({} chunks) embedded, {} removed in {:.1} s; {} inputs truncated so far",
                r.embedded_documents,
                r.embedded_chunks,
                r.removed_documents,
                r.seconds,
                st.truncated
            ))
        })
    }
}

/// Opens both and builds an ingestor. The vector index is kept in line with the catalog when it
/// exists; `embed` creates it (embedding is opt-in: on this CPU it costs minutes per thousand
/// documents, see BENCHMARKS.md).
pub async fn ingestor(g: &Global, cfg: IngestConfig, embed: bool) -> anyhow::Result<Ingestor> {
    let ing = Ingestor::new(catalog(g).await?, keyword(g)?, cfg);
    if !embed && !FlatIndex::exists(&g.path(VECTOR_DIR)) {
        return Ok(ing);
    }
    Ok(match embedder(g)? {
        Some(embedder) => ing.with_derived(Arc::new(VectorSync {
            embedder,
            dir: g.path(VECTOR_DIR),
        })),
        None => ing,
    })
}

/// Reads a JSONL batch file: one `(id, object)` per non-empty line, or the line's parse error.
pub fn read_batch(
    path: &std::path::Path,
) -> anyhow::Result<Vec<(serde_json::Value, Result<serde_json::Value, String>)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read batch file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => {
                let id = v.get("id").cloned().unwrap_or(serde_json::Value::Null);
                out.push((id, Ok(v)));
            }
            Ok(_) => out.push((
                serde_json::json!(format!("line {}", i + 1)),
                Err("line is not a JSON object".into()),
            )),
            Err(e) => out.push((
                serde_json::json!(format!("line {}", i + 1)),
                Err(format!("line {} is not valid JSON: {e}", i + 1)),
            )),
        }
    }
    Ok(out)
}

/// The `{"id", "error"}` line for a batch line (0-based `n`) that is not a valid request: the
/// `id` is kept when the line is JSON with one, so callers can match answers to requests.
pub fn bad_batch_line(line: &str, n: usize, err: impl std::fmt::Display) -> serde_json::Value {
    let id = serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({ "id": id, "error": format!("line {}: not a request: {err}", n + 1) })
}
