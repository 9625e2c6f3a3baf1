//! The OpenAI-compatible backend (vLLM, llama.cpp server, Ollama, OpenAI) through async-openai,
//! with timeouts, bounded retries and streaming.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig as ClientConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{CreateChatCompletionRequest, CreateChatCompletionStreamResponse};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::constrain::JsonGrammar;
use crate::error::{LlmError, Result};
use crate::model::{BoxFuture, ChatModel, StopMatcher, TokenStream, done};
use crate::types::{
    ChatRequest, FinishReason, Message, ModelInfo, SamplingParams, StreamEvent, Usage,
};

/// Settings of a server backend. The binary reads the API key from the environment and passes it here.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Base URL including the version path, e.g. `http://localhost:8000/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    /// Limit for the first answer byte and for each gap between streamed chunks.
    pub timeout: Duration,
    /// Extra attempts after a retryable failure (before any text was streamed).
    pub max_retries: usize,
    /// Context window of the served model, if known (0 = unknown).
    pub context_length: usize,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://localhost:8000/v1".into(),
            model: "default".into(),
            api_key: None,
            timeout: Duration::from_secs(60),
            max_retries: 2,
            context_length: 0,
        }
    }
}

/// A chat model behind an OpenAI-compatible HTTP endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiModel {
    client: Client<ClientConfig>,
    config: OpenAiConfig,
}

fn map_err(e: OpenAIError) -> LlmError {
    match e {
        OpenAIError::Reqwest(r) => {
            if r.is_timeout() {
                LlmError::Timeout { secs: 0.0 }
            } else if r.is_decode() || r.is_body() {
                LlmError::ServerProtocol(r.to_string())
            } else if let Some(s) = r.status() {
                LlmError::ServerStatus {
                    status: s.as_u16(),
                    message: r.to_string(),
                }
            } else {
                LlmError::Connection(r.to_string())
            }
        }
        OpenAIError::ApiError(a) => LlmError::ServerStatus {
            status: a.status_code.as_u16(),
            message: a.api_error.message.clone(),
        },
        OpenAIError::JSONDeserialize(err, _) => {
            LlmError::ServerProtocol(format!("invalid JSON from server: {err}"))
        }
        OpenAIError::StreamError(s) => LlmError::ServerProtocol(format!("bad event stream: {s}")),
        OpenAIError::InvalidArgument(m) => LlmError::InvalidRequest(m),
        other => LlmError::ServerProtocol(other.to_string()),
    }
}

fn wire_messages(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect()
}

fn finish_of(r: Option<&async_openai::types::chat::FinishReason>) -> FinishReason {
    use async_openai::types::chat::FinishReason as F;
    match r {
        Some(F::Length) => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

impl OpenAiModel {
    /// Builds the client (no network access happens here).
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(LlmError::InvalidRequest(format!(
                "base URL must be http(s): {:?}",
                config.base_url
            )));
        }
        if config.timeout.is_zero() {
            return Err(LlmError::InvalidRequest("timeout must be > 0".into()));
        }
        let mut cc = ClientConfig::new().with_api_base(config.base_url.trim_end_matches('/'));
        cc = cc.with_api_key(config.api_key.clone().unwrap_or_default());
        Ok(Self {
            client: Client::with_config(cc),
            config,
        })
    }

    fn request(
        &self,
        messages: &[Message],
        params: &SamplingParams,
        stream: bool,
        extra: Option<Value>,
    ) -> Result<CreateChatCompletionRequest> {
        params.validate()?;
        let mut body = json!({
            "model": self.config.model,
            "messages": wire_messages(messages),
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed as i64,
            "max_tokens": params.max_tokens,
        });
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        if let (Some(Value::Object(extra)), Some(obj)) = (extra, body.as_object_mut()) {
            obj.extend(extra);
        }
        serde_json::from_value(body)
            .map_err(|e| LlmError::InvalidRequest(format!("cannot build the request: {e}")))
    }

    fn timeout_err(&self) -> LlmError {
        LlmError::Timeout {
            secs: self.config.timeout.as_secs_f64(),
        }
    }

    /// Runs `attempt` with the timeout, retrying retryable failures with exponential backoff.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut tries = 0;
        loop {
            let r = match tokio::time::timeout(self.config.timeout, attempt()).await {
                Ok(r) => r,
                Err(_) => Err(self.timeout_err()),
            };
            let r = r.map_err(|e| match e {
                LlmError::Timeout { .. } => self.timeout_err(),
                other => other,
            });
            match r {
                Err(e) if e.is_retryable() && tries < self.config.max_retries => {
                    tries += 1;
                    let backoff = Duration::from_millis(200u64 << tries.min(6));
                    tracing::warn!(attempt = tries, "retrying server request after: {e}");
                    tokio::time::sleep(backoff).await;
                }
                other => return other,
            }
        }
    }

    /// One non-streamed completion; returns the text.
    async fn complete_text(
        &self,
        messages: &[Message],
        params: &SamplingParams,
        extra: Option<Value>,
    ) -> Result<String> {
        let req = self.request(messages, params, false, extra)?;
        let resp = self
            .with_retries(|| {
                let req = req.clone();
                async move { self.client.chat().create(req).await.map_err(map_err) }
            })
            .await?;
        let choice = resp
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| LlmError::ServerProtocol("response has no choices".into()))?;
        Ok(choice.message.content.unwrap_or_default())
    }
}

type Chunks = std::pin::Pin<
    Box<
        dyn Stream<Item = std::result::Result<CreateChatCompletionStreamResponse, OpenAIError>>
            + Send,
    >,
>;

struct StreamState {
    chunks: Option<Chunks>,
    stops: StopMatcher,
    usage: Usage,
    finish: Option<FinishReason>,
    pending: std::collections::VecDeque<Result<StreamEvent>>,
    /// Chunks received so far (a stream that ends without any is not the OpenAI format).
    received: usize,
}

impl StreamState {
    /// Queues the held-back text and the final event; the stream ends after them.
    fn finish(&mut self, finish: FinishReason, text: String) {
        if !text.is_empty() {
            self.pending.push_back(Ok(StreamEvent::Delta(text)));
        }
        self.pending.push_back(Ok(done(finish, self.usage, None)));
        self.chunks = None;
    }

    fn fail(&mut self, e: LlmError) {
        self.pending.push_back(Err(e));
        self.chunks = None;
    }

    async fn next_event(
        &mut self,
        timeout: Duration,
        cancel: &crate::types::CancelToken,
    ) -> Option<Result<StreamEvent>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            if cancel.is_cancelled() && self.chunks.is_some() {
                self.fail(LlmError::Cancelled);
                continue;
            }
            let chunks = self.chunks.as_mut()?;
            match tokio::time::timeout(timeout, chunks.next()).await {
                Err(_) => self.fail(LlmError::Timeout {
                    secs: timeout.as_secs_f64(),
                }),
                Ok(None) if self.received == 0 => {
                    self.fail(LlmError::ServerProtocol(
                        "the answer held no server-sent events".into(),
                    ));
                }
                Ok(None) => {
                    let tail = self.stops.flush();
                    self.finish(self.finish.unwrap_or(FinishReason::Stop), tail);
                }
                Ok(Some(Err(e))) => self.fail(map_err(e)),
                Ok(Some(Ok(chunk))) => {
                    self.received += 1;
                    if let Some(u) = &chunk.usage {
                        self.usage.prompt_tokens = u.prompt_tokens as usize;
                        self.usage.completion_tokens = u.completion_tokens as usize;
                    }
                    let mut text = String::new();
                    for c in &chunk.choices {
                        if let Some(t) = &c.delta.content {
                            text.push_str(t);
                        }
                        if c.finish_reason.is_some() {
                            self.finish = Some(finish_of(c.finish_reason.as_ref()));
                        }
                    }
                    let (out, hit) = self.stops.push(&text);
                    if hit {
                        self.finish(FinishReason::StopSequence, out);
                    } else if !out.is_empty() {
                        return Some(Ok(StreamEvent::Delta(out)));
                    }
                }
            }
        }
    }
}

impl ChatModel for OpenAiModel {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            backend: "openai".into(),
            model: self.config.model.clone(),
            context_length: self.config.context_length,
        }
    }

    fn generate(&self, request: ChatRequest) -> TokenStream {
        let this = self.clone();
        let start = async move {
            let req = this.request(&request.messages, &request.params, true, None)?;
            let chunks = this
                .with_retries(|| {
                    let req = req.clone();
                    let client = this.client.clone();
                    async move { client.chat().create_stream(req).await.map_err(map_err) }
                })
                .await?;
            Ok::<_, LlmError>((this, request, chunks))
        };
        let stream = futures::stream::once(start).flat_map(|started| match started {
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            Ok((this, request, chunks)) => {
                let state = StreamState {
                    chunks: Some(chunks),
                    stops: StopMatcher::new(&request.params.stop),
                    usage: Usage::default(),
                    finish: None,
                    pending: Default::default(),
                    received: 0,
                };
                let timeout = this.config.timeout;
                let cancel = request.cancel.clone();
                futures::stream::unfold(state, move |mut st| {
                    let cancel = cancel.clone();
                    async move { st.next_event(timeout, &cancel).await.map(|ev| (ev, st)) }
                })
                .boxed()
            }
        });
        stream.boxed()
    }

    fn choose(
        &self,
        messages: Vec<Message>,
        options: Vec<String>,
        params: SamplingParams,
    ) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move {
            if options.is_empty() {
                return Err(LlmError::InvalidRequest(
                    "choose needs at least one option".into(),
                ));
            }
            let schema = json!({"type": "object", "properties": {"answer": {"enum": options}}, "required": ["answer"], "additionalProperties": false});
            let v = self.generate_json(messages, schema, params).await?;
            let answer = v["answer"].as_str().unwrap_or_default();
            options.iter().position(|o| o == answer).ok_or_else(|| {
                LlmError::ConstraintViolation("server answer is not one of the options".into())
            })
        })
    }

    fn generate_json(
        &self,
        messages: Vec<Message>,
        schema: Value,
        params: SamplingParams,
    ) -> BoxFuture<'_, Result<Value>> {
        Box::pin(async move {
            let grammar = JsonGrammar::compile(&schema)?;
            let extra = json!({"response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}}});
            let text = self.complete_text(&messages, &params, Some(extra)).await?;
            let value: Value = serde_json::from_str(text.trim()).map_err(|e| {
                LlmError::ConstraintViolation(format!("server output is not JSON: {e}"))
            })?;
            let compact = value.to_string();
            if !grammar.accepts(&compact) {
                return Err(LlmError::ConstraintViolation(
                    "server output does not match the schema".into(),
                ));
            }
            Ok(value)
        })
    }
}
