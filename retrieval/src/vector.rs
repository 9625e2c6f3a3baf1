//! Vector indexes over chunk embeddings: the [`VectorIndex`] trait and [`FlatIndex`], an exact
//! brute-force index kept in memory and persisted as one file (the ground truth for approximate
//! indexes, and fast enough for tens of thousands of chunks).
//!
//! Every index folder carries `meta.json` with the embedder name and dimension it was built
//! with; opening it with another embedder is an error, never a silent mix of vector spaces.
//! Vectors are derived data: the catalog can always rebuild them (see [`sync_from_catalog`]).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::keyword::{Hit, SearchFilter};

/// Errors of a vector index.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// A filesystem operation failed (may be retried once the disk problem is fixed).
    #[error("{path}: {source}")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A stored file does not decode: remove the folder and rebuild from the catalog.
    #[error(
        "vector index file {path} is corrupt ({detail}): remove the folder and re-run ingest to rebuild it from the catalog"
    )]
    Corrupt {
        /// Offending file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The index was built with another embedder or dimension.
    #[error(
        "vector index at {path} was built with embedder {found_embedder} (dimension {found_dim}), but the configured embedder is {expected_embedder} (dimension {expected_dim}): remove the folder and re-run ingest to rebuild it"
    )]
    EmbedderMismatch {
        /// Index folder.
        path: PathBuf,
        /// Embedder recorded in the index.
        found_embedder: String,
        /// Dimension recorded in the index.
        found_dim: usize,
        /// Embedder in use.
        expected_embedder: String,
        /// Its dimension.
        expected_dim: usize,
    },
    /// The folder holds another index implementation than the one asked for, or one this
    /// build does not include.
    #[error(
        "vector index at {path} is a {found} index, but {expected}: remove the folder and re-run `clinrag ingest --embed` to rebuild it from the catalog, or use a build with that index"
    )]
    KindMismatch {
        /// Index folder.
        path: PathBuf,
        /// Kind recorded in `meta.json`.
        found: String,
        /// What was expected (a sentence fragment).
        expected: String,
    },
    /// A vector of the wrong length was given (the caller's bug).
    #[error("vector of dimension {got} given to an index of dimension {expected}")]
    Dimension {
        /// Index dimension.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// The backend (a Qdrant shard or server) failed.
    #[error("vector backend: {0}")]
    Backend(String),
}

/// Result alias of the vector indexes.
pub type VectorResult<T> = std::result::Result<T, VectorError>;

/// What an index stores next to each vector: enough to cite the chunk without the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPayload {
    /// Chunk id.
    pub chunk_id: String,
    /// Owning document.
    pub doc_id: String,
    /// Publication year.
    pub year: Option<i32>,
    /// Source format.
    pub source: String,
    /// Document title.
    pub title: String,
    /// Section name.
    pub section: String,
    /// First character in the document body.
    pub start: usize,
    /// End character (exclusive).
    pub end: usize,
    /// The chunk text.
    pub text: String,
    /// Content hash of the document when it was embedded (detects re-ingested documents).
    #[serde(default)]
    pub doc_hash: String,
}

impl ChunkPayload {
    /// Whether the payload passes `filter` (year range, sources).
    pub fn matches(&self, filter: &SearchFilter) -> bool {
        let year = self.year.and_then(|y| u64::try_from(y).ok());
        if filter.year_min.is_some() || filter.year_max.is_some() {
            let Some(y) = year else { return false };
            if filter.year_min.is_some_and(|m| y < m) || filter.year_max.is_some_and(|m| y > m) {
                return false;
            }
        }
        filter.sources.is_empty() || filter.sources.contains(&self.source)
    }

    /// The citation-carrying hit for this payload at `rank` with `score`.
    pub fn to_hit(&self, rank: usize, score: f32) -> Hit {
        Hit {
            rank,
            score,
            doc_id: self.doc_id.clone(),
            chunk_id: self.chunk_id.clone(),
            title: self.title.clone(),
            section: self.section.clone(),
            start: self.start,
            end: self.end,
            text: self.text.clone(),
        }
    }
}

/// The embedder an index was built with (`meta.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorMeta {
    /// Embedder name.
    pub embedder: String,
    /// Vector dimension.
    pub dim: usize,
    /// Index implementation (`flat`, `qdrant-edge`, `qdrant`).
    pub kind: String,
}

impl VectorMeta {
    /// Refuses points whose vectors do not have this index's dimension.
    pub fn check_dims(&self, points: &[(ChunkPayload, Vec<f32>)]) -> VectorResult<()> {
        match points.iter().find(|(_, v)| v.len() != self.dim) {
            Some((_, v)) => Err(VectorError::Dimension {
                expected: self.dim,
                got: v.len(),
            }),
            None => Ok(()),
        }
    }

    /// Reads `dir/meta.json` and checks it against the embedder in use, or writes it when the
    /// folder is new.
    pub fn check_or_write(dir: &Path, expected: &VectorMeta) -> VectorResult<()> {
        let path = dir.join("meta.json");
        let io = |source| VectorError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let found: VectorMeta =
                    serde_json::from_str(&text).map_err(|e| VectorError::Corrupt {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?;
                if found.kind != expected.kind {
                    return Err(VectorError::KindMismatch {
                        path: dir.to_path_buf(),
                        found: found.kind,
                        expected: format!("a {} index was asked for", expected.kind),
                    });
                }
                if found.embedder != expected.embedder || found.dim != expected.dim {
                    return Err(VectorError::EmbedderMismatch {
                        path: dir.to_path_buf(),
                        found_embedder: found.embedder,
                        found_dim: found.dim,
                        expected_embedder: expected.embedder.clone(),
                        expected_dim: expected.dim,
                    });
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|source| VectorError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
                let text =
                    serde_json::to_string_pretty(expected).map_err(|e| VectorError::Corrupt {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?;
                write_atomic(&path, text.as_bytes())
            }
            Err(e) => Err(io(e)),
        }
    }
}

/// A scored chunk from a vector search.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorHit {
    /// Cosine similarity to the query.
    pub score: f32,
    /// The stored payload.
    pub payload: ChunkPayload,
}

/// A store of unit vectors, one per chunk, replaceable per document.
pub trait VectorIndex: Send + Sync {
    /// The embedder the index was built with.
    fn meta(&self) -> &VectorMeta;
    /// Replaces every vector of `doc_id` with `points` (visible to search at once, durable
    /// after [`VectorIndex::commit`]).
    fn upsert_document(
        &mut self,
        doc_id: &str,
        points: Vec<(ChunkPayload, Vec<f32>)>,
    ) -> VectorResult<()>;
    /// Removes every vector of `doc_id`; returns whether there was any.
    fn delete_document(&mut self, doc_id: &str) -> VectorResult<bool>;
    /// The `k` chunks most similar to `query` among those passing `filter`, best first.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: &SearchFilter,
    ) -> VectorResult<Vec<VectorHit>>;
    /// Documents with at least one vector.
    fn doc_ids(&self) -> VectorResult<BTreeSet<String>> {
        Ok(self.doc_hashes()?.into_keys().collect())
    }
    /// Documents with at least one vector, with the content hash they were embedded from.
    fn doc_hashes(&self) -> VectorResult<HashMap<String, String>>;
    /// Number of vectors.
    fn len(&self) -> usize;
    /// Whether the index holds no vector.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Makes every change so far durable.
    fn commit(&mut self) -> VectorResult<()>;
}

/// Index kinds this build can open, the default (used for a new index) first.
pub fn available_kinds() -> &'static [&'static str] {
    if cfg!(feature = "qdrant-edge") {
        &["qdrant-edge", "flat"]
    } else {
        &["flat"]
    }
}

/// The kind of a new index: `qdrant-edge` when the feature is built, else `flat`.
pub fn default_kind() -> &'static str {
    available_kinds()[0]
}

/// The kind recorded in `dir/meta.json`, if the folder holds an index.
pub fn recorded_kind(dir: &Path) -> VectorResult<Option<String>> {
    let path = dir.join("meta.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str::<VectorMeta>(&text)
            .map(|m| Some(m.kind))
            .map_err(|e| VectorError::Corrupt {
                path,
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(VectorError::Io { path, source }),
    }
}

/// Opens the vector index in `dir` with the implementation recorded in its `meta.json`, or
/// creates one of `kind` (default: [`default_kind`]) when the folder is new. `kind` given for an
/// existing index of another kind, or a recorded kind this build lacks, is
/// [`VectorError::KindMismatch`]; nothing is rewritten then.
pub fn open_index(
    dir: &Path,
    embedder: &str,
    dim: usize,
    kind: Option<&str>,
) -> VectorResult<Box<dyn VectorIndex>> {
    let recorded = recorded_kind(dir)?;
    let chosen = match (&recorded, kind) {
        (Some(r), Some(k)) if r != k => {
            return Err(VectorError::KindMismatch {
                path: dir.to_path_buf(),
                found: r.clone(),
                expected: format!("a {k} index was asked for"),
            });
        }
        (Some(r), _) => r.clone(),
        (None, Some(k)) => k.to_owned(),
        (None, None) => default_kind().to_owned(),
    };
    match chosen.as_str() {
        "flat" => Ok(Box::new(FlatIndex::open(dir, embedder, dim)?)),
        #[cfg(feature = "qdrant-edge")]
        "qdrant-edge" => Ok(Box::new(crate::qdrant_edge::EdgeIndex::open(
            dir, embedder, dim,
        )?)),
        "qdrant" => Err(VectorError::KindMismatch {
            path: dir.to_path_buf(),
            found: "qdrant (server)".into(),
            expected: "no server URL was given (pass --qdrant-url or set CLINRAG_QDRANT_URL)"
                .into(),
        }),
        other => Err(VectorError::KindMismatch {
            path: dir.to_path_buf(),
            found: other.to_owned(),
            expected: format!(
                "this build of clinrag opens only {} (the qdrant-edge index needs the cargo feature `qdrant-edge`)",
                available_kinds().join(", ")
            ),
        }),
    }
}

/// A boxed index (as [`open_index`] returns) is an index.
impl<T: VectorIndex + ?Sized> VectorIndex for Box<T> {
    fn meta(&self) -> &VectorMeta {
        (**self).meta()
    }
    fn upsert_document(
        &mut self,
        doc_id: &str,
        points: Vec<(ChunkPayload, Vec<f32>)>,
    ) -> VectorResult<()> {
        (**self).upsert_document(doc_id, points)
    }
    fn delete_document(&mut self, doc_id: &str) -> VectorResult<bool> {
        (**self).delete_document(doc_id)
    }
    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: &SearchFilter,
    ) -> VectorResult<Vec<VectorHit>> {
        (**self).search(query, k, filter)
    }
    fn doc_hashes(&self) -> VectorResult<HashMap<String, String>> {
        (**self).doc_hashes()
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    fn commit(&mut self) -> VectorResult<()> {
        (**self).commit()
    }
}

const FLAT_MAGIC: &[u8; 8] = b"CLRFLAT1";
const FLAT_FILE: &str = "flat.bin";

/// Exact brute-force cosine search over vectors held in memory; persisted to `flat.bin` (written
/// to a temporary file and renamed, so a crash leaves the previous commit intact).
#[derive(Debug)]
pub struct FlatIndex {
    dir: PathBuf,
    meta: VectorMeta,
    vectors: Vec<f32>,
    payloads: Vec<ChunkPayload>,
    alive: Vec<bool>,
    by_doc: HashMap<String, Vec<usize>>,
    dead: usize,
}

impl FlatIndex {
    /// A folder name for the default flat index inside the home folder.
    pub const DEFAULT_DIR: &'static str = "index/vectors";

    /// Opens the index in `dir` (creating it when new) for vectors of `embedder` with `dim`
    /// components.
    pub fn open(dir: &Path, embedder: &str, dim: usize) -> VectorResult<Self> {
        let meta = VectorMeta {
            embedder: embedder.to_owned(),
            dim,
            kind: "flat".into(),
        };
        VectorMeta::check_or_write(dir, &meta)?;
        let mut idx = Self {
            dir: dir.to_path_buf(),
            meta,
            vectors: Vec::new(),
            payloads: Vec::new(),
            alive: Vec::new(),
            by_doc: HashMap::new(),
            dead: 0,
        };
        let path = dir.join(FLAT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => idx.decode(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(VectorError::Io { path, source }),
        }
        Ok(idx)
    }

    /// Whether `dir` holds a vector index (its `meta.json`).
    pub fn exists(dir: &Path) -> bool {
        dir.join("meta.json").is_file()
    }

    fn decode(&mut self, path: &Path, bytes: &[u8]) -> VectorResult<()> {
        let bad = |detail: &str| VectorError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.to_owned(),
        };
        if bytes.len() < 24 || &bytes[..8] != FLAT_MAGIC {
            return Err(bad("not a clinrag flat index (bad header)"));
        }
        let word = |at: usize| -> u64 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let dim = usize::try_from(word(8)).map_err(|_| bad("dimension overflows"))?;
        let n = usize::try_from(word(16)).map_err(|_| bad("count overflows"))?;
        if dim != self.meta.dim {
            return Err(bad("dimension differs from meta.json"));
        }
        let vec_bytes = n
            .checked_mul(dim)
            .and_then(|x| x.checked_mul(4))
            .ok_or_else(|| bad("size overflows"))?;
        let body = &bytes[24..];
        if body.len() < vec_bytes {
            return Err(bad("file is truncated"));
        }
        self.vectors = body[..vec_bytes]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        self.payloads =
            serde_json::from_slice(&body[vec_bytes..]).map_err(|e| bad(&e.to_string()))?;
        if self.payloads.len() != n {
            return Err(bad("payload count differs from vector count"));
        }
        self.alive = vec![true; n];
        for (i, p) in self.payloads.iter().enumerate() {
            self.by_doc.entry(p.doc_id.clone()).or_default().push(i);
        }
        Ok(())
    }

    fn compact(&mut self) {
        if self.dead == 0 {
            return;
        }
        let dim = self.meta.dim;
        let mut vectors = Vec::with_capacity(self.vectors.len());
        let mut payloads = Vec::with_capacity(self.payloads.len());
        for (i, p) in std::mem::take(&mut self.payloads).into_iter().enumerate() {
            if self.alive[i] {
                vectors.extend_from_slice(&self.vectors[i * dim..(i + 1) * dim]);
                payloads.push(p);
            }
        }
        self.vectors = vectors;
        self.payloads = payloads;
        self.alive = vec![true; self.payloads.len()];
        self.by_doc.clear();
        for (i, p) in self.payloads.iter().enumerate() {
            self.by_doc.entry(p.doc_id.clone()).or_default().push(i);
        }
        self.dead = 0;
    }

    /// Folder of the index.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Every live vector with its payload (to copy an index into another implementation).
    pub fn iter(&self) -> impl Iterator<Item = (&ChunkPayload, &[f32])> {
        let dim = self.meta.dim;
        self.payloads
            .iter()
            .enumerate()
            .filter(|(i, _)| self.alive[*i])
            .map(move |(i, p)| (p, &self.vectors[i * dim..(i + 1) * dim]))
    }
}

impl VectorIndex for FlatIndex {
    fn meta(&self) -> &VectorMeta {
        &self.meta
    }

    fn upsert_document(
        &mut self,
        doc_id: &str,
        points: Vec<(ChunkPayload, Vec<f32>)>,
    ) -> VectorResult<()> {
        self.meta.check_dims(&points)?;
        self.delete_document(doc_id)?;
        let mut rows = Vec::with_capacity(points.len());
        for (mut p, v) in points {
            doc_id.clone_into(&mut p.doc_id);
            rows.push(self.payloads.len());
            self.vectors.extend_from_slice(&v);
            self.payloads.push(p);
            self.alive.push(true);
        }
        if !rows.is_empty() {
            self.by_doc.insert(doc_id.to_owned(), rows);
        }
        Ok(())
    }

    fn delete_document(&mut self, doc_id: &str) -> VectorResult<bool> {
        let Some(rows) = self.by_doc.remove(doc_id) else {
            return Ok(false);
        };
        for r in rows {
            if self.alive[r] {
                self.alive[r] = false;
                self.dead += 1;
            }
        }
        Ok(true)
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: &SearchFilter,
    ) -> VectorResult<Vec<VectorHit>> {
        let dim = self.meta.dim;
        if query.len() != dim {
            return Err(VectorError::Dimension {
                expected: dim,
                got: query.len(),
            });
        }
        let unfiltered =
            filter.year_min.is_none() && filter.year_max.is_none() && filter.sources.is_empty();
        let mut scored: Vec<(f32, usize)> = self
            .vectors
            .chunks_exact(dim)
            .enumerate()
            .filter(|(i, _)| self.alive[*i] && (unfiltered || self.payloads[*i].matches(filter)))
            .map(|(i, v)| (dot(query, v), i))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let by_score = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if k < scored.len() {
            scored.select_nth_unstable_by(k - 1, by_score);
            scored.truncate(k);
        }
        scored.sort_by(by_score);
        Ok(scored
            .into_iter()
            .map(|(score, i)| VectorHit {
                score,
                payload: self.payloads[i].clone(),
            })
            .collect())
    }

    fn doc_hashes(&self) -> VectorResult<HashMap<String, String>> {
        Ok(self
            .by_doc
            .iter()
            .map(|(d, rows)| {
                let h = rows
                    .first()
                    .map(|&r| self.payloads[r].doc_hash.clone())
                    .unwrap_or_default();
                (d.clone(), h)
            })
            .collect())
    }

    fn len(&self) -> usize {
        self.payloads.len() - self.dead
    }

    fn commit(&mut self) -> VectorResult<()> {
        self.compact();
        let n = self.payloads.len() as u64;
        let payload = serde_json::to_vec(&self.payloads).map_err(|e| VectorError::Corrupt {
            path: self.dir.join(FLAT_FILE),
            detail: e.to_string(),
        })?;
        let mut bytes = Vec::with_capacity(24 + self.vectors.len() * 4 + payload.len());
        bytes.extend_from_slice(FLAT_MAGIC);
        bytes.extend_from_slice(&(self.meta.dim as u64).to_le_bytes());
        bytes.extend_from_slice(&n.to_le_bytes());
        for x in &self.vectors {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        bytes.extend_from_slice(&payload);
        write_atomic(&self.dir.join(FLAT_FILE), &bytes)
    }
}

/// The point id of a chunk in the Qdrant indexes: the first 8 bytes of the SHA-256 of its id
/// (a collision is about 1 in 10^10 at 100,000 chunks).
pub fn point_id(chunk_id: &str) -> u64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(chunk_id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// Dot product (cosine similarity for unit vectors), in 8 independent lanes so the compiler
/// vectorises it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((a, x), y) in acc.iter_mut().zip(x).zip(y) {
            *a += x * y;
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn write_atomic(path: &Path, bytes: &[u8]) -> VectorResult<()> {
    let tmp = path.with_extension("tmp");
    let io = |p: &Path, source| VectorError::Io {
        path: p.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// What [`sync_from_catalog`] changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// Documents embedded and added.
    pub embedded_documents: u64,
    /// Chunks embedded.
    pub embedded_chunks: u64,
    /// Documents removed because the catalog no longer has them.
    pub removed_documents: u64,
    /// Seconds spent.
    pub seconds: f64,
}

/// Brings `index` in line with the catalog: embeds every catalog document missing from the
/// index (in batches of about `batch_chunks` chunks) and removes documents the catalog no
/// longer has; commits once at the end and every `commit_every` documents. This is both the
/// ingest step and the repair of an index that lost documents: vectors are always re-derivable
/// from the catalog.
pub async fn sync_from_catalog(
    catalog: &crate::Catalog,
    embedder: std::sync::Arc<dyn crate::embed::Embedder>,
    index: &mut dyn VectorIndex,
    batch_chunks: usize,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<SyncReport, SyncError> {
    let t0 = std::time::Instant::now();
    let mut report = SyncReport::default();
    let catalog_ids: BTreeSet<String> = catalog.document_ids().await?.into_iter().collect();
    let have = index.doc_hashes()?;
    let mut missing: Vec<String> = Vec::new();
    for orphan in have.keys().filter(|d| !catalog_ids.contains(*d)) {
        index.delete_document(orphan)?;
        report.removed_documents += 1;
    }
    let both: Vec<&str> = catalog_ids
        .iter()
        .filter(|d| have.contains_key(*d))
        .map(String::as_str)
        .collect();
    for part in both.chunks(500) {
        let now = catalog.content_hashes(part).await?;
        for d in part {
            // Re-ingested with new content: embed again.
            if now.get(*d) != have.get(*d) {
                missing.push((*d).to_owned());
            }
        }
    }
    missing.extend(
        catalog_ids
            .iter()
            .filter(|d| !have.contains_key(*d))
            .cloned(),
    );
    let mut pending: Vec<(String, Vec<ChunkPayload>)> = Vec::new();
    let mut pending_chunks = 0usize;
    let mut since_commit = 0u64;
    for (i, doc_id) in missing.iter().enumerate() {
        if let Some(doc) = catalog.document(doc_id).await? {
            let chunks = catalog.chunks(doc_id).await?;
            let payloads: Vec<ChunkPayload> = chunks
                .into_iter()
                .filter_map(|c| {
                    let text = doc.span(c.start, c.end)?.to_owned();
                    Some(ChunkPayload {
                        chunk_id: c.chunk_id,
                        doc_id: doc.doc_id.clone(),
                        year: doc.year,
                        source: doc.source.clone(),
                        title: doc.title.clone(),
                        section: c.section,
                        start: c.start,
                        end: c.end,
                        text,
                        doc_hash: doc.content_hash.clone(),
                    })
                })
                .collect();
            pending_chunks += payloads.len();
            pending.push((doc.doc_id.clone(), payloads));
        }
        let last = i + 1 == missing.len();
        if pending_chunks >= batch_chunks.max(1) || (last && !pending.is_empty()) {
            let batch = std::mem::take(&mut pending);
            pending_chunks = 0;
            let texts: Vec<String> = batch
                .iter()
                .flat_map(|(_, ps)| ps.iter().map(embed_text))
                .collect();
            let emb = embedder.clone();
            let vecs = tokio::task::spawn_blocking(move || emb.embed(&texts))
                .await
                .map_err(|e| {
                    SyncError::Embed(crate::embed::EmbedError::Forward(e.to_string()))
                })??;
            let mut it = vecs.into_iter();
            for (doc_id, ps) in batch {
                report.embedded_chunks += ps.len() as u64;
                let points: Vec<(ChunkPayload, Vec<f32>)> =
                    ps.into_iter().zip(it.by_ref()).collect();
                index.upsert_document(&doc_id, points)?;
                report.embedded_documents += 1;
                since_commit += 1;
            }
            progress(report.embedded_documents, missing.len() as u64);
            if since_commit >= 20_000 {
                index.commit()?;
                since_commit = 0;
            }
        }
    }
    index.commit()?;
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// The text embedded for a chunk: the title gives the passage its topic, as the keyword index
/// does by indexing the title with every chunk.
pub fn embed_text(p: &ChunkPayload) -> String {
    if p.text.starts_with(p.title.as_str()) || p.title.is_empty() {
        p.text.clone()
    } else {
        format!("{}. {}", p.title, p.text)
    }
}

/// Errors of [`sync_from_catalog`].
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Reading the catalog failed.
    #[error(transparent)]
    Catalog(#[from] crate::Error),
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
    /// Writing the vector index failed.
    #[error(transparent)]
    Vector(#[from] VectorError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(doc: &str, ord: u32, year: i32, source: &str) -> ChunkPayload {
        ChunkPayload {
            chunk_id: format!("{doc}#{ord}"),
            doc_id: doc.into(),
            year: Some(year),
            source: source.into(),
            title: "t".into(),
            section: "abstract".into(),
            start: 0,
            end: 1,
            text: "x".into(),
            doc_hash: String::new(),
        }
    }

    #[test]
    fn dot_matches_naive_sum_for_odd_lengths() {
        for n in [0usize, 1, 7, 8, 9, 384, 385] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4, "n={n}");
        }
    }

    #[test]
    fn filter_matches_years_and_sources() {
        let p = payload("D", 0, 2020, "pubmed");
        let f = |a, b, s: &[&str]| SearchFilter {
            year_min: a,
            year_max: b,
            sources: s.iter().map(|x| x.to_string()).collect(),
        };
        let cases = [
            (f(None, None, &[]), true),
            (f(Some(2020), Some(2020), &[]), true),
            (f(Some(2021), None, &[]), false),
            (f(None, Some(2019), &[]), false),
            (f(None, None, &["pmc"]), false),
            (f(None, None, &["pmc", "pubmed"]), true),
        ];
        for (filter, want) in cases {
            assert_eq!(p.matches(&filter), want, "{filter:?}");
        }
        let mut no_year = p.clone();
        no_year.year = None;
        assert!(!no_year.matches(&f(Some(2000), None, &[])));
    }
}
