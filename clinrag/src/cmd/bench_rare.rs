//! `clinrag bench rare`: start-up time and milliseconds per case of the rare-disease ranking
//! (all OMIM and ORPHA diseases scored, top 10 explained), single-threaded.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clinrag_phenotype::{SimConfig, simulate};

/// Benchmark the rare-disease ranking.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSONL cases (default: simulated cases).
    #[arg(long)]
    pub cases: Option<PathBuf>,
    /// Number of simulated cases when --cases is not given.
    #[arg(long, default_value_t = 200)]
    pub n: usize,
    /// Seed of the simulated cases.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Passes over the cases (after one warm-up pass).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Candidates explained per case.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    #[command(flatten)]
    pub scoring: super::rare::ScoringArgs,
}

/// CPU time of the calling thread in nanoseconds (Linux), to separate work from waiting on a busy machine.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `clinrag bench rare`.
pub async fn run(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || run_blocking(&g, args))
        .await
        .context("the benchmark thread failed")?
}

fn run_blocking(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = args.scoring.config()?;
    let t0 = Instant::now();
    let idx = super::rare::load_index(g, args.scoring.index_config()?)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let cases = match &args.cases {
        Some(p) => super::eval_rare::read_cases(p)?.0,
        None => simulate(
            &idx,
            &SimConfig {
                seed: args.seed,
                cases: args.n,
                ..SimConfig::default()
            },
        ),
    };
    let queries: Vec<_> = cases
        .iter()
        .filter_map(|c| idx.prepare(&c.present, &c.excluded).ok())
        .collect();
    if queries.is_empty() {
        anyhow::bail!("no usable case to benchmark");
    }
    // warm-up pass
    for q in &queries {
        std::hint::black_box(idx.rank(q, &cfg, args.k));
    }
    let mut wall = Vec::with_capacity(queries.len() * args.repeat.max(1));
    let cpu0 = thread_cpu_ns();
    let t = Instant::now();
    for _ in 0..args.repeat.max(1) {
        for q in &queries {
            let s = Instant::now();
            std::hint::black_box(idx.rank(q, &cfg, args.k));
            wall.push(s.elapsed().as_secs_f64() * 1e3);
        }
    }
    let total_ms = t.elapsed().as_secs_f64() * 1e3;
    let cpu_ms_per_case = cpu0
        .zip(thread_cpu_ns())
        .map(|(a, b)| (b.saturating_sub(a)) as f64 / 1e6 / wall.len() as f64);
    wall.sort_by(f64::total_cmp);
    let mean = total_ms / wall.len() as f64;
    let terms: f64 = queries
        .iter()
        .map(|q| q.present_ids.len() as f64)
        .sum::<f64>()
        / queries.len() as f64;
    let stats = idx.stats();
    let out = serde_json::json!({
        "scheme": cfg.scheme,
        "diseases": idx.len(),
        "cases": queries.len(),
        "repeat": args.repeat.max(1),
        "mean_present_terms": terms,
        "ms_per_case": { "mean": mean, "p50": percentile(&wall, 0.5), "p95": percentile(&wall, 0.95), "max": percentile(&wall, 1.0) },
        "cpu_ms_per_case": cpu_ms_per_case,
        "load_ms": load_ms,
        "index": stats,
        "threads": 1,
    });
    if g.json {
        println!("{out}");
    } else {
        println!(
            "rare ranking ({:?}): {} cases x {} passes over {} diseases, {:.1} present terms per case",
            cfg.scheme,
            queries.len(),
            args.repeat.max(1),
            idx.len(),
            terms
        );
        println!(
            "  ms per case: mean {:.2}  p50 {:.2}  p95 {:.2}  max {:.2}  (thread CPU {:.2})",
            mean,
            percentile(&wall, 0.5),
            percentile(&wall, 0.95),
            percentile(&wall, 1.0),
            cpu_ms_per_case.unwrap_or(f64::NAN)
        );
        println!(
            "  start-up: {:.0} ms (hp.obo {:.0} ms, phenotype.hpoa {:.0} ms, index {:.0} ms)",
            load_ms, stats.ontology_ms, stats.annotations_ms, stats.build_ms
        );
    }
    Ok(ExitCode::SUCCESS)
}
