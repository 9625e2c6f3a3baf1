//! Ingest for clinrag: source parsers (PubMed XML, PMC JATS, Markdown, plain text, JSONL), the
//! section-aware chunker, and resumable, idempotent ingest runs into the catalog and the
//! keyword index.

mod chunk;
mod error;
pub mod parse;
mod pipeline;
mod sentence;

pub use chunk::{ChunkConfig, chunk_document};
pub use error::{Error, FileError, Result};
pub use parse::{DocBuilder, Format, Item};
pub use pipeline::{
    CheckReport, ChunkAnnotator, DerivedIndex, Failure, IngestConfig, IngestReport, Ingestor,
    NoProgress, Progress, RecoveryReport,
};
pub use sentence::sentence_spans;
