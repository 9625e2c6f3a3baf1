//! The `clinrag bench llm` measurement without the binary, plus the llama.cpp baseline in the
//! same run: `cargo run --release --example bench -- MODEL [--threads N] [--requantize q8_0|q4_0|off]
//! [--runs 3] [--max-tokens 128] [--baseline PYTHON] [--cuda ORDINAL]` (prints one JSON object).
//! `--cuda` needs a `--features cuda` build; `scripts/gpu-bench.sh` builds and runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clinrag_llm_runtime::bench::{self, BenchOptions};
use clinrag_llm_runtime::{DeviceKind, LocalConfig, LocalModel, Requantize};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args.get(1).expect("usage: bench MODEL [options]").clone();
    let threads: Option<usize> = arg(&args, "--threads").and_then(|t| t.parse().ok());
    let requantize = match arg_value(&args, "--requantize").as_deref() {
        Some("off") => Requantize::Off,
        Some("q4_0") => Requantize::Q4_0,
        _ => Requantize::Q8_0,
    };
    let device = arg(&args, "--cuda")
        .and_then(|d| d.parse().ok())
        .map_or(DeviceKind::Cpu, DeviceKind::Cuda);
    let opts = BenchOptions {
        runs: arg(&args, "--runs")
            .and_then(|r| r.parse().ok())
            .unwrap_or(3),
        max_tokens: arg(&args, "--max-tokens")
            .and_then(|r| r.parse().ok())
            .unwrap_or(128),
        ..BenchOptions::default()
    };
    let m = LocalModel::load(
        model.as_ref(),
        &LocalConfig {
            threads,
            requantize,
            device,
            ..LocalConfig::default()
        },
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(bench::bench(&m, &opts)).unwrap();
    let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bytes = std::fs::metadata(&model).map(|m| m.len()).unwrap_or(0);
    let bw = bench::read_bandwidth_gbs(n);
    let mut out = serde_json::to_value(&report).unwrap();
    out["threads"] = n.into();
    out["requantize"] = format!("{requantize:?}").into();
    out["device"] = format!("{device:?}").into();
    out["model_bytes"] = bytes.into();
    out["read_bandwidth_gb_s"] = bw.into();
    out["decode_limit_tok_s"] = (bw * 1e9 / bytes.max(1) as f64).into();
    if let Some(py) = arg(&args, "--baseline") {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/llama_cpp_baseline.py");
        let res = std::process::Command::new(py)
            .args([script, &model, "--prompt", &opts.prompt])
            .args([
                "--max-tokens",
                &opts.max_tokens.to_string(),
                "--runs",
                &opts.runs.to_string(),
            ])
            .args(["--threads", &n.to_string()])
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&res.stdout);
        let base: serde_json::Value = text
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .expect("baseline JSON");
        let ratio = |k: &str, ours: f64| base[k].as_f64().map(|b| ours / b);
        out["decode_ratio"] = serde_json::json!(ratio("decode_tok_s", report.decode_tok_s));
        out["prefill_ratio"] = serde_json::json!(ratio("prefill_tok_s", report.prefill_tok_s));
        out["llama_cpp"] = base;
    }
    println!("{out}");
}
