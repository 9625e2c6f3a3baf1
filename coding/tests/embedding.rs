#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Embedding similarity as a candidate signal of the ICD-10-CM coder, with a deterministic
//! test embedder (hashed bag of words, with made-up aliases so that a lay phrase the lexical
//! scorer cannot read lands near a code title): the index builds, is cached in
//! `coding/icd10cm.vec`, is rebuilt when stale or damaged, adds candidates the lexical scorer
//! misses, never returns an invalid code, and respects negation and family history.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clinrag_coding::{CodingError, IcdCoder, TextEmbedder, VEC_SNAPSHOT_PATH, VectorSource};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const TABULAR: &str = "vocab/icd10cm/icd10c-tabular-April-1-2026.xml";

/// A home holding the small fixture tabular.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("vocab/icd10cm")).unwrap();
    std::fs::copy(fixture("tabular_small.xml"), home.path().join(TABULAR)).unwrap();
    home
}

/// Hashed bag of lower-cased words (256 dimensions), unit length. Made-up lay phrases read
/// as code texts: "wobbly ticker" as I48.91's title, "sugar sickness" as an inclusion term of
/// the category E11 (a non-leaf hit); neither shares a word with any title.
struct TestEmbedder {
    name: String,
    texts: AtomicUsize,
    fail: bool,
}

impl TestEmbedder {
    fn new(name: &str) -> Arc<Self> {
        Arc::new(TestEmbedder {
            name: name.into(),
            texts: AtomicUsize::new(0),
            fail: false,
        })
    }
}

const DIM: usize = 256;

fn bucket(word: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in word.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % DIM as u64) as usize
}

impl TextEmbedder for TestEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        if self.fail {
            return Err("model weights unreadable".into());
        }
        self.texts.fetch_add(texts.len(), Ordering::Relaxed);
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; DIM];
                let lower = t
                    .to_lowercase()
                    .replace("wobbly ticker", "unspecified atrial fibrillation")
                    .replace(
                        "sugar sickness",
                        "diabetes mellitus due to insulin secretory defect",
                    );
                for w in lower
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty() && !["of", "the", "and", "with", "a"].contains(w))
                {
                    v[bucket(w)] += 1.0;
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if n > 0.0 {
                    v.iter_mut().for_each(|x| *x /= n);
                }
                v
            })
            .collect())
    }
}

fn coder_with(home: &Path, e: Arc<TestEmbedder>) -> (IcdCoder, VectorSource) {
    let mut c = IcdCoder::load(home).unwrap();
    let s = c.attach_embedder(home, e).unwrap();
    (c, s)
}

fn first(c: &IcdCoder, text: &str) -> Option<String> {
    c.code(text).codes.first().map(|r| r.code.clone())
}

#[test]
fn index_builds_caches_and_rebuilds_when_stale_or_damaged() {
    let home = home();
    let e = TestEmbedder::new("test-bow");
    let (built, s1) = coder_with(home.path(), Arc::clone(&e));
    assert_eq!(s1, VectorSource::BuiltAndSaved);
    assert!(built.embedding_rows() >= 25, "{}", built.embedding_rows());
    let embedded = e.texts.load(Ordering::Relaxed);
    assert_eq!(embedded, built.embedding_rows());
    let file = home.path().join(VEC_SNAPSHOT_PATH);
    assert!(file.exists());

    // Read back: nothing re-embedded but the clauses, same answers.
    let e2 = TestEmbedder::new("test-bow");
    let (cached, s2) = coder_with(home.path(), Arc::clone(&e2));
    assert_eq!(s2, VectorSource::Snapshot);
    assert_eq!(e2.texts.load(Ordering::Relaxed), 0);
    for p in [
        "wobbly ticker",
        "T2DM with CKD stage 3",
        "sprained left ankle",
    ] {
        assert_eq!(built.code(p), cached.code(p), "{p}");
    }

    // Damaged bytes: rebuilt, and a temporary file a killed writer left is removed.
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    let orphan = home.path().join("coding/icd10cm.vec.tmp4194305");
    std::fs::write(&orphan, b"left by a killed writer").unwrap();
    let (_, s3) = coder_with(home.path(), TestEmbedder::new("test-bow"));
    assert_eq!(s3, VectorSource::BuiltAndSaved);
    assert!(!orphan.exists(), "stale temporary not removed");

    // Another embedder (name) or another tabular: rebuilt.
    let (_, s4) = coder_with(home.path(), TestEmbedder::new("other-model"));
    assert_eq!(s4, VectorSource::BuiltAndSaved);
    let (_, s5) = coder_with(home.path(), TestEmbedder::new("other-model"));
    assert_eq!(s5, VectorSource::Snapshot);
    let tab = home.path().join(TABULAR);
    let mut xml = std::fs::read_to_string(&tab).unwrap();
    xml.push_str("\n<!-- edited -->\n");
    std::fs::write(&tab, xml).unwrap();
    let (_, s6) = coder_with(home.path(), TestEmbedder::new("other-model"));
    assert_eq!(s6, VectorSource::BuiltAndSaved);

    // A home where it cannot be written: built, used, and the reason said.
    std::fs::remove_dir_all(home.path().join("coding")).unwrap();
    std::fs::write(home.path().join("coding"), b"not a folder").unwrap();
    let mut c = IcdCoder::load(home.path()).unwrap();
    let s7 = c
        .attach_embedder(home.path(), TestEmbedder::new("test-bow"))
        .unwrap();
    assert!(matches!(s7, VectorSource::BuiltNotSaved(_)), "{s7:?}");
    assert_eq!(first(&c, "wobbly ticker").as_deref(), Some("I48.91"));
}

#[test]
fn a_failing_embedder_is_an_error_and_the_lexical_coder_still_works() {
    let home = home();
    let mut c = IcdCoder::load(home.path()).unwrap();
    let bad = Arc::new(TestEmbedder {
        name: "broken".into(),
        texts: AtomicUsize::new(0),
        fail: true,
    });
    let err = c.attach_embedder(home.path(), bad).unwrap_err();
    assert!(matches!(err, CodingError::Embedding { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("icd10cm.vec") && msg.contains("unreadable"),
        "{msg}"
    );
    assert_eq!(c.embedding_rows(), 0);
    assert_eq!(first(&c, "afib").as_deref(), Some("I48.91"));
    assert!(c.code("wobbly ticker").codes.is_empty());
}

#[test]
fn similarity_adds_a_candidate_the_lexical_scorer_misses() {
    let home = home();
    let plain = IcdCoder::load(home.path()).unwrap();
    assert!(plain.code("wobbly ticker").codes.is_empty());
    let (c, _) = coder_with(home.path(), TestEmbedder::new("test-bow"));
    let out = c.code("Pt has wobbly ticker.");
    let r = &out.codes[0];
    assert_eq!(r.code, "I48.91", "{out:?}");
    assert!(r.primary);
    assert!(
        r.rationale.contains("embedding similarity"),
        "{}",
        r.rationale
    );
    // The evidence is the clause, in char offsets of the input.
    let e = &r.evidence[0];
    let chars: Vec<char> = "Pt has wobbly ticker.".chars().collect();
    assert_eq!(chars[e.start..e.end].iter().collect::<String>(), e.text);
    assert!(e.text.contains("wobbly ticker"), "{e:?}");
    // A non-leaf hit proposes a billable leaf below it (the walk's default).
    let dm = c.code("sugar sickness");
    assert_eq!(dm.codes[0].code, "E11.9", "{dm:?}");
    assert!(
        dm.codes[0].rationale.contains("insulin secretory"),
        "{dm:?}"
    );
    // Lexical matches keep winning where they are exact.
    assert_eq!(
        first(&c, "paroxysmal atrial fibrillation").as_deref(),
        Some("I48.0")
    );
    assert_eq!(first(&c, "NSTEMI").as_deref(), Some("I21.4"));
    // Switched off (ablation): as without an embedder.
    let mut off = coder_with(home.path(), TestEmbedder::new("test-bow")).0;
    off.options.embedding = false;
    assert!(off.code("wobbly ticker").codes.is_empty());
}

#[test]
fn negated_family_and_uncodable_text_get_nothing() {
    let home = home();
    let (c, _) = coder_with(home.path(), TestEmbedder::new("test-bow"));
    for text in [
        "no wobbly ticker",
        "denies wobbly ticker",
        "Mother has wobbly ticker.",
        "family history of wobbly ticker",
        "The weather is nice today.",
        "",
    ] {
        let out = c.code(text);
        assert!(out.codes.is_empty(), "{text:?}: {:?}", out.codes);
    }
    // A note: the affirmed problem coded, the negated one not.
    let out = c.code("Wobbly ticker. Denies sugar sickness.");
    let codes: Vec<&str> = out
        .codes
        .iter()
        .filter(|r| r.primary)
        .map(|r| r.code.as_str())
        .collect();
    assert_eq!(codes, vec!["I48.91"]);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "wobbly", "ticker", "sugar", "sickness", "no", "denies", "mother", "type", "2", "left",
        "ankle", "sprain", "afib", "CKD", "stage", "3", ",", ".", "and", "with", "é", "患者", "\n",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn codes_are_billable_leaves_and_spans_point_into_the_input(
            picks in proptest::collection::vec(0..WORDS.len(), 0..30),
            junk in "\\PC{0,12}",
        ) {
            let home = home();
            let (c, _) = coder_with(home.path(), TestEmbedder::new("test-bow"));
            let mut text: String = picks.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" ");
            text.push_str(&junk);
            let chars: Vec<char> = text.chars().collect();
            for r in c.code(&text).codes {
                prop_assert!(c.lookup(&r.code).is_some_and(|(_, b)| b), "{} not billable", r.code);
                prop_assert!((0.0..=1.0).contains(&r.score));
                for e in &r.evidence {
                    prop_assert!(e.start < e.end && e.end <= chars.len());
                    prop_assert_eq!(chars[e.start..e.end].iter().collect::<String>(), e.text.clone());
                }
            }
        }
    }
}
