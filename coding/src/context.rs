//! Text analysis for coding: words with char offsets, lexicon rewriting, sentence and clause
//! boundaries, and NegEx-style context (negated, family history) for every word.

use std::collections::HashMap;
use std::sync::OnceLock;

use clinrag_kg::{normalize_term, tokenize};

use crate::lexicon;

/// The context of a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    /// Said of the patient, affirmed.
    Affirmed,
    /// In the scope of a negation ("denies chest pain", "no fever", "ruled out").
    Negated,
    /// Said of a relative ("family history of", "mother had").
    Family,
    /// A context trigger word itself.
    Trigger,
}

/// A word of the analysed text (after lexicon rewriting; rewritten words keep the span of the
/// phrase they replace).
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Start in chars of the input.
    pub start: usize,
    /// End (exclusive) in chars of the input.
    pub end: usize,
    /// Normalised word.
    pub norm: String,
    /// Context.
    pub status: Status,
    /// Sentence number.
    pub sentence: u32,
    /// Clause number (clauses split sentences at commas, colons and "and"/"or").
    pub clause: u32,
    /// Whether the word came from the lexicon.
    pub rewritten: bool,
    /// Whether the word was written in upper case (abbreviations).
    pub upper: bool,
}

/// A lexicon entry: pattern words, replacement words, upper case required.
/// Pattern words, replacement words, upper case only, replacement is a clause of its own.
type LexEntry = (Vec<String>, Vec<String>, bool, bool);

struct Patterns {
    lexicon: HashMap<String, Vec<LexEntry>>,
    negation_pre: Vec<Vec<String>>,
    negation_post: Vec<Vec<String>>,
    family: Vec<Vec<String>>,
    terminators: Vec<String>,
}

fn words(s: &str) -> Vec<String> {
    normalize_term(s)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

const NEG_PRE: &[&str] = &[
    "no",
    "not",
    "denies",
    "denied",
    "deny",
    "denying",
    "negative for",
    "without",
    "w/o",
    "free of",
    "ruled out",
    "ruled out for",
    "rule out",
    "r/o",
    "to rule out",
    "absence of",
    "no evidence of",
    "no sign of",
    "no signs of",
    "never had",
    "never",
    "resolved",
    "h/o negative",
    "neg for",
    "nor",
    "unlikely",
    "allergic to",
    "allergy to",
    "allergies to",
    "intolerant of",
    "intolerant to",
    "stopped",
    "discontinued",
    "held",
];
const NEG_POST: &[&str] = &[
    // Normal examination findings: the organ named before them is not a problem ("lungs
    // clear to auscultation", "abdomen nontender", "heart regular rate and rhythm").
    "clear to auscultation",
    "clear",
    "unremarkable",
    "wnl",
    "within normal limits",
    "nontender",
    "non tender",
    "nondistended",
    "non distended",
    "regular rate and rhythm",
    "rrr",
    "intact",
    "not palpable",
    "nonpalpable",
    "non palpable",
    "appropriate",
    "ruled out",
    "was ruled out",
    "negative",
    "is negative",
    "was negative",
    "unlikely",
    "resolved",
    "absent",
    // Plain speech for normal ("the nurse says my eyes, feet and kidneys are all fine").
    "is fine",
    "are fine",
    "all fine",
    "are all fine",
    "looks fine",
    "look fine",
    "is normal",
    "are normal",
    "all normal",
    "came back normal",
    "came back fine",
    "looks normal",
    "look normal",
];
const FAMILY: &[&str] = &[
    "family history",
    "family hx",
    "fh",
    "fhx",
    "mother",
    "father",
    "mom",
    "mum",
    "dad",
    "brother",
    "sister",
    "sibling",
    "siblings",
    "maternal",
    "paternal",
    "grandmother",
    "grandfather",
    "aunt",
    "uncle",
    "cousin",
    "son",
    "daughter",
    "parents",
    "runs in the family",
];
/// Words skipped between the words of a lexicon pattern.
pub(crate) const LEXICON_SKIPPABLE: &[&str] = &[
    "the", "a", "an", "my", "his", "hi", "her", "their", "your", "our", "its",
];

/// Verbs that turn from what a patient has to what brings them in: they end a clause.
const PRESENTING: &[&str] = &[
    "presents",
    "presenting",
    "presented",
    "complains",
    "complaining",
    "admitted",
];

/// Verbs after a relative that make the relative the informant ("mother reports ...").
const INFORMANT_VERBS: &[&str] = &[
    "says", "said", "states", "stated", "reports", "reported", "notes", "noted", "thinks",
    "believes", "feels", "brought", "brings", "called", "calls",
];
/// Relatives a carer speaks of as the patient ("my mom fell and broke her hip"), the informal
/// ones also without "my" at the start of a sentence ("Mom fell ..."); a sentence with the
/// speaker in it, or a history word, stays family history.
const CARED_FOR: &[&str] = &[
    "mother",
    "father",
    "mom",
    "mum",
    "dad",
    "brother",
    "sister",
    "son",
    "daughter",
    "grandmother",
    "grandfather",
];
const INFORMAL_RELATIVES: &[&str] = &["mom", "mum", "dad"];
const SPEAKER_WORDS: &[&str] = &["i", "me", "myself", "mine"];
const HISTORY_WORDS: &[&str] = &[
    "history",
    "hx",
    "fh",
    "fhx",
    "died",
    "passed",
    "deceased",
    "age",
    "aged",
    "runs",
    "screening",
    "screened",
    "risk",
];
/// Children a parent speaks of as the patient, and the verbs that say so ("my son has ...").
const CHILD_WORDS: &[&str] = &["son", "daughter"];
const CHILD_VERBS: &[&str] = &[
    "has",
    "had",
    "got",
    "get",
    "gets",
    "keep",
    "keeps",
    "is",
    "was",
    "seem",
    "seems",
    "came",
    "woke",
    "broke",
    "fell",
    "cut",
    "swallowed",
    "ate",
    "hit",
    "bumped",
    "twisted",
    "sprained",
    "burned",
    "caught",
];
const TERMINATORS: &[&str] = &[
    "but",
    "however",
    "although",
    "though",
    "except",
    "yet",
    "still",
    "presents",
    "presenting",
    "presented",
    "complains",
    "reports",
    "admitted",
    "which",
    "who",
    "now",
    "currently",
    "patient",
    "pt",
];

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let mut lexicon: HashMap<String, Vec<LexEntry>> = HashMap::new();
        for lexicon::Entry {
            pattern,
            replacement,
            upper,
            own_clause,
        } in lexicon::entries()
        {
            // Skippable words inside a pattern are skipped in the text anyway.
            let p: Vec<String> = words(&pattern)
                .into_iter()
                .enumerate()
                .filter(|(k, w)| *k == 0 || !LEXICON_SKIPPABLE.contains(&w.as_str()))
                .map(|(_, w)| w)
                .collect();
            let r = words(&replacement);
            if let Some(first) = p.first() {
                lexicon
                    .entry(first.clone())
                    .or_default()
                    .push((p.clone(), r, upper, own_clause));
            }
        }
        for list in lexicon.values_mut() {
            list.sort_by_key(|e| std::cmp::Reverse(e.0.len()));
        }
        Patterns {
            lexicon,
            negation_pre: NEG_PRE.iter().map(|s| words(s)).collect(),
            negation_post: NEG_POST.iter().map(|s| words(s)).collect(),
            family: FAMILY.iter().map(|s| words(s)).collect(),
            terminators: TERMINATORS.iter().map(|s| s.to_string()).collect(),
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    None,
    Clause,
    Sentence,
}

/// What separates two tokens: the chars between them.
fn break_between(chars: &[char], from: usize, to: usize) -> Break {
    let mut b = Break::None;
    for i in from..to {
        let c = chars[i];
        let nb = match c {
            '\n' | ';' | '!' | '?' => Break::Sentence,
            '.' => {
                let digit_before = i > 0 && chars[i - 1].is_ascii_digit();
                let digit_after = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
                // The period of a genus initial ("E. coli", "H. pylori", "S. aureus"): one
                // letter before it, a lower-case word after it.
                let initial = i > 0
                    && chars[i - 1].is_alphabetic()
                    && (i < 2 || !chars[i - 2].is_alphanumeric())
                    && chars[i + 1..]
                        .iter()
                        .find(|c| !c.is_whitespace())
                        .is_some_and(|c| c.is_lowercase());
                if (digit_before && digit_after) || initial {
                    Break::None
                } else {
                    Break::Sentence
                }
            }
            ',' | ':' | '(' | ')' | '•' | '*' => Break::Clause,
            '-' if i + 1 < to && chars[i + 1] == ' ' && i > from && chars[i - 1] == ' ' => {
                Break::Clause
            }
            _ => Break::None,
        };
        b = b.max(nb);
    }
    b
}

/// A side said between the words of a lexicon pattern, in the tabular's word ("L" and "R" in
/// upper case only).
fn side_word(t: &clinrag_kg::Token) -> Option<&'static str> {
    match t.norm.as_str() {
        "left" => Some("left"),
        "right" => Some("right"),
        "bilateral" => Some("bilateral"),
        "both" => Some("bilateral"),
        "l" if t.upper => Some("left"),
        "r" if t.upper => Some("right"),
        _ => None,
    }
}

fn starts_with_at(words: &[Word], i: usize, pat: &[String]) -> bool {
    pat.iter()
        .enumerate()
        .all(|(k, p)| words.get(i + k).is_some_and(|w| w.norm == *p))
}

/// Tokenises `text`, rewrites lexicon phrases, splits sentences and clauses, and marks every
/// word's context.
pub fn analyse(text: &str) -> Vec<Word> {
    analyse_with(text, true)
}

/// [`analyse`] with the lexicon switched on or off (off: for ablation measurements).
pub fn analyse_with(text: &str, lexicon: bool) -> Vec<Word> {
    let p = patterns();
    let chars: Vec<char> = text.chars().collect();
    let toks = tokenize(text);
    // Breaks before each token.
    let mut breaks = Vec::with_capacity(toks.len());
    let mut prev_end = 0usize;
    for t in &toks {
        breaks.push(break_between(&chars, prev_end, t.start));
        prev_end = t.end;
    }
    // Lexicon rewriting, never across a break.
    let mut out: Vec<Word> = Vec::with_capacity(toks.len());
    let mut out_breaks: Vec<Break> = Vec::with_capacity(toks.len());
    let mut i = 0usize;
    let mut pending = Break::None;
    while i < toks.len() {
        let mut done = false;
        if let Some(list) = p.lexicon.get(&toks[i].norm).filter(|_| lexicon) {
            for (pat, rep, upper, own_clause) in list {
                // Articles and possessives between pattern words are skipped ("ringing in my
                // ears" is "ringing in ears"), never before the first one.
                let mut j = i;
                let mut ok = true;
                // Sides between pattern words ("rolled my right ankle" for "rolled ankle") are
                // skipped too, and said again after the replacement.
                let mut sides: Vec<(usize, &'static str)> = Vec::new();
                for (k, pw) in pat.iter().enumerate() {
                    while k > 0 && j < toks.len() && toks[j].norm != *pw && breaks[j] == Break::None
                    {
                        if let Some(side) = side_word(&toks[j]) {
                            sides.push((j, side));
                        } else if !LEXICON_SKIPPABLE.contains(&toks[j].norm.as_str()) {
                            break;
                        }
                        j += 1;
                    }
                    let matched = toks.get(j).is_some_and(|t| {
                        t.norm == *pw
                            && (!*upper || t.upper)
                            && (k == 0 || breaks[j] == Break::None)
                    });
                    if !matched {
                        ok = false;
                        break;
                    }
                    j += 1;
                }
                let n = j - i;
                if ok {
                    let (s, e) = (toks[i].start, toks[i + n - 1].end);
                    if rep.is_empty() {
                        pending = pending.max(breaks[i]);
                    }
                    // "afib on warfarin": the drug therapy is a problem of its own.
                    if *own_clause {
                        pending = pending.max(Break::Clause);
                    }
                    for (k, r) in rep.iter().enumerate() {
                        out.push(Word {
                            start: s,
                            end: e,
                            norm: r.clone(),
                            status: Status::Affirmed,
                            sentence: 0,
                            clause: 0,
                            rewritten: true,
                            upper: false,
                        });
                        out_breaks.push(if k == 0 {
                            std::mem::replace(&mut pending, Break::None).max(breaks[i])
                        } else {
                            Break::None
                        });
                    }
                    for (t, side) in sides {
                        out.push(Word {
                            start: toks[t].start,
                            end: toks[t].end,
                            norm: side.to_string(),
                            status: Status::Affirmed,
                            sentence: 0,
                            clause: 0,
                            rewritten: true,
                            upper: false,
                        });
                        out_breaks.push(Break::None);
                    }
                    i += n;
                    if *own_clause {
                        pending = pending.max(Break::Clause);
                    }
                    done = true;
                    break;
                }
            }
        }
        if !done {
            let t = &toks[i];
            // Chart shorthand "L"/"R" before a word: left / right ("acute DVT of L femoral
            // vein", "R knee pain"); upper case only, so "l" (litre) stays.
            let side = match t.norm.as_str() {
                "l" if lexicon && t.upper => Some("left"),
                "r" if lexicon && t.upper => Some("right"),
                _ => None,
            }
            .filter(|_| {
                toks.get(i + 1).is_some_and(|n| {
                    breaks[i + 1] == Break::None
                        && n.norm.len() >= 2
                        && n.norm.chars().all(|c| c.is_alphabetic())
                        && !matches!(n.norm.as_str(), "of" | "per" | "and" | "or" | "to")
                })
            });
            out.push(Word {
                start: t.start,
                end: t.end,
                norm: side.map_or_else(|| t.norm.clone(), str::to_string),
                status: Status::Affirmed,
                sentence: 0,
                clause: 0,
                rewritten: side.is_some(),
                upper: t.upper,
            });
            out_breaks.push(std::mem::replace(&mut pending, Break::None).max(breaks[i]));
            i += 1;
        }
    }
    // "After thyroidectomy", "post appendectomy", "following hysterectomy": the condition is
    // postprocedural (E89.0 "Postprocedural hypothyroidism", K91.- ...); the word is added,
    // with the span of the procedure, for the tabular's wording.
    if lexicon {
        let mut k = 1usize;
        while k < out.len() {
            let procedure = ["ectomy", "otomy", "ostomy", "plasty"]
                .iter()
                .any(|s| out[k].norm.ends_with(s))
                || matches!(
                    out[k].norm.as_str(),
                    "surgery" | "resection" | "ablation" | "irradiation" | "radiotherapy"
                );
            let after = |j: usize| matches!(out[j].norm.as_str(), "after" | "post" | "following");
            // Directly after the trigger, or with one word between ("following radioiodine
            // ablation").
            let triggered = (after(k - 1) && out_breaks[k] == Break::None)
                || (k >= 2
                    && after(k - 2)
                    && out_breaks[k] == Break::None
                    && out_breaks[k - 1] == Break::None);
            if procedure && triggered {
                let mut w = out[k].clone();
                w.norm = "postprocedural".into();
                w.rewritten = true;
                out.insert(k + 1, w);
                out_breaks.insert(k + 1, Break::None);
                k += 1;
            }
            k += 1;
        }
    }
    // Sentences and clauses; "and", "or", "plus" also end a clause.
    let (mut sentence, mut clause) = (0u32, 0u32);
    let mut turns = Vec::new();
    // "with metastases to the liver" is a second neoplasm, not a detail of the first
    // ("sigmoid colon adenocarcinoma with metastases to the liver": C18.7 and C78.7).
    let spread_at: Vec<bool> = (0..out.len())
        .map(|k| {
            out[k].norm == "with"
                && out.get(k + 1).is_some_and(|n| {
                    matches!(
                        n.norm.as_str(),
                        "metastase" | "metastasis" | "mets" | "metastatic"
                    ) || (n.rewritten && n.norm == "secondary")
                })
        })
        .collect();
    for (k, w) in out.iter_mut().enumerate() {
        if spread_at[k] {
            clause += 1;
        }
        match out_breaks[k] {
            Break::Sentence if k > 0 => {
                sentence += 1;
                clause += 1;
            }
            Break::Clause if k > 0 => clause += 1,
            _ => {}
        }
        if !w.rewritten && matches!(w.norm.as_str(), "and" | "or" | "plus" | "also") {
            clause += 1;
        }
        // So do the verbs that turn from the history to the complaint ("T2DM presents with
        // chest pain"); they are no words of either condition.
        let surface: String = chars[w.start..w.end]
            .iter()
            .collect::<String>()
            .to_lowercase();
        if !w.rewritten && PRESENTING.contains(&surface.as_str()) {
            clause += 1;
            turns.push(k);
        }
        w.sentence = sentence;
        w.clause = clause;
    }
    mark_context(&mut out, p);
    for k in turns {
        if out[k].status == Status::Affirmed {
            out[k].status = Status::Trigger;
        }
    }
    mark_negative_marks(&mut out, &negative_marks(&chars));
    out
}

/// The length of the longest of `pats` starting at word `i` (0: none).
fn longest_match(words: &[Word], i: usize, pats: &[Vec<String>]) -> usize {
    pats.iter()
        .filter(|pat| starts_with_at(words, i, pat))
        .map(Vec::len)
        .max()
        .unwrap_or(0)
}

/// Char offsets of the chart's negative marks "(-)" and "(neg)" ("fever (-), cough (+)"); the
/// tokeniser drops them, so they are found in the text.
fn negative_marks(chars: &[char]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        if *c != '(' {
            continue;
        }
        let rest: String = chars[i + 1..]
            .iter()
            .take(4)
            .collect::<String>()
            .to_lowercase();
        if rest.starts_with("-)") || rest.starts_with("neg)") {
            out.push(i);
        }
    }
    out
}

/// A negative mark negates the clause of the words right before it ("HIV (-)").
fn mark_negative_marks(words: &mut [Word], marks: &[usize]) {
    for &m in marks {
        let Some(last) = words.iter().rposition(|w| w.end <= m) else {
            continue;
        };
        let (sentence, clause) = (words[last].sentence, words[last].clause);
        for w in words.iter_mut() {
            if w.sentence == sentence && w.clause == clause && w.status == Status::Affirmed {
                w.status = Status::Negated;
            }
        }
    }
}

fn mark_context(words: &mut [Word], p: &Patterns) {
    let mut i = 0usize;
    while i < words.len() {
        let sentence = words[i].sentence;
        let end = words[i..]
            .iter()
            .position(|w| w.sentence != sentence)
            .map_or(words.len(), |n| i + n);
        mark_sentence(&mut words[i..end], p);
        i = end;
    }
}

fn mark_sentence(words: &mut [Word], p: &Patterns) {
    let n = words.len();
    // Family history: the whole sentence from the trigger on (and before it when the trigger
    // is at the end: "breast cancer in mother").
    for i in 0..n {
        if words[i].rewritten {
            continue;
        }
        if let Some(pat) = p.family.iter().find(|pat| starts_with_at(words, i, pat)) {
            // A relative telling the history ("mom says he has a stomach bug", "per mother")
            // is the informant, not the one who has it.
            let next = words.get(i + pat.len()).map(|w| w.norm.as_str());
            let prev = i.checked_sub(1).map(|k| words[k].norm.as_str());
            // A parent speaking of a child ("my son has come down with chickenpox", "our
            // daughter keeps getting earaches"): the child is the patient.
            let parent_of_child = CHILD_WORDS.contains(&pat[0].as_str())
                && pat.len() == 1
                && matches!(prev, Some("my" | "our"))
                && next.is_some_and(|w| CHILD_VERBS.contains(&w));
            // A carer speaking of a relative in the first words of a sentence about them ("my
            // dad keeps getting lost ...", "Mom slipped and broke her hip"): the relative is the
            // patient, unless the speaker speaks of themself or of history ("my mother had
            // breast cancer and I want to be screened", "my father died of a heart attack").
            let carer = pat.len() == 1
                && CARED_FOR.contains(&pat[0].as_str())
                && (matches!(prev, Some("my" | "our"))
                    || (i == 0 && INFORMAL_RELATIVES.contains(&pat[0].as_str())))
                && !words.iter().any(|w| {
                    !w.rewritten
                        && (SPEAKER_WORDS.contains(&w.norm.as_str())
                            || HISTORY_WORDS.contains(&w.norm.as_str()))
                });
            if next.is_some_and(|w| INFORMANT_VERBS.contains(&w))
                || prev == Some("per")
                || parent_of_child
                || carer
            {
                continue;
            }
            for w in words.iter_mut().skip(i).take(pat.len()) {
                w.status = Status::Trigger;
            }
            if i == 0 || words[..i].iter().all(|w| w.status != Status::Affirmed) {
                // Up to where the speaker speaks of themself ("my mum had bowel cancer so I'm
                // booked in for a colonoscopy").
                for w in words.iter_mut().skip(i + pat.len()) {
                    if !w.rewritten && SPEAKER_WORDS.contains(&w.norm.as_str()) {
                        break;
                    }
                    if w.status == Status::Affirmed {
                        w.status = Status::Family;
                    }
                }
            } else {
                // "... in her mother": the clause before the trigger.
                let clause = words[i].clause;
                for w in words.iter_mut().take(i) {
                    if w.clause == clause && w.status == Status::Affirmed {
                        w.status = Status::Family;
                    }
                }
                for w in words.iter_mut().skip(i + pat.len()) {
                    if !w.rewritten && SPEAKER_WORDS.contains(&w.norm.as_str()) {
                        break;
                    }
                    if w.clause == clause && w.status == Status::Affirmed {
                        w.status = Status::Family;
                    }
                }
            }
            return;
        }
    }
    // Negation after the concept ("PE ruled out"): the clause before the trigger. The longer
    // trigger wins where a pre-negation also starts here ("negative for fever, chills" is
    // "negative for", not "negative"); on a tie the post reading needs something before it in
    // its clause ("ruled out PE" is read forwards, "PE ruled out" backwards), as in the kg
    // linker's NegEx table.
    for i in 0..n {
        if words[i].rewritten || words[i].status != Status::Affirmed {
            continue;
        }
        if let Some(pat) = p
            .negation_post
            .iter()
            .filter(|pat| starts_with_at(words, i, pat))
            .max_by_key(|pat| pat.len())
        {
            let pre = longest_match(words, i, &p.negation_pre);
            let clause = words[i].clause;
            let before = words[..i]
                .iter()
                .any(|w| w.clause == clause && w.status == Status::Affirmed);
            if pre > pat.len() || (pre == pat.len() && !before) {
                continue;
            }
            for w in words.iter_mut().take(i) {
                if w.clause == clause && w.status == Status::Affirmed {
                    w.status = Status::Negated;
                }
            }
            for w in words.iter_mut().skip(i).take(pat.len()) {
                w.status = Status::Trigger;
            }
        }
    }
    // Negation before the concept: to the end of the sentence or a terminator.
    let mut i = 0usize;
    while i < n {
        if words[i].rewritten || words[i].status != Status::Affirmed {
            i += 1;
            continue;
        }
        let len = longest_match(words, i, &p.negation_pre);
        if len == 0 {
            i += 1;
            continue;
        }
        for w in words.iter_mut().skip(i).take(len) {
            w.status = Status::Trigger;
        }
        let mut j = i + len;
        while j < n && (words[j].rewritten || !p.terminators.contains(&words[j].norm)) {
            if words[j].status == Status::Affirmed {
                words[j].status = Status::Negated;
            }
            j += 1;
        }
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(ws: &[Word], norm: &str) -> Option<Status> {
        ws.iter().find(|w| w.norm == norm).map(|w| w.status)
    }

    #[test]
    fn rewrites_keep_spans() {
        let text = "Pt with afib and HTN.";
        let ws = analyse(text);
        let atrial = ws.iter().find(|w| w.norm == "atrial").unwrap();
        assert_eq!((atrial.start, atrial.end), (8, 12));
        assert!(ws.iter().any(|w| w.norm == "hypertension"));
        let hyper = ws.iter().find(|w| w.norm == "hypertension").unwrap();
        assert_ne!(hyper.clause, atrial.clause);
    }

    #[test]
    fn upper_case_only_abbreviations() {
        assert!(
            analyse("MI last year")
                .iter()
                .any(|w| w.norm == "myocardial")
        );
        assert!(!analyse("mi casa").iter().any(|w| w.norm == "myocardial"));
    }

    #[test]
    fn context_cases() {
        let cases: &[(&str, &str, Status)] = &[
            ("Denies chest pain or fever.", "fever", Status::Negated),
            ("No cough, but has fever", "fever", Status::Affirmed),
            ("No cough, but has fever", "cough", Status::Negated),
            ("Family history of breast cancer", "breast", Status::Family),
            ("Breast cancer in her mother", "breast", Status::Family),
            ("Pulmonary embolism ruled out", "embolism", Status::Negated),
            (
                "Type 2 diabetes without complications",
                "complication",
                Status::Negated,
            ),
            (
                "Type 2 diabetes without complications",
                "diabete",
                Status::Affirmed,
            ),
            ("Asthma. Mother has diabetes.", "asthma", Status::Affirmed),
            // Round 7: a parent speaking of a child is the informant.
            ("my son has a cough", "cough", Status::Affirmed),
            // Round 7: normal examination findings negate the organ before them.
            (
                "Lungs clear to auscultation bilaterally",
                "lung",
                Status::Negated,
            ),
            (
                "Abdomen nontender and nondistended",
                "abdomen",
                Status::Negated,
            ),
            ("Tympanic membranes intact", "tympanic", Status::Negated),
            ("Liver and spleen not palpable", "spleen", Status::Negated),
            // Round 7: a side inside a lexicon pattern is said again after the replacement.
            ("rolled my right ankle", "right", Status::Affirmed),
            ("rolled my right ankle", "sprain", Status::Affirmed),
            (
                "our daughter keeps getting a fever",
                "fever",
                Status::Affirmed,
            ),
            ("I worry about my son's asthma", "asthma", Status::Family),
            ("my son's asthma is worse", "asthma", Status::Affirmed),
            ("her son has asthma", "asthma", Status::Family),
            // Round 5: "negative for" lists, "neg for", "(-)", rule-out before the concept.
            (
                "Negative for fever, chills, night sweats, or weight loss.",
                "fever",
                Status::Negated,
            ),
            (
                "Negative for fever, chills, night sweats, or weight loss.",
                "loss",
                Status::Negated,
            ),
            (
                "ROS negative for cough and dyspnea",
                "dyspnea",
                Status::Negated,
            ),
            ("neg for dysuria, hematuria", "hematuria", Status::Negated),
            ("Ruled out PE.", "embolism", Status::Negated),
            ("ruled out for MI", "myocardial", Status::Negated),
            ("r/o appendicitis", "appendicitis", Status::Negated),
            ("to rule out sepsis", "sepsis", Status::Negated),
            ("syphilis (-), hepatitis C (+)", "syphilis", Status::Negated),
            (
                "syphilis (-), hepatitis C (+)",
                "hepatitis",
                Status::Affirmed,
            ),
            (
                "strep (neg). Otitis media.",
                "streptococcal",
                Status::Negated,
            ),
            ("migraine w/o aura", "aura", Status::Negated),
            ("mom says he has asthma", "asthma", Status::Affirmed),
            ("per mother, fever since Monday", "fever", Status::Affirmed),
            ("mother has asthma", "asthma", Status::Family),
            // Round 9: a carer speaks of the relative who is the patient, unless the speaker
            // speaks of themself or of history.
            ("my dad keeps getting lost", "lost", Status::Affirmed),
            ("Mom slipped and broke her hip", "hip", Status::Affirmed),
            (
                "my mother had breast cancer and I want to be screened",
                "breast",
                Status::Family,
            ),
            (
                "my mother had breast cancer and I want to be screened",
                "screened",
                Status::Affirmed,
            ),
            (
                "my father died of a heart attack",
                "myocardial",
                Status::Family,
            ),
            ("my kidneys are all fine", "kidney", Status::Negated),
            ("migraine w/o aura", "migraine", Status::Affirmed),
            ("strep (neg). Otitis media.", "otitis", Status::Affirmed),
            ("Troponin negative, chest pain", "troponin", Status::Negated),
            ("Troponin negative, chest pain", "chest", Status::Affirmed),
            ("Blood cultures negative.", "culture", Status::Negated),
        ];
        for (text, word, want) in cases {
            let ws = analyse(text);
            assert_eq!(
                status_of(&ws, word),
                Some(*want),
                "{text}: {word} in {:?}",
                ws.iter().map(|w| (&w.norm, w.status)).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn round3_abbreviations_and_postprocedural() {
        let norms = |t: &str| -> Vec<String> { analyse(t).into_iter().map(|w| w.norm).collect() };
        assert_eq!(norms("PCOS"), ["polycystic", "ovarian", "syndrome"]);
        // Upper case required where the letters are also a word or another abbreviation.
        assert_eq!(norms("ALS"), ["amyotrophic", "lateral", "sclerosis"]);
        assert_eq!(norms("als"), ["als"]);
        let ws = analyse("hypothyroidism after thyroidectomy");
        let post = ws.iter().find(|w| w.norm == "postprocedural").unwrap();
        assert_eq!((post.start, post.end), (21, 34));
        assert!(
            !analyse("thyroidectomy planned")
                .iter()
                .any(|w| w.norm == "postprocedural")
        );
    }

    #[test]
    fn decimal_points_do_not_split_sentences() {
        let ws = analyse("HbA1c 7.5 today. Fever");
        let seven = ws.iter().find(|w| w.norm == "7").unwrap();
        let five = ws.iter().find(|w| w.norm == "5").unwrap();
        assert_eq!(seven.sentence, five.sentence);
        assert_ne!(ws.last().unwrap().sentence, seven.sentence);
    }

    #[test]
    fn genus_initials_do_not_split_sentences() {
        let ws = analyse("Sepsis due to E. coli. No fever");
        let sepsis = ws.iter().find(|w| w.norm == "sepsis").unwrap();
        let coli = ws.iter().find(|w| w.norm == "coli").unwrap();
        assert_eq!(
            (sepsis.sentence, sepsis.clause),
            (coli.sentence, coli.clause)
        );
        // A sentence that ends after a one-letter word still ends when the next starts upper case.
        let ws = analyse("Hep B. Fever");
        assert_ne!(ws.first().unwrap().sentence, ws.last().unwrap().sentence);
    }

    #[test]
    fn presenting_verbs_end_the_history_clause() {
        let ws = analyse("T2DM presents with chest pain");
        let dm = ws.iter().find(|w| w.norm == "mellitus").unwrap();
        let chest = ws.iter().find(|w| w.norm == "chest").unwrap();
        assert_ne!(dm.clause, chest.clause);
        let verb = ws.iter().find(|w| w.norm == "present").unwrap();
        assert_eq!(verb.status, Status::Trigger);
        // "present" as an adjective is a word like any other.
        let ws = analyse("pain present in the left knee");
        assert!(
            ws.iter()
                .all(|w| w.clause == 0 && w.status == Status::Affirmed)
        );
    }

    #[test]
    fn articles_and_possessives_inside_lexicon_patterns_are_skipped() {
        // "blood clot in the lung" is in the lay-term file.
        for text in [
            "blood clot in the lung",
            "blood clot in his lung",
            "blood clot in lung",
        ] {
            let ws = analyse(text);
            let norms: Vec<&str> = ws.iter().map(|w| w.norm.as_str()).collect();
            assert_eq!(norms, ["pulmonary", "embolism"], "{text}");
            assert_eq!(
                (ws[0].start, ws[0].end),
                (0, text.chars().count()),
                "{text}"
            );
        }
    }

    #[test]
    fn chart_side_letters_and_procedures_one_word_away() {
        let norms = |t: &str| -> Vec<String> { analyse(t).into_iter().map(|w| w.norm).collect() };
        assert_eq!(norms("L femoral vein")[0], "left");
        assert_eq!(norms("R knee")[0], "right");
        // Lower case, or before a number or "of": not a side.
        assert_eq!(norms("l femoral vein")[0], "l");
        assert!(!norms("2 L of fluid").contains(&"left".to_string()));
        let ws = analyse("hypothyroidism following radioiodine ablation");
        assert!(ws.iter().any(|w| w.norm == "postprocedural"));
    }
}
