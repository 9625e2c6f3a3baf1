//! Errors of the coding crate.

use std::path::PathBuf;

/// What went wrong, whose fault it is, and whether retrying helps.
#[derive(Debug, thiserror::Error)]
pub enum CodingError {
    /// A vocabulary file could not be loaded (missing or malformed: run `clinrag setup`).
    #[error("cannot load vocabulary: {0}")]
    Vocabulary(#[from] clinrag_kg::KgError),
    /// A vocabulary loaded but holds nothing usable.
    #[error("{path}: {message}")]
    Empty {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// An evaluation case file is unreadable or has a bad line (the caller's fault).
    #[error("{path}:{line}: {message}")]
    Cases {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The problem.
        message: String,
    },
    /// The embedding index of the code texts could not be built (the embedder failed: a
    /// missing or broken model is the operator's; retrying does not help).
    #[error("{path}: cannot build the embedding index: {message}")]
    Embedding {
        /// Where the index was to be written.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, CodingError>;
