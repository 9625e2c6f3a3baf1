//! The OpenAI-compatible embedder against a local HTTP server that speaks the embeddings wire
//! format (`POST {base}/embeddings`), started by each test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clinrag_retrieval::embed::{EmbedError, Embedder};
use clinrag_retrieval::openai_embed::{OpenAiEmbedConfig, OpenAiEmbedder};
use serde_json::{Value, json};

#[derive(Clone, Copy)]
enum Mode {
    /// Vectors `[len(text), 1, 0]`, data in reverse index order.
    Normal,
    /// One vector fewer than asked.
    Short,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 503 the first time, then normal.
    FailFirst,
}

struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

fn server(mode: Mode) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (h, reqs) = (hits.clone(), requests.clone());
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { continue };
            let (h, reqs) = (h.clone(), reqs.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(sock.try_clone().unwrap());
                let mut w = sock;
                loop {
                    let (mut len, mut line, mut head) = (0usize, String::new(), String::new());
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push_str(&line);
                        let l = line.to_ascii_lowercase();
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0u8; len];
                    r.read_exact(&mut body).unwrap();
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    reqs.lock().unwrap().push((head.clone(), req.clone()));
                    let attempt = h.fetch_add(1, Ordering::SeqCst);
                    let inputs: Vec<String> = req["input"]
                        .as_array()
                        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
                        .unwrap_or_default();
                    let mut data: Vec<Value> = inputs
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            json!({"object": "embedding", "index": i,
                                   "embedding": [t.chars().count() as f32, 1.0, 0.0]})
                        })
                        .collect();
                    data.reverse();
                    if matches!(mode, Mode::Short) && inputs.len() > 1 {
                        data.pop();
                    }
                    let ok = json!({"object": "list", "model": req["model"], "data": data,
                                    "usage": {"prompt_tokens": 3, "total_tokens": 3}})
                    .to_string();
                    let (status, out) = match mode {
                        Mode::Garbage => ("200 OK", "not json at all".to_owned()),
                        Mode::FailFirst if attempt == 0 => (
                            "503 Service Unavailable",
                            json!({"error": {"message": "busy", "type": "server_error"}})
                                .to_string(),
                        ),
                        _ => ("200 OK", ok),
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{out}",
                        out.len()
                    );
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server {
        base,
        hits,
        requests,
    }
}

fn config(base: &str) -> OpenAiEmbedConfig {
    let mut c = OpenAiEmbedConfig::new(base, "bio-embed");
    c.api_key = Some("sk-test".into());
    c.batch = 2;
    c.timeout = Duration::from_secs(5);
    c
}

#[test]
fn embeds_in_batches_in_input_order_as_unit_vectors() {
    let s = server(Mode::Normal);
    let e = OpenAiEmbedder::connect(config(&s.base)).unwrap();
    assert_eq!((e.name(), e.dim()), ("openai:bio-embed", 3));
    let texts: Vec<String> = ["a", "abc", "abcdefg", "ab", "abcd"]
        .iter()
        .map(|t| t.to_string())
        .collect();
    let v = e.embed(&texts).unwrap();
    assert_eq!(v.len(), 5);
    for (t, v) in texts.iter().zip(&v) {
        let n = t.len() as f32;
        let norm = (n * n + 1.0).sqrt();
        assert!((v[0] - n / norm).abs() < 1e-6, "{t}: {v:?}");
        assert!((v[1] - 1.0 / norm).abs() < 1e-6);
        let len: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((len - 1.0).abs() < 1e-5);
    }
    // Probe + 3 batches of at most 2 texts; model and bearer key sent.
    assert_eq!(s.hits.load(Ordering::SeqCst), 4);
    let reqs = s.requests.lock().unwrap();
    let (head, body) = &reqs[1];
    assert!(head.starts_with("POST /v1/embeddings "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer sk-test"),
        "{head}"
    );
    assert_eq!(body["model"], "bio-embed");
    assert_eq!(body["input"], json!(["a", "abc"]));
}

#[test]
fn malformed_answers_and_bad_config_are_clear_errors() {
    let s = server(Mode::Short);
    let e = OpenAiEmbedder::connect(config(&s.base)).unwrap();
    let r = e.embed(&["one".into(), "two".into()]);
    match r {
        Err(EmbedError::Remote(m)) => assert!(m.contains("asked for 2"), "{m}"),
        other => panic!("expected a count mismatch, got {other:?}"),
    }
    let s = server(Mode::Garbage);
    assert!(matches!(
        OpenAiEmbedder::connect(config(&s.base)),
        Err(EmbedError::Remote(_))
    ));
    assert!(matches!(
        OpenAiEmbedder::connect(config("ftp://example.org/v1")),
        Err(EmbedError::Remote(_))
    ));
    // Nothing listens there: a connection error, after the retries, within the timeout.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = std::time::Instant::now();
    assert!(matches!(
        OpenAiEmbedder::connect(config(&format!("http://127.0.0.1:{port}/v1"))),
        Err(EmbedError::Remote(_))
    ));
    assert!(t.elapsed() < Duration::from_secs(10));
    let s = server(Mode::Normal);
    let e = OpenAiEmbedder::connect(config(&s.base)).unwrap();
    assert!(matches!(
        e.embed(&["fine".into(), "  ".into()]),
        Err(EmbedError::Tokenize(_))
    ));
}

#[test]
fn a_transient_server_error_is_retried() {
    let s = server(Mode::FailFirst);
    let t = std::time::Instant::now();
    let e = OpenAiEmbedder::connect(config(&s.base)).unwrap();
    assert_eq!(e.dim(), 3);
    assert_eq!(s.hits.load(Ordering::SeqCst), 2, "one 503, then the answer");
    assert!(t.elapsed() < Duration::from_secs(30));
}
