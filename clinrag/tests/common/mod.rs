//! Helpers shared by the integration tests of the `clinrag` binary (`cli.rs`,
//! `reliability.rs`): run the binary on a home folder, parse its `--json` line, write a corpus.
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
