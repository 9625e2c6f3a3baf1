//! Text helpers shared by loaders and the linker: tokenising with char offsets, term
//! normalisation (case, accents, punctuation, British spellings, plurals) and CSV lines.

/// A word of the original text with its span in Unicode scalar values (chars).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Char offset of the first char.
    pub start: usize,
    /// Char offset one past the last char.
    pub end: usize,
    /// Normalised form of the word.
    pub norm: String,
    /// True when every letter of the original word is upper case and it has at least one letter.
    pub upper: bool,
}

/// Folds common Latin accented letters to ASCII (é -> e, ö -> o, ß -> ss).
fn fold_char(c: char, out: &mut String) {
    let folded = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        'ß' => {
            out.push_str("ss");
            return;
        }
        'æ' => {
            out.push_str("ae");
            return;
        }
        'œ' => {
            out.push_str("oe");
            return;
        }
        other => other,
    };
    out.push(folded);
}

/// British to American spelling rewrites applied inside a lower-cased word, in order.
const SPELLING: &[(&str, &str)] = &[
    ("oesophag", "esophag"),
    ("oestr", "estr"),
    ("oedem", "edem"),
    ("diarrhoea", "diarrhea"),
    ("dyspnoea", "dyspnea"),
    ("apnoea", "apnea"),
    ("gonorrhoea", "gonorrhea"),
    ("amenorrhoea", "amenorrhea"),
    ("coeliac", "celiac"),
    ("foet", "fet"),
    ("haem", "hem"),
    ("anaem", "anem"),
    ("aemia", "emia"),
    ("aemic", "emic"),
    ("ischaem", "ischem"),
    ("leukaem", "leukem"),
    ("paed", "ped"),
    ("gynaec", "gynec"),
    ("anaesth", "anesth"),
    ("caesar", "cesar"),
    ("tumour", "tumor"),
    ("colour", "color"),
    ("behaviour", "behavior"),
    ("labour", "labor"),
    ("isation", "ization"),
    ("sulph", "sulf"),
    ("centre", "center"),
    ("fibre", "fiber"),
    ("litre", "liter"),
];

/// Normalises one lower-cased, accent-folded word: British spellings and plurals.
pub fn norm_word(word: &str) -> String {
    let mut w = word.to_string();
    // Every rewrite source contains one of these; most words contain none.
    let maybe_british = w.len() > 4
        && (w.contains("ae")
            || w.contains("oe")
            || w.contains("our")
            || w.contains("isat")
            || w.contains("sulph")
            || w.contains("tre")
            || w.contains("bre"));
    if maybe_british {
        for (from, to) in SPELLING {
            if w.contains(from) {
                w = w.replace(from, to);
            }
        }
    }
    // Plurals (applied symmetrically to dictionary and text, so over-stemming is harmless).
    let n = w.len();
    if n > 4 && w.bytes().all(|b| b.is_ascii_alphabetic()) {
        if w.ends_with("sses") {
            w.truncate(n - 2);
        } else if w.ends_with("ies") {
            w.truncate(n - 3);
            w.push('y');
        } else if w.ends_with('s')
            && !w.ends_with("ss")
            && !w.ends_with("us")
            && !w.ends_with("is")
            && !w.ends_with("as")
        {
            w.truncate(n - 1);
        }
    }
    w
}

/// Splits `text` into words (runs of letters and digits) with char offsets, dropping
/// possessive `'s`, and normalises each word.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut raw = String::new();
    let mut start = 0usize;
    let mut in_word = false;
    let mut upper = true;
    let mut letters = false;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0usize;
    let flush = |raw: &mut String,
                 start: usize,
                 end: usize,
                 upper: bool,
                 letters: bool,
                 out: &mut Vec<Token>| {
        if !raw.is_empty() {
            out.push(Token {
                start,
                end,
                norm: norm_word(raw),
                upper: upper && letters,
            });
            raw.clear();
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() {
            if !in_word {
                in_word = true;
                start = i;
                upper = true;
                letters = false;
            }
            if c.is_alphabetic() {
                letters = true;
                if !c.is_uppercase() {
                    upper = false;
                }
            }
            if c.is_ascii() {
                raw.push(c.to_ascii_lowercase());
            } else {
                for lc in c.to_lowercase() {
                    fold_char(lc, &mut raw);
                }
            }
            i += 1;
            continue;
        }
        if in_word {
            flush(&mut raw, start, i, upper, letters, &mut out);
            in_word = false;
        }
        // Possessive: "Crohn's", "Crohn’s" -> "Crohn".
        if (c == '\'' || c == '’')
            && i > 0
            && chars[i - 1].is_alphanumeric()
            && matches!(chars.get(i + 1), Some('s') | Some('S'))
            && !chars.get(i + 2).is_some_and(|c| c.is_alphanumeric())
        {
            i += 2;
            continue;
        }
        i += 1;
    }
    if in_word {
        flush(&mut raw, start, chars.len(), upper, letters, &mut out);
    }
    out
}

/// The normalised form of a term: its normalised words joined by single spaces.
pub fn normalize_term(term: &str) -> String {
    let toks = tokenize(term);
    let mut s = String::with_capacity(term.len());
    for (i, t) in toks.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&t.norm);
    }
    s
}

/// Splits one CSV line (RFC 4180 quoting, `""` for a quote inside a quoted field).
/// Returns `None` when a quoted field is not closed on this line.
pub fn split_csv_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' && at_field_start {
            quoted = true;
            at_field_start = false;
        } else if c == ',' {
            fields.push(std::mem::take(&mut field));
            at_field_start = true;
        } else {
            field.push(c);
            at_field_start = false;
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// Upper-case first letter of each word ("SODIUM FLUORIDE" -> "Sodium fluoride" style is
/// not wanted for codes, so this only lower-cases all but the first letter).
pub fn sentence_case(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut c = lower.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let cases = [
            ("Anaemia", "anemia"),
            ("oedema", "edema"),
            ("Haemorrhage", "hemorrhage"),
            ("Oesophageal varices", "esophageal varice"),
            ("Diarrhoea", "diarrhea"),
            ("Crohn's disease", "crohn disease"),
            ("CROHN’S DISEASE", "crohn disease"),
            ("Sjögren syndrome", "sjogren syndrome"),
            ("allergies", "allergy"),
            ("abscesses", "abscess"),
            ("arthritis", "arthritis"),
            ("Type-2 diabetes", "type 2 diabete"),
            ("tumours", "tumor"),
            ("paediatric", "pediatric"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_term(input), want, "input {input}");
        }
    }

    #[test]
    fn token_offsets_are_chars() {
        let toks = tokenize("Fièvre, no FEVER");
        let spans: Vec<(usize, usize, bool)> =
            toks.iter().map(|t| (t.start, t.end, t.upper)).collect();
        assert_eq!(spans, vec![(0, 6, false), (8, 10, false), (11, 16, true)]);
        assert_eq!(toks[0].norm, "fievre");
    }

    #[test]
    fn csv_lines() {
        assert_eq!(
            split_csv_line(r#""A01","X, Y ""z""",3"#),
            Some(vec!["A01".into(), "X, Y \"z\"".into(), "3".into()])
        );
        assert_eq!(split_csv_line(r#""A01,"#), None);
    }
}
