//! Loader for the CDC ICD-10-CM tabular XML: chapters, blocks, the `diag` tree with its
//! notes, and 7th-character extensions expanded into billable codes.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

use crate::error::{KgError, Result};
use crate::report::LoadReport;

/// Where a code sits in the ICD-10-CM hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IcdLevel {
    /// A chapter ("1" .. "22").
    Chapter,
    /// A block of categories ("A00-A09"; a one-category block is written "B10-B10").
    Block,
    /// A three-character category ("A00").
    Category,
    /// Anything longer ("A00.0", "S02.0XXA").
    Subcategory,
}

/// The notes attached to a tabular entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IcdNotes {
    /// `inclusionTerm` notes (synonyms of the code).
    pub inclusion_terms: Vec<String>,
    /// `includes` notes.
    pub includes: Vec<String>,
    /// `excludes1` notes ("NOT CODED HERE").
    pub excludes1: Vec<String>,
    /// `excludes2` notes ("not included here").
    pub excludes2: Vec<String>,
    /// `codeFirst` notes.
    pub code_first: Vec<String>,
    /// `useAdditionalCode` notes.
    pub use_additional_code: Vec<String>,
    /// `codeAlso` notes.
    pub code_also: Vec<String>,
}

/// One ICD-10-CM entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcdCode {
    /// The code in dotted form ("A00.0"), the chapter number, or the block range.
    pub code: String,
    /// Hierarchy level.
    pub level: IcdLevel,
    /// The title.
    pub label: String,
    /// The parent entry's code (none for chapters).
    pub parent: Option<String>,
    /// A billable (leaf) code.
    pub billable: bool,
    /// Notes.
    pub notes: IcdNotes,
    /// Line of the entry in the XML file.
    pub line: usize,
    /// The 7th character, for codes expanded from a `sevenChrDef`.
    pub extension: Option<char>,
}

/// The loaded tabular list.
#[derive(Debug, Clone)]
pub struct Icd10cm {
    /// Entries in file order (parents before children).
    pub codes: Vec<IcdCode>,
    /// What was loaded and skipped.
    pub report: LoadReport,
}

/// Removes the dot: "A00.0" -> "A000" (chapter numbers and blocks pass unchanged).
pub fn undotted(code: &str) -> String {
    code.replace('.', "")
}

/// Puts the dot back into an undotted code ("A000" -> "A00.0"); codes of three characters or
/// fewer and block ranges pass unchanged.
pub fn dotted(code: &str) -> String {
    let code = code.trim().to_ascii_uppercase();
    if code.contains('-') || code.contains('.') || code.chars().count() <= 3 {
        return code;
    }
    let (head, tail) = code.split_at(3);
    format!("{head}.{tail}")
}

#[derive(Default)]
struct Frame {
    kind: FrameKind,
    name: String,
    desc: String,
    notes: IcdNotes,
    seven: Vec<(char, String)>,
    has_child: bool,
    line: usize,
    slot: usize,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    #[default]
    Chapter,
    Section,
    Diag,
}

struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(s: &str) -> Self {
        LineIndex(
            s.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }
    fn line(&self, pos: u64) -> usize {
        let pos = usize::try_from(pos).unwrap_or(usize::MAX);
        self.0.partition_point(|&nl| nl < pos) + 1
    }
}

/// Reads the tabular XML at `tabular`, and when `code_list` is given cross-checks the codes
/// against the CDC code list (differences are reported, not fatal).
pub fn load_icd10cm(tabular: &Path, code_list: Option<&Path>) -> Result<Icd10cm> {
    let xml = std::fs::read_to_string(tabular).map_err(|e| KgError::io(tabular, e))?;
    let mut out = parse_icd10cm(&xml, tabular)?;
    if let Some(list) = code_list {
        let text = std::fs::read_to_string(list).map_err(|e| KgError::io(list, e))?;
        cross_check(&mut out, &text, list);
    }
    Ok(out)
}

/// Compares the loaded codes with the CDC code list (one undotted code, block or chapter per
/// line) and writes the differences into the report. Expanded 7th-character codes the list
/// does not have are dropped (the tabular's notes restrict some combinations, e.g. S06.-
/// codes with 7 or 8 in the 6th place take only A).
pub fn cross_check(icd: &mut Icd10cm, list: &str, list_path: &Path) {
    let listed: HashSet<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let before = icd.codes.len();
    let mut dropped = Vec::new();
    icd.codes.retain(|c| {
        let keep = c.extension.is_none() || listed.contains(undotted(&c.code).as_str());
        if !keep && dropped.len() < 5 {
            dropped.push(c.code.clone());
        }
        keep
    });
    if icd.codes.len() < before {
        icd.report.skipped += before - icd.codes.len();
        icd.report.loaded = icd.codes.len();
        icd.report.note(format!(
            "{} expanded 7th-character codes not in the code list dropped, e.g. {dropped:?}",
            before - icd.codes.len()
        ));
    }
    let ours: HashSet<String> = icd
        .codes
        .iter()
        .map(|c| match c.level {
            IcdLevel::Block => block_list_form(&c.code),
            _ => undotted(&c.code),
        })
        .collect();
    let mut missing: Vec<&str> = listed
        .iter()
        .filter(|c| !ours.contains(**c))
        .copied()
        .collect();
    let mut extra: Vec<&String> = ours
        .iter()
        .filter(|c| !listed.contains(c.as_str()))
        .collect();
    missing.sort_unstable();
    extra.sort_unstable();
    let name = list_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    icd.report.note(format!(
        "cross-check with {name}: {} listed, {} loaded; {} listed but not loaded {:?}; {} loaded but not listed {:?}",
        listed.len(),
        ours.len(),
        missing.len(),
        &missing[..missing.len().min(5)],
        extra.len(),
        &extra[..extra.len().min(5)]
    ));
}

fn block_list_form(code: &str) -> String {
    match code.split_once('-') {
        Some((a, b)) if a == b => a.to_string(),
        _ => code.to_string(),
    }
}

/// Parses tabular XML text; `path` is used in error messages and the report.
pub fn parse_icd10cm(xml: &str, path: &Path) -> Result<Icd10cm> {
    let lines = LineIndex::new(xml);
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = LoadReport::new(source);
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut text = String::new();
    let mut ext_char: Option<char> = None;
    let mut codes: Vec<Option<IcdCode>> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut saw_root = false;

    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            KgError::parse(
                path,
                lines.line(reader.error_position()),
                format!("malformed XML: {e}"),
            )
        })?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let line = lines.line(pos);
                if stack.is_empty() {
                    if name != "ICD10CM.tabular" {
                        return Err(KgError::parse(
                            path,
                            line,
                            format!("expected <ICD10CM.tabular>, found <{name}>"),
                        ));
                    }
                    saw_root = true;
                }
                match name.as_str() {
                    "chapter" | "section" | "diag" => {
                        let kind = match name.as_str() {
                            "chapter" => FrameKind::Chapter,
                            "section" => FrameKind::Section,
                            _ => FrameKind::Diag,
                        };
                        let mut frame = Frame {
                            kind,
                            line,
                            slot: codes.len(),
                            ..Default::default()
                        };
                        codes.push(None);
                        if kind == FrameKind::Section {
                            for attr in e.attributes().flatten() {
                                if attr.key.as_ref() == b"id" {
                                    let id =
                                        String::from_utf8_lossy(&attr.value).trim().to_string();
                                    frame.name = if id.contains('-') {
                                        id
                                    } else {
                                        format!("{id}-{id}")
                                    };
                                }
                            }
                        }
                        if let Some(parent) = frames.last_mut()
                            && kind == FrameKind::Diag
                            && parent.kind == FrameKind::Diag
                        {
                            parent.has_child = true;
                        }
                        frames.push(frame);
                    }
                    "extension" => {
                        ext_char = None;
                        for attr in e.attributes().flatten() {
                            if attr.key.as_ref() == b"char" {
                                ext_char =
                                    String::from_utf8_lossy(&attr.value).trim().chars().next();
                            }
                        }
                    }
                    _ => {}
                }
                text.clear();
                stack.push((name, line));
            }
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| KgError::parse(path, lines.line(pos), format!("bad text: {e}")))?;
                text.push_str(&s);
            }
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| {
                        KgError::parse(path, lines.line(pos), format!("bad entity: {e}"))
                    })?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(v) => text.push_str(v),
                        None => {
                            return Err(KgError::parse(
                                path,
                                lines.line(pos),
                                format!("unknown entity &{name};"),
                            ));
                        }
                    }
                }
            }
            Event::CData(c) => text.push_str(&String::from_utf8_lossy(&c)),
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let Some((open, open_line)) = stack.pop() else {
                    return Err(KgError::parse(
                        path,
                        lines.line(pos),
                        format!("unexpected </{name}>"),
                    ));
                };
                let parent = stack.last().map(|(n, _)| n.as_str()).unwrap_or("");
                let value = text.split_whitespace().collect::<Vec<_>>().join(" ");
                match open.as_str() {
                    "name" if matches!(parent, "diag" | "chapter") => {
                        if let Some(f) = frames.last_mut() {
                            f.name = value;
                        }
                    }
                    "desc" if matches!(parent, "diag" | "chapter" | "section") => {
                        if let Some(f) = frames.last_mut() {
                            f.desc = value;
                        }
                    }
                    "note" => {
                        if let Some(f) = frames.last_mut() {
                            let list = match parent {
                                "inclusionTerm" => Some(&mut f.notes.inclusion_terms),
                                "includes" => Some(&mut f.notes.includes),
                                "excludes1" => Some(&mut f.notes.excludes1),
                                "excludes2" => Some(&mut f.notes.excludes2),
                                "codeFirst" => Some(&mut f.notes.code_first),
                                "useAdditionalCode" => Some(&mut f.notes.use_additional_code),
                                "codeAlso" => Some(&mut f.notes.code_also),
                                _ => None,
                            };
                            if let Some(list) = list
                                && !value.is_empty()
                            {
                                list.push(value);
                            }
                        }
                    }
                    "extension" if parent == "sevenChrDef" => match (ext_char, frames.last_mut()) {
                        (Some(c), Some(f)) => f.seven.push((c, value)),
                        _ => report.skip(
                            open_line,
                            "7th-character extension without a char attribute",
                        ),
                    },
                    "chapter" | "section" | "diag" => {
                        let Some(frame) = frames.pop() else {
                            return Err(KgError::parse(
                                path,
                                open_line,
                                "internal: frame stack empty",
                            ));
                        };
                        finish_frame(frame, &frames, &mut codes, &mut seen, &mut report);
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some((open, line)) = stack.last() {
        return Err(KgError::parse(
            path,
            lines.line(u64::try_from(xml.len()).unwrap_or(u64::MAX)),
            format!("truncated XML: end of file inside <{open}> opened at line {line}"),
        ));
    }
    if !saw_root {
        return Err(KgError::parse(path, 1, "no <ICD10CM.tabular> root element"));
    }
    let codes: Vec<IcdCode> = codes.into_iter().flatten().collect();
    report.loaded = codes.len();
    let billable = codes.iter().filter(|c| c.billable).count();
    let expanded = codes
        .iter()
        .filter(|c| c.billable && c.code.len() == 8)
        .count();
    report.note(format!(
        "{billable} billable codes, {expanded} of them 7-character codes"
    ));
    Ok(Icd10cm { codes, report })
}

fn finish_frame(
    frame: Frame,
    frames: &[Frame],
    codes: &mut Vec<Option<IcdCode>>,
    seen: &mut HashSet<String>,
    report: &mut LoadReport,
) {
    let parent = frames
        .iter()
        .rev()
        .find(|f| !f.name.is_empty())
        .map(|f| f.name.clone());
    let name = frame.name.trim().to_string();
    if name.is_empty() {
        report.skip(frame.line, "entry without a <name> (or section id)");
        return;
    }
    if frame.desc.is_empty() {
        report.skip(frame.line, format!("{name}: no <desc>"));
        return;
    }
    if !seen.insert(name.clone()) {
        report.skip(frame.line, format!("{name}: duplicate code"));
        return;
    }
    let level = match frame.kind {
        FrameKind::Chapter => IcdLevel::Chapter,
        FrameKind::Section => IcdLevel::Block,
        FrameKind::Diag if name.len() <= 3 => IcdLevel::Category,
        FrameKind::Diag => IcdLevel::Subcategory,
    };
    if frame.kind == FrameKind::Diag && !valid_code_shape(&name) {
        report.skip(frame.line, format!("{name}: not an ICD-10-CM code"));
        return;
    }
    // The nearest 7th-character definition: own, else the closest enclosing diag's.
    let seven: Option<&Vec<(char, String)>> = if !frame.seven.is_empty() {
        Some(&frame.seven)
    } else {
        frames
            .iter()
            .rev()
            .take_while(|f| f.kind == FrameKind::Diag)
            .find(|f| !f.seven.is_empty())
            .map(|f| &f.seven)
    };
    let leaf = frame.kind == FrameKind::Diag && !frame.has_child;
    let expand = leaf && seven.is_some();
    let entry = IcdCode {
        code: name.clone(),
        level,
        label: frame.desc.clone(),
        parent,
        billable: leaf && !expand,
        notes: frame.notes,
        line: frame.line,
        extension: None,
    };
    if let Some(slot) = codes.get_mut(frame.slot) {
        *slot = Some(entry);
    }
    if let (true, Some(seven)) = (expand, seven) {
        let bare = undotted(&name);
        let mut padded = bare.clone();
        while padded.len() < 6 {
            padded.push('X');
        }
        for (c, ext) in seven {
            let full = format!("{padded}{c}");
            let code = dotted(&full);
            if !seen.insert(code.clone()) {
                report.skip(frame.line, format!("{code}: duplicate 7th-character code"));
                continue;
            }
            codes.push(Some(IcdCode {
                code,
                level: IcdLevel::Subcategory,
                label: format!("{}, {}", frame.desc, ext),
                parent: Some(name.clone()),
                billable: true,
                notes: IcdNotes::default(),
                line: frame.line,
                extension: Some(*c),
            }));
        }
    }
}

fn valid_code_shape(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_alphanumeric()
        && b[2].is_ascii_alphanumeric()
        && (b[1].is_ascii_digit() || b[2].is_ascii_digit())
        && (b.len() == 3
            || (b.len() >= 5
                && b.len() <= 8
                && b[3] == b'.'
                && b[4..].iter().all(u8::is_ascii_alphanumeric)))
}

/// Code references inside a note: "(Z16.-)", "(P35-P39)", "(E08.3-)", "(I21.4)".
/// Returns the referenced codes (blocks as "A00-A09", partial codes without the trailing ".-").
pub fn note_references(note: &str) -> Vec<String> {
    let mut out = Vec::new();
    for group in note.split('(').skip(1) {
        let Some(inner) = group.split(')').next() else {
            continue;
        };
        for part in inner.split(',') {
            let part = part
                .trim()
                .trim_end_matches(".-")
                .trim_end_matches('-')
                .trim_end_matches('.');
            if part.is_empty() {
                continue;
            }
            if let Some((a, b)) = part.split_once('-') {
                let (a, b) = (
                    a.trim().trim_end_matches('.'),
                    b.trim().trim_end_matches('.'),
                );
                if valid_code_shape(a) && valid_code_shape(b) {
                    out.push(format!("{a}-{b}"));
                }
            } else if valid_code_shape(part) {
                out.push(part.to_string());
            }
        }
    }
    out
}

/// Resolves a note reference to existing codes: a code, a block, or the first code of a range.
pub fn resolve_reference(reference: &str, known: &HashMap<String, usize>) -> Option<String> {
    if known.contains_key(reference) {
        return Some(reference.to_string());
    }
    if let Some((a, b)) = reference.split_once('-') {
        if a == b {
            let single = format!("{a}-{a}");
            if known.contains_key(&single) {
                return Some(single);
            }
        }
        if known.contains_key(a) {
            return Some(a.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotting() {
        assert_eq!(dotted("a000"), "A00.0");
        assert_eq!(dotted("S020XXA"), "S02.0XXA");
        assert_eq!(dotted("A00"), "A00");
        assert_eq!(undotted("S02.0XXA"), "S020XXA");
    }

    #[test]
    fn references() {
        assert_eq!(
            note_references("carrier (Z22.-) and perinatal (P35-P39)"),
            vec!["Z22", "P35-P39"]
        );
        assert_eq!(
            note_references("eyelid inflammation (H01.8-)"),
            vec!["H01.8"]
        );
        assert_eq!(
            note_references("no code here (see above)"),
            Vec::<String>::new()
        );
    }
}
