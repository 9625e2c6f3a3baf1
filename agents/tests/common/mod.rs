//! Helpers shared by the agents' integration tests: a fresh store with fixture files ingested.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use clinrag_ingest::{IngestConfig, IngestReport, Ingestor, NoProgress};
use clinrag_retrieval::{Catalog, KeywordIndex};

/// `agents/tests/fixtures/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh store (SQLite catalog and keyword index in a temporary folder) with `paths`
/// ingested through the real pipeline and the index reader reloaded. Fails the test when a
/// file or record fails.
pub async fn ingested(
    paths: &[PathBuf],
) -> (tempfile::TempDir, Catalog, KeywordIndex, IngestReport) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&Catalog::sqlite_url(dir.path()))
        .await
        .unwrap();
    let index = KeywordIndex::open_or_create(&dir.path().join("index/keyword")).unwrap();
    let ing = Ingestor::new(catalog.clone(), index.clone(), IngestConfig::default());
    let report = ing.ingest(paths, &NoProgress).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    index.reload().unwrap();
    (dir, catalog, index, report)
}
