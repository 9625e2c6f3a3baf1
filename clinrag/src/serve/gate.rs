//! The gate every request passes: query-string size (413), CORS (only when origins are
//! configured), bearer token (401), per-token rate limit (429), body size (413) and body
//! deadline (408), handler deadline (503), then metrics, a log line and an audit record.
//!
//! Nothing here logs or stores request text: the log line and the audit record carry the
//! method, the route template (`/v1/documents/{*id}`, not the id), the status, the latency and
//! the token name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clinrag_retrieval::Catalog;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::App;
use super::conn::ClientAddr;
use super::error::ApiError;

/// SHA-256 (hex) of a token: what the catalog stores.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// One audited request (no request text).
#[derive(Debug)]
pub struct AuditRecord {
    /// `token:NAME`, `local` (loopback without a token) or `unauthenticated`.
    pub actor: String,
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub endpoint: String,
    /// Status sent.
    pub status: u16,
    /// Time to the response head, milliseconds.
    pub ms: u64,
}

/// Writes audit records to the catalog, one at a time, until every sender is gone.
pub async fn audit_writer(catalog: Catalog, mut rx: mpsc::Receiver<AuditRecord>) {
    while let Some(r) = rx.recv().await {
        let detail = serde_json::json!({
            "method": r.method, "endpoint": r.endpoint, "status": r.status, "ms": r.ms,
        });
        if let Err(e) = catalog.audit(&r.actor, "http", &detail).await {
            tracing::warn!("cannot write an audit record: {e}");
        }
    }
}

/// How long a verified token is trusted without asking the catalog again: a revocation takes
/// effect within this time.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Verified tokens (SHA-256 to name), trusted for [`TOKEN_CACHE_TTL`]; unknown tokens are never
/// cached.
#[derive(Default)]
pub struct TokenCache {
    map: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    /// The name of a token verified less than [`TOKEN_CACHE_TTL`] ago.
    pub fn get(&self, hash: &str, now: Instant) -> Option<String> {
        let m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.get(hash)
            .filter(|(_, t)| now.duration_since(*t) < TOKEN_CACHE_TTL)
            .map(|(n, _)| n.clone())
    }

    /// Remembers a verified token.
    pub fn put(&self, hash: String, name: String, now: Instant) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 10_000 {
            m.retain(|_, (_, t)| now.duration_since(*t) < TOKEN_CACHE_TTL);
        }
        m.insert(hash, (name, now));
    }
}

/// Token-bucket rate limiter keyed by token name (or client address).
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` requests per second on average, bursts of `burst`; `rate <= 0` disables it.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s budget, or says how many seconds until one is available.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), f64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut m = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 10_000 {
            let full = self.burst / self.rate;
            m.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() < full);
        }
        let e = m.entry(key.to_owned()).or_insert((self.burst, now));
        let tokens = (e.0 + now.duration_since(e.1).as_secs_f64() * self.rate).min(self.burst);
        if tokens >= 1.0 {
            *e = (tokens - 1.0, now);
            Ok(())
        } else {
            *e = (tokens, now);
            Err((1.0 - tokens) / self.rate)
        }
    }
}

/// Routes served without a token: health and the static web page (which holds no data; it
/// asks for a token itself when the server requires one).
fn is_public(endpoint: &str) -> bool {
    matches!(
        endpoint,
        "/healthz" | "/" | "/static/app.js" | "/static/app.css"
    )
}

/// The gate (an axum middleware around every route).
pub async fn gate(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let _in_flight = app.metrics.start();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let origin = req.headers().get(header::ORIGIN).cloned();
    let public = is_public(&endpoint);
    let (mut resp, actor) = admit(&app, req, next, public).await;
    if let Some(o) = origin {
        cors_headers(&app.cfg.cors_origins, &o, resp.headers_mut());
    }
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    app.metrics.request(&endpoint, status, elapsed);
    tracing::info!(
        method = %method,
        endpoint = %endpoint,
        status,
        ms = elapsed.as_secs_f64() * 1000.0,
        actor = %actor,
        "request"
    );
    if endpoint != "/healthz" && !public {
        let rec = AuditRecord {
            actor,
            method: method.to_string(),
            endpoint,
            status,
            ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        };
        if let Err(mpsc::error::TrySendError::Full(rec)) = app.audit.try_send(rec) {
            // Never drop an audit record: wait for room off the response path.
            let tx = app.audit.clone();
            tokio::spawn(async move {
                let _ = tx.send(rec).await;
            });
        }
    }
    resp
}

async fn admit(app: &App, req: Request, next: Next, public: bool) -> (Response, String) {
    let mut actor = "local".to_owned();
    // CORS preflight: answered here, without a token, only for configured origins.
    if req.method() == Method::OPTIONS
        && !app.cfg.cors_origins.is_empty()
        && req.headers().contains_key(header::ORIGIN)
    {
        return (StatusCode::NO_CONTENT.into_response(), actor);
    }
    if !public {
        let t = Instant::now();
        match authenticate(app, req.headers()).await {
            Ok(Some(name)) => actor = format!("token:{name}"),
            Ok(None) => {}
            Err(e) => {
                app.metrics.stage("auth", t.elapsed());
                return (e.into_response(), "unauthenticated".to_owned());
            }
        }
        app.metrics.stage("auth", t.elapsed());
        let key = if actor == "local" {
            req.extensions()
                .get::<ClientAddr>()
                .map(|c| format!("ip:{}", c.0.ip()))
                .unwrap_or_else(|| "ip:?".to_owned())
        } else {
            actor.clone()
        };
        if let Err(wait) = app.limiter.check(&key, Instant::now()) {
            let e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "rate limit of {} requests per second (burst {}) exceeded; retry in {wait:.1} s",
                    app.cfg.rate_per_s, app.cfg.burst
                ),
            )
            .retry_after(wait.ceil().max(1.0) as u64);
            return (e.into_response(), actor);
        }
    }
    if req.uri().query().map_or(0, str::len) > app.cfg.max_query {
        let e = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "query_too_large",
            format!(
                "the query string is longer than {} bytes",
                app.cfg.max_query
            ),
        );
        return (e.into_response(), actor);
    }
    let req = match read_body(app, req).await {
        Ok(r) => r,
        Err(e) => return (e.into_response(), actor),
    };
    match tokio::time::timeout(app.cfg.request_timeout, next.run(req)).await {
        Ok(r) => (r, actor),
        Err(_) => {
            let e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request took longer than {} s",
                    app.cfg.request_timeout.as_secs_f64()
                ),
            );
            (e.into_response(), actor)
        }
    }
}

/// The token's name when a valid one is presented; `None` when none is presented and none is
/// required; 401 otherwise.
async fn authenticate(app: &App, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let bearer = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v.to_str().unwrap_or("");
            let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
            if !scheme.eq_ignore_ascii_case("bearer") || rest.trim().is_empty() {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "the Authorization header must be `Bearer TOKEN`",
                ));
            }
            Some(rest.trim().to_owned())
        }
    };
    let Some(token) = bearer else {
        if app.require_token {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "this server requires a bearer token (create one with `clinrag token create NAME`)",
            ));
        }
        return Ok(None);
    };
    let hash = token_hash(&token);
    if let Some(name) = app.tokens.get(&hash, Instant::now()) {
        return Ok(Some(name));
    }
    match app.catalog.token_name(&hash).await {
        Ok(Some(name)) => {
            app.tokens.put(hash, name.clone(), Instant::now());
            Ok(Some(name))
        }
        Ok(None) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the bearer token is unknown or revoked",
        )),
        Err(e) => {
            tracing::error!("token look-up failed: {e}");
            Err(ApiError::unavailable("the token store is unavailable").retry_after(1))
        }
    }
}

/// Reads the whole body within the size limit and the body deadline.
async fn read_body(app: &App, req: Request) -> Result<Request, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {} bytes", app.cfg.max_body),
        )
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > app.cfg.max_body as u64 {
            return Err(too_large());
        }
        if len == 0 {
            return Ok(req);
        }
    } else if !req.headers().contains_key(header::TRANSFER_ENCODING) {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, app.cfg.max_body);
    match tokio::time::timeout(app.cfg.body_timeout, limited.collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} s",
                app.cfg.body_timeout.as_secs_f64()
            ),
        )),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Ok(Err(_)) => Err(ApiError::bad_request(
            "bad_body",
            "the request body could not be read",
        )),
        Ok(Ok(c)) => Ok(Request::from_parts(parts, Body::from(c.to_bytes()))),
    }
}

/// Adds CORS headers for an allowed origin (nothing when CORS is off).
fn cors_headers(allowed: &[String], origin: &HeaderValue, h: &mut HeaderMap) {
    let Ok(o) = origin.to_str() else { return };
    if !allowed.iter().any(|a| a == "*" || a == o) {
        return;
    }
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.insert(header::VARY, HeaderValue::from_static("origin"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let l = RateLimiter::new(2.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check("a", t0).is_ok());
        }
        let wait = l.check("a", t0).unwrap_err();
        assert!((wait - 0.5).abs() < 1e-6, "{wait}");
        // Another key has its own budget.
        assert!(l.check("b", t0).is_ok());
        // Half a second later one request is available again.
        assert!(l.check("a", t0 + Duration::from_millis(500)).is_ok());
        assert!(l.check("a", t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn token_cache_expires() {
        let c = TokenCache::default();
        let t0 = Instant::now();
        c.put("h".into(), "alice".into(), t0);
        assert_eq!(c.get("h", t0).as_deref(), Some("alice"));
        assert_eq!(c.get("other", t0), None);
        assert_eq!(c.get("h", t0 + TOKEN_CACHE_TTL), None);
    }

    #[test]
    fn zero_rate_disables_limits() {
        let l = RateLimiter::new(0.0, 1.0);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(l.check("a", t0).is_ok());
        }
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn cors_only_for_allowed_origins() {
        let mut h = HeaderMap::new();
        cors_headers(&[], &HeaderValue::from_static("http://a"), &mut h);
        assert!(h.is_empty());
        cors_headers(
            &["http://b".into()],
            &HeaderValue::from_static("http://a"),
            &mut h,
        );
        assert!(h.is_empty());
        cors_headers(
            &["http://a".into()],
            &HeaderValue::from_static("http://a"),
            &mut h,
        );
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://a");
    }
}
