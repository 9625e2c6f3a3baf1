//! Runs the coders over the development sets on a clinrag home and prints the report:
//! `cargo run --release -p clinrag-coding --example code_eval -- HOME [FILE.jsonl...]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let home = Path::new(
        args.first()
            .map(String::as_str)
            .unwrap_or("/tmp/clinrag-home"),
    );
    let t = Instant::now();
    let (mut icd, source) = clinrag_coding::IcdCoder::load_cached(home).unwrap();
    if std::env::var_os("CODING_NO_LEXICON").is_some() {
        icd.options.lexicon = false;
        eprintln!("lexicon off (ablation)");
    }
    if std::env::var_os("CODING_NO_LAY").is_some() {
        icd.options.lay_terms = false;
        eprintln!("HPO lay terms off (ablation)");
    }
    eprintln!(
        "ICD-10-CM coder: {} billable leaves, {} HPO lay terms, loaded in {:.2?} ({source:?})",
        icd.leaf_count(),
        icd.lay_term_count(),
        t.elapsed()
    );
    let t = Instant::now();
    let need_atc = args.iter().any(|a| a.contains("atc"));
    let atc = if need_atc {
        clinrag_coding::AtcCoder::load(home).unwrap()
    } else {
        clinrag_coding::AtcCoder::new(
            &clinrag_kg::Atc {
                codes: vec![],
                report: clinrag_kg::LoadReport::new("none"),
            },
            None,
        )
    };
    eprintln!("ATC coder loaded in {:.2?}", t.elapsed());
    for f in args.iter().skip(1) {
        if f.ends_with(".jsonl") {
            let cases = clinrag_coding::eval::read_cases(Path::new(f)).unwrap();
            let report = if f.contains("atc") {
                clinrag_coding::eval::evaluate(&cases, |t| atc.code(t))
            } else {
                clinrag_coding::eval::evaluate(&cases, |t| icd.code(t))
            };
            println!("{f}\n{}", serde_json::to_string_pretty(&report).unwrap());
        } else {
            let c = match f.strip_prefix("atc:") {
                Some(t) => atc.code(t),
                None => icd.code(f),
            };
            println!("{}", serde_json::to_string_pretty(&c).unwrap());
        }
    }
}
