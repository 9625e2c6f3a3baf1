//! End-to-end tests on the hand-written toy ontology and annotations in `tests/fixtures/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use clinrag_phenotype::{
    Annotations, DiseaseId, HpoId, IndexConfig, Ontology, PhenotypeError, RankConfig, RareIndex,
    Scheme, SimConfig, evaluate, simulate,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn index(weighted: bool) -> RareIndex {
    let cfg = IndexConfig {
        frequency_weighted_ic: weighted,
        ..IndexConfig::default()
    };
    RareIndex::load(&fixture("toy.obo"), &fixture("toy.hpoa"), cfg).unwrap()
}

fn hp(n: u32) -> HpoId {
    HpoId::new(n)
}

#[test]
fn ontology_warnings_name_file_and_line() {
    let o = Ontology::load(fixture("toy.obo")).unwrap();
    let w: Vec<String> = o
        .warnings()
        .iter()
        .map(|w| format!("{}: {}", w.line, w.message))
        .collect();
    assert_eq!(
        w,
        [
            "88: [Term] stanza without id; skipped",
            "94: is_a HP:1234567 names no term in the file; edge ignored",
        ]
    );
    assert!(o.warnings()[0].source.ends_with("toy.obo"));
    assert_eq!(o.resolve_str("HP:0002279").unwrap().id, hp(1250));
}

#[test]
fn annotation_report_counts_what_was_skipped() {
    let o = Ontology::load(fixture("toy.obo")).unwrap();
    let a = Annotations::load(fixture("toy.hpoa"), &o).unwrap();
    let r = a.report();
    assert_eq!((r.omim_diseases, r.orpha_diseases), (4, 1));
    assert_eq!(r.skipped_database_rows.get("DECIPHER"), Some(&1));
    assert_eq!(r.skipped_database_diseases.get("DECIPHER"), Some(&1));
    assert_eq!(r.not_rows, 1);
    assert_eq!(r.unknown_ids, 1);
    assert_eq!(r.mapped_ids, 1);
    assert_eq!(r.bad_frequency, 1);
    assert_eq!(r.malformed_rows, 1);
    assert_eq!(r.aspect_rows.get("I"), Some(&1));
    let lines: Vec<usize> = r.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [16, 17, 18]);
    assert!(
        r.problems[0]
            .message
            .contains("no such HPO term: HP:7654321")
    );
    // rows for the same disease and term are merged, the higher frequency kept
    let d4 = a.disease(DiseaseId::Omim(100004)).unwrap();
    assert_eq!(d4.phenotypes.len(), 2);
    let cat = d4.phenotypes.iter().find(|p| p.term == hp(518)).unwrap();
    assert_eq!(cat.frequency.value(), Some(0.55));
    assert_eq!(cat.references, ["PMID:4", "PMID:5"]);
    let d3 = a.disease(DiseaseId::Orpha(100003)).unwrap();
    assert_eq!(d3.excluded, [hp(1250)]);
    assert_eq!(
        a.disease(DiseaseId::Omim(100001)).unwrap().inheritance,
        [hp(6)]
    );
    // the obsolete id in the file was mapped to its replacement
    assert_eq!(
        a.disease(DiseaseId::Omim(100005)).unwrap().phenotypes[0].term,
        hp(1250)
    );
}

#[test]
fn information_content_by_hand() {
    // 5 diseases. Unweighted: IC(t) = ln(5 / diseases annotated with t or a descendant).
    let idx = index(false);
    let ln = f64::ln;
    let cases = [
        (1, 0.0),
        (118, 0.0),
        (707, ln(5.0 / 3.0)),  // D1, D4 (focal), D5 (mapped seizure)
        (1250, ln(5.0 / 3.0)), // same diseases
        (7359, ln(5.0)),
        (1249, ln(5.0)),
        (478, ln(5.0 / 3.0)),
        (518, ln(5.0 / 3.0)),
        (505, ln(5.0)),
        (1631, ln(5.0)),
    ];
    for (t, want) in cases {
        let got = idx.information_content(hp(t)).unwrap();
        assert!((got - want).abs() < 1e-5, "HP:{t:07}: {got} vs {want}");
    }
    // Weighted: D1 0.9, D2 1.0, D3 1.0, D4 0.55, D5 0.5 (unspecified) -> total 3.95
    let idx = index(true);
    let checks = [
        (1250, 3.95 / (0.9 + 0.5 + 0.5)),
        (518, 3.95 / (1.0 + 0.17 + 0.55)),
        (7359, 3.95 / 0.5),
    ];
    for (t, ratio) in checks {
        let got = idx.information_content(hp(t)).unwrap();
        assert!(
            (got - ln(ratio)).abs() < 1e-4,
            "HP:{t:07}: {got} vs {}",
            ln(ratio)
        );
    }
}

#[test]
fn mica_by_hand() {
    let idx = index(false);
    let cases = [
        (7359, 1250, 1250, (5.0f64 / 3.0).ln()), // focal vs seizure -> seizure
        (7359, 1249, 707, (5.0f64 / 3.0).ln()),  // focal vs ID -> nervous system
        (505, 518, 478, (5.0f64 / 3.0).ln()),    // visual impairment vs cataract -> eye
        (1631, 518, 118, 0.0),                   // heart vs eye -> phenotypic abnormality
        (518, 518, 518, (5.0f64 / 3.0).ln()),    // tie with its parent: the deeper term wins
    ];
    for (a, b, m, ic) in cases {
        let (got, got_ic) = idx.mica(hp(a), hp(b)).unwrap();
        assert_eq!(got, hp(m), "MICA(HP:{a:07}, HP:{b:07})");
        assert!((got_ic - ic).abs() < 1e-5);
        assert_eq!(idx.mica(hp(b), hp(a)).unwrap().0, hp(m), "symmetric");
    }
}

#[test]
fn right_toy_disease_ranks_first() {
    let idx = index(true);
    // (present, excluded, expected first) for both schemes where the answer is unambiguous
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&["HP:0007359"], &[], "OMIM:100004"),
        (&["HP:0001250", "HP:0001249"], &[], "OMIM:100001"),
        (&["HP:0000518", "HP:0001631"], &[], "ORPHA:100003"),
        (&["HP:0000518", "HP:0000505"], &[], "OMIM:100002"),
        (&["HP:0000518"], &["HP:0001631"], "OMIM:100002"),
        // ORPHA:100003 is annotated NOT seizure: the epilepsy syndrome wins
        (&["HP:0001631", "HP:0001250"], &[], "OMIM:100001"),
    ];
    for (present, excluded, want) in cases {
        let q = idx.prepare(present, excluded).unwrap();
        let r = idx.rank(&q, &RankConfig::default(), 3);
        assert_eq!(
            r.candidates[0].id.to_string(),
            *want,
            "{present:?} / {excluded:?}"
        );
        assert_eq!(r.candidates[0].rank, 1);
        assert!(r.candidates.windows(2).all(|w| w[0].score >= w[1].score));
    }
    // without the NOT penalty the heart-eye syndrome would win that case
    let q = idx.prepare(&["HP:0001631", "HP:0001250"], &[]).unwrap();
    let no_penalty = RankConfig {
        contradiction_lr: 1.0,
        ..RankConfig::default()
    };
    assert_eq!(
        idx.rank(&q, &no_penalty, 1).candidates[0].id,
        DiseaseId::Orpha(100003)
    );
    // and without the excluded term, the heart-eye syndrome explains cataract + ASD... but excluding ASD demotes it
    let q = idx.prepare(&["HP:0000518"], &[]).unwrap();
    let with = idx.prepare(&["HP:0000518"], &["HP:0001631"]).unwrap();
    let pos = |r: &clinrag_phenotype::Ranking| {
        r.candidates
            .iter()
            .position(|c| c.id == DiseaseId::Orpha(100003))
            .unwrap()
    };
    assert!(
        pos(&idx.rank(&with, &RankConfig::default(), 5))
            > pos(&idx.rank(&q, &RankConfig::default(), 5))
    );
    // explanations: matched pairs with their MICA, hallmarks not observed, contradictions
    let q = idx.prepare(&["HP:0007359", "HP:0000505"], &[]).unwrap();
    let r = idx.rank(&q, &RankConfig::default(), 5);
    let top = &r.candidates[0];
    assert_eq!(top.id, DiseaseId::Omim(100004));
    let m: Vec<(String, String, String)> = top
        .matched
        .iter()
        .map(|m| {
            (
                m.patient.id.to_string(),
                m.disease.id.to_string(),
                m.mica.id.to_string(),
            )
        })
        .collect();
    assert!(
        m.contains(&(
            "HP:0007359".into(),
            "HP:0007359".into(),
            "HP:0007359".into()
        )),
        "{m:?}"
    );
    assert!(
        m.contains(&(
            "HP:0000505".into(),
            "HP:0000518".into(),
            "HP:0000478".into()
        )),
        "{m:?}"
    );
    let q = idx.prepare(&["HP:0001250", "HP:0000518"], &[]).unwrap();
    let r = idx.rank(&q, &RankConfig::default(), 5);
    let heart_eye = r
        .candidates
        .iter()
        .find(|c| c.id == DiseaseId::Orpha(100003))
        .unwrap();
    assert_eq!(heart_eye.contradicted[0].id, hp(1250));
    assert_eq!(heart_eye.not_observed[0].term.id, hp(1631));
    let sum: f64 = r.candidates.iter().filter_map(|c| c.posterior).sum();
    assert!(sum <= 1.0 + 1e-9 && sum > 0.9, "{sum}");
}

#[test]
fn bad_input_gives_clear_messages() {
    let idx = index(true);
    let e = idx.prepare::<&str>(&[], &[]).unwrap_err();
    assert!(
        matches!(&e, PhenotypeError::BadRequest(m) if m.contains("no phenotype given")),
        "{e}"
    );
    let e = idx.prepare(&["HP:0123456"], &[]).unwrap_err();
    assert!(
        e.to_string().contains("no such HPO term: HP:0123456"),
        "{e}"
    );
    assert!(e.is_caller_fault());
    let e = idx.prepare(&["seizure"], &[]).unwrap_err();
    assert!(e.to_string().contains("not an HPO id"), "{e}");
    // unknown ids next to good ones: dropped with a warning
    let q = idx.prepare(&["HP:0123456", "HP:0000518"], &[]).unwrap();
    assert_eq!(q.present_ids, [hp(518)]);
    assert!(q.warnings[0].contains("no such HPO term"));
    // obsolete -> replaced_by, alt id -> primary, both said
    let q = idx.prepare(&["HP:0000999", "HP:0000518"], &[]).unwrap();
    assert_eq!(q.present_ids, [hp(1250), hp(518)]);
    assert!(q.warnings[0].contains("obsolete") && q.warnings[0].contains("HP:0001250"));
    let e = idx.prepare(&["HP:0000998"], &[]).unwrap_err();
    assert!(
        e.to_string()
            .contains("obsolete and has no replacement (consider HP:0000518)"),
        "{e}"
    );
    // not a phenotypic abnormality
    let q = idx.prepare(&["HP:0000006", "HP:0000518"], &[]).unwrap();
    assert!(q.warnings[0].contains("not under Phenotypic abnormality"));
    // contradictions: the exclusion is dropped with a message
    let q = idx
        .prepare(&["HP:0007359"], &["HP:0001250", "HP:0007359", "HP:0001631"])
        .unwrap();
    assert_eq!(q.excluded_ids, [hp(1631)]);
    assert!(q.warnings.iter().any(|w| w.contains("implies it")));
    assert!(
        q.warnings
            .iter()
            .any(|w| w.contains("both present and excluded"))
    );
    // redundant ancestors are counted once
    let q = idx.prepare(&["HP:0001250", "HP:0007359"], &[]).unwrap();
    assert_eq!(q.present_ids, [hp(7359)]);
    // 500 terms (repeats of the few toy terms) are fine; over the limit is a clear error
    let many: Vec<String> = (0..500)
        .map(|i| ["HP:0000518", "HP:0001631", "HP:0000505"][i % 3].to_string())
        .collect();
    let q = idx.prepare(&many, &[]).unwrap();
    assert_eq!(q.present_ids.len(), 3);
    let r = idx.rank(&q, &RankConfig::default(), 100);
    assert_eq!(r.candidates.len(), 5);
    let too_many: Vec<String> = vec!["HP:0000518".to_string(); 1001];
    let e = idx.prepare(&too_many, &[]).unwrap_err();
    assert!(e.to_string().contains("too many terms"), "{e}");
}

#[test]
fn simulation_is_deterministic_and_evaluable() {
    let idx = index(true);
    let cfg = SimConfig {
        seed: 3,
        cases: 20,
        min_annotations: 2,
        min_terms: 1,
        max_terms: 2,
        ..SimConfig::default()
    };
    let a = simulate(&idx, &cfg);
    let b = simulate(&idx, &cfg);
    assert_eq!(a, b);
    assert_eq!(a.len(), 20);
    assert_ne!(a, simulate(&idx, &SimConfig { seed: 4, ..cfg }));
    for scheme in [Scheme::LikelihoodRatio, Scheme::BestMatchAverage] {
        let r = evaluate(
            &idx,
            &a,
            &RankConfig {
                scheme,
                ..RankConfig::default()
            },
        );
        assert_eq!(r.evaluated, 20, "{:?}", r.skipped);
        assert!(r.top10 >= r.top3 && r.top3 >= r.top1);
        assert!(r.median_rank >= 1.0);
    }
}
