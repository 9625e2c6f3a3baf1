//! The `ChatModel` trait: one interface over the local candle engine and OpenAI-compatible servers.

use std::future::Future;
use std::pin::Pin;

use futures::{Stream, StreamExt};

use crate::error::{LlmError, Result};
use crate::types::{
    ChatRequest, Completion, FinishReason, Message, ModelInfo, SamplingParams, StreamEvent, Usage,
};

/// A stream of generation events; the last item is [`StreamEvent::Done`] or an error.
/// Dropping the stream cancels the generation.
pub type TokenStream = Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send>>;

/// A boxed future, so that `ChatModel` stays object-safe (`Arc<dyn ChatModel>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A chat model: messages in, tokens out, plus constrained generation.
pub trait ChatModel: Send + Sync {
    /// What model this is.
    fn info(&self) -> ModelInfo;

    /// Streams the assistant's answer to `request.messages`.
    fn generate(&self, request: ChatRequest) -> TokenStream;

    /// Picks one of `options` as the assistant's answer; returns its index.
    /// The output can only be one of the options (logit masking over a token trie locally).
    fn choose(
        &self,
        messages: Vec<Message>,
        options: Vec<String>,
        params: SamplingParams,
    ) -> BoxFuture<'_, Result<usize>>;

    /// Produces a JSON value that matches `schema` (the subset documented in [`crate::JsonGrammar`]).
    fn generate_json(
        &self,
        messages: Vec<Message>,
        schema: serde_json::Value,
        params: SamplingParams,
    ) -> BoxFuture<'_, Result<serde_json::Value>>;

    /// Runs [`ChatModel::generate`] to the end and collects the text.
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<Completion>> {
        let stream = self.generate(request);
        Box::pin(collect(stream))
    }
}

/// Collects a token stream into a [`Completion`].
pub async fn collect(stream: TokenStream) -> Result<Completion> {
    collect_with(stream, |_| {}).await
}

/// Collects a token stream, calling `on_delta` with each piece of text as it arrives
/// (e.g. to print it to a terminal).
pub async fn collect_with(
    mut stream: TokenStream,
    mut on_delta: impl FnMut(&str),
) -> Result<Completion> {
    let mut text = String::new();
    while let Some(ev) = stream.next().await {
        match ev? {
            StreamEvent::Delta(d) => {
                on_delta(&d);
                text.push_str(&d);
            }
            StreamEvent::Done {
                finish,
                usage,
                timings,
            } => {
                return Ok(Completion {
                    text,
                    finish,
                    usage,
                    timings,
                });
            }
        }
    }
    Err(LlmError::EngineStopped)
}

/// Incremental stop-sequence matching: holds back text that may be the start of a stop sequence.
#[derive(Debug, Default)]
pub(crate) struct StopMatcher {
    stops: Vec<String>,
    text: String,
    emitted: usize,
}

impl StopMatcher {
    pub(crate) fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.to_vec(),
            text: String::new(),
            emitted: 0,
        }
    }

    /// Adds text; returns (text safe to emit, whether a stop sequence was hit).
    pub(crate) fn push(&mut self, piece: &str) -> (String, bool) {
        self.text.push_str(piece);
        if let Some(i) = self
            .stops
            .iter()
            .filter_map(|s| self.text.find(s.as_str()))
            .min()
        {
            let out = self.text[self.emitted.min(i)..i].to_string();
            self.emitted = self.text.len();
            return (out, true);
        }
        let mut hold = 0;
        for s in &self.stops {
            for (k, _) in s.char_indices().skip(1) {
                if self.text.ends_with(&s[..k]) {
                    hold = hold.max(k);
                }
            }
        }
        let end = self.text.len() - hold;
        let out = if end > self.emitted {
            self.text[self.emitted..end].to_string()
        } else {
            String::new()
        };
        self.emitted = self.emitted.max(end);
        (out, false)
    }

    /// Whatever is still held back (at the end of generation).
    pub(crate) fn flush(&mut self) -> String {
        let out = self
            .text
            .get(self.emitted..)
            .unwrap_or_default()
            .to_string();
        self.emitted = self.text.len();
        out
    }
}

/// Builds the final event.
pub(crate) fn done(
    finish: FinishReason,
    usage: Usage,
    timings: Option<crate::types::Timings>,
) -> StreamEvent {
    StreamEvent::Done {
        finish,
        usage,
        timings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_matcher_cases() {
        // (stops, pieces, expected emitted concatenation, hit)
        let cases: Vec<(Vec<&str>, Vec<&str>, &str, bool)> = vec![
            (vec![], vec!["ab", "cd"], "abcd", false),
            (vec!["\n\n"], vec!["hello\n", "\nworld"], "hello", true),
            (vec!["END"], vec!["xE", "N", "Dy"], "x", true),
            (vec!["END"], vec!["xE", "N", "o"], "xENo", false),
            (vec!["é!"], vec!["caf", "é", "!"], "caf", true),
        ];
        for (stops, pieces, want, want_hit) in cases {
            let stops: Vec<String> = stops.into_iter().map(String::from).collect();
            let mut m = StopMatcher::new(&stops);
            let mut out = String::new();
            let mut hit = false;
            for p in pieces {
                let (o, h) = m.push(p);
                out.push_str(&o);
                if h {
                    hit = true;
                    break;
                }
            }
            if !hit {
                out.push_str(&m.flush());
            }
            assert_eq!((out.as_str(), hit), (want, want_hit), "{stops:?}");
        }
    }
}
