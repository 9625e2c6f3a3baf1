//! Lay terms and abbreviations from the HPO ontology (`hp.obo`: EXACT synonyms typed
//! `layperson` or `abbreviation`, e.g. "Hives" -> "Urticaria", "OCD" -> "Obsessive-compulsive
//! disorder"), used as an alternative reading of a clause: the coder scores the clause as
//! written and with these phrases rewritten into the HPO label, and keeps the better reading.
//! A source independent of the evaluation sets and of the hand lexicon (`lexicon.rs`).

use std::collections::HashMap;
use std::path::Path;

use clinrag_kg::normalize_term;
use clinrag_phenotype::{Ontology, SynonymScope};
use serde::{Deserialize, Serialize};

use crate::context::Word;

/// Where `hp.obo` lives under a clinrag home.
pub const HPO_PATH: &str = "vocab/hpo/hp.obo";

/// One rewrite: pattern words, replacement words, pattern must be upper case in the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LayEntry {
    pub(crate) pattern: Vec<String>,
    pub(crate) replacement: Vec<String>,
    pub(crate) upper: bool,
}

/// Rewrites indexed by the first pattern word, longest pattern first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LayTerms {
    by_first: HashMap<String, Vec<LayEntry>>,
}

fn words(s: &str) -> Vec<String> {
    normalize_term(s)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

impl LayTerms {
    /// Reads the HPO synonyms of `path`; a missing file gives an empty table.
    pub(crate) fn load(path: &Path) -> Self {
        match Ontology::load(path) {
            Ok(ont) => Self::from_ontology(&ont),
            Err(_) => Self::default(),
        }
    }

    /// Builds the table from a parsed ontology.
    pub(crate) fn from_ontology(ont: &Ontology) -> Self {
        let mut by_first: HashMap<String, Vec<LayEntry>> = HashMap::new();
        for t in ont.terms() {
            let replacement = words(&t.name);
            if replacement.is_empty() {
                continue;
            }
            for s in &t.synonyms {
                let upper = match s.kind.as_deref() {
                    Some("layperson") => false,
                    Some("abbreviation") => true,
                    _ => continue,
                };
                if s.scope != SynonymScope::Exact {
                    continue;
                }
                let pattern = words(&s.text);
                // One-letter or numeric patterns are too ambiguous to rewrite.
                if pattern.is_empty()
                    || pattern == replacement
                    || (pattern.len() == 1 && pattern[0].chars().count() < 2)
                    || pattern
                        .iter()
                        .all(|w| w.bytes().all(|b| b.is_ascii_digit()))
                {
                    continue;
                }
                let list = by_first.entry(pattern[0].clone()).or_default();
                // A pattern that names several terms is ambiguous: keep the first only.
                if list.iter().any(|e| e.pattern == pattern) {
                    continue;
                }
                list.push(LayEntry {
                    pattern,
                    replacement: replacement.clone(),
                    upper,
                });
            }
        }
        for list in by_first.values_mut() {
            list.sort_by_key(|e| std::cmp::Reverse(e.pattern.len()));
        }
        LayTerms { by_first }
    }

    /// Number of rewrites.
    pub(crate) fn len(&self) -> usize {
        self.by_first.values().map(Vec::len).sum()
    }

    /// The words of a clause with every lay phrase rewritten into its HPO label (rewritten
    /// words keep the span and context of the phrase), or `None` when nothing matched. Words
    /// the hand lexicon already rewrote are left alone.
    pub(crate) fn rewrite(&self, cw: &[Word]) -> Option<Vec<Word>> {
        if self.by_first.is_empty() {
            return None;
        }
        let mut out: Vec<Word> = Vec::with_capacity(cw.len());
        let mut changed = false;
        let mut i = 0usize;
        while i < cw.len() {
            let hit = (!cw[i].rewritten)
                .then(|| self.by_first.get(&cw[i].norm))
                .flatten()
                .and_then(|list| {
                    list.iter()
                        .find_map(|e| matched_len(cw, i, e).map(|n| (e, n)))
                });
            match hit {
                Some((e, n)) => {
                    let (first, last) = (&cw[i], &cw[i + n - 1]);
                    for r in &e.replacement {
                        out.push(Word {
                            start: first.start,
                            end: last.end,
                            norm: r.clone(),
                            status: first.status,
                            sentence: first.sentence,
                            clause: first.clause,
                            rewritten: true,
                            upper: false,
                        });
                    }
                    changed = true;
                    i += n;
                }
                None => {
                    out.push(cw[i].clone());
                    i += 1;
                }
            }
        }
        changed.then_some(out)
    }
}

/// Articles and possessives a lay phrase may have in the text but not in HPO ("blood in the
/// urine" for "blood in urine").
const SKIPPABLE: &[&str] = &["the", "a", "an", "my", "his", "her", "their"];

/// How many words of `cw` from `i` the lay phrase `e` covers (skipping articles the pattern
/// does not have), or `None`.
fn matched_len(cw: &[Word], i: usize, e: &LayEntry) -> Option<usize> {
    let mut j = i;
    for (k, p) in e.pattern.iter().enumerate() {
        while k > 0 && j < cw.len() && cw[j].norm != *p && SKIPPABLE.contains(&cw[j].norm.as_str())
        {
            j += 1;
        }
        let w = cw.get(j)?;
        if w.rewritten || w.norm != *p || w.status != cw[i].status || (e.upper && !w.upper) {
            return None;
        }
        j += 1;
    }
    Some(j - i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::analyse_with;

    const OBO: &str = "format-version: 1.2\n\n[Term]\nid: HP:0000001\nname: All\n\n\
[Term]\nid: HP:0001025\nname: Urticaria\nsynonym: \"Hives\" EXACT layperson []\n\
synonym: \"Nettle rash\" RELATED layperson []\nis_a: HP:0000001\n\n\
[Term]\nid: HP:0001629\nname: Ventricular septal defect\n\
synonym: \"VSD\" EXACT abbreviation []\nis_a: HP:0000001\n\n\
[Term]\nid: HP:0000790\nname: Hematuria\n\
synonym: \"Blood in urine\" EXACT layperson []\nis_a: HP:0000001\n";

    fn table() -> LayTerms {
        LayTerms::from_ontology(&Ontology::parse_str(OBO, "test.obo"))
    }

    /// The words without the built-in lexicon, which would rewrite some of these terms first.
    fn plain(text: &str) -> Vec<Word> {
        analyse_with(text, false)
    }

    fn norms(ws: &[Word]) -> Vec<&str> {
        ws.iter().map(|w| w.norm.as_str()).collect()
    }

    #[test]
    fn exact_lay_and_abbreviation_synonyms_only() {
        let t = table();
        assert_eq!(t.len(), 3);
        let ws = plain("itchy hives");
        let alt = t.rewrite(&ws).unwrap();
        assert_eq!(norms(&alt), ["itchy", "urticaria"]);
        let hive = &alt[1];
        assert_eq!((hive.start, hive.end), (6, 11));
        // RELATED synonyms are not rewritten.
        assert!(t.rewrite(&plain("nettle rash")).is_none());
    }

    #[test]
    fn abbreviations_need_upper_case() {
        let t = table();
        let alt = t.rewrite(&plain("VSD")).unwrap();
        assert_eq!(norms(&alt), ["ventricular", "septal", "defect"]);
        assert!(t.rewrite(&plain("vsd")).is_none());
    }

    #[test]
    fn articles_between_lay_words_are_skipped() {
        let t = table();
        let ws = plain("blood in the urine today");
        let alt = t.rewrite(&ws).unwrap();
        assert_eq!(norms(&alt), ["hematuria", "today"]);
        assert_eq!((alt[0].start, alt[0].end), (0, 18));
        // Not before the first word, and not in place of a pattern word.
        assert!(t.rewrite(&plain("the blood in a cup")).is_none());
    }
}
