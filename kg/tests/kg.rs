#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests of clinrag-kg on the hand-written fixture home in `tests/fixtures/home`,
//! plus tests on the full vocabularies gated on `CLINRAG_TEST_DATA`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use clinrag_kg::{
    Certainty, ConceptGraph, Detail, EdgeKind, ExpandOptions, Experiencer, IcdLevel, KgError,
    Linker, Temporality, Vocab, VocabPaths, build_graph, parse_icd10cm, snapshot,
};

fn fixture_home() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/home")
}

static GRAPH: LazyLock<Arc<ConceptGraph>> =
    LazyLock::new(|| Arc::new(build_graph(&VocabPaths::from_home(&fixture_home())).unwrap()));
static LINKER: LazyLock<Linker> = LazyLock::new(|| Linker::new(GRAPH.clone()).unwrap());

fn node<'a>(g: &'a ConceptGraph, code: &str) -> &'a clinrag_kg::Node {
    let ix = g.lookup(code).unwrap();
    assert_eq!(ix.len(), 1, "{code} is ambiguous");
    g.node(ix[0]).unwrap()
}

#[test]
fn icd10cm_tree_notes_and_seventh_characters() {
    let g = &*GRAPH;
    let s02 = node(g, "ICD10CM:S02.0XXA");
    assert_eq!(
        s02.label,
        "Fracture of vault of skull, initial encounter for closed fracture"
    );
    assert!(matches!(s02.detail, Detail::Icd { billable: true, .. }));
    // The leaf that carries the 7th-character rule is no longer billable itself.
    assert!(matches!(
        node(g, "S02.0").detail,
        Detail::Icd {
            billable: false,
            ..
        }
    ));
    assert!(
        g.lookup("S02.101S").is_ok(),
        "7th character applies two levels down"
    );
    assert!(
        matches!(g.lookup("S02.0XXD"), Err(KgError::NoSuchCode(_))),
        "D is not defined for S02"
    );
    // Hierarchy: chapter > block > category > subcategory.
    let i214 = g.lookup("I21.4").unwrap()[0];
    let path: Vec<String> = g
        .shortest_path(i214, g.lookup("ICD10CM:9").unwrap()[0])
        .unwrap()
        .iter()
        .map(|s| g.node(s.node).unwrap().code.clone())
        .collect();
    assert_eq!(path, vec!["I21.4", "I21", "I20-I25", "9"]);
    // A one-category block gets the "X-X" form and does not collide with the category.
    assert!(matches!(
        node(g, "ICD10CM:I26-I26").detail,
        Detail::Icd {
            level: IcdLevel::Block,
            ..
        }
    ));
    // Inclusion terms are synonyms; excludes notes become edges.
    assert!(
        node(g, "I21.4")
            .synonyms
            .contains(&"Nontransmural myocardial infarction".to_string())
    );
    let i252 = g.lookup("I25.2").unwrap()[0];
    let ex: Vec<_> = g
        .neighbors(i252, 1, Some(EdgeKind::Excludes1))
        .iter()
        .map(|n| g.node(n.node).unwrap().code.clone())
        .collect();
    assert_eq!(ex, vec!["I21"]);
    let report = g
        .reports()
        .iter()
        .find(|r| r.source.starts_with("icd10c"))
        .unwrap();
    assert!(report.notes.iter().any(|n| n.contains("0 listed but not loaded") && n.contains("0 loaded but not listed")), "{:?}", report.notes);
}

#[test]
fn atc_mesh_hpo_diseases_and_drugs() {
    let g = &*GRAPH;
    assert!(matches!(
        node(g, "N02BE01").detail,
        Detail::Atc { level: 5 }
    ));
    assert_eq!(node(g, "MESH:D003924").label, "Diabetes Mellitus, Type 2");
    let arach = g.lookup("HP:0001166").unwrap()[0];
    let parents = g.neighbors(arach, 1, Some(EdgeKind::IsA));
    assert_eq!(
        parents
            .iter()
            .filter(|n| n.dir == clinrag_kg::Dir::Out)
            .count(),
        2
    );
    // Obsolete HPO term maps to its replacement.
    let obsolete = g.lookup("HP:0009999").unwrap()[0];
    let to: Vec<_> = g
        .neighbors(obsolete, 1, Some(EdgeKind::MapsTo))
        .iter()
        .map(|n| n.node)
        .collect();
    assert_eq!(to, vec![arach]);
    // Diseases with phenotype frequencies.
    let marfan = g.lookup("OMIM:154700").unwrap()[0];
    let e = g.graph().find_edge(marfan, arach).unwrap();
    assert_eq!(g.graph()[e].kind, EdgeKind::HasPhenotype);
    assert_eq!(g.graph()[e].frequency, Some(0.9));
    assert!(g.lookup("ORPHA:558").is_ok());
    // Brands -> drugs -> ATC, US and INN names, salts, combinations.
    let tylenol = g.lookup("BRAND:TYLENOL").unwrap()[0];
    let path = g
        .shortest_path(tylenol, g.lookup("ATC:N02BE01").unwrap()[0])
        .unwrap();
    let kinds: Vec<_> = path.iter().filter_map(|s| s.via.map(|v| v.0)).collect();
    assert_eq!(kinds, vec![EdgeKind::BrandOf, EdgeKind::MapsTo]);
    let toprol = g.lookup("BRAND:TOPROL XL").unwrap()[0];
    let via = g.neighbors(toprol, 2, None);
    assert!(
        via.iter()
            .any(|n| g.node(n.node).unwrap().code == "C07AB02"),
        "salt stripped: metoprolol succinate -> C07AB02"
    );
    let combo = g.lookup("BRAND:TYLENOL WITH CODEINE").unwrap()[0];
    let mut atc: Vec<_> = g
        .neighbors(combo, 2, None)
        .iter()
        .map(|n| g.node(n.node).unwrap().id())
        .filter(|id| id.starts_with("ATC:"))
        .collect();
    atc.sort();
    assert_eq!(atc, vec!["ATC:N02BE01", "ATC:R05DA04"]);
    let ecotrin = g.lookup("BRAND:ECOTRIN").unwrap()[0];
    assert!(
        g.neighbors(ecotrin, 2, None)
            .iter()
            .any(|n| g.node(n.node).unwrap().code == "B01AC06"),
        "aspirin -> acetylsalicylic acid"
    );
    let ndc = g
        .reports()
        .iter()
        .find(|r| r.source == "product.txt")
        .unwrap();
    assert_eq!(ndc.loaded, 2);
    assert_eq!(ndc.examples[0].location, "product.txt:5");
}

#[test]
fn snapshot_round_trip_keeps_everything() {
    let g = &*GRAPH;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kg/graph.bin");
    snapshot::save(g, &path).unwrap();
    let back = snapshot::load(&path).unwrap();
    assert_eq!(back.node_count(), g.node_count());
    assert_eq!(back.edge_count(), g.edge_count());
    assert_eq!(back.reports(), g.reports());
    assert_eq!(back.lookup("S02.101A").unwrap().len(), 1);
}

#[test]
fn queries_refuse_unknown_codes() {
    let g = &*GRAPH;
    for code in [
        "Z99.89",
        "ICD10CM:I21.8",
        "HP:1234567",
        "ATC:N02BE99",
        "OMIM:1",
        "garbage",
    ] {
        let e = g.lookup(code).unwrap_err();
        assert_eq!(e.to_string(), format!("no such code: {code}"));
        assert!(e.is_user_fault());
    }
    let hits = g.search("spider fingers", 3);
    assert_eq!(g.node(hits[0].node).unwrap().id(), "HP:0001166");
    assert_eq!(hits[0].matched, "Spider fingers");
}

#[test]
fn malformed_inputs_name_file_and_line() {
    let truncated = "<?xml version=\"1.0\"?>\n<ICD10CM.tabular>\n  <chapter>\n    <name>1</name>\n    <desc>X</desc>\n";
    let e = parse_icd10cm(truncated, Path::new("tab.xml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tab.xml:"), "{e}");
    assert!(
        e.contains("truncated XML") && e.contains("<chapter> opened at line 3"),
        "{e}"
    );
    let bad = "<ICD10CM.tabular>\n<chapter>\n<name>1</name>\n</diag>\n</ICD10CM.tabular>";
    let e = parse_icd10cm(bad, Path::new("tab.xml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tab.xml:4:"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("synonyms.dat");
    std::fs::write(&p, b"(dp0\nS'SKELID'\np1\nS'TILU").unwrap();
    let e = clinrag_kg::drugs::load_synonyms_dat(&p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("synonyms.dat:4") && e.contains("bad pickle"),
        "{e}"
    );
}

/// (sentence, mention text, expected concept id among the mention's concepts, certainty,
/// experiencer, temporality).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Certainty,
    Experiencer,
    Temporality,
);

use Certainty::{Affirmed as A, Negated as N, Possible as P};
use Experiencer::{Family as F, Patient as Pt};
use Temporality::{Current as C, Historical as H};

const CASES: &[Case] = &[
    // Negated.
    ("No fever.", "fever", "HP:0001945", N, Pt, C),
    (
        "Patient denies chest pain.",
        "chest pain",
        "HP:0100749",
        N,
        Pt,
        C,
    ),
    (
        "She denied nausea or vomiting.",
        "vomiting",
        "HP:0002013",
        N,
        Pt,
        C,
    ),
    ("Presents without cough.", "cough", "HP:0012735", N, Pt, C),
    (
        "ROS neg for vomiting or cough.",
        "cough",
        "HP:0012735",
        N,
        Pt,
        C,
    ),
    (
        "Negative for pulmonary embolism.",
        "pulmonary embolism",
        "HP:0002204",
        N,
        Pt,
        C,
    ),
    ("MI was ruled out.", "MI", "HP:0001658", N, Pt, C),
    (
        "Pulmonary embolism has been ruled out by CT.",
        "Pulmonary embolism",
        "HP:0002204",
        N,
        Pt,
        C,
    ),
    (
        "No evidence of pneumonia on chest x-ray.",
        "pneumonia",
        "HP:0002090",
        N,
        Pt,
        C,
    ),
    (
        "He has no headache, nausea, or diarrhea.",
        "diarrhea",
        "HP:0002014",
        N,
        Pt,
        C,
    ),
    (
        "Blood cultures negative, no signs of sepsis.",
        "sepsis",
        "HP:0100806",
        N,
        Pt,
        C,
    ),
    ("Never had a seizure.", "seizure", "HP:0001250", N, Pt, C),
    (
        "She is not anaemic and has no oedema.",
        "oedema",
        "HP:0000969",
        N,
        Pt,
        C,
    ),
    ("No SOB at rest.", "SOB", "HP:0002094", N, Pt, C),
    ("Free of rash.", "rash", "HP:0000988", N, Pt, C),
    ("Hematuria was absent.", "Hematuria", "HP:0000790", N, Pt, C),
    (
        "Denies chest pain but reports fever.",
        "chest pain",
        "HP:0100749",
        N,
        Pt,
        C,
    ),
    // Affirmed.
    (
        "Denies chest pain but reports fever.",
        "fever",
        "HP:0001945",
        A,
        Pt,
        C,
    ),
    (
        "Patient presents with fever and cough.",
        "cough",
        "HP:0012735",
        A,
        Pt,
        C,
    ),
    (
        "Acute MI confirmed by troponin.",
        "MI",
        "HP:0001658",
        A,
        Pt,
        C,
    ),
    ("T2DM poorly controlled.", "T2DM", "HP:0005978", A, Pt, C),
    ("Known HTN, on metoprolol.", "HTN", "HP:0000822", A, Pt, C),
    (
        "New onset afib with rapid ventricular response.",
        "afib",
        "HP:0005110",
        A,
        Pt,
        C,
    ),
    ("CKD stage 3.", "CKD", "HP:0012622", A, Pt, C),
    ("COPD exacerbation.", "COPD", "HP:0006510", A, Pt, C),
    (
        "Severe anaemia requiring transfusion.",
        "anaemia",
        "HP:0001903",
        A,
        Pt,
        C,
    ),
    (
        "Gastrointestinal haemorrhage overnight.",
        "Gastrointestinal haemorrhage",
        "HP:0002239",
        A,
        Pt,
        C,
    ),
    (
        "Chest pain radiating to the arm, no fever.",
        "Chest pain",
        "HP:0100749",
        A,
        Pt,
        C,
    ),
    ("Fever; no cough.", "Fever", "HP:0001945", A, Pt, C),
    ("Gram negative sepsis.", "sepsis", "HP:0100806", A, Pt, C),
    (
        "Headaches for two weeks.",
        "Headaches",
        "HP:0002315",
        A,
        Pt,
        C,
    ),
    (
        "Spider fingers noted on exam.",
        "Spider fingers",
        "HP:0001166",
        A,
        Pt,
        C,
    ),
    ("Left leg DVT.", "DVT", "HP:0002625", A, Pt, C),
    (
        "Takes Tylenol for headache.",
        "Tylenol",
        "ATC:N02BE01",
        A,
        Pt,
        C,
    ),
    (
        "Started paracetamol.",
        "paracetamol",
        "ATC:N02BE01",
        A,
        Pt,
        C,
    ),
    // Possible.
    ("Rule out MI.", "MI", "HP:0001658", P, Pt, C),
    (
        "Possible pneumonia in the right lower lobe.",
        "pneumonia",
        "HP:0002090",
        P,
        Pt,
        C,
    ),
    (
        "Suspected sepsis, started antibiotics.",
        "sepsis",
        "HP:0100806",
        P,
        Pt,
        C,
    ),
    (
        "Pulmonary embolism cannot be ruled out.",
        "Pulmonary embolism",
        "HP:0002204",
        P,
        Pt,
        C,
    ),
    (
        "Concern for meningitis.",
        "meningitis",
        "HP:0001287",
        P,
        Pt,
        C,
    ),
    ("Pneumonia?", "Pneumonia", "HP:0002090", P, Pt, C),
    // Historical.
    ("History of MI in 2015.", "MI", "HP:0001658", A, Pt, H),
    (
        "Past medical history of hypertension and diabetes mellitus.",
        "diabetes mellitus",
        "HP:0000819",
        A,
        Pt,
        H,
    ),
    ("S/p DVT last year.", "DVT", "HP:0002625", A, Pt, H),
    (
        "History of MI and denies chest pain.",
        "chest pain",
        "HP:0100749",
        N,
        Pt,
        C,
    ),
    (
        "Denies history of seizure.",
        "seizure",
        "HP:0001250",
        N,
        Pt,
        H,
    ),
    // Family.
    (
        "Family history of breast cancer.",
        "breast cancer",
        "HP:0003002",
        A,
        F,
        C,
    ),
    (
        "Mother had breast cancer.",
        "breast cancer",
        "HP:0003002",
        A,
        F,
        C,
    ),
    (
        "Father with type 2 diabetes mellitus.",
        "type 2 diabetes mellitus",
        "HP:0005978",
        A,
        F,
        C,
    ),
    (
        "No family history of arachnodactyly.",
        "arachnodactyly",
        "HP:0001166",
        N,
        F,
        C,
    ),
    (
        "Mother had breast cancer; patient has hypertension.",
        "hypertension",
        "HP:0000822",
        A,
        Pt,
        C,
    ),
    // Commas: a list stays in the negation's scope, a clause that asserts something ends it.
    ("No fever, cough present.", "fever", "HP:0001945", N, Pt, C),
    ("No fever, cough present.", "cough", "HP:0012735", A, Pt, C),
    (
        "Denies fever, chills, or cough.",
        "cough",
        "HP:0012735",
        N,
        Pt,
        C,
    ),
    (
        "No nausea, vomiting, or diarrhea.",
        "diarrhea",
        "HP:0002014",
        N,
        Pt,
        C,
    ),
    (
        "No rash, headache noted on exam.",
        "headache",
        "HP:0002315",
        A,
        Pt,
        C,
    ),
    (
        "No rash, headache noted on exam.",
        "rash",
        "HP:0000988",
        N,
        Pt,
        C,
    ),
    (
        "No cough, fever was present.",
        "fever",
        "HP:0001945",
        A,
        Pt,
        C,
    ),
    (
        "Without fever, the patient has a cough.",
        "cough",
        "HP:0012735",
        A,
        Pt,
        C,
    ),
    (
        "Possible pneumonia, sepsis confirmed.",
        "sepsis",
        "HP:0100806",
        A,
        Pt,
        C,
    ),
    (
        "Possible pneumonia, sepsis confirmed.",
        "pneumonia",
        "HP:0002090",
        P,
        Pt,
        C,
    ),
    (
        "Temperature 38,5, no fever noted.",
        "fever",
        "HP:0001945",
        N,
        Pt,
        C,
    ),
];

#[test]
fn context_table() {
    let mut failures = Vec::new();
    for (sentence, span, id, certainty, experiencer, temporality) in CASES {
        let mentions = LINKER.link(sentence);
        let Some(m) = mentions.iter().find(|m| m.text_span == *span) else {
            failures.push(format!(
                "{sentence:?}: no mention {span:?}, got {:?}",
                mentions.iter().map(|m| &m.text_span).collect::<Vec<_>>()
            ));
            continue;
        };
        let got = (m.certainty, m.experiencer, m.temporality);
        let ids: Vec<&str> = m.concept_ids.iter().map(|c| c.id.as_str()).collect();
        if !ids.contains(id) {
            failures.push(format!(
                "{sentence:?}: {span:?} links to {ids:?}, expected {id}"
            ));
        }
        if got != (*certainty, *experiencer, *temporality) {
            failures.push(format!(
                "{sentence:?}: {span:?} got {got:?}, expected {:?}",
                (certainty, experiencer, temporality)
            ));
        }
        assert_eq!(m.negated, m.certainty == Certainty::Negated);
        let chars: Vec<char> = sentence.chars().collect();
        assert_eq!(
            chars[m.start..m.end].iter().collect::<String>(),
            m.text_span
        );
    }
    assert!(CASES.len() >= 40);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn longest_match_char_offsets_and_abbreviation_case() {
    let text = "Ünïcode prefix — acute myocardial infarction (NSTEMI) today";
    let m = LINKER.link(text);
    let mi = m
        .iter()
        .find(|m| m.text_span == "acute myocardial infarction")
        .expect("longest match");
    assert_eq!(mi.start, text.chars().position(|c| c == 'a').unwrap());
    assert!(mi.concept_ids.iter().any(|c| c.id == "ICD10CM:I21"));
    assert!(
        !m.iter().any(|m| m.text_span == "myocardial infarction"),
        "no overlapping shorter match"
    );
    // Two-letter abbreviations need upper case; "mi" inside prose is not MI.
    assert!(LINKER.link("we walked a mi or so").is_empty());
    assert!(LINKER.link("pe teacher").is_empty());
    // Every ConceptRef says how it matched.
    let t = LINKER.link("Lipitor 20 mg");
    let refs = &t[0].concept_ids;
    assert!(
        refs.iter()
            .any(|r| r.id == "ATC:C10AA05" && r.matched_via.contains("brand_of")),
        "{refs:?}"
    );
}

#[test]
fn expansion_explains_every_term() {
    let e = LINKER.expand(
        "spider fingers in a tall teenager",
        ExpandOptions::default(),
    );
    assert_eq!(e.concepts[0].id, "HP:0001166");
    assert_eq!(
        e.explanations[0],
        "matched HP:0001166 Arachnodactyly via synonym \"Spider fingers\""
    );
    let terms: Vec<(&str, &str)> = e
        .terms
        .iter()
        .map(|t| (t.term.as_str(), t.relation.as_str()))
        .collect();
    assert!(terms.contains(&("Arachnodactyly", "label")), "{terms:?}");
    assert!(
        terms.contains(&("Long slender fingers", "synonym")),
        "{terms:?}"
    );
    assert!(terms.iter().any(|t| t.1 == "parent"), "{terms:?}");
    assert!(e.terms.iter().all(|t| !t.explanation.is_empty()));
    // Negated concepts are not expanded.
    let neg = LINKER.expand("no fever", ExpandOptions::default());
    assert!(neg.concepts.is_empty() && neg.terms.is_empty());
    // Chunk concept ids for ingest: affirmed patient mentions only.
    let ids = LINKER.concept_counts("Fever and cough. No chest pain. Mother had breast cancer.");
    let ids: Vec<&str> = ids.iter().map(|(i, _)| i.as_str()).collect();
    assert!(ids.contains(&"HP:0001945") && ids.contains(&"HP:0012735"));
    assert!(!ids.contains(&"HP:0100749") && !ids.contains(&"HP:0003002"));
}

#[test]
fn linker_is_shareable_across_threads() {
    let handles: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(|| LINKER.link("No fever but cough.").len()))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 2);
    }
    let _ = Vocab::Hpo;
}

/// Full vocabularies: set `CLINRAG_TEST_DATA=/tmp/clinrag-home`.
#[test]
fn full_data_when_available() {
    let Some(home) = std::env::var_os("CLINRAG_TEST_DATA") else {
        eprintln!(
            "skipped: set CLINRAG_TEST_DATA to a clinrag home to test on the full vocabularies"
        );
        return;
    };
    let g = Arc::new(build_graph(&VocabPaths::from_home(Path::new(&home))).unwrap());
    let icd = g
        .reports()
        .iter()
        .find(|r| r.source.starts_with("icd10c"))
        .unwrap();
    assert!(
        icd.notes.iter().any(
            |n| n.contains("0 listed but not loaded; 0 loaded but not listed")
                || n.contains("0 listed but not loaded")
        ),
        "{:?}",
        icd.notes
    );
    assert!(g.lookup("S02.0XXA").is_ok());
    assert!(g.lookup("I21.4").is_ok());
    assert!(g.lookup("N02BE01").is_ok());
    assert!(g.lookup("HP:0001166").is_ok());
    assert!(g.lookup("OMIM:154700").is_ok());
    let linker = Linker::new(g.clone()).unwrap();
    // Disease names of phenotype.hpoa are in the dictionary, so ingest stores OMIM and ORPHA
    // ids in chunk concepts (what `clinrag rare` links its literature through).
    let ids: Vec<String> = linker
        .concept_counts("Ten patients with Marfan syndrome and one with Crouzon syndrome.")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for id in ["OMIM:154700", "ORPHA:558", "OMIM:123500"] {
        assert!(ids.iter().any(|x| x == id), "{id} not in {ids:?}");
    }
    let m = linker.link("Patient with T2DM and CKD denies chest pain; history of MI.");
    let find = |s: &str| m.iter().find(|x| x.text_span == s).unwrap();
    assert!(
        find("T2DM")
            .concept_ids
            .iter()
            .any(|c| c.id == "ICD10CM:E11" || c.id == "HP:0005978")
    );
    assert!(find("chest pain").negated);
    assert_eq!(find("MI").temporality, Temporality::Historical);
}

#[test]
fn label_equivalences_join_vocabularies() {
    let g = &*GRAPH;
    let hpo = g.lookup("HP:0002090").unwrap()[0];
    let mesh = g.lookup("MESH:D011014").unwrap()[0];
    let p = g.shortest_path(hpo, mesh).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[1].via.map(|v| v.0), Some(EdgeKind::MapsTo));
}

mod properties {
    use super::LINKER;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "no", "fever", "chest", "pain", "denies", "MI", "mi", "history", "of", "Mother", "had",
        "breast", "cancer", "but", "cough", "é", "–", "anaemia", "T2DM", "rule", "out", "PE", ",",
        ".", ";", "spider", "fingers", "x", "ü",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn spans_are_sorted_disjoint_char_slices(words in proptest::collection::vec(proptest::sample::select(WORDS), 0..40), sep in "[ \n\t]{1,2}") {
            let text = words.join(&sep);
            let chars: Vec<char> = text.chars().collect();
            let mentions = LINKER.link(&text);
            let mut last_end = 0;
            for m in &mentions {
                prop_assert!(m.start < m.end && m.end <= chars.len());
                prop_assert!(m.start >= last_end, "overlap or disorder");
                last_end = m.end;
                prop_assert_eq!(chars[m.start..m.end].iter().collect::<String>(), m.text_span.clone());
                prop_assert!(!m.concept_ids.is_empty());
                // Matches lie on word boundaries.
                prop_assert!(m.start == 0 || !chars[m.start - 1].is_alphanumeric());
                prop_assert!(m.end == chars.len() || !chars[m.end].is_alphanumeric());
            }
        }

        #[test]
        fn neighbors_within_depth_are_reachable(depth in 0usize..4, pick in 0usize..50) {
            let g = &*super::GRAPH;
            let start = clinrag_kg::NodeIx::new(pick % g.node_count());
            for n in g.neighbors(start, depth, None) {
                prop_assert!(n.depth >= 1 && n.depth <= depth);
                let p = g.shortest_path(start, n.node).unwrap();
                // A path can be shorter than the BFS depth only through documents, which the fixture has none of.
                prop_assert_eq!(p.len() - 1, n.depth);
            }
        }
    }
}

#[test]
fn open_or_build_writes_then_reads_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let err = clinrag_kg::open_or_build(dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("clinrag setup"), "{err}");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("vocab")).unwrap();
    for sub in ["icd10cm", "atc", "hpo"] {
        let from = fixture_home().join("vocab").join(sub);
        std::fs::create_dir_all(home.join("vocab").join(sub)).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(
                &f,
                home.join("vocab").join(sub).join(f.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let built = clinrag_kg::open_or_build(&home).unwrap();
    assert!(home.join(clinrag_kg::SNAPSHOT_PATH).exists());
    let loaded = clinrag_kg::open_or_build(&home).unwrap();
    assert_eq!(built.node_count(), loaded.node_count());
    // Missing sources are reported, not fatal.
    assert!(loaded.reports().iter().any(|r| {
        r.notes
            .iter()
            .any(|n| n.contains("subjects_mesh.csv is missing"))
    }));
}

#[test]
fn linker_cache_round_trips_and_is_tied_to_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("kg/linker.bin");
    let text = "No fever, cough present. Spider fingers; T2DM. Takes Tylenol. MI was ruled out.";
    let built = Linker::open_cached(GRAPH.clone(), &cache, 7).unwrap();
    assert!(cache.exists());
    let loaded = Linker::open_cached(GRAPH.clone(), &cache, 7).unwrap();
    assert_eq!(loaded.term_count(), built.term_count());
    assert_eq!(loaded.link(text), LINKER.link(text));
    assert!(!loaded.link(text).is_empty());
    // Another graph key: rebuilt and rewritten, not read.
    let before = std::fs::read(&cache).unwrap();
    let other = Linker::open_cached(GRAPH.clone(), &cache, 8).unwrap();
    assert_eq!(other.link(text), LINKER.link(text));
    assert_ne!(std::fs::read(&cache).unwrap()[12..20], before[12..20]);
    // A corrupt cache is ignored (and replaced), never trusted.
    let mut bytes = std::fs::read(&cache).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&cache, &bytes).unwrap();
    let fixed = Linker::open_cached(GRAPH.clone(), &cache, 8).unwrap();
    assert_eq!(fixed.link(text), LINKER.link(text));
    std::fs::write(&cache, b"garbage").unwrap();
    assert!(Linker::open_cached(GRAPH.clone(), &cache, 8).is_ok());
    // open_linker keys the cache by the home's snapshot.
    let home = dir.path().join("home");
    snapshot::save(&GRAPH, &home.join(clinrag_kg::SNAPSHOT_PATH)).unwrap();
    let key = snapshot::fingerprint(&home.join(clinrag_kg::SNAPSHOT_PATH)).unwrap();
    let l = clinrag_kg::open_linker(&home, GRAPH.clone()).unwrap();
    assert_eq!(l.link(text), LINKER.link(text));
    let header = std::fs::read(home.join(clinrag_kg::LINKER_CACHE_PATH)).unwrap();
    assert_eq!(header[12..20], key.to_le_bytes());
}

#[test]
fn malformed_obo_stanzas_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let hpo = dir.path().join("vocab/hpo");
    std::fs::create_dir_all(&hpo).unwrap();
    let obo = "format-version: 1.2\n\n[Term]\nid: HP:0000001\nname: All\n\n[Term]\nname: a stanza without id\n\n[Term]\nid: HP:0000118\nname: Phenotypic abnormality\nis_a: HP:0000001 ! All\nis_a: HP:7777777 ! nowhere\n";
    std::fs::write(hpo.join("hp.obo"), obo).unwrap();
    let g = build_graph(&VocabPaths::from_home(dir.path())).unwrap();
    let r = g
        .reports()
        .iter()
        .find(|r| r.source == "hp.obo")
        .unwrap_or_else(|| panic!("{:?}", g.reports()));
    assert_eq!(r.skipped, 2, "{r}");
    let text = r.to_string();
    assert!(
        text.contains("hp.obo:7") && text.contains("without id"),
        "{text}"
    );
    assert!(
        text.contains("hp.obo:14") && text.contains("HP:7777777"),
        "{text}"
    );
    assert!(g.lookup("HP:0000118").is_ok());
    assert_eq!(
        g.lookup("HP:7777777").unwrap_err().to_string(),
        "no such code: HP:7777777"
    );
    // Not an OBO file at all: an error naming the file.
    std::fs::write(hpo.join("hp.obo"), "\u{0}\u{1}binary junk").unwrap();
    let e = build_graph(&VocabPaths::from_home(dir.path()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("hp.obo"), "{e}");
}
