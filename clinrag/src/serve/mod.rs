//! `clinrag serve`: the HTTP API (search, coding, rare-disease ranking, documents, agents), the
//! web page, and the security around them (bearer tokens, rate limits, size limits, timeouts,
//! audit). See `docs/arch/serve.md`.
//!
//! Layers, outside in: [`conn`] (TCP accept, request-head deadline), [`gate`] (one middleware:
//! query size, CORS, token, rate limit, body size and deadline, handler deadline, metrics,
//! audit), then the handlers in [`api`] and [`web`].

mod agent;
mod api;
mod conn;
mod error;
mod gate;
mod metrics;
mod openapi;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use clinrag_agents::{Asker, AskerConfig};
use clinrag_coding::{AtcCoder, IcdCoder};
use clinrag_retrieval::{Catalog, HybridSearcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OnceCell, Semaphore, mpsc};

use crate::Global;
use error::{ApiError, ApiResult};
pub use gate::token_hash;

/// Most codes one coding request may ask for.
pub const MAX_CODES: usize = 50;

/// Server settings (from `clinrag serve`'s flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// Listening address.
    pub addr: SocketAddr,
    /// Require a bearer token on every request but health and the static page (always on when
    /// the address is not a loopback address).
    pub require_token: bool,
    /// Origins allowed by CORS; empty: CORS off (no CORS headers).
    pub cors_origins: Vec<String>,
    /// Requests per second per token (or client address); 0 disables rate limiting.
    pub rate_per_s: f64,
    /// Burst size of the rate limit.
    pub burst: f64,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Longest query string, bytes.
    pub max_query: usize,
    /// Deadline for the request head.
    pub header_timeout: Duration,
    /// Deadline for the request body.
    pub body_timeout: Duration,
    /// Deadline for the handler to produce the response head.
    pub request_timeout: Duration,
    /// Connections served at once (more wait in the kernel's accept queue).
    pub max_connections: usize,
    /// Load the coders, the HPO data and the agent at start rather than on first use.
    pub preload: bool,
    /// The chat model for the agents (`None`: extractive answers without a model).
    pub model: Option<crate::cmd::chat::ModelArgs>,
    /// Agent runs at once; more queue.
    pub agent_concurrency: usize,
}

/// Shared state of the server.
pub struct App {
    /// Home folder and catalog URL.
    pub g: Global,
    /// Settings.
    pub cfg: Config,
    /// Tokens must be presented.
    pub require_token: bool,
    /// The catalog (documents, tokens, audit).
    pub catalog: Catalog,
    /// Keyword (and dense, when installed) search.
    pub searcher: Arc<HybridSearcher>,
    icd: OnceCell<Arc<IcdCoder>>,
    atc: OnceCell<Arc<AtcCoder>>,
    rare: OnceCell<Arc<api::RareData>>,
    asker: OnceCell<Arc<Asker>>,
    /// Agent run slots.
    pub agent_slots: Arc<Semaphore>,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// Per-token request budget.
    pub limiter: gate::RateLimiter,
    /// Recently verified tokens.
    pub tokens: gate::TokenCache,
    /// Audit records, written by one background task.
    pub audit: mpsc::Sender<gate::AuditRecord>,
    /// When the server started.
    pub started: Instant,
}

impl App {
    /// The ICD-10-CM coder, loaded on first use.
    pub async fn icd(&self) -> ApiResult<Arc<IcdCoder>> {
        self.icd
            .get_or_try_init(|| async {
                let g = self.g.clone();
                let t = Instant::now();
                // The searcher's embedder: one copy of the model per server.
                let shared = self.searcher.embedder();
                let c = tokio::task::spawn_blocking(move || {
                    crate::cmd::code::load_icd_sharing(&g, shared)
                })
                .await
                .map_err(ApiError::internal)?
                .map_err(|e| {
                    ApiError::unavailable(format!(
                        "the ICD-10-CM tabular cannot be loaded from the home folder: {e:#}"
                    ))
                })?;
                self.metrics.stage("load_icd10cm", t.elapsed());
                let mut c = c;
                c.options.k = MAX_CODES;
                Ok(Arc::new(c))
            })
            .await
            .cloned()
    }

    /// The ATC coder, loaded on first use.
    pub async fn atc(&self) -> ApiResult<Arc<AtcCoder>> {
        self.atc
            .get_or_try_init(|| async {
                let home = self.g.home.clone();
                let t = Instant::now();
                let c = tokio::task::spawn_blocking(move || AtcCoder::load(&home))
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(|e| {
                        ApiError::unavailable(format!(
                            "the ATC classification cannot be loaded from the home folder: {e} (run `clinrag setup`)"
                        ))
                    })?;
                self.metrics.stage("load_atc", t.elapsed());
                let mut c = c;
                c.options.k = MAX_CODES;
                Ok(Arc::new(c))
            })
            .await
            .cloned()
    }

    /// The HPO ontology, disease annotations and ranking index, loaded on first use.
    pub async fn rare(&self) -> ApiResult<Arc<api::RareData>> {
        self.rare
            .get_or_try_init(|| async {
                let g = self.g.clone();
                let t = Instant::now();
                let d = tokio::task::spawn_blocking(move || api::RareData::load(&g))
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(|e| {
                        ApiError::unavailable(format!(
                            "the HPO data cannot be loaded from the home folder: {e:#}"
                        ))
                    })?;
                self.metrics.stage("load_hpo", t.elapsed());
                Ok(Arc::new(d))
            })
            .await
            .cloned()
    }

    /// The question-answering agent (model, linker), built on first use.
    pub async fn asker(&self) -> ApiResult<Arc<Asker>> {
        self.asker
            .get_or_try_init(|| async {
                let t = Instant::now();
                let model = match &self.cfg.model {
                    None => None,
                    Some(m) if m.server.is_none() && m.model.is_none() && !m.model_path(&self.g).exists() => {
                        tracing::warn!(
                            "the default model {} is not installed: answers are extractive without a model",
                            m.model_path(&self.g).display()
                        );
                        None
                    }
                    Some(m) => Some(m.open(&self.g).await.map_err(|e| {
                        ApiError::unavailable(format!("the chat model cannot be loaded: {e:#}"))
                    })?),
                };
                let g = self.g.clone();
                let linker = match tokio::task::spawn_blocking(move || {
                    crate::cmd::kg::linker_if_available(&g)
                })
                .await
                {
                    Ok(Ok(l)) => l.map(Arc::new),
                    Ok(Err(e)) => {
                        tracing::warn!("no concept linking for answers: {e:#}");
                        None
                    }
                    Err(e) => return Err(ApiError::internal(e)),
                };
                let asker = Asker::new(self.searcher.clone(), AskerConfig::default())
                    .with_model(model)
                    .with_linker(linker)
                    .with_catalog(Some(self.catalog.clone()));
                self.metrics.stage("load_agent", t.elapsed());
                Ok(Arc::new(asker))
            })
            .await
            .cloned()
    }

    /// Whether each lazily loaded data set is ready (for `/healthz`).
    pub fn loaded(&self) -> serde_json::Value {
        serde_json::json!({
            "icd10cm": self.icd.initialized(),
            "atc": self.atc.initialized(),
            "hpo": self.rare.initialized(),
            "agent": self.asker.initialized(),
            "dense_search": self.searcher.has_dense(),
        })
    }
}

/// The routes.
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/static/app.js", get(web::script))
        .route("/static/app.css", get(web::style))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(openapi::handler))
        .route("/v1/search", post(api::search))
        .route("/v1/code/icd10cm", post(api::code_icd10cm))
        .route("/v1/code/atc", post(api::code_atc))
        .route("/v1/rare", post(api::rare))
        .route("/v1/hpo/suggest", get(api::hpo_suggest))
        .route("/v1/documents/{*id}", get(api::document))
        .route("/v1/ask", post(agent::ask))
        .route("/v1/summarize", post(agent::summarize))
        .route("/v1/chat/completions", post(agent::chat_completions))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            gate::gate,
        ))
        .with_state(app)
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(g: &Global, cfg: Config) -> anyhow::Result<()> {
    let require_token = cfg.require_token || !cfg.addr.ip().is_loopback();
    let catalog = crate::store::catalog(g).await?;
    let searcher = Arc::new(crate::store::searcher(g)?);
    let (tx, rx) = mpsc::channel(8192);
    let writer = tokio::spawn(gate::audit_writer(catalog.clone(), rx));
    let app = Arc::new(App {
        g: g.clone(),
        require_token,
        catalog,
        searcher,
        icd: OnceCell::new(),
        atc: OnceCell::new(),
        rare: OnceCell::new(),
        asker: OnceCell::new(),
        agent_slots: Arc::new(Semaphore::new(cfg.agent_concurrency.max(1))),
        metrics: metrics::Metrics::default(),
        limiter: gate::RateLimiter::new(cfg.rate_per_s, cfg.burst),
        tokens: gate::TokenCache::default(),
        audit: tx,
        started: Instant::now(),
        cfg: cfg.clone(),
    });
    if cfg.preload {
        let a = app.clone();
        tokio::spawn(async move {
            for (name, r) in [
                ("ICD-10-CM", a.icd().await.err()),
                ("ATC", a.atc().await.err()),
                ("HPO", a.rare().await.err()),
                ("agent", a.asker().await.err()),
            ] {
                if let Some(e) = r {
                    tracing::warn!("{name} not available: {}", e.message);
                }
            }
        });
    }
    let listener = TcpListener::bind(cfg.addr)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.addr))?;
    let local = listener.local_addr()?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({ "listening": local.to_string(), "require_token": require_token })
        );
    } else {
        println!(
            "clinrag serve: listening on http://{local}/ (tokens {})",
            if require_token {
                "required"
            } else {
                "optional on loopback"
            }
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if !require_token {
        tracing::info!("no token required: listening on a loopback address only");
    }

    let routes = router(app.clone());
    let permits = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.context("connection limit closed")?,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let routes = routes.clone();
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(app, stream, peer, routes).await;
            drop(permit);
        });
    }
    tracing::info!("shutting down");
    drop(routes);
    drop(app);
    // In-flight connections hold the audit sender; give them a moment to finish.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve_connection(app: Arc<App>, mut stream: TcpStream, peer: SocketAddr, routes: Router) {
    let _ = stream.set_nodelay(true);
    let started = Instant::now();
    let head = match conn::read_head(&mut stream, app.cfg.header_timeout).await {
        Ok(h) => h,
        Err(conn::HeadError::Timeout) => {
            app.metrics.request("(connection)", 408, started.elapsed());
            conn::reject(
                stream,
                "408 Request Timeout",
                "the request head did not arrive in time",
            )
            .await;
            return;
        }
        Err(conn::HeadError::TooLarge) => {
            app.metrics.request("(connection)", 431, started.elapsed());
            conn::reject(
                stream,
                "431 Request Header Fields Too Large",
                "the request head is larger than 64 KiB",
            )
            .await;
            return;
        }
        Err(_) => return,
    };
    let io = hyper_util::rt::TokioIo::new(conn::Prefixed::new(head, stream));
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(conn::ClientAddr(peer));
        let mut r = routes.clone();
        async move { tower_service::Service::call(&mut r, req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(app.cfg.header_timeout)
        .keep_alive(true);
    if let Err(e) = builder.serve_connection(io, svc).await {
        tracing::debug!("connection ended: {e}");
    }
}
