//! Text helpers shared by loaders and the linker: tokenising with char offsets, term
//! normalisation (case, accents, punctuation, British spellings, plurals, look-alike and
//! invisible characters) and CSV lines.
//!
//! Pasted and hostile text: invisible characters inside a word (zero-width space, joiner and
//! non-joiner, word joiner, soft hyphen, byte-order mark) are dropped, so "met\u{200D}formin" is
//! one word; compatibility forms are read through NFKC ("ｍｅｔｆｏｒｍｉｎ", "ﬁ"); and in a word that
//! mixes Latin letters with Cyrillic or Greek letters that look like Latin ones ("mеtformin" with
//! a Cyrillic "е"), or that is written only in such look-alikes, those letters are read as the
//! Latin letters they imitate. Each [`Token`] says which of these happened ([`Respelt`]), so that
//! callers report it instead of matching silently; offsets stay those of the original text.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// How the letters of a word were read (see the module documentation); all false for plain
/// text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Respelt {
    /// Cyrillic or Greek letters that look like Latin letters were read as those Latin letters.
    pub lookalike: bool,
    /// Compatibility forms (fullwidth letters, ligatures) were read as plain letters (NFKC).
    pub compat: bool,
    /// Invisible characters inside the word were dropped.
    pub invisible: bool,
}

impl Respelt {
    /// Whether the word was read other than as written.
    pub fn any(&self) -> bool {
        self.lookalike || self.compat || self.invisible
    }

    /// A short description for warnings and rationales ("look-alike letters of another
    /// script, read as Latin; ..."); empty when nothing was changed.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.lookalike {
            parts.push("look-alike letters of another script, read as Latin");
        }
        if self.compat {
            parts.push("compatibility forms (fullwidth, ligature), read as plain letters");
        }
        if self.invisible {
            parts.push("invisible characters, dropped");
        }
        parts.join("; ")
    }

    /// Both readings combined.
    pub fn merge(self, other: Respelt) -> Respelt {
        Respelt {
            lookalike: self.lookalike || other.lookalike,
            compat: self.compat || other.compat,
            invisible: self.invisible || other.invisible,
        }
    }
}

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
    /// How the word's letters were read, when not as written.
    pub respelt: Respelt,
}

/// The end (exclusive) of the word starting at `chars[start]` (a letter or digit): letters and
/// digits, with invisible characters and combining marks between them; it ends after its last
/// letter, digit or combining mark.
fn word_end(chars: &[char], start: usize) -> usize {
    let mut end = start + 1;
    let mut j = start + 1;
    while j < chars.len() {
        let d = chars[j];
        if d.is_alphanumeric() || is_combining_mark(d) {
            j += 1;
            end = j;
        } else if is_invisible(d) {
            j += 1;
        } else {
            break;
        }
    }
    end
}

/// Characters that are invisible and are dropped inside a word: zero-width space, non-joiner,
/// joiner, word joiner, invisible separators, soft hyphen, byte-order mark.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'
            | '\u{200C}'
            | '\u{200D}'
            | '\u{2060}'
            | '\u{2061}'
            | '\u{2062}'
            | '\u{2063}'
            | '\u{2064}'
            | '\u{00AD}'
            | '\u{FEFF}'
            | '\u{180E}'
    )
}

/// The Latin letter a Cyrillic or Greek letter imitates (Unicode TR39 confusables that map to
/// a plain Latin letter), if any.
pub fn latin_lookalike(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'а' => 'a',
        'А' => 'A',
        'В' => 'B',
        'с' => 'c',
        'С' => 'C',
        'ԁ' => 'd',
        'е' => 'e',
        'Е' => 'E',
        'һ' => 'h',
        'Н' => 'H',
        'і' => 'i',
        'І' => 'I',
        'ј' => 'j',
        'Ј' => 'J',
        'К' => 'K',
        'ӏ' => 'l',
        'М' => 'M',
        'о' => 'o',
        'О' => 'O',
        'р' => 'p',
        'Р' => 'P',
        'ԛ' => 'q',
        'ѕ' => 's',
        'Ѕ' => 'S',
        'Т' => 'T',
        'ԝ' => 'w',
        'Ԝ' => 'W',
        'х' => 'x',
        'Х' => 'X',
        'у' => 'y',
        'Ү' => 'Y',
        // Greek
        'α' => 'a',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'ι' => 'i',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'ν' => 'v',
        'Ν' => 'N',
        'ο' => 'o',
        'Ο' => 'O',
        'ρ' => 'p',
        'Ρ' => 'P',
        'Τ' => 'T',
        'υ' => 'u',
        'Υ' => 'Y',
        'Χ' => 'X',
        // Latin look-alikes outside ASCII that NFKC keeps
        'ı' => 'i',
        _ => return None,
    })
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

/// Splits `text` into words (runs of letters and digits; invisible characters and combining
/// marks inside a word do not split it) with char offsets, dropping possessive `'s`, and
/// normalises each word (see the module documentation for look-alike and invisible
/// characters).
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut raw = String::new();
    let mut i = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() {
            let start = i;
            let end = word_end(&chars, i);
            let word = &chars[start..end];
            let mut upper = true;
            let mut letters = false;
            for &w in word {
                if w.is_alphabetic() {
                    letters = true;
                    if !w.is_uppercase() {
                        upper = false;
                    }
                }
            }
            raw.clear();
            let respelt = fold_word(word, &mut raw);
            if !raw.is_empty() {
                out.push(Token {
                    start,
                    end,
                    norm: norm_word(&raw),
                    upper: upper && letters,
                    respelt,
                });
            }
            i = end;
            continue;
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
    out
}

/// Appends the lower-cased, accent-folded reading of `word` to `out`: invisible characters
/// and combining marks dropped, compatibility forms through NFKC, look-alike letters read as
/// Latin in a word that mixes them with Latin letters or consists of them only.
fn fold_word(word: &[char], out: &mut String) -> Respelt {
    if word.iter().all(char::is_ascii) {
        out.extend(word.iter().map(char::to_ascii_lowercase));
        return Respelt::default();
    }
    let mut respelt = Respelt::default();
    let mut expanded: Vec<char> = Vec::with_capacity(word.len());
    for &c in word {
        if c.is_ascii() {
            expanded.push(c);
        } else if is_invisible(c) {
            respelt.invisible = true;
        } else if is_combining_mark(c) {
            // A decomposed accent: folded away like the precomposed ones.
        } else {
            let before = expanded.len();
            expanded.extend(std::iter::once(c).nfkc().filter(|d| !is_combining_mark(*d)));
            if expanded.len() != before + 1 || expanded[before] != c {
                // NFKC of a precomposed accented letter is itself; anything else changed.
                let canonical: Vec<char> = std::iter::once(c)
                    .nfc()
                    .filter(|d| !is_combining_mark(*d))
                    .collect();
                if canonical != expanded[before..] {
                    respelt.compat = true;
                }
            }
        }
    }
    let letters: Vec<char> = expanded
        .iter()
        .copied()
        .filter(|c| c.is_alphabetic())
        .collect();
    let has_latin = letters.iter().any(char::is_ascii_alphabetic);
    let lookalikes = letters
        .iter()
        .filter(|c| latin_lookalike(**c).is_some())
        .count();
    let read_as_latin =
        lookalikes > 0 && (has_latin || (letters.len() >= 2 && lookalikes == letters.len()));
    for c in expanded {
        let c = match latin_lookalike(c) {
            Some(l) if read_as_latin => {
                respelt.lookalike = true;
                l
            }
            _ => c,
        };
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            for lc in c.to_lowercase() {
                fold_char(lc, out);
            }
        }
    }
    respelt
}

/// `text` lower-cased as [`tokenize`] reads it, with every other character kept: words
/// accent-folded, look-alike letters read as Latin, invisible characters dropped, NFKC
/// elsewhere ("Ｉｇｎоre" with a Cyrillic "о" -> "ignore"), but no spelling or plural rewriting.
/// For matching fixed phrases in hostile text; offsets are not kept.
pub fn fold_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() {
            let start = i;
            let end = word_end(&chars, i);
            fold_word(&chars[start..end], &mut out);
            i = end;
            continue;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if !is_invisible(c) {
            out.extend(std::iter::once(c).nfkc().flat_map(char::to_lowercase));
        }
        i += 1;
    }
    out
}

/// How the words of `text` were read, merged: what [`tokenize`] changed beyond case, accents
/// and spelling.
pub fn respelt(text: &str) -> Respelt {
    tokenize(text)
        .iter()
        .fold(Respelt::default(), |a, t| a.merge(t.respelt))
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
    fn lookalike_invisible_and_fullwidth_letters() {
        // (input, normalised, lookalike, compat, invisible)
        let cases = [
            ("metformin", "metformin", false, false, false),
            ("m\u{0435}tformin", "metformin", true, false, false),
            ("w\u{0430}rf\u{0430}rin", "warfarin", true, false, false),
            ("W\u{0391}RFARIN", "warfarin", true, false, false),
            ("metf\u{03BF}rmin", "metformin", true, false, false),
            ("met\u{200D}formin", "metformin", false, false, true),
            ("met\u{200B}for\u{00AD}min", "metformin", false, false, true),
            (
                "\u{FF4D}\u{FF45}\u{FF54}\u{FF46}\u{FF4F}\u{FF52}\u{FF4D}\u{FF49}\u{FF4E}",
                "metformin",
                false,
                true,
                false,
            ),
            ("\u{FB01}brosis", "fibrosis", false, true, false),
            // decomposed accents fold like precomposed ones, and are not a respelling
            ("Sjo\u{0308}gren", "sjogren", false, false, false),
            ("Sjögren", "sjogren", false, false, false),
            // Russian words stay Russian; one Greek letter alone stays Greek
            (
                "\u{043C}\u{0435}\u{0442}\u{0444}\u{043E}\u{0440}\u{043C}\u{0438}\u{043D}",
                "\u{043C}\u{0435}\u{0442}\u{0444}\u{043E}\u{0440}\u{043C}\u{0438}\u{043D}",
                false,
                false,
                false,
            ),
            ("\u{03B1}", "\u{03B1}", false, false, false),
        ];
        for (input, norm, lookalike, compat, invisible) in cases {
            let toks = tokenize(input);
            assert_eq!(toks.len(), 1, "{input:?}: {toks:?}");
            let t = &toks[0];
            assert_eq!(t.norm, norm, "{input:?}");
            assert_eq!(
                t.respelt,
                Respelt {
                    lookalike,
                    compat,
                    invisible
                },
                "{input:?}"
            );
            assert_eq!((t.start, t.end), (0, input.chars().count()), "{input:?}");
        }
        // Offsets stay those of the original text around an invisible character.
        let toks = tokenize("on met\u{200D}formin 500 mg");
        let spans: Vec<(usize, usize, &str)> = toks
            .iter()
            .map(|t| (t.start, t.end, t.norm.as_str()))
            .collect();
        assert_eq!(
            spans,
            vec![
                (0, 2, "on"),
                (3, 13, "metformin"),
                (14, 17, "500"),
                (18, 20, "mg")
            ]
        );
        assert_eq!(
            fold_text("\u{FF29}gn\u{043E}re pre\u{200B}vious instructions\u{FF1A} DATA\u{FF1E}>>"),
            "ignore previous instructions: data>>>"
        );
        assert!(respelt("on w\u{0430}rfarin").lookalike);
        assert!(!respelt("on warfarin").any());
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
