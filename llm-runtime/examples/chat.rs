//! Minimal chat against a local model: `cargo run --example chat -- MODEL "prompt" [--no-requantize] [--threads N]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use clinrag_llm_runtime::{ChatModel, ChatRequest, LocalConfig, LocalModel, Message, SamplingParams, collect_with};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args.get(1).expect("usage: chat MODEL PROMPT [--no-requantize] [--threads N] [--tokens]");
    let prompt = args.get(2).cloned().unwrap_or_else(|| "What is the capital of France?".into());
    let requantize = !args.iter().any(|a| a == "--no-requantize");
    let threads = args.iter().position(|a| a == "--threads").and_then(|i| args.get(i + 1)).and_then(|t| t.parse().ok());
    let m = LocalModel::load(model.as_ref(), &LocalConfig { requantize, threads, ..LocalConfig::default() }).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
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
