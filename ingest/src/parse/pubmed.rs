//! MEDLINE/PubMed XML (`PubmedArticleSet`): one document per `PubmedArticle`, id `PMID:n`,
//! title, abstract with its labelled sections, journal, year, authors, MeSH, DOI; and
//! `DeleteCitation` lists as deletions. Streams: memory stays flat whatever the file size.

use std::io::BufRead;
use std::path::Path;

use super::xml::{Ev, XmlEvents, attr};
use super::{DocBuilder, Item, Limits, squash_ws};

#[derive(Default)]
struct Record {
    pmid: Option<String>,
    title: String,
    abstract_parts: Vec<(String, String)>,
    journal: Option<String>,
    year: Option<i32>,
    medline_date: Option<String>,
    authors: Vec<String>,
    mesh: Vec<String>,
    doi: Option<String>,
    too_large: bool,
    size: usize,
}

const INLINE_SKIP: &[&str] = &[];

pub(super) fn parse(
    r: Box<dyn BufRead + Send>,
    path: &Path,
    limits: Limits,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), String> {
    let mut x = XmlEvents::new(r);
    let source_path = path.display().to_string();
    let mut rec: Option<Record> = None;
    let mut in_delete = false;
    let mut n_records = 0usize;
    let mut author = (String::new(), String::new(), String::new());
    while let Some(ev) = x.next().map_err(|e| with_count(e, n_records))? {
        match ev {
            Ev::Start { name, attrs } => {
                let parent = x
                    .stack()
                    .len()
                    .checked_sub(2)
                    .and_then(|i| x.stack().get(i))
                    .cloned()
                    .unwrap_or_default();
                match name.as_str() {
                    "PubmedArticle" => rec = Some(Record::default()),
                    "PubmedBookArticle" => {
                        x.skip_element()?;
                        emit(Item::RecordError {
                            record: format!("record {}", n_records + 1),
                            problem: "PubmedBookArticle (book chapters) is not supported".into(),
                        });
                        n_records += 1;
                    }
                    "DeleteCitation" => in_delete = true,
                    "PMID" if in_delete => {
                        let mut s = String::new();
                        x.text_until_end(INLINE_SKIP, &mut s)?;
                        let id = s.trim();
                        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
                            emit(Item::Delete(format!("PMID:{id}")));
                        }
                    }
                    _ => {
                        let Some(r) = rec.as_mut() else { continue };
                        let text = |x: &mut XmlEvents<_>| -> Result<String, String> {
                            let mut s = String::new();
                            x.text_until_end(INLINE_SKIP, &mut s)?;
                            Ok(squash_ws(&s))
                        };
                        match (name.as_str(), parent.as_str()) {
                            ("PMID", "MedlineCitation") => r.pmid = Some(text(&mut x)?),
                            ("ArticleTitle", "Article") => r.title = text(&mut x)?,
                            ("AbstractText", "Abstract") => {
                                let label = attr(&attrs, "Label")
                                    .map(str::to_owned)
                                    .unwrap_or_else(|| "abstract".to_owned());
                                let t = text(&mut x)?;
                                r.size += t.len();
                                r.abstract_parts.push((label, t));
                            }
                            ("Title", "Journal") => r.journal = Some(text(&mut x)?),
                            ("Year", "PubDate") => {
                                r.year = text(&mut x)?.get(..4).and_then(|y| y.parse().ok())
                            }
                            ("MedlineDate", "PubDate") => r.medline_date = Some(text(&mut x)?),
                            ("LastName", "Author") => author.0 = text(&mut x)?,
                            ("ForeName", "Author") => author.1 = text(&mut x)?,
                            ("CollectiveName", "Author") => author.2 = text(&mut x)?,
                            ("DescriptorName", "MeshHeading") => r.mesh.push(text(&mut x)?),
                            ("ELocationID", _) if attr(&attrs, "EIdType") == Some("doi") => {
                                let d = text(&mut x)?;
                                r.doi.get_or_insert(d);
                            }
                            ("ArticleId", "ArticleIdList")
                                if attr(&attrs, "IdType") == Some("doi")
                                    && x.stack().iter().any(|s| s == "PubmedData") =>
                            {
                                let d = text(&mut x)?;
                                r.doi.get_or_insert(d);
                            }
                            ("Author", _) => author = Default::default(),
                            _ => {}
                        }
                        if r.size > limits.max_doc_bytes {
                            r.too_large = true;
                        }
                    }
                }
            }
            Ev::End => {
                // The stack no longer holds the closed element; look at what closed by depth.
                let depth = x.stack().len();
                if in_delete && !x.stack().iter().any(|s| s == "DeleteCitation") {
                    in_delete = false;
                }
                // An Author element closed when AuthorList is on top of the stack again.
                if let Some(r) = rec.as_mut()
                    && x.stack().last().map(String::as_str) == Some("AuthorList")
                    && (!author.0.is_empty() || !author.2.is_empty())
                {
                    let name = if author.2.is_empty() {
                        format!("{} {}", author.0, author.1).trim().to_owned()
                    } else {
                        author.2.clone()
                    };
                    r.authors.push(name);
                    author = Default::default();
                }
                let closed_article =
                    rec.is_some() && !x.stack().iter().any(|s| s == "PubmedArticle") && depth <= 1;
                if closed_article && let Some(r) = rec.take() {
                    n_records += 1;
                    if !emit(finish(r, n_records, &source_path)) {
                        return Ok(());
                    }
                }
            }
            Ev::Text(_) => {}
        }
    }
    Ok(())
}

fn with_count(e: String, n: usize) -> String {
    if n > 0 {
        format!("{e} (after {n} complete records, which were kept)")
    } else {
        e
    }
}

fn finish(r: Record, n: usize, source_path: &str) -> Item {
    let Some(pmid) = r
        .pmid
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Item::RecordError {
            record: format!("record {n}"),
            problem: "PubmedArticle without a numeric PMID".into(),
        };
    };
    if r.too_large {
        return Item::RecordError {
            record: format!("PMID {pmid}"),
            problem: "record text is over the single-document size limit".into(),
        };
    }
    if r.title.is_empty() && r.abstract_parts.is_empty() {
        return Item::RecordError {
            record: format!("PMID {pmid}"),
            problem: "no title and no abstract".into(),
        };
    }
    let mut b = DocBuilder::new(&r.title);
    for (label, text) in &r.abstract_parts {
        b.section(label, text);
    }
    b.authors = r.authors;
    b.journal = r.journal;
    b.year = r.year.or_else(|| {
        r.medline_date
            .as_deref()
            .and_then(|d| d.get(..4))
            .and_then(|y| y.parse().ok())
    });
    b.mesh = r.mesh;
    b.doi = r.doi;
    Item::Doc(Box::new(b.build(
        &format!("PMID:{pmid}"),
        "pubmed",
        source_path,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(xml: &str) -> (Vec<Item>, Result<(), String>) {
        let mut items = Vec::new();
        let r = parse(
            Box::new(std::io::Cursor::new(xml.as_bytes().to_vec())),
            Path::new("t.xml"),
            Limits {
                max_doc_bytes: 10_000,
            },
            &mut |i| {
                items.push(i);
                true
            },
        );
        (items, r)
    }

    const ONE: &str = r#"<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2019//EN" "x.dtd">
<PubmedArticleSet>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE">
    <PMID Version="1">12345</PMID>
    <Article>
      <Journal><JournalIssue><PubDate><Year>2019</Year></PubDate></JournalIssue>
        <Title>The Journal &amp; Review</Title></Journal>
      <ArticleTitle>Aspirin in <i>acute</i> MI.</ArticleTitle>
      <ELocationID EIdType="doi">10.1000/xyz1</ELocationID>
      <Abstract>
        <AbstractText Label="BACKGROUND">Aspirin &#x3b2; helps.</AbstractText>
        <AbstractText Label="RESULTS">It   reduced
          deaths.</AbstractText>
      </Abstract>
      <AuthorList><Author><LastName>Smith</LastName><ForeName>Anna</ForeName></Author>
        <Author><CollectiveName>TIMI Group</CollectiveName></Author></AuthorList>
    </Article>
    <MeshHeadingList><MeshHeading><DescriptorName UI="D001241">Aspirin</DescriptorName></MeshHeading></MeshHeadingList>
    <CommentsCorrectionsList><CommentsCorrections><PMID>999</PMID></CommentsCorrections></CommentsCorrectionsList>
  </MedlineCitation>
</PubmedArticle>
<DeleteCitation><PMID Version="1">777</PMID></DeleteCitation>
</PubmedArticleSet>"#;

    #[test]
    fn parses_a_citation() {
        let (items, r) = run(ONE);
        r.unwrap();
        assert_eq!(items.len(), 2);
        let Item::Doc(d) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(d.doc_id, "PMID:12345");
        assert_eq!(d.title, "Aspirin in acute MI.");
        assert_eq!(d.journal.as_deref(), Some("The Journal & Review"));
        assert_eq!(d.year, Some(2019));
        assert_eq!(d.doi.as_deref(), Some("10.1000/xyz1"));
        assert_eq!(d.authors, vec!["Smith Anna", "TIMI Group"]);
        assert_eq!(d.mesh, vec!["Aspirin"]);
        let names: Vec<_> = d.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["title", "BACKGROUND", "RESULTS"]);
        assert_eq!(
            d.span(d.sections[1].start, d.sections[1].end),
            Some("Aspirin β helps.")
        );
        assert_eq!(
            d.span(d.sections[2].start, d.sections[2].end),
            Some("It reduced deaths.")
        );
        assert!(matches!(&items[1], Item::Delete(id) if id == "PMID:777"));
    }

    #[test]
    fn truncated_file_keeps_complete_records() {
        let cut = &ONE[..ONE.find("<DeleteCitation>").unwrap() + 20];
        let (items, r) = run(cut);
        assert_eq!(items.len(), 1);
        let e = r.unwrap_err();
        assert!(e.contains("truncated") || e.contains("malformed"), "{e}");
        assert!(e.contains("after 1 complete records"), "{e}");
    }

    #[test]
    fn malformed_and_missing_pmid() {
        let (_, r) = run("<PubmedArticleSet><PubmedArticle></Wrong></PubmedArticleSet>");
        assert!(r.unwrap_err().contains("malformed XML"));
        let (items, r) = run(
            "<PubmedArticleSet><PubmedArticle><MedlineCitation><Article><ArticleTitle>x</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>",
        );
        r.unwrap();
        assert!(matches!(&items[0], Item::RecordError { problem, .. } if problem.contains("PMID")));
        let (_, r) = run("not xml at all");
        assert!(r.is_err());
    }
}
