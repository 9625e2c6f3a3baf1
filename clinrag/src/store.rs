//! Opening the stores every command shares: the catalog (SQLite in the home folder unless a
//! database URL is given) and the keyword index.

use anyhow::Context;
use clinrag_ingest::{IngestConfig, Ingestor};
use std::sync::{Arc, RwLock};

use clinrag_retrieval::embed::{BertEmbedder, BertOptions, Embedder};
use clinrag_retrieval::openai_embed::{OpenAiEmbedConfig, OpenAiEmbedder};
use clinrag_retrieval::vector::{FlatIndex, VectorIndex, open_index, sync_from_catalog};
use clinrag_retrieval::{Catalog, HybridSearcher, KeywordIndex};

use crate::Global;

/// Folder of the keyword index inside the home folder.
pub const KEYWORD_DIR: &str = "index/keyword";

/// Written into the home folder by `clinrag restore` before it replaces anything and removed
/// once every file is in place; while it is there the home is refused (see [`catalog`]).
pub const RESTORE_MARKER: &str = "restore-incomplete";

/// Opens (and migrates) the catalog. A home left by an interrupted `restore` is refused.
pub async fn catalog(g: &Global) -> anyhow::Result<Catalog> {
    std::fs::create_dir_all(&g.home)
        .with_context(|| format!("cannot create the home folder {}", g.home.display()))?;
    let marker = g.path(RESTORE_MARKER);
    if marker.exists() {
        let from = std::fs::read_to_string(&marker).unwrap_or_default();
        anyhow::bail!(
            "{} holds an interrupted restore (of the backup {}): its catalog and indexes are incomplete; run `clinrag restore --force {}` again",
            g.home.display(),
            from.trim(),
            if from.trim().is_empty() {
                "BACKUP_DIR"
            } else {
                from.trim()
            }
        );
    }
    if g.database_url.is_none() {
        let file = g.path("catalog.db");
        if let Err(e) = write_probe(&file) {
            // A read-only file system or file: the reading commands still work.
            tracing::info!(
                "{} is not writable ({e}): opening the catalog read-only",
                file.display()
            );
            return Catalog::open_read_only(&file).await.with_context(|| {
                format!(
                    "cannot open the catalog database {} read-only",
                    file.display()
                )
            });
        }
    }
    let url = g
        .database_url
        .clone()
        .unwrap_or_else(|| Catalog::sqlite_url(&g.home));
    Catalog::open(&url)
        .await
        .context("cannot open the catalog database")
}

/// `Err` when `file` exists and cannot be opened for writing (read-only file system, no write
/// permission); opening for writing changes nothing in the file.
fn write_probe(file: &std::path::Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fails, naming the path, when the home folder, its catalog file or its keyword index cannot
/// be written: commands that write call it first, so that a read-only home gives one clear
/// error before anything starts.
pub fn ensure_writable(g: &Global) -> anyhow::Result<()> {
    let mut files = vec![g.path(&format!("{KEYWORD_DIR}/meta.json"))];
    if g.database_url.is_none() {
        files.push(g.path("catalog.db"));
    }
    for f in files {
        write_probe(&f).with_context(|| format!("cannot write {}", f.display()))?;
    }
    for dir in [g.home.clone(), g.path(KEYWORD_DIR)] {
        if !dir.is_dir() {
            continue;
        }
        let probe = dir.join(format!(".clinrag-write-probe-{}", std::process::id()));
        std::fs::File::create(&probe)
            .and_then(|_| std::fs::remove_file(&probe))
            .with_context(|| format!("cannot write in {}", dir.display()))?;
    }
    Ok(())
}

/// Opens the keyword index, creating it when missing.
pub fn keyword(g: &Global) -> anyhow::Result<KeywordIndex> {
    Ok(KeywordIndex::open_or_create(&g.path(KEYWORD_DIR))?)
}

/// Folder of the vector index inside the home folder.
pub const VECTOR_DIR: &str = "index/vectors";
/// Folder of the embedding model inside the home folder.
pub const EMBED_MODEL_DIR: &str = "models/all-minilm-l6-v2";

/// The sentence embedder: an OpenAI-compatible endpoint when `CLINRAG_EMBED_BASE_URL` is set
/// (model from `CLINRAG_EMBED_MODEL`, key from `CLINRAG_EMBED_API_KEY`), else the local model
/// when it is installed (`None` when its folder is absent; an error when it is there but
/// incomplete or corrupt).
pub fn embedder(g: &Global) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    if let Some(cfg) = OpenAiEmbedConfig::from_env()? {
        let e = OpenAiEmbedder::connect(cfg)
            .context("cannot use the embeddings endpoint of CLINRAG_EMBED_BASE_URL")?;
        return Ok(Some(Arc::new(e)));
    }
    let dir = g.path(EMBED_MODEL_DIR);
    if !dir.is_dir() {
        return Ok(None);
    }
    Ok(Some(Arc::new(BertEmbedder::load(
        &dir,
        BertOptions::default(),
    )?)))
}

/// Whether [`embedder`] would find an embedder: an endpoint in the environment or the local
/// model's folder (without loading it).
pub fn embedder_installed(g: &Global) -> bool {
    std::env::var_os("CLINRAG_EMBED_BASE_URL").is_some() || g.path(EMBED_MODEL_DIR).is_dir()
}

/// The URL of the Qdrant server from the environment (`CLINRAG_QDRANT_URL`), if set.
pub fn qdrant_url_from_env() -> Option<String> {
    std::env::var("CLINRAG_QDRANT_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Opens the vector index of the home folder for `embedder`: a collection on the Qdrant server
/// at `qdrant_url` when given, else the implementation recorded in `index/vectors/meta.json`
/// (a new folder gets the build's default: qdrant-edge with that feature, else flat).
pub fn vector_index(
    g: &Global,
    embedder: &dyn Embedder,
    qdrant_url: Option<&str>,
) -> anyhow::Result<Box<dyn VectorIndex>> {
    let dir = g.path(VECTOR_DIR);
    match qdrant_url {
        Some(url) => open_server(&dir, embedder, url),
        None => Ok(open_index(&dir, embedder.name(), embedder.dim(), None)?),
    }
}

#[cfg(feature = "qdrant-server")]
fn open_server(
    dir: &std::path::Path,
    e: &dyn Embedder,
    url: &str,
) -> anyhow::Result<Box<dyn VectorIndex>> {
    use clinrag_retrieval::qdrant_server::{ServerIndex, ServerOptions};
    let idx = ServerIndex::open(dir, e.name(), e.dim(), ServerOptions::from_env(url))
        .with_context(|| format!("cannot use the Qdrant server at {url}"))?;
    Ok(Box::new(idx))
}

#[cfg(not(feature = "qdrant-server"))]
fn open_server(
    _dir: &std::path::Path,
    _e: &dyn Embedder,
    url: &str,
) -> anyhow::Result<Box<dyn VectorIndex>> {
    anyhow::bail!(
        "a Qdrant server ({url}, from --qdrant-url or CLINRAG_QDRANT_URL) was given, but this clinrag was built without the `qdrant-server` feature (cargo build --release --features qdrant-server)"
    )
}

/// The searcher: BM25, plus dense and hybrid modes when the vector index and the model exist
/// (the Qdrant server from `CLINRAG_QDRANT_URL` when set).
pub fn searcher(g: &Global) -> anyhow::Result<HybridSearcher> {
    searcher_at(g, qdrant_url_from_env().as_deref())
}

/// [`searcher`] with the vectors on the Qdrant server at `qdrant_url` when given.
pub fn searcher_at(g: &Global, qdrant_url: Option<&str>) -> anyhow::Result<HybridSearcher> {
    let s = HybridSearcher::new(keyword(g)?);
    if !FlatIndex::exists(&g.path(VECTOR_DIR)) {
        return Ok(s);
    }
    let Some(e) = embedder(g)? else {
        return Ok(s);
    };
    let idx = vector_index(g, e.as_ref(), qdrant_url)?;
    let idx: Arc<RwLock<dyn VectorIndex>> = Arc::new(RwLock::new(idx));
    Ok(s.with_dense(e, idx))
}

/// Keeps the vector index in line with the catalog after each ingest run and recovery.
struct VectorSync {
    embedder: Arc<dyn Embedder>,
    g: Global,
    qdrant_url: Option<String>,
}

impl clinrag_ingest::DerivedIndex for VectorSync {
    fn sync<'a>(
        &'a self,
        catalog: &'a Catalog,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>
    {
        Box::pin(async move {
            let mut idx = vector_index(&self.g, self.embedder.as_ref(), self.qdrant_url.as_deref())
                .map_err(|e| format!("{e:#}"))?;
            let kind = idx.meta().kind.clone();
            // Embedding is the slow part of a large ingest: show it (stderr, terminals only).
            let bar = if self.g.json {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::with_draw_target(
                    None,
                    indicatif::ProgressDrawTarget::stderr(),
                )
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "embedding {bar:30} {pos}/{len} documents [{elapsed} < {eta}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let cut_before = self.embedder.truncated();
            let r = sync_from_catalog(catalog, self.embedder.clone(), &mut *idx, 256, &|n, of| {
                bar.set_length(of);
                bar.set_position(n);
                tracing::debug!("embedded {n} of {of} documents");
            })
            .await
            .map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            let cut = self.embedder.truncated().saturating_sub(cut_before);
            let cut_note = if cut > 0 {
                tracing::warn!("{cut} chunks were longer than the embedding model's maximum");
                format!(
                    " ({cut} chunks longer than the embedding model's maximum input were embedded from their first tokens)"
                )
            } else {
                String::new()
            };
            Ok(format!(
                "vectors ({kind}): {} documents ({} chunks) embedded, {} removed in {:.1} s{cut_note}",
                r.embedded_documents, r.embedded_chunks, r.removed_documents, r.seconds,
            ))
        })
    }
}

/// Opens both and builds an ingestor. The vector index is kept in line with the catalog when it
/// exists; `embed` creates it when an embedder is installed (`clinrag ingest` does by default;
/// maintenance commands do not).
pub async fn ingestor(g: &Global, cfg: IngestConfig, embed: bool) -> anyhow::Result<Ingestor> {
    ingestor_at(g, cfg, embed, qdrant_url_from_env().as_deref()).await
}

/// [`ingestor`] with the vectors on the Qdrant server at `qdrant_url` when given.
pub async fn ingestor_at(
    g: &Global,
    cfg: IngestConfig,
    embed: bool,
    qdrant_url: Option<&str>,
) -> anyhow::Result<Ingestor> {
    ensure_writable(g)?;
    let ing = Ingestor::new(catalog(g).await?, keyword(g)?, cfg);
    if !embed && !FlatIndex::exists(&g.path(VECTOR_DIR)) {
        return Ok(ing);
    }
    Ok(match embedder(g)? {
        Some(embedder) => ing.with_derived(Arc::new(VectorSync {
            embedder,
            g: g.clone(),
            qdrant_url: qdrant_url.map(ToOwned::to_owned),
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
