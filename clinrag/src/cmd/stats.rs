//! `clinrag stats`: documents, chunks and index sizes; `clinrag check [--repair]`: catalog and
//! keyword index agree, or are made to; `clinrag rm ID...`: remove documents everywhere.

use std::process::ExitCode;

use crate::Global;

/// Runs `clinrag stats`.
pub async fn stats(g: &Global) -> anyhow::Result<ExitCode> {
    let catalog = crate::store::catalog(g).await?;
    let cs = catalog.stats().await?;
    let ks = crate::store::keyword(g)?.stats()?;
    let catalog_bytes = ["catalog.db", "catalog.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(g.path(f)).ok())
        .map(|m| m.len())
        .sum::<u64>();
    if g.json {
        println!(
            "{}",
            serde_json::json!({"catalog": cs, "catalog_backend": catalog.backend_name(),
                "catalog_bytes": catalog_bytes, "keyword_index": ks, "home": g.home})
        );
    } else {
        println!("home: {}", g.home.display());
        println!(
            "catalog ({}): {} documents, {} chunks, {} ingest runs, {} failures recorded, {:.1} MB",
            catalog.backend_name(),
            cs.documents,
            cs.chunks,
            cs.runs,
            cs.failures,
            catalog_bytes as f64 / 1e6
        );
        let mut by: Vec<_> = cs.by_source.iter().collect();
        by.sort();
        for (s, n) in by {
            println!("  {s}: {n}");
        }
        if cs.pending_index > 0 {
            println!(
                "  {} documents wait for the keyword index (interrupted run; the next ingest finishes it)",
                cs.pending_index
            );
        }
        println!(
            "keyword index: {} chunks in {} segments, {:.1} MB",
            ks.chunks,
            ks.segments,
            ks.bytes as f64 / 1e6
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `clinrag check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Re-derive the keyword index from the catalog when they disagree.
    #[arg(long)]
    repair: bool,
}

/// Runs `clinrag check`.
pub async fn check(g: &Global, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let ing = crate::store::ingestor(g, Default::default(), false).await?;
    let mut report = ing.check().await?;
    let mut repaired = None;
    if args.repair && !report.is_consistent() {
        repaired = Some(ing.rebuild_index().await?);
        report = ing.check().await?;
    }
    if g.json {
        println!(
            "{}",
            serde_json::json!({"consistent": report.is_consistent(), "report": report, "repaired": repaired})
        );
    } else {
        println!(
            "catalog {} documents, keyword index {} documents: {}",
            report.catalog_documents,
            report.index_documents,
            if report.is_consistent() {
                "consistent"
            } else {
                "INCONSISTENT"
            }
        );
        for (what, v) in [
            ("missing from the index", &report.missing_from_index),
            ("in the index only", &report.orphans_in_index),
            ("chunk counts differ", &report.chunk_mismatches),
        ] {
            if !v.is_empty() {
                println!("  {} {what} (e.g. {})", v.len(), v[0]);
            }
        }
        if let Some(r) = repaired {
            println!("repaired: {} documents re-indexed", r.reindexed);
        }
    }
    Ok(if report.is_consistent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Arguments of `clinrag rm`.
#[derive(clap::Args)]
pub struct RmArgs {
    /// Document ids.
    #[arg(required = true)]
    ids: Vec<String>,
}

/// Runs `clinrag rm`.
pub async fn rm(g: &Global, args: RmArgs) -> anyhow::Result<ExitCode> {
    let ing = crate::store::ingestor(g, Default::default(), false).await?;
    let mut removed = Vec::new();
    let mut missing = Vec::new();
    for id in &args.ids {
        if ing.remove(id).await? {
            removed.push(id.clone());
        } else {
            missing.push(id.clone());
        }
    }
    if g.json {
        println!(
            "{}",
            serde_json::json!({"removed": removed, "not_found": missing})
        );
    } else {
        for id in &removed {
            println!("removed {id}");
        }
        for id in &missing {
            eprintln!("no such document: {id}");
        }
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
