//! Hybrid search: BM25 and dense candidates fused with weighted reciprocal rank fusion (RRF),
//! optional per-document diversity, then the reranking stage.
//!
//! RRF scores a chunk `sum_i w_i / (k + rank_i)` over the lists it appears in (ranks from 1):
//! it needs no score calibration between BM25 and cosine similarity.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::embed::{EmbedError, Embedder};
use crate::keyword::{Hit, KeywordIndex, SearchFilter, validate_query};
use crate::rerank::{NoRerank, RerankError, Reranker};
use crate::vector::{VectorError, VectorIndex};

/// Which retrievers a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// BM25 over the keyword index.
    Bm25,
    /// Cosine similarity over the vector index.
    Dense,
    /// Both, fused with RRF.
    Hybrid,
}

/// Parameters of the fusion.
#[derive(Debug, Clone)]
pub struct FusionConfig {
    /// RRF constant `k` (60 in the original paper); larger flattens the rank discount.
    pub rrf_k: f32,
    /// Weight of the BM25 list.
    pub bm25_weight: f32,
    /// Weight of the dense list.
    pub dense_weight: f32,
    /// Candidates fetched from each retriever, as a multiple of the requested count.
    pub depth_factor: usize,
    /// Minimum candidates fetched from each retriever.
    pub min_depth: usize,
    /// At most this many chunks per document in the result (`None`: no limit).
    pub max_per_doc: Option<usize>,
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            rrf_k: 60.0,
            bm25_weight: 1.0,
            dense_weight: 1.0,
            depth_factor: 4,
            min_depth: 50,
            max_per_doc: None,
        }
    }
}

/// An item of a fused list.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    /// Item id.
    pub id: String,
    /// RRF score.
    pub score: f32,
    /// 1-based rank in the fused list.
    pub rank: usize,
}

/// Weighted reciprocal rank fusion of ranked id lists (best first, duplicates after the first
/// occurrence in a list ignored). Ties are broken by the best single-list rank, then by id, so
/// the result is deterministic.
pub fn reciprocal_rank_fusion(lists: &[(&[String], f32)], k: f32) -> Vec<Fused> {
    let k = if k.is_finite() && k >= 0.0 { k } else { 60.0 };
    let mut acc: HashMap<&str, (f32, usize)> = HashMap::new();
    for (list, weight) in lists {
        let w = if weight.is_finite() && *weight >= 0.0 {
            *weight
        } else {
            0.0
        };
        let mut seen = std::collections::HashSet::new();
        let mut rank = 0usize;
        for id in list.iter() {
            if !seen.insert(id.as_str()) {
                continue;
            }
            rank += 1;
            let e = acc.entry(id.as_str()).or_insert((0.0, usize::MAX));
            e.0 += w / (k + rank as f32);
            e.1 = e.1.min(rank);
        }
    }
    let mut out: Vec<(&str, f32, usize)> = acc.into_iter().map(|(id, (s, r))| (id, s, r)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.cmp(b.0)));
    out.into_iter()
        .enumerate()
        .map(|(i, (id, score, _))| Fused {
            id: id.to_owned(),
            score,
            rank: i + 1,
        })
        .collect()
}

/// BM25 and dense hit lists fused by [`reciprocal_rank_fusion`] with the configured weights; each
/// fused hit keeps its dense-side record (or its BM25 one) with the fused score.
pub(crate) fn fuse_hits(bm25: Vec<Hit>, dense: Vec<Hit>, cfg: &FusionConfig) -> Vec<Hit> {
    let ids = |hs: &[Hit]| hs.iter().map(|h| h.chunk_id.clone()).collect::<Vec<_>>();
    let (bi, di) = (ids(&bm25), ids(&dense));
    let fused = reciprocal_rank_fusion(
        &[(&bi, cfg.bm25_weight), (&di, cfg.dense_weight)],
        cfg.rrf_k,
    );
    let mut by_id: HashMap<String, Hit> = HashMap::new();
    for h in dense.into_iter().chain(bm25) {
        by_id.entry(h.chunk_id.clone()).or_insert(h);
    }
    fused
        .into_iter()
        .filter_map(|f| {
            let mut h = by_id.remove(&f.id)?;
            h.score = f.score;
            Some(h)
        })
        .collect()
}

/// Keeps at most `n` hits per document, in order.
pub fn limit_per_doc(hits: Vec<Hit>, n: usize) -> Vec<Hit> {
    let mut count: HashMap<String, usize> = HashMap::new();
    hits.into_iter()
        .filter(|h| {
            let c = count.entry(h.doc_id.clone()).or_insert(0);
            *c += 1;
            *c <= n
        })
        .collect()
}

/// Errors of a hybrid search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The keyword index failed, or the query is invalid.
    #[error(transparent)]
    Keyword(#[from] crate::Error),
    /// Embedding the query failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The vector index failed.
    #[error(transparent)]
    Vector(#[from] VectorError),
    /// The reranker failed.
    #[error(transparent)]
    Rerank(#[from] RerankError),
    /// Dense or hybrid search was asked for without a vector index.
    #[error(
        "no vector index: run `clinrag ingest` with the embedding model installed, or use --mode bm25"
    )]
    NoVectors,
}

/// The embedder and vector index behind dense search.
type DenseParts = (Arc<dyn Embedder>, Arc<RwLock<dyn VectorIndex>>);

/// Searches the keyword index, the vector index or both.
pub struct HybridSearcher {
    pub(crate) keyword: KeywordIndex,
    dense: Option<DenseParts>,
    pub(crate) reranker: Arc<dyn Reranker>,
    /// Fusion parameters.
    pub config: FusionConfig,
}

impl std::fmt::Debug for HybridSearcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridSearcher")
            .field("keyword", &self.keyword)
            .field("dense", &self.dense.is_some())
            .field("config", &self.config)
            .finish()
    }
}

impl HybridSearcher {
    /// A searcher over the keyword index alone.
    pub fn new(keyword: KeywordIndex) -> Self {
        Self {
            keyword,
            dense: None,
            reranker: Arc::new(NoRerank),
            config: FusionConfig::default(),
        }
    }

    /// Adds the dense retriever.
    pub fn with_dense(
        mut self,
        embedder: Arc<dyn Embedder>,
        index: Arc<RwLock<dyn VectorIndex>>,
    ) -> Self {
        self.dense = Some((embedder, index));
        self
    }

    /// Replaces the reranker.
    pub fn with_reranker(mut self, reranker: Arc<dyn Reranker>) -> Self {
        self.reranker = reranker;
        self
    }

    /// Whether dense and hybrid modes are available.
    pub fn has_dense(&self) -> bool {
        self.dense.is_some()
    }

    /// The query embedder of the dense retriever, for callers that embed other text with the
    /// same model (one model in memory per process).
    pub fn embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.dense.as_ref().map(|(e, _)| e.clone())
    }

    pub(crate) fn dense_search(
        &self,
        query: &str,
        depth: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<Hit>, SearchError> {
        let (embedder, index) = self.dense.as_ref().ok_or(SearchError::NoVectors)?;
        let qv = embedder
            .embed(&[query.to_owned()])?
            .into_iter()
            .next()
            .ok_or_else(|| EmbedError::Forward("no vector for the query".into()))?;
        let index = index
            .read()
            .map_err(|_| VectorError::Backend("vector index lock poisoned".into()))?;
        Ok(index
            .search(&qv, depth, filter)?
            .into_iter()
            .enumerate()
            .map(|(i, h)| h.payload.to_hit(i + 1, h.score))
            .collect())
    }

    /// The best `k` passages for `query` in `mode`, best first, ranks from 1.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        mode: SearchMode,
        filter: &SearchFilter,
    ) -> Result<Vec<Hit>, SearchError> {
        let query = validate_query(query)?;
        let cfg = &self.config;
        // Fetch more when diversity will drop chunks of the same document.
        let want = match cfg.max_per_doc {
            Some(_) => k.saturating_mul(cfg.depth_factor),
            None => k,
        };
        let depth = k.saturating_mul(cfg.depth_factor).max(cfg.min_depth);
        let mut hits = match mode {
            SearchMode::Bm25 => self.keyword.search(query, want, filter)?,
            SearchMode::Dense => self.dense_search(query, want, filter)?,
            SearchMode::Hybrid => {
                let bm25 = self.keyword.search(query, depth, filter)?;
                let dense = self.dense_search(query, depth, filter)?;
                fuse_hits(bm25, dense, cfg)
            }
        };
        if let Some(n) = cfg.max_per_doc {
            hits = limit_per_doc(hits, n.max(1));
        }
        let mut hits = self.reranker.rerank(query, hits)?;
        hits.truncate(k);
        for (i, h) in hits.iter_mut().enumerate() {
            h.rank = i + 1;
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rrf_known_values() {
        let a = ids(&["x", "y", "z"]);
        let b = ids(&["y", "w"]);
        let f = reciprocal_rank_fusion(&[(&a, 1.0), (&b, 1.0)], 60.0);
        let order: Vec<&str> = f.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(order, ["y", "x", "w", "z"]);
        assert!((f[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-7);
        // A zero weight switches a list off.
        let f = reciprocal_rank_fusion(&[(&a, 0.0), (&b, 1.0)], 60.0);
        assert_eq!(f[0].id, "y");
        assert_eq!(f[1].id, "w");
    }

    #[test]
    fn diversity_keeps_first_n_per_doc() {
        let hit = |doc: &str, ord: u32| Hit {
            rank: 0,
            score: 0.0,
            doc_id: doc.into(),
            chunk_id: format!("{doc}#{ord}"),
            title: String::new(),
            section: String::new(),
            start: 0,
            end: 0,
            text: String::new(),
        };
        let hs = vec![
            hit("a", 0),
            hit("a", 1),
            hit("b", 0),
            hit("a", 2),
            hit("b", 1),
        ];
        let out: Vec<String> = limit_per_doc(hs, 1)
            .into_iter()
            .map(|h| h.chunk_id)
            .collect();
        assert_eq!(out, ["a#0", "b#0"]);
    }

    fn list() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(0u8..30, 0..20)
            .prop_map(|v| v.into_iter().map(|x| format!("c{x}")).collect())
    }

    proptest! {
        #[test]
        fn rrf_scores_finite_ranks_dense(a in list(), b in list(), k in 0.0f32..200.0, wa in 0.0f32..3.0, wb in 0.0f32..3.0) {
            let f = reciprocal_rank_fusion(&[(&a, wa), (&b, wb)], k);
            let distinct: std::collections::HashSet<&String> = a.iter().chain(&b).collect();
            prop_assert_eq!(f.len(), distinct.len());
            for (i, x) in f.iter().enumerate() {
                prop_assert!(x.score.is_finite() && x.score >= 0.0);
                prop_assert_eq!(x.rank, i + 1);
                if i > 0 { prop_assert!(f[i - 1].score >= x.score); }
            }
        }

        #[test]
        fn first_in_both_lists_is_first(a in list(), b in list(), top in 100u8..110, k in 0.0f32..200.0) {
            let t = format!("c{top}");
            let mut a = a; a.insert(0, t.clone());
            let mut b = b; b.insert(0, t.clone());
            let f = reciprocal_rank_fusion(&[(&a, 1.0), (&b, 1.0)], k);
            prop_assert_eq!(&f[0].id, &t);
        }
    }
}
