//! Markdown guidelines and plain text. Markdown: the first `#` heading is the title, deeper
//! headings open sections named by their heading path (`Staging > Stage 1`); plain text: the
//! first line is the title, the rest one section. The id is `DOI:x` for the first DOI found in
//! the text, else a content hash.

use std::path::Path;

use super::{DocBuilder, Format, Item, find_doi, hash_id};

pub(super) fn parse(
    s: &str,
    path: &Path,
    format: Format,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), String> {
    let s = s.replace("\r\n", "\n");
    if s.trim().is_empty() {
        return Err("no text (only whitespace)".into());
    }
    let stem = path
        .file_stem()
        .and_then(|x| x.to_str())
        .unwrap_or("untitled")
        .replace(['_', '-'], " ");
    let (b, source) = if format == Format::Markdown {
        (markdown(&s, &stem), "markdown")
    } else {
        (plain(&s, &stem), "text")
    };
    let mut b = b;
    b.doi = find_doi(&s);
    let doc_id = match &b.doi {
        Some(d) => format!("DOI:{d}"),
        None => hash_id(&s),
    };
    emit(Item::Doc(Box::new(b.build(
        &doc_id,
        source,
        &path.display().to_string(),
    ))));
    Ok(())
}

fn markdown(s: &str, stem: &str) -> DocBuilder {
    let mut title: Option<String> = None;
    let mut heads: Vec<(usize, String)> = Vec::new();
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut cur = String::new();
    let mut in_code = false;
    let flush =
        |heads: &[(usize, String)], cur: &mut String, sections: &mut Vec<(String, String)>| {
            let name = if heads.is_empty() {
                "Introduction".to_owned()
            } else {
                heads
                    .iter()
                    .map(|(_, h)| h.as_str())
                    .collect::<Vec<_>>()
                    .join(" > ")
            };
            if !cur.trim().is_empty() {
                sections.push((name, std::mem::take(cur)));
            }
            cur.clear();
        };
    for line in s.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let level = line.bytes().take_while(|&b| b == b'#').count();
        let is_heading = !in_code
            && (1..=6).contains(&level)
            && line.as_bytes().get(level).is_some_and(|&b| b == b' ');
        if is_heading {
            let text = line[level..].trim().trim_end_matches('#').trim().to_owned();
            if level == 1 && title.is_none() && sections.is_empty() && cur.trim().is_empty() {
                title = Some(text);
                continue;
            }
            flush(&heads, &mut cur, &mut sections);
            while heads.last().is_some_and(|(l, _)| *l >= level) {
                heads.pop();
            }
            heads.push((level, text));
        } else {
            cur.push_str(line.trim_end());
            cur.push('\n');
        }
    }
    flush(&heads, &mut cur, &mut sections);
    let mut b = DocBuilder::new(title.as_deref().unwrap_or(stem));
    for (n, t) in &sections {
        b.section(n, t);
    }
    b
}

fn plain(s: &str, stem: &str) -> DocBuilder {
    let mut lines = s.trim_start().splitn(2, '\n');
    let first = lines.next().unwrap_or_default().trim();
    let rest = lines.next().unwrap_or_default();
    let (title, body) = if first.chars().count() <= 200 && !rest.trim().is_empty() {
        (first.to_owned(), rest)
    } else {
        (stem.to_owned(), s)
    };
    let mut b = DocBuilder::new(&title);
    b.section("body", body);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str, f: Format) -> clinrag_retrieval::Document {
        let mut out = None;
        parse(s, Path::new("/x/acute_kidney.md"), f, &mut |i| {
            if let Item::Doc(d) = i {
                out = Some(*d);
            }
            true
        })
        .unwrap();
        out.unwrap()
    }

    #[test]
    fn markdown_sections() {
        let d = one(
            "# AKI — KDIGO\n\nIntro text.\n\n## Definition\n\nAKI is X.\n\n### Baseline\n\n- item one\n- item two\n\n## Staging\n\n| a | b |\n\nDOI: 10.1038/kisup.2012.1\n",
            Format::Markdown,
        );
        assert_eq!(d.title, "AKI — KDIGO");
        assert_eq!(d.doc_id, "DOI:10.1038/kisup.2012.1");
        let names: Vec<_> = d.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "title",
                "Introduction",
                "Definition",
                "Definition > Baseline",
                "Staging"
            ]
        );
        let base = &d.sections[3];
        assert_eq!(d.span(base.start, base.end), Some("- item one\n- item two"));
    }

    #[test]
    fn plain_text_title_and_hash_id() {
        let d = one("Discharge summary\nPatient did well.\n", Format::Text);
        assert_eq!(d.title, "Discharge summary");
        assert!(d.doc_id.starts_with("SHA256:"));
        assert_eq!(d.source, "text");
        let e = parse("   \n", Path::new("e.txt"), Format::Text, &mut |_| true);
        assert!(e.unwrap_err().contains("no text"));
    }
}
