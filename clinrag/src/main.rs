//! The `clinrag` binary: command line, configuration and wiring of the library crates.

mod cmd;
mod fault;
mod global;
mod serve;
mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use global::Global;

/// clinrag: a clinical knowledge assistant that answers with citations.
#[derive(Parser)]
#[command(name = "clinrag", version, about)]
struct Cli {
    #[command(flatten)]
    global: global::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Each subcommand lives in its own module under `cmd/`; add new ones here and in `run`.
    /// Download, verify and unpack the default models, vocabularies and sample corpus.
    Setup(cmd::setup::Args),
    /// Ingest files and folders (.xml, .xml.gz, .nxml, .md, .txt, .jsonl).
    Ingest(cmd::ingest::Args),
    /// Search the literature; passages come with their citations.
    Search(cmd::search::Args),
    /// Show stored documents and cited spans.
    Docs(cmd::docs::Args),
    /// Remove documents from the catalog and every index.
    Rm(cmd::stats::RmArgs),
    /// Counts of documents and chunks, index sizes.
    Stats,
    /// Check that the catalog and the indexes agree (and repair them).
    Check(cmd::stats::CheckArgs),
    /// Write a consistent snapshot of the catalog and indexes (safe while ingest or serve run).
    Backup(cmd::backup::BackupArgs),
    /// Restore a backup into the home folder, verifying every file, then check it.
    Restore(cmd::backup::RestoreArgs),
    /// Measure quality (retrieval, coding, rare-disease ranking) on a gold file.
    Eval(cmd::eval::Args),
    /// Link clinical text to ICD-10-CM, HPO, MeSH, ATC and drug concepts, with negation and context.
    Link(cmd::link::Args),
    /// Concept graph: build the snapshot, look up codes, search, neighbors, paths, query expansion.
    Kg(cmd::kg::Args),
    /// Rank rare diseases (OMIM, ORPHA) for HPO phenotypes or a case description.
    Rare(cmd::rare::Args),
    /// Assign ICD-10-CM diagnosis codes or ATC drug codes to clinical text, with evidence spans.
    Code(cmd::code::Args),
    /// Chat with the local model (or an OpenAI-compatible server); the answer streams to the terminal.
    Chat(cmd::chat::Args),
    /// Answer a question from the literature; every sentence cites a verified passage (or abstains).
    Ask(cmd::ask::Args),
    /// Summarize stored documents or a note; every sentence cites its source span.
    Summarize(cmd::summarize::Args),
    /// A differential diagnosis for a case description, with evidence for and against each item.
    Diagnose(cmd::diagnose::Args),
    /// Serve the HTTP API and the web page (localhost by default).
    Serve(cmd::serve::Args),
    /// Bearer tokens for `clinrag serve`: create, list, revoke.
    Token(cmd::token::Args),
    /// Benchmarks (figures for BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `clinrag bench <area>`.
#[derive(Subcommand)]
enum BenchCommand {
    /// Chat model: prefill and decode tokens/s, time to first token, peak memory (optionally vs llama.cpp).
    Llm(cmd::bench_llm::Args),
    /// Rare-disease ranking: milliseconds per case over all diseases.
    Rare(cmd::bench_rare::Args),
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    let global = match cli.global.resolve() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    global::init_logging(&global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&global, cli.command)) {
        Ok(code) => code,
        Err(e) => {
            let mut msg = format!("{e:#}");
            if let Some(h) = fault::hint(&e, &global.home) {
                msg = format!("{msg}: {h}");
            }
            if global.json {
                println!("{}", serde_json::json!({ "error": msg }));
            } else {
                eprintln!("error: {msg}");
            }
            ExitCode::from(2)
        }
    }
}

/// `clinrag ... --json | head` closes stdout early; `println!` then panics with "failed printing
/// to stdout: Broken pipe". Like other Unix filters, end quietly with 141 (128 + SIGPIPE) instead of
/// printing a panic; every other panic goes to the default hook.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

async fn run(g: &Global, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Setup(a) => cmd::setup::run(g, a).await,
        Command::Ingest(a) => cmd::ingest::run(g, a).await,
        Command::Search(a) => cmd::search::run(g, a).await,
        Command::Docs(a) => cmd::docs::run(g, a).await,
        Command::Rm(a) => cmd::stats::rm(g, a).await,
        Command::Stats => cmd::stats::stats(g).await,
        Command::Check(a) => cmd::stats::check(g, a).await,
        Command::Backup(a) => cmd::backup::backup(g, a).await,
        Command::Restore(a) => cmd::backup::restore(g, a).await,
        Command::Eval(a) => cmd::eval::run(g, a).await,
        Command::Link(a) => cmd::link::run(g, a).await,
        Command::Kg(a) => cmd::kg::run(g, a).await,
        Command::Rare(a) => cmd::rare::run(g, a).await,
        Command::Code(a) => cmd::code::run(g, a).await,
        Command::Chat(a) => cmd::chat::run(g, a).await,
        Command::Ask(a) => cmd::ask::run(g, a).await,
        Command::Summarize(a) => cmd::summarize::run(g, a).await,
        Command::Diagnose(a) => cmd::diagnose::run(g, a).await,
        Command::Serve(a) => cmd::serve::run(g, a).await,
        Command::Token(a) => cmd::token::run(g, a).await,
        Command::Bench(BenchCommand::Llm(a)) => cmd::bench_llm::run(g, a).await,
        Command::Bench(BenchCommand::Rare(a)) => cmd::bench_rare::run(g, a).await,
    }
}
