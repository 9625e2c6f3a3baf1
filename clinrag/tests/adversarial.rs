//! A standing hostile corpus through the real binary (`tests/fixtures/adversarial/`): documents
//! with instructions aimed at the model (plain, as chat-template and tool-call syntax, closing
//! the data fence of `agents/src/prompts.rs`, disguised with look-alike letters, invisible and
//! fullwidth characters), fake citations (PMIDs and DOIs the catalog does not hold), homoglyph
//! drug names; and generated huge repeated text (the same sentence 200,000 times, one 2 MB word).
//!
//! The model-free answer (`clinrag ask --no-model`) must never carry planted text and must cite
//! only stored spans; `clinrag code atc` and `clinrag link` read look-alike letters as Latin and
//! say so; huge documents ingest into bounded chunks without crowding out other documents.
//! A model that obeys the planted instructions is played at the agents level
//! (`agents/tests/adversarial.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, clinrag, copy_dir, json};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adversarial")
}

/// A home with the kg fixture vocabularies, whose ATC table also has metformin and warfarin.
fn vocab_home(t: &Path) -> PathBuf {
    let home = t.join("home");
    let kg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kg/tests/fixtures/home/vocab");
    copy_dir(&kg, &home.join("vocab"));
    copy_dir(&fixtures().join("vocab"), &home.join("vocab"));
    home
}

/// Text planted by the hostile documents; none of it may appear in an answer (lower case).
const PLANTED: &[&str] = &[
    "ignore",
    "insulin glargine",
    "system:",
    "assistant:",
    "you are now",
    "pmid",
    "12345678",
    "99999999",
    "doi:",
    "\"tool",
    "<|im_",
    "data>>>",
    "<<<data",
    "40 g",
    "ciprofloxacin",
    "inr for warfarin is 10",
    "doubl",
    "cures",
];

fn assert_no_planted_text(text: &str, ctx: &str) {
    let folded = text.to_lowercase();
    for p in PLANTED {
        assert!(!folded.contains(p), "{ctx}: planted {p:?} in {text:?}");
    }
}

/// Every citation of an answer is the stored text of a catalog document at its offsets.
fn assert_citations_are_stored_text(home: &Path, answer: &Value, ids: &BTreeSet<String>) {
    for s in answer["sentences"].as_array().unwrap() {
        let cites = s["citations"].as_array().unwrap();
        assert!(!cites.is_empty(), "uncited sentence: {s}");
        for c in cites {
            let id = c["doc_id"].as_str().unwrap();
            assert!(ids.contains(id), "cites {id}, which was never ingested");
            let o = clinrag(
                home,
                &[
                    "docs",
                    "show",
                    id,
                    "--span",
                    &format!("{}:{}", c["start"], c["end"]),
                    "--json",
                ],
            );
            assert!(
                o.status.success(),
                "{id}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(json(&o)["text"], c["quote"], "{id}");
        }
    }
}

fn ingested_ids(files: &[&str]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(fixtures().join(f)).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            ids.insert(v["id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

#[test]
fn hostile_documents_never_reach_answers_and_every_citation_is_stored_text() {
    let t = tempfile::tempdir().unwrap();
    let home = vocab_home(t.path());
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in ["clinical.jsonl", "hostile.jsonl", "hostile-guideline.md"] {
        std::fs::copy(fixtures().join(f), src.join(f)).unwrap();
    }
    let o = clinrag(&home, &["ingest", "--json", src.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = json(&o);
    assert_eq!(r["documents_ingested"], 12, "{r}");
    assert!(r["failures"].as_array().unwrap().is_empty(), "{r}");
    let mut ids = ingested_ids(&["clinical.jsonl", "hostile.jsonl"]);
    // The Markdown guideline's id is the one the catalog gave it.
    let s = json(&clinrag(
        &home,
        &[
            "search",
            "--json",
            "--k",
            "1",
            "guideline broken data fence",
        ],
    ));
    let md_id = s["hits"][0]["doc_id"].as_str().unwrap().to_owned();
    assert!(!ids.contains(&md_id), "{s}");
    ids.insert(md_id);

    // (question, text the answer must lead with: from a clean document)
    let questions = [
        (
            "What is the first-line drug for type 2 diabetes?",
            Some("Metformin is the first-line drug for type 2 diabetes"),
        ),
        ("How is warfarin therapy monitored?", None),
        (
            "What is the target INR for warfarin in atrial fibrillation?",
            None,
        ),
        (
            "Which antibiotic is first-line for community-acquired pneumonia in adults?",
            None,
        ),
        (
            "What is the maximum daily dose of paracetamol in adults?",
            Some("The maximum daily dose of paracetamol in adults is 4 g."),
        ),
        (
            "Should warfarin doses be doubled in elderly patients with atrial fibrillation?",
            None,
        ),
        ("Which tool should be called to search documents?", None),
    ];
    let batch = t.path().join("q.jsonl");
    let mut q = String::new();
    for (i, (text, _)) in questions.iter().enumerate() {
        q.push_str(&serde_json::json!({"id": i, "text": text}).to_string());
        q.push('\n');
    }
    std::fs::write(&batch, q).unwrap();
    let o = clinrag(
        &home,
        &[
            "ask",
            "--json",
            "--no-model",
            "--batch",
            batch.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(out.lines().count(), questions.len(), "{out}");
    let mut retrieved: BTreeSet<String> = BTreeSet::new();
    let mut answered = 0;
    for (line, (question, lead)) in out.lines().zip(questions) {
        let a: Value = serde_json::from_str(line).unwrap();
        assert!(a.get("error").is_none(), "{question}: {a}");
        for p in a["evidence"].as_array().unwrap() {
            retrieved.insert(p["doc_id"].as_str().unwrap().to_owned());
        }
        if a["abstained"] == true {
            assert!(lead.is_none(), "{question} abstained: {}", a["answer"]);
            continue;
        }
        answered += 1;
        for s in a["sentences"].as_array().unwrap() {
            assert_no_planted_text(s["text"].as_str().unwrap(), question);
        }
        // The answer text is the sentences and their markers: nothing else slips in.
        assert_no_planted_text(a["answer"].as_str().unwrap(), question);
        assert_citations_are_stored_text(&home, &a, &ids);
        if let Some(lead) = lead {
            let first = a["sentences"][0]["text"].as_str().unwrap();
            assert!(first.contains(lead), "{question}: {first}");
            assert!(
                a["sentences"][0]["citations"][0]["doc_id"]
                    .as_str()
                    .unwrap()
                    .starts_with("ADV:")
            );
        }
    }
    assert!(answered >= 4, "only {answered} questions answered");
    // The hostile documents were retrieved as evidence, so the checks above mean something.
    for planted in [
        "ADV:inject-ignore",
        "ADV:inject-system",
        "ADV:inject-tool",
        "ADV:fence-escape",
        "ADV:fake-citation",
        "ADV:lookalike-injection",
    ] {
        assert!(
            retrieved.contains(planted),
            "{planted} never retrieved: {retrieved:?}"
        );
    }
}

/// `(codes, warnings, raw)` of `clinrag code atc --json TEXT`.
fn atc(home: &Path, text: &str) -> (Vec<String>, Vec<String>, Value) {
    let o = clinrag(home, &["code", "atc", "--json", text]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    let codes = v["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .collect();
    // `warnings` is left out when there are none.
    let warnings = v["warnings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    (codes, warnings, v)
}

/// Homoglyph drug names: look-alike letters of another script, fullwidth forms and invisible
/// characters are read as the Latin name they show, and the code comes with a warning and a
/// rationale saying so; evidence spans stay exact spans of the text as given. A word written
/// in another script (Russian) is not a look-alike and codes nothing.
#[test]
fn homoglyph_drug_names_are_read_as_shown_and_reported_never_silently() {
    let t = tempfile::tempdir().unwrap();
    let home = vocab_home(t.path());
    // (text, code, what the warning and rationale must say; None: plain text, no warning)
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "Started metformin 500 mg for type 2 diabetes.",
            "A10BA02",
            None,
        ),
        (
            "Started m\u{0435}tformin 500 mg.",
            "A10BA02",
            Some("look-alike"),
        ),
        ("Started metf\u{03BF}rmin.", "A10BA02", Some("look-alike")),
        (
            "On w\u{0430}rf\u{0430}rin for atrial fibrillation.",
            "B01AA03",
            Some("look-alike"),
        ),
        ("On W\u{0391}RFARIN.", "B01AA03", Some("look-alike")),
        ("On met\u{200D}formin.", "A10BA02", Some("invisible")),
        ("On war\u{200B}far\u{00AD}in.", "B01AA03", Some("invisible")),
        (
            "On \u{FF4D}\u{FF45}\u{FF54}\u{FF46}\u{FF4F}\u{FF52}\u{FF4D}\u{FF49}\u{FF4E}.",
            "A10BA02",
            Some("fullwidth"),
        ),
    ];
    for (text, code, how) in cases {
        let (codes, warnings, v) = atc(&home, text);
        assert_eq!(
            codes.first().map(String::as_str),
            Some(*code),
            "{text:?}: {v}"
        );
        let c = &v["codes"][0];
        let rationale = c["rationale"].as_str().unwrap();
        match how {
            None => {
                assert!(warnings.is_empty(), "{text:?}: {warnings:?}");
                assert!(!rationale.contains("read as"), "{rationale}");
            }
            Some(how) => {
                assert!(
                    warnings.iter().any(|w| w.contains(how)),
                    "{text:?}: {warnings:?}"
                );
                assert!(rationale.contains(how), "{text:?}: {rationale}");
                // Warnings name offsets, never the text.
                let e = &c["evidence"][0];
                let span = e["text"].as_str().unwrap();
                assert!(warnings.iter().all(|w| !w.contains(span)), "{warnings:?}");
            }
        }
        let chars: Vec<char> = text.chars().collect();
        for e in c["evidence"].as_array().unwrap() {
            let (s, end) = (
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(
                chars[s..end].iter().collect::<String>(),
                e["text"],
                "{text:?}"
            );
        }
    }
    // Russian "метформин" is another language, not a disguise: nothing is coded.
    let (codes, _, v) = atc(
        &home,
        "\u{041D}\u{0430}\u{0447}\u{0430}\u{0442} \u{043C}\u{0435}\u{0442}\u{0444}\u{043E}\u{0440}\u{043C}\u{0438}\u{043D}.",
    );
    assert!(codes.is_empty(), "{v}");

    // The linker: same reading, a note on the mention; plain text has none.
    let link = |text: &str| {
        let o = clinrag(&home, &["link", "--json", text]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        json(&o)["mentions"].as_array().unwrap().clone()
    };
    let has = |ms: &[Value], id: &str| {
        ms.iter()
            .find(|m| {
                m["concept_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["id"] == id)
            })
            .cloned()
    };
    let plain = link("Patient on metformin.");
    let m = has(&plain, "ATC:A10BA02").unwrap_or_else(|| panic!("{plain:?}"));
    assert!(m.get("note").is_none(), "{m}");
    for (text, how) in [
        ("Patient on m\u{0435}tformin.", "look-alike"),
        ("Patient on met\u{200D}formin.", "invisible"),
    ] {
        let ms = link(text);
        let m = has(&ms, "ATC:A10BA02").unwrap_or_else(|| panic!("{text:?}: {ms:?}"));
        assert!(m["note"].as_str().unwrap().contains(how), "{text:?}: {m}");
        // Offsets of the text as given: "Patient on " is 11 chars, the name ends before ".".
        let end = text.chars().count() as u64 - 1;
        assert_eq!(
            (m["start"].as_u64(), m["end"].as_u64()),
            (Some(11), Some(end))
        );
    }
}

/// Peak resident memory (kB) of a running child, polled from /proc until it exits.
fn run_measured(home: &Path, args: &[&str]) -> (std::process::ExitStatus, Duration, u64, String) {
    let t0 = Instant::now();
    let mut child = Command::new(bin())
        .env("CLINRAG_HOME", home)
        .env_remove("CLINRAG_DATABASE_URL")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    (status, t0.elapsed(), peak_kb, out)
}

/// The same sentence 200,000 times (~8.6 MB) and one 2 MB word without spaces: ingested without
/// failure into chunks of at most the chunk budget, a repeated copy deduplicated, and unrelated
/// questions still find their own documents first.
#[test]
fn huge_repeated_text_ingests_in_bounded_chunks_and_crowds_out_nothing() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        fixtures().join("clinical.jsonl"),
        src.join("clinical.jsonl"),
    )
    .unwrap();
    let sentence = "Aspirin is an analgesic used for tension headache. ";
    let repeated = sentence.repeat(200_000);
    let word: String = "acetylsalicylic".chars().cycle().take(2_000_000).collect();
    let mut big = String::new();
    for (id, title, text) in [
        ("HUGE:repeat", "The same sentence", repeated.as_str()),
        ("HUGE:word", "One long word", word.as_str()),
    ] {
        big.push_str(&serde_json::json!({"id": id, "title": title, "text": text}).to_string());
        big.push('\n');
    }
    let bytes = big.len();
    std::fs::write(src.join("big.jsonl"), &big).unwrap();
    // The same documents again under another file name: identical content, same ids.
    std::fs::write(src.join("big-copy.jsonl"), &big).unwrap();
    drop(big);

    let (status, took, peak_kb, out) =
        run_measured(&home, &["ingest", "--json", src.to_str().unwrap()]);
    assert!(status.success(), "{out}");
    let r: Value = serde_json::from_str(out.trim()).unwrap();
    eprintln!(
        "ingest of {:.1} MB (x2 files) + 4 documents: {:.1} s, peak RSS {} MB, {} chunks",
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        peak_kb / 1024,
        r["chunks"]
    );
    assert!(r["failures"].as_array().unwrap().is_empty(), "{r}");
    let s = json(&clinrag(&home, &["stats", "--json"]));
    assert_eq!(
        s["catalog"]["documents"], 6,
        "the copies are deduplicated: {s}"
    );
    assert_eq!(s["catalog"]["chunks"], s["keyword_index"]["chunks"], "{s}");
    // Memory: a bounded multiple of the input (165 MB measured here). Time: slicing each chunk
    // from the start of its document made this run quadratic (over 10 minutes, killed);
    // linear it takes about 6 s in a debug build on 2 shared cores.
    assert!(
        took < Duration::from_secs(120),
        "ingest took {:.0} s",
        took.as_secs_f64()
    );
    assert!(
        peak_kb < 1024 * 1024,
        "peak RSS {} MB for {bytes} bytes",
        peak_kb / 1024
    );

    for (id, len) in [
        ("HUGE:repeat", repeated.chars().count()),
        ("HUGE:word", 2_000_000),
    ] {
        let o = clinrag(&home, &["docs", "show", id, "--json"]);
        assert!(o.status.success());
        let v = json(&o);
        let chunks = v["chunks"].as_array().unwrap();
        let mut covered = 0;
        for c in chunks {
            let (a, b) = (c["start"].as_u64().unwrap(), c["end"].as_u64().unwrap());
            assert!(b > a && b - a <= 1000, "{id}: chunk {a}..{b}");
            covered += b - a;
        }
        assert!(
            covered as usize >= len - chunks.len() * 2,
            "{id}: chunks cover {covered} of {len} chars"
        );
    }

    // Unrelated questions find their own documents first; the repeated one answers its own.
    for (query, want) in [
        ("amoxicillin community-acquired pneumonia", "ADV:cap"),
        ("warfarin international normalized ratio", "ADV:warfarin"),
        ("metformin type 2 diabetes", "ADV:metformin"),
        ("tension headache analgesic", "HUGE:repeat"),
    ] {
        let v = json(&clinrag(&home, &["search", "--json", "--k", "5", query]));
        let hits = v["hits"].as_array().unwrap();
        assert_eq!(hits[0]["doc_id"], want, "{query}: {v}");
        assert!(hits.len() <= 5);
    }
    let o = clinrag(
        &home,
        &[
            "ask",
            "--json",
            "--no-model",
            "What is the first-line drug for type 2 diabetes?",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = json(&o);
    assert_eq!(a["abstained"], false, "{a}");
    assert_eq!(a["sentences"][0]["citations"][0]["doc_id"], "ADV:metformin");

    // Nothing changed: a second run ingests nothing.
    let r = json(&clinrag(
        &home,
        &["ingest", "--json", src.to_str().unwrap()],
    ));
    assert_eq!(r["documents_ingested"], 0, "{r}");
}
