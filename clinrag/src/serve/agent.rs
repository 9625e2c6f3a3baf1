//! Agent endpoints over `clinrag-agents`: `POST /v1/ask` (server-sent events: evidence, answer
//! tokens, then the verified answer with citations), `POST /v1/summarize`, and
//! `POST /v1/chat/completions` in the OpenAI wire format (streaming and not) running the same
//! question-answering agent.
//!
//! Agent runs take a slot of a semaphore (`--agent-concurrency`): more requests queue for a slot
//! (up to the request deadline) rather than fail. A client that disconnects mid-stream cancels
//! its run (the agent's `CancelToken`), which frees the slot.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinrag_agents::{AgentError, Answer, AskEvent, AskRequest, Style, SummarizeRequest};
use clinrag_retrieval::{SearchFilter, SearchMode};
use schemars::JsonSchema;
use schemars::r#gen::SchemaGenerator;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::App;
use super::api::{JsonBody, SearchModeReq};
use super::error::{ApiError, ApiResult};

/// Answer style.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StyleReq {
    /// Sentences of the evidence, chosen (by the model when one is loaded) and verified.
    Extractive,
    /// Model-written sentences with quotes, verified (falls back to extractive).
    Generative,
}

/// `POST /v1/ask`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AskBody {
    /// The clinical question (at most 4,096 characters).
    pub question: String,
    /// Passages retrieved, 1 to 50 (default 8).
    #[serde(default)]
    pub k: Option<usize>,
    /// Retrieval mode.
    #[serde(default)]
    pub mode: Option<SearchModeReq>,
    /// Answer style (default extractive).
    #[serde(default)]
    pub style: Option<StyleReq>,
    /// Only documents from this year on.
    #[serde(default)]
    pub year_min: Option<u64>,
    /// Only documents up to this year.
    #[serde(default)]
    pub year_max: Option<u64>,
    /// Only these source formats.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Server-sent events (default `true`); `false` answers with one JSON object.
    #[serde(default)]
    pub stream: Option<bool>,
}

/// `POST /v1/summarize`: stored documents or a note.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummarizeBody {
    /// Stored documents to summarize (at most 20).
    #[serde(default)]
    pub doc_ids: Vec<String>,
    /// Or a note's text.
    #[serde(default)]
    pub text: Option<String>,
    /// Name of the note (its document id in citations; default `note`).
    #[serde(default)]
    pub name: Option<String>,
    /// Sentences per document, 1 to 10 (default 3).
    #[serde(default)]
    pub max_sentences: Option<usize>,
}

/// One chat message (OpenAI wire format; `content` as a string or a list of text parts).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text.
    #[serde(default)]
    pub content: Option<Value>,
}

/// `POST /v1/chat/completions` (OpenAI wire format; other fields are accepted and ignored).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ChatBody {
    /// Reported back; the QA agent answers whatever the name.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation; the last user message is the question.
    pub messages: Vec<ChatMessage>,
    /// Stream `chat.completion.chunk` events.
    #[serde(default)]
    pub stream: Option<bool>,
}

/// OpenAPI paths of the agent endpoints.
pub fn openapi_paths(g: &mut SchemaGenerator) -> Vec<(String, Value)> {
    let answer = json!({ "type": "object", "description": "A verified answer: answer (text with [n] markers), abstained, sentences [{text, citations [{doc_id, start, end, quote, passage}], support}], evidence [{n, doc_id, chunk_id, title, section, start, end, text, score}], searched, removed, style, timings. See docs/arch/agents.md." });
    let mut out = Vec::new();
    let errs = json!({
        "400": { "description": "malformed JSON" }, "401": { "description": "token" },
        "413": { "description": "body too large" }, "422": { "description": "bad value" },
        "429": { "description": "rate limited" }, "503": { "description": "unavailable or queue wait too long" }
    });
    let op = |summary: &str, req: Value, ok: Value| {
        let mut responses = errs.clone();
        if let Some(o) = responses.as_object_mut() {
            o.insert("200".into(), ok);
        }
        json!({ "post": { "summary": summary, "security": [{ "bearer": [] }],
            "requestBody": { "required": true, "content": { "application/json": { "schema": req } } },
            "responses": responses } })
    };
    let to = |s| serde_json::to_value(s).unwrap_or(Value::Null);
    out.push((
        "/v1/ask".to_owned(),
        op(
            "Answer a question with verified citations. Server-sent events: `evidence` {passages}, `token` {text} (pieces of the verified answer), `answer` (the verified answer), or `error`.",
            to(g.subschema_for::<AskBody>()),
            json!({ "description": "event stream (or JSON with stream=false)", "content": {
                "text/event-stream": { "schema": { "type": "string" } },
                "application/json": { "schema": answer.clone() } } }),
        ),
    ));
    out.push((
        "/v1/summarize".to_owned(),
        op(
            "Extractive summary of stored documents or a note, every sentence cited and verified.",
            to(g.subschema_for::<SummarizeBody>()),
            json!({ "description": "OK", "content": { "application/json": { "schema": answer } } }),
        ),
    ));
    out.push((
        "/v1/chat/completions".to_owned(),
        op(
            "OpenAI-compatible chat completions running the QA agent on the last user message (stream or not); the verified answer is in the extra `clinrag` field.",
            to(g.subschema_for::<ChatBody>()),
            json!({ "description": "chat.completion, or chat.completion.chunk events ending with [DONE]" }),
        ),
    ));
    out
}

fn agent_error(e: AgentError) -> ApiError {
    match e {
        AgentError::InvalidRequest(m) => ApiError::invalid(m),
        AgentError::Unavailable(m) => ApiError::unavailable(m),
        AgentError::Search(clinrag_retrieval::SearchError::Keyword(
            clinrag_retrieval::Error::InvalidQuery(m),
        )) => ApiError::invalid(m),
        e if e.is_retryable() => ApiError::unavailable(e.to_string()).retry_after(2),
        e => ApiError::internal(e),
    }
}

fn mode(m: Option<SearchModeReq>) -> Option<SearchMode> {
    m.map(|m| match m {
        SearchModeReq::Bm25 => SearchMode::Bm25,
        SearchModeReq::Dense => SearchMode::Dense,
        SearchModeReq::Hybrid => SearchMode::Hybrid,
    })
}

/// Waits for an agent slot (queueing; the gate's request deadline bounds the wait).
async fn slot(app: &App) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
    let t = Instant::now();
    let p = app
        .agent_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
    app.metrics.stage("agent_queue", t.elapsed());
    Ok(p)
}

fn record_timings(app: &App, endpoint: &str, a: &Answer) {
    let d = |ms: f64| std::time::Duration::from_secs_f64((ms / 1000.0).max(0.0));
    let (retrieve, select, generate, verify) = match endpoint {
        "/v1/summarize" => (
            "summarize_retrieve",
            "summarize_select",
            "summarize_generate",
            "summarize_verify",
        ),
        _ => ("ask_retrieve", "ask_select", "ask_generate", "ask_verify"),
    };
    app.metrics.stage(retrieve, d(a.timings.retrieve_ms));
    app.metrics.stage(select, d(a.timings.select_ms));
    app.metrics.stage(generate, d(a.timings.generate_ms));
    app.metrics.stage(verify, d(a.timings.verify_ms));
}

/// Refuses an empty or overlong question before an agent run (and a stream) starts.
fn check_question(q: &str) -> ApiResult<()> {
    let n = q.trim().chars().count();
    if n == 0 {
        return Err(ApiError::invalid("the question is empty"));
    }
    if n > clinrag_retrieval::MAX_QUERY_CHARS {
        return Err(ApiError::invalid(format!(
            "the question has {n} characters; the limit is {}",
            clinrag_retrieval::MAX_QUERY_CHARS
        )));
    }
    Ok(())
}

fn ask_request(b: AskBody) -> ApiResult<AskRequest> {
    check_question(&b.question)?;
    if let Some(k) = b.k
        && !(1..=50).contains(&k)
    {
        return Err(ApiError::invalid(format!(
            "k must be between 1 and 50, got {k}"
        )));
    }
    let mut r = AskRequest::new(b.question);
    r.k = b.k;
    r.mode = mode(b.mode);
    r.style = b.style.map(|s| match s {
        StyleReq::Extractive => Style::Extractive,
        StyleReq::Generative => Style::Generative,
    });
    r.filter = SearchFilter {
        year_min: b.year_min,
        year_max: b.year_max,
        sources: b.sources,
    };
    Ok(r)
}

/// An SSE frame.
fn frame(event: Option<&str>, data: &Value) -> Bytes {
    let mut s = String::new();
    if let Some(e) = event {
        s.push_str("event: ");
        s.push_str(e);
        s.push('\n');
    }
    s.push_str("data: ");
    s.push_str(&data.to_string());
    s.push_str("\n\n");
    Bytes::from(s)
}

fn sse_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// How an agent run's events become frames.
trait Framer: Send + 'static {
    /// Frames for one event (empty: nothing to send).
    fn event(&mut self, ev: AskEvent) -> Vec<Bytes>;
    /// Frames after a successful run.
    fn done(&mut self) -> Vec<Bytes>;
    /// Frames for a failed run.
    fn error(&mut self, e: &ApiError) -> Vec<Bytes>;
}

/// Runs the QA agent on a task, sending its frames until it ends or the client goes away.
fn spawn_run(
    app: Arc<App>,
    asker: Arc<clinrag_agents::Asker>,
    req: AskRequest,
    permit: tokio::sync::OwnedSemaphorePermit,
    endpoint: &'static str,
    mut framer: impl Framer,
) -> mpsc::Receiver<Bytes> {
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(64);
    let cancel = req.cancel.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let (tx, mut rx) = mpsc::channel::<AskEvent>(64);
        let run = asker.ask(req, tx);
        let forward = async {
            let mut tokens = 0u64;
            let mut gone = false;
            while let Some(ev) = rx.recv().await {
                if gone {
                    continue;
                }
                if matches!(ev, AskEvent::Token(_)) {
                    tokens += 1;
                }
                for f in framer.event(ev) {
                    if out_tx.send(f).await.is_err() {
                        // The client disconnected: stop the agent.
                        cancel.cancel();
                        gone = true;
                        break;
                    }
                }
            }
            (tokens, gone)
        };
        let (result, (tokens, gone)) = tokio::join!(run, forward);
        app.metrics.tokens(endpoint, tokens);
        match result {
            Ok(a) => {
                record_timings(&app, endpoint, &a);
                if !gone {
                    for f in framer.done() {
                        let _ = out_tx.send(f).await;
                    }
                }
            }
            Err(AgentError::Cancelled) => {
                tracing::info!(endpoint, "agent run cancelled (client went away)");
            }
            Err(e) => {
                let e = agent_error(e);
                for f in framer.error(&e) {
                    let _ = out_tx.send(f).await;
                }
            }
        }
    });
    out_rx
}

struct AskFramer;

impl Framer for AskFramer {
    fn event(&mut self, ev: AskEvent) -> Vec<Bytes> {
        vec![match ev {
            AskEvent::Evidence(p) => frame(Some("evidence"), &json!({ "passages": p })),
            AskEvent::Token(t) => frame(Some("token"), &json!({ "text": t })),
            AskEvent::Answer(a) => frame(
                Some("answer"),
                &serde_json::to_value(&*a).unwrap_or(Value::Null),
            ),
        }]
    }
    fn done(&mut self) -> Vec<Bytes> {
        Vec::new()
    }
    fn error(&mut self, e: &ApiError) -> Vec<Bytes> {
        vec![frame(
            Some("error"),
            &json!({ "error": { "code": e.code, "message": e.message } }),
        )]
    }
}

/// `POST /v1/ask`.
pub async fn ask(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<AskBody>,
) -> ApiResult<Response> {
    let stream = body.stream.unwrap_or(true);
    let req = ask_request(body)?;
    let asker = app.asker().await?;
    let permit = slot(&app).await?;
    if !stream {
        let a = asker.ask_collect(req).await.map_err(agent_error)?;
        drop(permit);
        record_timings(&app, "/v1/ask", &a);
        return Ok(Json(a).into_response());
    }
    let rx = spawn_run(app.clone(), asker, req, permit, "/v1/ask", AskFramer);
    Ok(sse_response(rx))
}

/// `POST /v1/summarize`.
pub async fn summarize(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<SummarizeBody>,
) -> ApiResult<Json<Answer>> {
    let mut req = match (body.doc_ids.is_empty(), body.text) {
        (false, None) => {
            if body.doc_ids.len() > 20 {
                return Err(ApiError::invalid("at most 20 doc_ids per summary"));
            }
            SummarizeRequest::docs(body.doc_ids)
        }
        (true, Some(t)) => SummarizeRequest::text(body.name.unwrap_or_else(|| "note".into()), t),
        _ => {
            return Err(ApiError::invalid(
                "give either doc_ids (stored documents) or text (a note), not both",
            ));
        }
    };
    if let Some(n) = body.max_sentences {
        if !(1..=10).contains(&n) {
            return Err(ApiError::invalid(format!(
                "max_sentences must be between 1 and 10, got {n}"
            )));
        }
        req.max_sentences = n;
    }
    let asker = app.asker().await?;
    let _permit = slot(&app).await?;
    let (tx, mut rx) = mpsc::channel(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let r = asker.summarize(req, tx).await;
    let _ = drain.await;
    let a = r.map_err(agent_error)?;
    record_timings(&app, "/v1/summarize", &a);
    Ok(Json(a))
}

/// The text of a message's `content` (a string, or text parts).
fn content_text(c: &Option<Value>) -> String {
    match c {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The answer as chat text: the sentences with markers, then the numbered sources.
fn chat_text(a: &Answer) -> String {
    let mut s = if a.abstained {
        a.abstain_reason
            .clone()
            .unwrap_or_else(|| "The retrieved passages do not support an answer.".into())
    } else {
        a.answer.clone()
    };
    let sources = sources_text(a);
    if !sources.is_empty() {
        s.push_str("\n\n");
        s.push_str(&sources);
    }
    s
}

fn sources_text(a: &Answer) -> String {
    let mut lines = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in a.sentences.iter().flat_map(|s| &s.citations) {
        if seen.insert(c.passage) {
            let title = a
                .evidence
                .iter()
                .find(|p| p.n == c.passage)
                .map(|p| p.title.as_str())
                .unwrap_or("");
            lines.push(format!(
                "[{}] {} ({}, characters {}-{})",
                c.passage, title, c.doc_id, c.start, c.end
            ));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!("Sources:\n{}", lines.join("\n"))
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn completion_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "chatcmpl-clinrag-{}-{}",
        now_s(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

struct ChatFramer {
    id: String,
    model: String,
    created: u64,
    answer: Option<Box<Answer>>,
}

impl ChatFramer {
    fn chunk(&self, delta: Value, finish: Option<&str>, extra: Option<Value>) -> Bytes {
        let mut v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        if let (Some(x), Some(o)) = (extra, v.as_object_mut()) {
            o.insert("clinrag".into(), x);
        }
        frame(None, &v)
    }
}

impl Framer for ChatFramer {
    fn event(&mut self, ev: AskEvent) -> Vec<Bytes> {
        match ev {
            AskEvent::Evidence(_) => {
                vec![self.chunk(json!({ "role": "assistant", "content": "" }), None, None)]
            }
            AskEvent::Token(t) => vec![self.chunk(json!({ "content": t }), None, None)],
            AskEvent::Answer(a) => {
                self.answer = Some(a);
                Vec::new()
            }
        }
    }

    fn done(&mut self) -> Vec<Bytes> {
        let Some(a) = self.answer.take() else {
            return vec![Bytes::from_static(b"data: [DONE]\n\n")];
        };
        let mut tail = String::new();
        if a.abstained {
            tail.push_str(&chat_text(&a));
        } else {
            let s = sources_text(&a);
            if !s.is_empty() {
                tail = format!("\n\n{s}");
            }
        }
        let mut out = Vec::new();
        if !tail.is_empty() {
            out.push(self.chunk(json!({ "content": tail }), None, None));
        }
        out.push(self.chunk(
            json!({}),
            Some("stop"),
            Some(serde_json::to_value(&*a).unwrap_or(Value::Null)),
        ));
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out
    }

    fn error(&mut self, e: &ApiError) -> Vec<Bytes> {
        vec![
            frame(
                None,
                &json!({ "error": { "message": e.message, "type": "server_error", "code": e.code } }),
            ),
            Bytes::from_static(b"data: [DONE]\n\n"),
        ]
    }
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<ChatBody>,
) -> ApiResult<Response> {
    let question = body
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| content_text(&m.content))
        .unwrap_or_default();
    if question.trim().is_empty() {
        return Err(ApiError::invalid(
            "messages must hold a user message with text content",
        ));
    }
    check_question(&question)?;
    let model = body.model.unwrap_or_else(|| "clinrag-qa".into());
    let req = AskRequest::new(question);
    let asker = app.asker().await?;
    let permit = slot(&app).await?;
    if body.stream.unwrap_or(false) {
        let framer = ChatFramer {
            id: completion_id(),
            model,
            created: now_s(),
            answer: None,
        };
        let rx = spawn_run(
            app.clone(),
            asker,
            req,
            permit,
            "/v1/chat/completions",
            framer,
        );
        return Ok(sse_response(rx));
    }
    let a = asker.ask_collect(req).await.map_err(agent_error)?;
    drop(permit);
    record_timings(&app, "/v1/chat/completions", &a);
    let content = chat_text(&a);
    let words = |s: &str| s.split_whitespace().count();
    let prompt_words: usize = body
        .messages
        .iter()
        .map(|m| words(&content_text(&m.content)))
        .sum();
    let out = json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": now_s(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
        // Whitespace-separated words, not model tokens (the answer is assembled from verified
        // evidence sentences; see docs/arch/serve.md).
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": words(&content),
            "total_tokens": prompt_words + words(&content),
        },
        "clinrag": a,
    });
    Ok((StatusCode::OK, Json(out)).into_response())
}
