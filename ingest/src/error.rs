//! Errors of the ingest crate.

use std::path::PathBuf;

/// A problem with one input file. Messages name the file and the problem, never document text.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

impl FileError {
    /// Builds an error for `path`.
    pub fn new(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Errors that stop an ingest run (bad input files do not: they are reported and skipped).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The catalog or the keyword index failed.
    #[error(transparent)]
    Store(#[from] clinrag_retrieval::Error),
    /// A worker thread died.
    #[error("ingest worker failed: {0}")]
    Worker(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
