//! `clinrag docs show ID [--span START:END]`: a stored document, its sections and chunks, or the
//! exact passage a citation points to.

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::Global;

/// Arguments of `clinrag docs`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Show a document, or one character span of it.
    Show {
        /// Document id (PMID:n, PMCID:n, DOI:x, ...).
        id: String,
        /// Character span `START:END` of the stored text.
        #[arg(long)]
        span: Option<String>,
    },
}

/// Runs `clinrag docs`.
pub async fn run(g: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let Cmd::Show { id, span } = args.cmd;
    let catalog = crate::store::catalog(g).await?;
    let Some(doc) = catalog.document(&id).await? else {
        bail!("no such document: {id}");
    };
    if let Some(span) = span {
        let (a, b) = span
            .split_once(':')
            .context("--span must be START:END (character offsets)")?;
        let start: usize = a.trim().parse().context("span start is not a number")?;
        let end: usize = b.trim().parse().context("span end is not a number")?;
        let len = doc.body.chars().count();
        let Some(text) = doc.span(start, end) else {
            bail!("span {start}:{end} is outside document {id} (its text has {len} characters)");
        };
        let section = doc
            .sections
            .iter()
            .find(|s| s.start <= start && end <= s.end)
            .map(|s| s.name.clone());
        if g.json {
            println!(
                "{}",
                serde_json::json!({"doc_id": doc.doc_id, "title": doc.title, "section": section,
                    "start": start, "end": end, "text": text})
            );
        } else {
            println!(
                "{} — {}\n[{}–{}] {}",
                doc.doc_id, doc.title, start, end, text
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let chunks = catalog.chunks(&id).await?;
    if g.json {
        println!("{}", serde_json::json!({"document": doc, "chunks": chunks}));
    } else {
        println!("{} — {}", doc.doc_id, doc.title);
        if let Some(j) = &doc.journal {
            println!(
                "{j} {}",
                doc.year.map(|y| y.to_string()).unwrap_or_default()
            );
        }
        if !doc.authors.is_empty() {
            println!("{}", doc.authors.join(", "));
        }
        if let Some(d) = &doc.doi {
            println!("DOI {d}");
        }
        if !doc.mesh.is_empty() {
            println!("MeSH: {}", doc.mesh.join("; "));
        }
        println!("source: {} ({})", doc.source_path, doc.source);
        for s in &doc.sections {
            println!(
                "\n## {} [{}–{}]\n{}",
                s.name,
                s.start,
                s.end,
                doc.span(s.start, s.end).unwrap_or_default()
            );
        }
        println!("\n{} chunks", chunks.len());
    }
    Ok(ExitCode::SUCCESS)
}
