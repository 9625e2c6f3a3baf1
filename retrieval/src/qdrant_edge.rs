//! [`EdgeIndex`]: the embedded vector index, an in-process Qdrant shard on disk (the
//! `qdrant-edge` crate, behind the cargo feature of the same name).
//!
//! One point per chunk: the point id is derived from the chunk id (first 8 bytes of its
//! SHA-256), the vector is the chunk's unit embedding under cosine distance, and the payload is
//! the whole [`ChunkPayload`] (chunk id, doc id, year, source, title, section, span, text and
//! document hash), so a hit cites its chunk without the catalog. `doc_id` and `source` carry
//! keyword payload indexes and `year` an integer index, so the filters of
//! [`SearchFilter`](crate::SearchFilter) run inside the shard's search.
//!
//! Layout of the folder: `meta.json` (embedder, dimension, kind `qdrant-edge`, checked as for
//! every index) and `shard/` (Qdrant's own files: config, segments, WAL). Writes go to the
//! shard at once; [`VectorIndex::commit`] builds the HNSW graph of segments above the indexing
//! threshold (Qdrant's optimizer, run in-process) and flushes everything to disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use qdrant_edge::{
    CountRequest, CreateIndex, DEFAULT_VECTOR_NAME, Distance, EdgeConfig, EdgeShard,
    EdgeVectorParams, FieldIndexOperations, Filter, JsonPath, NamedQuery, PayloadFieldSchema,
    PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStruct, QueryEnum,
    ScrollRequest, SearchParams, SearchRequest, UpdateOperation, VectorInternal,
    WithPayloadInterface, WithVector,
};
use serde_json::{Value, json};

use crate::keyword::SearchFilter;
use crate::vector::{
    ChunkPayload, VectorError, VectorHit, VectorIndex, VectorMeta, VectorResult, point_id,
};

/// Tuning of an [`EdgeIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeOptions {
    /// HNSW: links per node.
    pub m: usize,
    /// HNSW: candidate list size while building.
    pub ef_construct: usize,
    /// HNSW: candidate list size while searching (raised to `k` when `k` is larger).
    pub ef_search: usize,
    /// Segments holding more vector data than this (KB) get an HNSW graph at commit; smaller
    /// ones are searched exactly. `None`: Qdrant's default (10,000 KB, about 6,600 vectors of
    /// 384 floats).
    pub indexing_threshold_kb: Option<usize>,
    /// Below this many KB of matching vectors a search scans exactly instead of walking the
    /// graph (Qdrant's `full_scan_threshold`, default 10,000).
    pub full_scan_threshold_kb: usize,
}

impl Default for EdgeOptions {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construct: 128,
            ef_search: 128,
            indexing_threshold_kb: None,
            full_scan_threshold_kb: 10_000,
        }
    }
}

/// The in-process Qdrant shard as a [`VectorIndex`].
pub struct EdgeIndex {
    dir: PathBuf,
    meta: VectorMeta,
    shard: EdgeShard,
    opts: EdgeOptions,
    len: usize,
}

impl std::fmt::Debug for EdgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeIndex")
            .field("dir", &self.dir)
            .field("meta", &self.meta)
            .field("len", &self.len)
            .finish()
    }
}

/// The `kind` recorded in `meta.json` for this index.
pub const KIND: &str = "qdrant-edge";
const SHARD_DIR: &str = "shard";

fn backend(what: &str, e: impl std::fmt::Display) -> VectorError {
    VectorError::Backend(format!("qdrant-edge {what}: {e}"))
}

fn key(name: &str) -> VectorResult<JsonPath> {
    JsonPath::try_from(name).map_err(|()| backend("payload key", name))
}

/// A Qdrant filter (its JSON form) for `doc_id == id`.
fn doc_filter(doc_id: &str) -> VectorResult<Filter> {
    serde_json::from_value(json!({"must": [{"key": "doc_id", "match": {"value": doc_id}}]}))
        .map_err(|e| backend("filter", e))
}

/// The Qdrant filter for a [`SearchFilter`]: a year range (documents without a year never
/// match a range) and any of the sources.
pub fn to_filter(filter: &SearchFilter) -> VectorResult<Option<Filter>> {
    let mut must: Vec<Value> = Vec::new();
    if filter.year_min.is_some() || filter.year_max.is_some() {
        let mut range = serde_json::Map::new();
        if let Some(y) = filter.year_min {
            range.insert("gte".into(), json!(y));
        }
        if let Some(y) = filter.year_max {
            range.insert("lte".into(), json!(y));
        }
        must.push(json!({"key": "year", "range": range}));
    }
    if !filter.sources.is_empty() {
        must.push(json!({"key": "source", "match": {"any": filter.sources}}));
    }
    if must.is_empty() {
        return Ok(None);
    }
    serde_json::from_value(json!({ "must": must }))
        .map(Some)
        .map_err(|e| backend("filter", e))
}

impl EdgeIndex {
    /// Opens the index in `dir` (creating it when new) for vectors of `embedder` with `dim`
    /// components.
    pub fn open(dir: &Path, embedder: &str, dim: usize) -> VectorResult<Self> {
        Self::open_with(dir, embedder, dim, EdgeOptions::default())
    }

    /// [`EdgeIndex::open`] with explicit tuning (only used when the shard is created; an
    /// existing shard keeps the graph parameters it was built with).
    pub fn open_with(
        dir: &Path,
        embedder: &str,
        dim: usize,
        opts: EdgeOptions,
    ) -> VectorResult<Self> {
        let meta = VectorMeta {
            embedder: embedder.to_owned(),
            dim,
            kind: KIND.into(),
        };
        VectorMeta::check_or_write(dir, &meta)?;
        let path = dir.join(SHARD_DIR);
        std::fs::create_dir_all(&path).map_err(|source| VectorError::Io {
            path: path.clone(),
            source,
        })?;
        let mut config = EdgeConfig::builder()
            .vector(
                DEFAULT_VECTOR_NAME,
                EdgeVectorParams::builder(dim, Distance::Cosine).build(),
            )
            .on_disk_payload(true)
            .build();
        config.hnsw_config.m = opts.m;
        config.hnsw_config.ef_construct = opts.ef_construct;
        config.hnsw_config.full_scan_threshold = opts.full_scan_threshold_kb;
        config.optimizers.indexing_threshold = opts.indexing_threshold_kb;
        let shard = if path.join("edge_config.json").is_file() {
            EdgeShard::load(&path, None)
        } else {
            EdgeShard::load(&path, Some(config))
        }
        .map_err(|e| VectorError::Corrupt {
            path: path.clone(),
            detail: format!("cannot open the Qdrant shard: {e}"),
        })?;
        let stored_dim = shard
            .config()
            .vectors
            .get(DEFAULT_VECTOR_NAME)
            .map(|v| v.size);
        if stored_dim != Some(dim) {
            return Err(VectorError::Corrupt {
                path,
                detail: format!(
                    "the shard holds vectors of dimension {stored_dim:?}, meta.json says {dim}"
                ),
            });
        }
        let mut idx = Self {
            dir: dir.to_path_buf(),
            meta,
            shard,
            opts,
            len: 0,
        };
        idx.ensure_payload_indexes()?;
        idx.len = idx.count(None)?;
        Ok(idx)
    }

    /// Whether `dir` holds an index of this kind.
    pub fn exists(dir: &Path) -> bool {
        dir.join(SHARD_DIR).join("edge_config.json").is_file()
    }

    /// Folder of the index.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Points held in HNSW graphs (the rest are searched exactly): a check that the graph is
    /// really used.
    pub fn indexed_vectors(&self) -> usize {
        self.shard.info().indexed_vectors_count
    }

    /// Segments of the shard.
    pub fn segments(&self) -> usize {
        self.shard.info().segments_count
    }

    /// The same search forced to an exact scan (Qdrant's `exact: true`): the reference for
    /// the recall of the graph search.
    pub fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        filter: &SearchFilter,
    ) -> VectorResult<Vec<VectorHit>> {
        self.search_inner(query, k, filter, true)
    }

    fn ensure_payload_indexes(&mut self) -> VectorResult<()> {
        let have = self.shard.info().payload_schema;
        for (name, ty) in [
            ("doc_id", PayloadSchemaType::Keyword),
            ("source", PayloadSchemaType::Keyword),
            ("year", PayloadSchemaType::Integer),
        ] {
            let k = key(name)?;
            if have.contains_key(&k) {
                continue;
            }
            self.shard
                .update(UpdateOperation::FieldIndexOperation(
                    FieldIndexOperations::CreateIndex(CreateIndex {
                        field_name: k,
                        field_schema: Some(PayloadFieldSchema::FieldType(ty)),
                    }),
                ))
                .map_err(|e| backend("payload index", e))?;
        }
        Ok(())
    }

    fn count(&self, filter: Option<Filter>) -> VectorResult<usize> {
        self.shard
            .count(CountRequest {
                filter,
                exact: true,
            })
            .map_err(|e| backend("count", e))
    }

    fn search_inner(
        &self,
        query: &[f32],
        k: usize,
        filter: &SearchFilter,
        exact: bool,
    ) -> VectorResult<Vec<VectorHit>> {
        let dim = self.meta.dim;
        if query.len() != dim {
            return Err(VectorError::Dimension {
                expected: dim,
                got: query.len(),
            });
        }
        if k == 0 || self.len == 0 {
            return Ok(Vec::new());
        }
        let filter = to_filter(filter)?;
        // Filtered searches scan the points the payload indexes select: the HNSW graph walked
        // under a year-and-source filter lost half the true top 10 on 50,000 clustered vectors
        // (recall@10 0.49, benchmarks/retrieval.md), the exact scan of the subset loses none.
        let params = SearchParams {
            hnsw_ef: Some(self.opts.ef_search.max(k)),
            exact: exact || filter.is_some(),
            ..Default::default()
        };
        let points = self
            .shard
            .search(SearchRequest {
                query: QueryEnum::Nearest(NamedQuery {
                    query: VectorInternal::Dense(query.to_vec()),
                    using: None,
                }),
                filter,
                params: Some(params),
                limit: k,
                offset: 0,
                with_payload: Some(WithPayloadInterface::Bool(true)),
                with_vector: Some(WithVector::Bool(false)),
                score_threshold: None,
            })
            .map_err(|e| backend("search", e))?;
        points
            .into_iter()
            .map(|p| {
                Ok(VectorHit {
                    score: p.score,
                    payload: decode_payload(p.payload)?,
                })
            })
            .collect()
    }

    /// Every point's payload fields `fields`, page by page.
    fn scroll_all(&self, fields: &[&str]) -> VectorResult<Vec<serde_json::Map<String, Value>>> {
        let with_payload: WithPayloadInterface =
            serde_json::from_value(json!(fields)).map_err(|e| backend("scroll", e))?;
        let mut out = Vec::with_capacity(self.len);
        let mut offset: Option<PointId> = None;
        loop {
            let (records, next) = self
                .shard
                .scroll(ScrollRequest {
                    offset,
                    limit: Some(4096),
                    filter: None,
                    with_payload: Some(with_payload.clone()),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                })
                .map_err(|e| backend("scroll", e))?;
            out.extend(records.into_iter().filter_map(|r| r.payload.map(|p| p.0)));
            match next {
                Some(n) => offset = Some(n),
                None => return Ok(out),
            }
        }
    }
}

fn decode_payload(p: Option<qdrant_edge::Payload>) -> VectorResult<ChunkPayload> {
    let map = p.map(|p| p.0).unwrap_or_default();
    serde_json::from_value(Value::Object(map))
        .map_err(|e| backend("stored payload does not decode", e))
}

impl VectorIndex for EdgeIndex {
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
        if points.is_empty() {
            return Ok(());
        }
        let n = points.len();
        let mut list = Vec::with_capacity(n);
        for (mut p, v) in points {
            doc_id.clone_into(&mut p.doc_id);
            let payload = serde_json::to_value(&p).map_err(|e| backend("payload", e))?;
            if !payload.is_object() {
                return Err(backend("payload", "not a JSON object"));
            }
            list.push(PointStruct::new(point_id(&p.chunk_id), v, payload).into());
        }
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(list)),
            ))
            .map_err(|e| backend("upsert", e))?;
        self.len += n;
        Ok(())
    }

    fn delete_document(&mut self, doc_id: &str) -> VectorResult<bool> {
        let n = self.count(Some(doc_filter(doc_id)?))?;
        if n == 0 {
            return Ok(false);
        }
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(doc_filter(doc_id)?),
            ))
            .map_err(|e| backend("delete", e))?;
        self.len = self.len.saturating_sub(n);
        Ok(true)
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: &SearchFilter,
    ) -> VectorResult<Vec<VectorHit>> {
        self.search_inner(query, k, filter, false)
    }

    fn doc_hashes(&self) -> VectorResult<HashMap<String, String>> {
        let mut out = HashMap::new();
        for p in self.scroll_all(&["doc_id", "doc_hash"])? {
            let Some(Value::String(d)) = p.get("doc_id") else {
                continue;
            };
            let h = match p.get("doc_hash") {
                Some(Value::String(h)) => h.clone(),
                _ => String::new(),
            };
            out.entry(d.clone()).or_insert(h);
        }
        Ok(out)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn commit(&mut self) -> VectorResult<()> {
        self.shard.optimize().map_err(|e| backend("optimize", e))?;
        self.shard.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_translate_to_qdrant_conditions() {
        assert!(to_filter(&SearchFilter::default()).unwrap().is_none());
        let f = to_filter(&SearchFilter {
            year_min: Some(2010),
            year_max: None,
            sources: vec!["pmc".into(), "pubmed".into()],
        })
        .unwrap()
        .unwrap();
        let s = serde_json::to_value(&f).unwrap();
        let must = s["must"].as_array().unwrap();
        assert_eq!(must.len(), 2);
        assert_eq!(must[0]["key"], "year");
        assert_eq!(must[0]["range"]["gte"].as_f64(), Some(2010.0));
        assert_eq!(must[1]["match"]["any"], json!(["pmc", "pubmed"]));
    }

    #[test]
    fn point_ids_are_stable_and_distinct() {
        assert_eq!(point_id("PMID:1#0"), point_id("PMID:1#0"));
        assert_ne!(point_id("PMID:1#0"), point_id("PMID:1#1"));
    }
}
