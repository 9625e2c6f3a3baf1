//! The coding agent's final check (`clinrag code ... --agent`): after the coding pipeline and the
//! model's adjudication, every code must be a valid billable leaf of the loaded vocabulary and
//! carry at least one evidence span whose text is exactly the note's chars at its offsets.
//! Codes failing the check are removed, with a warning naming the code and the reason.

use clinrag_coding::Coding;
use clinrag_retrieval::char_slice;

/// Removes codes that are not billable leaves (`is_billable_leaf`) or lack an exact evidence
/// span in `text`; returns how many were removed.
pub fn final_check(
    coding: &mut Coding,
    text: &str,
    is_billable_leaf: impl Fn(&str) -> bool,
) -> usize {
    let before = coding.codes.len();
    let mut warnings = Vec::new();
    coding.codes.retain(|c| {
        if !is_billable_leaf(&c.code) {
            warnings.push(format!(
                "{} removed by the final check: not a billable leaf of the loaded vocabulary",
                c.code
            ));
            return false;
        }
        let exact = c
            .evidence
            .iter()
            .any(|e| e.start < e.end && char_slice(text, e.start, e.end) == Some(e.text.as_str()));
        if !exact {
            warnings.push(format!(
                "{} removed by the final check: no evidence span matches the text",
                c.code
            ));
        }
        exact
    });
    coding.warnings.extend(warnings);
    before - coding.codes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clinrag_coding::{CodeResult, Evidence};

    fn code(c: &str, start: usize, end: usize, ev: &str) -> CodeResult {
        CodeResult {
            code: c.into(),
            system: "ICD-10-CM".into(),
            title: String::new(),
            score: 1.0,
            evidence: vec![Evidence {
                start,
                end,
                text: ev.into(),
            }],
            primary: true,
            rationale: String::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn final_check_cases() {
        let text = "Type 2 diabetes and essential hypertension.";
        let mut c = Coding {
            codes: vec![
                code("E11.9", 0, 15, "Type 2 diabetes"),
                code("I10", 20, 42, "essential hypertension"),
                code("E11", 0, 15, "Type 2 diabetes"), // category, not billable
                code("Z99.99", 0, 4, "Type"),          // not in the vocabulary
                code("I21.4", 0, 15, "Myocardial infarc"), // evidence does not match the text
            ],
            warnings: Vec::new(),
        };
        let billable = |c: &str| ["E11.9", "I10", "I21.4"].contains(&c);
        assert_eq!(final_check(&mut c, text, billable), 3);
        let kept: Vec<&str> = c.codes.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(kept, ["E11.9", "I10"]);
        assert_eq!(c.warnings.len(), 3);
        assert!(c.warnings[2].contains("I21.4") && c.warnings[2].contains("evidence"));
    }
}
