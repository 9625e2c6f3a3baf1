//! Agents over the hand-written vocabulary fixture of clinrag-kg (`kg/tests/fixtures/home`):
//! the verifier's concept and negation checks, and the diagnosis agent (findings with negation,
//! rare-disease ranking, literature candidates whose ids all exist in the vocabularies).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clinrag_agents::{Asker, AskerConfig, Diagnoser, Passage, Verifier};
use clinrag_kg::{ConceptGraph, Linker, VocabPaths, build_graph};
use clinrag_phenotype::{IndexConfig, RareIndex};
use clinrag_retrieval::HybridSearcher;

mod common;

use common::{fixture, ingested};

fn kg_home() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kg/tests/fixtures/home")
}

fn linker() -> (Arc<ConceptGraph>, Arc<Linker>) {
    let g = Arc::new(build_graph(&VocabPaths::from_home(&kg_home())).unwrap());
    (g.clone(), Arc::new(Linker::new(g).unwrap()))
}

fn passage(text: &str) -> Passage {
    Passage {
        n: 1,
        doc_id: "D".into(),
        chunk_id: "D#0".into(),
        title: String::new(),
        section: String::new(),
        start: 0,
        end: text.chars().count(),
        text: text.into(),
        score: 1.0,
    }
}

#[test]
fn support_counts_concepts_and_rejects_flipped_negation() {
    let (_g, l) = linker();
    let ev = vec![passage("x")];
    let v = Verifier::new(&ev, Some(&l));
    let q = "The patient reported fever and cough.";
    let cases = [
        ("The patient reported fever and cough.", true),
        ("The patient reported no fever and cough.", false),
        ("The patient reported pneumonia and cough.", false),
    ];
    for (s, ok) in cases {
        let got = v.support(s, &[q]);
        assert_eq!(got >= clinrag_agents::MIN_SUPPORT, ok, "{s}: {got}");
    }
    assert_eq!(v.support("The patient reported no fever.", &[q]), 0.0);
}

#[tokio::test]
async fn diagnosis_respects_negation_and_only_names_known_ids() {
    let (graph, linker) = linker();
    let (_dir, catalog, index, _) =
        ingested(&[fixture("corpus.jsonl"), fixture("cases.jsonl")]).await;
    let hpo = kg_home().join("vocab/hpo");
    let rare = RareIndex::load(
        &hpo.join("hp.obo"),
        &hpo.join("phenotype.hpoa"),
        IndexConfig::default(),
    )
    .unwrap();
    let asker = Asker::new(Arc::new(HybridSearcher::new(index)), AskerConfig::default())
        .with_catalog(Some(catalog));
    let d = Diagnoser::new(Arc::new(asker), linker, Some(Arc::new(rare)));

    // A phenotype profile: the rare-disease ranking leads, fever is excluded (negated).
    let r = d
        .diagnose(
            "A 16-year-old boy with arachnodactyly and hypertension. No fever.",
            5,
        )
        .await
        .unwrap();
    assert!(r.present_hpo.contains(&"HP:0001166".to_string()), "{r:?}");
    assert!(r.excluded_hpo.contains(&"HP:0001945".to_string()), "{r:?}");
    assert!(!r.present_hpo.contains(&"HP:0001945".to_string()));
    let first = &r.differential[0];
    assert_eq!(first.source, "phenotype_ranking");
    assert!(first.name.contains("Marfan"), "{first:?}");
    assert!(!first.evidence_for.is_empty());
    let fever = r
        .differential
        .iter()
        .find(|i| i.id == "OMIM:999999")
        .expect("the fever syndrome is ranked");
    assert!(
        fever
            .evidence_against
            .iter()
            .any(|e| e.contains("HP:0001945")),
        "{fever:?}"
    );

    // Common findings: literature candidates, each with a verified citation and an id that the
    // vocabulary knows; pneumonia has the patient's missing fever against it.
    let r = d
        .diagnose("Patient presents with chest pain and dyspnea. No fever.", 5)
        .await
        .unwrap();
    let lit: Vec<_> = r
        .differential
        .iter()
        .filter(|i| i.source == "literature")
        .collect();
    assert!(!lit.is_empty(), "{r:?}");
    for item in &lit {
        assert!(item.id.starts_with("ICD10CM:"));
        assert!(
            graph.lookup(&item.id).is_ok_and(|v| !v.is_empty()),
            "{}",
            item.id
        );
        assert!(!item.citations.is_empty());
    }
    let ids: Vec<&str> = lit.iter().map(|i| i.id.as_str()).collect();
    assert!(ids.iter().any(|i| i.starts_with("ICD10CM:I26")), "{ids:?}");
    if let Some(p) = lit.iter().find(|i| i.id.starts_with("ICD10CM:J18")) {
        assert!(
            p.evidence_against
                .iter()
                .any(|e| e.contains("no Fever") || e.contains("no fever")),
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn tools_over_the_fixture_vocabularies() {
    use clinrag_agents::{ToolError, Toolbox};
    let (_g, linker) = linker();
    let hpo = kg_home().join("vocab/hpo");
    let rare = Arc::new(
        RareIndex::load(
            &hpo.join("hp.obo"),
            &hpo.join("phenotype.hpoa"),
            IndexConfig::default(),
        )
        .unwrap(),
    );
    let tb = Toolbox::standard(None, Some(linker), None, None, Some(rare));
    assert_eq!(
        tb.names(),
        [
            "link_concepts",
            "lookup_code",
            "kg_neighbors",
            "rank_rare_diseases"
        ]
    );
    let v = tb
        .call(
            "link_concepts",
            serde_json::json!({"text": "No fever, but cough."}),
        )
        .await
        .unwrap();
    let fever = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == "fever")
        .unwrap();
    assert_eq!(fever["negated"], true);
    let v = tb
        .call("lookup_code", serde_json::json!({"code": "HP:0001166"}))
        .await
        .unwrap();
    assert_eq!(v[0]["label"], "Arachnodactyly");
    let e = tb
        .call("lookup_code", serde_json::json!({"code": "HP:9999999"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::Failed(_)), "{e:?}");
    let v = tb
        .call("kg_neighbors", serde_json::json!({"code": "HP:0001166"}))
        .await
        .unwrap();
    assert!(!v.as_array().unwrap().is_empty());
    let v = tb
        .call(
            "rank_rare_diseases",
            serde_json::json!({"hpo": ["HP:0001166", "HP:0000822"], "k": 3}),
        )
        .await
        .unwrap();
    assert_eq!(v[0]["id"], "OMIM:154700");
    // Bad arguments and unknown tools are errors, not panics.
    for (tool, args) in [
        (
            "rank_rare_diseases",
            serde_json::json!({"hpo": "HP:0001166"}),
        ),
        ("link_concepts", serde_json::json!({"txt": "fever"})),
        ("lookup_code", serde_json::json!(42)),
    ] {
        let e = tb.call(tool, args).await.unwrap_err();
        assert!(matches!(e, ToolError::BadArgs { .. }), "{tool}: {e:?}");
    }
    let e = tb
        .call("search_literature", serde_json::json!({"query": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e, ToolError::UnknownTool("search_literature".into()));
}
