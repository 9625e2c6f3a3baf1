//! Minimal chat against a local model: `cargo run --example chat -- MODEL "prompt" [--requantize q8_0|q4_0|off] [--threads N]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use clinrag_llm_runtime::{
    ChatModel, ChatRequest, LocalConfig, LocalModel, Message, Requantize, SamplingParams,
    collect_with,
};

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .get(1)
        .expect("usage: chat MODEL PROMPT [--requantize q8_0|q4_0|off] [--threads N] [--tokens]");
    let prompt = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "What is the capital of France?".into());
    let requantize = match arg_value(&args, "--requantize").as_deref() {
        Some("off") => Requantize::Off,
        Some("q4_0") => Requantize::Q4_0,
        _ => Requantize::Q8_0,
    };
    let threads = arg_value(&args, "--threads").and_then(|t| t.parse().ok());
    let m = LocalModel::load(
        model.as_ref(),
        &LocalConfig {
            requantize,
            threads,
            ..LocalConfig::default()
        },
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if args.iter().any(|a| a == "--tokens") {
        println!("{:?}", rt.block_on(m.tokenize(&prompt)).unwrap());
        return;
    }
    let req = ChatRequest::new(vec![Message::user(prompt)], SamplingParams::greedy(64));
    let c = rt
        .block_on(collect_with(m.generate(req), |d| {
            print!("{d}");
            let _ = std::io::stdout().flush();
        }))
        .unwrap();
    println!("\n{:?} {:?} {:?}", c.finish, c.usage, c.timings);
}
