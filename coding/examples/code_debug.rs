//! Prints the ranked ICD-10-CM candidates of phrases with their scores and rationales (the
//! best-matching view), for reading why a phrase got its code:
//! `cargo run -p clinrag-coding --example code_debug -- HOME "PHRASE"...`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(home) = args.first() else {
        eprintln!("usage: code_debug HOME PHRASE...");
        std::process::exit(2);
    };
    let icd = clinrag_coding::IcdCoder::load(Path::new(home)).unwrap();
    for phrase in &args[1..] {
        println!("== {phrase}");
        let c = icd.code(phrase);
        for r in c.codes.iter().take(8) {
            println!(
                "  {:<9} {:.4} {} | {} | {}",
                r.code,
                r.score,
                if r.primary { "P" } else { " " },
                r.title,
                r.rationale
            );
        }
        for w in &c.warnings {
            println!("  warning: {w}");
        }
    }
}
