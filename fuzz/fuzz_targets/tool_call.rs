#![no_main]
//! Model output parsed into tool calls and answers: the constrained-JSON automaton
//! (`JsonGrammar::accepts`) for a tool's argument schema, the agents' tool argument types
//! (`clinrag_agents::tools::*Args`), and the generative answer parser that resolves citations
//! against retrieved passages (`clinrag_agents::fuzzing::parse_generative`) followed by the
//! citation verifier. A citation that survives must be the exact characters of its passage.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

use clinrag_agents::tools::{
    AssignArgs, CodeArgs, NeighborArgs, PassageArgs, QuestionArgs, RareArgs, SearchArgs, TextArgs,
};
use clinrag_agents::{Passage, Verifier};
use clinrag_llm_runtime::JsonGrammar;

fn grammars() -> &'static [(JsonGrammar, Value)] {
    static G: OnceLock<Vec<(JsonGrammar, Value)>> = OnceLock::new();
    G.get_or_init(|| {
        let schemas = [
            json!({"type": "object", "properties": {"answer": {"type": "string", "maxLength": 800}}}),
            json!({"type": "object", "properties": {
                "query": {"type": "string", "maxLength": 200},
                "k": {"type": "integer", "minimum": 1, "maximum": 20}},
                "required": ["query"]}),
            json!({"type": "object", "properties": {"sentences": {"type": "array", "maxItems": 6,
                "items": {"type": "object", "properties": {
                    "text": {"type": "string", "maxLength": 300},
                    "citations": {"type": "array", "maxItems": 3, "items": {"type": "object",
                        "properties": {"passage": {"type": "integer", "minimum": 1, "maximum": 9},
                                       "quote": {"type": "string", "maxLength": 200}},
                        "required": ["passage", "quote"]}}},
                    "required": ["text", "citations"]}}},
                "required": ["sentences"]}),
            json!({"enum": ["E11.9", "I10", "none"]}),
        ];
        schemas
            .into_iter()
            .filter_map(|s| JsonGrammar::compile(&s).ok().map(|g| (g, s)))
            .collect()
    })
}

fn passages() -> Vec<Passage> {
    let p = |n: usize, doc: &str, start: usize, text: &str| Passage {
        n,
        doc_id: doc.into(),
        chunk_id: format!("{doc}#0"),
        title: "t".into(),
        section: "abstract".into(),
        start,
        end: start + text.chars().count(),
        text: text.into(),
        score: 1.0,
    };
    vec![
        p(
            1,
            "PMID:1",
            0,
            "Metformin is first-line therapy for type 2 diabetes.",
        ),
        p(
            2,
            "PMID:2",
            17,
            "In CKD stage 4 (eGFR < 30), metformin is contraindicated; ünïcode ½ dose.",
        ),
        p(3, "DOI:10.1/x", 3, "  spaced\tout   text  "),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    assert!(!grammars().is_empty(), "no test schema compiled");
    for (g, _) in grammars() {
        if g.accepts(s) {
            assert!(
                serde_json::from_str::<Value>(s).is_ok(),
                "the JSON automaton accepted text serde_json rejects"
            );
        }
    }
    let Ok(v) = serde_json::from_str::<Value>(s.trim()) else {
        return;
    };
    let _ = serde_json::from_value::<SearchArgs>(v.clone());
    let _ = serde_json::from_value::<PassageArgs>(v.clone());
    let _ = serde_json::from_value::<TextArgs>(v.clone());
    let _ = serde_json::from_value::<CodeArgs>(v.clone());
    let _ = serde_json::from_value::<NeighborArgs>(v.clone());
    let _ = serde_json::from_value::<AssignArgs>(v.clone());
    let _ = serde_json::from_value::<RareArgs>(v.clone());
    let _ = serde_json::from_value::<QuestionArgs>(v.clone());
    let shown = passages();
    let (drafts, _removed) = clinrag_agents::fuzzing::parse_generative(&v, &shown);
    for d in &drafts {
        for c in &d.citations {
            let p = shown
                .iter()
                .find(|p| p.n == c.passage)
                .expect("citation of a passage that was not shown");
            assert_eq!(c.doc_id, p.doc_id);
            assert!(p.start <= c.start && c.start <= c.end && c.end <= p.end);
            let want: String = p
                .text
                .chars()
                .skip(c.start - p.start)
                .take(c.end - c.start)
                .collect();
            assert_eq!(
                c.quote, want,
                "citation quote is not the passage's characters"
            );
        }
    }
    let verifier = Verifier::new(&shown, None);
    let (answer, _) = verifier.verify(drafts);
    for a in &answer {
        for c in &a.citations {
            assert!(
                verifier.check_citation(c).is_ok(),
                "verified answer kept a bad citation"
            );
        }
    }
});
