//! Tests on the real HPO files, run only when `CLINRAG_TEST_DATA` names a clinrag home folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use clinrag_phenotype::{Annotations, DiseaseId, HpoId, Ontology, Resolution};

fn data_dir() -> Option<PathBuf> {
    match std::env::var_os("CLINRAG_TEST_DATA") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            eprintln!("note: CLINRAG_TEST_DATA not set; skipping tests on the full HPO data");
            None
        }
    }
}

#[test]
fn full_ontology_and_annotations() {
    let Some(home) = data_dir() else { return };
    let t = std::time::Instant::now();
    let ont = Ontology::load(home.join("vocab/hpo/hp.obo")).unwrap();
    eprintln!(
        "hp.obo: {} terms, {} warnings, {:?}",
        ont.len(),
        ont.warnings().len(),
        t.elapsed()
    );
    for w in ont.warnings().iter().take(10) {
        eprintln!("  {w}");
    }
    assert!(ont.len() > 15_000);
    assert_eq!(ont.name(HpoId::new(118)), Some("Phenotypic abnormality"));
    // Epicanthus has alt ids HP:0000624 and HP:0007930
    let r = ont.resolve_str("HP:0007930").unwrap();
    assert_eq!(r.id, HpoId::new(286));
    assert_ne!(r.resolution, Resolution::Current);
    let obsolete_mapped = ont
        .all_terms()
        .iter()
        .filter(|t| t.obsolete && t.replaced_by.is_some())
        .filter(|t| {
            matches!(
                ont.resolve(t.id).map(|r| r.resolution),
                Ok(Resolution::ReplacedBy { .. })
            )
        })
        .count();
    assert!(obsolete_mapped > 200, "{obsolete_mapped}");
    assert!(ont.ancestors(HpoId::new(286)).contains(&HpoId::new(118)));

    let t = std::time::Instant::now();
    let ann = Annotations::load(home.join("vocab/hpo/phenotype.hpoa"), &ont).unwrap();
    let r = ann.report();
    eprintln!("phenotype.hpoa: {:?}", t.elapsed());
    eprintln!("{}", serde_json::to_string_pretty(r).unwrap());
    assert!(r.omim_diseases > 8000 && r.orpha_diseases > 4000);
    assert!(
        r.skipped_database_diseases
            .get("DECIPHER")
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(r.not_rows > 0);
    let marfan = ann.disease(DiseaseId::Omim(154700)).unwrap();
    assert!(marfan.name.contains("Marfan"));
    assert!(marfan.phenotypes.len() > 20);
}

fn full_index(home: &std::path::Path) -> clinrag_phenotype::RareIndex {
    clinrag_phenotype::RareIndex::load(
        &home.join("vocab/hpo/hp.obo"),
        &home.join("vocab/hpo/phenotype.hpoa"),
        clinrag_phenotype::IndexConfig::default(),
    )
    .unwrap()
}

#[test]
fn full_ranking_finds_marfan_and_handles_bad_input() {
    use clinrag_phenotype::{RankConfig, Scheme};
    let Some(home) = data_dir() else { return };
    let idx = full_index(&home);
    eprintln!("index: {:?}", idx.stats());
    assert!(idx.len() > 12_000);
    // arachnodactyly, disproportionate tall stature, myopia, ectopia lentis, aortic root aneurysm
    let q = idx
        .prepare(
            &[
                "HP:0001166",
                "HP:0001519",
                "HP:0000545",
                "HP:0001083",
                "HP:0002616",
            ],
            &[],
        )
        .unwrap();
    for scheme in [Scheme::LikelihoodRatio, Scheme::BestMatchAverage] {
        let r = idx.rank(
            &q,
            &RankConfig {
                scheme,
                ..RankConfig::default()
            },
            10,
        );
        let ids: Vec<String> = r.candidates.iter().map(|c| c.id.to_string()).collect();
        assert!(
            ids.iter().any(|i| i == "OMIM:154700" || i == "ORPHA:558"),
            "{scheme:?}: {ids:?}"
        );
        assert!(r.candidates.iter().all(|c| c.score.is_finite()));
    }
    // every candidate id exists in the hpoa and matched pairs carry names
    let r = idx.rank(&q, &RankConfig::default(), 10);
    for c in &r.candidates {
        assert!(idx.disease_index(c.id).is_some());
        assert!(c.matched.iter().all(|m| !m.mica.name.is_empty()));
    }
    // obsolete id mapped, unknown id reported, 500 real terms accepted
    let q = idx
        .prepare(&["HP:0007930", "HP:9999999", "HP:0001166"], &[])
        .unwrap();
    assert!(
        q.warnings
            .iter()
            .any(|w| w.contains("no such HPO term: HP:9999999"))
    );
    let many: Vec<String> = idx
        .ontology()
        .terms()
        .filter(|t| idx.ontology().is_phenotypic_abnormality(t.id))
        .skip(1000)
        .step_by(7)
        .take(500)
        .map(|t| t.id.to_string())
        .collect();
    let q = idx.prepare(&many, &[]).unwrap();
    let r = idx.rank(&q, &RankConfig::default(), 5);
    assert_eq!(r.candidates.len(), 5);
    assert!(r.candidates.iter().all(|c| c.score.is_finite()));
}

#[test]
fn full_simulated_set_beats_best_match_average() {
    use clinrag_phenotype::{RankConfig, Scheme, SimConfig, evaluate, simulate};
    let Some(home) = data_dir() else { return };
    let idx = full_index(&home);
    let cases = simulate(
        &idx,
        &SimConfig {
            seed: 11,
            cases: 60,
            ..SimConfig::default()
        },
    );
    assert_eq!(cases.len(), 60);
    let lr = evaluate(&idx, &cases, &RankConfig::default());
    let bma = evaluate(
        &idx,
        &cases,
        &RankConfig {
            scheme: Scheme::BestMatchAverage,
            ..RankConfig::default()
        },
    );
    eprintln!(
        "lr {:.3}/{:.3} bma {:.3}/{:.3}",
        lr.top1, lr.top10, bma.top1, bma.top10
    );
    assert_eq!(lr.evaluated, 60);
    assert!(lr.top10 >= bma.top10, "lr {} < bma {}", lr.top10, bma.top10);
    assert!(lr.top1 > 0.4);
}
