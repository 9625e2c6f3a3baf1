//! A [`ChatModel`] that replays scripted outputs: a real implementation of the trait whose output
//! is chosen by a test (to play an adversarial model), not a stand-in for a model that runs here.
//!
//! Each call takes the next scripted reply (the last one repeats when the script runs out):
//! `generate` streams it as text, `choose` returns the option equal to it (or the index it
//! parses as, even out of range: an adversarial model breaking the trait's contract), and
//! `generate_json` parses it as JSON without any schema check.

use std::collections::VecDeque;
use std::sync::Mutex;

use clinrag_llm_runtime::{
    BoxFuture, ChatModel, ChatRequest, FinishReason, LlmError, Message, ModelInfo, SamplingParams,
    StreamEvent, TokenStream, Usage,
};

/// Replays scripted replies; records the prompts it was given.
#[derive(Debug, Default)]
pub struct ScriptedModel {
    replies: Mutex<VecDeque<String>>,
    last: Mutex<Option<String>>,
    seen: Mutex<Vec<Vec<Message>>>,
}

impl ScriptedModel {
    /// A model that answers `replies` in order.
    pub fn new<S: Into<String>>(replies: impl IntoIterator<Item = S>) -> Self {
        Self {
            replies: Mutex::new(replies.into_iter().map(Into::into).collect()),
            ..Self::default()
        }
    }

    fn next(&self) -> Result<String, LlmError> {
        let mut q = self
            .replies
            .lock()
            .map_err(|_| LlmError::Compute("script lock poisoned".into()))?;
        let mut last = self
            .last
            .lock()
            .map_err(|_| LlmError::Compute("script lock poisoned".into()))?;
        if let Some(r) = q.pop_front() {
            *last = Some(r.clone());
            return Ok(r);
        }
        last.clone().ok_or(LlmError::EngineStopped)
    }

    fn record(&self, messages: &[Message]) {
        if let Ok(mut s) = self.seen.lock() {
            s.push(messages.to_vec());
        }
    }

    /// The messages of every call so far.
    pub fn prompts(&self) -> Vec<Vec<Message>> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl ChatModel for ScriptedModel {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            backend: "scripted".into(),
            model: "scripted".into(),
            context_length: 0,
        }
    }

    fn generate(&self, request: ChatRequest) -> TokenStream {
        self.record(&request.messages);
        let events: Vec<Result<StreamEvent, LlmError>> = match self.next() {
            Err(e) => vec![Err(e)],
            Ok(text) => {
                let mut v: Vec<Result<StreamEvent, LlmError>> = text
                    .split_inclusive(' ')
                    .map(|w| Ok(StreamEvent::Delta(w.to_string())))
                    .collect();
                v.push(Ok(StreamEvent::Done {
                    finish: FinishReason::Stop,
                    usage: Usage {
                        prompt_tokens: 0,
                        completion_tokens: text.split_whitespace().count(),
                        cached_prompt_tokens: 0,
                    },
                    timings: None,
                }));
                v
            }
        };
        Box::pin(futures::stream::iter(events))
    }

    fn choose(
        &self,
        messages: Vec<Message>,
        options: Vec<String>,
        _params: SamplingParams,
    ) -> BoxFuture<'_, Result<usize, LlmError>> {
        self.record(&messages);
        Box::pin(async move {
            let r = self.next()?;
            if let Some(i) = options.iter().position(|o| *o == r) {
                return Ok(i);
            }
            r.trim()
                .parse::<usize>()
                .map_err(|_| LlmError::ConstraintViolation("scripted reply is no option".into()))
        })
    }

    fn generate_json(
        &self,
        messages: Vec<Message>,
        _schema: serde_json::Value,
        _params: SamplingParams,
    ) -> BoxFuture<'_, Result<serde_json::Value, LlmError>> {
        self.record(&messages);
        Box::pin(async move {
            let r = self.next()?;
            serde_json::from_str(&r)
                .map_err(|e| LlmError::ConstraintViolation(format!("scripted reply: {e}")))
        })
    }
}
