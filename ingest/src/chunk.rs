//! Section-aware chunking: sentences are packed into chunks of at most `max_chars` characters
//! without crossing a section; a chunk boundary falls inside a sentence only when that sentence
//! alone exceeds the budget (it is then cut at word boundaries).

use clinrag_retrieval::{Chunk, Document};

use crate::sentence::sentence_spans;

/// Chunking parameters.
#[derive(Debug, Clone, Copy)]
pub struct ChunkConfig {
    /// Largest chunk, in characters.
    pub max_chars: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        // About 200 words: within the 256-token window of MiniLM-class embedders.
        Self { max_chars: 1000 }
    }
}

/// Splits a document into chunks. The title section is chunked only when the document has no
/// other text (the title is indexed with every chunk anyway).
pub fn chunk_document(doc: &Document, cfg: ChunkConfig) -> Vec<Chunk> {
    let max = cfg.max_chars.max(16);
    let chars: Vec<char> = doc.body.chars().collect();
    let has_other = doc
        .sections
        .iter()
        .any(|s| s.name != "title" && s.end > s.start);
    let mut out = Vec::new();
    for sec in &doc.sections {
        if sec.name == "title" && has_other {
            continue;
        }
        let (s0, s1) = (sec.start.min(chars.len()), sec.end.min(chars.len()));
        if s0 >= s1 {
            continue;
        }
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        for (a, b) in sentence_spans(&chars[s0..s1]) {
            let (a, b) = (a + s0, b + s0);
            if b - a <= max {
                pieces.push((a, b));
            } else {
                split_long(&chars, a, b, max, &mut pieces);
            }
        }
        let mut cur: Option<(usize, usize)> = None;
        for (a, b) in pieces {
            cur = match cur {
                Some((cs, _)) if b - cs <= max => Some((cs, b)),
                Some(done) => {
                    push(doc, &sec.name, done, &mut out);
                    Some((a, b))
                }
                None => Some((a, b)),
            };
        }
        if let Some(done) = cur {
            push(doc, &sec.name, done, &mut out);
        }
    }
    out
}

fn push(doc: &Document, section: &str, (start, end): (usize, usize), out: &mut Vec<Chunk>) {
    let ord = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out.push(Chunk {
        chunk_id: Chunk::make_id(&doc.doc_id, ord),
        doc_id: doc.doc_id.clone(),
        ord,
        section: section.to_owned(),
        start,
        end,
    });
}

/// Cuts an over-long sentence `[a, b)` into pieces of at most `max` chars, at whitespace when
/// there is some in the window, trimmed.
fn split_long(chars: &[char], a: usize, b: usize, max: usize, out: &mut Vec<(usize, usize)>) {
    let mut s = a;
    while s < b {
        while s < b && chars[s].is_whitespace() {
            s += 1;
        }
        if s >= b {
            break;
        }
        let mut e = (s + max).min(b);
        if e < b
            && let Some(ws) = (s + 1..e).rev().find(|&i| chars[i].is_whitespace())
        {
            e = ws;
        }
        let mut t = e;
        while t > s && chars[t - 1].is_whitespace() {
            t -= 1;
        }
        out.push((s, t));
        s = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::DocBuilder;
    use clinrag_retrieval::char_slice;
    use proptest::prelude::*;

    fn doc(sections: &[(&str, &str)]) -> Document {
        let mut b = DocBuilder::new("Title of it");
        for (n, t) in sections {
            b.section(n, t);
        }
        b.build("T:1", "text", "x.txt")
    }

    #[test]
    fn packs_sentences_within_sections() {
        let d = doc(&[
            ("a", "First sentence here. Second one. Third."),
            ("b", "Other section."),
        ]);
        let c = chunk_document(&d, ChunkConfig { max_chars: 25 });
        let texts: Vec<_> = c
            .iter()
            .map(|c| {
                (
                    c.section.as_str(),
                    char_slice(&d.body, c.start, c.end).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            texts,
            vec![
                ("a", "First sentence here."),
                ("a", "Second one. Third."),
                ("b", "Other section.")
            ]
        );
        assert_eq!(c[2].chunk_id, "T:1#2");
    }

    #[test]
    fn title_only_document_gets_a_chunk() {
        let d = doc(&[]);
        let c = chunk_document(&d, ChunkConfig::default());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].section, "title");
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            "[a-zA-Z]{1,12}",
            "[0-9]{1,3}(\\.[0-9])?",
            Just("et al.".to_string()),
            Just("é".to_string()),
            Just("β-blocker".to_string()),
        ];
        let sep = prop_oneof![
            Just(" ".to_string()),
            Just(". ".to_string()),
            Just("? ".to_string()),
            Just("\n".to_string()),
            Just("  ".to_string()),
        ];
        proptest::collection::vec((word, sep), 0..120)
            .prop_map(|v| v.into_iter().map(|(w, s)| w + &s).collect())
    }

    proptest! {
        #[test]
        fn offsets_cover_text_and_respect_sentences(
            secs in proptest::collection::vec(text_strategy(), 1..4),
            max in 16usize..300,
        ) {
            let named: Vec<(String, String)> =
                secs.iter().enumerate().map(|(i, t)| (format!("s{i}"), t.clone())).collect();
            let refs: Vec<(&str, &str)> =
                named.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            let d = doc(&refs);
            let chunks = chunk_document(&d, ChunkConfig { max_chars: max });
            let body: Vec<char> = d.body.chars().collect();
            let mut covered = vec![false; body.len()];
            let mut last_end = 0;
            for (i, c) in chunks.iter().enumerate() {
                prop_assert_eq!(c.ord as usize, i);
                prop_assert!(c.start < c.end && c.end <= body.len());
                prop_assert!(c.start >= last_end, "chunks overlap or go backwards");
                prop_assert!(c.end - c.start <= max);
                last_end = c.end;
                let sec = d.sections.iter().find(|s| s.name == c.section).unwrap();
                prop_assert!(c.start >= sec.start && c.end <= sec.end, "chunk crosses its section");
                let text = char_slice(&d.body, c.start, c.end).unwrap();
                prop_assert_eq!(text.chars().count(), c.end - c.start);
                covered[c.start..c.end].iter_mut().for_each(|x| *x = true);
            }
            // Every non-space char of every non-title section is in some chunk.
            for s in d.sections.iter().filter(|s| s.name != "title") {
                for k in s.start..s.end {
                    prop_assert!(covered[k] || body[k].is_whitespace(), "char {} not covered", k);
                }
            }
            // No boundary inside a sentence that fits the budget.
            for s in d.sections.iter().filter(|s| s.name != "title") {
                for (a, b) in sentence_spans(&body[s.start..s.end]) {
                    let (a, b) = (a + s.start, b + s.start);
                    if b - a <= max {
                        prop_assert!(chunks.iter().any(|c| c.start <= a && b <= c.end),
                            "sentence {}..{} split", a, b);
                    }
                }
            }
        }
    }
}
