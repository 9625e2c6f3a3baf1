//! Ranking all diseases for a patient's present and excluded phenotypes, with explanations.
//!
//! Two scoring schemes share one precomputed table per query: for every patient term `q` and
//! every ontology term `t`, the information content of their most informative common ancestor
//! (Resnik), computed in one top-down pass over the ontology per patient term.
//!
//! * [`Scheme::LikelihoodRatio`] (default): each present term contributes
//!   `LR(q|D) = (1-α)·max_d f(d)·exp(IC(MICA(q,d))) + α`, i.e. `P(q|D)/P(q)` where the disease
//!   explains `q` through its phenotype `d` seen with frequency `f(d)`, `P(q|d) = P(q)/P(MICA)`,
//!   and `α` absorbs noise terms. Excluded terms the disease usually has, hallmark disease
//!   phenotypes (frequency ≥ 0.8 by default) the patient does not show, and present terms the disease is
//!   annotated NOT to have are penalised. The score is the log10 likelihood ratio; with a uniform
//!   prior over diseases it yields a posterior probability.
//! * [`Scheme::BestMatchAverage`]: symmetric best-match average of Resnik similarities, the
//!   classic semantic-similarity ranking (kept for comparison).

use serde::Serialize;

use crate::annotations::DiseaseId;
use crate::error::PhenotypeError;
use crate::index::RareIndex;
use crate::ontology::{HpoId, PHENOTYPIC_ABNORMALITY};

/// Most terms accepted in one query (present and excluded together).
pub const MAX_QUERY_TERMS: usize = 1000;

/// Scoring scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Likelihood ratio with frequencies and penalties (default).
    LikelihoodRatio,
    /// Symmetric best-match average of Resnik similarity.
    BestMatchAverage,
}

impl std::str::FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lr" | "likelihood_ratio" => Ok(Scheme::LikelihoodRatio),
            "bma" | "best_match_average" => Ok(Scheme::BestMatchAverage),
            other => Err(format!("unknown scheme '{other}' (lr or bma)")),
        }
    }
}

/// Scoring parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RankConfig {
    /// Scheme.
    pub scheme: Scheme,
    /// α: probability that a present term is noise unrelated to the disease.
    pub noise: f32,
    /// Frequency from which a disease phenotype counts as a hallmark.
    pub hallmark_frequency: f32,
    /// β in `LR = 1 - β·f·(1 - coverage)` for each hallmark the patient does not show (0 disables).
    pub hallmark_weight: f32,
    /// Scale the hallmark penalty by the chance that a listed phenotype list this short would
    /// mention a given feature: `min(1, present terms / Σ disease frequencies)`.
    pub sampling_aware: bool,
    /// λ: weight of a partial match, where the patient term and the disease phenotype only share an
    /// ancestor (neither is an ancestor of the other); 1 treats it like a more specific observation.
    pub partial_match: f32,
    /// Smallest likelihood ratio one excluded term can contribute.
    pub excluded_floor: f32,
    /// Likelihood ratio of a present term the disease is annotated NOT to have.
    pub contradiction_lr: f32,
}

impl Default for RankConfig {
    fn default() -> Self {
        RankConfig {
            scheme: Scheme::LikelihoodRatio,
            noise: 0.01,
            hallmark_frequency: 0.8,
            hallmark_weight: 0.25,
            sampling_aware: false,
            partial_match: 0.2,
            excluded_floor: 0.05,
            contradiction_lr: 0.05,
        }
    }
}

/// A validated query: current phenotypic-abnormality terms, de-duplicated, with notes on what was changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PreparedQuery {
    #[serde(skip)]
    present: Vec<u32>,
    #[serde(skip)]
    excluded: Vec<u32>,
    /// Present terms used.
    pub present_ids: Vec<HpoId>,
    /// Excluded terms used.
    pub excluded_ids: Vec<HpoId>,
    /// What was mapped, dropped or ignored, and why.
    pub warnings: Vec<String>,
}

/// A term with its name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TermRef {
    /// `HP:nnnnnnn`.
    pub id: HpoId,
    /// Preferred name.
    pub name: String,
}

/// A patient term and the disease phenotype that explains it best.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchedPair {
    /// The patient's term.
    pub patient: TermRef,
    /// The disease's phenotype.
    pub disease: TermRef,
    /// Their most informative common ancestor.
    pub mica: TermRef,
    /// IC of the MICA (Resnik similarity, natural log units).
    pub ic: f64,
    /// Frequency of the disease phenotype.
    pub frequency: f64,
}

/// A disease phenotype with its frequency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiseasePhenotype {
    /// The phenotype.
    pub term: TermRef,
    /// Its frequency in the disease.
    pub frequency: f64,
}

/// One ranked disease.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// 1-based rank.
    pub rank: usize,
    /// `OMIM:n` or `ORPHA:n`.
    pub id: DiseaseId,
    /// Disease name.
    pub name: String,
    /// log10 likelihood ratio (scheme lr) or similarity (scheme bma).
    pub score: f64,
    /// Posterior probability with a uniform prior over all diseases (scheme lr only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posterior: Option<f64>,
    /// Best-matching disease phenotype for each present term that the disease explains.
    pub matched: Vec<MatchedPair>,
    /// Hallmark disease phenotypes (frequent) the patient does not show.
    pub not_observed: Vec<DiseasePhenotype>,
    /// Patient-excluded terms that this disease usually has.
    pub excluded_but_expected: Vec<DiseasePhenotype>,
    /// Present terms this disease is annotated NOT to have.
    pub contradicted: Vec<TermRef>,
}

/// The answer to one query.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ranking {
    /// Best first.
    pub candidates: Vec<Candidate>,
    /// The query as used.
    pub query: PreparedQuery,
    /// Diseases scored.
    pub diseases_scored: usize,
    /// Scheme used.
    pub scheme: Scheme,
}

/// Scores of every disease for one query (index order), plus what explanations need.
#[derive(Clone, Debug)]
pub struct Scores {
    /// One score per disease, index order (ln LR for lr, similarity for bma).
    pub values: Vec<f64>,
    scheme: Scheme,
}

impl Scores {
    /// Rank (1-based) of the disease at `i`: one plus the diseases scoring strictly higher plus half the ties.
    pub fn rank_of(&self, i: usize) -> f64 {
        let s = self.values[i];
        let (mut gt, mut eq) = (0usize, 0usize);
        for &v in &self.values {
            if v > s {
                gt += 1;
            } else if v == s {
                eq += 1;
            }
        }
        1.0 + gt as f64 + (eq.saturating_sub(1)) as f64 / 2.0
    }

    /// Indices of the best `k` diseases, best first (ties by index order).
    pub fn top(&self, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.values.len()).collect();
        let cmp = |a: &usize, b: &usize| {
            self.values[*b]
                .total_cmp(&self.values[*a])
                .then_with(|| a.cmp(b))
        };
        let k = k.min(idx.len());
        if k == 0 {
            return Vec::new();
        }
        if k < idx.len() {
            idx.select_nth_unstable_by(k - 1, cmp);
            idx.truncate(k);
        }
        idx.sort_unstable_by(cmp);
        idx
    }

    /// Posterior probabilities (uniform prior) for scheme lr; `None` for bma.
    pub fn posteriors(&self) -> Option<Vec<f64>> {
        if self.scheme != Scheme::LikelihoodRatio {
            return None;
        }
        let m = self
            .values
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        if !m.is_finite() {
            return None;
        }
        let z: f64 = self.values.iter().map(|&v| (v - m).exp()).sum();
        Some(self.values.iter().map(|&v| (v - m).exp() / z).collect())
    }
}

/// A product of many positive factors kept as `log + ln(prod)`, folding into the log only when
/// the running product nears the limits of f64 (so one `ln` per disease instead of one per factor).
struct LogProduct {
    log: f64,
    prod: f64,
}

impl LogProduct {
    fn new() -> Self {
        LogProduct {
            log: 0.0,
            prod: 1.0,
        }
    }

    #[inline]
    fn mul(&mut self, x: f64) {
        self.prod *= x;
        if !(1e-250..=1e250).contains(&self.prod) {
            self.log += self.prod.ln();
            self.prod = 1.0;
        }
    }

    fn ln(&self) -> f64 {
        self.log + self.prod.ln()
    }
}

impl RareIndex {
    /// Validates and normalises a query. Unknown, malformed and non-phenotype ids are dropped with a
    /// warning; obsolete ids are mapped through `replaced_by` with a warning; an excluded term that is
    /// also observed (itself or through a more specific present term) is dropped with a warning;
    /// present terms implied by a more specific present term are counted once.
    /// Fails (caller's fault) when no usable present term remains or the query is too large.
    pub fn prepare<S: AsRef<str>>(
        &self,
        present: &[S],
        excluded: &[S],
    ) -> Result<PreparedQuery, PhenotypeError> {
        let total = present.len() + excluded.len();
        if total > MAX_QUERY_TERMS {
            return Err(PhenotypeError::BadRequest(format!(
                "too many terms: {total} (at most {MAX_QUERY_TERMS} present and excluded together)"
            )));
        }
        let mut warnings = Vec::new();
        let resolve = |list: &[S], what: &str, warnings: &mut Vec<String>| -> Vec<u32> {
            let mut out: Vec<u32> = Vec::new();
            for s in list {
                let s = s.as_ref();
                match self.ontology.resolve_str(s) {
                    Err(e) => warnings.push(format!("{what} term {e}; ignored")),
                    Ok(r) => {
                        if let Some(n) = r.note() {
                            warnings.push(n);
                        }
                        let Some(t) = self.ontology.index_of(r.id) else {
                            warnings.push(format!("no such HPO term: {}; ignored", r.id));
                            continue;
                        };
                        if !self.phenotypic[t as usize] {
                            warnings.push(format!(
                                "{} ({}) is not under Phenotypic abnormality (HP:0000118); ignored",
                                r.id,
                                self.term_name(t)
                            ));
                            continue;
                        }
                        if out.contains(&t) {
                            warnings.push(format!("{} given twice as {what}; counted once", r.id));
                            continue;
                        }
                        out.push(t);
                    }
                }
            }
            out
        };
        let present_in = resolve(present, "present", &mut warnings);
        let excluded_in = resolve(excluded, "excluded", &mut warnings);
        // contradictions: excluded term that is a present term or an ancestor of one
        let mut excl = Vec::new();
        for &e in &excluded_in {
            match present_in.iter().find(|&&p| self.is_anc_or_self(e, p)) {
                Some(&p) => warnings.push(if p == e {
                    format!(
                        "{} ({}) is both present and excluded; the exclusion is ignored",
                        self.term_id(e),
                        self.term_name(e)
                    )
                } else {
                    format!(
                        "{} ({}) is excluded but the present term {} ({}) implies it; the exclusion is ignored",
                        self.term_id(e),
                        self.term_name(e),
                        self.term_id(p),
                        self.term_name(p)
                    )
                }),
                None => excl.push(e),
            }
        }
        // redundant present terms: a strict ancestor of another present term
        let mut pres = Vec::new();
        for &p in &present_in {
            match present_in
                .iter()
                .find(|&&o| o != p && self.is_anc_or_self(p, o))
            {
                Some(&o) => warnings.push(format!(
                    "{} is implied by the more specific {}; counted once",
                    self.term_id(p),
                    self.term_id(o)
                )),
                None => pres.push(p),
            }
        }
        if pres.is_empty() {
            let why = if present.is_empty() {
                "no phenotype given: pass at least one present HPO term".to_string()
            } else {
                format!(
                    "none of the present terms is usable: {}",
                    warnings.join("; ")
                )
            };
            return Err(PhenotypeError::BadRequest(why));
        }
        Ok(PreparedQuery {
            present_ids: pres.iter().map(|&t| self.term_id(t)).collect(),
            excluded_ids: excl.iter().map(|&t| self.term_id(t)).collect(),
            present: pres,
            excluded: excl,
            warnings,
        })
    }

    /// For each query term (present then excluded), the IC of the MICA with every ontology term:
    /// one top-down pass per query term. Layout `[term][column]`; values are `exp(IC)` for lr.
    fn mica_table(&self, cols: &[u32], exp: bool) -> Vec<f32> {
        let n = self.ic.len();
        let nc = cols.len();
        let mut table = vec![0f32; n * nc];
        let mut f = vec![0f32; n];
        let mut stamp = vec![false; n];
        for (c, &q) in cols.iter().enumerate() {
            for &a in self.anc_of(q) {
                stamp[a as usize] = true;
            }
            // exp is monotone, so propagating exp(IC) directly gives exp(IC(MICA)) without calling exp
            let (vals, floor) = if exp {
                (&self.exp_ic, 1.0)
            } else {
                (&self.ic, 0.0)
            };
            for &t in self.ontology.topo_idx() {
                let t = t as usize;
                let v = if stamp[t] {
                    vals[t]
                } else {
                    self.ontology
                        .parent_idx(t as u32)
                        .iter()
                        .map(|&p| f[p as usize])
                        .fold(floor, f32::max)
                };
                f[t] = v;
                table[t * nc + c] = v;
            }
            for &a in self.anc_of(q) {
                stamp[a as usize] = false;
            }
        }
        table
    }

    /// Scores every disease.
    pub fn score(&self, q: &PreparedQuery, cfg: &RankConfig) -> Scores {
        self.score_with_table(q, cfg).0
    }

    fn query_columns(q: &PreparedQuery, cfg: &RankConfig) -> Vec<u32> {
        match cfg.scheme {
            Scheme::LikelihoodRatio => q.present.iter().chain(q.excluded.iter()).copied().collect(),
            Scheme::BestMatchAverage => q.present.clone(),
        }
    }

    fn score_with_table(&self, q: &PreparedQuery, cfg: &RankConfig) -> (Scores, Vec<f32>) {
        let cols = Self::query_columns(q, cfg);
        let table = self.mica_table(&cols, cfg.scheme == Scheme::LikelihoodRatio);
        let values = match cfg.scheme {
            Scheme::LikelihoodRatio => self.score_lr(q, cfg, &cols, &table),
            Scheme::BestMatchAverage => self.score_bma(q, &table),
        };
        (
            Scores {
                values,
                scheme: cfg.scheme,
            },
            table,
        )
    }

    fn score_lr(
        &self,
        q: &PreparedQuery,
        cfg: &RankConfig,
        cols: &[u32],
        table: &[f32],
    ) -> Vec<f64> {
        let np = q.present.len();
        let nc = cols.len();
        let alpha = cfg.noise.clamp(1e-6, 1.0);
        let exact: Vec<f32> = cols
            .iter()
            .map(|&c| self.exp_ic[c as usize] * (1.0 - 1e-5))
            .collect();
        let bg_ex: Vec<f64> = q
            .excluded
            .iter()
            .map(|&c| 1.0 / f64::from(self.exp_ic[c as usize]))
            .collect();
        let hallmark_on = cfg.hallmark_weight > 0.0;
        let lambda = cfg.partial_match.clamp(0.0, 1.0);
        let (hf, hw) = (cfg.hallmark_frequency, cfg.hallmark_weight);
        let contradiction = f64::from(cfg.contradiction_lr.max(1e-6));
        let mut best = vec![0f32; nc];
        let mut out = Vec::with_capacity(self.ids.len());
        for i in 0..self.ids.len() {
            best.iter_mut().for_each(|b| *b = 0.0);
            let mut acc = LogProduct::new();
            let r = self.d_range(i);
            let hw = if cfg.sampling_aware {
                hw * (np as f32 / self.d_fsum[i].max(1e-3)).min(1.0)
            } else {
                hw
            };
            for (&t, &f) in self.d_term[r.clone()].iter().zip(&self.d_freq[r]) {
                let t = t as usize;
                let row = &table[t * nc..t * nc + nc];
                let mut cover = 0f32;
                let own = self.exp_ic[t] * (1.0 - 1e-5);
                for ((b, &v), &ex) in best[..np].iter_mut().zip(&row[..np]).zip(&exact[..np]) {
                    // exact or patient less specific (MICA = q), patient more specific (MICA = t), else partial
                    let x = if v >= ex || v >= own {
                        f * v
                    } else {
                        lambda * f * v
                    };
                    if x > *b {
                        *b = x;
                    }
                    if v > cover {
                        cover = v;
                    }
                }
                for c in np..nc {
                    // the disease has the excluded term (or a more specific one) with frequency f
                    if row[c] >= exact[c] && f > best[c] {
                        best[c] = f;
                    }
                }
                if hallmark_on && f >= hf {
                    // coverage = P(t | the patient's closest term) = exp(IC(MICA) - IC(t))
                    let coverage = (cover * self.inv_exp_ic[t]).min(1.0);
                    acc.mul(f64::from((1.0 - hw * f * (1.0 - coverage)).max(1e-3)));
                }
            }
            for &b in &best[..np] {
                acc.mul(f64::from((1.0 - alpha) * b + alpha));
            }
            for (k, c) in (np..nc).enumerate() {
                let bg = bg_ex[k].min(0.95);
                acc.mul(
                    ((1.0 - f64::from(best[c])) / (1.0 - bg)).max(f64::from(cfg.excluded_floor)),
                );
            }
            // present terms the disease is annotated NOT to have (or a descendant of such a term)
            for x in self.x_range(i) {
                let xt = self.x_term[x] as usize;
                let row = &table[xt * nc..xt * nc + nc];
                for c in 0..np {
                    if row[c] >= self.exp_ic[xt] * (1.0 - 1e-5)
                        && self.is_anc_or_self(xt as u32, cols[c])
                    {
                        acc.mul(contradiction);
                    }
                }
            }
            out.push(acc.ln());
        }
        out
    }

    fn score_bma(&self, q: &PreparedQuery, table: &[f32]) -> Vec<f64> {
        let np = q.present.len();
        let mut best = vec![0f32; np];
        let mut out = Vec::with_capacity(self.ids.len());
        for i in 0..self.ids.len() {
            best.iter_mut().for_each(|b| *b = 0.0);
            let r = self.d_range(i);
            if r.is_empty() {
                out.push(0.0);
                continue;
            }
            let nd = r.len();
            let mut d2p = 0f64;
            for j in r {
                let t = self.d_term[j] as usize;
                let row = &table[t * np..t * np + np];
                let mut m = 0f32;
                for c in 0..np {
                    let v = row[c];
                    if v > best[c] {
                        best[c] = v;
                    }
                    if v > m {
                        m = v;
                    }
                }
                d2p += f64::from(m);
            }
            let p2d: f64 = best.iter().map(|&b| f64::from(b)).sum::<f64>() / np as f64;
            out.push(0.5 * (p2d + d2p / nd as f64));
        }
        out
    }

    /// Ranks all diseases and explains the best `k`.
    pub fn rank(&self, q: &PreparedQuery, cfg: &RankConfig, k: usize) -> Ranking {
        let (scores, table) = self.score_with_table(q, cfg);
        let nc = Self::query_columns(q, cfg).len();
        let post = scores.posteriors();
        let candidates = scores
            .top(k)
            .into_iter()
            .enumerate()
            .map(|(r, i)| {
                let mut c = self.explain(q, cfg, i, &table, nc);
                c.rank = r + 1;
                c.score = match cfg.scheme {
                    Scheme::LikelihoodRatio => scores.values[i] / std::f64::consts::LN_10,
                    Scheme::BestMatchAverage => scores.values[i],
                };
                c.posterior = post.as_ref().map(|p| p[i]);
                c
            })
            .collect();
        Ranking {
            candidates,
            query: q.clone(),
            diseases_scored: self.ids.len(),
            scheme: cfg.scheme,
        }
    }

    fn tref(&self, t: u32) -> TermRef {
        TermRef {
            id: self.term_id(t),
            name: self.term_name(t).to_string(),
        }
    }

    /// Explanation of one disease for a query (rank and score left at 0), read off the query's MICA table.
    fn explain(
        &self,
        q: &PreparedQuery,
        cfg: &RankConfig,
        i: usize,
        table: &[f32],
        nc: usize,
    ) -> Candidate {
        let range = self.d_range(i);
        let lr = cfg.scheme == Scheme::LikelihoodRatio;
        // table values are exp(IC) for lr and IC for bma
        let vals = if lr { &self.exp_ic } else { &self.ic };
        let lambda = cfg.partial_match.clamp(0.0, 1.0);
        let exact: Vec<f32> = q
            .present
            .iter()
            .map(|&p| vals[p as usize] * (1.0 - 1e-5))
            .collect();
        let mut matched = Vec::new();
        for (c, &p) in q.present.iter().enumerate() {
            let mut best: Option<(f32, usize)> = None;
            for j in range.clone() {
                let t = self.d_term[j] as usize;
                let v = table[t * nc + c];
                let key = if lr {
                    let full = v >= exact[c] || v >= vals[t] * (1.0 - 1e-5);
                    self.d_freq[j] * v * if full { 1.0 } else { lambda }
                } else {
                    v
                };
                if best.is_none_or(|(b, _)| key > b) {
                    best = Some((key, j));
                }
            }
            if let Some((_, j)) = best
                && let Some(m) = self.mica_idx(p, self.d_term[j])
            {
                let ic = f64::from(self.ic[m as usize]);
                // a match only through "Phenotypic abnormality" explains nothing
                if ic > 0.0 && self.term_id(m) != PHENOTYPIC_ABNORMALITY {
                    matched.push(MatchedPair {
                        patient: self.tref(p),
                        disease: self.tref(self.d_term[j]),
                        mica: self.tref(m),
                        ic,
                        frequency: f64::from(self.d_freq[j]),
                    });
                }
            }
        }
        matched.sort_by(|a, b| b.ic.total_cmp(&a.ic));
        let np = q.present.len();
        let mut not_observed: Vec<(f64, DiseasePhenotype)> = range
            .clone()
            .filter(|&j| self.d_freq[j] >= cfg.hallmark_frequency)
            .filter(|&j| {
                // no present term is this phenotype, an ancestor of it or a descendant of it
                let t = self.d_term[j] as usize;
                let own = vals[t] * (1.0 - 1e-5);
                !(0..np).any(|c| {
                    let v = table[t * nc + c];
                    v >= exact[c] || v >= own
                })
            })
            .map(|j| {
                let t = self.d_term[j];
                (
                    f64::from(self.d_freq[j]) * f64::from(self.ic[t as usize]),
                    DiseasePhenotype {
                        term: self.tref(t),
                        frequency: f64::from(self.d_freq[j]),
                    },
                )
            })
            .collect();
        not_observed.sort_by(|a, b| b.0.total_cmp(&a.0));
        let excluded_but_expected = q
            .excluded
            .iter()
            .filter_map(|&e| {
                let f = range
                    .clone()
                    .filter(|&j| self.is_anc_or_self(e, self.d_term[j]))
                    .map(|j| self.d_freq[j])
                    .fold(0f32, f32::max);
                (f >= 0.5).then(|| DiseasePhenotype {
                    term: self.tref(e),
                    frequency: f64::from(f),
                })
            })
            .collect();
        let contradicted = q
            .present
            .iter()
            .filter(|&&p| {
                self.x_range(i)
                    .any(|x| self.is_anc_or_self(self.x_term[x], p))
            })
            .map(|&p| self.tref(p))
            .collect();
        Candidate {
            rank: 0,
            id: self.ids[i],
            name: self.names[i].clone(),
            score: 0.0,
            posterior: None,
            matched,
            not_observed: not_observed.into_iter().take(8).map(|(_, d)| d).collect(),
            excluded_but_expected,
            contradicted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_product_survives_huge_and_tiny_factors() {
        let mut p = LogProduct::new();
        for _ in 0..1000 {
            p.mul(1e5);
        }
        assert!((p.ln() - 1000.0 * 1e5f64.ln()).abs() < 1e-6);
        let mut p = LogProduct::new();
        for _ in 0..1000 {
            p.mul(1e-5);
        }
        assert!((p.ln() + 1000.0 * 1e5f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn ranks_count_ties_half_and_top_is_stable() {
        let s = Scores {
            values: vec![1.0, 3.0, 3.0, 0.5, 3.0],
            scheme: Scheme::BestMatchAverage,
        };
        let cases = [(1, 1.0 + 1.0), (0, 4.0), (3, 5.0)];
        for (i, want) in cases {
            assert_eq!(s.rank_of(i), want, "index {i}");
        }
        assert_eq!(s.top(3), vec![1, 2, 4]);
        assert_eq!(s.top(10), vec![1, 2, 4, 0, 3]);
        assert_eq!(s.top(0), Vec::<usize>::new());
        assert!(s.posteriors().is_none());
        let lr = Scores {
            values: vec![0.0, 2.0_f64.ln()],
            scheme: Scheme::LikelihoodRatio,
        };
        let p = lr.posteriors().unwrap();
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-12 && (p[1] - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn scheme_names_parse() {
        assert_eq!("lr".parse::<Scheme>(), Ok(Scheme::LikelihoodRatio));
        assert_eq!("bma".parse::<Scheme>(), Ok(Scheme::BestMatchAverage));
        assert!("x".parse::<Scheme>().is_err());
    }
}
