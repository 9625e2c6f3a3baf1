//! The catalog test suite, run against every backend: SQLite always, PostgreSQL when
//! `CLINRAG_TEST_POSTGRES` is set (a URL, or `1` for postgres://postgres@127.0.0.1:5432/test);
//! each PostgreSQL test works in a fresh database it drops afterwards. Plus the keyword index.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clinrag_retrieval::{
    Catalog, Chunk, Document, Error, FileState, KeywordIndex, RunCounts, SearchFilter, Section,
};
use sqlx::Connection;

struct Backend {
    url: String,
    _dir: Option<tempfile::TempDir>,
    drop_db: Option<(String, String)>,
}

impl Backend {
    async fn cleanup(self) {
        if let Some((admin, db)) = self.drop_db {
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
            )))
            .execute(&mut c)
            .await
            .unwrap();
        }
    }
}

async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let mut v = vec![Backend {
        url: Catalog::sqlite_url(dir.path()),
        _dir: Some(dir),
        drop_db: None,
    }];
    if let Ok(pg) = std::env::var("CLINRAG_TEST_POSTGRES") {
        let admin = if pg == "1" || pg.is_empty() {
            "postgres://postgres@127.0.0.1:5432/test".to_owned()
        } else {
            pg
        };
        let db = format!(
            "clinrag_t_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&mut c)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
        v.push(Backend {
            url: format!("{base}/{db}"),
            _dir: None,
            drop_db: Some((admin, db)),
        });
    } else {
        eprintln!("note: CLINRAG_TEST_POSTGRES not set; PostgreSQL backend not tested");
    }
    v
}

fn doc(id: &str, body_text: &str) -> (Document, Vec<Chunk>) {
    let title = "Aspirin after myocardial infarction";
    let body = format!("{title}\n\n{body_text}");
    let t = title.chars().count();
    let n = body.chars().count();
    let mut d = Document {
        doc_id: id.into(),
        source: "pubmed".into(),
        source_path: "/data/a.xml".into(),
        title: title.into(),
        authors: vec!["Smith Anna".into()],
        journal: Some("Lancet".into()),
        year: Some(2019),
        mesh: vec!["Aspirin".into(), "Myocardial Infarction".into()],
        doi: Some("10.1/x".into()),
        body,
        sections: vec![
            Section {
                name: "title".into(),
                start: 0,
                end: t,
            },
            Section {
                name: "abstract".into(),
                start: t + 2,
                end: n,
            },
        ],
        content_hash: String::new(),
    };
    d.content_hash = d.compute_hash();
    let chunks = vec![Chunk {
        chunk_id: Chunk::make_id(id, 0),
        doc_id: id.into(),
        ord: 0,
        section: "abstract".into(),
        start: t + 2,
        end: n,
    }];
    (d, chunks)
}

#[tokio::test]
async fn catalog_round_trip_on_every_backend() {
    for b in backends().await {
        let c = Catalog::open(&b.url).await.unwrap();
        // Opening twice applies no migration twice.
        let c2 = Catalog::open(&b.url).await.unwrap();
        c2.close().await;
        let run = c.begin_run(&["/data".into()]).await.unwrap();
        let (d1, ch1) = doc("PMID:1", "Aspirin reduced mortality — β-blockers too.");
        let (d2, ch2) = doc("PMID:2", "Second.");
        c.put_documents(
            run,
            &[(d1.clone(), ch1.clone()), (d2.clone(), ch2)],
            &[vec![vec!["HP:0001".into()]]],
        )
        .await
        .unwrap();
        let back = c.document("PMID:1").await.unwrap().unwrap();
        assert_eq!(back, d1, "{}", c.backend_name());
        let chunks = c.chunks("PMID:1").await.unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].concepts, vec!["HP:0001"]);
        assert_eq!(
            back.span(chunks[0].start, chunks[0].end).unwrap(),
            "Aspirin reduced mortality — β-blockers too."
        );
        let hashes = c
            .content_hashes(&["PMID:1", "PMID:2", "PMID:3"])
            .await
            .unwrap();
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes["PMID:1"], d1.content_hash);
        assert_eq!(c.pending_index().await.unwrap(), vec!["PMID:1", "PMID:2"]);
        c.mark_indexed(&["PMID:1".into()]).await.unwrap();
        assert_eq!(c.pending_index().await.unwrap(), vec!["PMID:2"]);
        // Replacing a document resets its chunks and its indexed flag.
        let (mut d1b, mut ch1b) = doc("PMID:1", "Changed text. Two sentences.");
        ch1b.push(Chunk {
            chunk_id: "PMID:1#1".into(),
            ord: 1,
            ..ch1b[0].clone()
        });
        d1b.year = None;
        d1b.content_hash = d1b.compute_hash();
        c.put_documents(run, &[(d1b.clone(), ch1b)], &[])
            .await
            .unwrap();
        assert_eq!(c.chunks("PMID:1").await.unwrap().len(), 2);
        assert_eq!(c.document("PMID:1").await.unwrap().unwrap().year, None);
        assert!(
            c.pending_index()
                .await
                .unwrap()
                .contains(&"PMID:1".to_string())
        );
        assert_eq!(c.doc_ids_from_path("/data/a.xml").await.unwrap().len(), 2);
        // File states.
        assert_eq!(c.file_state("/data/a.xml").await.unwrap(), None);
        let fs = FileState {
            size: 10,
            sha256: "ab".into(),
            documents: 2,
        };
        c.set_file_state("/data/a.xml", run, &fs).await.unwrap();
        c.set_file_state("/data/a.xml", run, &fs).await.unwrap();
        assert_eq!(c.file_state("/data/a.xml").await.unwrap(), Some(fs));
        // Removal: tombstone hides, purge deletes, forget_files_of clears the file state.
        c.forget_files_of(&["PMID:2".into()]).await.unwrap();
        assert_eq!(c.file_state("/data/a.xml").await.unwrap(), None);
        assert!(c.tombstone("PMID:2").await.unwrap());
        assert!(!c.tombstone("PMID:404").await.unwrap());
        assert!(c.document("PMID:2").await.unwrap().is_none());
        assert_eq!(c.tombstoned().await.unwrap(), vec!["PMID:2"]);
        c.purge(&["PMID:2".into()]).await.unwrap();
        assert!(c.tombstoned().await.unwrap().is_empty());
        assert!(c.chunks("PMID:2").await.unwrap().is_empty());
        // Runs, failures, audit, stats.
        c.record_failure(run, "/data/bad.xml", None, "truncated XML")
            .await
            .unwrap();
        c.finish_run(
            run,
            "partial",
            RunCounts {
                ingested: 2,
                unchanged: 0,
                failed: 1,
            },
        )
        .await
        .unwrap();
        c.audit("test", "rm", &serde_json::json!({"doc_id": "PMID:2"}))
            .await
            .unwrap();
        let s = c.stats().await.unwrap();
        assert_eq!((s.documents, s.chunks, s.runs, s.failures), (1, 2, 1, 1));
        assert_eq!(s.by_source.get("pubmed"), Some(&1));
        assert_eq!(c.document_ids().await.unwrap(), vec!["PMID:1"]);
        c.close().await;
        b.cleanup().await;
    }
}

#[tokio::test]
async fn bad_urls_are_refused() {
    let e = Catalog::open("mysql://user:secret@host/db")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("unsupported") && !msg.contains("secret"),
        "{msg}"
    );
}

#[test]
fn keyword_index_search_delete_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let idx = KeywordIndex::open_or_create(dir.path()).unwrap();
    let mut w = idx.writer().unwrap();
    let (d1, c1) = doc("PMID:1", "Aspirin reduced mortality after infarction.");
    let (mut d2, c2) = doc("PMID:2", "Statins lower cholesterol in diabetic patients.");
    d2.year = Some(2005);
    d2.source = "pmc".into();
    w.replace_document(&d1, &c1, &[vec!["MESH:D001241".into()]])
        .unwrap();
    w.replace_document(&d2, &c2, &[]).unwrap();
    w.commit().unwrap();
    let hits = idx
        .search("aspirin mortality", 5, &SearchFilter::default())
        .unwrap();
    assert_eq!(hits[0].doc_id, "PMID:1");
    assert_eq!(hits[0].rank, 1);
    assert_eq!(d1.span(hits[0].start, hits[0].end).unwrap(), hits[0].text);
    // Stemming: "lowering cholesterols" matches "lower cholesterol".
    let hits = idx
        .search("lowering cholesterols", 5, &SearchFilter::default())
        .unwrap();
    assert_eq!(hits[0].doc_id, "PMID:2");
    // Query syntax characters are plain separators.
    assert!(
        idx.search("statins: (diabetic) AND \"", 5, &SearchFilter::default())
            .is_ok()
    );
    // Filters.
    let f = SearchFilter {
        year_max: Some(2010),
        ..Default::default()
    };
    let hits = idx.search("aspirin statins", 5, &f).unwrap();
    assert!(hits.iter().all(|h| h.doc_id == "PMID:2"), "{hits:?}");
    let f = SearchFilter {
        sources: vec!["pubmed".into()],
        ..Default::default()
    };
    let hits = idx.search("aspirin statins", 5, &f).unwrap();
    assert!(hits.iter().all(|h| h.doc_id == "PMID:1"), "{hits:?}");
    // Replace is idempotent; delete removes.
    w.replace_document(&d1, &c1, &[]).unwrap();
    w.commit().unwrap();
    assert_eq!(idx.chunk_count("PMID:1").unwrap(), 1);
    w.delete_document("PMID:1");
    w.commit().unwrap();
    assert_eq!(
        idx.doc_ids().unwrap().into_iter().collect::<Vec<_>>(),
        vec!["PMID:2"]
    );
    w.finish().unwrap();
    // Bad queries.
    assert!(matches!(
        idx.search("  ", 5, &SearchFilter::default()),
        Err(Error::InvalidQuery(_))
    ));
    let long = "a ".repeat(60_000);
    assert!(matches!(
        idx.search(&long, 5, &SearchFilter::default()),
        Err(Error::InvalidQuery(_))
    ));
}

#[test]
fn index_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(KeywordIndex::open_or_create(dir.path()).unwrap());
    std::fs::write(dir.path().join("clinrag-schema-version"), "old").unwrap();
    let e = KeywordIndex::open_or_create(dir.path()).unwrap_err();
    assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
}

#[tokio::test]
async fn api_tokens_on_every_backend() {
    for b in backends().await {
        let c = Catalog::open(&b.url).await.unwrap();
        let h1 = "a".repeat(64);
        let h2 = "b".repeat(64);
        assert!(c.create_token("ward-7", &h1).await.unwrap());
        // A live token's name cannot be taken twice.
        assert!(!c.create_token("ward-7", &h2).await.unwrap());
        assert_eq!(c.token_name(&h1).await.unwrap().as_deref(), Some("ward-7"));
        assert_eq!(c.token_name(&h2).await.unwrap(), None);
        c.audit(
            "token:ward-7",
            "POST /v1/search",
            &serde_json::json!({"status": 200}),
        )
        .await
        .unwrap();
        let listed = c.list_tokens().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "ward-7");
        assert_eq!(listed[0].requests, 1);
        assert!(listed[0].last_used_ms.is_some() && listed[0].revoked_ms.is_none());
        assert!(c.revoke_token("ward-7").await.unwrap());
        assert!(!c.revoke_token("ward-7").await.unwrap());
        assert_eq!(c.token_name(&h1).await.unwrap(), None);
        // A revoked name can be issued again, with a new secret.
        assert!(c.create_token("ward-7", &h2).await.unwrap());
        assert_eq!(c.token_name(&h2).await.unwrap().as_deref(), Some("ward-7"));
        assert_eq!(c.token_name(&h1).await.unwrap(), None);
        c.close().await;
        b.cleanup().await;
    }
}
