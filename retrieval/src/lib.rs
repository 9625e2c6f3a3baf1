//! Storage and search for clinrag: the catalog (SQLite or PostgreSQL through sqlx), the keyword
//! index (tantivy) and the citation-carrying search hits built from them.
//!
//! The catalog is the source of truth: every index here can be re-derived from it.

mod bert_cpu;
mod catalog;
mod document;
pub mod embed;
mod error;
pub mod expansion;
pub mod fusion;
mod keyword;
mod keyword_ro;
pub mod openai_embed;
#[cfg(feature = "qdrant-edge")]
pub mod qdrant_edge;
#[cfg(feature = "qdrant-server")]
pub mod qdrant_server;
pub mod rerank;
pub mod vector;

pub use catalog::{ApiToken, Catalog, CatalogStats, FileState, RunCounts, StoredChunk};
pub use document::{Chunk, Document, Section, char_slice, char_slice_from};
pub use embed::{BertEmbedder, BertOptions, EmbedError, Embedder};
pub use error::{Error, Result};
pub use expansion::{
    ExpandedHit, ExpansionConcept, ExpansionConfig, ExpansionNote, ExpansionTerm, QueryExpansion,
};
pub use fusion::{FusionConfig, HybridSearcher, SearchError, SearchMode};
pub use keyword::{Hit, KeywordIndex, KeywordStats, KeywordWriter, SearchFilter, validate_query};
pub use rerank::{NoRerank, Reranker};
pub use vector::{FlatIndex, VectorError, VectorIndex};

/// Longest query text accepted, in characters; longer queries are refused, not truncated.
pub const MAX_QUERY_CHARS: usize = 4_096;

/// Milliseconds since the Unix epoch (catalog timestamps).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
