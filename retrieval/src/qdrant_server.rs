//! [`ServerIndex`]: a Qdrant server or cluster as the vector index (`qdrant-client` over gRPC,
//! behind the cargo feature `qdrant-server`).
//!
//! One collection per index (default `clinrag_chunks`), created on first use with the
//! embedder's dimension and cosine distance, with keyword indexes on `doc_id` and `source` and
//! an integer index on `year`. Points are the same as the embedded index's
//! ([`crate::qdrant_edge`]): id from the chunk id, the whole [`ChunkPayload`] as payload.
//! The embedder name, dimension and kind are kept in a small local `meta.json` as for every
//! index, and the collection's own vector size is checked against them on open.
//!
//! The client is async; the trait is blocking. Each call runs on the index's own small tokio
//! runtime and the caller waits on a channel, so the index can be used from a plain thread or
//! from inside an async task alike. Upserts go in batches of [`ServerOptions::batch`] points
//! with `wait=true`; every request is retried with exponential backoff on transient errors
//! (unavailable, deadline exceeded, resource exhausted, aborted, I/O).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, PointStruct, QueryPointsBuilder, Range,
    ScrollPointsBuilder, SearchParamsBuilder, UpsertPointsBuilder, VectorParamsBuilder,
    vectors_config, with_payload_selector::SelectorOptions,
};
use qdrant_client::{Payload, Qdrant, QdrantError};

use crate::keyword::SearchFilter;
use crate::vector::{ChunkPayload, VectorError, VectorHit, VectorIndex, VectorMeta, VectorResult};

/// The `kind` recorded in `meta.json` for this index.
pub const KIND: &str = "qdrant";

/// Connection and tuning of a [`ServerIndex`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// gRPC URL of the server, e.g. `http://localhost:6334`.
    pub url: String,
    /// API key (from `CLINRAG_QDRANT_API_KEY`); never logged.
    pub api_key: Option<String>,
    /// Collection name.
    pub collection: String,
    /// Points per upsert request.
    pub batch: usize,
    /// Attempts per request (1 = no retry).
    pub attempts: u32,
    /// First backoff delay; doubled after each failed attempt.
    pub backoff: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
    /// HNSW candidate list size while searching.
    pub ef_search: u64,
}

impl ServerOptions {
    /// Options for `url` with the defaults: collection `clinrag_chunks`, batches of 256,
    /// 5 attempts from 200 ms, 30 s per request, `ef` 128.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            api_key: None,
            collection: "clinrag_chunks".into(),
            batch: 256,
            attempts: 5,
            backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(30),
            ef_search: 128,
        }
    }

    /// [`ServerOptions::new`] with the API key from `CLINRAG_QDRANT_API_KEY` when set.
    pub fn from_env(url: &str) -> Self {
        let mut o = Self::new(url);
        o.api_key = std::env::var("CLINRAG_QDRANT_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        o
    }
}

/// A Qdrant collection on a server as a [`VectorIndex`].
pub struct ServerIndex {
    dir: PathBuf,
    meta: VectorMeta,
    opts: ServerOptions,
    client: Arc<Qdrant>,
    rt: Option<tokio::runtime::Runtime>,
    len: usize,
}

impl std::fmt::Debug for ServerIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIndex")
            .field("url", &self.opts.url)
            .field("collection", &self.opts.collection)
            .field("meta", &self.meta)
            .finish()
    }
}

impl Drop for ServerIndex {
    fn drop(&mut self) {
        // Dropping a runtime blocks; inside an async task that panics, so let it go in the
        // background.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn backend(what: &str, e: impl std::fmt::Display) -> VectorError {
    VectorError::Backend(format!("qdrant server {what}: {e}"))
}

/// Whether a failed request may succeed when repeated.
pub fn is_transient(e: &QdrantError) -> bool {
    match e {
        // gRPC codes: 2 unknown (connection reset), 4 deadline exceeded, 8 resource exhausted,
        // 10 aborted, 14 unavailable.
        QdrantError::ResponseError { status } => {
            matches!(status.code() as i32, 2 | 4 | 8 | 10 | 14)
        }
        QdrantError::ResourceExhaustedError { .. } | QdrantError::Io(_) => true,
        _ => false,
    }
}

fn doc_filter(doc_id: &str) -> Filter {
    Filter::must([Condition::matches("doc_id", doc_id.to_owned())])
}

/// The server filter for a [`SearchFilter`].
pub fn to_filter(filter: &SearchFilter) -> Option<Filter> {
    let mut must = Vec::new();
    if filter.year_min.is_some() || filter.year_max.is_some() {
        must.push(Condition::range(
            "year",
            Range {
                gte: filter.year_min.map(|y| y as f64),
                lte: filter.year_max.map(|y| y as f64),
                ..Default::default()
            },
        ));
    }
    if !filter.sources.is_empty() {
        must.push(Condition::matches("source", filter.sources.clone()));
    }
    (!must.is_empty()).then(|| Filter::must(must))
}

impl ServerIndex {
    /// Connects to the server, creates the collection when it is missing (dimension `dim`,
    /// cosine) and checks it otherwise. `dir` keeps the local `meta.json`.
    pub fn open(dir: &Path, embedder: &str, dim: usize, opts: ServerOptions) -> VectorResult<Self> {
        let meta = VectorMeta {
            embedder: embedder.to_owned(),
            dim,
            kind: KIND.into(),
        };
        VectorMeta::check_or_write(dir, &meta)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("clinrag-qdrant")
            .enable_all()
            .build()
            .map_err(|e| backend("runtime", e))?;
        let mut b = Qdrant::from_url(&opts.url)
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(5))
            .skip_compatibility_check();
        if let Some(k) = &opts.api_key {
            b = b.api_key(k.clone());
        }
        let client = Arc::new(b.build().map_err(|e| backend(&opts.url, e))?);
        let mut idx = Self {
            dir: dir.to_path_buf(),
            meta,
            opts,
            client,
            rt: Some(rt),
            len: 0,
        };
        idx.ensure_collection()?;
        idx.len = idx.count(None)?;
        Ok(idx)
    }

    /// Folder of the local `meta.json`.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Runs `f(client)` on the index's runtime with retries; blocks the caller until done.
    fn call<T, F, Fut>(&self, what: &'static str, f: F) -> VectorResult<T>
    where
        T: Send + 'static,
        F: Fn(Arc<Qdrant>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, QdrantError>> + Send,
    {
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| backend(what, "runtime stopped"))?;
        let client = self.client.clone();
        let (attempts, backoff) = (self.opts.attempts.max(1), self.opts.backoff);
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let mut delay = backoff;
            let mut n = 1;
            let r = loop {
                match f(client.clone()).await {
                    Ok(v) => break Ok(v),
                    Err(e) if n < attempts && is_transient(&e) => {
                        let wait = match &e {
                            QdrantError::ResourceExhaustedError {
                                retry_after_seconds,
                                ..
                            } => Duration::from_secs(*retry_after_seconds).max(delay),
                            _ => delay,
                        };
                        tracing::warn!("qdrant {what}: attempt {n} failed ({e}); retrying");
                        tokio::time::sleep(wait).await;
                        delay = delay.saturating_mul(2);
                        n += 1;
                    }
                    Err(e) => break Err(e),
                }
            };
            let _ = tx.send(r);
        });
        let url = &self.opts.url;
        rx.recv()
            .map_err(|_| backend(what, "request task stopped"))?
            .map_err(|e| backend(what, format!("{url}: {e}")))
    }

    fn ensure_collection(&mut self) -> VectorResult<()> {
        let name = self.opts.collection.clone();
        let n = name.clone();
        let exists = self.call("collection_exists", move |c| {
            let n = n.clone();
            async move { c.collection_exists(n).await }
        })?;
        if exists {
            let n = name.clone();
            let info = self.call("collection_info", move |c| {
                let n = n.clone();
                async move { c.collection_info(n).await }
            })?;
            let size = info
                .result
                .and_then(|r| r.config)
                .and_then(|c| c.params)
                .and_then(|p| p.vectors_config)
                .and_then(|v| v.config)
                .and_then(|c| match c {
                    vectors_config::Config::Params(p) => Some(p.size),
                    vectors_config::Config::ParamsMap(_) => None,
                });
            if size != Some(self.meta.dim as u64) {
                return Err(VectorError::EmbedderMismatch {
                    path: PathBuf::from(format!("{}/collections/{name}", self.opts.url)),
                    found_embedder: "(unknown: server collection)".into(),
                    found_dim: size.map_or(0, |s| s as usize),
                    expected_embedder: self.meta.embedder.clone(),
                    expected_dim: self.meta.dim,
                });
            }
            return Ok(());
        }
        let (n, dim) = (name.clone(), self.meta.dim as u64);
        self.call("create_collection", move |c| {
            let n = n.clone();
            async move {
                c.create_collection(
                    CreateCollectionBuilder::new(n)
                        .vectors_config(VectorParamsBuilder::new(dim, Distance::Cosine)),
                )
                .await
            }
        })?;
        for (field, ty) in [
            ("doc_id", FieldType::Keyword),
            ("source", FieldType::Keyword),
            ("year", FieldType::Integer),
        ] {
            let n = name.clone();
            self.call("create_field_index", move |c| {
                let n = n.clone();
                async move {
                    c.create_field_index(
                        CreateFieldIndexCollectionBuilder::new(n, field, ty).wait(true),
                    )
                    .await
                }
            })?;
        }
        Ok(())
    }

    fn count(&self, filter: Option<Filter>) -> VectorResult<usize> {
        let n = self.opts.collection.clone();
        let r = self.call("count", move |c| {
            let mut b = CountPointsBuilder::new(n.clone()).exact(true);
            if let Some(f) = filter.clone() {
                b = b.filter(f);
            }
            async move { c.count(b).await }
        })?;
        Ok(r.result.map_or(0, |r| r.count as usize))
    }
}

fn decode(payload: HashMap<String, qdrant_client::qdrant::Value>) -> VectorResult<ChunkPayload> {
    Payload::from(payload)
        .deserialize()
        .map_err(|e| backend("stored payload does not decode", e))
}

impl VectorIndex for ServerIndex {
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
        let n = points.len();
        let mut list = Vec::with_capacity(n);
        for (mut p, v) in points {
            doc_id.clone_into(&mut p.doc_id);
            let json = serde_json::to_value(&p).map_err(|e| backend("payload", e))?;
            let payload = Payload::try_from(json).map_err(|e| backend("payload", e))?;
            list.push(PointStruct::new(
                crate::vector::point_id(&p.chunk_id),
                v,
                payload,
            ));
        }
        for part in list.chunks(self.opts.batch.max(1)) {
            let (name, part) = (self.opts.collection.clone(), part.to_vec());
            self.call("upsert", move |c| {
                let b = UpsertPointsBuilder::new(name.clone(), part.clone()).wait(true);
                async move { c.upsert_points(b).await }
            })?;
        }
        self.len += n;
        Ok(())
    }

    fn delete_document(&mut self, doc_id: &str) -> VectorResult<bool> {
        let n = self.count(Some(doc_filter(doc_id)))?;
        if n == 0 {
            return Ok(false);
        }
        let (name, f) = (self.opts.collection.clone(), doc_filter(doc_id));
        self.call("delete", move |c| {
            let b = DeletePointsBuilder::new(name.clone())
                .points(f.clone())
                .wait(true);
            async move { c.delete_points(b).await }
        })?;
        self.len = self.len.saturating_sub(n);
        Ok(true)
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: &SearchFilter,
    ) -> VectorResult<Vec<VectorHit>> {
        if query.len() != self.meta.dim {
            return Err(VectorError::Dimension {
                expected: self.meta.dim,
                got: query.len(),
            });
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        let (name, q, f) = (
            self.opts.collection.clone(),
            query.to_vec(),
            to_filter(filter),
        );
        let ef = self.opts.ef_search.max(k as u64);
        let r = self.call("query", move |c| {
            let mut b = QueryPointsBuilder::new(name.clone())
                .query(q.clone())
                .limit(k as u64)
                .with_payload(true)
                .params(SearchParamsBuilder::default().hnsw_ef(ef));
            if let Some(f) = f.clone() {
                b = b.filter(f);
            }
            async move { c.query(b).await }
        })?;
        r.result
            .into_iter()
            .map(|p| {
                Ok(VectorHit {
                    score: p.score,
                    payload: decode(p.payload)?,
                })
            })
            .collect()
    }

    fn doc_hashes(&self) -> VectorResult<HashMap<String, String>> {
        let mut out = HashMap::new();
        let mut offset: Option<qdrant_client::qdrant::PointId> = None;
        loop {
            let (name, off) = (self.opts.collection.clone(), offset.clone());
            let r = self.call("scroll", move |c| {
                let mut b = ScrollPointsBuilder::new(name.clone())
                    .limit(4096)
                    .with_payload(SelectorOptions::Include(
                        vec!["doc_id".to_owned(), "doc_hash".to_owned()].into(),
                    ));
                if let Some(o) = off.clone() {
                    b = b.offset(o);
                }
                async move { c.scroll(b).await }
            })?;
            for p in r.result {
                let json = serde_json::Value::from(Payload::from(p.payload));
                let get = |k: &str| json.get(k).and_then(|v| v.as_str()).map(ToOwned::to_owned);
                if let Some(d) = get("doc_id") {
                    out.entry(d)
                        .or_insert_with(|| get("doc_hash").unwrap_or_default());
                }
            }
            match r.next_page_offset {
                Some(o) if o.point_id_options.is_some() => offset = Some(o),
                _ => return Ok(out),
            }
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn commit(&mut self) -> VectorResult<()> {
        // Every write waited for the server's acknowledgement (`wait=true`): nothing to flush.
        Ok(())
    }
}
