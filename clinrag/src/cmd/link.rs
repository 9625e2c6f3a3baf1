//! `clinrag link`: find ICD-10-CM, HPO, MeSH, ATC and drug concepts in text, with negation,
//! certainty, experiencer and temporality; `--batch` for JSONL.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

/// Link clinical text to vocabulary concepts.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The text.
    pub text: Option<String>,
    /// JSONL requests, one per line: {"id", "text"}.
    #[arg(long)]
    pub batch: Option<PathBuf>,
}

/// Runs `clinrag link`.
pub async fn run(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || run_blocking(&g, args))
        .await
        .context("the linker worker thread failed")?
}

fn run_blocking(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    if args.text.is_none() && args.batch.is_none() {
        anyhow::bail!("give the text to link, or --batch FILE.jsonl");
    }
    let graph = Arc::new(super::kg::open_graph(g)?);
    let linker = clinrag_kg::open_linker(&g.home, graph)?;
    if let Some(path) = &args.batch {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut out = std::io::stdout().lock();
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line =
                line.with_context(|| format!("{}:{}: cannot read", path.display(), n + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let v = match serde_json::from_str::<Value>(&line) {
                Ok(req) => {
                    let id = req.get("id").cloned().unwrap_or(Value::Null);
                    match req.get("text").and_then(Value::as_str) {
                        Some(text) => json!({ "id": id, "mentions": linker.link(text) }),
                        None => {
                            json!({ "id": id, "error": format!("line {}: no \"text\" string", n + 1) })
                        }
                    }
                }
                Err(e) => {
                    json!({ "id": Value::Null, "error": format!("line {}: not JSON: {e}", n + 1) })
                }
            };
            writeln!(out, "{v}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let text = args.text.unwrap_or_default();
    let mentions = linker.link(&text);
    if g.json {
        println!("{}", json!({ "mentions": mentions }));
    } else {
        for m in &mentions {
            let flags = format!(
                "{:?}{}{}",
                m.certainty,
                if m.experiencer == clinrag_kg::Experiencer::Family {
                    ", family"
                } else {
                    ""
                },
                if m.temporality == clinrag_kg::Temporality::Historical {
                    ", historical"
                } else {
                    ""
                }
            );
            println!("[{}..{}] {:?} ({flags})", m.start, m.end, m.text_span);
            for c in m.concept_ids.iter().take(6) {
                println!("    {:<18} {}  via {}", c.id, c.label, c.matched_via);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
