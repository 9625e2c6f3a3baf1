//! The catalog: documents, chunks, ingest runs, failures and the audit trail in SQLite (default,
//! WAL mode) or PostgreSQL, through one sqlx `Any` pool and the same SQL for both dialects.
//!
//! Schemas live in `migrations/sqlite` and `migrations/postgres` (forward-only). Integers are
//! 64-bit in both, timestamps are Unix milliseconds, lists are JSON text, so one code path reads
//! and writes both databases and one test suite covers both.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use crate::document::{Chunk, Document, Section};
use crate::error::{Error, Result};
use crate::now_ms;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Rows per multi-row statement when reading by id lists (well under both databases' limits).
const ID_BATCH: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the catalog database. Cheap to clone (a connection pool).
#[derive(Clone, Debug)]
pub struct Catalog {
    pool: AnyPool,
    backend: Backend,
}

/// What the catalog remembers about a source file from its last complete ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    /// Size in bytes.
    pub size: i64,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    /// Documents that came from it.
    pub documents: i64,
}

/// Counters of one ingest run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// Documents written (new or changed).
    pub ingested: u64,
    /// Documents or files found unchanged.
    pub unchanged: u64,
    /// Files or records that failed.
    pub failed: u64,
}

/// A chunk row as stored (offsets only; the text is the document body's span).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredChunk {
    /// Chunk id.
    pub chunk_id: String,
    /// Position in the document.
    pub ord: u32,
    /// Section name.
    pub section: String,
    /// First character in the body.
    pub start: usize,
    /// End character in the body (exclusive).
    pub end: usize,
    /// Concept ids linked in the chunk.
    pub concepts: Vec<String>,
}

/// Catalog totals for `clinrag stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CatalogStats {
    /// Live documents.
    pub documents: i64,
    /// Chunks of live documents.
    pub chunks: i64,
    /// Documents per source format.
    pub by_source: HashMap<String, i64>,
    /// Documents written but not yet in the keyword index (non-zero only after a crash).
    pub pending_index: i64,
    /// Ingest runs recorded.
    pub runs: i64,
    /// Failures recorded over all runs.
    pub failures: i64,
}

impl Catalog {
    /// The default embedded catalog URL for a home folder.
    pub fn sqlite_url(home: &Path) -> String {
        format!("sqlite://{}?mode=rwc", home.join("catalog.db").display())
    }

    /// Connects, creating the database file for SQLite, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl(redact_url(url)));
        };
        let opts = AnyConnectOptions::from_str(url)?;
        let mut pool_opts = AnyPoolOptions::new().max_connections(match backend {
            Backend::Sqlite if url.contains(":memory:") => 1,
            Backend::Sqlite => 4,
            Backend::Postgres => 8,
        });
        if backend == Backend::Sqlite {
            pool_opts = pool_opts.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("PRAGMA busy_timeout = 30000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool_opts.connect_with(opts).await?;
        if backend == Backend::Sqlite && !url.contains(":memory:") {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Self { pool, backend })
    }

    /// Opens an existing SQLite catalog file read-only (`mode=ro`, and `immutable=1` when no
    /// write-ahead log is left: no lock, no `-shm` file), for a home folder on a read-only file
    /// system; nothing is written. No
    /// migration runs: a catalog whose schema is older than this build's is refused with
    /// [`Error::ReadOnlySchema`]. Every write fails ("attempt to write a readonly database").
    pub async fn open_read_only(path: &Path) -> Result<Self> {
        sqlx::any::install_default_drivers();
        // With `immutable=1` SQLite ignores the write-ahead log: use it only when there is no
        // log to read. A log left by a process that did not close the catalog (its `-shm`
        // index is there too) is read with plain `mode=ro`.
        let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
        let has_wal = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
        let url = if has_wal {
            format!("sqlite://{}?mode=ro", path.display())
        } else {
            format!("sqlite://{}?mode=ro&immutable=1", path.display())
        };
        let opts = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        let want = SQLITE_MIGRATIONS
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        let have: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&pool)
                .await
                .unwrap_or(None);
        if have.unwrap_or(0) < want {
            pool.close().await;
            return Err(Error::ReadOnlySchema(path.display().to_string()));
        }
        Ok(Self {
            pool,
            backend: Backend::Sqlite,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts an ingest run and returns its id.
    pub async fn begin_run(&self, paths: &[String]) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO ingest_runs (started_ms, status, paths) VALUES ($1, 'running', $2) RETURNING run_id",
        )
        .bind(now_ms())
        .bind(json(paths))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Closes an ingest run with its status (`ok`, `partial`, `failed`) and counters.
    pub async fn finish_run(&self, run_id: i64, status: &str, counts: RunCounts) -> Result<()> {
        sqlx::query(
            "UPDATE ingest_runs SET finished_ms = $1, status = $2, ingested = $3, unchanged = $4, failed = $5 WHERE run_id = $6",
        )
        .bind(now_ms())
        .bind(status)
        .bind(counts.ingested as i64)
        .bind(counts.unchanged as i64)
        .bind(counts.failed as i64)
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed file or record. `reason` must not contain document text.
    pub async fn record_failure(
        &self,
        run_id: i64,
        path: &str,
        record: Option<&str>,
        reason: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO ingest_failures (run_id, path, record, reason, at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(run_id)
        .bind(path)
        .bind(record)
        .bind(reason)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The state of a source file after its last complete ingest.
    pub async fn file_state(&self, path: &str) -> Result<Option<FileState>> {
        let row = sqlx::query("SELECT size, sha256, documents FROM source_files WHERE path = $1")
            .bind(path)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(FileState {
                size: r.try_get(0)?,
                sha256: r.try_get(1)?,
                documents: r.try_get(2)?,
            }),
            None => None,
        })
    }

    /// Remembers that a file was ingested completely.
    pub async fn set_file_state(&self, path: &str, run_id: i64, state: &FileState) -> Result<()> {
        sqlx::query(
            "INSERT INTO source_files (path, size, sha256, run_id, documents, updated_ms) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
             run_id = excluded.run_id, documents = excluded.documents, updated_ms = excluded.updated_ms",
        )
        .bind(path)
        .bind(state.size)
        .bind(&state.sha256)
        .bind(run_id)
        .bind(state.documents)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Content hashes of the given documents that exist (and are not being deleted).
    pub async fn content_hashes(&self, doc_ids: &[&str]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::with_capacity(doc_ids.len());
        for batch in doc_ids.chunks(ID_BATCH) {
            let sql = format!(
                "SELECT doc_id, content_hash FROM documents WHERE deleted = 0 AND doc_id IN ({})",
                placeholders(1, batch.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in batch {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.insert(row.try_get(0)?, row.try_get(1)?);
            }
        }
        Ok(out)
    }

    /// Writes documents with their chunks in one transaction, replacing any earlier version.
    /// Written documents are marked as not yet in the keyword index until [`Self::mark_indexed`].
    /// `concepts[i][j]` are the concept ids linked in chunk `j` of document `i` (may be empty).
    pub async fn put_documents(
        &self,
        run_id: i64,
        docs: &[(Document, Vec<Chunk>)],
        concepts: &[Vec<Vec<String>>],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        for (i, (d, chunks)) in docs.iter().enumerate() {
            sqlx::query("DELETE FROM chunks WHERE doc_id = $1")
                .bind(&d.doc_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO documents (doc_id, source, source_path, title, authors, journal, year, mesh, doi, body, sections, content_hash, indexed, deleted, run_id, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, 0, $13, $14)
                 ON CONFLICT (doc_id) DO UPDATE SET source = excluded.source, source_path = excluded.source_path,
                 title = excluded.title, authors = excluded.authors, journal = excluded.journal, year = excluded.year,
                 mesh = excluded.mesh, doi = excluded.doi, body = excluded.body, sections = excluded.sections,
                 content_hash = excluded.content_hash, indexed = 0, deleted = 0, run_id = excluded.run_id,
                 updated_ms = excluded.updated_ms",
            )
            .bind(&d.doc_id)
            .bind(&d.source)
            .bind(&d.source_path)
            .bind(&d.title)
            .bind(json(&d.authors))
            .bind(d.journal.as_deref())
            .bind(d.year.map(i64::from))
            .bind(json(&d.mesh))
            .bind(d.doi.as_deref())
            .bind(&d.body)
            .bind(json(&d.sections))
            .bind(&d.content_hash)
            .bind(run_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for (j, c) in chunks.iter().enumerate() {
                let linked = concepts.get(i).and_then(|v| v.get(j));
                sqlx::query(
                    "INSERT INTO chunks (chunk_id, doc_id, ord, section, start_char, end_char, concepts) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&c.chunk_id)
                .bind(&c.doc_id)
                .bind(i64::from(c.ord))
                .bind(&c.section)
                .bind(c.start as i64)
                .bind(c.end as i64)
                .bind(linked.map_or_else(|| "[]".to_owned(), json))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks documents as committed to the keyword index.
    pub async fn mark_indexed(&self, doc_ids: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for batch in doc_ids.chunks(ID_BATCH) {
            let sql = format!(
                "UPDATE documents SET indexed = 1 WHERE doc_id IN ({})",
                placeholders(1, batch.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in batch {
                q = q.bind(id.as_str());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks every live document as not indexed (before rebuilding the keyword index).
    pub async fn mark_all_unindexed(&self) -> Result<u64> {
        let r = sqlx::query("UPDATE documents SET indexed = 0 WHERE deleted = 0")
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Live documents written to the catalog but not yet committed to the keyword index.
    pub async fn pending_index(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT doc_id FROM documents WHERE indexed = 0 AND deleted = 0 ORDER BY doc_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Ids of all live documents.
    pub async fn document_ids(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT doc_id FROM documents WHERE deleted = 0 ORDER BY doc_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// A live document by id.
    pub async fn document(&self, doc_id: &str) -> Result<Option<Document>> {
        let row = sqlx::query(
            "SELECT doc_id, source, source_path, title, authors, journal, year, mesh, doi, body, sections, content_hash
             FROM documents WHERE doc_id = $1 AND deleted = 0",
        )
        .bind(doc_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let what = || format!("document {doc_id}");
        Ok(Some(Document {
            doc_id: r.try_get(0)?,
            source: r.try_get(1)?,
            source_path: r.try_get(2)?,
            title: r.try_get(3)?,
            authors: from_json(&r.try_get::<String, _>(4)?, what)?,
            journal: r.try_get(5)?,
            year: r
                .try_get::<Option<i64>, _>(6)?
                .and_then(|y| i32::try_from(y).ok()),
            mesh: from_json(&r.try_get::<String, _>(7)?, what)?,
            doi: r.try_get(8)?,
            body: r.try_get(9)?,
            sections: from_json::<Vec<Section>>(&r.try_get::<String, _>(10)?, what)?,
            content_hash: r.try_get(11)?,
        }))
    }

    /// The chunks of the given documents as `(doc_id, chunk_id, concepts)`, a few queries for
    /// many documents (`clinrag check` compares them with the vector index and the graph).
    pub async fn chunk_concepts(
        &self,
        doc_ids: &[&str],
    ) -> Result<Vec<(String, String, Vec<String>)>> {
        let mut out = Vec::new();
        for batch in doc_ids.chunks(ID_BATCH) {
            let sql = format!(
                "SELECT doc_id, chunk_id, concepts FROM chunks WHERE doc_id IN ({})",
                placeholders(1, batch.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in batch {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                let doc_id: String = r.try_get(0)?;
                let concepts = from_json(&r.try_get::<String, _>(2)?, || {
                    format!("chunks of {doc_id}")
                })?;
                out.push((doc_id, r.try_get(1)?, concepts));
            }
        }
        Ok(out)
    }

    /// The chunks of a document, in order.
    pub async fn chunks(&self, doc_id: &str) -> Result<Vec<StoredChunk>> {
        let rows = sqlx::query(
            "SELECT chunk_id, ord, section, start_char, end_char, concepts FROM chunks WHERE doc_id = $1 ORDER BY ord",
        )
        .bind(doc_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredChunk {
                    chunk_id: r.try_get(0)?,
                    ord: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(u32::MAX),
                    section: r.try_get(2)?,
                    start: usize::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
                    end: usize::try_from(r.try_get::<i64, _>(4)?).unwrap_or(0),
                    concepts: from_json(&r.try_get::<String, _>(5)?, || {
                        format!("chunks of {doc_id}")
                    })?,
                })
            })
            .collect()
    }

    /// Live documents whose latest version came from `path`.
    pub async fn doc_ids_from_path(&self, path: &str) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT doc_id FROM documents WHERE source_path = $1 AND deleted = 0")
                .bind(path)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Marks a document for deletion (first step of `rm`); returns whether it existed.
    pub async fn tombstone(&self, doc_id: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE documents SET deleted = 1 WHERE doc_id = $1")
            .bind(doc_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Documents marked for deletion whose removal has not finished.
    pub async fn tombstoned(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT doc_id FROM documents WHERE deleted = 1 ORDER BY doc_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Deletes tombstoned documents and their chunks for good (after the indexes dropped them).
    pub async fn purge(&self, doc_ids: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for id in doc_ids {
            sqlx::query("DELETE FROM chunks WHERE doc_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM documents WHERE doc_id = $1 AND deleted = 1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the file states of files that held the given documents, so a later ingest of
    /// those files brings removed documents back.
    pub async fn forget_files_of(&self, doc_ids: &[String]) -> Result<()> {
        for batch in doc_ids.chunks(ID_BATCH) {
            let sql = format!(
                "DELETE FROM source_files WHERE path IN (SELECT source_path FROM documents WHERE doc_id IN ({}))",
                placeholders(1, batch.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in batch {
                q = q.bind(id.as_str());
            }
            q.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Appends an audit record. `detail` must carry no patient text.
    pub async fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value) -> Result<()> {
        sqlx::query("INSERT INTO audit (at_ms, actor, action, detail) VALUES ($1, $2, $3, $4)")
            .bind(now_ms())
            .bind(actor)
            .bind(action)
            .bind(detail.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Totals for `clinrag stats`.
    pub async fn stats(&self) -> Result<CatalogStats> {
        let one = |sql: &'static str| async move {
            let r = sqlx::query(sql).fetch_one(&self.pool).await?;
            Ok::<i64, Error>(r.try_get(0)?)
        };
        let mut s = CatalogStats {
            documents: one("SELECT COUNT(*) FROM documents WHERE deleted = 0").await?,
            chunks: one(
                "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE d.deleted = 0",
            )
            .await?,
            pending_index: one(
                "SELECT COUNT(*) FROM documents WHERE indexed = 0 AND deleted = 0",
            )
            .await?,
            runs: one("SELECT COUNT(*) FROM ingest_runs").await?,
            failures: one("SELECT COUNT(*) FROM ingest_failures").await?,
            ..Default::default()
        };
        for r in sqlx::query(
            "SELECT source, COUNT(*) FROM documents WHERE deleted = 0 GROUP BY source ORDER BY source",
        )
        .fetch_all(&self.pool)
        .await?
        {
            s.by_source.insert(r.try_get(0)?, r.try_get(1)?);
        }
        Ok(s)
    }

    /// Removes every row (tests and `restore`); keeps the schema.
    pub async fn clear(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for t in [
            "chunks",
            "documents",
            "ingest_failures",
            "ingest_runs",
            "source_files",
            "audit",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {t}")))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Catalog {
    /// Writes a consistent copy of an SQLite catalog to `dest` (a new file) with `VACUUM INTO`,
    /// which reads one snapshot while writers go on. Returns `false` for PostgreSQL (use
    /// `pg_dump`).
    pub async fn vacuum_into(&self, dest: &Path) -> Result<bool> {
        if self.backend != Backend::Sqlite {
            return Ok(false);
        }
        sqlx::query("VACUUM INTO $1")
            .bind(dest.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await?;
        Ok(true)
    }
}

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: impl Fn() -> String) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Corrupt {
        what: what(),
        detail: e.to_string(),
    })
}

/// The URL without a password, for error messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// An API bearer token of `clinrag serve` as `clinrag token list` shows it (never the token:
/// only its SHA-256 is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Token name (the audit trail's actor is `token:NAME`).
    pub name: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_ms: Option<i64>,
    /// Last audited request made with it, if any.
    pub last_used_ms: Option<i64>,
    /// Audited requests made with it.
    pub requests: i64,
}

/// API tokens (`clinrag token`, `clinrag serve`).
impl Catalog {
    /// Stores a new token under `name` by its SHA-256 (hex). Returns `false` when a token of that
    /// name exists and is not revoked; a revoked name is reused with the new hash.
    pub async fn create_token(&self, name: &str, sha256_hex: &str) -> Result<bool> {
        let now = now_ms();
        let reused = sqlx::query(
            "UPDATE api_tokens SET token_sha256 = $2, created_ms = $3, revoked_ms = NULL \
             WHERE name = $1 AND revoked_ms IS NOT NULL",
        )
        .bind(name)
        .bind(sha256_hex)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if reused.rows_affected() == 1 {
            return Ok(true);
        }
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (name, token_sha256, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(sha256_hex)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// The name of the live (not revoked) token with this SHA-256 (hex), if any.
    pub async fn token_name(&self, sha256_hex: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT name FROM api_tokens WHERE token_sha256 = $1 AND revoked_ms IS NULL",
        )
        .bind(sha256_hex)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// Revokes the token `name`; `false` when there is no live token of that name.
    pub async fn revoke_token(&self, name: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_ms = $2 WHERE name = $1 AND revoked_ms IS NULL",
        )
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Every token (live and revoked) with its use from the audit trail, by name.
    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT t.name, t.created_ms, t.revoked_ms, \
               (SELECT MAX(a.at_ms) FROM audit a WHERE a.actor = 'token:' || t.name), \
               (SELECT COUNT(*) FROM audit a WHERE a.actor = 'token:' || t.name) \
             FROM api_tokens t ORDER BY t.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(ApiToken {
                name: r.try_get(0)?,
                created_ms: r.try_get(1)?,
                revoked_ms: r.try_get::<Option<i64>, _>(2)?,
                last_used_ms: r.try_get::<Option<i64>, _>(3)?,
                requests: r.try_get(4)?,
            });
        }
        Ok(out)
    }
}
