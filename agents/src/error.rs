//! The crate's error type: whose fault it was and whether a retry can help.

use clinrag_llm_runtime::LlmError;

/// Errors of the agents. Messages name the problem, never question, note or document text.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The request is malformed (empty or too long question, unknown document id, ...): the caller's fault.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Retrieval failed (index missing or corrupt).
    #[error("search failed: {0}")]
    Search(#[from] clinrag_retrieval::SearchError),
    /// The catalog failed.
    #[error("catalog error: {0}")]
    Catalog(#[from] clinrag_retrieval::Error),
    /// The chat model failed.
    #[error("model error: {0}")]
    Model(#[from] LlmError),
    /// The caller cancelled the request.
    #[error("cancelled")]
    Cancelled,
    /// A component this request needs is not configured (e.g. no catalog for summaries of stored documents).
    #[error("not available: {0}")]
    Unavailable(String),
    /// A worker task failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AgentError {
    /// Whether retrying the same request later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            AgentError::Model(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Whether the caller's request is at fault.
    pub fn is_caller_fault(&self) -> bool {
        matches!(self, AgentError::InvalidRequest(_) | AgentError::Cancelled)
            || matches!(self, AgentError::Model(e) if e.is_caller_fault())
    }
}

/// Result alias of this crate.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;
