//! `clinrag bench llm`: prefill and decode tokens/s, time to first token and peak memory of the
//! chat model, optionally side by side with llama.cpp (llama-cpp-python) on the same GGUF file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clinrag_llm_runtime::bench::{self, BENCH_PROMPT, BenchOptions};

use super::chat::ModelArgs;

/// Benchmark the chat model.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Measured runs (after one warm-up run); medians are reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Tokens to generate per run (end-of-sequence is ignored so every run decodes this many).
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    #[arg(long, default_value = BENCH_PROMPT)]
    pub prompt: String,
    /// Python with llama-cpp-python: also run llama.cpp on the same GGUF, prompt and threads.
    #[arg(long)]
    pub baseline_python: Option<PathBuf>,
    /// The baseline script.
    #[arg(long, default_value = "llm-runtime/scripts/llama_cpp_baseline.py")]
    pub baseline_script: PathBuf,
}

pub async fn run(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let model = args.model.open(g).await?;
    let opts = BenchOptions {
        prompt: args.prompt.clone(),
        max_tokens: args.max_tokens,
        runs: args.runs,
    };
    let report = bench::bench(model.as_ref(), &opts).await?;
    let threads = args
        .model
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let model_path = args.model.model_path(g);
    let model_bytes = std::fs::metadata(&model_path).map(|m| m.len()).unwrap_or(0);
    let bw = bench::read_bandwidth_gbs(threads);
    let limit = if model_bytes > 0 {
        bw * 1e9 / model_bytes as f64
    } else {
        0.0
    };
    let mut out = serde_json::to_value(&report)?;
    out["threads"] = threads.into();
    out["model_bytes"] = model_bytes.into();
    out["read_bandwidth_gb_s"] = bw.into();
    out["decode_limit_tok_s"] = limit.into();
    if let Some(py) = &args.baseline_python {
        let res = tokio::process::Command::new(py)
            .arg(&args.baseline_script)
            .arg(&model_path)
            .args([
                "--prompt",
                &args.prompt,
                "--max-tokens",
                &args.max_tokens.to_string(),
            ])
            .args([
                "--runs",
                &args.runs.max(1).to_string(),
                "--threads",
                &threads.to_string(),
            ])
            .stderr(std::process::Stdio::null())
            .output()
            .await
            .with_context(|| format!("cannot run {}", py.display()))?;
        let text = String::from_utf8_lossy(&res.stdout);
        let base: serde_json::Value = text
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .with_context(|| {
                format!(
                    "the llama.cpp baseline printed no JSON (exit {:?})",
                    res.status.code()
                )
            })?;
        let ratio = |k: &str, ours: f64| base[k].as_f64().filter(|b| *b > 0.0).map(|b| ours / b);
        out["decode_ratio"] = serde_json::json!(ratio("decode_tok_s", report.decode_tok_s));
        out["prefill_ratio"] = serde_json::json!(ratio("prefill_tok_s", report.prefill_tok_s));
        out["llama_cpp"] = base;
    }
    if g.json {
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "model           {} ({}, {:.1} MB, {threads} threads)",
        report.model.model,
        report.model.backend,
        model_bytes as f64 / 1e6
    );
    println!(
        "prompt          {} tokens; {} generated per run, {} runs",
        report.prompt_tokens,
        report.generated_tokens,
        report.runs.len()
    );
    println!("prefill         {:.1} tokens/s", report.prefill_tok_s);
    println!("decode          {:.1} tokens/s", report.decode_tok_s);
    println!("first token     {:.1} ms", report.ttft_ms);
    if let Some(r) = report.peak_rss_mb {
        println!("peak RSS        {r:.0} MB");
    }
    println!(
        "read bandwidth  {bw:.1} GB/s -> decode limit ~{limit:.0} tokens/s (weights read once per token)"
    );
    if let Some(b) = out.get("llama_cpp") {
        println!(
            "llama.cpp       decode {:.1} tokens/s, prefill {:.1} tokens/s -> ratio decode {:.2}, prefill {:.2}",
            b["decode_tok_s"].as_f64().unwrap_or(0.0),
            b["prefill_tok_s"].as_f64().unwrap_or(0.0),
            out["decode_ratio"].as_f64().unwrap_or(0.0),
            out["prefill_ratio"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(ExitCode::SUCCESS)
}
