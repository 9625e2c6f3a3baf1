//! The retrieval crate's error type.

use std::path::PathBuf;

/// Errors from the catalog and the indexes.
///
/// `Database` and `Index` failures are the service's fault and may be retried when transient
/// ([`Error::is_retryable`]); `InvalidQuery`, `SchemaMismatch` and `NotFound` are the caller's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The catalog database failed or could not be reached.
    #[error("catalog database: {0}")]
    Database(#[from] sqlx::Error),
    /// A catalog migration failed.
    #[error("catalog migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The catalog URL names no supported database.
    #[error("unsupported catalog URL scheme (expected sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
    /// The keyword index failed.
    #[error("keyword index at {path}: {source}")]
    Index {
        /// Index folder.
        path: PathBuf,
        /// Underlying tantivy error.
        source: tantivy::TantivyError,
    },
    /// The on-disk index was built with another schema version.
    #[error(
        "keyword index at {path} has schema version {found}, this build needs {expected}: remove the folder and run `clinrag check --repair` to rebuild it from the catalog"
    )]
    SchemaMismatch {
        /// Index folder.
        path: PathBuf,
        /// Version found on disk.
        found: String,
        /// Version this build writes.
        expected: String,
    },
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A catalog opened read-only has an older schema than this build (migrations need a
    /// writable file).
    #[error(
        "the catalog {0} is read-only and its schema is older than this build's: open it once where it is writable (any clinrag command migrates it)"
    )]
    ReadOnlySchema(String),
    /// The query cannot be run (empty, too long).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// Stored data does not decode (a bug or outside tampering).
    #[error("corrupt catalog row for {what}: {detail}")]
    Corrupt {
        /// What was being read.
        what: String,
        /// What is wrong.
        detail: String,
    },
}

impl Error {
    /// Whether retrying the same call later may succeed (the failure was transient and not the
    /// caller's fault).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database(e) => matches!(
                e,
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
            ),
            Error::Index { source, .. } => matches!(source, tantivy::TantivyError::LockFailure(..)),
            _ => false,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
