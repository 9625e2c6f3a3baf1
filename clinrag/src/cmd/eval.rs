//! `clinrag eval retrieval`: retrieval quality (recall@k, MRR, nDCG@k over distinct documents)
//! and per-query latency on a question file with gold document ids.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clinrag_retrieval::SearchFilter;

use crate::Global;

/// Arguments of `clinrag eval`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Retrieval quality against `gold_pmids` (or `gold_doc_ids`) per question.
    Retrieval(RetrievalArgs),
    /// Code assignment: exact top-1, top-5 and category accuracy on `{"text","gold"}` cases.
    Coding(crate::cmd::code::EvalArgs),
    /// Rare-disease ranking: top-1/3/10 and median rank on `{"present","excluded","disease"}` cases.
    Rare(crate::cmd::eval_rare::Args),
    /// Question answering: cited gold recall, citation validity, supported sentences, abstention, latency.
    Qa(crate::cmd::eval_qa::Args),
}

/// Arguments of `clinrag eval retrieval`.
#[derive(clap::Args)]
pub struct RetrievalArgs {
    /// JSONL with `question` (or `text`) and `gold_pmids` or `gold_doc_ids` per line.
    #[arg(long)]
    questions: PathBuf,
    /// Cut-off (distinct documents).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Only the first N questions.
    #[arg(long)]
    limit: Option<usize>,
    /// Retrieval mode [default: hybrid when the vector index exists, else bm25].
    #[arg(long, value_enum)]
    mode: Option<crate::cmd::search::Mode>,
    #[command(flatten)]
    fusion: crate::cmd::search::FusionArgs,
    #[command(flatten)]
    expand: crate::cmd::search::ExpandArgs,
    /// gRPC URL of a Qdrant server holding the vectors (feature `qdrant-server`; API key from
    /// CLINRAG_QDRANT_API_KEY); default: the vector index in the home folder.
    #[arg(long, env = "CLINRAG_QDRANT_URL")]
    qdrant_url: Option<String>,
}

/// Runs `clinrag eval`.
pub async fn run(g: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let a = match args.cmd {
        Cmd::Retrieval(a) => a,
        Cmd::Coding(a) => return crate::cmd::code::eval_coding(g, a).await,
        Cmd::Rare(a) => return crate::cmd::eval_rare::run(g, a).await,
        Cmd::Qa(a) => return crate::cmd::eval_qa::run(g, a).await,
    };
    let mut index = crate::store::searcher_at(g, a.qdrant_url.as_deref())?;
    a.fusion.apply(&mut index);
    let mode = crate::cmd::search::Mode::resolve(a.mode, &index);
    let expander = crate::cmd::search::Expander::load(g, &a.expand)?;
    let text = std::fs::read_to_string(&a.questions)
        .with_context(|| format!("cannot read {}", a.questions.display()))?;
    let mut recall = 0.0;
    let mut mrr = 0.0;
    let mut ndcg = 0.0;
    let mut n = 0usize;
    let mut skipped = 0usize;
    let mut lat_ms: Vec<f64> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if a.limit.is_some_and(|l| n >= l) {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not JSON", a.questions.display(), i + 1))?;
        let q = v
            .get("question")
            .or_else(|| v.get("text"))
            .and_then(|q| q.as_str());
        let gold: HashSet<String> = match (v.get("gold_doc_ids"), v.get("gold_pmids")) {
            (Some(ids), _) => ids
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            (None, Some(p)) => p
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(|s| format!("PMID:{s}")))
                .collect(),
            _ => HashSet::new(),
        };
        let (Some(q), false) = (q, gold.is_empty()) else {
            skipped += 1;
            continue;
        };
        let t = Instant::now();
        // Chunks are over-fetched so that k distinct documents remain after de-duplication.
        let hits = crate::cmd::search::search_expanded(
            &index,
            expander.as_ref(),
            q,
            a.k * 4,
            mode,
            &SearchFilter::default(),
        )?;
        let hits: Vec<_> = hits.into_iter().map(|h| h.hit).collect();
        lat_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let mut docs: Vec<&str> = Vec::new();
        for h in &hits {
            if !docs.contains(&h.doc_id.as_str()) {
                docs.push(&h.doc_id);
            }
            if docs.len() == a.k {
                break;
            }
        }
        let found = docs.iter().filter(|d| gold.contains(**d)).count();
        recall += found as f64 / gold.len() as f64;
        if let Some(r) = docs.iter().position(|d| gold.contains(*d)) {
            mrr += 1.0 / (r as f64 + 1.0);
        }
        let dcg: f64 = docs
            .iter()
            .enumerate()
            .filter(|(_, d)| gold.contains(**d))
            .map(|(r, _)| 1.0 / (r as f64 + 2.0).log2())
            .sum();
        let ideal: f64 = (0..gold.len().min(a.k))
            .map(|r| 1.0 / (r as f64 + 2.0).log2())
            .sum();
        ndcg += if ideal > 0.0 { dcg / ideal } else { 0.0 };
        n += 1;
    }
    let nf = n.max(1) as f64;
    lat_ms.sort_by(|x, y| x.total_cmp(y));
    let pct = |p: f64| {
        if lat_ms.is_empty() {
            0.0
        } else {
            lat_ms[((lat_ms.len() as f64 - 1.0) * p).round() as usize]
        }
    };
    let out = serde_json::json!({
        "mode": format!("{mode:?}").to_lowercase(),
        "expand": expander.is_some(),
        "k": a.k,
        "questions": n,
        "skipped": skipped,
        format!("recall@{}", a.k): recall / nf,
        "mrr": mrr / nf,
        format!("ndcg@{}", a.k): ndcg / nf,
        "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "mean": lat_ms.iter().sum::<f64>() / lat_ms.len().max(1) as f64},
    });
    if g.json {
        println!("{out}");
    } else {
        println!(
            "mode   questions  recall@{k}  MRR     nDCG@{k}  p50 ms  p95 ms",
            k = a.k
        );
        println!(
            "{:6} {:9}  {:9.4}  {:.4}  {:7.4}  {:6.2}  {:6.2}",
            out["mode"].as_str().unwrap_or(""),
            n,
            recall / nf,
            mrr / nf,
            ndcg / nf,
            pct(0.5),
            pct(0.95)
        );
    }
    Ok(ExitCode::SUCCESS)
}
