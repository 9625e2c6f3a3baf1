//! Shared checks for the ingest targets: whatever a parser emits must be a well-formed document
//! whose sections and chunks point inside its text.

use std::path::Path;

use clinrag_ingest::parse::{Limits, parse_bytes};
use clinrag_ingest::{ChunkConfig, Format, Item, chunk_document};
use clinrag_retrieval::Document;

/// Parses `data` as `format` (named `name`), checking every document it emits.
pub fn parse_and_check(data: &[u8], name: &str, format: Format, max_doc_bytes: usize) {
    let limits = Limits { max_doc_bytes };
    let mut n = 0usize;
    let _ = parse_bytes(data, Path::new(name), format, limits, &mut |item| {
        n += 1;
        match item {
            Item::Doc(d) => check_doc(&d, max_doc_bytes),
            Item::Delete(id) => assert!(!id.is_empty(), "empty deletion id"),
            Item::RecordError { record, .. } => assert!(!record.is_empty(), "unnamed record"),
        }
        // Stop early sometimes, as a caller may.
        n < 1000
    });
}

/// Document invariants, then chunking invariants at a tiny and the default budget.
pub fn check_doc(d: &Document, max_doc_bytes: usize) {
    assert!(!d.doc_id.is_empty(), "document without id");
    assert!(
        d.body.len() <= max_doc_bytes.saturating_mul(2) + 4096,
        "document text {} bytes over the {} byte limit",
        d.body.len(),
        max_doc_bytes
    );
    let n = d.body.chars().count();
    let mut prev_end = 0usize;
    for s in &d.sections {
        assert!(
            s.start <= s.end && s.end <= n,
            "section {:?} {}..{} outside a text of {n} chars",
            s.name,
            s.start,
            s.end
        );
        assert!(s.start >= prev_end, "sections overlap or are out of order");
        prev_end = s.end;
        assert!(
            d.span(s.start, s.end).is_some(),
            "section span not sliceable"
        );
    }
    assert_eq!(d.content_hash, d.compute_hash(), "stale content hash");
    for max in [20usize, 1000] {
        let chunks = chunk_document(d, ChunkConfig { max_chars: max });
        let mut last = 0usize;
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.ord as usize, i, "chunk ords not consecutive");
            assert_eq!(c.doc_id, d.doc_id);
            assert!(
                c.start < c.end && c.end <= n,
                "chunk {}..{} outside a text of {n} chars",
                c.start,
                c.end
            );
            assert!(c.end - c.start <= max.max(16), "chunk over budget");
            let sec = d
                .sections
                .iter()
                .find(|s| s.name == c.section && s.start <= c.start && c.end <= s.end);
            assert!(
                sec.is_some(),
                "chunk {}..{} not inside its section",
                c.start,
                c.end
            );
            if i > 0 && chunks[i - 1].section == c.section {
                assert!(c.start >= last, "chunks of one section overlap");
            }
            last = c.end;
            assert!(d.span(c.start, c.end).is_some());
        }
    }
}
