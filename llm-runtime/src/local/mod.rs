//! The local candle backend: a model engine on its own thread, fed by a bounded request queue.

pub(crate) mod gguf;
mod safetensors;

use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::constrain::JsonGrammar;
use crate::constrain::trie::{TokenTrie, walk};
use crate::error::{LlmError, Result};
use crate::model::{BoxFuture, ChatModel, StopMatcher, TokenStream, done};
use crate::sampling::Sampler;
use crate::template::ChatTemplate;
use crate::tokenizer::{Detokenizer, TextTokenizer};
use crate::types::{
    ChatRequest, FinishReason, Message, ModelInfo, SamplingParams, StreamEvent, Timings, Usage,
};

/// Prompt tokens evaluated per forward pass during prefill.
const PREFILL_CHUNK: usize = 512;
/// Buffered stream events per request before the engine waits for the reader.
const EVENT_BUFFER: usize = 256;

/// A network that maps tokens at positions `pos..` to the next-token logits, with a KV cache.
pub(crate) trait Network: Send {
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>>;
    fn reset(&mut self);
    fn context_length(&self) -> usize;
}

/// What a loader returns.
pub(crate) struct Loaded {
    pub(crate) net: Box<dyn Network>,
    pub(crate) tokenizer: TextTokenizer,
    pub(crate) template: ChatTemplate,
    pub(crate) backend: &'static str,
}

/// Where the local model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceKind {
    #[default]
    Cpu,
    /// CUDA device by ordinal (needs the `cuda` feature).
    Cuda(usize),
}

/// Settings of the local engine.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub device: DeviceKind,
    /// Compute threads (None: one per core).
    pub threads: Option<usize>,
    /// Requests that may wait for the engine; more fail with [`LlmError::QueueFull`].
    pub queue_capacity: usize,
    /// On CPU, convert GGUF tensors whose type has no SIMD kernel in candle (Q4_1, Q5_0, Q5_1)
    /// at load time (see [`Requantize`]).
    pub requantize: Requantize,
}

/// What to convert GGUF tensors without a SIMD kernel in candle (Q4_1, Q5_0, Q5_1) to, on CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Requantize {
    /// Keep them (candle multiplies them with scalar code).
    Off,
    /// 8-bit: nearly lossless, about 1.7 times the bytes of Q4_1 per token.
    #[default]
    Q8_0,
    /// 4-bit without offsets: fewest bytes, fastest, but a second rounding (output can change).
    Q4_0,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            device: DeviceKind::Cpu,
            threads: None,
            queue_capacity: 16,
            requantize: Requantize::default(),
        }
    }
}

enum Job {
    Generate {
        request: ChatRequest,
        events: mpsc::Sender<Result<StreamEvent>>,
    },
    Choose {
        messages: Vec<Message>,
        options: Vec<String>,
        params: SamplingParams,
        reply: oneshot::Sender<Result<usize>>,
    },
    Json {
        messages: Vec<Message>,
        schema: Value,
        params: SamplingParams,
        reply: oneshot::Sender<Result<Value>>,
    },
    Tokenize {
        text: String,
        reply: oneshot::Sender<Result<Vec<u32>>>,
    },
}

/// A local candle model (GGUF or safetensors Llama) served by an engine thread.
pub struct LocalModel {
    queue: mpsc::Sender<Job>,
    info: ModelInfo,
    capacity: usize,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("info", &self.info)
            .finish()
    }
}

fn device(kind: DeviceKind) -> Result<candle_core::Device> {
    match kind {
        DeviceKind::Cpu => Ok(candle_core::Device::Cpu),
        DeviceKind::Cuda(i) => candle_core::Device::new_cuda(i).map_err(|e| {
            LlmError::InvalidRequest(format!(
                "CUDA device {i} unavailable (build with --features cuda?): {e}"
            ))
        }),
    }
}

/// Finds what to load: a `.gguf` file, or a directory with config.json (safetensors) or one `.gguf`.
fn resolve(path: &Path) -> Result<(PathBuf, bool)> {
    let io = |source| LlmError::ModelIo {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        if path.extension().is_some_and(|e| e == "safetensors") {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            return Ok((dir, false));
        }
        return Ok((path.to_path_buf(), true));
    }
    if path.join("config.json").is_file() {
        return Ok((path.to_path_buf(), false));
    }
    let ggufs: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    match ggufs.as_slice() {
        [one] => Ok((one.clone(), true)),
        [] => Err(LlmError::ModelFormat {
            path: path.to_path_buf(),
            reason: "directory has neither config.json nor a .gguf file".into(),
        }),
        _ => Err(LlmError::ModelFormat {
            path: path.to_path_buf(),
            reason: format!("directory has {} .gguf files; name one", ggufs.len()),
        }),
    }
}

impl LocalModel {
    /// Loads a model (blocking: call it from `spawn_blocking` or before the async runtime) and
    /// starts its engine thread.
    pub fn load(path: &Path, config: &LocalConfig) -> Result<Self> {
        if config.queue_capacity == 0 {
            return Err(LlmError::InvalidRequest(
                "queue_capacity must be at least 1".into(),
            ));
        }
        let dev = device(config.device)?;
        let (file, is_gguf) = resolve(path)?;
        let loaded = if is_gguf {
            gguf::load(&file, &dev, config.requantize)?
        } else {
            safetensors::load(&file, &dev)?
        };
        let info = ModelInfo {
            backend: loaded.backend.to_string(),
            model: file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            context_length: loaded.net.context_length(),
        };
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let mut builder =
            rayon::ThreadPoolBuilder::new().thread_name(|i| format!("llm-compute-{i}"));
        if let Some(n) = config.threads {
            builder = builder.num_threads(n.max(1));
        }
        let pool = builder
            .build()
            .map_err(|e| LlmError::Compute(format!("cannot start compute threads: {e}")))?;
        let engine = Engine {
            net: loaded.net,
            tok: loaded.tokenizer,
            template: loaded.template,
            cached: Vec::new(),
        };
        std::thread::Builder::new()
            .name("llm-engine".into())
            .spawn(move || pool.install(move || engine.run(rx)))
            .map_err(|e| LlmError::Compute(format!("cannot start the engine thread: {e}")))?;
        Ok(Self {
            queue: tx,
            info,
            capacity: config.queue_capacity,
        })
    }

    fn submit(&self, job: Job) -> Result<()> {
        self.queue.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => LlmError::QueueFull {
                capacity: self.capacity,
            },
            mpsc::error::TrySendError::Closed(_) => LlmError::EngineStopped,
        })
    }

    /// Tokenizes text with the model's tokenizer (no chat template).
    pub async fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Tokenize {
            text: text.to_string(),
            reply,
        })?;
        rx.await.map_err(|_| LlmError::EngineStopped)?
    }
}

impl ChatModel for LocalModel {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn generate(&self, request: ChatRequest) -> TokenStream {
        let (events, rx) = mpsc::channel(EVENT_BUFFER);
        match self.submit(Job::Generate { request, events }) {
            Ok(()) => {
                futures::stream::unfold(
                    rx,
                    |mut rx| async move { rx.recv().await.map(|ev| (ev, rx)) },
                )
                .boxed()
            }
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    fn choose(
        &self,
        messages: Vec<Message>,
        options: Vec<String>,
        params: SamplingParams,
    ) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.submit(Job::Choose {
                messages,
                options,
                params,
                reply,
            })?;
            rx.await.map_err(|_| LlmError::EngineStopped)?
        })
    }

    fn generate_json(
        &self,
        messages: Vec<Message>,
        schema: Value,
        params: SamplingParams,
    ) -> BoxFuture<'_, Result<Value>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.submit(Job::Json {
                messages,
                schema,
                params,
                reply,
            })?;
            rx.await.map_err(|_| LlmError::EngineStopped)?
        })
    }
}

/// State owned by the engine thread.
struct Engine {
    net: Box<dyn Network>,
    tok: TextTokenizer,
    template: ChatTemplate,
    /// Tokens whose keys/values are in the KV cache, in order.
    cached: Vec<u32>,
}

impl Engine {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(job) = rx.blocking_recv() {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(job)));
            if outcome.is_err() {
                tracing::error!("llm engine: a request panicked; KV cache dropped");
                self.cached.clear();
                self.net.reset();
            }
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Generate { request, events } => {
                if let Err(e) = self.generate(&request, &events) {
                    let _ = events.blocking_send(Err(e));
                }
            }
            Job::Choose {
                messages,
                options,
                params,
                reply,
            } => {
                let _ = reply.send(self.choose(&messages, &options, &params));
            }
            Job::Json {
                messages,
                schema,
                params,
                reply,
            } => {
                let _ = reply.send(self.json(&messages, &schema, &params));
            }
            Job::Tokenize { text, reply } => {
                let _ = reply.send(self.tok.encode(&text));
            }
        }
    }

    fn prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        if messages.is_empty() {
            return Err(LlmError::InvalidRequest("no messages".into()));
        }
        let text = self.template.render(messages, true)?;
        self.tok.encode(&text)
    }

    /// Evaluates the prompt, reusing the KV cache when it holds a prefix of it.
    /// Returns the logits after the prompt and how many prompt tokens came from the cache.
    fn prefill(&mut self, prompt: &[u32]) -> Result<(Vec<f32>, usize)> {
        let ctx = self.net.context_length();
        if prompt.len() + 1 > ctx {
            return Err(LlmError::ContextOverflow {
                prompt_tokens: prompt.len(),
                context: ctx,
            });
        }
        let reuse = !self.cached.is_empty()
            && self.cached.len() < prompt.len()
            && prompt.starts_with(&self.cached);
        let start = if reuse { self.cached.len() } else { 0 };
        if !reuse {
            self.net.reset();
        }
        self.cached.clear();
        let mut logits = Vec::new();
        let mut pos = start;
        for chunk in prompt[start..].chunks(PREFILL_CHUNK) {
            logits = self.net.forward(chunk, pos)?;
            pos += chunk.len();
        }
        self.cached = prompt.to_vec();
        Ok((logits, start))
    }

    /// Feeds one token; returns the next logits.
    fn step(&mut self, token: u32) -> Result<Vec<f32>> {
        let pos = self.cached.len();
        if pos + 1 > self.net.context_length() {
            return Err(LlmError::ContextOverflow {
                prompt_tokens: pos,
                context: self.net.context_length(),
            });
        }
        let logits = self.net.forward(&[token], pos);
        match logits {
            Ok(l) => {
                self.cached.push(token);
                Ok(l)
            }
            Err(e) => {
                self.cached.clear();
                Err(e)
            }
        }
    }

    fn generate(
        &mut self,
        req: &ChatRequest,
        events: &mpsc::Sender<Result<StreamEvent>>,
    ) -> Result<()> {
        let params = &req.params;
        params.validate()?;
        let prompt = self.prompt(&req.messages)?;
        let t0 = Instant::now();
        let (mut logits, cached) = self.prefill(&prompt)?;
        let ctx = self.net.context_length();
        let mut sampler = Sampler::new(params);
        let mut detok = Detokenizer::default();
        let mut stops = StopMatcher::new(&params.stop);
        let mut history = prompt.clone();
        let mut timings = Timings {
            prefill_tokens: prompt.len() - cached,
            ..Timings::default()
        };
        let mut t_first: Option<Instant> = None;
        let mut generated = 0usize;
        let send = |text: String| -> Result<()> {
            if text.is_empty() {
                return Ok(());
            }
            events
                .blocking_send(Ok(StreamEvent::Delta(text)))
                .map_err(|_| LlmError::Cancelled)
        };
        let finish = loop {
            if req.cancel.is_cancelled() || events.is_closed() {
                return Err(LlmError::Cancelled);
            }
            sampler.penalize(&mut logits, &history);
            if params.ignore_eos {
                for &id in self.tok.stop_ids() {
                    if let Some(l) = logits.get_mut(id as usize) {
                        *l = f32::NEG_INFINITY;
                    }
                }
            }
            let tok = sampler
                .sample(&logits, None)
                .ok_or_else(|| LlmError::Compute("logits are all NaN".into()))?;
            if t_first.is_none() {
                timings.prefill_secs = t0.elapsed().as_secs_f64();
                t_first = Some(Instant::now());
            }
            generated += 1;
            if self.tok.stop_ids().contains(&tok) {
                break FinishReason::Stop;
            }
            let (text, hit) = stops.push(&detok.push(&self.tok, tok));
            send(text)?;
            if hit {
                break FinishReason::StopSequence;
            }
            if generated >= params.max_tokens {
                break FinishReason::Length;
            }
            if self.cached.len() + 1 >= ctx {
                break FinishReason::ContextFull;
            }
            history.push(tok);
            logits = self.step(tok)?;
            timings.decode_tokens += 1;
        };
        if finish != FinishReason::StopSequence {
            let (text, hit) = stops.push(&detok.finish());
            send(text)?;
            if !hit {
                send(stops.flush())?;
            }
        }
        if let Some(t) = t_first {
            timings.decode_secs = t.elapsed().as_secs_f64();
        }
        let usage = Usage {
            prompt_tokens: prompt.len(),
            completion_tokens: generated,
            cached_prompt_tokens: cached,
        };
        events
            .blocking_send(Ok(done(finish, usage, Some(timings))))
            .map_err(|_| LlmError::Cancelled)
    }

    fn choose(
        &mut self,
        messages: &[Message],
        options: &[String],
        params: &SamplingParams,
    ) -> Result<usize> {
        params.validate()?;
        let seqs = options
            .iter()
            .map(|o| self.tok.encode_fragment(o))
            .collect::<Result<Vec<_>>>()?;
        let trie = TokenTrie::build(&seqs)?;
        let stop = *self.tok.stop_ids().first().ok_or_else(|| {
            LlmError::Tokenizer("the vocabulary has no end-of-sequence token".into())
        })?;
        let prompt = self.prompt(messages)?;
        let (mut logits, _) = self.prefill(&prompt)?;
        let mut sampler = Sampler::new(params);
        let mut pending: Option<u32> = None;
        let (idx, _) = walk(&trie, stop, |allowed| {
            if let Some(t) = pending.take() {
                logits = self.step(t)?;
            }
            let t = sampler
                .sample(&logits, Some(allowed))
                .ok_or_else(|| LlmError::Compute("no allowed token has a finite logit".into()))?;
            pending = Some(t);
            Ok(t)
        })?;
        Ok(idx)
    }

    fn json(
        &mut self,
        messages: &[Message],
        schema: &Value,
        params: &SamplingParams,
    ) -> Result<Value> {
        params.validate()?;
        let grammar = JsonGrammar::compile(schema)?;
        let prompt = self.prompt(messages)?;
        let (mut logits, _) = self.prefill(&prompt)?;
        let mut sampler = Sampler::new(params);
        let mut state = grammar.initial();
        let mut out: Vec<u8> = Vec::new();
        let mut order: Vec<u32> = Vec::new();
        let want = if params.temperature == 0.0 {
            1
        } else if params.top_k > 0 {
            params.top_k
        } else {
            16
        };
        let parse = |out: &[u8]| {
            serde_json::from_slice::<Value>(out).map_err(|e| {
                LlmError::ConstraintViolation(format!("constrained output does not parse: {e}"))
            })
        };
        for _ in 0..params.max_tokens {
            order.clear();
            order.extend((0..logits.len() as u32).filter(|&i| logits[i as usize].is_finite()));
            order.sort_unstable_by(|&a, &b| {
                logits[b as usize]
                    .total_cmp(&logits[a as usize])
                    .then(a.cmp(&b))
            });
            let mut accepted: Vec<(u32, Option<crate::constrain::json::JsonState>)> = Vec::new();
            for &id in &order {
                if accepted.len() >= want {
                    break;
                }
                if self.tok.stop_ids().contains(&id) {
                    if state.can_finish(&grammar) {
                        accepted.push((id, None));
                    }
                    continue;
                }
                if self.tok.is_special(id) {
                    continue;
                }
                let mut s = state.clone();
                if s.feed_all(&grammar, self.tok.piece(id)) {
                    accepted.push((id, Some(s)));
                }
            }
            let ids: Vec<u32> = accepted.iter().map(|a| a.0).collect();
            let pick = sampler.sample(&logits, Some(&ids)).ok_or_else(|| {
                LlmError::ConstraintViolation("no token can continue the JSON output".into())
            })?;
            let Some(pos) = accepted.iter().position(|a| a.0 == pick) else {
                return Err(LlmError::Compute("sampler left the accepted set".into()));
            };
            match accepted.swap_remove(pos).1 {
                None => return parse(&out),
                Some(s) => {
                    state = s;
                    out.extend_from_slice(self.tok.piece(pick));
                    if state.is_closed() {
                        return parse(&out);
                    }
                    logits = self.step(pick)?;
                }
            }
        }
        Err(LlmError::ConstraintViolation(format!(
            "JSON output not complete after max_tokens = {}",
            params.max_tokens
        )))
    }
}
