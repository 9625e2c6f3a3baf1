//! Evaluation of a ranking scheme on labelled cases: top-k accuracy, ranks, calibration and speed.

use serde::Serialize;

use crate::annotations::DiseaseId;
use crate::index::RareIndex;
use crate::rank::{RankConfig, Scheme};
use crate::simulate::Case;

/// One calibration bin: cases whose top candidate had a posterior in `[lo, hi)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Cases in the bin.
    pub cases: usize,
    /// Mean posterior of the top candidate.
    pub mean_posterior: f64,
    /// Fraction of these cases whose top candidate was right.
    pub top1_accuracy: f64,
}

/// Results of one evaluation run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// Scheme evaluated.
    pub scheme: Scheme,
    /// Cases given.
    pub cases: usize,
    /// Cases evaluated (the rest had an unknown disease or no usable term).
    pub evaluated: usize,
    /// Cases skipped, with reasons (first 20).
    pub skipped: Vec<String>,
    /// Fraction with the true disease ranked first.
    pub top1: f64,
    /// ... within the first 3.
    pub top3: f64,
    /// ... within the first 10.
    pub top10: f64,
    /// Median rank of the true disease (ties count half).
    pub median_rank: f64,
    /// Mean reciprocal rank.
    pub mrr: f64,
    /// Mean milliseconds per case (prepare + score of all diseases), single thread.
    pub ms_per_case: f64,
    /// Reliability of the top-1 posterior (scheme lr only).
    pub calibration: Vec<CalibrationBin>,
}

/// Outcome of one case.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CaseResult {
    /// Rank of the true disease (1-based; ties count half).
    pub rank: f64,
    /// Whether the top candidate was right, and its posterior (scheme lr only).
    pub top1: Option<(bool, f64)>,
}

/// Outcome for each case, or why it was skipped.
pub fn case_ranks(
    index: &RareIndex,
    cases: &[Case],
    cfg: &RankConfig,
) -> Vec<Result<CaseResult, String>> {
    cases
        .iter()
        .enumerate()
        .map(|(n, c)| {
            let name = c.id.clone().unwrap_or_else(|| format!("case {}", n + 1));
            let did = DiseaseId::parse(&c.disease)
                .ok_or_else(|| format!("{name}: '{}' is not OMIM:n or ORPHA:n", c.disease))?;
            let di = index
                .disease_index(did)
                .ok_or_else(|| format!("{name}: {did} is not in phenotype.hpoa"))?;
            let q = index
                .prepare(&c.present, &c.excluded)
                .map_err(|e| format!("{name}: {e}"))?;
            let s = index.score(&q, cfg);
            let rank = s.rank_of(di);
            let cal = s.posteriors().and_then(|p| {
                let top = s.top(1);
                top.first().map(|&t| (t == di, p[t]))
            });
            Ok(CaseResult { rank, top1: cal })
        })
        .collect()
}

/// Evaluates a scheme on cases.
pub fn evaluate(index: &RareIndex, cases: &[Case], cfg: &RankConfig) -> EvalReport {
    let t = std::time::Instant::now();
    let results = case_ranks(index, cases, cfg);
    let elapsed = t.elapsed().as_secs_f64() * 1e3;
    let mut ranks = Vec::new();
    let mut cal = Vec::new();
    let mut skipped = Vec::new();
    for r in results {
        match r {
            Ok(r) => {
                ranks.push(r.rank);
                if let Some(c) = r.top1 {
                    cal.push(c);
                }
            }
            Err(e) => {
                if skipped.len() < 20 {
                    skipped.push(e);
                }
            }
        }
    }
    let n = ranks.len();
    let frac = |k: f64| {
        if n == 0 {
            0.0
        } else {
            ranks.iter().filter(|&&r| r <= k).count() as f64 / n as f64
        }
    };
    let mut sorted = ranks.clone();
    sorted.sort_by(f64::total_cmp);
    let median = match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    };
    let mrr = if n == 0 {
        0.0
    } else {
        ranks.iter().map(|r| 1.0 / r).sum::<f64>() / n as f64
    };
    let edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0000001];
    let calibration = if cal.is_empty() {
        Vec::new()
    } else {
        edges
            .windows(2)
            .filter_map(|w| {
                let inb: Vec<&(bool, f64)> = cal
                    .iter()
                    .filter(|(_, p)| *p >= w[0] && *p < w[1])
                    .collect();
                (!inb.is_empty()).then(|| CalibrationBin {
                    lo: w[0],
                    hi: w[1].min(1.0),
                    cases: inb.len(),
                    mean_posterior: inb.iter().map(|(_, p)| p).sum::<f64>() / inb.len() as f64,
                    top1_accuracy: inb.iter().filter(|(ok, _)| *ok).count() as f64
                        / inb.len() as f64,
                })
            })
            .collect()
    };
    EvalReport {
        scheme: cfg.scheme,
        cases: cases.len(),
        evaluated: n,
        skipped,
        top1: frac(1.0),
        top3: frac(3.0),
        top10: frac(10.0),
        median_rank: median,
        mrr,
        ms_per_case: if cases.is_empty() {
            0.0
        } else {
            elapsed / cases.len() as f64
        },
        calibration,
    }
}
