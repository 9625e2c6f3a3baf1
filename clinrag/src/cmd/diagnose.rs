//! `clinrag diagnose "CASE TEXT"`: findings (with negation) → rare-disease ranking and a
//! literature search → a differential with the evidence for and against each item.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clinrag_agents::{Asker, AskerConfig, Diagnoser, Diagnosis};
use clinrag_phenotype::IndexConfig;

use crate::Global;

/// Arguments of `clinrag diagnose`.
#[derive(clap::Args)]
pub struct Args {
    /// The case description.
    #[arg(required_unless_present = "file")]
    case: Option<String>,
    /// Read the case from a file instead.
    #[arg(long, conflicts_with = "case")]
    file: Option<PathBuf>,
    /// Items per source (phenotype ranking, literature).
    #[arg(long, default_value_t = 5)]
    k: usize,
}

/// Loads what the diagnosis agent needs (linker required; phenotype index when installed).
pub async fn diagnoser(g: &Global) -> anyhow::Result<Diagnoser> {
    let linker = crate::cmd::kg::linker_if_available(g)?
        .context("diagnose needs the vocabularies: run `clinrag setup` first")?;
    let rare = match crate::cmd::rare::load_index(g, IndexConfig::default()) {
        Ok(i) => Some(Arc::new(i)),
        Err(e) => {
            tracing::warn!("no rare-disease ranking: {e:#}");
            None
        }
    };
    let asker = Asker::new(Arc::new(crate::store::searcher(g)?), AskerConfig::default())
        .with_catalog(Some(crate::store::catalog(g).await?));
    Ok(Diagnoser::new(Arc::new(asker), Arc::new(linker), rare))
}

/// Runs `clinrag diagnose`.
pub async fn run(g: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let case = match (&args.case, &args.file) {
        (Some(c), _) => c.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the case file {}", f.display()))?,
        (None, None) => anyhow::bail!("give the case text or --file"),
    };
    let d = diagnoser(g).await?.diagnose(&case, args.k).await?;
    print(g, &d)?;
    Ok(if d.differential.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints a differential (JSON or text).
pub fn print(g: &Global, d: &Diagnosis) -> anyhow::Result<()> {
    if g.json {
        println!("{}", serde_json::to_string(d)?);
        return Ok(());
    }
    println!("Findings:");
    for f in &d.findings {
        println!(
            "  {}{} → {} {}",
            if f.negated { "no " } else { "" },
            f.text,
            f.concept_id,
            f.label
        );
    }
    println!("Differential:");
    for item in &d.differential {
        println!(
            "  {}. {} {} ({}, score {:.2})",
            item.rank, item.id, item.name, item.source, item.score
        );
        for e in &item.evidence_for {
            println!("      + {e}");
        }
        for e in &item.evidence_against {
            println!("      - {e}");
        }
        for c in &item.citations {
            println!("      cites {} chars {}–{}", c.doc_id, c.start, c.end);
        }
    }
    for n in &d.notes {
        eprintln!("note: {n}");
    }
    Ok(())
}
