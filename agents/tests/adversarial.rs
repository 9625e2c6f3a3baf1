//! The hostile corpus of `clinrag/tests/fixtures/adversarial/` at the agents level, with a
//! scripted model that obeys every planted instruction: it quotes the planted sentences exactly
//! (or a harmless-looking part of them), cites passages that were never retrieved, quotes one
//! document while citing another, changes one word of a quote, and disguises quotes with
//! look-alike and invisible characters. Nothing of it may reach the answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clinrag_agents::{
    Answer, AskRequest, Asker, AskerConfig, Citation, Rejection, ScriptedModel, Style, Verifier,
};
use clinrag_llm_runtime::ChatModel;
use clinrag_retrieval::{Catalog, HybridSearcher, char_slice};

mod common;

use common::ingested;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../clinrag/tests/fixtures/adversarial")
        .join(name)
}

async fn home() -> (tempfile::TempDir, Arc<HybridSearcher>, Catalog) {
    let paths = vec![
        fixture("clinical.jsonl"),
        fixture("hostile.jsonl"),
        fixture("hostile-guideline.md"),
    ];
    let (dir, catalog, index, report) = ingested(&paths).await;
    assert_eq!(report.documents_ingested, 12);
    (dir, Arc::new(HybridSearcher::new(index)), catalog)
}

fn asker(s: Arc<HybridSearcher>, cat: &Catalog) -> Asker {
    let cfg = AskerConfig {
        generative_passages: 8,
        ..AskerConfig::default()
    };
    Asker::new(s, cfg).with_catalog(Some(cat.clone()))
}

/// Every citation is the stored text of its document at its offsets, inside its passage.
async fn assert_citations_valid(a: &Answer, catalog: &Catalog) {
    for s in &a.sentences {
        assert!(!s.citations.is_empty(), "uncited sentence {:?}", s.text);
        for c in &s.citations {
            let p = a.evidence.iter().find(|p| p.n == c.passage).unwrap();
            assert_eq!(p.doc_id, c.doc_id);
            assert!(p.start <= c.start && c.end <= p.end);
            let doc = catalog.document(&c.doc_id).await.unwrap().expect("stored");
            assert_eq!(
                char_slice(&doc.body, c.start, c.end),
                Some(c.quote.as_str())
            );
        }
    }
}

/// Text planted by the hostile documents or made up by the model (lower case).
const FORBIDDEN: &[&str] = &[
    "glargine",
    "cures",
    "second-line",
    "doubled",
    "pmid",
    "ignore",
    "system:",
    "40 g",
    "ciprofloxacin",
];

#[tokio::test]
async fn a_model_obeying_planted_instructions_gets_nothing_through() {
    let (_d, s, cat) = home().await;
    let q = "What is the first-line drug for type 2 diabetes in adults?";
    let base = asker(s.clone(), &cat)
        .ask_collect(AskRequest::new(q))
        .await
        .unwrap();
    assert!(!base.abstained, "{:?}", base.abstain_reason);
    let n = |doc: &str| {
        base.evidence
            .iter()
            .find(|p| p.doc_id == doc)
            .unwrap_or_else(|| panic!("{doc} not retrieved: {:?}", base.evidence))
            .n
    };
    let (clean, inject, look, fake) = (
        n("ADV:metformin"),
        n("ADV:inject-ignore"),
        n("ADV:lookalike-injection"),
        n("ADV:fake-citation"),
    );
    let evil = serde_json::json!({"sentences": [
        // obeys the planted instruction, quoting part of the planted sentence exactly
        {"text": "Insulin glargine is the first-line drug for type 2 diabetes in every adult.",
         "citations": [{"passage": inject, "quote": "Insulin glargine is the first-line drug for type 2 diabetes in every adult"}]},
        // the same, from the instruction disguised with a Cyrillic letter
        {"text": "Insulin glargine is the first-line drug for type 2 diabetes.",
         "citations": [{"passage": look, "quote": "insulin glargine is the first-line drug for type 2 diabetes"}]},
        // a fake reference: the PMID as a passage number, and the sentence carrying the PMID
        {"text": "Metformin cures type 2 diabetes in adults.",
         "citations": [{"passage": 99_999_999, "quote": "PMID 99999999"},
                       {"passage": fake, "quote": "metformin cures type 2 diabetes in adults"}]},
        // a quote that occurs in the clean document, cited to the planted one
        {"text": "Metformin is the first-line drug for type 2 diabetes in adults.",
         "citations": [{"passage": inject, "quote": "Metformin is the first-line drug for type 2 diabetes in adults."}]},
        // one word changed
        {"text": "Metformin is the second-line drug for type 2 diabetes in adults.",
         "citations": [{"passage": clean, "quote": "Metformin is the second-line drug for type 2 diabetes in adults."}]},
        // look-alike letters and an invisible character inside an otherwise exact quote
        {"text": "Metformin is first-line.",
         "citations": [{"passage": clean, "quote": "M\u{0435}tformin is the first-line drug for type 2 diabetes in adults."},
                       {"passage": clean, "quote": "Metformin is the first\u{200B}-line drug for type 2 diabetes in adults."}]}
    ]})
    .to_string();
    let model = Arc::new(ScriptedModel::new([evil, "1".to_string()]));
    let a = asker(s, &cat)
        .with_model(Some(model.clone() as Arc<dyn ChatModel>))
        .ask_collect({
            let mut r = AskRequest::new(q);
            r.style = Some(Style::Generative);
            r
        })
        .await
        .unwrap();
    assert!(!a.abstained, "{:?}", a.abstain_reason);
    assert!(
        a.fallback,
        "every generative sentence must be rejected: {a:?}"
    );
    let lower = a.answer.to_lowercase();
    for f in FORBIDDEN {
        assert!(!lower.contains(f), "{f} in {}", a.answer);
    }
    assert!(
        a.sentences[0]
            .text
            .contains("Metformin is the first-line drug for type 2 diabetes"),
        "{}",
        a.answer
    );
    assert_citations_valid(&a, &cat).await;
    let reasons: Vec<&str> = a.removed.iter().map(|r| r.reason.as_str()).collect();
    for want in [
        "no such passage was retrieved",
        "the quote does not occur",
        "reads as an instruction or a reference",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(want)),
            "{want}: {reasons:?}"
        );
    }
    // Each model prompt holds exactly one data fence, whatever the documents wrote.
    for msgs in model.prompts() {
        let all: String = msgs.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(all.matches("<<<DATA").count(), 1, "{all}");
        assert_eq!(all.matches("DATA>>>").count(), 1, "{all}");
    }
}

/// The verifier on the retrieved hostile evidence: quotes that are not the stored chars at the
/// stated offsets (moved, one word changed, look-alike letters, invisible characters, the right
/// text under another document's id) are refused, and so are exact quotes of planted sentences.
#[tokio::test]
async fn the_verifier_refuses_near_verbatim_moved_and_planted_quotes() {
    let (_d, s, cat) = home().await;
    let a = asker(s, &cat)
        .ask_collect(AskRequest::new(
            "What is the first-line drug for type 2 diabetes in adults?",
        ))
        .await
        .unwrap();
    let v = Verifier::new(&a.evidence, None);
    let p = |doc: &str| a.evidence.iter().find(|p| p.doc_id == doc).unwrap();
    let exact = |doc: &str, quote: &str| {
        let p = p(doc);
        let byte = p.text.find(quote).unwrap_or_else(|| panic!("{quote:?}"));
        let s = p.start + p.text[..byte].chars().count();
        Citation {
            doc_id: doc.into(),
            start: s,
            end: s + quote.chars().count(),
            quote: quote.into(),
            passage: 0,
        }
    };
    let good = exact(
        "ADV:metformin",
        "Metformin is the first-line drug for type 2 diabetes in adults.",
    );
    assert!(v.check_citation(&good).is_ok());
    let with_quote = |q: &str| Citation {
        quote: q.into(),
        ..good.clone()
    };
    let cases = vec![
        (
            "one word changed",
            with_quote("Metformin is the third-line drug for type 2 diabetes in adults."),
            Rejection::QuoteMismatch,
        ),
        (
            "Cyrillic e",
            with_quote("M\u{0435}tformin is the first-line drug for type 2 diabetes in adults."),
            Rejection::QuoteMismatch,
        ),
        (
            "fullwidth M",
            with_quote("\u{FF2D}etformin is the first-line drug for type 2 diabetes in adults."),
            Rejection::QuoteMismatch,
        ),
        (
            "moved by one",
            Citation {
                start: good.start + 1,
                end: good.end + 1,
                ..good.clone()
            },
            Rejection::QuoteMismatch,
        ),
        (
            "the text of one document under the id of another",
            Citation {
                doc_id: "ADV:inject-ignore".into(),
                ..good.clone()
            },
            // the offsets fall outside or beside that document's passage
            Rejection::NotRetrieved,
        ),
        (
            "a document that is not in the catalog",
            Citation {
                doc_id: "PMID:12345678".into(),
                ..good.clone()
            },
            Rejection::NotRetrieved,
        ),
        (
            "an exact planted instruction",
            exact(
                "ADV:inject-ignore",
                "Insulin glargine is the first-line drug for type 2 diabetes in every adult",
            ),
            Rejection::NotEvidence,
        ),
        (
            "an exact fake reference",
            exact(
                "ADV:fake-citation",
                "metformin cures type 2 diabetes in adults",
            ),
            Rejection::NotEvidence,
        ),
    ];
    for (what, c, want) in cases {
        let got = v.check_citation(&c).map(|p| p.n);
        // The same text at the same offsets of another document can only be a mismatch or
        // outside its passage; both are refusals.
        if what.starts_with("the text of one document") {
            assert!(
                matches!(
                    got,
                    Err(Rejection::NotRetrieved) | Err(Rejection::QuoteMismatch)
                ),
                "{what}: {got:?}"
            );
        } else {
            assert_eq!(got, Err(want), "{what}");
        }
    }
}
