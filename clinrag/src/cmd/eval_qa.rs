//! `clinrag eval qa --questions FILE.jsonl [--off-corpus FILE.jsonl]`: question answering
//! quality: recall of the gold documents among the cited ones, citation validity (re-checked
//! against the catalog, must be 100%), share of sentences supported, abstention on questions
//! the corpus cannot answer, and latency per stage.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clinrag_agents::{Answer, AskRequest, Verifier};
use clinrag_retrieval::{Catalog, char_slice};

use crate::Global;

/// Arguments of `clinrag eval qa`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL: `question` (or `text`), `gold_pmids` or `gold_doc_ids`, optional `answerable`.
    #[arg(long)]
    questions: PathBuf,
    /// JSONL of questions the corpus cannot answer (`answerable` false unless stated).
    #[arg(long)]
    off_corpus: Option<PathBuf>,
    /// Only the first N questions of `--questions`.
    #[arg(long)]
    limit: Option<usize>,
    /// Write one JSON line per question (answer summary) to this file.
    #[arg(long)]
    details: Option<PathBuf>,
    #[command(flatten)]
    asker: crate::cmd::ask::AskerArgs,
}

struct Q {
    id: String,
    question: String,
    gold: BTreeSet<String>,
    answerable: bool,
}

fn load(path: &Path, default_answerable: bool, limit: Option<usize>) -> anyhow::Result<Vec<Q>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not JSON", path.display(), i + 1))?;
        let question = v
            .get("question")
            .or_else(|| v.get("text"))
            .and_then(|q| q.as_str())
            .with_context(|| format!("{} line {}: no \"question\"", path.display(), i + 1))?
            .to_string();
        let mut gold = BTreeSet::new();
        for (key, prefix) in [("gold_pmids", "PMID:"), ("gold_doc_ids", "")] {
            for g in v.get(key).and_then(|g| g.as_array()).into_iter().flatten() {
                if let Some(s) = g.as_str() {
                    gold.insert(format!("{prefix}{s}"));
                }
            }
        }
        let id = v
            .get("qid")
            .or_else(|| v.get("id"))
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .unwrap_or_else(|| format!("line {}", i + 1));
        let answerable = v
            .get("answerable")
            .and_then(|a| a.as_bool())
            .unwrap_or(default_answerable);
        out.push(Q {
            id,
            question,
            gold,
            answerable,
        });
    }
    Ok(out)
}

#[derive(Default)]
struct Lat {
    retrieve: Vec<f64>,
    select: Vec<f64>,
    generate: Vec<f64>,
    verify: Vec<f64>,
    total: Vec<f64>,
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((s.len() - 1) as f64 * p).round() as usize;
    s[i.min(s.len() - 1)]
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Re-checks every citation against the stored document text (not the passages the answer
/// carries); returns (valid, total).
async fn check_citations(a: &Answer, catalog: &Catalog) -> anyhow::Result<(usize, usize)> {
    let (mut ok, mut n) = (0, 0);
    for s in &a.sentences {
        for c in &s.citations {
            n += 1;
            let in_evidence = a.evidence.iter().any(|p| {
                p.n == c.passage && p.doc_id == c.doc_id && p.start <= c.start && c.end <= p.end
            });
            let stored = catalog.document(&c.doc_id).await?;
            let exact = stored
                .as_ref()
                .and_then(|d| char_slice(&d.body, c.start, c.end))
                == Some(c.quote.as_str());
            if in_evidence && exact && c.start < c.end {
                ok += 1;
            }
        }
    }
    Ok((ok, n))
}

/// Runs `clinrag eval qa`.
pub async fn run(g: &Global, a: Args) -> anyhow::Result<ExitCode> {
    let mut qs = load(&a.questions, true, a.limit)?;
    if let Some(off) = &a.off_corpus {
        qs.extend(load(off, false, None)?);
    }
    let asker = a.asker.build(g).await?;
    let catalog = crate::store::catalog(g).await?;
    let mut details = match &a.details {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };

    let (mut n_ans, mut n_off) = (0usize, 0usize);
    let (mut abst_ans, mut abst_off) = (0usize, 0usize);
    let mut recall_sum = 0.0;
    let mut hit_any = 0usize;
    let mut precision_sum = 0.0;
    let mut n_answered_gold = 0usize;
    let mut evidence_recall_sum = 0.0;
    let mut n_gold = 0usize;
    let (mut cit_ok, mut cit_n) = (0usize, 0usize);
    let (mut sent_supported, mut sent_n) = (0usize, 0usize);
    let mut removed = 0usize;
    let mut fallbacks = 0usize;
    let mut lat = Lat::default();
    let mut errors = 0usize;
    let verifier_threshold = asker.config.min_support;

    for (i, q) in qs.iter().enumerate() {
        let ans = match asker.ask_collect(AskRequest::new(q.question.clone())).await {
            Ok(x) => x,
            Err(e) => {
                errors += 1;
                eprintln!("{}: error: {e}", q.id);
                continue;
            }
        };
        if (i + 1) % 10 == 0 && !g.json {
            eprintln!("{} / {} questions", i + 1, qs.len());
        }
        lat.retrieve.push(ans.timings.retrieve_ms);
        lat.select.push(ans.timings.select_ms);
        lat.generate.push(ans.timings.generate_ms);
        lat.verify.push(ans.timings.verify_ms);
        lat.total.push(ans.timings.total_ms);
        let (ok, n) = check_citations(&ans, &catalog).await?;
        cit_ok += ok;
        cit_n += n;
        // Support re-scored independently of the answer's own figures.
        let v = {
            let mut v = Verifier::new(&ans.evidence, asker.linker().map(|l| l.as_ref()));
            v.min_support = verifier_threshold;
            v
        };
        for s in &ans.sentences {
            sent_n += 1;
            let quotes: Vec<&str> = s.citations.iter().map(|c| c.quote.as_str()).collect();
            if v.support(&s.text, &quotes) >= verifier_threshold {
                sent_supported += 1;
            }
        }
        removed += ans.removed.len();
        fallbacks += usize::from(ans.fallback);
        let cited: BTreeSet<String> = ans
            .sentences
            .iter()
            .flat_map(|s| s.citations.iter().map(|c| c.doc_id.clone()))
            .collect();
        if q.answerable {
            n_ans += 1;
            abst_ans += usize::from(ans.abstained);
            if !q.gold.is_empty() {
                n_gold += 1;
                let ev: BTreeSet<&str> = ans.evidence.iter().map(|p| p.doc_id.as_str()).collect();
                evidence_recall_sum += q.gold.iter().filter(|d| ev.contains(d.as_str())).count()
                    as f64
                    / q.gold.len() as f64;
                let inter = q.gold.intersection(&cited).count();
                recall_sum += inter as f64 / q.gold.len() as f64;
                hit_any += usize::from(inter > 0);
                if !cited.is_empty() {
                    n_answered_gold += 1;
                    precision_sum += inter as f64 / cited.len() as f64;
                }
            }
        } else {
            n_off += 1;
            abst_off += usize::from(ans.abstained);
        }
        if let Some(w) = details.as_mut() {
            use std::io::Write;
            let line = serde_json::json!({
                "id": q.id,
                "answerable": q.answerable,
                "abstained": ans.abstained,
                "abstain_reason": ans.abstain_reason,
                "cited": cited,
                "gold": q.gold,
                "answer": ans.answer,
                "timings": ans.timings,
            });
            writeln!(w, "{line}")?;
        }
    }

    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let lat_json =
        |v: &[f64]| serde_json::json!({"mean": mean(v), "p50": pct(v, 0.5), "p95": pct(v, 0.95)});
    let report = serde_json::json!({
        "questions": qs.len(),
        "answerable": n_ans,
        "off_corpus": n_off,
        "errors": errors,
        "cited_gold_recall": if n_gold == 0 { 0.0 } else { recall_sum / n_gold as f64 },
        "cited_gold_hit_rate": ratio(hit_any, n_gold),
        "cited_precision_when_answered": if n_answered_gold == 0 { 0.0 } else { precision_sum / n_answered_gold as f64 },
        "evidence_gold_recall": if n_gold == 0 { 0.0 } else { evidence_recall_sum / n_gold as f64 },
        "citation_validity": if cit_n == 0 { 1.0 } else { ratio(cit_ok, cit_n) },
        "citations": cit_n,
        "sentences": sent_n,
        "sentences_supported": ratio(sent_supported, sent_n),
        "removed_by_verifier": removed,
        "generative_fallbacks": fallbacks,
        "abstention_answerable": ratio(abst_ans, n_ans),
        "abstention_off_corpus": ratio(abst_off, n_off),
        "latency_ms": {
            "retrieve": lat_json(&lat.retrieve),
            "select": lat_json(&lat.select),
            "generate": lat_json(&lat.generate),
            "verify": lat_json(&lat.verify),
            "total": lat_json(&lat.total),
        },
        "model": asker.model().map(|m| m.info()),
        "style": asker.config.style,
        "k": asker.config.k,
        "min_support": asker.config.min_support,
        "min_coverage": asker.config.min_coverage,
    });
    if g.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(if cit_ok == cit_n && errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
