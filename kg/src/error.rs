//! The crate's error type: says whose fault a failure is and whether a retry can help.

use std::path::PathBuf;

/// Everything that can go wrong in `clinrag-kg`.
///
/// Messages name the file and line (or the code) at fault and never carry free text
/// from patient notes.
#[derive(Debug, thiserror::Error)]
pub enum KgError {
    /// A file could not be opened or read (environment fault; retry may help).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file could not be written (environment fault; retry may help).
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A vocabulary file is malformed (data fault; re-run `clinrag setup`, no retry).
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A code given by the caller does not exist (caller fault).
    #[error("no such code: {0}")]
    NoSuchCode(String),
    /// The graph snapshot is missing, from another version or corrupt (rebuild it with `clinrag kg build`).
    #[error("graph snapshot {path}: {message}")]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The HPO loader of `clinrag-phenotype` failed.
    #[error("HPO: {0}")]
    Phenotype(String),
    /// The entity linker could not be built (internal fault).
    #[error("cannot build the entity linker: {0}")]
    Linker(String),
}

impl KgError {
    /// True when the caller (or the data it named) is at fault, false for environment or internal faults.
    pub fn is_user_fault(&self) -> bool {
        matches!(self, KgError::NoSuchCode(_))
    }

    /// True when retrying the same call later may succeed (I/O trouble).
    pub fn is_retryable(&self) -> bool {
        matches!(self, KgError::Io { .. } | KgError::Write { .. })
    }

    pub(crate) fn parse(path: &std::path::Path, line: usize, message: impl Into<String>) -> Self {
        KgError::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        KgError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, KgError>;
