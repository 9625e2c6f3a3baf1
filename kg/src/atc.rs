//! Loader for the ATC classification CSV (code, English, French, German), five levels
//! inferred from the code length (1, 3, 4, 5, 7).

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{KgError, Result};
use crate::report::LoadReport;
use crate::text::{sentence_case, split_csv_line};

/// One ATC entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtcCode {
    /// The code ("N02BE01").
    pub code: String,
    /// Level 1 (anatomical main group) to 5 (chemical substance).
    pub level: u8,
    /// The English name in sentence case ("Paracetamol").
    pub label: String,
    /// Parent code (none for level 1).
    pub parent: Option<String>,
}

/// The loaded classification.
#[derive(Debug, Clone)]
pub struct Atc {
    /// Entries in file order.
    pub codes: Vec<AtcCode>,
    /// What was loaded and skipped.
    pub report: LoadReport,
}

/// The ATC level of a code from its length and shape, or `None` if it is not an ATC code.
pub fn atc_level(code: &str) -> Option<u8> {
    let b = code.as_bytes();
    let shape = |i: usize, alpha: bool| {
        b.get(i).is_some_and(|c| {
            if alpha {
                c.is_ascii_uppercase()
            } else {
                c.is_ascii_digit()
            }
        })
    };
    let ok1 = shape(0, true);
    match b.len() {
        1 if ok1 => Some(1),
        3 if ok1 && shape(1, false) && shape(2, false) => Some(2),
        4 if ok1 && shape(1, false) && shape(2, false) && shape(3, true) => Some(3),
        5 if ok1 && shape(1, false) && shape(2, false) && shape(3, true) && shape(4, true) => {
            Some(4)
        }
        7 if ok1
            && shape(1, false)
            && shape(2, false)
            && shape(3, true)
            && shape(4, true)
            && shape(5, false)
            && shape(6, false) =>
        {
            Some(5)
        }
        _ => None,
    }
}

fn parent_of(code: &str, level: u8) -> Option<String> {
    let len = match level {
        2 => 1,
        3 => 3,
        4 => 4,
        5 => 5,
        _ => return None,
    };
    code.get(..len).map(str::to_string)
}

/// Reads the ATC CSV at `path`.
pub fn load_atc(path: &Path) -> Result<Atc> {
    let text = std::fs::read_to_string(path).map_err(|e| KgError::io(path, e))?;
    parse_atc(&text, path)
}

/// Parses ATC CSV text; `path` names the source in errors and the report.
pub fn parse_atc(text: &str, path: &Path) -> Result<Atc> {
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = LoadReport::new(source);
    let mut codes = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some(fields) = split_csv_line(line) else {
            report.skip(lineno, "unterminated quoted field");
            continue;
        };
        if fields.len() < 2 {
            report.skip(
                lineno,
                format!("expected at least 2 fields, found {}", fields.len()),
            );
            continue;
        }
        let code = fields[0].trim().to_string();
        let name = fields[1].trim();
        let Some(level) = atc_level(&code) else {
            if lineno == 1 && code.eq_ignore_ascii_case("code") {
                continue;
            }
            report.skip(lineno, format!("{code:?} is not an ATC code"));
            continue;
        };
        if name.is_empty() {
            report.skip(lineno, format!("{code}: empty English name"));
            continue;
        }
        if !seen.insert(code.clone()) {
            report.skip(lineno, format!("{code}: duplicate code"));
            continue;
        }
        codes.push(AtcCode {
            parent: parent_of(&code, level),
            code,
            level,
            label: sentence_case(name),
        });
    }
    // Parents that are not in the file: keep the entry, drop the edge.
    let known: HashSet<&str> = codes.iter().map(|c| c.code.as_str()).collect();
    let orphans: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.parent.as_deref().is_some_and(|p| !known.contains(p)))
        .map(|(i, _)| i)
        .collect();
    if !orphans.is_empty() {
        report.note(format!(
            "{} codes whose parent is not in the file (kept without a parent)",
            orphans.len()
        ));
    }
    for i in orphans {
        if let Some(c) = codes.get_mut(i) {
            c.parent = None;
        }
    }
    report.loaded = codes.len();
    let substances = codes.iter().filter(|c| c.level == 5).count();
    report.note(format!("{substances} level-5 substances"));
    Ok(Atc { codes, report })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        for (code, level) in [
            ("A", Some(1)),
            ("A01", Some(2)),
            ("A01A", Some(3)),
            ("A01AA", Some(4)),
            ("A01AA01", Some(5)),
            ("A1", None),
            ("a01", None),
            ("A01AA1", None),
        ] {
            assert_eq!(atc_level(code), level, "{code}");
        }
    }

    #[test]
    fn parses_and_reports() {
        let text = "\"N\",\"NERVOUS SYSTEM\",\"x\",\"y\"\n\"N02\",\"ANALGESICS\",\"x\",\"y\"\n\"N02B\",\"OTHER ANALGESICS AND ANTIPYRETICS\"\n\"N02BE\",\"ANILIDES\"\n\"N02BE01\",\"PARACETAMOL\"\n\"XX9\",\"BAD\"\n\"N02BE01\",\"DUP\"\n\"N05\n";
        let atc = parse_atc(text, Path::new("atc.csv")).unwrap();
        assert_eq!(atc.codes.len(), 5);
        assert_eq!(atc.codes[4].label, "Paracetamol");
        assert_eq!(atc.codes[4].parent.as_deref(), Some("N02BE"));
        assert_eq!(atc.report.skipped, 3);
        assert_eq!(atc.report.examples[0].location, "atc.csv:6");
        assert_eq!(atc.report.examples[2].location, "atc.csv:8");
    }
}
