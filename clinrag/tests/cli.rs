//! The `clinrag` binary end to end: ingest, search (single and batch, JSON contract), docs,
//! stats, rm, check, and crash safety with a real child process killed mid-ingest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{bin, clinrag, clinrag_embed, corpus, embeddings_server, json};
use serde_json::Value;

#[test]
fn ingest_search_docs_stats_rm() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = corpus(t.path(), 50);
    std::fs::write(t.path().join("g.md"), "# Pneumonia guideline\n\n## Treatment\n\nFor community-acquired pneumonia, give amoxicillin 1 g three times daily. Reassess at 48 hours.\n").unwrap();
    let o = clinrag(
        &home,
        &[
            "ingest",
            "--json",
            src.to_str().unwrap(),
            t.path().join("g.md").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = json(&o);
    assert_eq!(r["documents_ingested"], 51);

    let o = clinrag(
        &home,
        &[
            "search",
            "--json",
            "--k",
            "3",
            "amoxicillin dose for community-acquired pneumonia",
        ],
    );
    assert!(o.status.success());
    let v = json(&o);
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    let top = &hits[0];
    for key in [
        "rank", "score", "doc_id", "chunk_id", "title", "section", "start", "end", "text",
    ] {
        assert!(top.get(key).is_some(), "hit lacks {key}: {top}");
    }
    assert_eq!(top["title"], "Pneumonia guideline");
    assert_eq!(top["section"], "Treatment");
    // The citation span resolves to exactly the hit's text.
    let id = top["doc_id"].as_str().unwrap();
    let span = format!("{}:{}", top["start"], top["end"]);
    let o = clinrag(&home, &["docs", "show", id, "--span", &span, "--json"]);
    assert!(o.status.success());
    assert_eq!(json(&o)["text"], top["text"]);
    let o = clinrag(&home, &["docs", "show", id, "--span", "0:999999", "--json"]);
    assert!(!o.status.success());
    assert!(json(&o)["error"].as_str().unwrap().contains("outside"));

    // Batch: one line out per line in, errors carried per line.
    let batch = t.path().join("q.jsonl");
    std::fs::write(&batch, "{\"id\":\"a\",\"text\":\"fever cough\"}\nnot json\n{\"id\":7,\"text\":\"\"}\n{\"id\":\"b\",\"text\":\"radiograph consolidation\",\"k\":2}\n").unwrap();
    let o = clinrag(
        &home,
        &["search", "--json", "--batch", batch.to_str().unwrap()],
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["hits"].as_array().unwrap().len(), 10);
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_eq!(lines[2]["id"], 7);
    assert!(lines[2]["error"].as_str().unwrap().contains("empty"));
    assert_eq!(lines[3]["hits"].as_array().unwrap().len(), 2);

    let o = clinrag(&home, &["stats", "--json"]);
    let s = json(&o);
    assert_eq!(s["catalog"]["documents"], 51);
    assert_eq!(s["keyword_index"]["chunks"], s["catalog"]["chunks"]);

    let o = clinrag(&home, &["rm", "--json", "DOC-3", "NOPE"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["removed"][0], "DOC-3");
    assert_eq!(v["not_found"][0], "NOPE");
    let o = clinrag(&home, &["check", "--json"]);
    assert!(o.status.success());
    assert_eq!(json(&o)["consistent"], true);

    // Errors are one JSON object in --json mode, exit code 2.
    let o = clinrag(&home, &["search", "--json", "   "]);
    assert_eq!(o.status.code(), Some(2));
    assert!(json(&o)["error"].as_str().unwrap().contains("empty"));
}

#[test]
fn killed_ingest_leaves_a_consistent_store() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let n = 6_000;
    let src = corpus(t.path(), n);
    // Kill the ingest at several points of its run, then let a last run finish.
    for delay_ms in [150u64, 400, 700, 1100, 1600] {
        let mut child = Command::new(bin())
            .env("CLINRAG_HOME", &home)
            .args(["ingest", "--json", src.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SIGKILL: no destructor, no flush.
        let _ = child.kill();
        let _ = child.wait();
    }
    let o = clinrag(&home, &["ingest", "--json", src.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = clinrag(&home, &["check", "--json"]);
    let c = json(&o);
    assert_eq!(c["consistent"], true, "{c}");
    assert_eq!(c["report"]["catalog_documents"], n);
    assert_eq!(c["report"]["index_documents"], n);
    let s = json(&clinrag(&home, &["stats", "--json"]));
    assert_eq!(s["catalog"]["documents"], n);
    assert_eq!(
        s["catalog"]["chunks"], s["keyword_index"]["chunks"],
        "no duplicate chunk in the index"
    );
    // A run after that finds everything unchanged.
    let r = json(&clinrag(
        &home,
        &["ingest", "--json", src.to_str().unwrap()],
    ));
    assert_eq!(r["documents_ingested"], 0);
}

/// As above with `ingest --embed`: the vector index (the build's default kind, written in the
/// same run through an OpenAI-compatible endpoint) stays consistent with the catalog and the
/// keyword index across SIGKILLs: the final run leaves nothing to embed or remove, and dense
/// search answers.
#[test]
fn killed_ingest_with_vectors_leaves_a_consistent_store() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let n = 3_000;
    let src = corpus(t.path(), n);
    let base = embeddings_server();
    let run = |extra: &[&str]| {
        let mut c = Command::new(bin());
        c.env("CLINRAG_HOME", &home)
            .env_remove("CLINRAG_DATABASE_URL")
            .env_remove("CLINRAG_QDRANT_URL")
            .env("CLINRAG_EMBED_BASE_URL", &base)
            .env("CLINRAG_EMBED_MODEL", "hash-16")
            .args(["ingest", "--no-link", "--embed", src.to_str().unwrap()])
            .args(extra);
        c
    };
    for delay_ms in [300u64, 900, 1500, 2500, 3500, 5000] {
        let mut child = run(&["--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let o = run(&["--json"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = json(&clinrag(&home, &["check", "--json"]));
    assert_eq!(c["consistent"], true, "{c}");
    assert_eq!(c["report"]["catalog_documents"], n);
    // One more run: vectors already match the catalog document for document.
    let o = run(&["-v"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(": 0 documents (0 chunks) embedded, 0 removed"),
        "vectors not in line with the catalog: {err}"
    );
    let o = Command::new(bin())
        .env("CLINRAG_HOME", &home)
        .env("CLINRAG_EMBED_BASE_URL", &base)
        .env("CLINRAG_EMBED_MODEL", "hash-16")
        .args([
            "search",
            "--json",
            "--mode",
            "dense",
            "--k",
            "5",
            "fever cough lobe 3",
        ])
        .output()
        .unwrap();
    let hits = json(&o);
    let hits = hits["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 5, "{hits:?}");
}

/// Hybrid search is what a plain `ingest` then `search` gives when an embedder is installed;
/// `--no-embed` keeps a home keyword-only, and `--embed` without an embedder is a clear error.
#[test]
fn ingest_embeds_by_default_so_search_is_hybrid() {
    let t = tempfile::tempdir().unwrap();
    let src = corpus(t.path(), 40);
    let base = embeddings_server();
    let run = |home: &std::path::Path, embed: bool, args: &[&str]| {
        clinrag_embed(home, embed.then_some((base.as_str(), "hash-16")), args)
    };
    let search = ["search", "--json", "--k", "3", "fever cough lobe 3"];

    let plain = t.path().join("plain");
    let o = run(
        &plain,
        true,
        &["ingest", "--json", "--no-link", src.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = json(&run(&plain, true, &search));
    assert_eq!(r["mode"], "hybrid", "{r}");
    assert_eq!(r["hits"].as_array().unwrap().len(), 3);

    let keyword_only = t.path().join("keyword-only");
    let o = run(
        &keyword_only,
        true,
        &[
            "ingest",
            "--json",
            "--no-link",
            "--no-embed",
            src.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!keyword_only.join("index/vectors").exists());
    let r = json(&run(&keyword_only, true, &search));
    assert_eq!(r["mode"], "bm25", "{r}");

    // No embedder at all: a plain ingest says so and goes on; --embed refuses before storing.
    let none = t.path().join("none");
    let o = run(
        &none,
        false,
        &["ingest", "--no-link", src.to_str().unwrap()],
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("keyword search only"));
    let strict = t.path().join("strict");
    let o = run(
        &strict,
        false,
        &["ingest", "--embed", src.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no embedding model"), "{err}");
    assert!(!strict.join("catalog.db").exists(), "nothing stored");
}
