//! `clinrag serve` end to end: the real binary on an ephemeral port over a small ingested fixture
//! (the kg test vocabularies and a few documents), driven by a raw HTTP/1.1 client so that bad
//! input (malformed JSON, wrong types, oversized bodies, slow clients, disconnects) can be sent
//! exactly; and the web page in headless Chromium through chromedriver (skipped, with a message,
//! when Chromium is not installed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{bin, clinrag, copy_dir};

const GUIDELINE: &str = "# Community-acquired pneumonia\n\n## Treatment\n\nFor community-acquired pneumonia in adults without comorbidities, give amoxicillin 1 g three times daily for five days. Reassess clinical response at 48 to 72 hours.\n\n## Prevention\n\nPneumococcal vaccination is recommended for adults aged 65 years and older.\n";

/// A home with the kg fixture vocabularies, a guideline and 30 short case reports ingested.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../kg/tests/fixtures/home/vocab"),
        &home.join("vocab"),
    );
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("cap-guideline.md"), GUIDELINE).unwrap();
    let mut s = String::new();
    for i in 0..30 {
        s.push_str(
            &json!({
                "id": format!("CASE-{i}"),
                "title": format!("Case report {i}"),
                "text": format!("A patient aged {} presented with fever and cough. Chest radiograph showed consolidation in lobe {}. Symptoms resolved after treatment.", 30 + i, i % 5),
            })
            .to_string(),
        );
        s.push('\n');
    }
    std::fs::write(src.join("cases.jsonl"), s).unwrap();
    let o = clinrag(&home, &["ingest", "--json", src.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (t, home)
}

fn create_token(home: &Path, name: &str) -> String {
    let o = clinrag(home, &["token", "create", name, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(home: &Path, args: &[&str]) -> Server {
    std::fs::create_dir_all(home).unwrap();
    let log = std::fs::File::create(home.join(format!(
        "serve-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )))
    .unwrap();
    let mut child = Command::new(bin())
        .env("CLINRAG_HOME", home)
        .env_remove("CLINRAG_DATABASE_URL")
        .env_remove("CLINRAG_LLM_URL")
        .env("CLINRAG_LOG", "info")
        .args(["serve", "--json", "--no-model"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("serve did not print its address ({e}): {line:?}"));
    let addr = v["listening"].as_str().unwrap().to_owned();
    let addr = addr.replace("0.0.0.0", "127.0.0.1");
    Server { child, addr }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16)
                .unwrap_or(0);
            if n == 0 || rest.len() < eol + 2 + n {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
            rest = &rest[(eol + 4 + n).min(rest.len())..];
        }
        body = out;
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn raw_request(addr: &str, req: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let _ = s.write_all(req);
    // Read until the body is complete (Content-Length or the last chunk), or the server closes:
    // some servers (chromedriver) keep the connection open despite `Connection: close`.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let body = raw.len() - split - 4;
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if len.is_some_and(|n| body >= n)
                || (head.contains("transfer-encoding: chunked") && raw.ends_with(b"0\r\n\r\n"))
            {
                break;
            }
        }
    }
    parse(&raw)
}

fn request(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> Resp {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    let mut all = head.into_bytes();
    if let Some(b) = body {
        all.extend_from_slice(b);
    }
    raw_request(addr, &all)
}

fn post(addr: &str, path: &str, token: Option<&str>, body: &Value) -> Resp {
    request(addr, "POST", path, token, Some(body.to_string().as_bytes()))
}

fn get(addr: &str, path: &str, token: Option<&str>) -> Resp {
    request(addr, "GET", path, token, None)
}

/// Server-sent events of a body: (event name, data).
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            let mut name = "message".to_owned();
            let mut data = String::new();
            for l in b.lines() {
                if let Some(n) = l.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = l.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            let v = if data == "[DONE]" {
                Value::String(data)
            } else {
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("bad data {data:?}: {e}"))
            };
            (name, v)
        })
        .collect()
}

/// Every citation's quote is exactly the cited span of the stored document.
fn check_citations(addr: &str, token: Option<&str>, answer: &Value) -> usize {
    let mut n = 0;
    for s in answer["sentences"].as_array().unwrap() {
        for c in s["citations"].as_array().unwrap() {
            let id = c["doc_id"].as_str().unwrap();
            let r = get(
                addr,
                &format!(
                    "/v1/documents/{}?start={}&end={}",
                    id.replace(':', "%3A"),
                    c["start"],
                    c["end"]
                ),
                token,
            );
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.json()["passage"]["text"], c["quote"]);
            n += 1;
        }
    }
    n
}

#[test]
fn api_endpoints_tokens_and_bad_input() {
    let (_t, home) = fixture();
    let token = create_token(&home, "alice");
    let srv = start(
        &home,
        &[
            "--addr",
            "127.0.0.1:0",
            "--require-token",
            "--rate-limit",
            "0",
            "--max-body",
            "4096",
            "--max-query",
            "256",
            "--cors-origin",
            "http://allowed.example",
        ],
    );
    let a = srv.addr.as_str();
    let tk = Some(token.as_str());

    // Health needs no token; the page needs none either.
    let r = get(a, "/healthz", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = get(a, "/", None);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<title>clinrag</title>"));
    assert!(r.header("content-security-policy").is_some());

    // Tokens.
    let q = json!({ "query": "amoxicillin for community-acquired pneumonia", "k": 3 });
    let r = post(a, "/v1/search", None, &q);
    assert_eq!((r.status, r.code().as_str()), (401, "missing_token"));
    assert!(r.header("www-authenticate").is_some());
    let r = post(a, "/v1/search", Some("clinrag_not-a-token"), &q);
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_token"));
    let r = get(a, "/v1/nowhere", None);
    assert_eq!(r.status, 401, "unknown routes do not leak without a token");
    let r = get(a, "/v1/nowhere", tk);
    assert_eq!(r.status, 404);

    // Search, and every hit is the exact span of its document.
    let r = post(a, "/v1/search", tk, &q);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["mode"], "bm25");
    let hits = v["hits"].as_array().unwrap();
    assert!(!hits.is_empty() && hits.len() <= 3);
    assert!(hits[0]["text"].as_str().unwrap().contains("amoxicillin"));
    for h in hits {
        let r = get(
            a,
            &format!(
                "/v1/documents/{}?start={}&end={}",
                h["doc_id"].as_str().unwrap(),
                h["start"],
                h["end"]
            ),
            tk,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["passage"]["text"], h["text"]);
    }

    // Bad input.
    let bad = |body: &[u8]| request(a, "POST", "/v1/search", tk, Some(body));
    let r = bad(b"{\"query\": ");
    assert_eq!((r.status, r.code().as_str()), (400, "bad_json"));
    let r = bad(b"");
    assert_eq!((r.status, r.code().as_str()), (400, "empty_body"));
    let r = bad(br#"{"query": "fever", "k": "ten"}"#);
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        !r.text().contains("ten\""),
        "values are not echoed: {}",
        r.text()
    );
    let r = bad(br#"{"query": 5}"#);
    assert_eq!(r.status, 422);
    let r = bad(br#"{"query": "fever", "bogus": true}"#);
    assert_eq!(r.status, 422);
    assert!(r.text().contains("bogus"));
    let r = bad(br#"{"query": "fever", "k": 0}"#);
    assert_eq!(r.status, 422);
    let r = bad(br#"{"query": "   "}"#);
    assert_eq!(r.status, 422);
    let r = bad(br#"{"query": "fever", "mode": "dense"}"#);
    assert_eq!(r.status, 422, "no vector index in the fixture");
    let r = bad(b"[1, 2, 3]");
    assert_eq!(r.status, 422);

    // Oversized body: declared too large (answered before reading), and streamed too large.
    let r = raw_request(
        a,
        format!(
            "POST /v1/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!((r.status, r.code().as_str()), (413, "body_too_large"));
    let big = format!("{{\"query\": \"{}\"}}", "fever ".repeat(1500));
    let mut chunked = format!(
        "POST /v1/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        big.len()
    )
    .into_bytes();
    chunked.extend_from_slice(big.as_bytes());
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let r = raw_request(a, &chunked);
    assert_eq!((r.status, r.code().as_str()), (413, "body_too_large"));
    // Oversized query string.
    let r = get(a, &format!("/v1/hpo/suggest?q={}", "a".repeat(300)), tk);
    assert_eq!((r.status, r.code().as_str()), (413, "query_too_large"));

    // Documents.
    let r = get(a, "/v1/documents/CASE-3", tk);
    assert_eq!(r.status, 200);
    let d = r.json();
    assert_eq!(d["doc_id"], "CASE-3");
    assert!(d["passage"].is_null());
    let r = get(a, "/v1/documents/CASE-3?start=0&end=999999", tk);
    assert_eq!(r.status, 422);
    assert!(r.text().contains("outside document CASE-3"));
    let r = get(a, "/v1/documents/CASE-3?start=5", tk);
    assert_eq!(r.status, 422);
    let r = get(a, "/v1/documents/CASE-3?start=x&end=2", tk);
    assert_eq!(r.status, 400);
    let r = get(a, "/v1/documents/NOPE-1", tk);
    assert_eq!(r.status, 404);

    // Coding, with evidence spans that are exact character spans of the input.
    let note = "Admitted with community-acquired pneumonia; started paracetamol for fever.";
    let r = post(a, "/v1/code/icd10cm", tk, &json!({ "text": note, "k": 5 }));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["system"], "ICD-10-CM");
    let codes = v["codes"].as_array().unwrap();
    assert!(codes.iter().any(|c| c["code"] == "J18.9"), "{v}");
    let chars: Vec<char> = note.chars().collect();
    for c in codes {
        for e in c["evidence"].as_array().unwrap() {
            let (s, t) = (
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(chars[s..t].iter().collect::<String>(), e["text"]);
        }
    }
    let r = post(a, "/v1/code/atc", tk, &json!({ "text": note }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.json()["codes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["code"] == "N02BE01"),
        "{}",
        r.text()
    );
    let r = post(
        a,
        "/v1/code/icd10cm",
        tk,
        &json!({ "text": note, "k": 500 }),
    );
    assert_eq!(r.status, 422);
    let r = post(a, "/v1/code/icd10cm", tk, &json!({ "note": note }));
    assert_eq!(r.status, 422);

    // Rare diseases and HPO autocomplete.
    let r = post(a, "/v1/rare", tk, &json!({ "hpo": ["HP:0001166"], "k": 3 }));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["candidates"][0]["name"], "Marfan syndrome");
    assert_eq!(v["present"][0]["id"], "HP:0001166");
    let r = post(
        a,
        "/v1/rare",
        tk,
        &json!({ "text": "Tall patient with arachnodactyly, no fever." }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let terms = v["text_terms"].as_array().unwrap();
    assert!(
        terms
            .iter()
            .any(|t| t["id"] == "HP:0001166" && t["negated"] == false)
    );
    assert!(
        terms
            .iter()
            .any(|t| t["name"] == "Fever" && t["negated"] == true),
        "{v}"
    );
    let r = post(a, "/v1/rare", tk, &json!({ "hpo": ["HP:9999999"] }));
    assert_eq!(r.status, 422, "{}", r.text());
    let r = post(a, "/v1/rare", tk, &json!({}));
    assert_eq!(r.status, 422);
    let r = get(a, "/v1/hpo/suggest?q=arachno", tk);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["terms"][0]["id"], "HP:0001166");
    let r = get(a, "/v1/hpo/suggest?q=seiz&limit=3", tk);
    assert_eq!(r.json()["terms"][0]["name"], "Seizure");
    let r = get(a, "/v1/hpo/suggest?q=HP:0001166", tk);
    assert_eq!(r.json()["terms"][0]["name"], "Arachnodactyly");
    let r = get(a, "/v1/hpo/suggest", tk);
    assert_eq!(r.status, 400);

    // Ask: evidence first, then tokens, then the verified answer; citations are exact spans.
    let r = post(
        a,
        "/v1/ask",
        tk,
        &json!({ "question": "Which antibiotic is given for community-acquired pneumonia in adults without comorbidities?" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let ev = events(&r.text());
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"evidence"), "{names:?}");
    assert_eq!(names.last(), Some(&"answer"), "{names:?}");
    assert!(names.contains(&"token"), "{names:?}");
    let answer = &ev.last().unwrap().1;
    assert_eq!(answer["abstained"], false, "{answer}");
    let streamed: String = ev
        .iter()
        .filter(|(n, _)| n == "token")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    assert!(!streamed.is_empty());
    assert!(check_citations(a, tk, answer) > 0);
    assert!(
        answer["sentences"][0]["text"]
            .as_str()
            .unwrap()
            .contains("amoxicillin 1 g")
    );
    // Not streamed.
    let r = post(
        a,
        "/v1/ask",
        tk,
        &json!({ "question": "Which antibiotic is given for community-acquired pneumonia in adults without comorbidities?", "stream": false }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["abstained"], false);
    let r = post(a, "/v1/ask", tk, &json!({ "question": "" }));
    assert_eq!(r.status, 422, "{}", r.text());

    // OpenAI wire format, not streamed and streamed.
    let chat = json!({ "model": "clinrag", "messages": [
        { "role": "system", "content": "You are helpful." },
        { "role": "user", "content": "Which antibiotic is given for community-acquired pneumonia in adults without comorbidities?" }
    ], "temperature": 0.2 });
    let r = post(a, "/v1/chat/completions", tk, &chat);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains("amoxicillin") && content.contains("Sources:"),
        "{content}"
    );
    assert!(check_citations(a, tk, &v["clinrag"]) > 0);
    let mut chat_s = chat.clone();
    chat_s["stream"] = json!(true);
    let r = post(a, "/v1/chat/completions", tk, &chat_s);
    assert_eq!(r.status, 200);
    let ev = events(&r.text());
    assert_eq!(ev.last().unwrap().1, "[DONE]");
    let chunks: Vec<&Value> = ev
        .iter()
        .map(|(_, d)| d)
        .filter(|d| d.is_object())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.contains("amoxicillin"), "{text}");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(check_citations(a, tk, &last["clinrag"]) > 0);
    let r = post(a, "/v1/chat/completions", tk, &json!({ "messages": [] }));
    assert_eq!(r.status, 422);
    let r = post(a, "/v1/chat/completions", tk, &json!({ "messages": "hi" }));
    assert_eq!(r.status, 422);

    // Summaries.
    let r = post(a, "/v1/summarize", tk, &json!({ "doc_ids": ["CASE-1"] }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(check_citations(a, tk, &r.json()) > 0);
    let r = post(a, "/v1/summarize", tk, &json!({ "doc_ids": ["NOPE-9"] }));
    assert_eq!(r.status, 422, "{}", r.text());
    let r = post(a, "/v1/summarize", tk, &json!({}));
    assert_eq!(r.status, 422);

    // CORS: only the configured origin, preflight without a token.
    let r = raw_request(
        a,
        b"OPTIONS /v1/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: http://allowed.example\r\nAccess-Control-Request-Method: POST\r\n\r\n",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://allowed.example")
    );
    let r = raw_request(
        a,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: http://evil.example\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);

    // OpenAPI document from the handlers' types.
    let r = get(a, "/openapi.json", tk);
    assert_eq!(r.status, 200);
    let o = r.json();
    for p in [
        "/v1/search",
        "/v1/code/icd10cm",
        "/v1/code/atc",
        "/v1/rare",
        "/v1/documents/{id}",
        "/v1/ask",
        "/v1/summarize",
        "/v1/chat/completions",
        "/healthz",
        "/metrics",
    ] {
        assert!(
            o["paths"].get(p).is_some(),
            "{p} missing from /openapi.json"
        );
    }
    assert!(o["components"]["schemas"]["SearchRequest"]["properties"]["query"].is_object());

    // Metrics.
    let r = get(a, "/metrics", tk);
    assert_eq!(r.status, 200);
    let m = r.text();
    assert!(m.contains("clinrag_http_requests_total{endpoint=\"/v1/search\",status=\"200\"}"));
    assert!(
        m.contains("clinrag_http_errors_total{endpoint=\"/v1/search\",kind=\"unauthorized\"} 2"),
        "{m}"
    );
    assert!(m.contains("clinrag_stage_duration_seconds_count{stage=\"search\"}"));
    assert!(m.contains("clinrag_stage_duration_seconds_count{stage=\"ask_retrieve\"}"));
    assert!(m.contains("clinrag_llm_tokens_total{endpoint=\"/v1/ask\"}"));

    // Audit: one record per request under the token's name; revocation takes effect at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let requests = loop {
        let o = clinrag(&home, &["token", "list", "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let n = v["tokens"][0]["requests"].as_i64().unwrap();
        if n >= 40 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(requests >= 40, "audited requests: {requests}");
    let o = clinrag(&home, &["token", "revoke", "alice"]);
    assert!(o.status.success());
    // Verified tokens are trusted for at most a second.
    std::thread::sleep(Duration::from_millis(1100));
    let r = post(a, "/v1/search", tk, &q);
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_token"));
    let o = clinrag(&home, &["token", "revoke", "alice"]);
    assert_eq!(o.status.code(), Some(2), "revoking twice is an error");

    // The server logged no request text.
    drop(srv);
    for e in std::fs::read_dir(&home).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "log") {
            let log = std::fs::read_to_string(&p).unwrap();
            assert!(log.contains("request"), "the log has request lines");
            for secret in ["amoxicillin", "arachnodactyly", "paracetamol", "pneumonia"] {
                assert!(!log.contains(secret), "{secret:?} in the server log");
            }
        }
    }
}

#[test]
fn tokens_are_validated_and_shown_once() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let o = clinrag(&home, &["token", "create", "bad name!"]);
    assert_eq!(o.status.code(), Some(2));
    let tok = create_token(&home, "ci-bot");
    assert!(tok.starts_with("clinrag_") && tok.len() == 8 + 64);
    let o = clinrag(&home, &["token", "create", "ci-bot"]);
    assert_eq!(o.status.code(), Some(2), "a live name cannot be reused");
    let o = clinrag(&home, &["token", "list", "--json"]);
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(list.contains("ci-bot") && !list.contains(&tok), "{list}");
    // The catalog holds only the hash.
    let needle = tok.as_bytes();
    for f in ["catalog.db", "catalog.db-wal"] {
        if let Ok(db) = std::fs::read(home.join(f)) {
            assert!(
                !db.windows(needle.len()).any(|w| w == needle),
                "token in {f}"
            );
        }
    }
    // A revoked name can be given a new token.
    assert!(
        clinrag(&home, &["token", "revoke", "ci-bot"])
            .status
            .success()
    );
    let tok2 = create_token(&home, "ci-bot");
    assert_ne!(tok, tok2);
}

#[test]
fn slow_clients_get_408_disconnects_and_rate_limits_do_not_stop_the_server() {
    let (_t, home) = fixture();
    let srv = start(
        &home,
        &[
            "--addr",
            "127.0.0.1:0",
            "--header-timeout",
            "1s",
            "--body-timeout",
            "1s",
            "--rate-limit",
            "2",
            "--burst",
            "20",
        ],
    );
    let a = srv.addr.clone();
    // Loopback without --require-token: no token needed, but a bad one is refused.
    let q = json!({ "query": "fever cough" });
    assert_eq!(post(&a, "/v1/search", None, &q).status, 200);
    assert_eq!(post(&a, "/v1/search", Some("nope"), &q).status, 401);

    // Slowloris: an unfinished head, then an unfinished body.
    let t0 = Instant::now();
    let slow_head = std::thread::spawn({
        let a = a.clone();
        move || raw_request(&a, b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Le")
    });
    let slow_body = std::thread::spawn({
        let a = a.clone();
        move || {
            raw_request(
                &a,
                b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":",
            )
        }
    });
    // Others are served meanwhile.
    assert_eq!(get(&a, "/healthz", None).status, 200);
    let r = slow_head.join().unwrap();
    assert_eq!(r.status, 408);
    let r = slow_body.join().unwrap();
    assert_eq!((r.status, r.code().as_str()), (408, "body_timeout"));
    assert!(t0.elapsed() < Duration::from_secs(10));

    // A client that disconnects mid-stream: read the first event, then hang up.
    for _ in 0..3 {
        let body =
            json!({ "question": "What treatment resolved fever and cough with consolidation?" })
                .to_string();
        let mut s = TcpStream::connect(&a).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        drop(s);
    }
    // A client that sends garbage.
    let r = raw_request(&a, b"NOT HTTP AT ALL\r\n\r\n");
    assert_eq!(r.status, 400);
    std::thread::sleep(Duration::from_millis(500));
    let r = post(
        &a,
        "/v1/ask",
        None,
        &json!({ "question": "What treatment resolved fever?", "stream": false }),
    );
    assert_eq!(r.status, 200, "the server still answers: {}", r.text());

    // Rate limit: a burst of 20, then 429 with Retry-After; health is never limited.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(get(&a, "/v1/hpo/suggest?q=fever", None).status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429));
    let r = get(&a, "/v1/hpo/suggest?q=fever", None);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(get(&a, "/healthz", None).status, 200);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(get(&a, "/v1/hpo/suggest?q=fever", None).status, 200);
}

#[test]
fn beyond_loopback_every_request_needs_a_token() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let srv = start(&home, &["--addr", "0.0.0.0:0", "--lazy"]);
    let a = srv.addr.as_str();
    assert_eq!(get(a, "/healthz", None).status, 200);
    let r = post(a, "/v1/search", None, &json!({ "query": "fever" }));
    assert_eq!((r.status, r.code().as_str()), (401, "missing_token"));
    assert_eq!(get(a, "/metrics", None).status, 401);
    assert_eq!(get(a, "/openapi.json", None).status, 401);
    // Missing data is a clear 503, not a crash.
    let tok = create_token(&home, "ops");
    let r = post(
        a,
        "/v1/code/icd10cm",
        Some(&tok),
        &json!({ "text": "fever" }),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("clinrag setup"), "{}", r.text());
}

// ---------------------------------------------------------------------------------------------
// The web page in headless Chromium, driven over the WebDriver protocol (chromedriver).

fn find_exe(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/lib/chromium")]) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

struct WebDriver {
    addr: String,
    session: String,
}

impl WebDriver {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let r = request(
            &self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            None,
            body.as_deref().map(str::as_bytes),
        );
        let v = r.json();
        assert!(r.status == 200, "webdriver {method} {path}: {v}");
        v["value"].clone()
    }
    fn find(&self, css: &str) -> Option<String> {
        let body = json!({ "using": "css selector", "value": css }).to_string();
        let r = request(
            &self.addr,
            "POST",
            &format!("/session/{}/element", self.session),
            None,
            Some(body.as_bytes()),
        );
        if r.status != 200 {
            return None;
        }
        r.json()["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
    fn wait_for(&self, css: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            assert!(Instant::now() < deadline, "{css} did not appear");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": js, "args": [] })),
        )
    }
}

#[test]
fn web_page_answers_with_citations_that_open_the_cited_passage() {
    let (Some(chromium), Some(driver)) = (
        find_exe(&["chromium", "chromium-browser", "google-chrome"]),
        find_exe(&["chromedriver"]),
    ) else {
        eprintln!(
            "SKIPPED web_page_answers_with_citations_that_open_the_cited_passage: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let (_t, home) = fixture();
    let srv = start(&home, &["--addr", "127.0.0.1:0", "--rate-limit", "0"]);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut drv = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(&mut drv);
    let waddr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&waddr).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let caps = json!({ "capabilities": { "alwaysMatch": { "goog:chromeOptions": {
        "binary": chromium.to_str().unwrap(),
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
    }}}});
    let r = request(
        &waddr,
        "POST",
        "/session",
        None,
        Some(caps.to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "new session: {}", r.text());
    let session = r.json()["value"]["sessionId"].as_str().unwrap().to_owned();
    let wd = WebDriver {
        addr: waddr,
        session,
    };
    wd.call(
        "POST",
        "/url",
        Some(json!({ "url": format!("http://{}/", srv.addr) })),
    );
    // Type the question with the keyboard and press Enter.
    let q = wd.wait_for("#question", 10);
    wd.call(
        "POST",
        &format!("/element/{q}/value"),
        Some(json!({ "text": "Which antibiotic is given for community-acquired pneumonia in adults without comorbidities?\u{E007}" })),
    );
    // The verified answer renders with numbered citations and footnotes.
    wd.wait_for("#answer.final sup a.cite", 60);
    let state = wd.script(
        "return { answer: document.getElementById('answer').textContent, \
          cites: [...document.querySelectorAll('#answer a.cite')].map(a => ({ text: a.textContent, doc: a.dataset.doc, start: +a.dataset.start, end: +a.dataset.end })), \
          notes: [...document.querySelectorAll('#footnotes li q')].map(q => q.textContent), \
          status: document.getElementById('ask-status').textContent }",
    );
    assert!(
        state["answer"]
            .as_str()
            .unwrap()
            .contains("amoxicillin 1 g"),
        "{state}"
    );
    let cite = &state["cites"][0];
    assert_eq!(cite["text"], "[1]", "{state}");
    assert!(!state["notes"].as_array().unwrap().is_empty(), "{state}");
    // Clicking the first footnote marker opens the passage with the quote highlighted.
    let link = wd.wait_for("#answer sup a.cite", 5);
    wd.call("POST", &format!("/element/{link}/click"), Some(json!({})));
    wd.wait_for("#passage[open] mark#passage-mark", 20);
    let shown = wd.script(
        "return { mark: document.getElementById('passage-mark').textContent, \
          meta: document.getElementById('passage-meta').textContent, \
          title: document.getElementById('passage-title').textContent }",
    );
    assert_eq!(shown["mark"], state["notes"][0], "{shown} vs {state}");
    let doc = cite["doc"].as_str().unwrap();
    assert!(shown["meta"].as_str().unwrap().contains(doc), "{shown}");
    assert_eq!(shown["title"], "Community-acquired pneumonia");
    // The highlighted text is exactly the stored span.
    let r = get(
        &srv.addr,
        &format!(
            "/v1/documents/{}?start={}&end={}",
            doc, cite["start"], cite["end"]
        ),
        None,
    );
    assert_eq!(r.json()["passage"]["text"], shown["mark"]);
    // Escape closes the dialog (keyboard use).
    wd.call(
        "POST",
        "/actions",
        Some(json!({ "actions": [{ "type": "key", "id": "kb", "actions": [
            { "type": "keyDown", "value": "\u{E00C}" }, { "type": "keyUp", "value": "\u{E00C}" } ] }] })),
    );
    let open = wd.script("return document.getElementById('passage').open");
    assert_eq!(open, false);
    let _ = request(
        &wd.addr,
        "DELETE",
        &format!("/session/{}", wd.session),
        None,
        None,
    );
}
