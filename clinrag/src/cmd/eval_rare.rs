//! `clinrag eval rare`: top-1/3/10 accuracy, median rank and calibration of the rare-disease ranking on
//! labelled JSONL cases (`{"present":[..],"excluded":[..],"disease":"OMIM:n"}`) or a simulated set.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clinrag_phenotype::{Case, EvalReport, RankConfig, Scheme, SimConfig, evaluate, simulate};

/// Evaluate the rare-disease ranking.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSONL cases: {"present":[HP ids],"excluded":[HP ids],"disease":"OMIM:n"|"ORPHA:n"}.
    #[arg(long, required_unless_present = "simulate")]
    pub cases: Option<PathBuf>,
    /// Evaluate on N simulated cases instead (see `clinrag rare simulate`).
    #[arg(long, conflicts_with = "cases")]
    pub simulate: Option<usize>,
    /// Seed for --simulate.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Scheme(s): lr, bma or both (side by side on the same cases).
    #[arg(long, default_value = "both")]
    pub schemes: String,
    #[command(flatten)]
    pub scoring: super::rare::ScoringArgs,
}

/// Reads JSONL cases; a bad line is reported and skipped.
pub fn read_cases(path: &std::path::Path) -> anyhow::Result<(Vec<Case>, Vec<String>)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut cases = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: cannot read", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Case>(&line) {
            Ok(c) => cases.push(c),
            Err(e) => bad.push(format!("{}:{}: {e}", path.display(), n + 1)),
        }
    }
    Ok((cases, bad))
}

/// Runs `clinrag eval rare`.
pub async fn run(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || run_blocking(&g, args))
        .await
        .context("the evaluation thread failed")?
}

fn run_blocking(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let base = args.scoring.config()?;
    let schemes: Vec<Scheme> = match args.schemes.as_str() {
        "both" => vec![Scheme::LikelihoodRatio, Scheme::BestMatchAverage],
        s => vec![s.parse().map_err(anyhow::Error::msg)?],
    };
    let idx = super::rare::load_index(g, args.scoring.index_config()?)?;
    let (cases, bad_lines, source) = match (&args.cases, args.simulate) {
        (Some(p), _) => {
            let (c, b) = read_cases(p)?;
            (c, b, p.display().to_string())
        }
        (None, Some(n)) => {
            let cfg = SimConfig {
                seed: args.seed,
                cases: n,
                ..SimConfig::default()
            };
            (
                simulate(&idx, &cfg),
                Vec::new(),
                format!("simulated: {n} cases, seed {}", args.seed),
            )
        }
        (None, None) => anyhow::bail!("pass --cases FILE.jsonl or --simulate N"),
    };
    if cases.is_empty() {
        anyhow::bail!("no usable case in {source} ({} bad lines)", bad_lines.len());
    }
    let reports: Vec<EvalReport> = schemes
        .iter()
        .map(|&scheme| evaluate(&idx, &cases, &RankConfig { scheme, ..base }))
        .collect();
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "cases": source,
                "bad_lines": bad_lines,
                "diseases": idx.len(),
                "reports": reports,
            })
        );
    } else {
        for b in &bad_lines {
            eprintln!("skipped: {b}");
        }
        println!("cases: {source} ({} diseases ranked per case)", idx.len());
        println!(
            "{:<18} {:>5} {:>6} {:>6} {:>6} {:>7} {:>6} {:>8}",
            "scheme", "n", "top1", "top3", "top10", "median", "MRR", "ms/case"
        );
        for r in &reports {
            let name = match r.scheme {
                Scheme::LikelihoodRatio => "likelihood ratio",
                Scheme::BestMatchAverage => "Resnik BMA",
            };
            println!(
                "{:<18} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>7.1} {:>6.3} {:>8.2}",
                name, r.evaluated, r.top1, r.top3, r.top10, r.median_rank, r.mrr, r.ms_per_case
            );
            for s in r.skipped.iter().take(5) {
                eprintln!("  skipped: {s}");
            }
        }
        if let Some(r) = reports.iter().find(|r| !r.calibration.is_empty()) {
            println!("calibration of the top-1 posterior (likelihood ratio):");
            for b in &r.calibration {
                println!(
                    "  [{:.1},{:.1})  n={:<4} mean posterior {:.3}  top-1 accuracy {:.3}",
                    b.lo, b.hi, b.cases, b.mean_posterior, b.top1_accuracy
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
