//! A rule-based sentence splitter for biomedical and clinical English.
//!
//! Boundaries: `.`, `?` or `!` (optionally followed by closing quotes or brackets) then
//! whitespace then an upper-case letter, digit or opening bracket, unless the word before the
//! period is a known abbreviation (`e.g.`, `et al.`, `Fig.`, ...) or a single letter (an
//! initial); and every line break. Spans are char offsets, trimmed of whitespace.

const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "al", "fig", "figs", "dr", "mr", "mrs", "ms", "vs", "approx", "no", "nos", "ref",
    "refs", "st", "jr", "sr", "inc", "ltd", "co", "cf", "ca", "resp", "eq", "eqs", "tab", "vol",
    "pp", "prof", "min", "max", "mg", "ml", "dept", "univ", "sp", "spp", "var", "ed", "eds",
];

/// Sentence spans `[start, end)` in char offsets of `chars`, in order, not overlapping, each
/// trimmed of surrounding whitespace; together they cover every non-whitespace char.
pub fn sentence_spans(chars: &[char]) -> Vec<(usize, usize)> {
    let n = chars.len();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < n {
        let c = chars[i];
        let mut boundary_end = None;
        if c == '\n' {
            boundary_end = Some(i);
        } else if matches!(c, '.' | '?' | '!') {
            let mut j = i + 1;
            while j < n && matches!(chars[j], '"' | '\'' | ')' | ']' | '’' | '”') {
                j += 1;
            }
            if j >= n {
                boundary_end = Some(j);
            } else if chars[j].is_whitespace() {
                let mut k = j;
                while k < n && chars[k].is_whitespace() && chars[k] != '\n' {
                    k += 1;
                }
                let next_ok = k >= n
                    || chars[k] == '\n'
                    || chars[k].is_uppercase()
                    || chars[k].is_ascii_digit()
                    || matches!(chars[k], '(' | '[' | '"' | '“' | '‘');
                if next_ok && !(c == '.' && is_abbreviation(chars, i)) {
                    boundary_end = Some(j);
                }
            }
        }
        if let Some(end) = boundary_end {
            push_trimmed(chars, start, end, &mut out);
            start = end;
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    push_trimmed(chars, start, n, &mut out);
    out
}

fn push_trimmed(chars: &[char], mut s: usize, mut e: usize, out: &mut Vec<(usize, usize)>) {
    while s < e && chars[s].is_whitespace() {
        s += 1;
    }
    while e > s && chars[e - 1].is_whitespace() {
        e -= 1;
    }
    if s < e {
        out.push((s, e));
    }
}

/// Whether the word ending just before the period at `dot` is an abbreviation or an initial.
fn is_abbreviation(chars: &[char], dot: usize) -> bool {
    let mut s = dot;
    while s > 0 && (chars[s - 1].is_alphanumeric() || chars[s - 1] == '.') {
        s -= 1;
    }
    let word: String = chars[s..dot].iter().collect::<String>().to_lowercase();
    if word.is_empty() {
        return false;
    }
    if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) {
        return true;
    }
    ABBREVIATIONS.contains(&word.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        sentence_spans(&chars)
            .into_iter()
            .map(|(a, b)| chars[a..b].iter().collect())
            .collect()
    }

    #[test]
    fn splits_table() {
        let cases: &[(&str, &[&str])] = &[
            ("One. Two.", &["One.", "Two."]),
            (
                "Smith et al. reported it. See Fig. 2 for details.",
                &["Smith et al. reported it.", "See Fig. 2 for details."],
            ),
            (
                "Dose was 2.5 mg daily. It worked (p < 0.05). Next?",
                &["Dose was 2.5 mg daily.", "It worked (p < 0.05).", "Next?"],
            ),
            (
                "e.g. aspirin was given. Fine.",
                &["e.g. aspirin was given.", "Fine."],
            ),
            ("J. R. Smith wrote it.", &["J. R. Smith wrote it."]),
            ("line one\nline two", &["line one", "line two"]),
            (
                "He said \"stop.\" Then left.",
                &["He said \"stop.\"", "Then left."],
            ),
            ("  padded.  ", &["padded."]),
            ("", &[]),
            ("no terminal punctuation", &["no terminal punctuation"]),
            (
                "The value was 5. 6 patients died.",
                &["The value was 5.", "6 patients died."],
            ),
            (
                "lower case after. period stays",
                &["lower case after. period stays"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(split(input), *want, "input: {input:?}");
        }
    }
}
