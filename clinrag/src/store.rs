//! Opening the stores every command shares: the catalog (SQLite in the home folder unless a
//! database URL is given) and the keyword index.

use anyhow::Context;
use clinrag_ingest::{IngestConfig, Ingestor};
use clinrag_retrieval::{Catalog, KeywordIndex};

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

/// Opens both and builds an ingestor.
pub async fn ingestor(g: &Global, cfg: IngestConfig) -> anyhow::Result<Ingestor> {
    Ok(Ingestor::new(catalog(g).await?, keyword(g)?, cfg))
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
