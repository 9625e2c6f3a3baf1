//! `clinrag chat "PROMPT"`: one chat turn with the local model (or an OpenAI-compatible server),
//! streamed to the terminal; `--batch FILE.jsonl` answers one prompt per line.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clinrag_llm_runtime::{
    ChatModel, ChatRequest, Completion, DeviceKind, LocalConfig, LocalModel, Message, OpenAiConfig,
    OpenAiModel, Requantize, SamplingParams, collect_with,
};

/// The default local model, relative to the home folder.
pub const DEFAULT_MODEL: &str = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Which model to use: a local file (default) or a server.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Local model: a .gguf file or a safetensors Llama directory (default: the SmolLM2 GGUF in the home folder).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// OpenAI-compatible server base URL including /v1 (vLLM, llama.cpp server, Ollama); the API key
    /// comes from CLINRAG_LLM_API_KEY or OPENAI_API_KEY.
    #[arg(long, env = "CLINRAG_LLM_URL")]
    pub server: Option<String>,
    /// Model name sent to the server.
    #[arg(long, default_value = "default", env = "CLINRAG_LLM_MODEL")]
    pub server_model: String,
    /// Server timeout in seconds (first byte and each gap between streamed chunks).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Compute threads for the local model (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run the local model on this CUDA device (needs a `--features cuda` build).
    #[arg(long)]
    pub cuda: Option<usize>,
    /// CPU only: convert Q4_1/Q5 GGUF weights at load time to q8_0 (near-lossless), q4_0 (fastest) or keep them (off).
    #[arg(long, value_enum, default_value_t = RequantizeArg::Q8_0)]
    pub requantize: RequantizeArg,
}

/// `--requantize` values.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum RequantizeArg {
    #[value(name = "q8_0")]
    Q8_0,
    #[value(name = "q4_0")]
    Q4_0,
    Off,
}

impl ModelArgs {
    /// Path of the local model file.
    pub fn model_path(&self, g: &crate::Global) -> PathBuf {
        self.model.clone().unwrap_or_else(|| g.path(DEFAULT_MODEL))
    }

    /// Loads the local model or connects the server backend.
    pub async fn open(&self, g: &crate::Global) -> anyhow::Result<Arc<dyn ChatModel>> {
        if let Some(url) = &self.server {
            let api_key = std::env::var("CLINRAG_LLM_API_KEY")
                .or_else(|_| std::env::var("OPENAI_API_KEY"))
                .ok();
            let m = OpenAiModel::new(OpenAiConfig {
                base_url: url.clone(),
                model: self.server_model.clone(),
                api_key,
                timeout: Duration::from_secs(self.timeout.max(1)),
                ..OpenAiConfig::default()
            })?;
            return Ok(Arc::new(m));
        }
        let path = self.model_path(g);
        let config = LocalConfig {
            device: self.cuda.map_or(DeviceKind::Cpu, DeviceKind::Cuda),
            threads: self.threads,
            requantize: match self.requantize {
                RequantizeArg::Q8_0 => Requantize::Q8_0,
                RequantizeArg::Q4_0 => Requantize::Q4_0,
                RequantizeArg::Off => Requantize::Off,
            },
            ..LocalConfig::default()
        };
        let m = tokio::task::spawn_blocking(move || LocalModel::load(&path, &config))
            .await
            .context("model loader thread failed")?
            .context("cannot load the model (run `clinrag setup` or pass --model)")?;
        Ok(Arc::new(m))
    }
}

/// Sampling options.
#[derive(clap::Args, Debug, Clone)]
pub struct SamplingArgs {
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// 0 = off.
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    #[arg(long, default_value_t = 1.1)]
    pub repeat_penalty: f32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Stop before this string (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
}

impl SamplingArgs {
    pub fn params(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            repetition_penalty: self.repeat_penalty,
            seed: self.seed,
            max_tokens: self.max_tokens,
            stop: self.stop.clone(),
            ..SamplingParams::default()
        }
    }
}

/// Chat with the model.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The user message.
    #[arg(required_unless_present = "batch")]
    pub prompt: Option<String>,
    /// System message.
    #[arg(long)]
    pub system: Option<String>,
    /// One request per line: {"id": .., "prompt": "..", "system": "..", "max_tokens": n}.
    #[arg(long)]
    pub batch: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

fn messages(system: Option<&str>, prompt: &str) -> Vec<Message> {
    let mut m = Vec::new();
    if let Some(s) = system {
        m.push(Message::system(s));
    }
    m.push(Message::user(prompt));
    m
}

fn completion_json(c: &Completion) -> serde_json::Value {
    serde_json::json!({
        "text": c.text,
        "finish": c.finish,
        "usage": c.usage,
        "timings": c.timings,
    })
}

pub async fn run(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let model = args.model.open(g).await?;
    if let Some(batch) = &args.batch {
        return run_batch(model.as_ref(), &args, batch).await;
    }
    let prompt = args.prompt.clone().unwrap_or_default();
    let req = ChatRequest::new(
        messages(args.system.as_deref(), &prompt),
        args.sampling.params(),
    );
    let stream = model.generate(req);
    let c = if g.json {
        collect_with(stream, |_| {}).await?
    } else {
        let mut out = std::io::stdout();
        let c = collect_with(stream, |d| {
            let _ = out.write_all(d.as_bytes());
            let _ = out.flush();
        })
        .await?;
        println!();
        c
    };
    if g.json {
        let mut v = completion_json(&c);
        v["model"] = serde_json::to_value(model.info())?;
        println!("{v}");
    } else {
        eprintln!(
            "[{:?}; {} prompt + {} completion tokens]",
            c.finish, c.usage.prompt_tokens, c.usage.completion_tokens
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_batch(model: &dyn ChatModel, args: &Args, path: &PathBuf) -> anyhow::Result<ExitCode> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut failures = 0usize;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}: cannot read line {}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&line);
        let (id, out) = match parsed {
            Err(e) => (
                serde_json::Value::Null,
                Err(anyhow::anyhow!("line {}: not JSON: {e}", n + 1)),
            ),
            Ok(v) => {
                let id = v.get("id").cloned().unwrap_or(serde_json::Value::Null);
                let prompt = v
                    .get("prompt")
                    .or_else(|| v.get("text"))
                    .and_then(|p| p.as_str());
                match prompt {
                    None => (
                        id,
                        Err(anyhow::anyhow!("line {}: needs a \"prompt\" string", n + 1)),
                    ),
                    Some(p) => {
                        let mut params = args.sampling.params();
                        if let Some(mt) = v.get("max_tokens").and_then(|m| m.as_u64()) {
                            params.max_tokens = mt as usize;
                        }
                        let system = v
                            .get("system")
                            .and_then(|s| s.as_str())
                            .or(args.system.as_deref());
                        let req = ChatRequest::new(messages(system, p), params);
                        (id, model.complete(req).await.map_err(anyhow::Error::from))
                    }
                }
            }
        };
        let mut line_out = match out {
            Ok(c) => completion_json(&c),
            Err(e) => {
                failures += 1;
                serde_json::json!({ "error": format!("{e:#}") })
            }
        };
        line_out["id"] = id;
        println!("{line_out}");
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
