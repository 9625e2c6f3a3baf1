//! Throughput measurement of a chat model: prefill and decode tokens/s, time to first token,
//! peak memory, and this machine's read bandwidth (the decode limit of a memory-bound model).

use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::model::{ChatModel, collect_with};
use crate::types::{ChatRequest, Message, ModelInfo, SamplingParams};

/// The default benchmark prompt (fixed, so runs compare).
pub const BENCH_PROMPT: &str =
    "Explain in a few sentences what type 2 diabetes is and how it is usually treated.";

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub prompt: String,
    /// Tokens generated per run; end-of-sequence is ignored so every run decodes this many.
    pub max_tokens: usize,
    /// Measured runs after one warm-up run.
    pub runs: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            prompt: BENCH_PROMPT.into(),
            max_tokens: 128,
            runs: 3,
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BenchRun {
    pub prompt_tokens: usize,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    /// Client-side: from submitting the request to the first text.
    pub ttft_ms: f64,
    pub decode_tokens: usize,
}

/// Medians over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub model: ModelInfo,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub runs: Vec<BenchRun>,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    pub ttft_ms: f64,
    /// Peak resident memory of this process (Linux), MB.
    pub peak_rss_mb: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs the benchmark: greedy decoding, one warm-up run, then `runs` measured runs.
pub async fn bench(model: &dyn ChatModel, opts: &BenchOptions) -> Result<BenchReport> {
    let params = SamplingParams {
        ignore_eos: true,
        ..SamplingParams::greedy(opts.max_tokens)
    };
    let mut runs = Vec::new();
    for i in 0..=opts.runs.max(1) {
        let req = ChatRequest::new(vec![Message::user(opts.prompt.clone())], params.clone());
        let start = Instant::now();
        let mut first: Option<f64> = None;
        let c = collect_with(model.generate(req), |_| {
            first.get_or_insert_with(|| start.elapsed().as_secs_f64() * 1e3);
        })
        .await?;
        let t = c.timings.unwrap_or_default();
        let run = BenchRun {
            prompt_tokens: c.usage.prompt_tokens,
            prefill_tok_s: t.prefill_tokens as f64 / t.prefill_secs.max(1e-9),
            decode_tok_s: t.decode_tokens as f64 / t.decode_secs.max(1e-9),
            ttft_ms: first.unwrap_or(t.prefill_secs * 1e3),
            decode_tokens: t.decode_tokens,
        };
        tracing::info!(?run, warmup = i == 0, "bench run");
        if i > 0 {
            runs.push(run);
        }
    }
    Ok(BenchReport {
        model: model.info(),
        prompt_tokens: runs.first().map_or(0, |r| r.prompt_tokens),
        generated_tokens: opts.max_tokens,
        prefill_tok_s: median(runs.iter().map(|r| r.prefill_tok_s).collect()),
        decode_tok_s: median(runs.iter().map(|r| r.decode_tok_s).collect()),
        ttft_ms: median(runs.iter().map(|r| r.ttft_ms).collect()),
        runs,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Peak resident set size of this process in MB (Linux `VmHWM`).
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Read bandwidth in GB/s: sums a 256 MiB buffer on `threads` threads, best of 3.
pub fn read_bandwidth_gbs(threads: usize) -> f64 {
    let words: usize = 32 << 20;
    let buf: Vec<u64> = (0..words as u64).collect();
    let chunk = words.div_ceil(threads.max(1));
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let total: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = buf
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().fold(0u64, |a, &x| a.wrapping_add(x))))
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or(0))
                .fold(0u64, u64::wrapping_add)
        });
        std::hint::black_box(total);
        best = best.max((words * 8) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}
