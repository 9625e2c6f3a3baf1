//! Baseline: rank all OMIM and ORPHA diseases with the `hpo` crate's FunSimAvg set similarity
//! (GraphIC term similarity, OMIM information content) on the same JSONL cases as `clinrag eval rare`.
//!
//! `cargo run --release -p clinrag-phenotype --example hpo_baseline -- HPO_DIR CASES.jsonl [LIMIT]`
//! (`HPO_DIR` holds `hp.obo`, `phenotype.hpoa`, `genes_to_phenotype.txt`). Prints one JSON object.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;

use hpo::annotations::Disease;
use hpo::similarity::{Builtins, StandardCombiner};
use hpo::term::{HpoGroup, InformationContentKind};
use hpo::{HpoSet, HpoTermId, Ontology};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().expect("HPO_DIR");
    let cases_path = args.get(1).expect("CASES.jsonl");
    let limit: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let t = std::time::Instant::now();
    let ont = Ontology::from_standard(dir).expect("hpo crate cannot load the HPO folder");
    let load_s = t.elapsed().as_secs_f64();
    let mut diseases: Vec<(String, HpoSet)> = Vec::new();
    for d in ont.omim_diseases() {
        diseases.push((d.id().to_string(), d.to_hpo_set(&ont)));
    }
    for d in ont.orpha_diseases() {
        diseases.push((d.id().to_string(), d.to_hpo_set(&ont)));
    }
    // deterministic order (the crate's maps are hash maps)
    diseases.sort_by(|a, b| a.0.cmp(&b.0));
    let file = std::fs::File::open(cases_path).expect("cases file");
    let mut ranks = Vec::new();
    let mut skipped = 0usize;
    let mut n = 0usize;
    let t = std::time::Instant::now();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.unwrap();
        if line.trim().is_empty() {
            continue;
        }
        if n >= limit {
            break;
        }
        n += 1;
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let truth = v["disease"].as_str().unwrap_or_default().to_string();
        let mut group = HpoGroup::new();
        for p in v["present"].as_array().into_iter().flatten() {
            if let Some(id) = p.as_str().and_then(|s| HpoTermId::try_from(s).ok())
                && ont.hpo(id).is_some()
            {
                group.insert(id);
            }
        }
        let patient = HpoSet::new(&ont, group);
        let scores: Vec<f32> = diseases
            .iter()
            .map(|(_, set)| {
                patient.similarity(
                    set,
                    Builtins::GraphIc(InformationContentKind::Omim),
                    StandardCombiner::FunSimAvg,
                )
            })
            .collect();
        let Some(ti) = diseases.iter().position(|(id, _)| *id == truth) else {
            skipped += 1;
            continue;
        };
        let s = scores[ti];
        let gt = scores.iter().filter(|&&x| x > s).count();
        let eq = scores.iter().filter(|&&x| x == s).count();
        ranks.push(1.0 + gt as f64 + (eq.saturating_sub(1)) as f64 / 2.0);
    }
    let ms_per_case = t.elapsed().as_secs_f64() * 1e3 / n.max(1) as f64;
    let m = ranks.len().max(1) as f64;
    let frac = |k: f64| ranks.iter().filter(|&&r| r <= k).count() as f64 / m;
    let mut sorted = ranks.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() {
        f64::NAN
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        0.5 * (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2])
    };
    let mrr = ranks.iter().map(|r| 1.0 / r).sum::<f64>() / m;
    println!(
        "{}",
        serde_json::json!({
            "baseline": "hpo 0.12 FunSimAvg (GraphIc, OMIM IC)",
            "diseases": diseases.len(),
            "cases": n,
            "evaluated": ranks.len(),
            "skipped": skipped,
            "top1": frac(1.0),
            "top3": frac(3.0),
            "top10": frac(10.0),
            "median_rank": median,
            "mrr": mrr,
            "ms_per_case": ms_per_case,
            "load_s": load_s,
        })
    );
}
