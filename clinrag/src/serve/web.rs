//! The web page: static HTML, JavaScript and CSS compiled into the binary (no build step).

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../web/index.html");
const SCRIPT: &str = include_str!("../../web/app.js");
const STYLE: &str = include_str!("../../web/app.css");

/// Headers every page asset gets: no sniffing, no framing, a strict content security policy
/// (scripts and styles only from this server; `connect-src 'self'` for the API).
fn secure(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`.
pub async fn index() -> Response {
    secure("text/html; charset=utf-8", INDEX)
}

/// `GET /static/app.js`.
pub async fn script() -> Response {
    secure("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /static/app.css`.
pub async fn style() -> Response {
    secure("text/css; charset=utf-8", STYLE)
}
