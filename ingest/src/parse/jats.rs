//! PMC JATS full text (`.nxml`): id `PMCID:n` (else `DOI:x`, else a content hash), title,
//! journal, year, authors, keywords, the abstract and every body section (nested section titles
//! joined with ` > `), one paragraph per line. Figures, tables, formulas and references are left
//! out of the text.

use std::io::BufRead;
use std::path::Path;

use super::xml::{Ev, XmlEvents, attr};
use super::{DocBuilder, Item, Limits, hash_id, squash_ws};

const SKIP_IN_TEXT: &[&str] = &[
    "fig",
    "table-wrap",
    "disp-formula",
    "supplementary-material",
    "table",
    "graphic",
    "media",
];

pub(super) fn parse(
    r: Box<dyn BufRead + Send>,
    path: &Path,
    limits: Limits,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), String> {
    let mut x = XmlEvents::new(r);
    let mut pmc = None;
    let mut pmid = None;
    let mut doi = None;
    let mut title = String::new();
    let mut journal = None;
    let mut year: Option<i32> = None;
    let mut authors = Vec::new();
    let mut keywords = Vec::new();
    // Section paths and their paragraphs, in document order.
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    let mut sec_titles: Vec<String> = Vec::new();
    let mut sec_depths: Vec<usize> = Vec::new();
    let mut size = 0usize;
    let mut surname = String::new();
    let mut given = String::new();
    while let Some(ev) = x.next()? {
        let Ev::Start { name, attrs } = ev else {
            if let Some(&d) = sec_depths.last()
                && x.stack().len() < d
            {
                sec_depths.pop();
                sec_titles.pop();
            }
            continue;
        };
        let stack = x.stack();
        let in_front = stack.iter().any(|s| s == "front");
        let in_abstract = stack
            .iter()
            .any(|s| s == "abstract" || s == "trans-abstract");
        let in_body = stack.iter().any(|s| s == "body");
        let in_sub = stack.iter().any(|s| s == "sub-article" || s == "response");
        if in_sub {
            continue;
        }
        let text = |x: &mut XmlEvents<_>| -> Result<String, String> {
            let mut s = String::new();
            x.text_until_end(SKIP_IN_TEXT, &mut s)?;
            Ok(squash_ws(&s))
        };
        match name.as_str() {
            "article-id" if in_front => {
                let kind = attr(&attrs, "pub-id-type").map(str::to_owned);
                let v = text(&mut x)?;
                match kind.as_deref() {
                    Some("pmc" | "pmcid") => pmc = Some(v.trim_start_matches("PMC").to_owned()),
                    Some("pmid") => pmid = Some(v),
                    Some("doi") => doi = Some(v),
                    _ => {}
                }
            }
            "article-title"
                if in_front && title.is_empty() && stack.iter().any(|s| s == "title-group") =>
            {
                title = text(&mut x)?;
            }
            "journal-title" if in_front => {
                let v = text(&mut x)?;
                journal.get_or_insert(v);
            }
            "year" if in_front && stack.iter().any(|s| s == "pub-date") => {
                let v = text(&mut x)?;
                if year.is_none() {
                    year = v.get(..4).and_then(|y| y.parse().ok());
                }
            }
            "surname" if stack.iter().any(|s| s == "contrib") => surname = text(&mut x)?,
            "given-names" if stack.iter().any(|s| s == "contrib") => given = text(&mut x)?,
            "kwd" if in_front => keywords.push(text(&mut x)?),
            "sec" if in_body || in_abstract => {
                sec_depths.push(x.stack().len());
                sec_titles.push(String::new());
            }
            "title"
                if (in_body || in_abstract)
                    && stack.len() >= 2
                    && stack[stack.len() - 2] == "sec" =>
            {
                let t = text(&mut x)?;
                if let Some(last) = sec_titles.last_mut() {
                    *last = t;
                }
            }
            "p" if in_body || in_abstract => {
                let t = text(&mut x)?;
                if t.is_empty() {
                    continue;
                }
                size += t.len();
                if size > limits.max_doc_bytes {
                    return Err("article text is over the single-document size limit".into());
                }
                let mut path_name: Vec<&str> = Vec::new();
                if in_abstract {
                    path_name.push("Abstract");
                }
                path_name.extend(
                    sec_titles
                        .iter()
                        .filter(|t| !t.is_empty())
                        .map(String::as_str),
                );
                if path_name.is_empty() {
                    path_name.push("Body");
                }
                let key = path_name.join(" > ");
                match sections.last_mut() {
                    Some((k, paras)) if *k == key => paras.push(t),
                    _ => sections.push((key, vec![t])),
                }
            }
            "ref-list" | "back" | "floats-group" => x.skip_element()?,
            n if SKIP_IN_TEXT.contains(&n) => x.skip_element()?,
            _ => {}
        }
        if name == "contrib" {
            surname.clear();
            given.clear();
        }
        if !surname.is_empty() && !given.is_empty() {
            authors.push(format!("{surname} {given}"));
            surname.clear();
            given.clear();
        }
    }
    if !surname.is_empty() {
        authors.push(surname);
    }
    if title.is_empty() && sections.is_empty() {
        return Err("no article title and no text found (is this a JATS article?)".into());
    }
    let mut b = DocBuilder::new(&title);
    for (name, paras) in &sections {
        b.section(name, &paras.join("\n"));
    }
    b.authors = authors;
    b.journal = journal;
    b.year = year;
    b.mesh = keywords;
    b.doi = doi.clone();
    let doc_id = match (&pmc, &doi) {
        (Some(p), _) if !p.is_empty() => format!("PMCID:{p}"),
        (_, Some(d)) if !d.is_empty() => format!("DOI:{d}"),
        _ => {
            let probe = b.clone().build("", "pmc", "");
            hash_id(&probe.body)
        }
    };
    let _ = pmid;
    emit(Item::Doc(Box::new(b.build(
        &doc_id,
        "pmc",
        &path.display().to_string(),
    ))));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ART: &str = r#"<?xml version="1.0"?>
<article><front><journal-meta><journal-title-group><journal-title>BMC Microbiol</journal-title></journal-title-group></journal-meta>
<article-meta><article-id pub-id-type="pmid">21699706</article-id><article-id pub-id-type="pmc">3142207</article-id>
<article-id pub-id-type="doi">10.1186/1471-2180-11-174</article-id>
<title-group><article-title>A study of <italic>E. coli</italic></article-title></title-group>
<contrib-group><contrib contrib-type="author"><name><surname>Doe</surname><given-names>J</given-names></name></contrib></contrib-group>
<pub-date pub-type="epub"><day>1</day><year>2011</year></pub-date>
<abstract><sec><title>Background</title><p>Bacteria grow.</p></sec></abstract></article-meta></front>
<body><sec><title>Methods</title><p>We cultured <xref ref-type="bibr" rid="B1">1</xref> cells.</p>
<fig id="f1"><caption><p>Figure text.</p></caption></fig>
<sec><title>Strains</title><p>Strain K12.</p><p>Second para.</p></sec></sec>
<sec><title>Results</title><p>Growth doubled.</p></sec></body>
<back><ref-list><ref><mixed-citation>Ref one.</mixed-citation></ref></ref-list></back></article>"#;

    #[test]
    fn parses_sections() {
        let mut items = Vec::new();
        parse(
            Box::new(std::io::Cursor::new(ART.as_bytes().to_vec())),
            Path::new("a.nxml"),
            Limits {
                max_doc_bytes: 1 << 20,
            },
            &mut |i| {
                items.push(i);
                true
            },
        )
        .unwrap();
        let Item::Doc(d) = &items[0] else { panic!() };
        assert_eq!(d.doc_id, "PMCID:3142207");
        assert_eq!(d.title, "A study of E. coli");
        assert_eq!(d.year, Some(2011));
        assert_eq!(d.authors, vec!["Doe J"]);
        let secs: Vec<_> = d
            .sections
            .iter()
            .map(|s| (s.name.as_str(), d.span(s.start, s.end).unwrap()))
            .collect();
        assert_eq!(
            secs,
            vec![
                ("title", "A study of E. coli"),
                ("Abstract > Background", "Bacteria grow."),
                ("Methods", "We cultured 1 cells."),
                ("Methods > Strains", "Strain K12.\nSecond para."),
                ("Results", "Growth doubled."),
            ]
        );
        assert!(!d.body.contains("Figure text") && !d.body.contains("Ref one"));
    }
}
