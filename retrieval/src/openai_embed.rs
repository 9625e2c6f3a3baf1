//! [`OpenAiEmbedder`]: sentence vectors from an OpenAI-compatible `/embeddings` endpoint
//! (async-openai), so a deployment can use a larger (biomedical) embedder served elsewhere.
//!
//! Configuration from the environment ([`OpenAiEmbedConfig::from_env`]):
//! `CLINRAG_EMBED_BASE_URL` (including `/v1`), `CLINRAG_EMBED_MODEL`, and the optional
//! `CLINRAG_EMBED_API_KEY` (never logged). The dimension is learnt from one probe request when
//! the embedder is created, so a wrong URL or model fails at once, not in the middle of an
//! ingest. Returned vectors are checked (one per input, in `index` order, all of the same
//! dimension, finite) and scaled to unit length, as the vector indexes expect.
//!
//! The client is async and [`Embedder::embed`] blocks: requests run on the embedder's own
//! one-thread tokio runtime and the caller waits on a channel (usable from a plain thread or
//! from `spawn_blocking`).

use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};

use crate::embed::{EmbedError, EmbedResult, Embedder};

/// Where and how to call the endpoint.
#[derive(Clone)]
pub struct OpenAiEmbedConfig {
    /// Base URL including `/v1` (the request goes to `{base_url}/embeddings`).
    pub base_url: String,
    /// Model name sent with each request.
    pub model: String,
    /// Bearer key, if the endpoint needs one.
    pub api_key: Option<String>,
    /// Texts per request.
    pub batch: usize,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Attempts per request on timeouts, connection errors and 5xx answers (1 = no retry).
    pub attempts: u32,
}

impl std::fmt::Debug for OpenAiEmbedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("batch", &self.batch)
            .finish()
    }
}

impl OpenAiEmbedConfig {
    /// A configuration with defaults: batches of 64, 60 s per request, 3 attempts.
    pub fn new(base_url: &str, model: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key: None,
            batch: 64,
            timeout: Duration::from_secs(60),
            attempts: 3,
        }
    }

    /// From `CLINRAG_EMBED_BASE_URL`, `CLINRAG_EMBED_MODEL` and `CLINRAG_EMBED_API_KEY`;
    /// `None` when the base URL is not set.
    pub fn from_env() -> EmbedResult<Option<Self>> {
        let Ok(base) = std::env::var("CLINRAG_EMBED_BASE_URL") else {
            return Ok(None);
        };
        let model = std::env::var("CLINRAG_EMBED_MODEL").map_err(|_| {
            EmbedError::Remote(
                "CLINRAG_EMBED_BASE_URL is set but CLINRAG_EMBED_MODEL is not".into(),
            )
        })?;
        let mut c = Self::new(&base, &model);
        c.api_key = std::env::var("CLINRAG_EMBED_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        Ok(Some(c))
    }
}

/// An [`Embedder`] calling an OpenAI-compatible embeddings endpoint.
pub struct OpenAiEmbedder {
    name: String,
    dim: usize,
    cfg: OpenAiEmbedConfig,
    client: Arc<Client<OpenAIConfig>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl Drop for OpenAiEmbedder {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn remote(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Remote(e.to_string())
}

impl OpenAiEmbedder {
    /// Checks the configuration, starts the client and learns the dimension from one probe
    /// request.
    pub fn connect(cfg: OpenAiEmbedConfig) -> EmbedResult<Self> {
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(remote(format!(
                "base URL must start with http:// or https://: {:?}",
                cfg.base_url
            )));
        }
        if cfg.model.trim().is_empty() {
            return Err(remote("the embedding model name is empty"));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("clinrag-embed-remote")
            .enable_all()
            .build()
            .map_err(remote)?;
        let mut cc = OpenAIConfig::new().with_api_base(&cfg.base_url);
        cc = cc.with_api_key(cfg.api_key.clone().unwrap_or_default());
        let mut me = Self {
            name: format!("openai:{}", cfg.model),
            dim: 0,
            client: Arc::new(Client::with_config(cc)),
            cfg,
            rt: Some(rt),
        };
        let probe = me.request(vec!["dimension probe".to_owned()])?;
        me.dim = probe.first().map_or(0, Vec::len);
        if me.dim == 0 {
            return Err(remote("the endpoint returned an empty embedding"));
        }
        Ok(me)
    }

    /// One request for `texts`; vectors checked and normalised, in input order.
    fn request(&self, texts: Vec<String>) -> EmbedResult<Vec<Vec<f32>>> {
        let rt = self.rt.as_ref().ok_or(EmbedError::Stopped)?;
        let n = texts.len();
        let client = self.client.clone();
        let (model, timeout, attempts) = (
            self.cfg.model.clone(),
            self.cfg.timeout,
            self.cfg.attempts.max(1),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let mut delay = Duration::from_millis(200);
            let mut attempt = 1;
            let r = loop {
                let req = CreateEmbeddingRequest {
                    model: model.clone(),
                    input: EmbeddingInput::StringArray(texts.clone()),
                    ..Default::default()
                };
                let out = tokio::time::timeout(timeout, client.embeddings().create(req)).await;
                let retry = match &out {
                    Err(_) => true,
                    Ok(Err(async_openai::error::OpenAIError::Reqwest(_))) => true,
                    Ok(Err(async_openai::error::OpenAIError::ApiError(a))) => {
                        a.status_code.is_server_error()
                    }
                    _ => false,
                };
                if retry && attempt < attempts {
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                    continue;
                }
                break match out {
                    Err(_) => Err(format!(
                        "no answer within {} s ({attempt} attempts)",
                        timeout.as_secs_f32()
                    )),
                    Ok(r) => r.map_err(|e| e.to_string()),
                };
            };
            let _ = tx.send(r);
        });
        let resp = rx
            .recv()
            .map_err(|_| EmbedError::Stopped)?
            .map_err(EmbedError::Remote)?;
        let mut data = resp.data;
        if data.len() != n {
            return Err(remote(format!(
                "asked for {n} embeddings, got {}",
                data.len()
            )));
        }
        data.sort_by_key(|e| e.index);
        let mut out = Vec::with_capacity(n);
        for (i, e) in data.into_iter().enumerate() {
            if e.index as usize != i {
                return Err(remote("embedding indexes are not 0..n"));
            }
            let v = e.embedding;
            if self.dim != 0 && v.len() != self.dim {
                return Err(remote(format!(
                    "embedding of dimension {} from a model of dimension {}",
                    v.len(),
                    self.dim
                )));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(remote("embedding with a non-finite component"));
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm == 0.0 {
                return Err(remote("zero embedding vector"));
            }
            out.push(v.iter().map(|x| x / norm).collect());
        }
        Ok(out)
    }
}

impl Embedder for OpenAiEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[String]) -> EmbedResult<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for part in texts.chunks(self.cfg.batch.max(1)) {
            if part.iter().any(|t| t.trim().is_empty()) {
                return Err(EmbedError::Tokenize(
                    "empty text given to the embedding endpoint".into(),
                ));
            }
            out.extend(self.request(part.to_vec())?);
        }
        Ok(out)
    }
}
