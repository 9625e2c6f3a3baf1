//! The orchestrator's router: which agent handles a free request (`clinrag ask` with a case
//! description goes to diagnosis, "code this ..." to coding, "summarize ..." to summarization,
//! anything else to question answering).
//!
//! Rules decide first (they are predictable and testable); a model, when given, is consulted
//! by constrained choice only for requests the rules leave as a plain question although they
//! are not phrased as one (no question mark, longer than a sentence).

use clinrag_llm_runtime::{ChatModel, Message, SamplingParams};
use serde::{Deserialize, Serialize};

use crate::prompts::{self, ROUTE};

/// The agent a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    Ask,
    Diagnose,
    Code,
    Summarize,
}

const ROUTES: [Route; 4] = [Route::Ask, Route::Diagnose, Route::Code, Route::Summarize];

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Ask => "ask",
            Route::Diagnose => "diagnose",
            Route::Code => "code",
            Route::Summarize => "summarize",
        }
    }
}

const CODE_MARKERS: &[&str] = &[
    "code this",
    "code the following",
    "assign codes",
    "assign icd",
    "icd-10 code",
    "icd-10-cm code",
    "icd10 code",
    "billing code",
    "atc code",
    "which codes",
];
const SUMMARY_STARTS: &[&str] = &["summarize", "summarise", "summary of", "give a summary"];
const CASE_MARKERS: &[&str] = &[
    "year-old",
    "year old",
    "yo male",
    "yo female",
    "y/o",
    "presents with",
    "presented with",
    "presenting with",
    "complains of",
    "admitted with",
    "on examination",
    "differential diagnosis",
    "differential for",
    "what could this patient have",
];

/// The route the rules give, and whether they were sure (a marker matched).
pub fn route_rules(text: &str) -> (Route, bool) {
    let t = text
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if CODE_MARKERS.iter().any(|m| t.contains(m)) {
        return (Route::Code, true);
    }
    if SUMMARY_STARTS.iter().any(|m| t.starts_with(m)) {
        return (Route::Summarize, true);
    }
    if CASE_MARKERS.iter().any(|m| t.contains(m)) {
        return (Route::Diagnose, true);
    }
    (Route::Ask, t.ends_with('?') || t.chars().count() < 120)
}

/// Routes `text`: rules first; `model` (constrained choice) only when the rules are unsure.
pub async fn route(text: &str, model: Option<&dyn ChatModel>) -> Route {
    let (r, sure) = route_rules(text);
    if sure {
        return r;
    }
    let Some(model) = model else {
        return r;
    };
    let messages = vec![
        Message::system(ROUTE.text),
        Message::user(prompts::fence_numbered([(1, text)])),
    ];
    let options: Vec<String> = ROUTES.iter().map(|r| r.as_str().to_string()).collect();
    match model
        .choose(messages, options, SamplingParams::greedy(4))
        .await
    {
        Ok(i) => ROUTES.get(i).copied().unwrap_or(r),
        Err(e) => {
            tracing::warn!("routing model failed ({e}); rules kept");
            r
        }
    }
}

/// The request without its routing phrase ("code this: ...", "summarize: ...").
pub fn strip_directive(text: &str) -> &str {
    let lower = text.to_lowercase();
    for m in CODE_MARKERS.iter().chain(SUMMARY_STARTS) {
        if lower.starts_with(m)
            && let Some(rest) = text.get(m.len()..)
        {
            return rest.trim_start_matches([':', ' ', '\n', '-', ',']).trim();
        }
    }
    text.trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScriptedModel;

    #[test]
    fn rule_cases() {
        let cases = [
            ("What causes Marfan syndrome?", Route::Ask),
            ("Code this: type 2 diabetes with neuropathy", Route::Code),
            ("Which ICD-10 code fits acute MI?", Route::Code),
            ("Summarize: the patient was admitted ...", Route::Summarize),
            (
                "A 12-year-old boy presents with tall stature, arachnodactyly and lens dislocation.",
                Route::Diagnose,
            ),
            (
                "Patient complains of chest pain radiating to the left arm",
                Route::Diagnose,
            ),
        ];
        for (t, want) in cases {
            assert_eq!(route_rules(t).0, want, "{t}");
        }
        assert_eq!(
            strip_directive("Code this: type 2 diabetes"),
            "type 2 diabetes"
        );
        assert_eq!(strip_directive("summarize - note text"), "note text");
        assert_eq!(strip_directive("plain"), "plain");
    }

    #[tokio::test]
    async fn model_only_decides_unsure_requests() {
        let unsure = "Tall thin teenager with long fingers, lens problems and a widened aortic root found on echocardiography at the clinic last week";
        let m = ScriptedModel::new(["diagnose"]);
        assert_eq!(route(unsure, Some(&m)).await, Route::Diagnose);
        // A sure rule is never overridden, even by a model that would say otherwise.
        let m = ScriptedModel::new(["code"]);
        assert_eq!(
            route("What causes Marfan syndrome?", Some(&m)).await,
            Route::Ask
        );
        assert!(m.prompts().is_empty());
        // An out-of-range answer keeps the rules' route.
        let m = ScriptedModel::new(["9"]);
        assert_eq!(route(unsure, Some(&m)).await, Route::Ask);
    }
}
