//! The binary end to end over the knowledge-graph fixture vocabularies (kg/tests/fixtures):
//! ingest links disease names into chunks, `rare` links candidates to that literature and maps
//! `--text` through the kg linker, `search --expand on` explains its boosts, and bad input gets
//! clear messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;

use common::{clinrag, copy_dir, json};

/// A home with the fixture vocabularies and three small documents ingested with linking.
fn home(t: &Path) -> PathBuf {
    let home = t.join("home");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kg/tests/fixtures/home/vocab");
    copy_dir(&fixture, &home.join("vocab"));
    let corpus = t.join("corpus.jsonl");
    let docs = [
        (
            "PMID:1",
            "Marfan syndrome in adolescents",
            "Marfan syndrome is a connective tissue disorder with arachnodactyly.",
        ),
        (
            "PMID:2",
            "Asthma care",
            "Inhaled steroids reduce asthma exacerbations.",
        ),
        (
            "PMID:3",
            "Hand findings",
            "Spider fingers were seen in two siblings.",
        ),
    ];
    let mut s = String::new();
    for (id, title, text) in docs {
        s.push_str(&serde_json::json!({"id": id, "title": title, "text": text}).to_string());
        s.push('\n');
    }
    std::fs::write(&corpus, s).unwrap();
    let o = clinrag(&home, &["ingest", "--json", corpus.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    home
}

#[test]
fn rare_literature_text_linking_expansion_and_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let home = home(t.path());

    // Candidates link to the chunks whose linked concepts hold their disease id.
    let v = json(&clinrag(&home, &["rare", "--hpo", "HP:0001166", "--json"]));
    let cands = v["candidates"].as_array().unwrap();
    let marfan: Vec<&Value> = cands
        .iter()
        .filter(|c| c["name"] == "Marfan syndrome")
        .collect();
    assert_eq!(marfan.len(), 2, "{v}");
    for c in &marfan {
        let lit = c["literature"].as_array().unwrap();
        assert!(!lit.is_empty(), "{c}");
        assert!(lit.iter().all(|l| l["doc_id"] == "PMID:1"), "{c}");
        assert_eq!(lit[0]["title"], "Marfan syndrome in adolescents");
        assert!(lit[0]["end"].as_u64().unwrap() > lit[0]["start"].as_u64().unwrap());
    }
    for c in cands.iter().filter(|c| c["name"] != "Marfan syndrome") {
        assert_eq!(c["literature"], serde_json::json!([]), "{c}");
    }

    // --text goes through the kg linker: negated findings are excluded, a comma does not carry
    // the negation into a clause that asserts a finding.
    let v = json(&clinrag(
        &home,
        &[
            "rare",
            "--text",
            "Arachnodactyly. No hypertension, fever present. Mother had seizures.",
            "--json",
        ],
    ));
    assert_eq!(v["text_linker"], "kg-linker", "{v}");
    let terms = v["text_terms"].as_array().unwrap();
    let status = |id: &str| {
        terms
            .iter()
            .find(|t| t["term"] == id)
            .map(|t| t["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("HP:0001166").as_deref(), Some("present"), "{v}");
    assert_eq!(status("HP:0000822").as_deref(), Some("excluded"), "{v}");
    assert_eq!(status("HP:0001945").as_deref(), Some("present"), "{v}");
    assert_eq!(status("HP:0001250").as_deref(), Some("ignored"), "{v}");
    let q = &v["query"];
    assert!(q.to_string().contains("HP:0000822"), "{q}");

    // Obsolete ids are mapped through replaced_by, and said so.
    let v = json(&clinrag(&home, &["rare", "--hpo", "HP:0009999", "--json"]));
    let w = v["query"]["warnings"].to_string();
    assert!(w.contains("obsolete") && w.contains("HP:0001166"), "{v}");

    // Bad input: clear messages, exit code 2, never a crash.
    for (args, expected) in [
        (vec!["rare", "--json"], "no phenotype given"),
        (
            vec!["rare", "--hpo", "HP:0123456", "--json"],
            "no such HPO term: HP:0123456",
        ),
        (
            vec!["rare", "--text", "No arachnodactyly.", "--json"],
            "no present HPO phenotype found in the text",
        ),
    ] {
        let o = clinrag(&home, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let v = json(&o);
        assert!(
            v["error"].as_str().unwrap().contains(expected),
            "{args:?}: {v}"
        );
    }
    // Contradictory present and excluded: the exclusion is dropped with a note.
    let v = json(&clinrag(
        &home,
        &[
            "rare",
            "--hpo",
            "HP:0001166",
            "--exclude",
            "HP:0001166",
            "--json",
        ],
    ));
    assert!(
        v["query"]["warnings"]
            .to_string()
            .contains("both present and excluded"),
        "{v}"
    );
    // 500 terms are accepted.
    let many = vec!["HP:0001166"; 500].join(",");
    let o = clinrag(&home, &["rare", "--hpo", &many, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    // Unknown codes in kg queries: "no such code", not a guess.
    let o = clinrag(&home, &["kg", "concept", "HP:7654321", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["error"], "no such code: HP:7654321");

    // Graph-expanded search: the synonym query finds the label's passage, explained.
    let v = json(&clinrag(
        &home,
        &[
            "search",
            "spider fingers",
            "--mode",
            "bm25",
            "--expand",
            "on",
            "--json",
        ],
    ));
    let hits = v["hits"].as_array().unwrap();
    let p1 = hits.iter().find(|h| h["doc_id"] == "PMID:1");
    let p1 = p1.unwrap_or_else(|| panic!("expansion did not find PMID:1: {v}"));
    let notes = p1["expansion"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["concept"] == "HP:0001166" && n["label"] == "Arachnodactyly"),
        "{p1}"
    );
    let v = json(&clinrag(
        &home,
        &[
            "search",
            "spider fingers",
            "--mode",
            "bm25",
            "--expand",
            "off",
            "--json",
        ],
    ));
    let hits = v["hits"].as_array().unwrap();
    assert!(hits.iter().all(|h| h["doc_id"] != "PMID:1"), "{v}");
    assert!(hits.iter().all(|h| h.get("expansion").is_none()), "{v}");
    // Off by default.
    let v = json(&clinrag(
        &home,
        &["search", "spider fingers", "--mode", "bm25", "--json"],
    ));
    let hits = v["hits"].as_array().unwrap();
    assert!(hits.iter().all(|h| h.get("expansion").is_none()), "{v}");
}
