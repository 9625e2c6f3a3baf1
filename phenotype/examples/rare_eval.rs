//! Development tool: simulate cases from the full HPO data and evaluate ranking settings side by side.
//!
//! `cargo run --release -p clinrag-phenotype --example rare_eval -- HOME [SEED] [N] [key=value ...]`
//! keys: noise, hallmark_weight, hallmark_frequency, excluded_floor, unspecified, weighted_ic (0/1),
//! write=FILE (write the simulated cases as JSONL).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;

use clinrag_phenotype::{
    IndexConfig, RankConfig, RareIndex, Scheme, SimConfig, evaluate, simulate,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let home = PathBuf::from(
        args.first()
            .cloned()
            .unwrap_or_else(|| "/tmp/clinrag-home".into()),
    );
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(42);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);
    let mut icfg = IndexConfig::default();
    let mut rcfg = RankConfig::default();
    let mut write = None;
    for kv in args.iter().skip(3) {
        let (k, v) = kv.split_once('=').expect("key=value");
        match k {
            "noise" => rcfg.noise = v.parse().unwrap(),
            "hallmark_weight" => rcfg.hallmark_weight = v.parse().unwrap(),
            "hallmark_frequency" => rcfg.hallmark_frequency = v.parse().unwrap(),
            "excluded_floor" => rcfg.excluded_floor = v.parse().unwrap(),
            "unspecified" => icfg.unspecified_frequency = v.parse().unwrap(),
            "weighted_ic" => icfg.frequency_weighted_ic = v == "1",
            "sampling_aware" => rcfg.sampling_aware = v == "1",
            "partial" => rcfg.partial_match = v.parse().unwrap(),
            "write" => write = Some(v.to_string()),
            _ => panic!("unknown key {k}"),
        }
    }
    let t = std::time::Instant::now();
    let idx = RareIndex::load(
        &home.join("vocab/hpo/hp.obo"),
        &home.join("vocab/hpo/phenotype.hpoa"),
        icfg,
    )
    .unwrap();
    eprintln!("load {:?} {:?}", t.elapsed(), idx.stats());
    let cases = simulate(
        &idx,
        &SimConfig {
            seed,
            cases: n,
            ..SimConfig::default()
        },
    );
    if let Some(w) = write {
        let mut f = std::fs::File::create(w).unwrap();
        for c in &cases {
            writeln!(f, "{}", serde_json::to_string(c).unwrap()).unwrap();
        }
    }
    for scheme in [Scheme::LikelihoodRatio, Scheme::BestMatchAverage] {
        let r = evaluate(&idx, &cases, &RankConfig { scheme, ..rcfg });
        println!(
            "{:?} top1 {:.3} top3 {:.3} top10 {:.3} median {:.1} mrr {:.3} ms/case {:.2} skipped {}",
            scheme,
            r.top1,
            r.top3,
            r.top10,
            r.median_rank,
            r.mrr,
            r.ms_per_case,
            r.skipped.len()
        );
        if scheme == Scheme::LikelihoodRatio {
            println!(
                "  calibration {}",
                serde_json::to_string(&r.calibration).unwrap()
            );
        }
    }
}
