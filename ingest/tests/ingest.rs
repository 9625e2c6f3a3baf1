//! End-to-end ingest over real files on disk into a real SQLite catalog and tantivy index:
//! every supported format, every kind of bad input, re-ingest, change, removal, recovery.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};

use clinrag_ingest::{IngestConfig, IngestReport, Ingestor, NoProgress};
use clinrag_retrieval::{Catalog, KeywordIndex, SearchFilter};

fn pubmed_xml(pmids: &[u32]) -> String {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<PubmedArticleSet>\n");
    for p in pmids {
        s.push_str(&format!(
            "<PubmedArticle><MedlineCitation><PMID>{p}</PMID><Article><Journal><Title>J</Title><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue></Journal><ArticleTitle>Trial {p} of warfarin</ArticleTitle><Abstract><AbstractText Label=\"METHODS\">We randomised patients {p}. Anticoagulation was monitored.</AbstractText><AbstractText Label=\"RESULTS\">Bleeding fell.</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>\n"
        ));
    }
    s.push_str("</PubmedArticleSet>\n");
    s
}

fn gz(path: &Path, data: &[u8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap();
}

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    ing: Ingestor,
    catalog: Catalog,
    index: KeywordIndex,
}

async fn env(cfg: IngestConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    std::fs::create_dir_all(root.join("in")).unwrap();
    let catalog = Catalog::open(&Catalog::sqlite_url(&root)).await.unwrap();
    let index = KeywordIndex::open_or_create(&root.join("kw")).unwrap();
    let ing = Ingestor::new(catalog.clone(), index.clone(), cfg);
    Env {
        _dir: dir,
        root,
        ing,
        catalog,
        index,
    }
}

async fn run(e: &Env, paths: &[PathBuf]) -> IngestReport {
    e.ing.ingest(paths, &NoProgress).await.unwrap()
}

fn failure_for<'a>(r: &'a IngestReport, file: &str) -> &'a str {
    r.failures
        .iter()
        .find(|f| f.path.ends_with(file))
        .map(|f| f.reason.as_str())
        .unwrap_or_else(|| panic!("no failure for {file}: {:?}", r.failures))
}

#[tokio::test]
async fn good_and_bad_inputs() {
    let e = env(IngestConfig::default()).await;
    let d = e.root.join("in");
    gz(&d.join("a.xml.gz"), pubmed_xml(&[1, 2, 3]).as_bytes());
    std::fs::write(
        d.join("b.md"),
        "# Guideline\n\n## Dosing\n\nGive 5 mg. DOI 10.1000/abc.1\n",
    )
    .unwrap();
    std::fs::write(d.join("c.txt"), "Note title\nThe patient has anemia.\n").unwrap();
    std::fs::write(
        d.join("d.jsonl"),
        "{\"id\":\"X-1\",\"title\":\"Jsonl doc\",\"text\":\"Heparin works.\"}\n{bad\n",
    )
    .unwrap();
    std::fs::write(d.join("e.nxml"), "<article><front><article-meta><article-id pub-id-type=\"pmc\">PMC77</article-id><title-group><article-title>Full text</article-title></title-group></article-meta></front><body><sec><title>Intro</title><p>Clopidogrel is used.</p></sec></body></article>").unwrap();
    // Bad files.
    let full = pubmed_xml(&[10, 11]);
    gz(&d.join("trunc_gz.xml.gz"), full.as_bytes());
    let bytes = std::fs::read(d.join("trunc_gz.xml.gz")).unwrap();
    std::fs::write(d.join("trunc_gz.xml.gz"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(d.join("trunc.xml"), &full[..full.len() - 60]).unwrap();
    std::fs::write(
        d.join("malformed.xml"),
        "<PubmedArticleSet><PubmedArticle></Oops>",
    )
    .unwrap();
    std::fs::write(d.join("latin1.txt"), b"Caf\xe9 au lait spots\nmore").unwrap();
    std::fs::write(d.join("empty.md"), "").unwrap();
    std::fs::write(d.join("junk.txt"), [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    std::fs::write(d.join("notgz.xml.gz"), "plain").unwrap();
    std::fs::write(d.join("ignored.json"), "{}").unwrap();
    let huge = d.join("huge.txt");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(200 * 1024 * 1024)
        .unwrap();
    let pdf = e.root.join("paper.pdf");
    std::fs::write(&pdf, "%PDF").unwrap();

    let r = run(&e, &[d.clone(), pdf.clone(), e.root.join("missing.xml")]).await;
    assert!(
        failure_for(&r, "trunc_gz.xml.gz").contains("truncated")
            || failure_for(&r, "trunc_gz.xml.gz").contains("unexpected"),
        "{:?}",
        r.failures
    );
    assert!(failure_for(&r, "trunc.xml").contains("truncated"));
    assert!(failure_for(&r, "malformed.xml").contains("malformed XML"));
    assert!(failure_for(&r, "latin1.txt").contains("not valid UTF-8"));
    assert!(failure_for(&r, "empty.md").contains("empty file"));
    assert!(
        failure_for(&r, "junk.txt").contains("binary")
            || failure_for(&r, "junk.txt").contains("UTF-8")
    );
    assert!(failure_for(&r, "notgz.xml.gz").contains("not gzip"));
    assert!(failure_for(&r, "huge.txt").contains("209 MB"));
    assert!(failure_for(&r, "paper.pdf").contains("unsupported file type"));
    assert!(failure_for(&r, "missing.xml").contains("cannot open"));
    assert!(
        r.failures
            .iter()
            .any(|f| f.path.ends_with("d.jsonl") && f.record.as_deref() == Some("line 2"))
    );
    assert_eq!(
        r.files_skipped.len(),
        1,
        "ignored.json is skipped, not failed"
    );
    // Good content: 3 + 1 + 1 + 1 + 1 documents, plus the complete record of trunc.xml.
    let ids = e.catalog.document_ids().await.unwrap();
    for want in [
        "PMID:1",
        "PMID:2",
        "PMID:3",
        "DOI:10.1000/abc.1",
        "X-1",
        "PMCID:77",
        "PMID:10",
    ] {
        assert!(
            ids.contains(&want.to_string()),
            "{want} missing from {ids:?}"
        );
    }
    assert_eq!(r.documents_ingested as usize, ids.len());
    let check = e.ing.check().await.unwrap();
    assert!(check.is_consistent(), "{check:?}");
    let hits = e
        .index
        .search("clopidogrel", 3, &SearchFilter::default())
        .unwrap();
    assert_eq!(hits[0].doc_id, "PMCID:77");
    assert_eq!(hits[0].section, "Intro");

    // Re-ingest: nothing changes.
    let r2 = run(&e, std::slice::from_ref(&d)).await;
    assert_eq!(r2.documents_ingested, 0);
    assert!(r2.files_unchanged >= 5);
    // A changed file replaces its documents: PMID:3 dropped, PMID:2 changed.
    let changed = pubmed_xml(&[1, 2]).replace("Trial 2 of warfarin", "Trial 2 of apixaban");
    gz(&d.join("a.xml.gz"), changed.as_bytes());
    let r3 = run(&e, &[d.join("a.xml.gz")]).await;
    assert_eq!(
        (
            r3.documents_ingested,
            r3.documents_unchanged,
            r3.documents_removed
        ),
        (1, 1, 1)
    );
    assert!(e.catalog.document("PMID:3").await.unwrap().is_none());
    let hits = e
        .index
        .search("apixaban", 3, &SearchFilter::default())
        .unwrap();
    assert_eq!(hits.len(), 2, "two chunks of PMID:2: {hits:?}");
    assert!(hits.iter().all(|h| h.doc_id == "PMID:2"));
    assert!(
        e.index
            .search("warfarin trial 3", 10, &SearchFilter::default())
            .unwrap()
            .iter()
            .all(|h| h.doc_id != "PMID:3")
    );
    // rm removes everywhere; re-ingesting the file brings it back.
    assert!(e.ing.remove("PMID:1").await.unwrap());
    assert!(!e.ing.remove("PMID:1").await.unwrap());
    assert!(
        e.index
            .search("patients 1", 10, &SearchFilter::default())
            .unwrap()
            .iter()
            .all(|h| h.doc_id != "PMID:1")
    );
    let r4 = run(&e, &[d.join("a.xml.gz")]).await;
    assert_eq!(r4.documents_ingested, 1);
    assert!(e.ing.check().await.unwrap().is_consistent());
}

#[tokio::test]
async fn medline_delete_citation_removes() {
    let e = env(IngestConfig::default()).await;
    let d = e.root.join("in");
    std::fs::write(d.join("base.xml"), pubmed_xml(&[5, 6])).unwrap();
    run(&e, &[d.join("base.xml")]).await;
    std::fs::write(d.join("update.xml"), "<PubmedArticleSet><DeleteCitation><PMID Version=\"1\">5</PMID></DeleteCitation></PubmedArticleSet>").unwrap();
    let r = run(&e, &[d.join("update.xml")]).await;
    assert_eq!(r.documents_removed, 1);
    assert_eq!(e.catalog.document_ids().await.unwrap(), vec!["PMID:6"]);
    assert!(e.ing.check().await.unwrap().is_consistent());
}

#[tokio::test]
async fn recovery_reindexes_what_the_index_lost() {
    let e = env(IngestConfig::default()).await;
    let d = e.root.join("in");
    std::fs::write(d.join("a.xml"), pubmed_xml(&[1, 2])).unwrap();
    run(&e, std::slice::from_ref(&d)).await;
    // Simulate a crash after the catalog write but before the index commit: wipe the index.
    let mut w = e.index.writer().unwrap();
    w.delete_all().unwrap();
    w.commit().unwrap();
    w.finish().unwrap();
    e.catalog.mark_all_unindexed().await.unwrap();
    let before = e.ing.check().await.unwrap();
    assert!(!before.is_consistent());
    let r = e.ing.recover().await.unwrap();
    assert_eq!(r.reindexed, 2);
    assert!(e.ing.check().await.unwrap().is_consistent());
    // Rebuild from scratch also yields the same.
    e.ing.rebuild_index().await.unwrap();
    let c = e.ing.check().await.unwrap();
    assert!(c.is_consistent() && c.index_documents == 2, "{c:?}");
}

#[tokio::test]
async fn a_folder_of_ten_thousand_files() {
    let e = env(IngestConfig::default()).await;
    let d = e.root.join("many");
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..10_000 {
        std::fs::write(
            d.join(format!("n{i:05}.txt")),
            format!("Note {i}\nFinding number {i} was recorded.\n"),
        )
        .unwrap();
    }
    let r = run(&e, std::slice::from_ref(&d)).await;
    assert!(
        r.failures.is_empty(),
        "{:?}",
        &r.failures[..r.failures.len().min(3)]
    );
    assert_eq!(r.documents_ingested, 10_000);
    assert_eq!(e.index.stats().unwrap().chunks, 10_000);
    let r2 = run(&e, &[d]).await;
    assert_eq!((r2.documents_ingested, r2.files_unchanged), (0, 10_000));
}

struct WordAnnotator;
impl clinrag_ingest::ChunkAnnotator for WordAnnotator {
    fn concepts(&self, text: &str) -> Vec<String> {
        let t = text.to_lowercase();
        ["warfarin", "anticoagulation", "bleeding"]
            .iter()
            .filter(|w| t.contains(**w))
            .map(|w| format!("TEST:{w}"))
            .collect()
    }
}

#[tokio::test]
async fn linked_concepts_are_indexed_and_survive_a_rebuild() {
    let e = env(IngestConfig::default()).await;
    let ing = e
        .ing
        .clone()
        .with_annotator(std::sync::Arc::new(WordAnnotator));
    let d = e.root.join("in");
    std::fs::write(d.join("a.xml"), pubmed_xml(&[1, 2])).unwrap();
    ing.ingest(std::slice::from_ref(&d), &NoProgress)
        .await
        .unwrap();
    let hits = e
        .index
        .chunks_mentioning("TEST:bleeding", Some("bleeding"), 10)
        .unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(hits.iter().all(|h| h.section == "RESULTS"));
    assert!(
        e.index
            .chunks_mentioning("TEST:none", None, 10)
            .unwrap()
            .is_empty()
    );
    // The plain ingestor (no linker) rebuilds the index from the catalog, concepts included.
    e.ing.rebuild_index().await.unwrap();
    assert_eq!(
        e.index
            .chunks_mentioning("TEST:anticoagulation", None, 10)
            .unwrap()
            .len(),
        2
    );
}
