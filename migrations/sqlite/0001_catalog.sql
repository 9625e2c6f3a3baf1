-- clinrag catalog, SQLite dialect. Forward-only: never edit a released migration, add a new one.
CREATE TABLE documents (
    doc_id        TEXT PRIMARY KEY NOT NULL,
    source        TEXT NOT NULL,
    source_path   TEXT NOT NULL,
    title         TEXT NOT NULL,
    authors       TEXT NOT NULL,
    journal       TEXT,
    year          INTEGER,
    mesh          TEXT NOT NULL,
    doi           TEXT,
    body          TEXT NOT NULL,
    sections      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    indexed       INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    run_id        INTEGER,
    updated_ms    INTEGER NOT NULL
);
CREATE INDEX documents_pending ON documents (indexed) WHERE indexed = 0;
CREATE INDEX documents_deleted ON documents (deleted) WHERE deleted = 1;
CREATE INDEX documents_path ON documents (source_path);

CREATE TABLE chunks (
    chunk_id    TEXT PRIMARY KEY NOT NULL,
    doc_id      TEXT NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
    ord         INTEGER NOT NULL,
    section     TEXT NOT NULL,
    start_char  INTEGER NOT NULL,
    end_char    INTEGER NOT NULL,
    concepts    TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX chunks_doc ON chunks (doc_id, ord);

CREATE TABLE ingest_runs (
    run_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    started_ms   INTEGER NOT NULL,
    finished_ms  INTEGER,
    status       TEXT NOT NULL,
    paths        TEXT NOT NULL,
    ingested     INTEGER NOT NULL DEFAULT 0,
    unchanged    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE ingest_failures (
    failure_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES ingest_runs (run_id),
    path        TEXT NOT NULL,
    record      TEXT,
    reason      TEXT NOT NULL,
    at_ms       INTEGER NOT NULL
);

CREATE TABLE source_files (
    path         TEXT PRIMARY KEY NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    run_id       INTEGER NOT NULL,
    documents    INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
);

CREATE TABLE audit (
    audit_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms     INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL
);
