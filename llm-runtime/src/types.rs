//! Request and response types shared by every backend: messages, sampling parameters, stream events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role name used by chat templates and the OpenAI wire format.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Sampling parameters. `temperature == 0` means greedy decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p` (1.0 = off).
    pub top_p: f32,
    /// Keep only the `top_k` most likely tokens (0 = off).
    pub top_k: usize,
    /// Divide positive logits (multiply negative ones) of already seen tokens by this (1.0 = off).
    pub repetition_penalty: f32,
    /// How many of the last tokens the repetition penalty looks at.
    pub repetition_window: usize,
    pub seed: u64,
    pub max_tokens: usize,
    /// Generation stops before the first occurrence of any of these strings.
    pub stop: Vec<String>,
    /// Never stop at end-of-sequence tokens (benchmarks; local backend only).
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            repetition_window: 64,
            seed: 42,
            max_tokens: 256,
            stop: Vec::new(),
            ignore_eos: false,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding of at most `max_tokens` tokens.
    pub fn greedy(max_tokens: usize) -> Self {
        Self {
            max_tokens,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        let bad = |m: &str| Err(crate::LlmError::InvalidRequest(m.to_string()));
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad("temperature must be a finite number >= 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if !self.repetition_penalty.is_finite() || self.repetition_penalty <= 0.0 {
            return bad("repetition_penalty must be > 0");
        }
        if self.max_tokens == 0 {
            return bad("max_tokens must be at least 1");
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("stop sequences must not be empty");
        }
        Ok(())
    }
}

/// A flag the caller sets to stop a generation early. Dropping the stream also cancels.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A generation request.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub params: SamplingParams,
    pub cancel: CancelToken,
}

impl ChatRequest {
    pub fn new(messages: Vec<Message>, params: SamplingParams) -> Self {
        Self {
            messages,
            params,
            cancel: CancelToken::new(),
        }
    }
}

/// Token accounting of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Prompt tokens served from the KV cache of the previous turn (local backend only).
    pub cached_prompt_tokens: usize,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model emitted an end-of-sequence token or the constraint was satisfied.
    Stop,
    /// A stop sequence was found.
    StopSequence,
    /// `max_tokens` was reached.
    Length,
    /// The context window is full.
    ContextFull,
}

/// Timings of one local generation (absent for servers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Seconds spent on the prompt (prefill), up to the first sampled token.
    pub prefill_secs: f64,
    /// Seconds spent on the tokens after the first.
    pub decode_secs: f64,
    /// Number of prompt tokens actually evaluated (after prefix reuse).
    pub prefill_tokens: usize,
    /// Number of forward passes of single tokens during decoding.
    pub decode_tokens: usize,
}

/// One event of a token stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// New text (one or more tokens' worth; always valid UTF-8 boundaries).
    Delta(String),
    /// Last event: why it ended and what it cost.
    Done {
        finish: FinishReason,
        usage: Usage,
        timings: Option<Timings>,
    },
}

/// A finished generation, collected from a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub finish: FinishReason,
    pub usage: Usage,
    pub timings: Option<Timings>,
}

/// What a backend reports about its model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// Backend name: `candle-gguf`, `candle-safetensors` or `openai`.
    pub backend: String,
    /// File name or server model name.
    pub model: String,
    /// Context window in tokens (0 when unknown).
    pub context_length: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_validation() {
        let ok = SamplingParams::default();
        assert!(ok.validate().is_ok());
        let cases = [
            SamplingParams {
                temperature: -1.0,
                ..ok.clone()
            },
            SamplingParams {
                temperature: f32::NAN,
                ..ok.clone()
            },
            SamplingParams {
                top_p: 0.0,
                ..ok.clone()
            },
            SamplingParams {
                top_p: 1.5,
                ..ok.clone()
            },
            SamplingParams {
                repetition_penalty: 0.0,
                ..ok.clone()
            },
            SamplingParams {
                max_tokens: 0,
                ..ok.clone()
            },
            SamplingParams {
                stop: vec![String::new()],
                ..ok.clone()
            },
        ];
        for c in cases {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn cancel_token_is_shared() {
        let t = CancelToken::new();
        let u = t.clone();
        assert!(!u.is_cancelled());
        t.cancel();
        assert!(u.is_cancelled());
    }
}
