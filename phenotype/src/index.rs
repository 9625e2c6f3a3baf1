//! The precomputed ranking index: information content, ancestor lists and a per-disease term table.

use std::path::Path;

use serde::Serialize;

use crate::annotations::{Annotations, DiseaseId};
use crate::error::PhenotypeError;
use crate::idhash::IdMap;
use crate::ontology::{HpoId, Ontology, PHENOTYPIC_ABNORMALITY, ROOT};

/// Options fixed when the index is built.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct IndexConfig {
    /// Frequency assumed for annotations without one (0..=1).
    pub unspecified_frequency: f32,
    /// Weight each disease's contribution to a term's information content by the annotation
    /// frequency (true), or count diseases (false).
    pub frequency_weighted_ic: bool,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            unspecified_frequency: 0.5,
            frequency_weighted_ic: true,
        }
    }
}

/// Sizes and timings of an index build.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IndexStats {
    /// Terms in the ontology (obsolete included).
    pub terms: usize,
    /// Diseases indexed (OMIM + ORPHA).
    pub diseases: usize,
    /// Disease-phenotype pairs indexed.
    pub annotations: usize,
    /// Diseases without any phenotype annotation (kept; they can only score by noise).
    pub diseases_without_phenotypes: usize,
    /// Milliseconds to read `hp.obo` (0 when the ontology was given).
    pub ontology_ms: f64,
    /// Milliseconds to read `phenotype.hpoa` (0 when the annotations were given).
    pub annotations_ms: f64,
    /// Milliseconds to build the index.
    pub build_ms: f64,
}

/// Everything precomputed for ranking. Built once, then shared read-only (it is `Sync`).
///
/// Invariants: term indices are the ontology's dense indices; `anc` lists hold each term and
/// all its ancestors, sorted; IC never increases from a term to its ancestors; disease term lists
/// are sorted and hold current terms under "Phenotypic abnormality" only.
#[derive(Debug)]
pub struct RareIndex {
    pub(crate) ontology: Ontology,
    pub(crate) config: IndexConfig,
    pub(crate) anc_off: Vec<u32>,
    pub(crate) anc: Vec<u32>,
    pub(crate) ic: Vec<f32>,
    pub(crate) exp_ic: Vec<f32>,
    pub(crate) inv_exp_ic: Vec<f32>,
    pub(crate) phenotypic: Vec<bool>,
    pub(crate) ids: Vec<DiseaseId>,
    pub(crate) names: Vec<String>,
    pub(crate) d_off: Vec<u32>,
    pub(crate) d_term: Vec<u32>,
    pub(crate) d_freq: Vec<f32>,
    pub(crate) d_fsum: Vec<f32>,
    pub(crate) x_off: Vec<u32>,
    pub(crate) x_term: Vec<u32>,
    pub(crate) by_id: IdMap<DiseaseId, u32>,
    pub(crate) stats: IndexStats,
}

impl RareIndex {
    /// Reads `hp.obo` and `phenotype.hpoa` and builds the index.
    pub fn load(obo: &Path, hpoa: &Path, config: IndexConfig) -> Result<Self, PhenotypeError> {
        let t0 = std::time::Instant::now();
        let ontology = Ontology::load(obo)?;
        let t1 = std::time::Instant::now();
        let annotations = Annotations::load(hpoa, &ontology)?;
        let t2 = std::time::Instant::now();
        let mut idx = Self::build(ontology, &annotations, config);
        idx.stats.ontology_ms = (t1 - t0).as_secs_f64() * 1e3;
        idx.stats.annotations_ms = (t2 - t1).as_secs_f64() * 1e3;
        Ok(idx)
    }

    /// Builds the index from a loaded ontology and its annotations.
    pub fn build(ontology: Ontology, annotations: &Annotations, config: IndexConfig) -> Self {
        let t0 = std::time::Instant::now();
        let n = ontology.len();
        // ancestors (self included) in topological order: anc(t) = {t} ∪ ⋃ anc(parent)
        let mut anc_lists: Vec<Vec<u32>> = vec![Vec::new(); n];
        for &t in ontology.topo_idx() {
            let mut l = vec![t];
            for &p in ontology.parent_idx(t) {
                l.extend_from_slice(&anc_lists[p as usize]);
            }
            l.sort_unstable();
            l.dedup();
            anc_lists[t as usize] = l;
        }
        let mut anc_off = Vec::with_capacity(n + 1);
        let mut anc = Vec::new();
        anc_off.push(0u32);
        for l in &anc_lists {
            anc.extend_from_slice(l);
            anc_off.push(anc.len() as u32);
        }
        drop(anc_lists);
        let pa = ontology.index_of(PHENOTYPIC_ABNORMALITY);
        let phenotypic: Vec<bool> = (0..n)
            .map(|t| {
                let l = &anc[anc_off[t] as usize..anc_off[t + 1] as usize];
                pa.is_some_and(|p| l.binary_search(&p).is_ok())
            })
            .collect();

        // disease table
        let mut ids = Vec::new();
        let mut names = Vec::new();
        let mut d_off = vec![0u32];
        let mut d_term = Vec::new();
        let mut d_freq = Vec::new();
        let mut x_off = vec![0u32];
        let mut x_term = Vec::new();
        let mut by_id = IdMap::default();
        let mut empty = 0;
        for d in annotations.diseases() {
            let mut terms: Vec<(u32, f32)> = d
                .phenotypes
                .iter()
                .filter_map(|p| {
                    let t = ontology.index_of(p.term)?;
                    phenotypic[t as usize].then(|| {
                        let f = p
                            .frequency
                            .value()
                            .map(|v| v as f32)
                            .unwrap_or(config.unspecified_frequency);
                        (t, f.clamp(0.0, 1.0))
                    })
                })
                .collect();
            terms.sort_unstable_by_key(|&(t, _)| t);
            terms.dedup_by_key(|&mut (t, _)| t);
            if terms.is_empty() {
                empty += 1;
            }
            by_id.insert(d.id, ids.len() as u32);
            ids.push(d.id);
            names.push(d.name.clone());
            for (t, f) in terms {
                d_term.push(t);
                d_freq.push(f);
            }
            d_off.push(d_term.len() as u32);
            let mut xs: Vec<u32> = d
                .excluded
                .iter()
                .filter_map(|&x| ontology.index_of(x))
                .collect();
            xs.sort_unstable();
            xs.dedup();
            x_term.extend(xs);
            x_off.push(x_term.len() as u32);
        }

        // information content: count(t) = Σ_D max{ f(d) : d ∈ D, t ancestor-or-self of d }
        let mut count = vec![0f64; n];
        let mut best = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        for i in 0..ids.len() {
            for j in d_off[i] as usize..d_off[i + 1] as usize {
                let w = if config.frequency_weighted_ic {
                    d_freq[j]
                } else {
                    1.0
                };
                let t = d_term[j] as usize;
                for &a in &anc[anc_off[t] as usize..anc_off[t + 1] as usize] {
                    let a = a as usize;
                    if best[a] == 0.0 {
                        touched.push(a as u32);
                    }
                    if w > best[a] {
                        best[a] = w;
                    }
                }
            }
            for &a in &touched {
                count[a as usize] += f64::from(best[a as usize]);
                best[a as usize] = 0.0;
            }
            touched.clear();
        }
        let total = ontology
            .index_of(ROOT)
            .map(|r| count[r as usize])
            .filter(|&c| c > 0.0)
            .unwrap_or_else(|| count.iter().cloned().fold(0.0, f64::max))
            .max(1.0);
        let min_pos = count
            .iter()
            .cloned()
            .filter(|&c| c > 0.0)
            .fold(f64::INFINITY, f64::min);
        let floor = if min_pos.is_finite() {
            min_pos * 0.5
        } else {
            0.5
        };
        let ic: Vec<f32> = count
            .iter()
            .map(|&c| (-(c.max(floor) / total).min(1.0).ln()).max(0.0) as f32)
            .collect();
        let d_fsum: Vec<f32> = (0..ids.len())
            .map(|i| {
                d_freq[d_off[i] as usize..d_off[i + 1] as usize]
                    .iter()
                    .sum()
            })
            .collect();
        let exp_ic: Vec<f32> = ic.iter().map(|&x| x.exp()).collect();
        let inv_exp_ic: Vec<f32> = exp_ic.iter().map(|&x| 1.0 / x).collect();

        let stats = IndexStats {
            terms: n,
            diseases: ids.len(),
            annotations: d_term.len(),
            diseases_without_phenotypes: empty,
            ontology_ms: 0.0,
            annotations_ms: 0.0,
            build_ms: t0.elapsed().as_secs_f64() * 1e3,
        };
        RareIndex {
            ontology,
            config,
            anc_off,
            anc,
            ic,
            exp_ic,
            inv_exp_ic,
            phenotypic,
            ids,
            names,
            d_off,
            d_term,
            d_freq,
            d_fsum,
            x_off,
            x_term,
            by_id,
            stats,
        }
    }

    /// The ontology the index was built from.
    pub fn ontology(&self) -> &Ontology {
        &self.ontology
    }

    /// Build options.
    pub fn config(&self) -> IndexConfig {
        self.config
    }

    /// Sizes and timings.
    pub fn stats(&self) -> &IndexStats {
        &self.stats
    }

    /// Number of diseases indexed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no disease is indexed.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Disease ids in index order.
    pub fn disease_ids(&self) -> &[DiseaseId] {
        &self.ids
    }

    /// Position of a disease in the index.
    pub fn disease_index(&self, id: DiseaseId) -> Option<usize> {
        self.by_id.get(&id).map(|&i| i as usize)
    }

    /// Name of the disease at this position.
    pub fn disease_name(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(String::as_str)
    }

    /// Phenotypes of the disease at this position, with the frequency used for scoring.
    pub fn disease_phenotypes(&self, i: usize) -> Vec<(HpoId, f32)> {
        if i >= self.ids.len() {
            return Vec::new();
        }
        self.d_range(i)
            .map(|j| (self.term_id(self.d_term[j]), self.d_freq[j]))
            .collect()
    }

    /// Information content of a term (natural log units); `None` for unknown ids.
    pub fn information_content(&self, id: HpoId) -> Option<f64> {
        self.ontology
            .index_of(id)
            .map(|t| f64::from(self.ic[t as usize]))
    }

    /// Resnik similarity: the IC of the most informative common ancestor, and that ancestor.
    pub fn mica(&self, a: HpoId, b: HpoId) -> Option<(HpoId, f64)> {
        let a = self.ontology.index_of(a)?;
        let b = self.ontology.index_of(b)?;
        let m = self.mica_idx(a, b)?;
        Some((self.term_id(m), f64::from(self.ic[m as usize])))
    }

    pub(crate) fn d_range(&self, i: usize) -> std::ops::Range<usize> {
        self.d_off[i] as usize..self.d_off[i + 1] as usize
    }

    pub(crate) fn x_range(&self, i: usize) -> std::ops::Range<usize> {
        self.x_off[i] as usize..self.x_off[i + 1] as usize
    }

    pub(crate) fn anc_of(&self, t: u32) -> &[u32] {
        &self.anc[self.anc_off[t as usize] as usize..self.anc_off[t as usize + 1] as usize]
    }

    /// True when `a` is `t` or one of its ancestors.
    pub(crate) fn is_anc_or_self(&self, a: u32, t: u32) -> bool {
        self.anc_of(t).binary_search(&a).is_ok()
    }

    pub(crate) fn term_id(&self, t: u32) -> HpoId {
        self.ontology.all_terms()[t as usize].id
    }

    pub(crate) fn term_name(&self, t: u32) -> &str {
        &self.ontology.all_terms()[t as usize].name
    }

    /// Most informative common ancestor by merging the two sorted ancestor lists.
    pub(crate) fn mica_idx(&self, a: u32, b: u32) -> Option<u32> {
        let (x, y) = (self.anc_of(a), self.anc_of(b));
        let (mut i, mut j) = (0, 0);
        let mut best: Option<u32> = None;
        while i < x.len() && j < y.len() {
            match x[i].cmp(&y[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let c = x[i];
                    // higher IC wins; on a tie the deeper term (longer ancestor list)
                    let better = best.is_none_or(|b| {
                        let (ic, bic) = (self.ic[c as usize], self.ic[b as usize]);
                        ic > bic || (ic == bic && self.anc_of(c).len() > self.anc_of(b).len())
                    });
                    if better {
                        best = Some(c);
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        best
    }
}
