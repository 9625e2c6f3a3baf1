-- API bearer tokens for `clinrag serve` (SQLite dialect). Forward-only.
-- Only the SHA-256 of a token is stored; the token itself is shown once, at creation.
CREATE TABLE api_tokens (
    name          TEXT PRIMARY KEY NOT NULL,
    token_sha256  TEXT NOT NULL UNIQUE,
    created_ms    INTEGER NOT NULL,
    revoked_ms    INTEGER
);

-- Per-token audit look-ups (`clinrag token list`: last use, request count).
CREATE INDEX audit_actor ON audit (actor, at_ms);
