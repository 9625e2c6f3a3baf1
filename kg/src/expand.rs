//! Graph-expanded retrieval: the concepts linked in a query plus expansion terms (synonyms,
//! parents and children within one hop), each with an explanation a hit can show.

use std::collections::HashSet;

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};

use crate::context::{Certainty, Experiencer};
use crate::graph::{EdgeKind, NodeKind, Vocab};
use crate::linker::{ConceptRef, Linker, Mention};
use crate::text::normalize_term;

/// One extra query term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpansionTerm {
    /// The text to add to the query.
    pub term: String,
    /// The concept it comes from.
    pub concept_id: String,
    /// "synonym", "label", "parent" or "child".
    pub relation: String,
    /// Human-readable reason ("synonym of HP:0001166 Arachnodactyly").
    pub explanation: String,
}

/// The result of [`Linker::expand`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expansion {
    /// The mentions found in the query.
    pub mentions: Vec<Mention>,
    /// The affirmed concepts (deduplicated), for filtering or boosting chunks by concept id.
    pub concepts: Vec<ConceptRef>,
    /// One explanation per concept ("matched HP:0001166 Arachnodactyly via synonym \"spider fingers\"").
    pub explanations: Vec<String>,
    /// Extra query terms.
    pub terms: Vec<ExpansionTerm>,
}

/// Limits for [`Linker::expand`].
#[derive(Debug, Clone, Copy)]
pub struct ExpandOptions {
    /// Synonyms per concept.
    pub max_synonyms: usize,
    /// Parents per concept.
    pub max_parents: usize,
    /// Children per concept.
    pub max_children: usize,
    /// Total expansion terms.
    pub max_terms: usize,
}

impl Default for ExpandOptions {
    fn default() -> Self {
        ExpandOptions {
            max_synonyms: 3,
            max_parents: 1,
            max_children: 2,
            max_terms: 12,
        }
    }
}

impl Linker {
    /// Links `query` and proposes expansion terms from the linked concepts (negated and
    /// family mentions are linked but not expanded).
    pub fn expand(&self, query: &str, opts: ExpandOptions) -> Expansion {
        let mentions = self.link(query);
        let g = self.graph().graph();
        let qnorm = normalize_term(query);
        let mut seen_terms: HashSet<String> = HashSet::new();
        let mut seen_concepts: HashSet<String> = HashSet::new();
        let mut concepts = Vec::new();
        let mut explanations = Vec::new();
        let mut terms = Vec::new();
        for m in &mentions {
            if m.certainty == Certainty::Negated || m.experiencer == Experiencer::Family {
                continue;
            }
            for c in &m.concept_ids {
                if !seen_concepts.insert(c.id.clone()) {
                    continue;
                }
                explanations.push(format!(
                    "matched {} {} via {}",
                    c.id, c.label, c.matched_via
                ));
                concepts.push(c.clone());
                let Some(vocab) = Vocab::from_prefix(&c.vocab) else {
                    continue;
                };
                // Expand only vocabularies with clinical names and hierarchies.
                if !matches!(
                    vocab,
                    Vocab::Hpo | Vocab::Icd10cm | Vocab::Mesh | Vocab::Drug
                ) {
                    continue;
                }
                let Some(n) = self.graph().find(vocab, &c.code) else {
                    continue;
                };
                let node = &g[n];
                let mut push = |term: &str,
                                relation: &str,
                                explanation: String,
                                terms: &mut Vec<ExpansionTerm>| {
                    let norm = normalize_term(term);
                    if norm.is_empty()
                        || qnorm.contains(&norm)
                        || !seen_terms.insert(norm)
                        || terms.len() >= opts.max_terms
                    {
                        return;
                    }
                    terms.push(ExpansionTerm {
                        term: term.to_string(),
                        concept_id: c.id.clone(),
                        relation: relation.to_string(),
                        explanation,
                    });
                };
                push(
                    &node.label,
                    "label",
                    format!("label of {} {}", c.id, node.label),
                    &mut terms,
                );
                for s in node.synonyms.iter().take(opts.max_synonyms) {
                    push(
                        s,
                        "synonym",
                        format!("synonym of {} {}", c.id, node.label),
                        &mut terms,
                    );
                }
                let rel = |dir: Direction, limit: usize| -> Vec<NodeIndex> {
                    g.edges_directed(n, dir)
                        .filter(|e| e.weight().kind == EdgeKind::IsA)
                        .map(|e| {
                            if dir == Direction::Outgoing {
                                e.target()
                            } else {
                                e.source()
                            }
                        })
                        .filter(|x| g[*x].kind == NodeKind::Concept)
                        .take(limit)
                        .collect()
                };
                for p in rel(Direction::Outgoing, opts.max_parents) {
                    let pn = &g[p];
                    push(
                        &pn.label,
                        "parent",
                        format!("parent {} {} of {} {}", pn.id(), pn.label, c.id, node.label),
                        &mut terms,
                    );
                }
                for ch in rel(Direction::Incoming, opts.max_children) {
                    let cn = &g[ch];
                    push(
                        &cn.label,
                        "child",
                        format!("child {} {} of {} {}", cn.id(), cn.label, c.id, node.label),
                        &mut terms,
                    );
                }
            }
        }
        Expansion {
            mentions,
            concepts,
            explanations,
            terms,
        }
    }
}
