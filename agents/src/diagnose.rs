//! The diagnosis agent (`clinrag diagnose "CASE TEXT"`): findings linked in the case (negation
//! respected) → rare-disease ranking over the HPO findings, plus a literature search for common
//! conditions → a differential whose items carry the evidence for and against them.
//!
//! Every disease id comes from the phenotype index (`OMIM:`/`ORPHA:`) or from the linker on
//! retrieved text (`ICD10CM:`); nothing is generated. Literature evidence is cited with spans
//! checked by the same [`crate::Verifier`] as answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use clinrag_kg::Linker;
use clinrag_phenotype::RareIndex;
use clinrag_retrieval::{SearchFilter, SearchMode};
use serde::{Deserialize, Serialize};

use crate::error::{AgentError, Result};
use crate::qa::Asker;
use crate::text::sentences;
use crate::tools::{LinkedConcept, link, rank_rare};
use crate::verify::{Citation, Passage, Verifier};

/// One item of the differential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffItem {
    pub rank: usize,
    /// `OMIM:n`, `ORPHA:n` (phenotype ranking) or `ICD10CM:code` (literature).
    pub id: String,
    pub name: String,
    /// `phenotype_ranking` or `literature`.
    pub source: String,
    pub score: f64,
    pub evidence_for: Vec<String>,
    pub evidence_against: Vec<String>,
    /// Verified literature spans behind `evidence_for`.
    pub citations: Vec<Citation>,
}

/// The agent's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Concepts found in the case, with negation.
    pub findings: Vec<LinkedConcept>,
    /// HPO terms present / explicitly absent, as sent to the phenotype ranking.
    pub present_hpo: Vec<String>,
    pub excluded_hpo: Vec<String>,
    pub differential: Vec<DiffItem>,
    /// The literature query built from the affirmed findings.
    pub literature_query: String,
    pub evidence: Vec<Passage>,
    pub notes: Vec<String>,
    pub timings_ms: BTreeMap<String, f64>,
}

/// Builds differentials; shared as `Arc<Diagnoser>`.
pub struct Diagnoser {
    asker: Arc<Asker>,
    linker: Arc<Linker>,
    rare: Option<Arc<RareIndex>>,
}

impl Diagnoser {
    pub fn new(asker: Arc<Asker>, linker: Arc<Linker>, rare: Option<Arc<RareIndex>>) -> Self {
        Self {
            asker,
            linker,
            rare,
        }
    }

    /// A differential for `case` with at most `k` items from each source.
    pub async fn diagnose(&self, case: &str, k: usize) -> Result<Diagnosis> {
        let case = case.trim();
        if case.is_empty() {
            return Err(AgentError::InvalidRequest("the case text is empty".into()));
        }
        let k = k.clamp(1, 50);
        let mut timings = BTreeMap::new();
        let mut notes = Vec::new();

        let t = Instant::now();
        let findings = link(&self.linker, case);
        timings.insert("link".into(), t.elapsed().as_secs_f64() * 1000.0);
        let hpo_of = |f: &LinkedConcept| f.all_ids.iter().find(|i| i.starts_with("HP:")).cloned();
        let mut present = BTreeSet::new();
        let mut excluded = BTreeSet::new();
        for f in &findings {
            if let Some(h) = hpo_of(f) {
                if f.negated {
                    excluded.insert(h);
                } else {
                    present.insert(h);
                }
            }
        }
        let excluded: BTreeSet<String> = excluded.difference(&present).cloned().collect();
        let present_hpo: Vec<String> = present.into_iter().collect();
        let excluded_hpo: Vec<String> = excluded.into_iter().collect();
        let label_of = |id: &str| {
            findings
                .iter()
                .find(|f| f.all_ids.iter().any(|i| i == id))
                .map_or_else(|| id.to_string(), |f| format!("{} ({id})", f.text))
        };

        let mut differential = Vec::new();
        // Rare diseases from the phenotype profile.
        let t = Instant::now();
        match (&self.rare, present_hpo.is_empty()) {
            (None, _) => notes.push("rare-disease ranking not loaded".into()),
            (Some(_), true) => notes.push("no HPO phenotype found in the case".into()),
            (Some(idx), false) => {
                let idx = idx.clone();
                let (p, e) = (present_hpo.clone(), excluded_hpo.clone());
                let ranked = tokio::task::spawn_blocking(move || rank_rare(&idx, &p, &e, k))
                    .await
                    .map_err(|e| AgentError::Internal(format!("ranking task failed: {e}")))?;
                match ranked {
                    Ok(cands) => {
                        for c in cands {
                            differential.push(DiffItem {
                                rank: 0,
                                id: c.id,
                                name: c.name,
                                source: "phenotype_ranking".into(),
                                score: c.score,
                                evidence_for: c
                                    .matched
                                    .iter()
                                    .map(|h| format!("patient has {}", label_of(h)))
                                    .collect(),
                                evidence_against: c
                                    .against
                                    .iter()
                                    .cloned()
                                    .chain(
                                        c.not_observed
                                            .iter()
                                            .take(3)
                                            .map(|t| format!("hallmark not reported: {t}")),
                                    )
                                    .collect(),
                                citations: Vec::new(),
                            });
                        }
                    }
                    Err(e) => notes.push(format!("rare-disease ranking: {e}")),
                }
            }
        }
        timings.insert("rare".into(), t.elapsed().as_secs_f64() * 1000.0);

        // Common conditions from the literature.
        let t = Instant::now();
        let mut terms: Vec<String> = Vec::new();
        for f in findings.iter().filter(|f| !f.negated) {
            let s = f.text.to_lowercase();
            if !terms.contains(&s) {
                terms.push(s);
            }
        }
        let literature_query = if terms.is_empty() {
            crate::text::truncate_chars(case, 300)
        } else {
            terms.join(" ")
        };
        let searcher = self.asker.searcher().clone();
        let q = literature_query.clone();
        let mode = if searcher.has_dense() {
            SearchMode::Hybrid
        } else {
            SearchMode::Bm25
        };
        let hits = tokio::task::spawn_blocking(move || {
            searcher.search(&q, 10, mode, &SearchFilter::default())
        })
        .await
        .map_err(|e| AgentError::Internal(format!("search task failed: {e}")))??;
        let evidence = Passage::from_hits(hits);
        let finding_ids: BTreeSet<&str> = findings
            .iter()
            .flat_map(|f| f.all_ids.iter().map(String::as_str))
            .collect();
        let affirmed: Vec<&LinkedConcept> = findings.iter().filter(|f| !f.negated).collect();
        let negated: Vec<&LinkedConcept> = findings.iter().filter(|f| f.negated).collect();
        // disease id -> (name, score, for, against, citations)
        type Acc = (String, f64, Vec<String>, Vec<String>, Vec<Citation>);
        let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
        for p in &evidence {
            let spans = sentences(&p.text);
            let mentions = link(&self.linker, &p.text);
            let ids_in = |f: &LinkedConcept| {
                mentions
                    .iter()
                    .any(|m| !m.negated && m.all_ids.iter().any(|i| f.all_ids.contains(i)))
            };
            let shared: Vec<String> = affirmed
                .iter()
                .filter(|f| ids_in(f))
                .map(|f| f.text.clone())
                .collect();
            let contra: Vec<String> = negated
                .iter()
                .filter(|f| ids_in(f))
                .map(|f| f.text.clone())
                .collect();
            for m in &mentions {
                let Some(icd) = m.all_ids.iter().find(|i| i.starts_with("ICD10CM:")) else {
                    continue;
                };
                if m.negated || m.all_ids.iter().any(|i| finding_ids.contains(i.as_str())) {
                    continue;
                }
                let e = acc
                    .entry(icd.clone())
                    .or_insert_with(|| (m.label.clone(), 0.0, Vec::new(), Vec::new(), Vec::new()));
                e.1 += (1.0 / p.n as f64) * (1.0 + shared.len() as f64);
                // The sentence of the passage that mentions the disease, as the citation.
                if e.4.len() < 2
                    && let Some(&(s, end)) =
                        spans.iter().find(|(s, end)| *s <= m.start && m.end <= *end)
                    && let Some(c) = p.cite(s, end)
                    && !e.4.contains(&c)
                {
                    e.4.push(c);
                }
                for f in &shared {
                    let line = format!("[{}] {} mentions it with {f}", p.n, p.doc_id);
                    if !e.2.contains(&line) {
                        e.2.push(line);
                    }
                }
                for f in &contra {
                    let line = format!("patient has no {f}, which [{}] mentions with it", p.n);
                    if !e.3.contains(&line) {
                        e.3.push(line);
                    }
                }
            }
        }
        let verifier = Verifier::new(&evidence, None);
        let mut lit: Vec<DiffItem> = acc
            .into_iter()
            .map(|(id, (name, score, f, a, cites))| DiffItem {
                rank: 0,
                id,
                name,
                source: "literature".into(),
                score,
                evidence_for: f,
                evidence_against: a,
                citations: cites
                    .into_iter()
                    .filter(|c| verifier.check_citation(c).is_ok())
                    .collect(),
            })
            .filter(|d| !d.citations.is_empty())
            .collect();
        lit.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        lit.truncate(k);
        differential.extend(lit);
        timings.insert("literature".into(), t.elapsed().as_secs_f64() * 1000.0);
        for (i, d) in differential.iter_mut().enumerate() {
            d.rank = i + 1;
        }
        if differential.is_empty() {
            notes.push("no candidate found: the differential is empty".into());
        }
        Ok(Diagnosis {
            findings,
            present_hpo,
            excluded_hpo,
            differential,
            literature_query,
            evidence,
            notes,
            timings_ms: timings,
        })
    }
}
