//! Reliability of the `clinrag` binary with real child processes: backup and restore (also
//! while an ingest runs, and refusing corrupt backups), a seeded loop of SIGKILLs at random
//! points of an ingest, and searches served while an ingest writes.
//!
//! `CLINRAG_KILL_ITERS` sets the iterations of the kill loop (default 8), `CLINRAG_KILL_SEED`
//! its seed (default 20261127).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Rng, assert_consistent, bin, clinrag, copy_dir, corpus_range, json};
use serde_json::Value;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `(doc_id, chunk_id, start, end)` of each hit of a BM25 search.
fn hits(home: &Path, query: &str) -> Vec<(String, String, u64, u64)> {
    let o = clinrag(home, &["search", "--json", "--k", "5", query]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    json(&o)["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["doc_id"].as_str().unwrap().to_owned(),
                h["chunk_id"].as_str().unwrap().to_owned(),
                h["start"].as_u64().unwrap(),
                h["end"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn restore(home: &Path, backup: &Path, force: bool) -> std::process::Output {
    let mut args = vec!["restore", "--json", backup.to_str().unwrap()];
    if force {
        args.push("--force");
    }
    clinrag(home, &args)
}

#[test]
fn backup_then_restore_gives_the_state_at_backup_time() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let first = corpus_range(t.path(), "a.jsonl", 0, 300);
    let o = clinrag(&home, &["ingest", "--json", first.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let query = "Patient 17 consolidation lobe 2 amoxicillin";
    let before = hits(&home, query);
    assert_eq!(before[0].0, "DOC-17");

    let bk = t.path().join("bk");
    let o = clinrag(&home, &["backup", "--json", bk.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b = json(&o);
    assert_eq!(b["documents"], 300, "{b}");
    assert_eq!(b["chunks"], b["keyword_chunks"], "{b}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(bk.join("manifest.json")).unwrap()).unwrap();
    assert!(
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "index/keyword/meta.json"
                && f["sha256"].as_str().unwrap().len() == 64),
        "{manifest}"
    );
    // A second backup into the same folder is refused.
    let o = clinrag(&home, &["backup", bk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));

    // After the backup: more documents, one removed.
    let more = corpus_range(t.path(), "b.jsonl", 300, 400);
    assert!(
        clinrag(&home, &["ingest", more.to_str().unwrap()])
            .status
            .success()
    );
    assert!(clinrag(&home, &["rm", "DOC-17"]).status.success());
    assert_consistent(&home, 399, "live home");
    assert_ne!(hits(&home, query), before);

    // Restore into a new home: the state at backup time, nothing re-derived.
    let home2 = t.path().join("home2");
    let o = restore(&home2, &bk, false);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let r = json(&o);
    assert_eq!(r["consistent"], true, "{r}");
    assert_eq!(r["documents"], 300, "{r}");
    assert_eq!(r["reindexed"], Value::Null, "{r}");
    assert_consistent(&home2, 300, "restored home");
    assert_eq!(hits(&home2, query), before);
    let o = clinrag(&home2, &["docs", "show", "DOC-350", "--json"]);
    assert!(!o.status.success(), "a document ingested after the backup");
    let (doc, _, start, end) = &before[0];
    let o = clinrag(
        &home2,
        &[
            "docs",
            "show",
            doc,
            "--span",
            &format!("{start}:{end}"),
            "--json",
        ],
    );
    assert!(o.status.success());

    // A home with a catalog is not overwritten without --force.
    let o = restore(&home, &bk, false);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        json(&o)["error"].as_str().unwrap().contains("not empty"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = restore(&home, &bk, true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_consistent(&home, 300, "home restored with --force");
    assert_eq!(hits(&home, query), before);

    // A truncated segment file and a flipped byte in the catalog are refused, naming the
    // file, before anything is written.
    let seg = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .find(|p| p.ends_with(".store"))
        .unwrap()
        .to_owned();
    for (victim, damage) in [(seg.as_str(), "truncate"), ("catalog.db", "flip")] {
        let bad = t.path().join(format!("bad-{damage}"));
        std::fs::create_dir_all(&bad).unwrap();
        copy_dir(&bk, &bad);
        let p = bad.join(victim);
        let mut bytes = std::fs::read(&p).unwrap();
        if damage == "truncate" {
            bytes.truncate(bytes.len() / 2);
        } else {
            let i = bytes.len() / 3;
            bytes[i] ^= 0x55;
        }
        std::fs::write(&p, bytes).unwrap();
        let home3 = t.path().join(format!("home-{damage}"));
        let o = restore(&home3, &bad, false);
        assert_eq!(o.status.code(), Some(2), "{damage}");
        let err = json(&o)["error"].as_str().unwrap().to_owned();
        assert!(
            err.contains(victim) && err.contains("corrupt"),
            "{damage}: {err}"
        );
        assert!(!home3.join("catalog.db").exists(), "{damage}: home touched");
    }
}

/// Backups taken while an ingest writes restore to a consistent home whose document count is
/// the one the manifest recorded.
#[test]
fn backup_during_ingest_restores_consistently() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let seed = corpus_range(t.path(), "a.jsonl", 0, 100);
    assert!(
        clinrag(&home, &["ingest", seed.to_str().unwrap()])
            .status
            .success()
    );
    let total = 8_100;
    let big = corpus_range(t.path(), "b.jsonl", 100, total);
    let mut child = Command::new(bin())
        .env("CLINRAG_HOME", &home)
        .env_remove("CLINRAG_DATABASE_URL")
        .args(["ingest", "--json", big.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut backups = Vec::new();
    for i in 0..4 {
        std::thread::sleep(Duration::from_millis(60));
        let bk = t.path().join(format!("bk{i}"));
        let o = clinrag(&home, &["backup", "--json", bk.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        backups.push((bk, json(&o)["documents"].as_u64().unwrap()));
    }
    assert!(child.wait().unwrap().success());
    assert_consistent(&home, total, "after the ingest");
    let counts: Vec<usize> = backups.iter().map(|b| b.1 as usize).collect();
    eprintln!("documents in the backups taken during the ingest: {counts:?}");
    assert!(
        counts.iter().any(|&n| n > 100 && n < total),
        "no backup caught the ingest half-way: {counts:?}"
    );
    for (i, (bk, n)) in backups.iter().enumerate() {
        let h = t.path().join(format!("restored{i}"));
        let o = restore(&h, bk, false);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        assert_eq!(json(&o)["documents"], *n);
        let n = usize::try_from(*n).unwrap();
        assert!((100..=total).contains(&n));
        assert_consistent(&h, n, &format!("backup {i}"));
    }
}

/// SIGKILL an ingest at seeded random points, `CLINRAG_KILL_ITERS` times; after each kill a
/// finishing run, then: `check` clean, no duplicate, every document of every file so far there.
#[test]
fn seeded_random_kills_lose_nothing() {
    let iters = env_u64("CLINRAG_KILL_ITERS", 8);
    let seed = env_u64("CLINRAG_KILL_SEED", 20_261_127);
    let mut rng = Rng(seed);
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let per = 1_500;
    // Calibrate: how long one part takes to ingest here, so that kills land inside the run.
    let cal = t.path().join("cal");
    std::fs::create_dir_all(&cal).unwrap();
    corpus_range(&cal, "part.jsonl", 0, per);
    let t0 = Instant::now();
    let o = clinrag(&cal.join("home"), &["ingest", cal.to_str().unwrap()]);
    assert!(o.status.success());
    let full_ms = u64::try_from(t0.elapsed().as_millis()).unwrap().max(50);
    let mut interrupted = 0;
    let mut partial = 0;
    for i in 0..iters {
        let i = usize::try_from(i).unwrap();
        corpus_range(&src, &format!("part{i:03}.jsonl"), i * per, (i + 1) * per);
        let delay = rng.range(5, full_ms);
        let ctx = format!("seed {seed}, iteration {i}, kill after {delay} ms");
        let mut child = Command::new(bin())
            .env("CLINRAG_HOME", &home)
            .env_remove("CLINRAG_DATABASE_URL")
            .args(["ingest", "--json", src.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let o = clinrag(&home, &["ingest", "--json", src.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "{ctx}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // The killed run had committed some of the part, but not all of it.
        let finished = json(&o)["documents_ingested"].as_u64().unwrap();
        if finished > 0 && finished < per as u64 {
            partial += 1;
        }
        assert_consistent(&home, (i + 1) * per, &ctx);
    }
    eprintln!(
        "{iters} iterations (seed {seed}, one part ingests in {full_ms} ms): {interrupted} kills interrupted a run, {partial} left part of their documents committed"
    );
    assert!(interrupted >= 1, "no kill landed inside an ingest");
    // Nothing lost: every document id of every file is in the catalog and the index.
    let o = clinrag(&home, &["docs", "show", "DOC-0", "--json"]);
    assert!(o.status.success());
    let last = format!("DOC-{}", usize::try_from(iters).unwrap() * per - 1);
    assert!(
        clinrag(&home, &["docs", "show", &last, "--json"])
            .status
            .success()
    );
    let r = json(&clinrag(
        &home,
        &["ingest", "--json", src.to_str().unwrap()],
    ));
    assert_eq!(r["documents_ingested"], 0, "{r}");
}

/// Batch searches run in a loop while an ingest writes: none fails, and every hit is the
/// stored text at its offsets.
#[test]
fn searches_during_ingest_never_fail_and_hits_match_the_store() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let seed = corpus_range(t.path(), "a.jsonl", 0, 200);
    assert!(
        clinrag(&home, &["ingest", seed.to_str().unwrap()])
            .status
            .success()
    );
    let big = corpus_range(t.path(), "b.jsonl", 200, 12_200);
    let queries = t.path().join("q.jsonl");
    let mut q = String::new();
    for (i, text) in [
        "fever and cough",
        "consolidation lobe 3",
        "Patient 3100 amoxicillin",
        "radiograph symptoms resolved",
        "Case report 150",
    ]
    .iter()
    .enumerate()
    {
        q.push_str(&serde_json::json!({"id": i, "text": text, "k": 5}).to_string());
        q.push('\n');
    }
    std::fs::write(&queries, q).unwrap();
    let mut child = Command::new(bin())
        .env("CLINRAG_HOME", &home)
        .env_remove("CLINRAG_DATABASE_URL")
        .args(["ingest", big.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut seen: BTreeSet<(String, u64, u64, String)> = BTreeSet::new();
    let mut rounds = 0;
    let mut during = 0;
    loop {
        let running = child.try_wait().unwrap().is_none();
        if !running && rounds > 0 || started.elapsed() > Duration::from_secs(15) {
            break;
        }
        let o = clinrag(
            &home,
            &["search", "--json", "--batch", queries.to_str().unwrap()],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(out.lines().count(), 5, "{out}");
        for line in out.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v.get("error").is_none(), "a search failed: {v}");
            let hs = v["hits"].as_array().unwrap();
            assert!(!hs.is_empty(), "{v}");
            for h in hs {
                seen.insert((
                    h["doc_id"].as_str().unwrap().to_owned(),
                    h["start"].as_u64().unwrap(),
                    h["end"].as_u64().unwrap(),
                    h["text"].as_str().unwrap().to_owned(),
                ));
            }
        }
        rounds += 1;
        if running {
            during += 1;
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(
        during >= 2,
        "only {during} search rounds overlapped the ingest"
    );
    assert_consistent(&home, 12_200, "after the ingest");
    eprintln!(
        "{rounds} search rounds, {during} while the ingest ran, {} distinct hits",
        seen.len()
    );
    // Documents are never rewritten here, so the stored text now is the text searched then.
    for (doc, start, end, text) in seen.iter().take(60) {
        let o = clinrag(
            &home,
            &[
                "docs",
                "show",
                doc,
                "--span",
                &format!("{start}:{end}"),
                "--json",
            ],
        );
        assert!(o.status.success(), "{doc} {start}:{end}");
        assert_eq!(json(&o)["text"], text.as_str(), "{doc} {start}:{end}");
    }
}

/// `clinrag serve` on an ephemeral port (no model) over `home`, killed when dropped.
struct Serve {
    child: std::process::Child,
    addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(home: &Path, log: &Path) -> Serve {
    use std::io::BufRead;
    let mut child = Command::new(bin())
        .env("CLINRAG_HOME", home)
        .env_remove("CLINRAG_DATABASE_URL")
        .env_remove("CLINRAG_LLM_URL")
        .args([
            "serve",
            "--json",
            "--no-model",
            "--addr",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("serve did not print its address ({e}): {line:?}"));
    let addr = v["listening"].as_str().unwrap().to_owned();
    Serve { child, addr }
}

/// One HTTP/1.1 request (`Connection: close`): the status and the body as JSON.
fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
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
    let v = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: {status}, not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, v)
}

/// `(doc_id, start, end, quote)` of every citation of an answer.
fn citations(answer: &Value) -> Vec<(String, u64, u64, String)> {
    let mut out = Vec::new();
    for s in answer["sentences"].as_array().unwrap() {
        for c in s["citations"].as_array().unwrap() {
            out.push((
                c["doc_id"].as_str().unwrap().to_owned(),
                c["start"].as_u64().unwrap(),
                c["end"].as_u64().unwrap(),
                c["quote"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// `clinrag serve` answers `POST /v1/search` and `POST /v1/ask`, and `clinrag ask` answers, in a
/// loop while five ingest runs (one commit each) write 10,000 documents: no request fails, the
/// catalog's document count never goes down, a document the server has found it finds again in
/// every later round (documents appear whole, once per commit, and never vanish), every hit and
/// citation is the stored text at its offsets (`GET /v1/documents/{id}`) afterwards, and the
/// running server sees every committed document.
#[test]
fn serve_and_ask_during_ingest_never_fail_and_citations_match_the_store() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let seed = corpus_range(t.path(), "a.jsonl", 0, 200);
    assert!(
        clinrag(&home, &["ingest", seed.to_str().unwrap()])
            .status
            .success()
    );
    let log = t.path().join("serve.log");
    let srv = serve(&home, &log);
    let a = srv.addr.as_str();
    let (per, parts) = (2_000, 5);
    let total = 200 + per * parts;
    let files: Vec<std::path::PathBuf> = (0..parts)
        .map(|i| {
            corpus_range(
                t.path(),
                &format!("part{i}.jsonl"),
                200 + i * per,
                200 + (i + 1) * per,
            )
        })
        .collect();
    let h = home.clone();
    let writer = std::thread::spawn(move || {
        for f in files {
            let o = Command::new(bin())
                .env("CLINRAG_HOME", &h)
                .env_remove("CLINRAG_DATABASE_URL")
                .args(["ingest", "--json", f.to_str().unwrap()])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    });
    // The last document of each part, as the server sees it.
    let probes: Vec<String> = (0..parts)
        .map(|i| format!("DOC-{}", 200 + (i + 1) * per - 1))
        .collect();
    let sees = |id: &str| {
        let n = id.trim_start_matches("DOC-");
        let (st, v) = http(
            a,
            "POST",
            "/v1/search",
            Some(&serde_json::json!({"query": format!("Patient {n} amoxicillin"), "k": 1})),
        );
        assert_eq!(st, 200, "search: {v}");
        v["hits"][0]["doc_id"] == id
    };
    let mut seen = vec![false; parts];
    let question = "Which antibiotic was started for fever and cough with consolidation?";
    let started = Instant::now();
    let mut cited: BTreeSet<(String, u64, u64, String)> = BTreeSet::new();
    let (mut rounds, mut during, mut asks) = (0, 0, 0);
    let mut last_count = 0u64;
    loop {
        let running = !writer.is_finished();
        if !running && rounds > 0 || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        let query = format!(
            "Patient {} fever consolidation lobe {}",
            (rounds * 797) % total,
            rounds % 5
        );
        let (st, v) = http(
            a,
            "POST",
            "/v1/search",
            Some(&serde_json::json!({"query": query, "k": 5})),
        );
        assert_eq!(st, 200, "search: {v}");
        let hits = v["hits"].as_array().unwrap();
        assert!(!hits.is_empty(), "{v}");
        for h in hits {
            cited.insert((
                h["doc_id"].as_str().unwrap().to_owned(),
                h["start"].as_u64().unwrap(),
                h["end"].as_u64().unwrap(),
                h["text"].as_str().unwrap().to_owned(),
            ));
        }
        for (i, id) in probes.iter().enumerate() {
            let now = sees(id);
            assert!(now || !seen[i], "{id} vanished from the server's searches");
            seen[i] |= now;
        }
        let (st, v) = http(
            a,
            "POST",
            "/v1/ask",
            Some(&serde_json::json!({"question": question, "stream": false})),
        );
        assert_eq!(st, 200, "ask: {v}");
        assert_eq!(v["abstained"], false, "{v}");
        cited.extend(citations(&v));
        asks += 1;
        if rounds % 3 == 0 {
            let o = clinrag(&home, &["ask", "--json", "--no-model", question]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let v = json(&o);
            assert_eq!(v["abstained"], false, "{v}");
            cited.extend(citations(&v));
            asks += 1;
            let s = json(&clinrag(&home, &["stats", "--json"]));
            let n = s["catalog"]["documents"].as_u64().unwrap();
            assert!(
                n >= last_count,
                "document count went down: {last_count} -> {n}"
            );
            last_count = n;
        }
        rounds += 1;
        if running {
            during += 1;
        }
    }
    writer.join().unwrap();
    assert!(during >= 2, "only {during} rounds overlapped the ingest");
    let seen_during = seen.iter().filter(|s| **s).count();
    assert!(
        seen_during >= 1,
        "the server saw no commit while the ingest ran"
    );
    assert_consistent(&home, total, "after the ingest");
    // The running server picks up every commit (reload on commit, about a second).
    let t0 = Instant::now();
    while !probes.iter().all(|id| sees(id)) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the server does not see all ingested documents"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "{rounds} rounds ({during} during the ingest, {asks} asks), {} distinct hits and citations checked, {seen_during} of {parts} committed parts seen by the server while the ingest ran, all seen {:.1} s after it",
        cited.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(cited.iter().any(|c| c.1 != c.2));
    for (doc, start, end, text) in &cited {
        let (st, v) = http(
            a,
            "GET",
            &format!("/v1/documents/{doc}?start={start}&end={end}"),
            None,
        );
        assert_eq!(st, 200, "{doc} {start}:{end}: {v}");
        assert_eq!(v["passage"]["text"], text.as_str(), "{doc} {start}:{end}");
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("panicked"), "the server panicked: {log}");
}
