//! Ingest runs: files in, documents and chunks out to the catalog and the keyword index.
//!
//! Crash safety rests on one ordering: a document is first written to the catalog (one
//! transaction per batch, flagged "not indexed"), then added to the keyword index, and flagged
//! "indexed" only after the index commit. Removals are tombstoned in the catalog first and
//! purged only after the index commit. Every run starts with [`Ingestor::recover`], which
//! re-indexes flagged documents (delete-then-add, so never twice) and finishes tombstones: a
//! run killed at any point leaves nothing half-done after the next one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clinrag_retrieval::{
    Catalog, Chunk, Document, FileState, KeywordIndex, KeywordWriter, RunCounts,
};
use serde::Serialize;

use crate::chunk::{ChunkConfig, chunk_document};
use crate::error::{Error, Result};
use crate::parse::{Format, Item, Limits, parse_file};

/// Settings of an ingest run.
#[derive(Debug, Clone, Copy)]
pub struct IngestConfig {
    /// Chunking.
    pub chunk: ChunkConfig,
    /// Largest single document (bytes of text); larger ones are refused with a clear error.
    pub max_doc_bytes: usize,
    /// Documents per catalog transaction.
    pub batch_docs: usize,
    /// Documents between keyword-index commits.
    pub commit_every_docs: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            chunk: ChunkConfig::default(),
            max_doc_bytes: 64 * 1024 * 1024,
            batch_docs: 256,
            commit_every_docs: 20_000,
        }
    }
}

/// Adds concept ids to chunks (the knowledge-graph linker, when one is loaded).
pub trait ChunkAnnotator: Send + Sync {
    /// Concept ids (`HP:0001166`, `ICD10CM:I21.4`, ...) mentioned in a chunk's text.
    fn concepts(&self, text: &str) -> Vec<String>;
}

/// Progress callbacks (a terminal progress bar, or nothing).
pub trait Progress: Send + Sync {
    /// Total bytes of input, known before the run starts.
    fn total_bytes(&self, _bytes: u64) {}
    /// A file is done (its bytes count as processed).
    fn file_done(&self, _path: &Path, _bytes: u64) {}
    /// Documents written or found unchanged.
    fn documents(&self, _n: u64) {}
    /// A file or record failed.
    fn failure(&self, _f: &Failure) {}
}

/// Progress that reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// A failed file or record.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The file.
    pub path: String,
    /// The record inside it, when only one record failed.
    pub record: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.record {
            Some(r) => write!(f, "{}: {r}: {}", self.path, self.reason),
            None => write!(f, "{}: {}", self.path, self.reason),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    /// Catalog id of the run.
    pub run_id: i64,
    /// Input files considered.
    pub files: u64,
    /// Files skipped because their bytes were unchanged since the last complete ingest.
    pub files_unchanged: u64,
    /// Files in folders skipped for an unsupported extension.
    pub files_skipped: Vec<String>,
    /// New or changed documents written.
    pub documents_ingested: u64,
    /// Documents found unchanged.
    pub documents_unchanged: u64,
    /// Documents removed (deleted by the source, or gone from a changed file).
    pub documents_removed: u64,
    /// Chunks written.
    pub chunks: u64,
    /// Bytes of input read.
    pub bytes: u64,
    /// Failed files and records.
    pub failures: Vec<Failure>,
    /// Documents re-indexed or purged by recovery at the start of the run.
    pub recovered: RecoveryReport,
    /// Wall time in seconds (the keyword stage; [`IngestReport::derived`] comes after).
    pub seconds: f64,
    /// What keeping the derived index (the vector index) in line with the catalog did after the
    /// run, when there is one (e.g. "vectors (flat): 120 documents (210 chunks) embedded, ...").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derived: Option<String>,
}

/// What recovery repaired.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RecoveryReport {
    /// Documents re-added to the keyword index.
    pub reindexed: u64,
    /// Tombstoned documents purged.
    pub purged: u64,
}

/// Differences between the catalog and the keyword index.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Live documents in the catalog.
    pub catalog_documents: u64,
    /// Documents in the keyword index.
    pub index_documents: u64,
    /// In the catalog, missing from the index.
    pub missing_from_index: Vec<String>,
    /// In the index, not in the catalog.
    pub orphans_in_index: Vec<String>,
    /// Documents whose chunk count differs between catalog and index.
    pub chunk_mismatches: Vec<String>,
    /// Documents written but not yet flagged indexed (a crash; repaired by the next run).
    pub pending: u64,
}

impl CheckReport {
    /// Whether catalog and index agree.
    pub fn is_consistent(&self) -> bool {
        self.missing_from_index.is_empty()
            && self.orphans_in_index.is_empty()
            && self.chunk_mismatches.is_empty()
            && self.pending == 0
    }
}

/// Runs ingests, removals, recovery and checks over one catalog and one keyword index.
#[derive(Clone)]
pub struct Ingestor {
    catalog: Catalog,
    index: KeywordIndex,
    cfg: IngestConfig,
    annotator: Option<Arc<dyn ChunkAnnotator>>,
    derived: Option<Arc<dyn DerivedIndex>>,
}

/// An index derived from the catalog outside this pipeline (the vector index). It is brought in
/// line with the catalog after every run and every recovery, once the catalog and the keyword
/// index are committed, so a crash at any point leaves it repairable from the catalog.
pub trait DerivedIndex: Send + Sync {
    /// Adds what the catalog has and the index lacks, removes what the catalog dropped;
    /// returns a one-line summary for the log.
    fn sync<'a>(
        &'a self,
        catalog: &'a clinrag_retrieval::Catalog,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::result::Result<String, String>> + Send + 'a>,
    >;
}

enum Parsed {
    Doc(Box<Document>, Vec<Chunk>, Vec<Vec<String>>),
    Delete(String),
    Bad { record: String, problem: String },
}

struct RunState {
    report: IngestReport,
    pending: Vec<String>,
    tombstones: Vec<String>,
    since_commit: usize,
}

impl Ingestor {
    /// An ingestor over an open catalog and keyword index.
    pub fn new(catalog: Catalog, index: KeywordIndex, cfg: IngestConfig) -> Self {
        Self {
            catalog,
            index,
            cfg,
            annotator: None,
            derived: None,
        }
    }

    /// Keeps `derived` in line with the catalog after every run and recovery.
    pub fn with_derived(mut self, derived: Arc<dyn DerivedIndex>) -> Self {
        self.derived = Some(derived);
        self
    }

    async fn sync_derived(&self) -> Result<Option<String>> {
        let Some(d) = &self.derived else {
            return Ok(None);
        };
        let summary = d
            .sync(&self.catalog)
            .await
            .map_err(|e| Error::Worker(format!("derived index: {e}")))?;
        tracing::info!("derived index: {summary}");
        Ok(Some(summary))
    }

    /// Links concepts into every chunk with `annotator`.
    pub fn with_annotator(mut self, annotator: Arc<dyn ChunkAnnotator>) -> Self {
        self.annotator = Some(annotator);
        self
    }

    /// Finishes what an interrupted run left: re-indexes documents written but not committed to
    /// the keyword index, and purges tombstoned documents.
    pub async fn recover(&self) -> Result<RecoveryReport> {
        let writer = self.index.writer()?;
        let (writer, r) = self.recover_with(writer).await?;
        finish(writer).await?;
        self.sync_derived().await?;
        Ok(r)
    }

    async fn recover_with(
        &self,
        mut writer: KeywordWriter,
    ) -> Result<(KeywordWriter, RecoveryReport)> {
        // A lost keyword index (its folder deleted or emptied, a repair killed after emptying
        // it) while the catalog holds chunks: every document is indexed again below.
        self.index.reload()?;
        if self.index.stats()?.chunks == 0 {
            let s = self.catalog.stats().await?;
            if s.chunks > 0 && s.documents > s.pending_index {
                tracing::warn!(
                    "the keyword index is empty and the catalog holds {} documents: re-indexing them",
                    s.documents
                );
                self.catalog.mark_all_unindexed().await?;
            }
        }
        let tomb = self.catalog.tombstoned().await?;
        let pending = self.catalog.pending_index().await?;
        if tomb.is_empty() && pending.is_empty() {
            return Ok((writer, RecoveryReport::default()));
        }
        for id in &tomb {
            writer.delete_document(id);
        }
        for id in &pending {
            let Some(doc) = self.catalog.document(id).await? else {
                continue;
            };
            let mut concepts = Vec::new();
            let chunks: Vec<Chunk> = self
                .catalog
                .chunks(id)
                .await?
                .into_iter()
                .map(|c| {
                    concepts.push(c.concepts);
                    Chunk {
                        chunk_id: c.chunk_id,
                        doc_id: id.clone(),
                        ord: c.ord,
                        section: c.section,
                        start: c.start,
                        end: c.end,
                    }
                })
                .collect();
            // Concepts come from the catalog: the index is re-derived without the linker.
            writer.replace_document(&doc, &chunks, &concepts)?;
        }
        let writer = commit(writer).await?;
        self.catalog.mark_indexed(&pending).await?;
        self.catalog.purge(&tomb).await?;
        Ok((
            writer,
            RecoveryReport {
                reindexed: pending.len() as u64,
                purged: tomb.len() as u64,
            },
        ))
    }

    /// Ingests files and folders. Bad files and records are reported in the result and skipped;
    /// an `Err` means the catalog or the index failed, and nothing written before is lost.
    pub async fn ingest(&self, paths: &[PathBuf], progress: &dyn Progress) -> Result<IngestReport> {
        let started = Instant::now();
        let writer = self.index.writer()?;
        let (mut writer, recovered) = self.recover_with(writer).await?;
        let (files, skipped, mut failures) = expand(paths);
        let run_id = self
            .catalog
            .begin_run(
                &paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>(),
            )
            .await?;
        for f in &failures {
            progress.failure(f);
            self.catalog
                .record_failure(run_id, &f.path, None, &f.reason)
                .await?;
        }
        let total: u64 = files.iter().map(|(_, _, size)| size).sum();
        progress.total_bytes(total);
        let mut st = RunState {
            report: IngestReport {
                run_id,
                files_skipped: skipped,
                recovered,
                ..Default::default()
            },
            pending: Vec::new(),
            tombstones: Vec::new(),
            since_commit: 0,
        };
        st.report.failures.append(&mut failures);
        for (path, format, size) in files {
            st.report.files += 1;
            writer = self
                .ingest_file(writer, run_id, &path, format, size, &mut st, progress)
                .await?;
            st.report.bytes += size;
            progress.file_done(&path, size);
        }
        writer = self.flush(writer, &mut st).await?;
        finish(writer).await?;
        let r = &mut st.report;
        r.seconds = started.elapsed().as_secs_f64();
        let status = if r.failures.is_empty() {
            "ok"
        } else {
            "partial"
        };
        self.catalog
            .finish_run(
                run_id,
                status,
                RunCounts {
                    ingested: r.documents_ingested,
                    unchanged: r.documents_unchanged,
                    failed: r.failures.len() as u64,
                },
            )
            .await?;
        let mut report = st.report;
        report.derived = self.sync_derived().await?;
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    async fn ingest_file(
        &self,
        mut writer: KeywordWriter,
        run_id: i64,
        path: &Path,
        format: Format,
        size: u64,
        st: &mut RunState,
        progress: &dyn Progress,
    ) -> Result<KeywordWriter> {
        let path_str = path.display().to_string();
        let hashed = {
            let p = path.to_owned();
            tokio::task::spawn_blocking(move || hash_file(&p))
                .await
                .map_err(|e| Error::Worker(e.to_string()))?
        };
        let sha = match hashed {
            Ok(h) => h,
            Err(e) => {
                self.fail(
                    run_id,
                    st,
                    progress,
                    &path_str,
                    None,
                    &format!("cannot read: {e}"),
                )
                .await?;
                return Ok(writer);
            }
        };
        if let Some(prev) = self.catalog.file_state(&path_str).await?
            && prev.sha256 == sha
            && prev.size == size as i64
        {
            st.report.files_unchanged += 1;
            st.report.documents_unchanged += prev.documents as u64;
            progress.documents(prev.documents as u64);
            return Ok(writer);
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Parsed>>(4);
        let cfg = self.cfg;
        let annotator = self.annotator.clone();
        let p = path.to_owned();
        let parser = tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(cfg.batch_docs);
            let mut closed = false;
            let limits = Limits {
                max_doc_bytes: cfg.max_doc_bytes,
            };
            let res = parse_file(&p, format, limits, &mut |item| {
                batch.push(match item {
                    Item::Doc(d) => {
                        let chunks = chunk_document(&d, cfg.chunk);
                        let concepts = annotate_with(annotator.as_deref(), &d, &chunks);
                        Parsed::Doc(d, chunks, concepts)
                    }
                    Item::Delete(id) => Parsed::Delete(id),
                    Item::RecordError { record, problem } => Parsed::Bad { record, problem },
                });
                if batch.len() >= cfg.batch_docs {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(cfg.batch_docs));
                    if tx.blocking_send(full).is_err() {
                        closed = true;
                        return false;
                    }
                }
                true
            });
            if !batch.is_empty() && !closed {
                let _ = tx.blocking_send(batch);
            }
            res
        });
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(batch) = rx.recv().await {
            writer = self
                .write_batch(writer, run_id, &path_str, batch, &mut seen, st, progress)
                .await?;
        }
        let parsed = parser.await.map_err(|e| Error::Worker(e.to_string()))?;
        match parsed {
            Ok(()) => {
                // Documents this file held before but no longer does are removed.
                let before = self.catalog.doc_ids_from_path(&path_str).await?;
                for id in before.into_iter().filter(|id| !seen.contains(id)) {
                    if self.catalog.tombstone(&id).await? {
                        writer.delete_document(&id);
                        st.tombstones.push(id);
                        st.report.documents_removed += 1;
                    }
                }
                let state = FileState {
                    size: size as i64,
                    sha256: sha,
                    documents: seen.len() as i64,
                };
                self.catalog
                    .set_file_state(&path_str, run_id, &state)
                    .await?;
            }
            Err(fe) => {
                self.fail(run_id, st, progress, &path_str, None, &fe.problem)
                    .await?;
            }
        }
        Ok(writer)
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_batch(
        &self,
        mut writer: KeywordWriter,
        run_id: i64,
        path: &str,
        batch: Vec<Parsed>,
        seen: &mut HashSet<String>,
        st: &mut RunState,
        progress: &dyn Progress,
    ) -> Result<KeywordWriter> {
        let ids: Vec<&str> = batch
            .iter()
            .filter_map(|p| match p {
                Parsed::Doc(d, ..) => Some(d.doc_id.as_str()),
                _ => None,
            })
            .collect();
        let known = self.catalog.content_hashes(&ids).await?;
        let mut to_write: Vec<(Document, Vec<Chunk>)> = Vec::new();
        let mut concepts_of: Vec<Vec<Vec<String>>> = Vec::new();
        let mut n_docs = 0u64;
        for p in batch {
            match p {
                Parsed::Doc(d, chunks, concepts) => {
                    n_docs += 1;
                    seen.insert(d.doc_id.clone());
                    if known.get(&d.doc_id) == Some(&d.content_hash) {
                        st.report.documents_unchanged += 1;
                    } else {
                        st.report.chunks += chunks.len() as u64;
                        to_write.push((*d, chunks));
                        concepts_of.push(concepts);
                    }
                }
                Parsed::Delete(id) => {
                    if self.catalog.tombstone(&id).await? {
                        writer.delete_document(&id);
                        st.tombstones.push(id);
                        st.report.documents_removed += 1;
                    }
                }
                Parsed::Bad { record, problem } => {
                    self.fail(run_id, st, progress, path, Some(&record), &problem)
                        .await?;
                }
            }
        }
        if !to_write.is_empty() {
            self.catalog
                .put_documents(run_id, &to_write, &concepts_of)
                .await?;
            for ((d, chunks), concepts) in to_write.iter().zip(&concepts_of) {
                writer.replace_document(d, chunks, concepts)?;
                st.pending.push(d.doc_id.clone());
            }
            st.report.documents_ingested += to_write.len() as u64;
            st.since_commit += to_write.len();
        }
        progress.documents(n_docs);
        if st.since_commit >= self.cfg.commit_every_docs {
            writer = self.flush(writer, st).await?;
        }
        Ok(writer)
    }

    /// Commits the keyword index, then flags pending documents and purges tombstones.
    async fn flush(&self, writer: KeywordWriter, st: &mut RunState) -> Result<KeywordWriter> {
        if st.pending.is_empty() && st.tombstones.is_empty() {
            return Ok(writer);
        }
        let writer = commit(writer).await?;
        self.catalog.mark_indexed(&st.pending).await?;
        self.catalog.purge(&st.tombstones).await?;
        st.pending.clear();
        st.tombstones.clear();
        st.since_commit = 0;
        Ok(writer)
    }

    async fn fail(
        &self,
        run_id: i64,
        st: &mut RunState,
        progress: &dyn Progress,
        path: &str,
        record: Option<&str>,
        reason: &str,
    ) -> Result<()> {
        let f = Failure {
            path: path.to_owned(),
            record: record.map(str::to_owned),
            reason: reason.to_owned(),
        };
        progress.failure(&f);
        self.catalog
            .record_failure(run_id, path, record, reason)
            .await?;
        st.report.failures.push(f);
        Ok(())
    }

    /// Removes a document from the catalog and the keyword index. Returns whether it existed.
    pub async fn remove(&self, doc_id: &str) -> Result<bool> {
        let writer = self.index.writer()?;
        let (mut writer, _) = self.recover_with(writer).await?;
        self.catalog.forget_files_of(&[doc_id.to_owned()]).await?;
        let existed = self.catalog.tombstone(doc_id).await?;
        if existed {
            writer.delete_document(doc_id);
            writer = commit(writer).await?;
            self.catalog.purge(&[doc_id.to_owned()]).await?;
            self.catalog
                .audit("cli", "rm", &serde_json::json!({ "doc_id": doc_id }))
                .await?;
        }
        finish(writer).await?;
        Ok(existed)
    }

    /// Compares the catalog with the keyword index.
    pub async fn check(&self) -> Result<CheckReport> {
        self.index.reload()?;
        let catalog_ids = self.catalog.document_ids().await?;
        let index_ids = self.index.doc_ids()?;
        let cat: HashSet<&str> = catalog_ids.iter().map(String::as_str).collect();
        let mut r = CheckReport {
            catalog_documents: catalog_ids.len() as u64,
            index_documents: index_ids.len() as u64,
            pending: self.catalog.pending_index().await?.len() as u64,
            ..Default::default()
        };
        for id in &catalog_ids {
            if !index_ids.contains(id) {
                r.missing_from_index.push(id.clone());
            } else {
                let in_cat = self.catalog.chunks(id).await?.len();
                if self.index.chunk_count(id)? != in_cat {
                    r.chunk_mismatches.push(id.clone());
                }
            }
        }
        r.orphans_in_index = index_ids
            .iter()
            .filter(|id| !cat.contains(id.as_str()))
            .cloned()
            .collect();
        Ok(r)
    }

    /// Rebuilds the keyword index from the catalog (drops everything, re-adds every document).
    /// Every document is flagged *not indexed* before the index is emptied, so a rebuild killed
    /// at any point is finished by the recovery of the next run.
    pub async fn rebuild_index(&self) -> Result<RecoveryReport> {
        let mut writer = self.index.writer()?;
        self.catalog.mark_all_unindexed().await?;
        writer.delete_all()?;
        let writer = commit(writer).await?;
        let (writer, r) = self.recover_with(writer).await?;
        finish(writer).await?;
        Ok(r)
    }
}

fn annotate_with(
    annotator: Option<&dyn ChunkAnnotator>,
    doc: &Document,
    chunks: &[Chunk],
) -> Vec<Vec<String>> {
    match annotator {
        None => Vec::new(),
        Some(a) => {
            // Chunks come in order: walk the body once (linear for long documents).
            let mut at = (0, 0);
            chunks
                .iter()
                .map(|c| {
                    a.concepts(
                        clinrag_retrieval::char_slice_from(&doc.body, &mut at, c.start, c.end)
                            .unwrap_or_default(),
                    )
                })
                .collect()
        }
    }
}

async fn commit(mut writer: KeywordWriter) -> Result<KeywordWriter> {
    tokio::task::spawn_blocking(move || writer.commit().map(|()| writer))
        .await
        .map_err(|e| Error::Worker(e.to_string()))?
        .map_err(Error::from)
}

async fn finish(writer: KeywordWriter) -> Result<()> {
    tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(|e| Error::Worker(e.to_string()))?
        .map_err(Error::from)
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Expands the command-line paths: files as given (an unsupported extension is a failure),
/// folders walked in name order (unsupported files are listed as skipped), missing paths are
/// failures.
/// Input files with their format and size, folder files skipped for their extension, and
/// failures.
type Expanded = (Vec<(PathBuf, Format, u64)>, Vec<String>, Vec<Failure>);

fn expand(paths: &[PathBuf]) -> Expanded {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    let fail = |p: &Path, reason: String| Failure {
        path: p.display().to_string(),
        record: None,
        reason,
    };
    for p in paths {
        match std::fs::metadata(p) {
            Err(e) => failures.push(fail(p, format!("cannot open: {e}"))),
            Ok(m) if m.is_dir() => {
                for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
                    let entry = match entry {
                        Ok(e) => e,
                        Err(e) => {
                            let at = e.path().map(Path::to_owned).unwrap_or_else(|| p.clone());
                            failures.push(fail(&at, format!("cannot read folder entry: {e}")));
                            continue;
                        }
                    };
                    if !entry.file_type().is_file() {
                        continue;
                    }
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    match Format::detect(entry.path()) {
                        Some(f) => files.push((entry.path().to_owned(), f, size)),
                        None => skipped.push(entry.path().display().to_string()),
                    }
                }
            }
            Ok(m) => match Format::detect(p) {
                Some(f) => files.push((p.clone(), f, m.len())),
                None => failures.push(fail(
                    p,
                    "unsupported file type (expected .xml, .xml.gz, .nxml, .md, .txt or .jsonl)"
                        .into(),
                )),
            },
        }
    }
    (files, skipped, failures)
}
