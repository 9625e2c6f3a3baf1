//! The crate's error type: what went wrong, whose fault it was and whether a retry can help.

use std::path::PathBuf;

/// Errors of every chat model backend.
///
/// Variants are grouped by fault: the caller's input (`Invalid*`, `ContextOverflow`),
/// the model files (`Model*`, `Unsupported*`, `Tokenizer`, `Template`), the runtime
/// (`Engine*`, `QueueFull`, `Compute`) and the remote server (`Server*`, `Timeout`,
/// `Connection`). [`LlmError::is_retryable`] says which ones are worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The model file could not be read (missing, permission, I/O).
    #[error("cannot read model file {path}: {source}")]
    ModelIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The model file is not a valid GGUF/safetensors checkpoint (truncated, wrong magic, bad tensor).
    #[error("invalid model file {path}: {reason}")]
    ModelFormat { path: PathBuf, reason: String },
    /// The file is valid but its architecture is not supported by this runtime.
    #[error("unsupported model architecture {arch:?} in {path} (supported: llama)")]
    UnsupportedArchitecture { path: PathBuf, arch: String },
    /// The tokenizer could not be built or failed on input.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// The chat template could not be compiled or rendered.
    #[error("chat template error: {0}")]
    Template(String),
    /// The prompt does not fit the model's context window.
    #[error(
        "prompt of {prompt_tokens} tokens leaves no room in the context window of {context} tokens"
    )]
    ContextOverflow {
        prompt_tokens: usize,
        context: usize,
    },
    /// A request parameter is out of range or inconsistent (the caller's fault).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The JSON schema given for constrained output uses a construct this runtime does not support.
    #[error("unsupported JSON schema: {0}")]
    UnsupportedSchema(String),
    /// The model's output did not satisfy the constraint (only for servers that cannot mask logits).
    #[error("output violates the constraint: {0}")]
    ConstraintViolation(String),
    /// A tensor operation failed while running the model.
    #[error("model computation failed: {0}")]
    Compute(String),
    /// The engine thread is gone (it panicked or the model was dropped).
    #[error("the model engine has stopped")]
    EngineStopped,
    /// The engine's request queue is full; try again later.
    #[error("the model engine queue is full ({capacity} requests waiting)")]
    QueueFull { capacity: usize },
    /// The request was cancelled by the caller.
    #[error("generation cancelled")]
    Cancelled,
    /// The remote server did not answer within the timeout.
    #[error("server did not answer within {secs:.1} s")]
    Timeout { secs: f64 },
    /// The remote server could not be reached.
    #[error("cannot connect to the server: {0}")]
    Connection(String),
    /// The remote server answered with an HTTP error status.
    #[error("server returned HTTP {status}: {message}")]
    ServerStatus { status: u16, message: String },
    /// The remote server answered something that is not the OpenAI wire format.
    #[error("malformed server response: {0}")]
    ServerProtocol(String),
}

impl LlmError {
    /// Whether retrying the same request later can succeed (transient failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::QueueFull { .. } | LlmError::Timeout { .. } | LlmError::Connection(_) => true,
            LlmError::ServerStatus { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// Whether the caller's request (not the model or the server) is at fault.
    pub fn is_caller_fault(&self) -> bool {
        matches!(
            self,
            LlmError::ContextOverflow { .. }
                | LlmError::InvalidRequest(_)
                | LlmError::UnsupportedSchema(_)
                | LlmError::Cancelled
        )
    }

    pub(crate) fn compute(e: impl std::fmt::Display) -> Self {
        LlmError::Compute(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = LlmError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        let cases: Vec<(LlmError, bool)> = vec![
            (LlmError::Timeout { secs: 1.0 }, true),
            (LlmError::QueueFull { capacity: 4 }, true),
            (LlmError::Connection("refused".into()), true),
            (
                LlmError::ServerStatus {
                    status: 503,
                    message: String::new(),
                },
                true,
            ),
            (
                LlmError::ServerStatus {
                    status: 429,
                    message: String::new(),
                },
                true,
            ),
            (
                LlmError::ServerStatus {
                    status: 400,
                    message: String::new(),
                },
                false,
            ),
            (LlmError::ServerProtocol("garbage".into()), false),
            (
                LlmError::ContextOverflow {
                    prompt_tokens: 9,
                    context: 8,
                },
                false,
            ),
            (LlmError::EngineStopped, false),
        ];
        for (e, want) in cases {
            assert_eq!(e.is_retryable(), want, "{e}");
        }
    }
}
