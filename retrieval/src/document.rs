//! Documents, sections and chunks as stored in the catalog, with character offsets.
//!
//! Every offset in clinrag is a count of Unicode scalar values (Rust `char`s) into
//! [`Document::body`], the exact text that was stored: a citation `(doc_id, start, end)` always
//! names the same characters, whatever the encoding of the original file.

use serde::{Deserialize, Serialize};

/// A named part of a document body (`title`, `abstract`, `METHODS`, `Introduction > Background`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Section name as the source gives it.
    pub name: String,
    /// First character (inclusive) in the body.
    pub start: usize,
    /// Last character (exclusive) in the body.
    pub end: usize,
}

/// One ingested document with its normalised text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Canonical id: `PMID:n`, `PMCID:n`, `DOI:x`, a JSONL id, or `SHA256:<hex>`.
    pub doc_id: String,
    /// Source format: `pubmed`, `pmc`, `markdown`, `text`, `jsonl`.
    pub source: String,
    /// File the document came from.
    pub source_path: String,
    /// Title.
    pub title: String,
    /// Author names, "Last First" form.
    pub authors: Vec<String>,
    /// Journal title.
    pub journal: Option<String>,
    /// Publication year.
    pub year: Option<i32>,
    /// MeSH descriptor names.
    pub mesh: Vec<String>,
    /// DOI without the `https://doi.org/` prefix.
    pub doi: Option<String>,
    /// The stored text: title, then the sections, that offsets point into.
    pub body: String,
    /// Sections of `body`, in order, not overlapping.
    pub sections: Vec<Section>,
    /// SHA-256 over the fields above (hex), for change detection.
    pub content_hash: String,
}

impl Document {
    /// Computes the content hash over every stored field except the hash itself and the path.
    pub fn compute_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.doc_id.as_str(),
            self.source.as_str(),
            self.title.as_str(),
            &self.authors.join("\u{1f}"),
            self.journal.as_deref().unwrap_or(""),
            &self.year.map(|y| y.to_string()).unwrap_or_default(),
            &self.mesh.join("\u{1f}"),
            self.doi.as_deref().unwrap_or(""),
            self.body.as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0x1e]);
        }
        for s in &self.sections {
            h.update(format!("{}\u{1f}{}\u{1f}{}\u{1e}", s.name, s.start, s.end).as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Text of the character span `[start, end)` of the body, if the span is inside it.
    pub fn span(&self, start: usize, end: usize) -> Option<&str> {
        char_slice(&self.body, start, end)
    }
}

/// A retrievable passage: a character span of one section of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// `<doc_id>#<ord>`.
    pub chunk_id: String,
    /// Owning document.
    pub doc_id: String,
    /// Position of the chunk in the document, from 0.
    pub ord: u32,
    /// Name of the section the chunk lies in.
    pub section: String,
    /// First character (inclusive) in the document body.
    pub start: usize,
    /// Last character (exclusive) in the document body.
    pub end: usize,
}

impl Chunk {
    /// The chunk id for a document and position.
    pub fn make_id(doc_id: &str, ord: u32) -> String {
        format!("{doc_id}#{ord}")
    }
}

/// [`char_slice`] for spans that come in order (the chunks of one document): `at` is the
/// (char, byte) position where the previous span ended, and the walk goes on from there (from
/// the start when `start` lies before it), so slicing every chunk of a long document is linear
/// in its length instead of quadratic.
pub fn char_slice_from<'a>(
    s: &'a str,
    at: &mut (usize, usize),
    start: usize,
    end: usize,
) -> Option<&'a str> {
    if start > end {
        return None;
    }
    let advance = |from: (usize, usize), n: usize| -> Option<(usize, usize)> {
        let (mut c, mut b) = if from.0 <= n { from } else { (0, 0) };
        while c < n {
            b += s.get(b..)?.chars().next()?.len_utf8();
            c += 1;
        }
        Some((c, b))
    };
    let a = advance(*at, start)?;
    let e = advance(a, end)?;
    *at = e;
    s.get(a.1..e.1)
}

/// The substring of `s` between character offsets `start` (inclusive) and `end` (exclusive);
/// `None` when the span is reversed or runs past the end.
pub fn char_slice(s: &str, start: usize, end: usize) -> Option<&str> {
    if start > end {
        return None;
    }
    let mut it = s
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(s.len()));
    let b_start = it.nth(start)?;
    let b_end = if end == start {
        b_start
    } else {
        it.nth(end - start - 1)?
    };
    s.get(b_start..b_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_slice_counts_scalar_values() {
        let s = "Ménière’s disease";
        assert_eq!(char_slice(s, 0, 7), Some("Ménière"));
        assert_eq!(char_slice(s, 10, 17), Some("disease"));
        assert_eq!(char_slice(s, 17, 17), Some(""));
        assert_eq!(char_slice(s, 0, 18), None);
        assert_eq!(char_slice(s, 5, 4), None);
    }

    #[test]
    fn char_slice_from_equals_char_slice_in_any_order() {
        let s = "Ménière’s disease, βeta and ｍｅｔ";
        let n = s.chars().count();
        let spans = [
            (0, 7),
            (7, 10),
            (10, 17),
            (17, 17),
            (3, 12),
            (20, n),
            (0, n),
        ];
        let mut at = (0, 0);
        for (a, b) in spans {
            assert_eq!(
                char_slice_from(s, &mut at, a, b),
                char_slice(s, a, b),
                "{a}..{b}"
            );
        }
        assert_eq!(char_slice_from(s, &mut at, 0, n + 1), None);
        assert_eq!(char_slice_from(s, &mut at, 5, 4), None);
        assert_eq!(char_slice_from(s, &mut at, 10, 17), Some("disease"));
    }

    #[test]
    fn hash_changes_with_body_and_sections() {
        let mut d = Document {
            doc_id: "PMID:1".into(),
            source: "pubmed".into(),
            source_path: "a.xml".into(),
            title: "T".into(),
            authors: vec![],
            journal: None,
            year: Some(2020),
            mesh: vec![],
            doi: None,
            body: "T\n\nbody".into(),
            sections: vec![],
            content_hash: String::new(),
        };
        let h1 = d.compute_hash();
        d.source_path = "b.xml".into();
        assert_eq!(h1, d.compute_hash(), "path is not content");
        d.body.push('!');
        assert_ne!(h1, d.compute_hash());
    }
}
