-- clinrag catalog, PostgreSQL dialect. Forward-only: never edit a released migration, add a new one.
CREATE TABLE documents (
    doc_id        TEXT PRIMARY KEY NOT NULL,
    source        TEXT NOT NULL,
    source_path   TEXT NOT NULL,
    title         TEXT NOT NULL,
    authors       TEXT NOT NULL,
    journal       TEXT,
    year          BIGINT,
    mesh          TEXT NOT NULL,
    doi           TEXT,
    body          TEXT NOT NULL,
    sections      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    indexed       BIGINT NOT NULL DEFAULT 0,
    deleted       BIGINT NOT NULL DEFAULT 0,
    run_id        BIGINT,
    updated_ms    BIGINT NOT NULL
);
CREATE INDEX documents_pending ON documents (indexed) WHERE indexed = 0;
CREATE INDEX documents_deleted ON documents (deleted) WHERE deleted = 1;
CREATE INDEX documents_path ON documents (source_path);

CREATE TABLE chunks (
    chunk_id    TEXT PRIMARY KEY NOT NULL,
    doc_id      TEXT NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
    ord         BIGINT NOT NULL,
    section     TEXT NOT NULL,
    start_char  BIGINT NOT NULL,
    end_char    BIGINT NOT NULL,
    concepts    TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX chunks_doc ON chunks (doc_id, ord);

CREATE TABLE ingest_runs (
    run_id       BIGSERIAL PRIMARY KEY,
    started_ms   BIGINT NOT NULL,
    finished_ms  BIGINT,
    status       TEXT NOT NULL,
    paths        TEXT NOT NULL,
    ingested     BIGINT NOT NULL DEFAULT 0,
    unchanged    BIGINT NOT NULL DEFAULT 0,
    failed       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE ingest_failures (
    failure_id  BIGSERIAL PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES ingest_runs (run_id),
    path        TEXT NOT NULL,
    record      TEXT,
    reason      TEXT NOT NULL,
    at_ms       BIGINT NOT NULL
);

CREATE TABLE source_files (
    path         TEXT PRIMARY KEY NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    run_id       BIGINT NOT NULL,
    documents    BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL
);

CREATE TABLE audit (
    audit_id  BIGSERIAL PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL
);
