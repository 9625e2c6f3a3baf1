-- API bearer tokens for `clinrag serve` (PostgreSQL dialect). Forward-only.
-- Only the SHA-256 of a token is stored; the token itself is shown once, at creation.
CREATE TABLE api_tokens (
    name          TEXT PRIMARY KEY NOT NULL,
    token_sha256  TEXT NOT NULL UNIQUE,
    created_ms    BIGINT NOT NULL,
    revoked_ms    BIGINT
);

-- Per-token audit look-ups (`clinrag token list`: last use, request count).
CREATE INDEX audit_actor ON audit (actor, at_ms);
