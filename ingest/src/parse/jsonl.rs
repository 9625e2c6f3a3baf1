//! JSONL: one document per line, `{"id","title","text"}` plus optional `year`, `journal`,
//! `authors`, `mesh`, `doi`, `sections` (`[{"name","text"}]`). The `id` is kept verbatim as the
//! document id (a bare number or `"pmid"` field gives `PMID:n`). A bad line is reported with its
//! number and skipped.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use super::{DocBuilder, Item, Limits, hash_id};

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    pmid: Option<serde_json::Value>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    sections: Option<Vec<SectionIn>>,
    #[serde(default)]
    year: Option<serde_json::Value>,
    #[serde(default)]
    journal: Option<String>,
    #[serde(default)]
    authors: Option<Vec<String>>,
    #[serde(default)]
    mesh: Option<Vec<String>>,
    #[serde(default)]
    doi: Option<String>,
}

#[derive(Deserialize)]
struct SectionIn {
    name: String,
    text: String,
}

pub(super) fn parse(
    mut r: Box<dyn BufRead + Send>,
    path: &Path,
    limits: Limits,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), String> {
    let source_path = path.display().to_string();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut any = false;
    loop {
        buf.clear();
        let n = read_line_limited(&mut r, &mut buf, limits.max_doc_bytes)
            .map_err(|e| format!("cannot read line {}: {e}", line_no + 1))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let record = format!("line {line_no}");
        if n > limits.max_doc_bytes {
            emit(Item::RecordError {
                record,
                problem: "line is over the single-document size limit".into(),
            });
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            emit(Item::RecordError {
                record,
                problem: "not valid UTF-8".into(),
            });
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        any = true;
        let item = match serde_json::from_str::<Line>(text) {
            Ok(l) => to_doc(l, &source_path)
                .unwrap_or_else(|problem| Item::RecordError { record, problem }),
            Err(e) => Item::RecordError {
                record,
                problem: format!("not a JSON object with the expected fields: {e}"),
            },
        };
        if !emit(item) {
            return Ok(());
        }
    }
    if !any {
        return Err("no JSON lines found".into());
    }
    Ok(())
}

fn to_doc(l: Line, source_path: &str) -> Result<Item, String> {
    let id_str = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let text = l.text.unwrap_or_default();
    let title = l.title.unwrap_or_default();
    if text.trim().is_empty() && title.trim().is_empty() && l.sections.is_none() {
        return Err("no \"title\", \"text\" or \"sections\"".into());
    }
    let mut b = DocBuilder::new(&title);
    b.section("text", &text);
    for s in l.sections.unwrap_or_default() {
        b.section(&s.name, &s.text);
    }
    b.year = l.year.as_ref().and_then(|y| match y {
        serde_json::Value::Number(n) => n.as_i64().and_then(|v| i32::try_from(v).ok()),
        serde_json::Value::String(s) => s.get(..4).and_then(|v| v.parse().ok()),
        _ => None,
    });
    b.journal = l.journal;
    b.authors = l.authors.unwrap_or_default();
    b.mesh = l.mesh.unwrap_or_default();
    b.doi = l.doi;
    let id = match (
        l.id.as_ref().and_then(id_str),
        l.pmid.as_ref().and_then(id_str),
    ) {
        (Some(id), _) if !id.is_empty() => {
            if id.bytes().all(|c| c.is_ascii_digit()) {
                format!("PMID:{id}")
            } else {
                id
            }
        }
        (_, Some(p)) if !p.is_empty() => format!("PMID:{p}"),
        _ => hash_id(&format!("{title}\n{text}")),
    };
    Ok(Item::Doc(Box::new(b.build(&id, "jsonl", source_path))))
}

/// Reads one line into `buf`, keeping at most `limit + 1` bytes (the rest of an over-long line
/// is consumed and dropped). Returns the line's full length.
fn read_line_limited(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..=i], true),
            None => (avail, false),
        };
        let len = chunk.len();
        if buf.len() <= limit {
            let take = len.min(limit + 1 - buf.len());
            buf.extend_from_slice(&chunk[..take]);
        }
        total += len;
        r.consume(len);
        if done {
            while buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                buf.pop();
            }
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_ok_and_bad() {
        let input = "{\"id\":\"PMID:1\",\"title\":\"T\",\"text\":\"Body.\"}\nnot json\n\n{\"id\":\"x-2\",\"text\":\"B\"}\n{\"id\":3}\n";
        let mut items = Vec::new();
        parse(
            Box::new(std::io::Cursor::new(input.as_bytes().to_vec())),
            Path::new("c.jsonl"),
            Limits {
                max_doc_bytes: 1000,
            },
            &mut |i| {
                items.push(i);
                true
            },
        )
        .unwrap();
        assert_eq!(items.len(), 4);
        assert!(matches!(&items[0], Item::Doc(d) if d.doc_id == "PMID:1"));
        assert!(matches!(&items[1], Item::RecordError { record, .. } if record == "line 2"));
        assert!(matches!(&items[2], Item::Doc(d) if d.doc_id == "x-2"));
        assert!(matches!(&items[3], Item::RecordError { record, .. } if record == "line 5"));
    }

    #[test]
    fn overlong_line_is_a_record_error() {
        let input = format!(
            "{{\"id\":\"a\",\"text\":\"{}\"}}\n{{\"id\":\"b\",\"text\":\"ok\"}}\n",
            "x".repeat(5000)
        );
        let mut items = Vec::new();
        parse(
            Box::new(std::io::Cursor::new(input.into_bytes())),
            Path::new("c.jsonl"),
            Limits { max_doc_bytes: 100 },
            &mut |i| {
                items.push(i);
                true
            },
        )
        .unwrap();
        assert!(
            matches!(&items[0], Item::RecordError { problem, .. } if problem.contains("size limit"))
        );
        assert!(matches!(&items[1], Item::Doc(d) if d.doc_id == "b"));
    }
}
