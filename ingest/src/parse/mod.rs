//! Source parsers. Each turns one file into a stream of [`Item`]s: documents, deletions, or
//! record-level problems (a bad record is reported and the rest of the file goes on). A
//! file-level problem (not gzip, truncated XML, not UTF-8, too large) ends the file with a
//! [`FileError`] after the good records before it were emitted.

mod jats;
mod jsonl;
mod pubmed;
mod text;
mod xml;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use clinrag_retrieval::{Document, Section};

use crate::error::FileError;

/// Input formats, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// MEDLINE/PubMed XML (`.xml`, `.xml.gz`).
    Pubmed,
    /// PMC JATS full text (`.nxml`).
    Jats,
    /// Markdown guideline (`.md`).
    Markdown,
    /// Plain text (`.txt`).
    Text,
    /// One JSON document per line (`.jsonl`).
    Jsonl,
}

impl Format {
    /// The format for a path, by extension; `None` when unsupported.
    pub fn detect(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".xml") || name.ends_with(".xml.gz") {
            Some(Format::Pubmed)
        } else if name.ends_with(".nxml") || name.ends_with(".nxml.gz") {
            Some(Format::Jats)
        } else if name.ends_with(".md") || name.ends_with(".markdown") {
            Some(Format::Markdown)
        } else if name.ends_with(".txt") {
            Some(Format::Text)
        } else if name.ends_with(".jsonl") || name.ends_with(".jsonl.gz") {
            Some(Format::Jsonl)
        } else {
            None
        }
    }
}

/// What a parser emits.
#[derive(Debug)]
pub enum Item {
    /// A parsed document, hash computed.
    Doc(Box<Document>),
    /// The source deletes this document id (MEDLINE `DeleteCitation`).
    Delete(String),
    /// One record was unusable; the file goes on.
    RecordError {
        /// Which record (`PMID 123`, `line 5`, `record 17`).
        record: String,
        /// What is wrong, without document text.
        problem: String,
    },
}

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest text of one document, in bytes.
    pub max_doc_bytes: usize,
}

/// Parses one file, calling `emit` for each item; `emit` returns `false` to stop early.
pub fn parse_file(
    path: &Path,
    format: Format,
    limits: Limits,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), FileError> {
    let err = |p: String| FileError::new(path, p);
    match format {
        Format::Pubmed => pubmed::parse(open_maybe_gz(path)?, path, limits, emit).map_err(err),
        Format::Jats => jats::parse(open_maybe_gz(path)?, path, limits, emit).map_err(err),
        Format::Jsonl => jsonl::parse(open_maybe_gz(path)?, path, limits, emit).map_err(err),
        Format::Markdown | Format::Text => {
            let s = read_text_file(path, limits)?;
            text::parse(&s, path, format, emit).map_err(err)
        }
    }
}

/// Parses a file's bytes already in memory, with the checks of [`parse_file`] (empty input
/// refused, gzip by magic bytes, size limit and UTF-8 for text); `path` only names the source
/// in errors and documents. Used by the fuzz targets (`fuzz/`).
pub fn parse_bytes(
    bytes: &[u8],
    path: &Path,
    format: Format,
    limits: Limits,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), FileError> {
    let err = |p: String| FileError::new(path, p);
    if bytes.is_empty() {
        return Err(FileError::new(path, "empty file"));
    }
    let reader = || -> Result<Box<dyn BufRead + Send>, FileError> {
        let is_gz = bytes.starts_with(&[0x1f, 0x8b]);
        let named_gz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        if named_gz && !is_gz {
            return Err(FileError::new(path, "named .gz but is not gzip data"));
        }
        let cur = std::io::Cursor::new(bytes.to_vec());
        if is_gz {
            Ok(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
                cur,
            ))))
        } else {
            Ok(Box::new(cur))
        }
    };
    match format {
        Format::Pubmed => pubmed::parse(reader()?, path, limits, emit).map_err(err),
        Format::Jats => jats::parse(reader()?, path, limits, emit).map_err(err),
        Format::Jsonl => jsonl::parse(reader()?, path, limits, emit).map_err(err),
        Format::Markdown | Format::Text => {
            if bytes.len() > limits.max_doc_bytes {
                return Err(FileError::new(
                    path,
                    format!(
                        "file is {} MB, over the {} MB limit for a single document",
                        bytes.len() / 1_000_000,
                        limits.max_doc_bytes / 1_000_000
                    ),
                ));
            }
            let s = decode_text(bytes).map_err(|p| FileError::new(path, p))?;
            text::parse(&s, path, format, emit).map_err(err)
        }
    }
}

/// Opens a file, transparently decompressing gzip (by magic bytes); empty files are refused.
fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead + Send>, FileError> {
    let io = |e: std::io::Error| FileError::new(path, format!("cannot read: {e}"));
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() == 0 {
        return Err(FileError::new(path, "empty file"));
    }
    let mut f = BufReader::with_capacity(256 * 1024, File::open(path).map_err(io)?);
    let head = f.fill_buf().map_err(io)?;
    let is_gz = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if named_gz && !is_gz {
        return Err(FileError::new(path, "named .gz but is not gzip data"));
    }
    if is_gz {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::read::MultiGzDecoder::new(f),
        )))
    } else {
        Ok(Box::new(f))
    }
}

/// Reads a whole text file: size limit, UTF-8 check, BOM stripped, binary content refused.
fn read_text_file(path: &Path, limits: Limits) -> Result<String, FileError> {
    let io = |e: std::io::Error| FileError::new(path, format!("cannot read: {e}"));
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() == 0 {
        return Err(FileError::new(path, "empty file"));
    }
    if meta.len() > limits.max_doc_bytes as u64 {
        return Err(FileError::new(
            path,
            format!(
                "file is {} MB, over the {} MB limit for a single document",
                meta.len() / 1_000_000,
                limits.max_doc_bytes / 1_000_000
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io)?;
    decode_text(&bytes).map_err(|p| FileError::new(path, p))
}

/// UTF-8 text from bytes, with a clear problem for other encodings and binary data.
pub(crate) fn decode_text(bytes: &[u8]) -> Result<String, String> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err("UTF-16 text is not supported; convert the file to UTF-8".into());
    }
    let bytes = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(bytes);
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(format!("binary data, not text (NUL byte at offset {pos})"));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => Err(format!(
            "not valid UTF-8 (invalid byte at offset {}); convert the file to UTF-8",
            e.valid_up_to()
        )),
    }
}

/// Collapses runs of whitespace to one space and trims (XML text).
pub(crate) fn squash_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Assembles a [`Document`]: the body is the title, then each section, separated by blank
/// lines; section offsets are char offsets into that body.
#[derive(Debug, Clone, Default)]
pub struct DocBuilder {
    title: String,
    sections: Vec<(String, String)>,
    /// Author names.
    pub authors: Vec<String>,
    /// Journal.
    pub journal: Option<String>,
    /// Year.
    pub year: Option<i32>,
    /// MeSH descriptor names.
    pub mesh: Vec<String>,
    /// DOI.
    pub doi: Option<String>,
}

impl DocBuilder {
    /// Starts a document with its title.
    pub fn new(title: &str) -> Self {
        Self {
            title: title.trim().to_owned(),
            ..Default::default()
        }
    }

    /// Appends a section; empty text is ignored.
    pub fn section(&mut self, name: &str, text: &str) -> &mut Self {
        let t = text.trim();
        if !t.is_empty() {
            self.sections.push((name.trim().to_owned(), t.to_owned()));
        }
        self
    }

    /// Total text length so far, in bytes (for size limits).
    pub fn text_len(&self) -> usize {
        self.title.len() + self.sections.iter().map(|(_, t)| t.len()).sum::<usize>()
    }

    /// Whether the document has any text besides the title.
    pub fn has_sections(&self) -> bool {
        !self.sections.is_empty()
    }

    /// Finishes the document with its id, source format and source path.
    pub fn build(self, doc_id: &str, source: &str, source_path: &str) -> Document {
        let mut body = String::new();
        let mut sections = Vec::with_capacity(self.sections.len() + 1);
        let mut pos = 0usize;
        let mut add = |name: &str, text: &str, body: &mut String, pos: &mut usize| {
            if !body.is_empty() {
                body.push_str("\n\n");
                *pos += 2;
            }
            let n = text.chars().count();
            sections.push(Section {
                name: name.to_owned(),
                start: *pos,
                end: *pos + n,
            });
            body.push_str(text);
            *pos += n;
        };
        if !self.title.is_empty() {
            add("title", &self.title, &mut body, &mut pos);
        }
        for (name, text) in &self.sections {
            add(name, text, &mut body, &mut pos);
        }
        let mut d = Document {
            doc_id: doc_id.to_owned(),
            source: source.to_owned(),
            source_path: source_path.to_owned(),
            title: self.title,
            authors: self.authors,
            journal: self.journal,
            year: self.year,
            mesh: self.mesh,
            doi: self.doi,
            body,
            sections,
            content_hash: String::new(),
        };
        d.content_hash = d.compute_hash();
        d
    }
}

/// A content-derived id for documents whose source gives none.
pub(crate) fn hash_id(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(text.as_bytes());
    format!("SHA256:{}", &hex::encode(h)[..24])
}

/// The first DOI in a text, trailing punctuation removed.
pub(crate) fn find_doi(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("10.") {
        let s = i + off;
        let preceded_ok = s == 0 || !b[s - 1].is_ascii_alphanumeric();
        let mut j = s + 3;
        let digits_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let nd = j - digits_start;
        if preceded_ok && (4..=9).contains(&nd) && j < b.len() && b[j] == b'/' {
            let mut e = j + 1;
            while e < b.len() && !b[e].is_ascii_whitespace() && !b"\"'<>)]`|".contains(&b[e]) {
                e += 1;
            }
            let doi = text[s..e].trim_end_matches(['.', ',', ';', ':', '*']);
            if doi.len() > j + 1 - s {
                return Some(doi.to_owned());
            }
        }
        i = s + 3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_offsets() {
        let mut b = DocBuilder::new("Tïtle");
        b.section("a", "  alpha ");
        b.section("empty", "  ");
        b.section("b", "βeta");
        let d = b.build("X:1", "text", "p");
        assert_eq!(d.body, "Tïtle\n\nalpha\n\nβeta");
        for s in &d.sections {
            let t = d.span(s.start, s.end).unwrap();
            assert!(!t.is_empty() && !t.contains("\n\n"), "{s:?}");
        }
        assert_eq!(d.span(d.sections[2].start, d.sections[2].end), Some("βeta"));
    }

    #[test]
    fn doi_detection() {
        assert_eq!(
            find_doi("see https://doi.org/10.1161/CIR.0000000000001193."),
            Some("10.1161/CIR.0000000000001193".into())
        );
        assert_eq!(
            find_doi("DOI: 10.1002/acr.25045)"),
            Some("10.1002/acr.25045".into())
        );
        assert_eq!(find_doi("version 10.1 of the text"), None);
    }

    #[test]
    fn text_decoding_problems() {
        assert!(
            decode_text(&[0xff, 0xfe, 0x41, 0])
                .unwrap_err()
                .contains("UTF-16")
        );
        assert!(
            decode_text(b"ab\0cd")
                .unwrap_err()
                .contains("NUL byte at offset 2")
        );
        assert!(
            decode_text(&[b'a', 0xc3, 0x28])
                .unwrap_err()
                .contains("offset 1")
        );
        assert_eq!(decode_text(b"\xef\xbb\xbfhi").unwrap(), "hi");
    }

    /// `parse_bytes` (the fuzz targets' entry point) sees what `parse_file` sees.
    #[test]
    fn parse_bytes_matches_parse_file() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let jsonl = b"{\"id\": \"X:1\", \"title\": \"T\", \"text\": \"Body one.\"}\nnot json\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(jsonl).unwrap();
        let gz = gz.finish().unwrap();
        let cases: [(&str, &[u8], Format); 5] = [
            ("a.jsonl", jsonl, Format::Jsonl),
            ("b.jsonl.gz", &gz, Format::Jsonl),
            ("c.md", b"# Title\n\n## S\n\nText here.\n", Format::Markdown),
            ("d.txt", b"ab\0cd", Format::Text),
            ("e.xml.gz", b"<x/>", Format::Pubmed),
        ];
        let limits = Limits {
            max_doc_bytes: 10_000,
        };
        let summary = |r: Result<(), FileError>, items: Vec<Item>| {
            let items: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Item::Doc(d) => format!("doc {} {}", d.doc_id, d.content_hash),
                    other => format!("{other:?}"),
                })
                .collect();
            (r.map_err(|e| e.to_string()), items)
        };
        for (name, bytes, format) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let ra = parse_file(&path, format, limits, &mut |i| {
                a.push(i);
                true
            });
            let rb = parse_bytes(bytes, &path, format, limits, &mut |i| {
                b.push(i);
                true
            });
            assert_eq!(summary(ra, a), summary(rb, b), "{name}");
        }
        let empty = parse_bytes(
            b"",
            Path::new("e.md"),
            Format::Markdown,
            limits,
            &mut |_| true,
        );
        assert!(empty.unwrap_err().to_string().contains("empty file"));
    }

    #[test]
    fn formats_by_extension() {
        for (p, f) in [
            ("a.xml.gz", Some(Format::Pubmed)),
            ("A.XML", Some(Format::Pubmed)),
            ("x.nxml", Some(Format::Jats)),
            ("g.md", Some(Format::Markdown)),
            ("n.txt", Some(Format::Text)),
            ("c.jsonl", Some(Format::Jsonl)),
            ("r.json", None),
            ("bin.pdf", None),
        ] {
            assert_eq!(Format::detect(Path::new(p)), f, "{p}");
        }
    }
}
