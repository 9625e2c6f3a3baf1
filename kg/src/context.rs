//! NegEx/ConText-style context of a mention: negation and uncertainty, experiencer
//! (patient or family) and temporality (current or historical), from trigger phrases with
//! scopes that stop at terminators (but, however, sentence punctuation). A comma ends a
//! negation or uncertainty scope only when the clause after it asserts something of its own
//! ("no fever, cough present"); a plain list stays in scope ("denies fever, chills, or cough").

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Whether the text asserts the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Certainty {
    /// Asserted ("fever").
    Affirmed,
    /// Denied ("no fever", "denies chest pain", "PE was ruled out").
    Negated,
    /// Uncertain ("rule out MI", "possible pneumonia", "suspected sepsis").
    Possible,
}

/// Who has the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Experiencer {
    /// The patient.
    Patient,
    /// A relative ("family history of", "mother had").
    Family,
}

/// When.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Temporality {
    /// Now.
    Current,
    /// In the past ("history of", "s/p").
    Historical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PreNeg,
    PostNeg,
    PrePossible,
    PostPossible,
    PreHistorical,
    PreFamily,
    Pseudo,
    Terminate,
}

/// Trigger phrases (lower case, words separated by single spaces; "/" stays inside a word).
const TRIGGERS: &[(&str, Kind)] = &[
    // Negation before the finding.
    ("no", Kind::PreNeg),
    ("not", Kind::PreNeg),
    ("denies", Kind::PreNeg),
    ("denied", Kind::PreNeg),
    ("deny", Kind::PreNeg),
    ("denying", Kind::PreNeg),
    ("without", Kind::PreNeg),
    ("never", Kind::PreNeg),
    ("negative for", Kind::PreNeg),
    ("neg for", Kind::PreNeg),
    ("free of", Kind::PreNeg),
    ("absence of", Kind::PreNeg),
    ("no evidence of", Kind::PreNeg),
    ("no signs of", Kind::PreNeg),
    ("no sign of", Kind::PreNeg),
    ("no history of", Kind::PreNeg),
    ("no complaints of", Kind::PreNeg),
    ("ruled out for", Kind::PreNeg),
    ("unremarkable for", Kind::PreNeg),
    ("fails to reveal", Kind::PreNeg),
    ("failed to reveal", Kind::PreNeg),
    ("resolution of", Kind::PreNeg),
    // Negation after the finding.
    ("ruled out", Kind::PostNeg),
    ("was ruled out", Kind::PostNeg),
    ("is ruled out", Kind::PostNeg),
    ("has been ruled out", Kind::PostNeg),
    ("were ruled out", Kind::PostNeg),
    ("was negative", Kind::PostNeg),
    ("were negative", Kind::PostNeg),
    ("is negative", Kind::PostNeg),
    ("negative", Kind::PostNeg),
    ("absent", Kind::PostNeg),
    ("is absent", Kind::PostNeg),
    ("was absent", Kind::PostNeg),
    ("not seen", Kind::PostNeg),
    ("was not seen", Kind::PostNeg),
    ("unlikely", Kind::PostNeg),
    ("is unlikely", Kind::PostNeg),
    ("resolved", Kind::PostNeg),
    ("has resolved", Kind::PostNeg),
    // Uncertainty.
    ("rule out", Kind::PrePossible),
    ("r/o", Kind::PrePossible),
    ("to rule out", Kind::PrePossible),
    ("possible", Kind::PrePossible),
    ("possibly", Kind::PrePossible),
    ("probable", Kind::PrePossible),
    ("probably", Kind::PrePossible),
    ("likely", Kind::PrePossible),
    ("suspected", Kind::PrePossible),
    ("suspect", Kind::PrePossible),
    ("suspicious for", Kind::PrePossible),
    ("suspicion of", Kind::PrePossible),
    ("concern for", Kind::PrePossible),
    ("concerning for", Kind::PrePossible),
    ("questionable", Kind::PrePossible),
    ("question of", Kind::PrePossible),
    ("evaluate for", Kind::PrePossible),
    ("evaluation for", Kind::PrePossible),
    ("differential includes", Kind::PrePossible),
    ("may have", Kind::PrePossible),
    ("might have", Kind::PrePossible),
    ("presumed", Kind::PrePossible),
    ("cannot rule out", Kind::PrePossible),
    ("can not rule out", Kind::PrePossible),
    ("cannot exclude", Kind::PrePossible),
    ("is suspected", Kind::PostPossible),
    ("was suspected", Kind::PostPossible),
    ("cannot be ruled out", Kind::PostPossible),
    ("can not be ruled out", Kind::PostPossible),
    ("cannot be excluded", Kind::PostPossible),
    ("not excluded", Kind::PostPossible),
    ("is possible", Kind::PostPossible),
    ("is likely", Kind::PostPossible),
    ("?", Kind::PostPossible),
    // History.
    ("history of", Kind::PreHistorical),
    ("hx of", Kind::PreHistorical),
    ("h/o", Kind::PreHistorical),
    ("past medical history", Kind::PreHistorical),
    ("past medical history of", Kind::PreHistorical),
    ("past history of", Kind::PreHistorical),
    ("pmh", Kind::PreHistorical),
    ("previous", Kind::PreHistorical),
    ("previously", Kind::PreHistorical),
    ("prior", Kind::PreHistorical),
    ("past", Kind::PreHistorical),
    ("remote", Kind::PreHistorical),
    ("status post", Kind::PreHistorical),
    ("s/p", Kind::PreHistorical),
    // Family.
    ("family history of", Kind::PreFamily),
    ("family history", Kind::PreFamily),
    ("family hx of", Kind::PreFamily),
    ("fhx", Kind::PreFamily),
    ("mother", Kind::PreFamily),
    ("father", Kind::PreFamily),
    ("brother", Kind::PreFamily),
    ("sister", Kind::PreFamily),
    ("sibling", Kind::PreFamily),
    ("siblings", Kind::PreFamily),
    ("mom", Kind::PreFamily),
    ("dad", Kind::PreFamily),
    ("grandmother", Kind::PreFamily),
    ("grandfather", Kind::PreFamily),
    ("aunt", Kind::PreFamily),
    ("uncle", Kind::PreFamily),
    ("cousin", Kind::PreFamily),
    ("daughter", Kind::PreFamily),
    ("son", Kind::PreFamily),
    ("parents", Kind::PreFamily),
    ("maternal", Kind::PreFamily),
    ("paternal", Kind::PreFamily),
    // Look like triggers but are not.
    ("no increase", Kind::Pseudo),
    ("no change", Kind::Pseudo),
    ("no significant change", Kind::Pseudo),
    ("no further", Kind::Pseudo),
    ("not only", Kind::Pseudo),
    ("not necessarily", Kind::Pseudo),
    ("not certain whether", Kind::Pseudo),
    ("gram negative", Kind::Pseudo),
    ("without difficulty", Kind::Pseudo),
    ("not cause", Kind::Pseudo),
    ("not drain", Kind::Pseudo),
    ("positive for", Kind::Pseudo),
    // Scope terminators.
    ("but", Kind::Terminate),
    ("however", Kind::Terminate),
    ("although", Kind::Terminate),
    ("though", Kind::Terminate),
    ("except", Kind::Terminate),
    ("yet", Kind::Terminate),
    ("aside from", Kind::Terminate),
    ("apart from", Kind::Terminate),
    ("nevertheless", Kind::Terminate),
    ("which", Kind::Terminate),
    ("presents with", Kind::Terminate),
    ("presented with", Kind::Terminate),
    ("presenting with", Kind::Terminate),
    ("reports", Kind::Terminate),
    ("reported", Kind::Terminate),
    ("complains of", Kind::Terminate),
    ("endorses", Kind::Terminate),
    ("admits to", Kind::Terminate),
    ("now", Kind::Terminate),
];

/// Words that make a comma-delimited clause an assertion of its own, so that a negation or
/// uncertainty trigger before the comma does not reach the findings of that clause.
const CLAUSE_AFFIRM: &[&str] = &[
    "present",
    "noted",
    "seen",
    "observed",
    "reported",
    "positive",
    "persists",
    "persistent",
    "remains",
    "developed",
    "confirmed",
    "documented",
    "identified",
    "found",
    "evident",
    "ongoing",
    "worsening",
    "has",
    "have",
    "had",
    "is",
    "are",
    "was",
    "were",
    "shows",
    "showed",
    "demonstrates",
    "demonstrated",
];

/// Words after a pre-trigger that a finding may start at and still be in scope.
const PRE_WINDOW: usize = 8;
/// Words between a finding and a post-trigger.
const POST_WINDOW: usize = 4;
/// Words after a family trigger.
const FAMILY_WINDOW: usize = 12;

#[derive(Debug, Clone)]
struct CtxToken {
    start: usize,
    end: usize,
    word: String,
    /// Sentence punctuation (. ; : ! ? or a line break) ends every scope.
    stop: bool,
    /// A comma (not a digit group separator) lies between the previous token and this one.
    comma_before: bool,
}

fn ctx_tokens(text: &str) -> Vec<CtxToken> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut comma = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() {
            let start = i;
            let mut w = String::new();
            while i < chars.len() {
                let c = chars[i];
                let joiner = (c == '/' || c == '\'' || c == '’')
                    && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
                if c.is_alphanumeric() || (joiner && c == '/') {
                    w.extend(c.to_lowercase());
                    i += 1;
                } else if joiner {
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(CtxToken {
                start,
                end: i,
                word: w,
                stop: false,
                comma_before: std::mem::take(&mut comma),
            });
        } else {
            if c == ','
                && !(i > 0
                    && chars[i - 1].is_ascii_digit()
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()))
            {
                comma = true;
            }
            if matches!(c, '.' | ';' | ':' | '!' | '?' | '\n') {
                // A dot between digits ("2.5") is not a sentence end.
                let decimal = c == '.'
                    && i > 0
                    && chars[i - 1].is_ascii_digit()
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
                if !decimal {
                    out.push(CtxToken {
                        start: i,
                        end: i + 1,
                        word: c.to_string(),
                        stop: true,
                        comma_before: std::mem::take(&mut comma),
                    });
                }
            }
            i += 1;
        }
    }
    out
}

/// A trigger found in the text, by token positions.
#[derive(Debug, Clone, Copy)]
struct Found {
    start: usize,
    end: usize,
    kind: Kind,
}

/// The trigger table, indexed by first word.
pub(crate) struct ContextRules {
    by_first: HashMap<&'static str, Vec<(Vec<&'static str>, Kind)>>,
}

impl ContextRules {
    pub(crate) fn new() -> Self {
        let mut by_first: HashMap<&'static str, Vec<(Vec<&'static str>, Kind)>> = HashMap::new();
        for (phrase, kind) in TRIGGERS {
            let words: Vec<&'static str> = phrase.split(' ').collect();
            if let Some(first) = words.first() {
                by_first.entry(first).or_default().push((words, *kind));
            }
        }
        for v in by_first.values_mut() {
            v.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
        }
        ContextRules { by_first }
    }

    fn find(&self, toks: &[CtxToken]) -> Vec<Found> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let mut matched = None;
            if let Some(cands) = self.by_first.get(toks[i].word.as_str()) {
                for (words, kind) in cands {
                    let ok = words
                        .iter()
                        .enumerate()
                        .all(|(k, w)| toks.get(i + k).is_some_and(|t| t.word == *w));
                    if ok {
                        matched = Some((words.len(), *kind));
                        break;
                    }
                }
            }
            match matched {
                Some((len, kind)) => {
                    out.push(Found {
                        start: i,
                        end: i + len,
                        kind,
                    });
                    i += len;
                }
                None => i += 1,
            }
        }
        out
    }

    /// The context of each char span in `text`.
    pub(crate) fn analyze(
        &self,
        text: &str,
        spans: &[(usize, usize)],
    ) -> Vec<(Certainty, Experiencer, Temporality)> {
        let toks = ctx_tokens(text);
        let found = self.find(&toks);
        // stops[i]: scope-ending tokens (punctuation, terminator phrases) in toks[..i].
        let mut is_stop: Vec<bool> = toks.iter().map(|t| t.stop).collect();
        for f in found.iter().filter(|f| f.kind == Kind::Terminate) {
            for x in is_stop.iter_mut().take(f.end).skip(f.start) {
                *x = true;
            }
        }
        let mut stops = Vec::with_capacity(toks.len() + 1);
        stops.push(0usize);
        for (i, s) in is_stop.iter().enumerate() {
            stops.push(stops[i] + usize::from(*s));
        }
        let ctx = Ctx {
            toks: &toks,
            found: &found,
            stops: &stops,
        };
        spans.iter().map(|&(s, e)| ctx.one(s, e)).collect()
    }
}

struct Ctx<'a> {
    toks: &'a [CtxToken],
    /// Triggers in text order (they do not overlap, so ends are ordered too).
    found: &'a [Found],
    stops: &'a [usize],
}

impl Ctx<'_> {
    fn stop_between(&self, a: usize, b: usize) -> bool {
        a < b
            && self
                .stops
                .get(b)
                .zip(self.stops.get(a))
                .is_some_and(|(y, x)| y > x)
    }

    /// Whether a comma between a trigger ending at token `from` and the mention at tokens
    /// `m0..m1` starts a clause that asserts something of its own ("no fever, cough present").
    fn comma_clause_affirms(&self, from: usize, m0: usize, m1: usize) -> bool {
        let toks = self.toks;
        let Some(clause_start) = (from..=m0.min(toks.len().saturating_sub(1)))
            .rev()
            .find(|&j| toks.get(j).is_some_and(|t| t.comma_before))
        else {
            return false;
        };
        let clause_end = (m1..toks.len())
            .find(|&j| toks[j].stop || toks[j].comma_before)
            .unwrap_or(toks.len());
        (clause_start..clause_end)
            .filter(|j| !(m0..m1).contains(j))
            .any(|j| CLAUSE_AFFIRM.contains(&toks[j].word.as_str()))
    }

    fn one(&self, s: usize, e: usize) -> (Certainty, Experiencer, Temporality) {
        let toks = self.toks;
        let m0 = toks.partition_point(|t| t.end <= s);
        let m1 = toks.partition_point(|t| t.start < e).max(m0 + 1);
        let certainty_trigger = |k: Kind| {
            matches!(
                k,
                Kind::PreNeg | Kind::PostNeg | Kind::PrePossible | Kind::PostPossible
            )
        };
        let mut certainty = Certainty::Affirmed;
        let mut experiencer = Experiencer::Patient;
        let mut temporality = Temporality::Current;
        let mut best_pre_certainty: Option<usize> = None;
        // Only triggers ending within the widest window before the mention can apply.
        let lo = self.found.partition_point(|f| f.end + FAMILY_WINDOW < m0);
        let hi = self.found.partition_point(|f| f.end <= m0);
        let before = self.found.get(lo..hi).unwrap_or_default();
        for (k, f) in before.iter().enumerate() {
            let gap = m0 - f.end;
            if self.stop_between(f.end, m0) {
                continue;
            }
            // Later triggers that cut this one's scope.
            let later = before.get(k + 1..).unwrap_or_default();
            let cut = |pred: &dyn Fn(Kind) -> bool| later.iter().any(|g| pred(g.kind));
            match f.kind {
                Kind::PreNeg | Kind::PrePossible
                    if gap <= PRE_WINDOW
                        && !cut(&certainty_trigger)
                        && !self.comma_clause_affirms(f.end, m0, m1)
                        && best_pre_certainty.is_none_or(|b| f.end > b) =>
                {
                    best_pre_certainty = Some(f.end);
                    certainty = if f.kind == Kind::PreNeg {
                        Certainty::Negated
                    } else {
                        Certainty::Possible
                    };
                }
                Kind::PreHistorical
                    if gap <= PRE_WINDOW
                        && !cut(&|k| certainty_trigger(k) || k == Kind::PreHistorical) =>
                {
                    temporality = Temporality::Historical;
                }
                Kind::PreFamily if gap <= FAMILY_WINDOW => experiencer = Experiencer::Family,
                _ => {}
            }
        }
        if certainty == Certainty::Affirmed {
            let from = self.found.partition_point(|f| f.start < m1);
            for f in self
                .found
                .get(from..)
                .unwrap_or_default()
                .iter()
                .take_while(|f| f.start - m1 <= POST_WINDOW)
            {
                let question = toks.get(f.start).is_some_and(|t| t.word == "?");
                if question {
                    if f.start == m1 {
                        certainty = Certainty::Possible;
                    }
                    break;
                }
                if self.stop_between(m1, f.start) {
                    break;
                }
                match f.kind {
                    Kind::PostNeg => {
                        certainty = Certainty::Negated;
                        break;
                    }
                    Kind::PostPossible => {
                        certainty = Certainty::Possible;
                        break;
                    }
                    _ => {}
                }
            }
        }
        (certainty, experiencer, temporality)
    }
}
