#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Coder behaviour on tiny fixtures (a cut-down tabular and a few ATC rows), and the
//! development-set evaluation on the full data when `CLINRAG_TEST_DATA` names a clinrag home.

use std::path::{Path, PathBuf};

use clinrag_coding::{Adjudicator, AtcCoder, Candidate, FixedChoice, IcdCoder, eval};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn icd() -> IcdCoder {
    let tab = clinrag_kg::load_icd10cm(&fixture("tabular_small.xml"), None).unwrap();
    IcdCoder::new(&tab)
}

fn atc() -> AtcCoder {
    let atc = clinrag_kg::load_atc(&fixture("atc_small.csv")).unwrap();
    AtcCoder::new(&atc, None)
}

fn codes(c: &clinrag_coding::Coding) -> Vec<String> {
    c.codes.iter().map(|c| c.code.clone()).collect()
}

fn primaries(c: &clinrag_coding::Coding) -> Vec<String> {
    c.codes
        .iter()
        .filter(|c| c.primary)
        .map(|c| c.code.clone())
        .collect()
}

#[test]
fn icd_phrases_to_billable_leaves() {
    let coder = icd();
    let cases: &[(&str, &str)] = &[
        ("heart attack", "I21.9"),
        ("NSTEMI", "I21.4"),
        ("afib", "I48.91"),
        ("paroxysmal atrial fibrillation", "I48.0"),
        ("HTN", "I10"),
        ("high blood pressure", "I10"),
        ("T2DM", "E11.9"),
        ("type 2 diabetes with hyperglycemia", "E11.65"),
        ("type 1 diabetes", "E10.9"),
        ("CKD stage 3", "N18.30"),
        ("sprained right ankle", "S93.401A"),
        ("fibrillation, atrial", "I48.91"),
    ];
    for (text, want) in cases {
        let c = coder.code(text);
        assert_eq!(
            c.codes.first().map(|c| c.code.as_str()),
            Some(*want),
            "{text}: {:?}",
            codes(&c)
        );
        for r in &c.codes {
            let (_, billable) = coder.lookup(&r.code).unwrap();
            assert!(billable, "{} is not billable", r.code);
        }
    }
}

#[test]
fn combination_codes_and_notes() {
    let coder = icd();
    let c = coder.code("T2DM with CKD");
    let p = primaries(&c);
    assert!(p.contains(&"E11.22".to_string()), "{p:?}");
    assert!(p.contains(&"N18.9".to_string()), "{p:?}");
    let e = c.codes.iter().find(|c| c.code == "E11.22").unwrap();
    assert!(
        e.notes
            .iter()
            .any(|n| n.contains("stage of chronic kidney disease")),
        "{:?}",
        e.notes
    );
    let c = coder.code("HTN and CKD stage 3");
    assert_eq!(primaries(&c), vec!["I12.9", "N18.30"]);
}

#[test]
fn multi_problem_note_with_evidence_spans_and_context() {
    let coder = icd();
    let text = "68 yo M with T2DM, HTN, and afib. Denies heart attack. Family history of NSTEMI.";
    let c = coder.code(text);
    let p = primaries(&c);
    assert_eq!(p, vec!["E11.9", "I10", "I48.91"], "{:?}", c);
    let chars: Vec<char> = text.chars().collect();
    for r in c.codes.iter().filter(|r| r.primary) {
        assert!(!r.evidence.is_empty(), "{}", r.code);
        for e in &r.evidence {
            assert_eq!(chars[e.start..e.end].iter().collect::<String>(), e.text);
        }
        assert!(!r.rationale.is_empty());
    }
    assert_eq!(
        c.codes
            .iter()
            .find(|r| r.code == "I48.91")
            .unwrap()
            .evidence[0]
            .text,
        "afib"
    );
    assert!(!p.contains(&"I21.9".to_string()) && !p.contains(&"I21.4".to_string()));
}

#[test]
fn bad_input_gives_clear_answers() {
    let coder = icd();
    let empty = coder.code("   ");
    assert!(empty.codes.is_empty());
    assert!(empty.warnings.iter().any(|w| w.contains("empty")));
    for text in [
        "The weather is nice today.",
        "Der Patient hat seit drei Tagen Kopfschmerzen.",
        "患者头痛三天",
        "Denies heart attack.",
    ] {
        let c = coder.code(text);
        assert!(c.codes.is_empty(), "{text}: {:?}", codes(&c));
        assert!(
            c.warnings.iter().any(|w| w.contains("no codable content")),
            "{text}"
        );
    }
    // Hints that do not exist are reported, never returned.
    let c = coder.code_with("afib", &["X99.999".to_string(), "I48".to_string()], None);
    assert!(c.warnings.iter().any(|w| w.contains("X99.999")));
    assert!(c.codes.iter().all(|r| r.code != "X99.999"));
    assert_eq!(c.codes[0].code, "I48.91");
    // A 1 MB note: codes found, finishes, spans valid.
    let mut big = String::new();
    while big.len() < 1_000_000 {
        big.push_str("Follow-up visit. Patient reports feeling tired. HTN controlled on meds. ");
    }
    let t = std::time::Instant::now();
    let c = coder.code(&big);
    assert!(t.elapsed().as_secs() < 30);
    assert_eq!(primaries(&c), vec!["I10"]);
    let n = big.chars().count();
    assert!(c.codes[0].evidence.iter().all(|e| e.end <= n));
}

struct Recorder(std::sync::Mutex<Vec<Vec<String>>>, usize);

impl Adjudicator for Recorder {
    fn choose(&self, _context: &str, options: &[Candidate]) -> Option<usize> {
        self.0
            .lock()
            .unwrap()
            .push(options.iter().map(|o| o.code.clone()).collect());
        Some(self.1)
    }
}

#[test]
fn adjudicator_only_picks_listed_codes() {
    let coder = icd();
    // "atrial fibrillation and flutter": I48.91 and I48.92 are equally supported.
    for pick in [0usize, 1, 7] {
        let rec = Recorder(std::sync::Mutex::new(Vec::new()), pick);
        let c = coder.code_with("atrial fibrillation flutter", &[], Some(&rec));
        let asked = rec.0.lock().unwrap().clone();
        assert!(!asked.is_empty(), "the adjudicator was not consulted");
        let first = &c.codes[0];
        assert!(
            coder.lookup(&first.code).unwrap().1,
            "{} not billable",
            first.code
        );
    }
    // A fixed choice between two close leaves changes the answer to the listed one.
    let det = coder.code("atrial fibrillation flutter");
    let adj0 = coder.code_with("atrial fibrillation flutter", &[], Some(&FixedChoice(0)));
    let adj1 = coder.code_with("atrial fibrillation flutter", &[], Some(&FixedChoice(1)));
    assert_eq!(det.codes[0].code, adj0.codes[0].code);
    assert_ne!(adj0.codes[0].code, adj1.codes[0].code);
    for c in [&adj0, &adj1] {
        assert!(
            ["I48.91", "I48.92", "I48.0"].contains(&c.codes[0].code.as_str()),
            "{:?}",
            codes(c)
        );
    }
    // Out-of-range answers are ignored.
    let adj9 = coder.code_with("atrial fibrillation flutter", &[], Some(&FixedChoice(99)));
    assert_eq!(adj9.codes[0].code, det.codes[0].code);
}

#[test]
fn atc_generic_us_names_misspellings_and_indication() {
    let coder = atc();
    let c = coder.code("metformin 500 mg BID");
    assert_eq!(codes(&c), vec!["A10BA02"]);
    assert_eq!(c.codes[0].evidence[0].text, "metformin");
    assert_eq!(coder.code("acetaminophen").codes[0].code, "N02BE01");
    assert_eq!(coder.code("metformn").codes[0].code, "A10BA02");
    assert_eq!(coder.code("lisinipril 10 mg").codes[0].code, "C09AA03");
    let cad = coder.code("aspirin 81 mg daily for CAD, s/p stent");
    assert_eq!(codes(&cad)[..3], ["B01AC06", "N02BA01", "A01AD05"]);
    let pain = coder.code("aspirin 650 mg prn for headache");
    assert_eq!(codes(&pain)[0], "N02BA01");
    assert!(codes(&pain).contains(&"B01AC06".to_string()));
    let none = coder.code("no medications, feels well");
    assert!(none.codes.is_empty());
    assert!(coder.code("").warnings.iter().any(|w| w.contains("empty")));
    let neg = coder.code("Allergic to aspirin. Takes lisinopril.");
    assert_eq!(codes(&neg), vec!["C09AA03"]);
}

fn data_home() -> Option<PathBuf> {
    match std::env::var("CLINRAG_TEST_DATA") {
        Ok(p) if Path::new(&p).join("vocab").exists() => Some(PathBuf::from(p)),
        _ => {
            eprintln!(
                "skipping: set CLINRAG_TEST_DATA=/tmp/clinrag-home to run the development-set evaluation"
            );
            None
        }
    }
}

#[test]
fn dev_set_icd10cm_full_data() {
    let Some(home) = data_home() else { return };
    let coder = IcdCoder::load(&home).unwrap();
    let cases = eval::read_cases(&fixture("dev_icd10cm.jsonl")).unwrap();
    assert!(cases.len() >= 150);
    for c in &cases {
        for g in &c.gold {
            assert!(
                coder.lookup(g).is_some_and(|(_, b)| b),
                "gold {g} is not a billable code"
            );
        }
    }
    // Round 5: history of a condition that has its own personal-history code (full tabular
    // word weights; the fixture test covers colon polyps and the guards). Round 6: words the
    // tabular knows but no code explains with the condition, and acuity defaults.
    for (text, want) in [
        ("h/o DVT", "Z86.718"),
        ("hx of DVT", "Z86.718"),
        ("h/o HTN", "I10"),
        ("passed out at church", "R55"),
        ("hives after eating shrimp", "L50.9"),
        ("migraine w/o aura", "G43.009"),
        ("sepsis due to E. coli", "A41.51"),
        // Defaults the text leaves unsaid: accidental intent, displaced fracture, and the side
        // named for a 7th-character leaf.
        ("bee sting", "T63.441A"),
        // A combination code over fragments merged in two passes.
        ("neuropathy, diabetic, type 2", "E11.40"),
        ("closed fracture of left fifth metatarsal", "S92.352A"),
        // Round 9: a long clause read in windows.
        (
            "Follow-up of hypothyroidism after total thyroidectomy for papillary thyroid cancer three years ago.",
            "E89.0",
        ),
        // How long, not a past condition.
        ("2 mo hx of fatigue and cold intolerance", "R53.83"),
        // A chapter-15 condition: no "pregnant state, incidental".
        ("Pregnancy, 10 weeks, hyperemesis", "O21.0"),
    ] {
        assert_eq!(
            coder.code(text).codes.first().map(|c| c.code.as_str()),
            Some(want),
            "{text}"
        );
    }
    // A lone word that matches only half of a term is no diagnosis ("Back pain NOS", "Dog
    // tapeworm").
    for text in ["walked to the store and back", "walks the dog daily"] {
        let c = coder.code(text);
        assert!(c.codes.is_empty(), "{text}: {:?}", codes(&c));
    }
    let r = eval::evaluate(&cases, |t| coder.code(t));
    eprintln!("dev {}", serde_json::to_string_pretty(&r.overall).unwrap());
    assert!(
        r.overall.top1 >= 0.90,
        "ICD-10-CM dev top-1 {:.3} below 0.90",
        r.overall.top1
    );
    assert!(
        r.overall.top5 >= 0.95,
        "ICD-10-CM dev top-5 {:.3} below 0.95",
        r.overall.top5
    );
    // The earlier held-out sets, looser floors. All of them have been seen by now: their misses
    // were read while fixing the scorer, and the round-6 lexicon files cover some of their
    // phrases, so these floors are regression guards, not estimates.
    for (file, floor) in [
        // Round 3 development cases (error classes: subsequent MI, ancestor inclusion terms,
        // "without ... of <site>", postprocedural, abbreviations): tuned on.
        ("dev2_icd10cm.jsonl", 0.90),
        ("test_icd10cm.jsonl", 0.80),
        ("test2_icd10cm.jsonl", 0.70),
        ("test3_icd10cm.jsonl", 0.70),
        // Round 4 (embedding similarity): written before the change, run once before and once
        // after it; the floor sits under the "after" figure as a regression guard.
        ("test4_icd10cm.jsonl", 0.65),
        // Round 5 (negation lists, personal history, "unspecified as", one loader): written
        // before the change, run once before it and once after it.
        ("test5_icd10cm.jsonl", 0.75),
        // Round 6 development sets for the lay-term and abbreviation lexicons (tuned on).
        ("dev_lay_icd10cm.jsonl", 0.95),
        ("dev_abbrev_icd10cm.jsonl", 0.95),
        // Round 6: written by a separate person before the change (0.631 before, 0.762 after,
        // held out); its misses were then read and fixed in part (0.854), so now seen.
        ("test6_icd10cm.jsonl", 0.80),
        // Written after round 6 by a separate person and run once on the final round-6 coder
        // (0.792) before its misses were read.
        ("test7_icd10cm.jsonl", 0.75),
        // Written after round 6 by a separate person (150 cases), run before round 7 (0.733)
        // and once after it (0.760) before its misses were read; then seen (0.820).
        ("test8_icd10cm.jsonl", 0.78),
        // Round 7: 120 lines with nothing to code (normal examination, social history, plans,
        // negated findings, vitals, body parts), written by a separate person; any code is a
        // false positive (0.883 when written, 0.950 after the context-only rule).
        ("nocode_icd10cm.jsonl", 0.9),
        // Written during round 7 by a separate person (150 cases), run once at 14bf815 (0.713)
        // and once on the final round-7 coder (0.713) before its misses were read; now seen.
        ("test9_icd10cm.jsonl", 0.68),
        // Written before round 8 by a separate person (150 cases) and run on the round-7 coder
        // (0.580); then read and tuned on during round 8 (0.840), so seen.
        ("test10_icd10cm.jsonl", 0.80),
        // Written with test10 by another separate person (142 cases after near-repeats of
        // test10 were removed); run once on the round-7 coder (0.655) and once on the final
        // round-8 coder (0.732) before its misses were read; now seen.
        ("test11_icd10cm.jsonl", 0.70),
        // Written before round 9 by a separate person (150 cases) and run on the round-8
        // coder (0.640); then read and tuned on during round 9 (0.800), so seen.
        ("test12_icd10cm.jsonl", 0.76),
        // Written with test12 by another separate person (150 cases); run once on the
        // round-8 coder (0.580) and once on the round-9 coder (0.600) before its misses were
        // read; then tuned on (0.647), so seen.
        ("test13_icd10cm.jsonl", 0.62),
        ("dev_lay2_icd10cm.jsonl", 0.93),
        ("dev_abbrev2_icd10cm.jsonl", 0.95),
    ] {
        let held = eval::read_cases(&fixture(file)).unwrap();
        for c in &held {
            for g in &c.gold {
                assert!(
                    coder.lookup(g).is_some_and(|(_, b)| b),
                    "{file}: gold {g} is not a billable code"
                );
            }
        }
        let r = eval::evaluate(&held, |t| coder.code(t));
        eprintln!(
            "{file} {}",
            serde_json::to_string_pretty(&r.overall).unwrap()
        );
        assert!(
            r.overall.top1 >= floor,
            "ICD-10-CM {file} top-1 {:.3} below {floor}",
            r.overall.top1
        );
    }
}

#[test]
fn dev_set_atc_full_data() {
    let Some(home) = data_home() else { return };
    let coder = AtcCoder::load(&home).unwrap();
    let cases = eval::read_cases(&fixture("dev_atc.jsonl")).unwrap();
    for c in &cases {
        for g in &c.gold {
            assert!(coder.is_code(g), "gold {g} is not an ATC level-5 code");
        }
    }
    let r = eval::evaluate(&cases, |t| coder.code(t));
    eprintln!("{}", serde_json::to_string_pretty(&r.by_kind).unwrap());
    assert!(
        r.by_kind["generic"].top1 >= 0.95,
        "ATC generic top-1 {:.3}",
        r.by_kind["generic"].top1
    );
    assert!(
        r.by_kind["brand"].top1 >= 0.90,
        "ATC brand top-1 {:.3}",
        r.by_kind["brand"].top1
    );
    let held = eval::read_cases(&fixture("test_atc.jsonl")).unwrap();
    let r = eval::evaluate(&held, |t| coder.code(t));
    eprintln!(
        "held-out {}",
        serde_json::to_string_pretty(&r.by_kind).unwrap()
    );
    assert!(
        r.overall.top1 >= 0.85,
        "ATC held-out top-1 {:.3}",
        r.overall.top1
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "T2DM",
        "HTN",
        "afib",
        "CKD",
        "stage",
        "3",
        "denies",
        "no",
        "mother",
        "heart",
        "attack",
        "left",
        "right",
        "ankle",
        "sprain",
        "type",
        "1",
        "2",
        "with",
        "and",
        ",",
        ".",
        ";",
        "é",
        "患者",
        "aspirin",
        "metformn",
        "pain",
        "fever",
        "paroxysmal",
        "NSTEMI",
        "hyperglycemia",
        "family",
        "history",
        "of",
        "\n",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn codes_are_real_and_spans_point_into_the_input(picks in proptest::collection::vec(0..WORDS.len(), 0..40), junk in "\\PC{0,20}") {
            let coder = icd();
            let atc = atc();
            let mut text: String = picks.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" ");
            text.push_str(&junk);
            let chars: Vec<char> = text.chars().collect();
            for c in [coder.code(&text), atc.code(&text)] {
                for r in &c.codes {
                    match r.system.as_str() {
                        "ICD-10-CM" => prop_assert!(coder.lookup(&r.code).is_some_and(|(_, b)| b), "{} not billable", r.code),
                        _ => prop_assert!(atc.is_code(&r.code), "{} not ATC", r.code),
                    }
                    prop_assert!((0.0..=1.0).contains(&r.score));
                    for e in &r.evidence {
                        prop_assert!(e.start < e.end && e.end <= chars.len());
                        prop_assert_eq!(chars[e.start..e.end].iter().collect::<String>(), e.text.clone());
                    }
                }
            }
        }
    }
}

/// A home folder holding the fixture tabular where `IcdCoder::load` looks for it.
fn fixture_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("vocab/icd10cm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        fixture("tabular_small.xml"),
        home.path().join(clinrag_coding_tabular_path()),
    )
    .unwrap();
    home
}

fn clinrag_coding_tabular_path() -> &'static str {
    "vocab/icd10cm/icd10c-tabular-April-1-2026.xml"
}

#[test]
fn snapshot_is_written_reused_and_rebuilt_when_stale() {
    use clinrag_coding::IndexSource;
    let home = fixture_home();
    let phrases = [
        "afib",
        "T2DM with CKD stage 3",
        "HTN and CKD",
        "sprained left ankle",
    ];
    let (built, s1) = IcdCoder::load_cached(home.path()).unwrap();
    assert_eq!(s1, IndexSource::BuiltAndSaved);
    let snap = home.path().join(clinrag_coding::ICD_SNAPSHOT_PATH);
    assert!(snap.exists());
    let (cached, s2) = IcdCoder::load_cached(home.path()).unwrap();
    assert_eq!(s2, IndexSource::Snapshot);
    for p in phrases {
        assert_eq!(built.code(p), cached.code(p), "{p}");
    }
    assert_eq!(built.code(phrases[0]).codes[0].code, "I48.91");
    // A damaged snapshot is not used: rebuilt and rewritten.
    let mut bytes = std::fs::read(&snap).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(&snap, &bytes).unwrap();
    let (_, s3) = IcdCoder::load_cached(home.path()).unwrap();
    assert_eq!(s3, IndexSource::BuiltAndSaved);
    // A changed tabular invalidates it.
    let tab = home.path().join(clinrag_coding_tabular_path());
    let xml = std::fs::read_to_string(&tab).unwrap();
    let mut changed = xml;
    changed.push_str("\n<!-- edited -->\n");
    std::fs::write(&tab, changed).unwrap();
    let (_, s4) = IcdCoder::load_cached(home.path()).unwrap();
    assert_eq!(s4, IndexSource::BuiltAndSaved);
    let (_, s5) = IcdCoder::load_cached(home.path()).unwrap();
    assert_eq!(s5, IndexSource::Snapshot);
    // A home where the snapshot cannot be written still codes (and says why).
    std::fs::remove_dir_all(home.path().join("coding")).unwrap();
    std::fs::write(home.path().join("coding"), b"not a folder").unwrap();
    let (c, s6) = IcdCoder::load_cached(home.path()).unwrap();
    assert!(matches!(s6, IndexSource::BuiltNotSaved(_)), "{s6:?}");
    assert_eq!(c.code("afib").codes[0].code, "I48.91");
}

#[test]
fn missing_tabular_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let err = IcdCoder::load(home.path()).err().unwrap().to_string();
    assert!(err.contains("icd10c-tabular"), "{err}");
}

#[test]
fn hpo_lay_terms_are_an_alternative_reading() {
    // A made-up lay synonym, so that neither the hand lexicon nor the titles know it.
    let obo = "format-version: 1.2\n\n[Term]\nid: HP:0000001\nname: All\n\n[Term]\n\
id: HP:0005110\nname: Atrial fibrillation\nsynonym: \"wobbly ticker\" EXACT layperson []\n\
is_a: HP:0000001\n";
    let tab = clinrag_kg::load_icd10cm(&fixture("tabular_small.xml"), None).unwrap();
    let plain = IcdCoder::new(&tab);
    let lay = IcdCoder::with_hpo(&tab, obo);
    assert_eq!(lay.lay_term_count(), 1);
    assert!(plain.code("wobbly ticker").codes.is_empty());
    let c = lay.code("wobbly ticker since Monday");
    assert_eq!(c.codes[0].code, "I48.91");
    assert!(c.codes[0].rationale.contains("HPO lay terms"));
    // Evidence points at the lay phrase in the input.
    let e = &c.codes[0].evidence[0];
    assert_eq!(e.text, "wobbly ticker");
    // Negated lay phrases are still not coded.
    assert!(lay.code("no wobbly ticker").codes.is_empty());
    // Switched off, the coder reads the text as written.
    let mut off = IcdCoder::with_hpo(&tab, obo);
    off.options.lay_terms = false;
    assert!(off.code("wobbly ticker").codes.is_empty());
}

/// Verbatim categories of the CDC tabular (I21-I23, M54, M06, E03, E89.0, S61.2): the error
/// classes fixed in round 3, each with its counter-case so that the rule cannot just flip.
fn icd_round3() -> IcdCoder {
    let tab = clinrag_kg::load_icd10cm(&fixture("tabular_round3.xml"), None).unwrap();
    IcdCoder::new(&tab)
}

fn top(coder: &IcdCoder, text: &str) -> Option<String> {
    coder.code(text).codes.first().map(|c| c.code.clone())
}

#[test]
fn subsequent_mi_needs_the_word_subsequent() {
    let coder = icd_round3();
    // I22's inclusion terms ("recurrent myocardial infarction", "subsequent type 1 ...") stand
    // for the category; its leaves still need "subsequent", which I21 and I23 do not say.
    for (text, want) in [
        ("acute inferior wall myocardial infarction", "I21.19"),
        ("acute anterior wall MI", "I21.09"),
        ("subsequent STEMI of inferior wall", "I22.1"),
        ("subsequent non-ST elevation MI", "I22.2"),
        ("recurrent myocardial infarction", "I22.9"),
        ("NSTEMI", "I21.4"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn words_of_an_ancestor_inclusion_term_do_not_cover_a_sibling_leaf() {
    let coder = icd_round3();
    // "Lumbar neuritis or radiculitis NOS" (M54.1) must not make "Radiculopathy, site
    // unspecified" cover "lumbar": the word tells M54.1's leaves apart.
    assert_eq!(
        top(&coder, "lumbar radiculopathy").as_deref(),
        Some("M54.16")
    );
    assert_eq!(top(&coder, "radiculopathy").as_deref(), Some("M54.10"));
    assert_eq!(
        top(&coder, "cervical radiculopathy").as_deref(),
        Some("M54.12")
    );
}

#[test]
fn without_scope_ends_at_the_site_and_without_is_no_default_on_its_own() {
    let coder = icd_round3();
    // "Laceration without foreign body of left index finger ...": the finger is said, not denied.
    assert_eq!(
        top(&coder, "laceration of left index finger").as_deref(),
        Some("S61.211A")
    );
    assert_eq!(
        top(
            &coder,
            "laceration of right middle finger with foreign body"
        )
        .as_deref(),
        Some("S61.222A")
    );
    // "Rheumatoid arthritis without rheumatoid factor" is not what plain RA means (its "with
    // rheumatoid factor" is another category): the unspecified code.
    assert_eq!(
        top(&coder, "rheumatoid arthritis").as_deref(),
        Some("M06.9")
    );
    assert_eq!(
        top(&coder, "seronegative rheumatoid arthritis of right knee").as_deref(),
        Some("M06.061")
    );
}

#[test]
fn after_a_procedure_is_postprocedural() {
    let coder = icd_round3();
    assert_eq!(
        top(&coder, "hypothyroidism after thyroidectomy").as_deref(),
        Some("E89.0")
    );
    assert_eq!(top(&coder, "hypothyroidism").as_deref(), Some("E03.9"));
}

#[test]
fn left_or_right_implies_the_side_of_the_title() {
    let coder = icd_round3();
    for (text, want) in [
        ("left sciatica", "M54.32"),
        ("left sided sciatica", "M54.32"),
        ("sciatica, right side", "M54.31"),
        ("sciatica", "M54.30"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

/// Verbatim subcategories of the CDC FY2026 tabular (C50.9, H91.9, L89.15, N18, Z85.3) for the
/// round-4 rules.
fn icd_round4() -> IcdCoder {
    let tab = clinrag_kg::load_icd10cm(&fixture("tabular_round4.xml"), None).unwrap();
    IcdCoder::new(&tab)
}

#[test]
fn a_number_the_title_says_beats_the_unspecified_sibling() {
    let coder = icd_round4();
    for (text, want) in [
        ("pressure ulcer of sacral region, stage 2", "L89.152"),
        ("stage 4 pressure ulcer of sacral region", "L89.154"),
        ("pressure ulcer of sacral region", "L89.159"),
        ("CKD stage 3", "N18.30"),
        ("CKD stage 3b", "N18.32"),
        ("chronic kidney disease, stage 4", "N18.4"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn both_ears_is_bilateral() {
    let coder = icd_round4();
    for (text, want) in [
        ("hearing loss in both ears", "H91.93"),
        ("hearing loss, left ear", "H91.92"),
        ("hearing loss", "H91.90"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn a_cancer_said_to_be_history_is_personal_history() {
    let coder = icd_round4();
    for (text, want) in [
        ("hx of breast cancer", "Z85.3"),
        ("h/o breast cancer", "Z85.3"),
        ("history of breast carcinoma", "Z85.3"),
        ("breast cancer", "C50.919"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
    // A relative's history is still not coded.
    assert!(
        coder
            .code("family history of breast cancer")
            .codes
            .is_empty()
    );
    let c = coder.code("hx of breast cancer");
    assert_eq!(c.codes[0].evidence[0].text, "hx of breast cancer");
}

/// Verbatim categories of the CDC FY2026 tabular (I10, I82.40, K26, Z86.01, Z86.7) for the
/// round-5 rules.
fn icd_round5() -> IcdCoder {
    let tab = clinrag_kg::load_icd10cm(&fixture("tabular_round5.xml"), None).unwrap();
    IcdCoder::new(&tab)
}

#[test]
fn a_negative_list_is_negated_as_a_whole() {
    let coder = icd_round5();
    for text in [
        "Negative for hypertension, duodenal ulcer, or DVT.",
        "ROS neg for hypertension and duodenal ulcer",
        "Ruled out DVT.",
        "r/o duodenal ulcer",
        "DVT (-)",
        "DVT ruled out",
    ] {
        let c = coder.code(text);
        assert!(c.codes.is_empty(), "{text}: {:?}", codes(&c));
    }
    // Only the negated clause: "(-)" ends with its clause, a terminator ends a list.
    assert_eq!(primaries(&coder.code("DVT (-), duodenal ulcer")), ["K26.9"]);
    assert_eq!(
        primaries(&coder.code("Negative for DVT but has hypertension")),
        ["I10"]
    );
}

#[test]
fn history_of_a_condition_with_its_own_personal_history_code() {
    let coder = icd_round5();
    for (text, want) in [
        ("hx of colon polyps", "Z86.0100"),
        ("h/o colon polyp", "Z86.0100"),
        ("colon polyps", "K63.5"),
        // No personal-history code names it: the condition itself, not the catch-all Z86.79.
        ("h/o HTN", "I10"),
        ("history of hypertension", "I10"),
        ("DVT", "I82.409"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
    // A relative's history is still not coded.
    assert!(
        coder
            .code("family history of colon polyps")
            .codes
            .is_empty()
    );
    // "h/o DVT" -> Z86.718 depends on the full tabular's word weights: checked in
    // `dev_set_icd10cm_full_data`.
}

#[test]
fn unspecified_as_acute_or_chronic_is_the_default() {
    let coder = icd_round5();
    for (text, want) in [
        ("duodenal ulcer", "K26.9"),
        ("ulcer, duodenal", "K26.9"),
        ("chronic duodenal ulcer", "K26.7"),
        ("acute duodenal ulcer", "K26.3"),
        ("acute duodenal ulcer with hemorrhage", "K26.0"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

/// Verbatim categories of the CDC FY2026 tabular (B15, B17, C22, C34, C61, C78, C80, D07, I48,
/// I51, I62, I82, J96, K85, K86, L50, L89, M76, P10, R03, R11, R55, S32, Z79) for the round-6
/// rules.
fn icd_round6() -> IcdCoder {
    let tab = clinrag_kg::load_icd10cm(&fixture("tabular_round6.xml"), None).unwrap();
    IcdCoder::new(&tab)
}

#[test]
fn inverted_fragments_merge_into_the_condition() {
    let coder = icd_round6();
    for (text, want) in [
        ("pancreatitis, chronic", "K86.1"),
        ("chronic pancreatitis", "K86.1"),
        ("pancreatitis", "K85.90"),
        ("carcinoma, prostate", "C61"),
        ("failure, respiratory, chronic", "J96.10"),
        ("ulcer, pressure, sacrum, stage 2", "L89.152"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
    // Two conditions stay two codes.
    let c = coder.code("pancreatitis, syncope");
    assert_eq!(primaries(&c), ["K85.90", "R55"], "{:?}", codes(&c));
}

#[test]
fn carcinoma_is_malignant_unless_said_in_situ() {
    let coder = icd_round6();
    for (text, want) in [
        ("carcinoma of prostate", "C61"),
        ("prostate adenocarcinoma", "C61"),
        ("carcinoma in situ of prostate", "D07.5"),
        ("hepatocellular carcinoma", "C22.0"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn acuity_wording_of_titles() {
    let coder = icd_round6();
    for (text, want) in [
        // "unspecified whether with hypoxia or hypercapnia" asks nothing of the text.
        ("chronic respiratory failure", "J96.10"),
        ("respiratory failure", "J96.90"),
        // "Acute and chronic" says both.
        ("acute on chronic respiratory failure", "J96.20"),
        ("acute respiratory failure with hypoxia", "J96.01"),
        // Neither said: acute, the index's default for a deep vein thrombosis.
        ("deep vein thrombosis of the left femoral vein", "I82.412"),
        (
            "chronic deep vein thrombosis of the left femoral vein",
            "I82.512",
        ),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn stray_words_around_a_condition_do_not_hide_it() {
    let coder = icd_round6();
    for (text, want) in [
        ("syncope at church", "R55"),
        ("vomiting all night", "R11.10"),
        ("urticaria after eating shrimp", "L50.9"),
        ("cardiomegaly on x-ray", "I51.7"),
    ] {
        let c = coder.code(text);
        assert_eq!(primaries(&c), [want], "{text}: {:?}", codes(&c));
    }
    // The words must be known to the tabular to be stray: here "sacrum" (S32, L89) is, and
    // the reduced reading is scored at a discount with its evidence on the condition only.
    let c = coder.code("syncope sacrum");
    assert_eq!(primaries(&c), ["R55"], "{:?}", codes(&c));
    assert!(c.codes[0].score < 1.0);
    assert_eq!(c.codes[0].evidence[0].text, "syncope");
    for text in ["The weather is nice today", "walked to church all night"] {
        let c = coder.code(text);
        assert!(c.codes.is_empty(), "{text}: {:?}", codes(&c));
    }
}

#[test]
fn perinatal_codes_need_a_newborn() {
    let coder = icd_round6();
    let c = coder.code("subdural hematoma");
    assert!(!c.codes[0].code.starts_with('P'), "{:?}", codes(&c));
    assert_eq!(
        top(
            &coder,
            "newborn with subdural hemorrhage due to birth injury"
        )
        .as_deref(),
        Some("P10.0")
    );
}

#[test]
fn a_named_side_beats_the_unspecified_side() {
    let coder = icd_round6();
    for (text, want) in [
        ("achilles tendinitis, right", "M76.61"),
        ("tendinitis, achilles, right", "M76.61"),
        ("left achilles tendinitis", "M76.62"),
        ("achilles tendinitis", "M76.60"),
        ("right upper lobe lung cancer", "C34.11"),
        ("upper lobe lung cancer", "C34.10"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn letters_after_hepatitis_are_types() {
    let coder = icd_round6();
    for (text, want) in [
        ("hepatitis A", "B15.9"),
        ("acute hepatitis a", "B15.9"),
        ("acute viral hepatitis", "B17.9"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn readings_and_foreign_articles() {
    let coder = icd_round6();
    assert_eq!(
        top(&coder, "elevated blood pressure reading").as_deref(),
        Some("R03.0")
    );
    // "de la" is no name here (Gilles de la Tourette is not in this fixture, but the words
    // would still have matched any title with "de" or "la").
    let c = coder.code("Le patient a de la fièvre");
    assert!(c.codes.is_empty(), "{:?}", codes(&c));
}

#[test]
fn drug_therapy_is_its_own_problem() {
    let coder = icd_round6();
    for (text, want) in [
        ("afib on warfarin", vec!["I48.91", "Z79.01"]),
        ("takes Eliquis for afib", vec!["Z79.01", "I48.91"]),
        ("on metformin", vec!["Z79.84"]),
        ("maintained on insulin", vec!["Z79.4"]),
        ("on chronic prednisone", vec!["Z79.52"]),
        ("afib, not on warfarin", vec!["I48.91"]),
    ] {
        let c = coder.code(text);
        assert_eq!(primaries(&c), want, "{text}: {:?}", codes(&c));
    }
    let c = coder.code("afib on warfarin");
    let z = c.codes.iter().find(|c| c.code == "Z79.01").unwrap();
    assert_eq!(z.evidence[0].text, "on warfarin");
    assert!(coder.code("stopped taking warfarin").codes.is_empty());
}

#[test]
fn another_language_is_not_coded() {
    let coder = icd_round6();
    for text in [
        "Je voudrais réserver une table pour deux personnes ce soir.",
        "El paciente tiene vómitos y síncope.",
        "Der Patient hat Synkope und Erbrechen.",
    ] {
        let c = coder.code(text);
        assert!(c.codes.is_empty(), "{text}: {:?}", codes(&c));
        assert!(
            c.warnings.iter().any(|w| w.contains("another language")),
            "{text}: {:?}",
            c.warnings
        );
    }
    // An English sentence beside it is still coded.
    let c = coder.code("Syncope at home. Le patient a de la fièvre et une toux.");
    assert_eq!(primaries(&c), ["R55"]);
}

#[test]
fn the_pronoun_i_is_no_numeral() {
    let coder = icd_round6();
    assert_eq!(top(&coder, "I passed out, syncope").as_deref(), Some("R55"));
    assert_eq!(
        top(&coder, "I take pills for my vomiting").as_deref(),
        Some("R11.10")
    );
}

/// Verbatim categories of the CDC FY2026 tabular (C43, F32, F33, J05, K57, L98, M72, N12, N16,
/// N30, N39, O14, O23, S93, S99, Z33, Z3A, and A49, B95, B96, K29, L03 for infectious agents)
/// for the round-7 rules.
fn icd_round7() -> IcdCoder {
    let tab = clinrag_kg::load_icd10cm(&fixture("tabular_round7.xml"), None).unwrap();
    IcdCoder::new(&tab)
}

#[test]
fn a_closing_bracket_names_the_condition() {
    let coder = icd_round7();
    for (text, want) in [("croup", "J05.0"), ("Dupuytren's contracture", "M72.0")] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
    // Eponyms that are English words do not code plain text ("[Wells]", "[Sweet]").
    for text in [
        "Patient doing well, no complaints.",
        "tooth hurts when eating sweets",
    ] {
        let c = coder.code(text);
        assert!(
            c.codes.iter().all(|x| !x.code.starts_with("L98")),
            "{text}: {:?}",
            codes(&c)
        );
    }
}

#[test]
fn an_inverted_list_is_read_whole() {
    let coder = icd_round7();
    for (text, want) in [
        // "including shoulder" is a nonessential part of the title.
        ("melanoma, malignant, left upper arm", "C43.62"),
        ("malignant melanoma of the left upper arm", "C43.62"),
        ("diverticulitis", "K57.92"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
    // A list of conditions stays a list of codes.
    let c = coder.code("melanoma, pyelonephritis, croup");
    assert_eq!(primaries(&c), ["C43.9", "N12", "J05.0"], "{:?}", codes(&c));
}

#[test]
fn contradicting_words_and_manifestation_codes() {
    let coder = icd_round7();
    for (text, want) in [
        // "recurrent" contradicts "single episode".
        (
            "recurrent major depression, current episode moderate",
            "F33.1",
        ),
        ("major depression, single episode, moderate", "F32.1"),
        // N16 "... in diseases classified elsewhere" is coded after the disease, not for it.
        ("pyelonephritis", "N12"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn a_condition_in_a_pregnancy_is_coded_in_the_pregnancy_chapter() {
    let coder = icd_round7();
    for (text, want) in [
        // The trimester from the weeks, and the weeks as an additional code.
        ("UTI at 22 wks gestation", vec!["O23.42", "Z3A.22"]),
        (
            "Severe preeclampsia at 34 weeks gestation",
            vec!["O14.13", "Z3A.34"],
        ),
        ("UTI in pregnancy, 2nd trimester", vec!["O23.42"]),
        // "Pregnant state, incidental" yields to the pregnancy chapter's code.
        (
            "Pregnant at 22 weeks gestation with UTI.",
            vec!["O23.42", "Z3A.22"],
        ),
        // No pregnancy: the condition's own code.
        ("UTI", vec!["N39.0"]),
        ("not pregnant; UTI", vec!["N39.0"]),
    ] {
        let c = coder.code(text);
        assert_eq!(primaries(&c), want, "{text}: {:?}", codes(&c));
    }
    // A newborn's gestational age is no pregnancy of the patient.
    let c = coder.code("preterm infant born at 32 weeks gestation with UTI");
    assert_eq!(primaries(&c), ["N39.0"], "{:?}", codes(&c));
}

#[test]
fn a_body_part_alone_is_no_injury() {
    let coder = icd_round7();
    for text in [
        "right ankle",
        "left ankle and foot",
        "Right ankle examined.",
    ] {
        let c = coder.code(text);
        assert!(primaries(&c).is_empty(), "{text}: {:?}", codes(&c));
    }
    // With what happened to it, the injury is coded, side included ("rolled my right ankle"
    // matches the lay term "rolled ankle"; the side is said again after it).
    for (text, want) in [
        ("rolled my right ankle", "S93.401A"),
        ("sprained left ankle", "S93.402A"),
    ] {
        assert_eq!(top(&coder, text).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn an_infectious_agent_is_coded_after_the_condition() {
    let coder = icd_round7();
    for (text, want) in [
        ("E. coli UTI", vec!["N39.0", "B96.20"]),
        ("MRSA cellulitis of the left leg", vec!["L03.116", "B95.62"]),
        ("H. pylori gastritis", vec!["K29.70", "B96.81"]),
        // The agent alone: its own code of unspecified site.
        ("MRSA infection", vec!["A49.02"]),
        // No agent: the condition alone.
        ("UTI", vec!["N39.0"]),
    ] {
        let c = coder.code(text);
        assert_eq!(primaries(&c), want, "{text}: {:?}", codes(&c));
    }
}

fn icd_round8() -> IcdCoder {
    let tab = clinrag_kg::load_icd10cm(&fixture("tabular_round8.xml"), None).unwrap();
    IcdCoder::new(&tab)
}

#[test]
fn symptoms_before_a_stated_diagnosis_are_not_coded_apart() {
    let coder = icd_round8();
    // The diagnosis explains the symptoms said before it (guideline I.B.5).
    let c = coder.code(
        "Three days of productive cough and fever. Chest x-ray shows consolidation; assessment is pneumonia.",
    );
    assert_eq!(primaries(&c), ["J18.9"], "{:?}", codes(&c));
    let c = coder.code("my son has a barking cough at night and the doctor said it's croup");
    assert_eq!(primaries(&c), ["J05.0"], "{:?}", codes(&c));
    // Without a stated diagnosis the symptoms stand, and follow the diagnoses.
    let c = coder.code("cough and fever");
    assert_eq!(primaries(&c), ["R05.9", "R50.9"], "{:?}", codes(&c));
    let c = coder.code("Fever. Croup.");
    assert_eq!(primaries(&c), ["J05.0", "R50.9"], "{:?}", codes(&c));
}

#[test]
fn a_side_or_a_site_said_elsewhere_in_the_sentence() {
    let coder = icd_round8();
    let c = coder.code(
        "my left eye has gone misty and the eye doctor says it's an age-related nuclear cataract in that eye",
    );
    assert_eq!(primaries(&c), ["H25.12"], "{:?}", codes(&c));
    let c = coder.code("my wife felt a lump in her left breast and the biopsy showed it's cancer");
    assert_eq!(primaries(&c), ["C50.912"], "{:?}", codes(&c));
    // The evidence is the condition and the side, each where it is said.
    let ev: Vec<&str> = c.codes[0]
        .evidence
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert!(
        ev.contains(&"cancer") && ev.iter().any(|e| e.contains("left")),
        "{ev:?}"
    );
    // Two sides said: none is read in.
    let c = coder
        .code("my left eye and my right eye are misty, the doctor says it's a nuclear cataract");
    assert_eq!(primaries(&c), ["H25.10"], "{:?}", codes(&c));
}

#[test]
fn a_drug_named_is_no_poisoning() {
    let coder = icd_round8();
    for text in [
        "Medications: atorvastatin 20 mg nightly, aspirin 81 mg daily.",
        "aspirin 81 mg daily",
    ] {
        let c = coder.code(text);
        assert!(
            c.codes.iter().all(|x| !x.code.starts_with("T39")),
            "{text}: {:?}",
            codes(&c)
        );
    }
    let c = coder.code("accidental poisoning by aspirin");
    assert!(
        primaries(&c)
            .first()
            .is_some_and(|t| t.starts_with("T39.01")),
        "{:?}",
        codes(&c)
    );
}

#[test]
fn what_the_text_says_of_the_encounter() {
    let coder = icd_round8();
    for (text, want) in [
        // A follow-up of an injury: 7th character D.
        (
            "Follow-up visit for closed fracture of the right distal radius. Healing as expected.",
            vec!["S52.501D"],
        ),
        // The gravida picks the supervision code; Z33.1 goes with it.
        (
            "G2P1 at 24 weeks gestation for a routine prenatal visit, normal pregnancy.",
            vec!["Z34.82", "Z3A.24"],
        ),
        // An exacerbation said apart from the disease.
        (
            "Known COPD, admitted with dyspnea and treated for an acute exacerbation.",
            vec!["J44.1"],
        ),
        // An infant is not coded to the adult form.
        (
            "6-week-old boy with projectile vomiting; ultrasound confirms hypertrophic pyloric stenosis.",
            vec!["Q40.0"],
        ),
        // Hypertensive heart disease includes the heart condition due to hypertension.
        (
            "Left ventricular hypertrophy due to long-standing hypertension",
            vec!["I11.9"],
        ),
    ] {
        let c = coder.code(text);
        assert_eq!(primaries(&c), want, "{text}: {:?}", codes(&c));
    }
    // Metastases are a second neoplasm, a clause of their own.
    let c = coder.code("Cancer of the sigmoid colon with metastases to the liver");
    let p = primaries(&c);
    assert!(
        p.len() == 2 && p[0].starts_with("C18") && p[1] == "C78.7",
        "{:?}",
        codes(&c)
    );
    // Plain follow-up advice is no subsequent encounter.
    assert_eq!(
        top(
            &coder,
            "Closed fracture of the right distal radius. Follow up in 2 weeks."
        )
        .as_deref(),
        Some("S52.501A")
    );
}

#[test]
fn the_organism_of_another_sentence() {
    let coder = icd_round8();
    // The pneumonia of "unspecified organism" takes the organism the culture grew, and the
    // agent's own code goes: the combination code names it.
    let c = coder.code("Right lower lobe pneumonia. Sputum culture grew Klebsiella pneumoniae.");
    assert_eq!(primaries(&c), ["J15.0"], "{:?}", codes(&c));
    let c = coder.code("Pneumonia. Sputum culture grew Streptococcus pneumoniae.");
    assert_eq!(primaries(&c), ["J13"], "{:?}", codes(&c));
    // Without an organism the pneumonia stays unspecified.
    let c = coder.code("Pneumonia. Sputum culture pending.");
    assert_eq!(primaries(&c), ["J18.9"], "{:?}", codes(&c));
}

fn icd_round9() -> IcdCoder {
    let tab = clinrag_kg::load_icd10cm(&fixture("tabular_round9.xml"), None).unwrap();
    IcdCoder::new(&tab)
}

#[test]
fn both_sides_without_a_code_for_both() {
    let coder = icd_round9();
    // No code for both knees: the right and the left.
    let c = coder.code("pain in both knees");
    assert_eq!(primaries(&c), ["M25.561", "M25.562"], "{:?}", codes(&c));
    // A code for both: that one.
    let c = coder.code("primary osteoarthritis of both knees");
    assert_eq!(primaries(&c), ["M17.0"], "{:?}", codes(&c));
    // One side: that side only.
    let c = coder.code("pain in the left knee");
    assert_eq!(primaries(&c), ["M25.562"], "{:?}", codes(&c));
}

#[test]
fn pregnancy_codes_need_a_pregnancy() {
    let coder = icd_round9();
    let c = coder.code("DM2 diet controlled");
    assert!(
        c.codes.iter().all(|x| !x.code.starts_with('O')),
        "{:?}",
        codes(&c)
    );
    let c = coder.code("gestational diabetes, diet controlled");
    assert_eq!(primaries(&c), ["O24.410"], "{:?}", codes(&c));
    // The weeks in plain speech say the pregnancy and its trimester.
    let c = coder.code("I'm 30 weeks along and they just told me I have preeclampsia");
    assert_eq!(primaries(&c), ["O14.93", "Z3A.30"], "{:?}", codes(&c));
    // A gestational age in one word.
    let c = coder.code("Severe preeclampsia diagnosed at 35w2d");
    assert_eq!(primaries(&c), ["O14.13", "Z3A.35"], "{:?}", codes(&c));
}

#[test]
fn round9_combinations() {
    let coder = icd_round9();
    for (text, want) in [
        // An examination that finds a condition.
        (
            "Annual physical exam. New diagnosis of essential hypertension.",
            vec!["Z00.01", "I10"],
        ),
        // Enlarged prostate with a urinary symptom: N40.1, and the symptom stays though the
        // diagnosis explains it (N40.1 asks for it).
        (
            "Nocturia; assessment is benign prostatic hyperplasia.",
            vec!["N40.1", "R35.1"],
        ),
        // The type of diabetes said in another sentence; "without complications" goes.
        ("Type 2 diabetes. Diabetic polyneuropathy.", vec!["E11.42"]),
        // Diabetes and hypoglycemia said apart: the combination code.
        ("Type 1 diabetes. Hypoglycemia.", vec!["E10.649"]),
        // "Unspecified asthma" goes when the asthma is said in full.
        (
            "Asthma since childhood. Moderate persistent asthma, uncomplicated.",
            vec!["J45.40"],
        ),
    ] {
        let c = coder.code(text);
        assert_eq!(primaries(&c), want, "{text}: {:?}", codes(&c));
    }
}

#[test]
fn a_carer_speaks_of_the_patient() {
    let coder = icd_round9();
    // A relative in the speaker's words is the patient.
    let c = coder.code("my dad has had shingles on his chest for a week");
    assert_eq!(primaries(&c), ["B02.9"], "{:?}", codes(&c));
    // The speaker speaks of themself: the relative's condition is family history.
    let c = coder.code("my mum had bowel cancer so I'm booked in for a colonoscopy");
    assert!(
        c.codes.iter().all(|x| !x.code.starts_with("C18")),
        "{:?}",
        codes(&c)
    );
    // Normal in plain speech.
    let c = coder.code("I have type 2 diabetes and the nurse says my kidneys are all fine");
    assert_eq!(primaries(&c), ["E11.9"], "{:?}", codes(&c));
}

#[test]
fn a_long_clause_is_read_in_windows() {
    let coder = icd_round9();
    let c = coder.code(
        "the school nurse phoned this afternoon and sent my daughter home early again with head lice",
    );
    assert_eq!(primaries(&c), ["B85.0"], "{:?}", codes(&c));
}
