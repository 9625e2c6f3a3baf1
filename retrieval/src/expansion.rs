//! Graph-expanded retrieval: the caller (the binary, with the knowledge-graph linker) passes
//! the concepts linked in a query and extra query terms (synonyms, parents, children) as plain
//! data; retrieval adds the terms to the BM25 query at a lower weight, boosts BM25 candidates
//! whose `concepts` field holds a linked concept (before fusion with dense results: RRF scores
//! are too compressed for a multiplicative boost), and explains every boost in the hit.
//!
//! Retrieval knows nothing about vocabularies or the linker: a [`QueryExpansion`] is ids,
//! labels and strings.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::fusion::{HybridSearcher, SearchError, SearchMode, fuse_hits, limit_per_doc};
use crate::keyword::{Hit, SearchFilter, validate_query};

/// A concept linked in the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpansionConcept {
    /// Concept id (`HP:0001166`, `ICD10CM:I21.4`, `MESH:D003924`, ...).
    pub id: String,
    /// Preferred label.
    pub label: String,
    /// How the query text matched it ("label", "synonym", "abbreviation", ...).
    pub via: String,
}

/// An extra query term taken from a linked concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpansionTerm {
    /// The words to add to the query.
    pub term: String,
    /// The linked concept it comes from.
    pub concept: String,
    /// That concept's label.
    pub label: String,
    /// How the term relates to the concept ("synonym", "label", "parent", "child").
    pub via: String,
}

/// What the caller knows about a query's concepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryExpansion {
    /// Affirmed concepts linked in the query.
    pub concepts: Vec<ExpansionConcept>,
    /// Extra query terms.
    pub terms: Vec<ExpansionTerm>,
}

impl QueryExpansion {
    /// Nothing to expand.
    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty() && self.terms.is_empty()
    }
}

/// Weights of the expansion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpansionConfig {
    /// BM25 weight of an extra term relative to the query's own words (1.0).
    pub term_weight: f32,
    /// A BM25 candidate's score is multiplied by `1 + concept_boost * share`, where `share` is
    /// the fraction of the query's linked concepts its `concepts` field holds.
    pub concept_boost: f32,
}

impl Default for ExpansionConfig {
    fn default() -> Self {
        Self {
            term_weight: 0.3,
            concept_boost: 0.3,
        }
    }
}

/// Why a hit was boosted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpansionNote {
    /// The concept.
    pub concept: String,
    /// Its label.
    pub label: String,
    /// How the query matched the concept ("synonym", "label", ...) for a concept boost, or
    /// how the extra term relates to it ("synonym", "parent", "child", "label").
    pub via: String,
    /// The extra term found in the passage; absent when the passage's linked concepts hold the
    /// concept itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// One line for people ("passage mentions HP:0001166 Arachnodactyly, matched in the query
    /// via synonym").
    pub explanation: String,
}

/// A hit with the reasons graph expansion boosted it (empty when it did not).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpandedHit {
    /// The passage and its citation.
    #[serde(flatten)]
    pub hit: Hit,
    /// Why expansion raised it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expansion: Vec<ExpansionNote>,
}

/// Lower-case alphanumeric words, a trailing plural "s" dropped, for term-in-passage checks.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            match w.strip_suffix('s') {
                Some(stem) if stem.chars().count() >= 3 => stem.to_owned(),
                _ => w,
            }
        })
        .collect()
}

/// Whether the words of `term` occur in `text` next to each other.
fn contains_words(text: &[String], term: &[String]) -> bool {
    !term.is_empty() && text.windows(term.len()).any(|w| w == term)
}

/// The notes for one passage: concepts its linked concepts hold, and extra terms it contains.
fn notes_for(hit: &Hit, held: &[String], exp: &QueryExpansion) -> Vec<ExpansionNote> {
    let mut out = Vec::new();
    for c in exp.concepts.iter().filter(|c| held.contains(&c.id)) {
        out.push(ExpansionNote {
            concept: c.id.clone(),
            label: c.label.clone(),
            via: c.via.clone(),
            term: None,
            explanation: format!(
                "passage mentions {} {}, matched in the query via {}",
                c.id, c.label, c.via
            ),
        });
    }
    if exp.terms.is_empty() {
        return out;
    }
    let text = words(&format!("{} {}", hit.title, hit.text));
    for t in &exp.terms {
        if contains_words(&text, &words(&t.term)) {
            out.push(ExpansionNote {
                concept: t.concept.clone(),
                label: t.label.clone(),
                via: t.via.clone(),
                term: Some(t.term.clone()),
                explanation: format!(
                    "passage contains \"{}\", {} of {} {}",
                    t.term, t.via, t.concept, t.label
                ),
            });
        }
    }
    out
}

impl HybridSearcher {
    /// Like [`HybridSearcher::search`], with graph expansion: the BM25 query gets the extra
    /// terms at `cfg.term_weight`, BM25 candidates whose linked concepts hold a query concept are
    /// boosted (then fused with the dense list as usual), and each hit says why. An empty
    /// expansion gives exactly `search`'s ranking.
    pub fn search_expanded(
        &self,
        query: &str,
        exp: &QueryExpansion,
        cfg: &ExpansionConfig,
        k: usize,
        mode: SearchMode,
        filter: &SearchFilter,
    ) -> Result<Vec<ExpandedHit>, SearchError> {
        if exp.is_empty() {
            return Ok(self
                .search(query, k, mode, filter)?
                .into_iter()
                .map(|hit| ExpandedHit {
                    hit,
                    expansion: Vec::new(),
                })
                .collect());
        }
        let query = validate_query(query)?;
        let fc = &self.config;
        let depth = k.saturating_mul(fc.depth_factor).max(fc.min_depth);
        let extra: Vec<(String, f32)> = exp
            .terms
            .iter()
            .map(|t| (t.term.clone(), cfg.term_weight))
            .collect();
        let ids: Vec<String> = exp.concepts.iter().map(|c| c.id.clone()).collect();
        let mut held: HashMap<String, Vec<String>> = HashMap::new();
        let bm25 = |held: &mut HashMap<String, Vec<String>>| -> Result<Vec<Hit>, SearchError> {
            let hits = if mode == SearchMode::Dense {
                Vec::new()
            } else {
                self.keyword
                    .search_with_terms(query, &extra, &ids, depth, filter)?
            };
            // Concept boost on the BM25 list, where scores spread widely; RRF scores are too
            // compressed for a multiplicative boost, and cosine scores are left as they are.
            let boost = cfg.concept_boost.is_finite() && cfg.concept_boost > 0.0;
            let mut out: Vec<Hit> = hits
                .into_iter()
                .map(|(mut h, c)| {
                    if boost && !c.is_empty() {
                        h.score *= 1.0 + cfg.concept_boost * c.len() as f32 / ids.len() as f32;
                    }
                    held.insert(h.chunk_id.clone(), c);
                    h
                })
                .collect();
            // Stable: equal scores keep BM25's order.
            out.sort_by(|a, b| b.score.total_cmp(&a.score));
            Ok(out)
        };
        let mut hits: Vec<Hit> = match mode {
            SearchMode::Bm25 => bm25(&mut held)?,
            SearchMode::Dense => self.dense_search(query, depth, filter)?,
            SearchMode::Hybrid => {
                let b = bm25(&mut held)?;
                let d = self.dense_search(query, depth, filter)?;
                fuse_hits(b, d, fc)
            }
        };
        if let Some(n) = fc.max_per_doc {
            hits = limit_per_doc(hits, n.max(1));
        }
        let mut hits = self.reranker.rerank(query, hits)?;
        hits.truncate(k);
        let mut out = Vec::with_capacity(hits.len());
        for (i, mut hit) in hits.into_iter().enumerate() {
            hit.rank = i + 1;
            // Dense-only hits: their concepts come from the keyword index, for the notes.
            let c = match held.remove(&hit.chunk_id) {
                Some(c) => c,
                None if ids.is_empty() => Vec::new(),
                None => self
                    .keyword
                    .chunk_concepts(&hit.chunk_id)?
                    .into_iter()
                    .filter(|c| ids.contains(c))
                    .collect(),
            };
            let expansion = notes_for(&hit, &c, exp);
            out.push(ExpandedHit { hit, expansion });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::document::{Chunk, Document};
    use crate::keyword::KeywordIndex;

    fn doc(id: &str, body: &str) -> (Document, Vec<Chunk>) {
        let n = body.chars().count();
        let d = Document {
            doc_id: id.into(),
            source: "jsonl".into(),
            source_path: "t.jsonl".into(),
            title: String::new(),
            authors: Vec::new(),
            journal: None,
            year: None,
            mesh: Vec::new(),
            doi: None,
            body: body.into(),
            sections: Vec::new(),
            content_hash: String::new(),
        };
        let c = Chunk {
            chunk_id: format!("{id}#0"),
            doc_id: id.into(),
            ord: 0,
            section: "text".into(),
            start: 0,
            end: n,
        };
        (d, vec![c])
    }

    /// A real keyword index: a passage that only has the synonym is found through the extra
    /// term, a passage that mentions the linked concept is boosted, and both say why.
    #[test]
    fn expansion_finds_synonyms_boosts_concepts_and_explains() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let index = KeywordIndex::open_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut w = index.writer().unwrap_or_else(|e| panic!("{e}"));
        let docs = [
            (
                "D:1",
                "Spider fingers were seen in the clinic cohort.",
                vec![],
            ),
            (
                "D:2",
                "Arachnodactyly is a hallmark of Marfan syndrome.",
                vec![],
            ),
            (
                "D:3",
                "Spider fingers and tall stature in a family.",
                vec!["HP:0001166".to_string()],
            ),
            ("D:4", "Unrelated passage on asthma.", vec![]),
        ];
        for (id, body, concepts) in &docs {
            let (d, c) = doc(id, body);
            w.replace_document(&d, &c, std::slice::from_ref(concepts))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        w.commit().unwrap_or_else(|e| panic!("{e}"));
        let s = HybridSearcher::new(index);
        let f = SearchFilter::default();
        let plain = s
            .search("spider fingers", 10, SearchMode::Bm25, &f)
            .unwrap_or_else(|e| panic!("{e}"));
        let plain_ids: Vec<&str> = plain.iter().map(|h| h.doc_id.as_str()).collect();
        assert!(!plain_ids.contains(&"D:2"), "{plain_ids:?}");
        let exp = QueryExpansion {
            concepts: vec![ExpansionConcept {
                id: "HP:0001166".into(),
                label: "Arachnodactyly".into(),
                via: "synonym".into(),
            }],
            terms: vec![ExpansionTerm {
                term: "Arachnodactyly".into(),
                concept: "HP:0001166".into(),
                label: "Arachnodactyly".into(),
                via: "label".into(),
            }],
        };
        let cfg = ExpansionConfig {
            term_weight: 0.3,
            concept_boost: 5.0,
        };
        let hits = s
            .search_expanded("spider fingers", &exp, &cfg, 10, SearchMode::Bm25, &f)
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = hits.iter().map(|h| h.hit.doc_id.as_str()).collect();
        assert_eq!(ids.first(), Some(&"D:3"), "{ids:?}");
        assert!(ids.contains(&"D:2"), "{ids:?}");
        assert!(!ids.contains(&"D:4"), "{ids:?}");
        let d3 = &hits[0];
        assert_eq!(d3.expansion.len(), 1, "{:?}", d3.expansion);
        assert_eq!(d3.expansion[0].concept, "HP:0001166");
        assert_eq!(d3.expansion[0].term, None);
        let d2 = hits.iter().find(|h| h.hit.doc_id == "D:2");
        let d2 = d2.unwrap_or_else(|| panic!("D:2 missing"));
        assert_eq!(d2.expansion[0].term.as_deref(), Some("Arachnodactyly"));
        let d1 = hits.iter().find(|h| h.hit.doc_id == "D:1");
        assert!(d1.is_some_and(|h| h.expansion.is_empty()));
        // No expansion: exactly the plain ranking, no notes.
        let same = s
            .search_expanded(
                "spider fingers",
                &QueryExpansion::default(),
                &cfg,
                10,
                SearchMode::Bm25,
                &f,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let same_ids: Vec<&str> = same.iter().map(|h| h.hit.doc_id.as_str()).collect();
        assert_eq!(same_ids, plain_ids);
        assert!(same.iter().all(|h| h.expansion.is_empty()));
        assert_eq!(
            s.keyword
                .chunk_concepts("D:3#0")
                .unwrap_or_else(|e| panic!("{e}")),
            ["HP:0001166"]
        );
    }

    #[test]
    fn term_matching_is_word_aligned_and_plural_blind() {
        let text = words("Long, slender fingers (arachnodactyly) in Marfan syndrome");
        assert!(contains_words(&text, &words("slender finger")));
        assert!(contains_words(&text, &words("Arachnodactyly")));
        assert!(!contains_words(&text, &words("finger slender")));
        assert!(!contains_words(&text, &words("arachno")));
        assert!(!contains_words(&text, &words("")));
    }

    #[test]
    fn notes_name_concept_and_term() {
        let hit = Hit {
            rank: 1,
            score: 1.0,
            doc_id: "PMID:1".into(),
            chunk_id: "PMID:1#0".into(),
            title: "Marfan".into(),
            section: String::new(),
            start: 0,
            end: 10,
            text: "Patients had arachnodactyly.".into(),
        };
        let exp = QueryExpansion {
            concepts: vec![ExpansionConcept {
                id: "HP:0001166".into(),
                label: "Arachnodactyly".into(),
                via: "synonym".into(),
            }],
            terms: vec![
                ExpansionTerm {
                    term: "Arachnodactyly".into(),
                    concept: "HP:0001166".into(),
                    label: "Arachnodactyly".into(),
                    via: "label".into(),
                },
                ExpansionTerm {
                    term: "Long slender fingers".into(),
                    concept: "HP:0001166".into(),
                    label: "Arachnodactyly".into(),
                    via: "synonym".into(),
                },
            ],
        };
        let notes = notes_for(&hit, &["HP:0001166".to_string()], &exp);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(notes[0].term, None);
        assert_eq!(notes[0].via, "synonym");
        assert_eq!(notes[1].term.as_deref(), Some("Arachnodactyly"));
        assert!(notes_for(&hit, &[], &QueryExpansion::default()).is_empty());
        let v = serde_json::to_value(ExpandedHit {
            hit,
            expansion: notes,
        })
        .unwrap_or_default();
        assert_eq!(v["doc_id"], "PMID:1");
        assert_eq!(v["expansion"][0]["concept"], "HP:0001166");
        assert!(v["expansion"][0].get("term").is_none());
    }
}
