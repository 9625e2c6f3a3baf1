//! `clinrag code icd10cm|atc "TEXT"`: assign ICD-10-CM diagnosis codes or ATC drug codes to
//! free text, with evidence spans (char offsets) and rationales; `--batch` for JSONL; and
//! `eval_coding` behind `clinrag eval coding --cases FILE.jsonl`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clinrag_coding::{AtcCoder, Coding, IcdCoder, eval};

/// Assign ICD-10-CM or ATC codes to clinical text.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub system: System,
}

/// The code system.
#[derive(clap::Subcommand, Debug)]
pub enum System {
    /// ICD-10-CM diagnosis codes (billable leaves of the FY2026 tabular).
    Icd10cm(CodeArgs),
    /// ATC level-5 drug codes.
    Atc(CodeArgs),
}

/// Options of `code icd10cm` and `code atc`.
#[derive(clap::Args, Debug)]
pub struct CodeArgs {
    /// The text to code (a phrase or a note).
    pub text: Option<String>,
    /// Read the text from a file instead.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Number of codes at most (problems of the text are always listed).
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Codes the caller suspects (ICD-10-CM only); unknown codes are reported and ignored.
    #[arg(long, value_delimiter = ',')]
    pub hint: Vec<String>,
    /// JSONL requests, one per line: {"id", "text", "k"?, "hints"?}.
    #[arg(long)]
    pub batch: Option<PathBuf>,
}

/// Options of `clinrag eval coding`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// JSONL cases `{"text","gold":[codes],"kind"?}`.
    #[arg(long)]
    pub cases: PathBuf,
    /// `icd10cm` or `atc`; default: guessed from the gold codes.
    #[arg(long)]
    pub system: Option<String>,
    /// Print up to this many misses (top-1 wrong) to stderr.
    #[arg(long, default_value_t = 0)]
    pub show_misses: usize,
}

enum Coder {
    Icd(IcdCoder),
    Atc(AtcCoder),
}

impl Coder {
    fn load(g: &crate::Global, atc: bool) -> anyhow::Result<Self> {
        let t = Instant::now();
        let c = if atc {
            Coder::Atc(AtcCoder::load(&g.home).context(
                "loading the ATC classification and drug names (run `clinrag setup` first)",
            )?)
        } else {
            Coder::Icd(
                IcdCoder::load(&g.home)
                    .context("loading the ICD-10-CM tabular (run `clinrag setup` first)")?,
            )
        };
        tracing::info!(ms = t.elapsed().as_millis() as u64, "coder loaded");
        Ok(c)
    }

    fn code(&mut self, text: &str, k: usize, hints: &[String]) -> Coding {
        match self {
            Coder::Icd(c) => {
                c.options.k = k;
                c.code_with(text, hints, None)
            }
            Coder::Atc(c) => {
                c.options.k = k;
                let mut out = c.code(text);
                for h in hints {
                    out.warnings
                        .push(format!("hint {h:?} ignored: hints apply to ICD-10-CM only"));
                }
                out
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct Request {
    #[serde(default)]
    id: serde_json::Value,
    text: String,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    hints: Vec<String>,
}

/// Runs `clinrag code ...`.
pub async fn run(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || run_blocking(&g, args))
        .await
        .context("coding thread failed")?
}

fn run_blocking(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let (atc, a) = match args.system {
        System::Icd10cm(a) => (false, a),
        System::Atc(a) => (true, a),
    };
    if a.batch.is_none() && a.text.is_none() && a.file.is_none() {
        anyhow::bail!("no text given: pass \"TEXT\", --file NOTE or --batch FILE.jsonl");
    }
    let mut coder = Coder::load(g, atc)?;
    if let Some(batch) = &a.batch {
        return run_batch(&mut coder, batch, a.k);
    }
    let text = match (&a.text, &a.file) {
        (_, Some(f)) => {
            let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        (Some(t), None) => t.clone(),
        (None, None) => String::new(),
    };
    let t = Instant::now();
    let coding = coder.code(&text, a.k, &a.hint);
    tracing::info!(ms = t.elapsed().as_secs_f64() * 1000.0, "coded");
    if g.json {
        println!("{}", serde_json::to_string(&coding)?);
    } else {
        print_human(&coding);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(c: &Coding) {
    for w in &c.warnings {
        eprintln!("note: {w}");
    }
    for r in &c.codes {
        let ev: Vec<String> = r
            .evidence
            .iter()
            .map(|e| format!("{:?} [{}..{}]", e.text, e.start, e.end))
            .collect();
        println!(
            "{:<9} {:.3} {}{}",
            r.code,
            r.score,
            r.title,
            if r.primary { "" } else { "  (alternative)" }
        );
        if !ev.is_empty() {
            println!("          evidence: {}", ev.join(", "));
        }
        println!("          why: {}", r.rationale);
        for n in &r.notes {
            println!("          {n}");
        }
    }
}

fn run_batch(coder: &mut Coder, path: &Path, k: usize) -> anyhow::Result<ExitCode> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: cannot read", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = match serde_json::from_str::<Request>(&line) {
            Ok(req) => {
                let coding = coder.code(&req.text, req.k.unwrap_or(k), &req.hints);
                let mut v = serde_json::to_value(&coding)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("id".into(), req.id);
                }
                v
            }
            Err(e) => crate::store::bad_batch_line(&line, n, e),
        };
        writeln!(out, "{v}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn looks_atc(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 7
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3].is_ascii_uppercase()
        && b[4].is_ascii_uppercase()
}

/// Runs `clinrag eval coding --cases FILE.jsonl`: exact top-1, top-5 and category accuracy,
/// per `kind` and overall, with the latency per case.
pub async fn eval_coding(g: &crate::Global, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || eval_blocking(&g, args))
        .await
        .context("evaluation thread failed")?
}

fn eval_blocking(g: &crate::Global, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let cases = eval::read_cases(&args.cases)?;
    let atc = match args.system.as_deref() {
        Some("atc") => true,
        Some("icd10cm") | Some("icd-10-cm") => false,
        Some(other) => anyhow::bail!("unknown system {other:?}: use icd10cm or atc"),
        None => cases.iter().flat_map(|c| &c.gold).any(|g| looks_atc(g)),
    };
    let t = Instant::now();
    let mut coder = Coder::load(g, atc)?;
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let report = eval::evaluate(&cases, |text| coder_code(&mut coder, text));
    for (text, gold, pred) in report.misses.iter().take(args.show_misses) {
        eprintln!("miss: {text:?} gold {gold:?} got {pred:?}");
    }
    let system = if atc { "ATC" } else { "ICD-10-CM" };
    if g.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("system".into(), system.into());
            o.insert("load_ms".into(), load_ms.into());
            o.insert("cases_file".into(), args.cases.display().to_string().into());
        }
        println!("{v}");
    } else {
        let s = &report.overall;
        println!("{system}: {} cases, load {load_ms:.0} ms", s.n);
        println!(
            "  overall  top-1 {:.3}  top-5 {:.3}  category {:.3}  mean {:.2} ms  p95 {:.2} ms",
            s.top1, s.top5, s.category, s.mean_ms, s.p95_ms
        );
        for (k, s) in &report.by_kind {
            println!(
                "  {k:<12} n={:<4} top-1 {:.3}  top-5 {:.3}  category {:.3}",
                s.n, s.top1, s.top5, s.category
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn coder_code(coder: &mut Coder, text: &str) -> Coding {
    coder.code(text, 10, &[])
}
