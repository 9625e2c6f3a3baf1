//! The reranking stage: a [`Reranker`] reorders the fused candidates of a query (a
//! cross-encoder when one is configured). [`NoRerank`], the default, keeps the fused order.

use crate::keyword::Hit;

/// Reorders candidate passages for a query; must return a subset of `hits` (best first).
pub trait Reranker: Send + Sync {
    /// Name for logs and reports (`none`, a model name).
    fn name(&self) -> &str;
    /// The candidates reordered; ranks are renumbered by the caller.
    fn rerank(&self, query: &str, hits: Vec<Hit>) -> Result<Vec<Hit>, RerankError>;
}

/// A reranker failure (model missing, inference failed).
#[derive(Debug, thiserror::Error)]
#[error("reranker {name}: {detail}")]
pub struct RerankError {
    /// Reranker name.
    pub name: String,
    /// What went wrong.
    pub detail: String,
}

/// The identity reranker: reranking off.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRerank;

impl Reranker for NoRerank {
    fn name(&self) -> &str {
        "none"
    }

    fn rerank(&self, _query: &str, hits: Vec<Hit>) -> Result<Vec<Hit>, RerankError> {
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rerank_keeps_order() {
        let hit = |id: &str| Hit {
            rank: 0,
            score: 0.0,
            doc_id: id.into(),
            chunk_id: format!("{id}#0"),
            title: String::new(),
            section: String::new(),
            start: 0,
            end: 0,
            text: String::new(),
        };
        let hits = vec![hit("b"), hit("a")];
        let out = NoRerank.rerank("q", hits.clone()).unwrap();
        assert_eq!(out, hits);
    }
}
