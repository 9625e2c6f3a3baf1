//! The OpenAI backend against a local HTTP server that speaks the OpenAI wire format.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clinrag_llm_runtime::{
    ChatModel, ChatRequest, FinishReason, LlmError, Message, OpenAiConfig, OpenAiModel,
    SamplingParams, StreamEvent, collect,
};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Answers like a real server (JSON or SSE, depending on `stream` in the request).
    Normal,
    /// Accepts the connection and never answers.
    Hang,
    /// Answers 200 with a body that is not JSON / not SSE.
    Garbage,
    /// Fails with 503 the first `n` times, then answers normally.
    FailFirst(usize),
    /// Answers with a fixed message content (non-streamed).
    Content(&'static str),
}

struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
    bodies: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

const WORDS: [&str; 5] = ["The ", "answer ", "is ", "42", "."];

async fn read_request(sock: &mut TcpStream) -> Option<serde_json::Value> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut tmp).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            return serde_json::from_slice(&buf[end + 4..end + 4 + len]).ok();
        }
    }
}

fn chunk(content: Option<&str>, finish: Option<&str>, usage: Option<serde_json::Value>) -> String {
    let mut c = serde_json::json!({
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "tiny",
        "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": finish}]
    });
    if let Some(t) = content {
        c["choices"][0]["delta"]["content"] = t.into();
    }
    if let Some(u) = usage {
        c["usage"] = u;
        c["choices"] = serde_json::json!([]);
    }
    format!("data: {c}\n\n")
}

async fn answer(
    mut sock: TcpStream,
    mode: Mode,
    attempt: usize,
    bodies: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let Some(body) = read_request(&mut sock).await else {
        return;
    };
    bodies.lock().unwrap().push(body.clone());
    let stream = body["stream"].as_bool().unwrap_or(false);
    let send = |status: &str, ctype: &str, payload: String| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{payload}",
            payload.len()
        )
    };
    let out = match mode {
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        Mode::Garbage => send(
            "200 OK",
            "application/json",
            "<html>definitely not json".into(),
        ),
        Mode::FailFirst(n) if attempt < n => send(
            "503 Service Unavailable",
            "application/json",
            r#"{"error":{"message":"busy","type":"server_error","param":null,"code":null}}"#.into(),
        ),
        Mode::Content(text) => {
            let resp = serde_json::json!({
                "id": "c1", "object": "chat.completion", "created": 1, "model": "tiny",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
            });
            send("200 OK", "application/json", resp.to_string())
        }
        _ if stream => {
            let mut sse = String::new();
            for (i, w) in WORDS.iter().enumerate() {
                sse.push_str(&chunk(
                    Some(w),
                    (i == WORDS.len() - 1).then_some("stop"),
                    None,
                ));
            }
            sse.push_str(&chunk(None, None, Some(serde_json::json!({"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}))));
            sse.push_str("data: [DONE]\n\n");
            send("200 OK", "text/event-stream", sse)
        }
        _ => {
            let resp = serde_json::json!({
                "id": "c1", "object": "chat.completion", "created": 1, "model": "tiny",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": WORDS.concat()}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
            });
            send("200 OK", "application/json", resp.to_string())
        }
    };
    let _ = sock.write_all(out.as_bytes()).await;
    let _ = sock.shutdown().await;
}

async fn server(mode: Mode) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, b) = (hits.clone(), bodies.clone());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let attempt = h.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(answer(sock, mode, attempt, b.clone()));
        }
    });
    Server { base, hits, bodies }
}

fn model(base: &str, timeout_ms: u64, retries: usize) -> OpenAiModel {
    OpenAiModel::new(OpenAiConfig {
        base_url: base.to_string(),
        model: "tiny".into(),
        api_key: Some("sk-test".into()),
        timeout: Duration::from_millis(timeout_ms),
        max_retries: retries,
        context_length: 0,
    })
    .unwrap()
}

fn req(stop: Vec<String>) -> ChatRequest {
    ChatRequest::new(
        vec![Message::user("Question?")],
        SamplingParams {
            stop,
            ..SamplingParams::greedy(16)
        },
    )
}

#[tokio::test]
async fn streams_tokens_over_sse_and_reports_usage() {
    let s = server(Mode::Normal).await;
    let m = model(&s.base, 5_000, 0);
    let mut stream = m.generate(req(vec![]));
    let mut deltas = Vec::new();
    let mut done = None;
    while let Some(ev) = stream.next().await {
        match ev.unwrap() {
            StreamEvent::Delta(d) => deltas.push(d),
            StreamEvent::Done { finish, usage, .. } => done = Some((finish, usage)),
        }
    }
    assert_eq!(deltas, WORDS);
    let (finish, usage) = done.unwrap();
    assert_eq!(finish, FinishReason::Stop);
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (9, 5));
    let body = s.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["model"], "tiny");
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["max_tokens"], 16);
}

#[tokio::test]
async fn stop_sequences_cut_streamed_text() {
    let s = server(Mode::Normal).await;
    let m = model(&s.base, 5_000, 0);
    let c = collect(m.generate(req(vec!["is 4".into()]))).await.unwrap();
    assert_eq!(c.text, "The answer ");
    assert_eq!(c.finish, FinishReason::StopSequence);
}

#[tokio::test]
async fn hanging_server_times_out_without_hanging_the_caller() {
    let s = server(Mode::Hang).await;
    let m = model(&s.base, 300, 1);
    let t = Instant::now();
    let r = collect(m.generate(req(vec![]))).await;
    assert!(matches!(r, Err(LlmError::Timeout { .. })), "{r:?}");
    assert!(r.unwrap_err().is_retryable());
    // One attempt plus one retry, each bounded by the timeout, plus backoff.
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    let r = m
        .choose(
            vec![Message::user("q")],
            vec!["a".into()],
            SamplingParams::default(),
        )
        .await;
    assert!(matches!(r, Err(LlmError::Timeout { .. })), "{r:?}");
}

#[tokio::test]
async fn garbage_answers_are_protocol_errors() {
    let s = server(Mode::Garbage).await;
    let m = model(&s.base, 2_000, 3);
    let r = collect(m.generate(req(vec![]))).await;
    assert!(matches!(r, Err(LlmError::ServerProtocol(_))), "{r:?}");
    let r = m
        .generate_json(
            vec![Message::user("q")],
            serde_json::json!({"type": "integer"}),
            SamplingParams::default(),
        )
        .await;
    assert!(matches!(r, Err(LlmError::ServerProtocol(_))), "{r:?}");
    assert!(!r.unwrap_err().is_retryable());
}

#[tokio::test]
async fn retryable_failures_are_retried_a_bounded_number_of_times() {
    let s = server(Mode::FailFirst(1)).await;
    let m = model(&s.base, 10_000, 1);
    let c = collect(m.generate(req(vec![]))).await.unwrap();
    assert_eq!(c.text, WORDS.concat());
    let s = server(Mode::FailFirst(100)).await;
    let m = model(&s.base, 10_000, 0);
    let r = collect(m.generate(req(vec![]))).await;
    assert!(
        matches!(r, Err(LlmError::ServerStatus { status: 503, .. })),
        "{r:?}"
    );
    assert!(r.unwrap_err().is_retryable());
    let hits = s.hits.load(Ordering::SeqCst);
    assert!((1..=4).contains(&hits), "{hits}");
}

#[tokio::test]
async fn json_and_choice_are_checked_against_the_schema() {
    let s = server(Mode::Content(r#"{ "answer": "I10" }"#)).await;
    let m = model(&s.base, 5_000, 0);
    let idx = m
        .choose(
            vec![Message::user("q")],
            vec!["E11.9".into(), "I10".into()],
            SamplingParams::default(),
        )
        .await
        .unwrap();
    assert_eq!(idx, 1);
    let body = s.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["response_format"]["type"], "json_schema");
    let s = server(Mode::Content(r#"{"answer": "J45"}"#)).await;
    let m = model(&s.base, 5_000, 0);
    let r = m
        .choose(
            vec![Message::user("q")],
            vec!["E11.9".into(), "I10".into()],
            SamplingParams::default(),
        )
        .await;
    assert!(matches!(r, Err(LlmError::ConstraintViolation(_))), "{r:?}");
    let s = server(Mode::Content("sure! here it is")).await;
    let m = model(&s.base, 5_000, 0);
    let r = m
        .generate_json(
            vec![Message::user("q")],
            serde_json::json!({"type": "integer"}),
            SamplingParams::default(),
        )
        .await;
    assert!(matches!(r, Err(LlmError::ConstraintViolation(_))), "{r:?}");
}

#[tokio::test]
async fn unreachable_server_is_a_connection_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let m = model(&base, 2_000, 0);
    let r = collect(m.generate(req(vec![]))).await;
    assert!(matches!(r, Err(LlmError::Connection(_))), "{r:?}");
    assert!(
        OpenAiModel::new(OpenAiConfig {
            base_url: "ftp://x".into(),
            ..OpenAiConfig::default()
        })
        .is_err()
    );
}
