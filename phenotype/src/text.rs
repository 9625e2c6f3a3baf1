//! A plain exact-label matcher from free text to HPO terms, with NegEx-style negation cues.
//!
//! It matches term names and EXACT synonyms (not abbreviations) token by token, longest match
//! first, after lowercasing and a naive plural fold. It is deliberately simple: the knowledge
//! graph's entity linker is the better tool where it is available.

use std::collections::HashMap;

use serde::Serialize;

use crate::ontology::{HpoId, LabelKind, Ontology, PHENOTYPIC_ABNORMALITY, SynonymScope};

/// One phenotype found in text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TextMention {
    /// Byte offset of the first character in the text.
    pub start: usize,
    /// Byte offset after the last character.
    pub end: usize,
    /// The term.
    pub term: HpoId,
    /// The term's preferred name.
    pub name: String,
    /// True when a negation cue governs the mention ("no seizures", "cataract was ruled out").
    pub negated: bool,
}

/// Exact label/synonym matcher over the phenotypic-abnormality terms of an ontology.
#[derive(Clone, Debug)]
pub struct PhenotypeMatcher {
    labels: HashMap<String, HpoId>,
    names: HashMap<HpoId, String>,
    max_tokens: usize,
}

const MAX_LABEL_TOKENS: usize = 10;
const PRE_NEGATION: &[&[&str]] = &[
    &["no"],
    &["not"],
    &["without"],
    &["denie"],
    &["denied"],
    &["deny"],
    &["negative", "for"],
    &["absence", "of"],
    &["free", "of"],
    &["rule", "out"],
    &["ruled", "out"],
    &["never"],
    &["nor"],
];
const POST_NEGATION: &[&[&str]] = &[
    &["absent"],
    &["wa", "not"],
    &["were", "not"],
    &["not", "present"],
    &["ruled", "out"],
    &["wa", "excluded"],
    &["were", "excluded"],
];
const CLAUSE_BREAK_WORDS: &[&str] = &[
    "but", "however", "although", "though", "except", "whereas", "yet",
];
const NEGATION_WINDOW: usize = 6;

/// Lowercase, naive singular: "seizures" -> "seizure", "was" -> "wa" (applied to labels and text alike).
fn fold(token: &str) -> String {
    let t = token.to_lowercase();
    let plural = t.len() > 3
        && t.ends_with('s')
        && !t.ends_with("ss")
        && !t.ends_with("us")
        && !t.ends_with("is");
    if plural || t == "was" {
        t[..t.len() - 1].to_string()
    } else {
        t
    }
}

/// Tokens (alphanumeric runs) with byte offsets; `None` entries mark clause breaks (. ; : , etc.).
fn tokens(text: &str) -> Vec<Option<(usize, usize, String)>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
        } else {
            if let Some(s) = start.take() {
                out.push(Some((s, i, fold(&text[s..i]))));
            }
            if matches!(c, '.' | ';' | ':' | ',' | '!' | '?' | '\n' | '(' | ')') {
                out.push(None);
            }
        }
    }
    if let Some(s) = start {
        out.push(Some((s, text.len(), fold(&text[s..]))));
    }
    out
}

impl PhenotypeMatcher {
    /// Builds the label table from the ontology's names and EXACT synonyms under HP:0000118.
    pub fn new(ontology: &Ontology) -> Self {
        let mut labels: HashMap<String, HpoId> = HashMap::new();
        let mut names = HashMap::new();
        let mut max_tokens = 1;
        for t in ontology.terms() {
            if !ontology.is_phenotypic_abnormality(t.id) || t.id == PHENOTYPIC_ABNORMALITY {
                continue;
            }
            names.insert(t.id, t.name.clone());
        }
        for (id, label, kind) in ontology.labels() {
            if !names.contains_key(&id) {
                continue;
            }
            let exact = match kind {
                LabelKind::Name => true,
                LabelKind::Synonym(SynonymScope::Exact) => {
                    let term = ontology.term(id);
                    !term
                        .and_then(|t| t.synonyms.iter().find(|s| s.text == label))
                        .and_then(|s| s.kind.as_deref())
                        .is_some_and(|k| k == "abbreviation" || k == "obsolete_synonym")
                }
                LabelKind::Synonym(_) => false,
            };
            if !exact {
                continue;
            }
            let toks: Vec<String> = tokens(label)
                .into_iter()
                .flatten()
                .map(|(_, _, t)| t)
                .collect();
            if toks.is_empty() || toks.len() > MAX_LABEL_TOKENS {
                continue;
            }
            max_tokens = max_tokens.max(toks.len());
            // names win over synonyms; among equals the lower id wins (deterministic)
            let key = toks.join(" ");
            let replace = match labels.get(&key) {
                None => true,
                Some(&old) => kind == LabelKind::Name && id < old,
            };
            if replace {
                labels.insert(key, id);
            }
        }
        PhenotypeMatcher {
            labels,
            names,
            max_tokens,
        }
    }

    /// Number of distinct labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when no label was loaded.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Finds phenotype mentions, longest match first, left to right.
    pub fn find(&self, text: &str) -> Vec<TextMention> {
        let toks = tokens(text);
        let mut out = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let Some((start, _, _)) = &toks[i] else {
                i += 1;
                continue;
            };
            let mut matched = None;
            let mut key = String::new();
            let mut words = 0;
            let mut j = i;
            while j < toks.len() && words < self.max_tokens {
                let Some((_, end, t)) = &toks[j] else { break };
                if words > 0 {
                    key.push(' ');
                }
                key.push_str(t);
                words += 1;
                if let Some(&id) = self.labels.get(&key) {
                    matched = Some((j, *end, id));
                }
                j += 1;
            }
            match matched {
                Some((last, end, id)) => {
                    out.push(TextMention {
                        start: *start,
                        end,
                        term: id,
                        name: self.names.get(&id).cloned().unwrap_or_default(),
                        negated: negated(&toks, i, last),
                    });
                    i = last + 1;
                }
                None => i += 1,
            }
        }
        out
    }
}

fn words_match(toks: &[Option<(usize, usize, String)>], at: usize, cue: &[&str]) -> bool {
    cue.iter().enumerate().all(|(k, w)| {
        toks.get(at + k)
            .and_then(|t| t.as_ref())
            .is_some_and(|(_, _, t)| t == w)
    })
}

/// NegEx-style: a pre-negation cue up to six tokens before the mention, or a post-negation cue
/// right after it, within the same clause.
fn negated(toks: &[Option<(usize, usize, String)>], first: usize, last: usize) -> bool {
    let mut k = first;
    let mut seen = 0;
    while k > 0 && seen < NEGATION_WINDOW {
        k -= 1;
        let Some((_, _, t)) = &toks[k] else { break };
        if CLAUSE_BREAK_WORDS.contains(&t.as_str()) {
            break;
        }
        if PRE_NEGATION.iter().any(|cue| words_match(toks, k, cue)) {
            return true;
        }
        seen += 1;
    }
    POST_NEGATION.iter().any(|cue| {
        (1..=2).any(|gap| {
            words_match(toks, last + gap, cue) && (last + 1..last + gap).all(|g| toks[g].is_some())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBO: &str = "[Term]\nid: HP:0000001\nname: All\n\n[Term]\nid: HP:0000118\nname: Phenotypic abnormality\nis_a: HP:0000001\n\n[Term]\nid: HP:0001250\nname: Seizure\nsynonym: \"Epileptic seizure\" EXACT []\nsynonym: \"Fits\" RELATED []\nis_a: HP:0000118\n\n[Term]\nid: HP:0007359\nname: Focal-onset seizure\nis_a: HP:0001250\n\n[Term]\nid: HP:0000518\nname: Cataract\nis_a: HP:0000118\n\n[Term]\nid: HP:0001631\nname: Atrial septal defect\nsynonym: \"ASD\" EXACT abbreviation []\nis_a: HP:0000118\n";

    #[test]
    fn finds_and_negates() {
        let o = Ontology::parse_str(OBO, "t.obo");
        let m = PhenotypeMatcher::new(&o);
        let cases: &[(&str, &[(&str, bool)])] = &[
            (
                "Focal-onset seizures since age 2.",
                &[("HP:0007359", false)],
            ),
            (
                "No seizures or cataracts, but an atrial septal defect.",
                &[
                    ("HP:0001250", true),
                    ("HP:0000518", true),
                    ("HP:0001631", false),
                ],
            ),
            (
                "Cataract was ruled out; epileptic seizure noted",
                &[("HP:0000518", true), ("HP:0001250", false)],
            ),
            ("The patient denies fits. ASD repaired.", &[]),
            (
                "Seizure absent. Cataract present.",
                &[("HP:0001250", true), ("HP:0000518", false)],
            ),
            ("", &[]),
        ];
        for (text, want) in cases {
            let got: Vec<(String, bool)> = m
                .find(text)
                .iter()
                .map(|x| (x.term.to_string(), x.negated))
                .collect();
            let want: Vec<(String, bool)> = want.iter().map(|(a, b)| (a.to_string(), *b)).collect();
            assert_eq!(got, want, "{text}");
        }
        let text = "Focal-onset seizures";
        let x = &m.find(text)[0];
        assert_eq!(&text[x.start..x.end], "Focal-onset seizures");
    }
}
