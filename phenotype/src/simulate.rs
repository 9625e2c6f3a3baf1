//! Simulated patients for development and evaluation: phenotypes sampled from a disease's annotations.
//!
//! The standard recipe (Köhler et al. 2009): pick a disease, sample some of its phenotypes weighted
//! by frequency, replace some by a parent term (imprecision), add noise terms drawn from unrelated
//! diseases, and sometimes an excluded term the disease does not have. Deterministic for a seed.

use serde::{Deserialize, Serialize};

use crate::index::RareIndex;
use crate::ontology::PHENOTYPIC_ABNORMALITY;

/// A small, fast, deterministic generator (SplitMix64); good enough for sampling, not for secrets.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for this seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Simulation settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SimConfig {
    /// Random seed.
    pub seed: u64,
    /// Number of cases.
    pub cases: usize,
    /// Fewest true phenotypes per case.
    pub min_terms: usize,
    /// Most true phenotypes per case.
    pub max_terms: usize,
    /// Most noise terms per case (uniform in 0..=noise_max).
    pub noise_max: usize,
    /// Probability that a sampled phenotype is replaced by a parent term.
    pub imprecision: f64,
    /// Probability that a case carries one excluded term the disease does not have.
    pub excluded_probability: f64,
    /// Diseases with fewer phenotypes than this are not sampled.
    pub min_annotations: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            cases: 300,
            min_terms: 3,
            max_terms: 8,
            noise_max: 2,
            imprecision: 0.3,
            excluded_probability: 0.3,
            min_annotations: 3,
        }
    }
}

/// One evaluation case, as read from and written to JSONL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Case id (optional in input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Observed HPO terms.
    pub present: Vec<String>,
    /// Excluded HPO terms.
    #[serde(default)]
    pub excluded: Vec<String>,
    /// The true diagnosis, `OMIM:n` or `ORPHA:n`.
    pub disease: String,
}

/// Generates `cfg.cases` simulated cases (empty when no disease qualifies).
pub fn simulate(index: &RareIndex, cfg: &SimConfig) -> Vec<Case> {
    let mut rng = SplitMix64::new(cfg.seed);
    let eligible: Vec<usize> = (0..index.len())
        .filter(|&i| index.d_range(i).len() >= cfg.min_annotations.max(1))
        .collect();
    if eligible.is_empty() || index.len() < 2 {
        return Vec::new();
    }
    let pa = index.ontology.index_of(PHENOTYPIC_ABNORMALITY);
    let mut out = Vec::with_capacity(cfg.cases);
    for case_no in 0..cfg.cases {
        let di = eligible[rng.below(eligible.len())];
        let pool: Vec<(u32, f32)> = index
            .d_range(di)
            .map(|j| (index.d_term[j], index.d_freq[j]))
            .collect();
        let span = cfg.max_terms.saturating_sub(cfg.min_terms) + 1;
        let want = (cfg.min_terms + rng.below(span)).min(pool.len()).max(1);
        // weighted sampling without replacement (weights = frequency, floor so every term can be drawn)
        let mut weights: Vec<f64> = pool.iter().map(|&(_, f)| f64::from(f).max(0.02)).collect();
        let mut chosen: Vec<u32> = Vec::new();
        for _ in 0..want {
            let total: f64 = weights.iter().sum();
            if total <= 0.0 {
                break;
            }
            let mut x = rng.next_f64() * total;
            let mut pick = weights.len() - 1;
            for (k, w) in weights.iter().enumerate() {
                if x < *w {
                    pick = k;
                    break;
                }
                x -= w;
            }
            weights[pick] = 0.0;
            let mut t = pool[pick].0;
            if rng.next_f64() < cfg.imprecision {
                let parents: Vec<u32> = index
                    .ontology
                    .parent_idx(t)
                    .iter()
                    .copied()
                    .filter(|&p| Some(p) != pa && index.phenotypic[p as usize])
                    .collect();
                if !parents.is_empty() {
                    t = parents[rng.below(parents.len())];
                }
            }
            if !chosen.contains(&t) {
                chosen.push(t);
            }
        }
        let related = |t: u32| {
            pool.iter()
                .any(|&(d, _)| index.is_anc_or_self(t, d) || index.is_anc_or_self(d, t))
        };
        let noise = rng.below(cfg.noise_max + 1);
        let mut guard = 0;
        let mut added = 0;
        while added < noise && guard < 50 {
            guard += 1;
            let other = rng.below(index.len());
            let r = index.d_range(other);
            if other == di || r.is_empty() {
                continue;
            }
            let t = index.d_term[r.start + rng.below(r.len())];
            if related(t) || chosen.contains(&t) {
                continue;
            }
            chosen.push(t);
            added += 1;
        }
        let mut excluded = Vec::new();
        if rng.next_f64() < cfg.excluded_probability {
            for _ in 0..50 {
                let other = rng.below(index.len());
                let r = index.d_range(other);
                if other == di || r.is_empty() {
                    continue;
                }
                let t = index.d_term[r.start + rng.below(r.len())];
                if related(t)
                    || chosen
                        .iter()
                        .any(|&c| index.is_anc_or_self(t, c) || index.is_anc_or_self(c, t))
                {
                    continue;
                }
                excluded.push(index.term_id(t).to_string());
                break;
            }
        }
        // shuffle so noise terms are not always last
        for k in (1..chosen.len()).rev() {
            let j = rng.below(k + 1);
            chosen.swap(k, j);
        }
        out.push(Case {
            id: Some(format!("sim-{}-{case_no}", cfg.seed)),
            present: chosen
                .iter()
                .map(|&t| index.term_id(t).to_string())
                .collect(),
            excluded,
            disease: index.ids[di].to_string(),
        });
    }
    out
}
