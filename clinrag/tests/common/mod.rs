//! Helpers shared by the integration tests of the `clinrag` binary: run the binary on a home
//! folder, parse its `--json` line, write a corpus, copy a fixture folder, assert a consistent
//! store, serve OpenAI-style embeddings.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_clinrag"))
}

pub fn clinrag(home: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .env("CLINRAG_HOME", home)
        .env_remove("CLINRAG_DATABASE_URL")
        .env_remove("CLINRAG_LLM_URL")
        .args(args)
        .output()
        .unwrap()
}

pub fn json(o: &Output) -> Value {
    let s = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        s.lines().count(),
        1,
        "--json prints exactly one line: {s}\nstderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&s).unwrap()
}

/// `dir/corpus.jsonl` with documents `DOC-0` .. `DOC-{n-1}`.
pub fn corpus(dir: &Path, n: usize) -> PathBuf {
    corpus_range(dir, "corpus.jsonl", 0, n)
}

/// `dir/name`, a JSONL corpus of the short case reports `DOC-{from}` .. `DOC-{to-1}`.
pub fn corpus_range(dir: &Path, name: &str, from: usize, to: usize) -> PathBuf {
    let p = dir.join(name);
    let mut s = String::new();
    for i in from..to {
        s.push_str(&serde_json::json!({
            "id": format!("DOC-{i}"),
            "title": format!("Case report {i}"),
            "text": format!("Patient {i} presented with fever and cough. Chest radiograph showed consolidation in lobe {}. Amoxicillin was started and symptoms resolved.", i % 5),
        }).to_string());
        s.push('\n');
    }
    std::fs::write(&p, s).unwrap();
    p
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Asserts `clinrag check` is clean with `n` documents on both sides and no duplicate chunk.
pub fn assert_consistent(home: &Path, n: usize, ctx: &str) {
    let c = json(&clinrag(home, &["check", "--json"]));
    assert_eq!(c["consistent"], true, "{ctx}: {c}");
    assert_eq!(c["report"]["catalog_documents"], n, "{ctx}: {c}");
    assert_eq!(c["report"]["index_documents"], n, "{ctx}: {c}");
    let s = json(&clinrag(home, &["stats", "--json"]));
    assert_eq!(s["catalog"]["documents"], n, "{ctx}: {s}");
    assert_eq!(
        s["catalog"]["chunks"], s["keyword_index"]["chunks"],
        "{ctx}: a duplicate or missing chunk in the keyword index: {s}"
    );
}

/// A local server speaking the OpenAI embeddings wire format (`POST /v1/embeddings`): each
/// input becomes a deterministic 16-dimensional bag-of-words vector. Returns the base URL.
pub fn embeddings_server() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { continue };
            std::thread::spawn(move || {
                let mut r = BufReader::new(sock.try_clone().unwrap());
                let mut w = sock;
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    let mut first = true;
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if first {
                            first = false;
                            assert!(line.starts_with("POST "), "{line}");
                        }
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
                    let req: Value = serde_json::from_slice(&body).unwrap();
                    let data: Vec<Value> = req["input"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            let mut v = vec![0.1f32; 16];
                            for word in t.as_str().unwrap().split_whitespace() {
                                let h = word.bytes().fold(7u64, |h, b| {
                                    h.wrapping_mul(31).wrapping_add(u64::from(b))
                                });
                                v[(h % 16) as usize] += 1.0;
                            }
                            serde_json::json!({"object": "embedding", "index": i, "embedding": v})
                        })
                        .collect();
                    let out = serde_json::json!({
                        "object": "list", "model": req["model"], "data": data,
                        "usage": {"prompt_tokens": 1, "total_tokens": 1}
                    })
                    .to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        out.len()
                    );
                    if w.write_all(head.as_bytes()).is_err() || w.write_all(out.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    base
}

/// splitmix64: a small seeded generator, so that a failing iteration can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A value in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// `clinrag` with the embeddings endpoint `base` and model `model` configured (none: `None`).
pub fn clinrag_embed(home: &Path, embed: Option<(&str, &str)>, args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.env("CLINRAG_HOME", home)
        .env_remove("CLINRAG_DATABASE_URL")
        .env_remove("CLINRAG_QDRANT_URL")
        .env_remove("CLINRAG_EMBED_BASE_URL")
        .env_remove("CLINRAG_EMBED_MODEL");
    if let Some((base, model)) = embed {
        c.env("CLINRAG_EMBED_BASE_URL", base)
            .env("CLINRAG_EMBED_MODEL", model);
    }
    c.args(args).output().unwrap()
}
