//! Evaluation over JSONL cases `{"text","gold":[codes],"kind"?}`: exact top-1, top-5 and
//! category (first three characters) accuracy, per `kind` (e.g. generic vs brand names) and
//! overall, with the latency per case.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::Coding;
use crate::error::{CodingError, Result};

/// One evaluation case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// The text to code.
    pub text: String,
    /// Gold codes; empty when the text has nothing to code.
    pub gold: Vec<String>,
    /// A group name ("generic", "brand", "abbreviation", "note", ...).
    #[serde(default)]
    pub kind: Option<String>,
}

/// Reads cases from a JSONL file (blank lines and lines starting with `#` are skipped).
pub fn read_cases(path: &Path) -> Result<Vec<Case>> {
    let text = std::fs::read_to_string(path).map_err(|source| CodingError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_cases(&text, path)
}

/// Parses JSONL case text; `path` names the source in errors.
pub fn parse_cases(text: &str, path: &Path) -> Result<Vec<Case>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let case: Case = serde_json::from_str(line).map_err(|e| CodingError::Cases {
            path: path.to_path_buf(),
            line: i + 1,
            message: format!("not a case: {e}"),
        })?;
        out.push(case);
    }
    Ok(out)
}

/// Accuracy figures of one group of cases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Number of cases.
    pub n: usize,
    /// The first code is a gold code (for cases without gold: no code returned).
    pub top1: f64,
    /// Share of the gold codes found in the first max(5, gold count) codes.
    pub top5: f64,
    /// The first code's category (first three characters) is a gold category.
    pub category: f64,
    /// Mean latency per case, milliseconds.
    pub mean_ms: f64,
    /// Median latency, milliseconds.
    #[serde(default)]
    pub p50_ms: f64,
    /// 95th percentile latency, milliseconds.
    pub p95_ms: f64,
}

/// The report: overall and per kind, plus the failures (for error analysis).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// All cases.
    pub overall: Scores,
    /// Per `kind`.
    pub by_kind: BTreeMap<String, Scores>,
    /// Cases whose top-1 is wrong: (text, gold, predicted first five).
    pub misses: Vec<(String, Vec<String>, Vec<String>)>,
}

#[derive(Default)]
struct Acc {
    n: usize,
    top1: f64,
    top5: f64,
    cat: f64,
    ms: Vec<f64>,
}

impl Acc {
    fn scores(&mut self) -> Scores {
        let n = self.n.max(1) as f64;
        self.ms.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            self.ms
                .get(((self.ms.len() as f64 * p).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(0.0)
        };
        let (p50, p95) = (pct(0.5), pct(0.95));
        Scores {
            n: self.n,
            top1: self.top1 / n,
            top5: self.top5 / n,
            category: self.cat / n,
            mean_ms: self.ms.iter().sum::<f64>() / n,
            p50_ms: p50,
            p95_ms: p95,
        }
    }
}

/// Runs `coder` over `cases` and scores it.
pub fn evaluate(cases: &[Case], mut coder: impl FnMut(&str) -> Coding) -> Report {
    let mut all = Acc::default();
    let mut kinds: BTreeMap<String, Acc> = BTreeMap::new();
    let mut misses = Vec::new();
    for case in cases {
        let t = Instant::now();
        let coding = coder(&case.text);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let pred: Vec<String> = coding
            .codes
            .iter()
            .map(|c| c.code.to_ascii_uppercase())
            .collect();
        let gold: Vec<String> = case
            .gold
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect();
        let (t1, t5, cat) = if gold.is_empty() {
            let ok = f64::from(u8::from(pred.is_empty()));
            (ok, ok, ok)
        } else {
            let t1 = pred.first().is_some_and(|p| gold.contains(p));
            let window = 5.max(gold.len());
            let found = gold
                .iter()
                .filter(|g| pred.iter().take(window).any(|p| p == *g))
                .count();
            let cat = pred
                .first()
                .is_some_and(|p| gold.iter().any(|g| g.get(..3) == p.get(..3)));
            (
                f64::from(u8::from(t1)),
                found as f64 / gold.len() as f64,
                f64::from(u8::from(cat)),
            )
        };
        if t1 < 1.0 {
            misses.push((
                case.text.clone(),
                gold.clone(),
                pred.iter().take(5).cloned().collect(),
            ));
        }
        for acc in [
            Some(&mut all),
            case.kind
                .as_ref()
                .map(|k| kinds.entry(k.clone()).or_default()),
        ]
        .into_iter()
        .flatten()
        {
            acc.n += 1;
            acc.top1 += t1;
            acc.top5 += t5;
            acc.cat += cat;
            acc.ms.push(ms);
        }
    }
    Report {
        overall: all.scores(),
        by_kind: kinds
            .into_iter()
            .map(|(k, mut a)| (k, a.scores()))
            .collect(),
        misses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CodeResult;

    fn coding(codes: &[&str]) -> Coding {
        Coding {
            codes: codes
                .iter()
                .map(|c| CodeResult {
                    code: c.to_string(),
                    system: "X".into(),
                    title: String::new(),
                    score: 1.0,
                    evidence: vec![],
                    primary: true,
                    rationale: String::new(),
                    notes: vec![],
                })
                .collect(),
            warnings: vec![],
        }
    }

    #[test]
    fn scores_top1_top5_category_and_empty_gold() {
        let cases = parse_cases(
            "{\"text\":\"a\",\"gold\":[\"I21.4\"],\"kind\":\"x\"}\n# comment\n{\"text\":\"b\",\"gold\":[\"E11.9\"]}\n{\"text\":\"c\",\"gold\":[]}\n",
            Path::new("c.jsonl"),
        )
        .unwrap();
        let r = evaluate(&cases, |t| match t {
            "a" => coding(&["I21.4"]),
            "b" => coding(&["E11.65", "E11.9"]),
            _ => coding(&["R69"]),
        });
        assert_eq!(r.overall.n, 3);
        assert!((r.overall.top1 - 1.0 / 3.0).abs() < 1e-9);
        assert!((r.overall.top5 - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.overall.category - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.by_kind["x"].n, 1);
        assert_eq!(r.misses.len(), 2);
    }

    #[test]
    fn bad_line_names_file_and_line() {
        let err = parse_cases(
            "{\"text\":\"a\",\"gold\":[]}\nnot json\n",
            Path::new("c.jsonl"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("c.jsonl:2:"), "{err}");
    }
}
