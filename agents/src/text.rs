//! Text helpers shared by the agents: content-word tokens for overlap scores, sentence spans with
//! char offsets, and char-offset search.

use std::collections::BTreeSet;

/// Function words and question words that carry no content for overlap scores.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "al",
    "all",
    "also",
    "am",
    "among",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "based",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "describe",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "e",
    "each",
    "eg",
    "et",
    "explain",
    "few",
    "for",
    "from",
    "further",
    "g",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "however",
    "i",
    "ie",
    "if",
    "in",
    "include",
    "includes",
    "including",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "known",
    "list",
    "many",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "name",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "same",
    "several",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "tell",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "therefore",
    "these",
    "they",
    "this",
    "those",
    "three",
    "through",
    "thus",
    "to",
    "too",
    "two",
    "under",
    "until",
    "up",
    "us",
    "use",
    "used",
    "using",
    "very",
    "via",
    "was",
    "we",
    "well",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "yes",
    "you",
    "your",
];

/// True for function words (see [`content_tokens`]).
pub fn is_stopword(w: &str) -> bool {
    STOPWORDS.binary_search(&w).is_ok()
}

/// A light suffix stripper so that "mutations"/"mutation", "treated"/"treat" match.
/// It only needs to be the same function on both sides of a comparison.
pub fn stem(w: &str) -> String {
    let n = w.chars().count();
    if n <= 4 {
        return w.to_string();
    }
    for suf in ["ies", "es", "s", "ing", "ed", "ly"] {
        if let Some(base) = w.strip_suffix(suf)
            && base.chars().count() >= 4
            && !w.ends_with("ss")
            && !w.ends_with("us")
            && !w.ends_with("is")
        {
            return if suf == "ies" {
                format!("{base}y")
            } else {
                base.to_string()
            };
        }
    }
    w.to_string()
}

/// Lower-cased alphanumeric words of `text` (hyphens and other punctuation separate words).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The set of stemmed content words of `text`: no function words, no one-letter words,
/// no pure numbers of one digit.
pub fn content_tokens(text: &str) -> BTreeSet<String> {
    words(text)
        .into_iter()
        .filter(|w| w.chars().count() > 1 && !is_stopword(w))
        .map(|w| stem(&w))
        .collect()
}

/// Content words of `text` as (stem, first original word with that stem), in text order.
pub fn content_words(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for w in words(text) {
        if w.chars().count() <= 1 || is_stopword(&w) {
            continue;
        }
        let st = stem(&w);
        if !out.iter().any(|(s, _)| *s == st) {
            out.push((st, w));
        }
    }
    out
}

/// Sentence spans of `text` as `(start, end)` char offsets (the ingest splitter).
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    clinrag_ingest::sentence_spans(&chars)
}

/// Char offset of the first occurrence of `needle` in `hay`, if any.
pub fn find_chars(hay: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let byte = hay.find(needle)?;
    Some(hay[..byte].chars().count())
}

/// Finds `needle` in `hay` ignoring differences in whitespace runs; returns the char span
/// `[start, end)` of the match in `hay` (so that the quote can be re-cut exactly from `hay`).
pub fn find_chars_loose(hay: &str, needle: &str) -> Option<(usize, usize)> {
    let norm: Vec<&str> = needle.split_whitespace().collect();
    if norm.is_empty() {
        return None;
    }
    if let Some(s) = find_chars(hay, needle.trim()) {
        return Some((s, s + needle.trim().chars().count()));
    }
    let hay_chars: Vec<char> = hay.chars().collect();
    let pat: Vec<char> = norm.join(" ").chars().collect();
    let n = hay_chars.len();
    for (start, c) in hay_chars.iter().enumerate() {
        if c.is_whitespace() {
            continue;
        }
        let (mut i, mut j) = (start, 0);
        while i < n && j < pat.len() {
            if pat[j] == ' ' {
                if !hay_chars[i].is_whitespace() {
                    break;
                }
                while i < n && hay_chars[i].is_whitespace() {
                    i += 1;
                }
                j += 1;
            } else if hay_chars[i] == pat[j] {
                i += 1;
                j += 1;
            } else {
                break;
            }
        }
        if j == pat.len() {
            return Some((start, i));
        }
    }
    None
}

/// The first `n` chars of `s`.
pub fn truncate_chars(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        let mut s = STOPWORDS.to_vec();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s, STOPWORDS.to_vec());
    }

    #[test]
    fn content_tokens_cases() {
        let cases: &[(&str, &[&str])] = &[
            ("What are the mutations of BRCA1?", &["brca1", "mutation"]),
            ("Treated patients", &["patient", "treat"]),
            ("a b of the", &[]),
            ("Diabetes studies", &["diabet", "study"]),
        ];
        for (text, want) in cases {
            let got: Vec<String> = content_tokens(text).into_iter().collect();
            let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn find_cases() {
        assert_eq!(find_chars("héllo world", "world"), Some(6));
        assert_eq!(find_chars("abc", ""), None);
        assert_eq!(find_chars_loose("a  b\nc d", "b c"), Some((3, 6)));
        assert_eq!(
            find_chars_loose("héllo  wörld!", "héllo wörld"),
            Some((0, 12))
        );
        assert_eq!(find_chars_loose("abc", "abd"), None);
    }
}
