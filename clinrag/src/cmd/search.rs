//! `clinrag search "QUERY"`: ranked passages with their citations; `--batch FILE.jsonl` runs
//! many queries over indexes opened once.

use std::path::PathBuf;
use std::process::ExitCode;

use clinrag_retrieval::{Hit, HybridSearcher, SearchFilter, SearchMode};

use crate::Global;

/// Retrieval modes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// BM25 over the keyword index.
    Bm25,
    /// Cosine similarity of sentence embeddings over the vector index.
    Dense,
    /// BM25 and dense fused with reciprocal rank fusion (the default when vectors exist).
    Hybrid,
}

impl Mode {
    /// The library's mode.
    pub fn to_search(self) -> SearchMode {
        match self {
            Mode::Bm25 => SearchMode::Bm25,
            Mode::Dense => SearchMode::Dense,
            Mode::Hybrid => SearchMode::Hybrid,
        }
    }

    /// `mode` if given, else hybrid when the searcher has vectors, else BM25.
    pub fn resolve(mode: Option<Mode>, searcher: &HybridSearcher) -> Mode {
        mode.unwrap_or(if searcher.has_dense() {
            Mode::Hybrid
        } else {
            Mode::Bm25
        })
    }
}

/// Arguments of `clinrag search`.
#[derive(clap::Args)]
pub struct Args {
    /// The query.
    #[arg(required_unless_present = "batch")]
    query: Option<String>,
    /// Number of passages.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Retrieval mode [default: hybrid when the vector index exists, else bm25].
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// At most this many passages per document.
    #[arg(long)]
    max_per_doc: Option<usize>,
    /// RRF constant k of the hybrid fusion.
    #[arg(long, default_value_t = 60.0)]
    rrf_k: f32,
    /// Only documents from this year on.
    #[arg(long)]
    year_min: Option<u64>,
    /// Only documents up to this year.
    #[arg(long)]
    year_max: Option<u64>,
    /// Only these source formats (pubmed, pmc, markdown, text, jsonl); repeatable.
    #[arg(long)]
    source: Vec<String>,
    /// JSONL file of queries (`{"id", "text", "k"?}` per line); one JSON line out per query.
    #[arg(long, conflicts_with = "query")]
    batch: Option<PathBuf>,
}

/// Runs `clinrag search`.
pub async fn run(g: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let mut index = crate::store::searcher(g)?;
    index.config.max_per_doc = args.max_per_doc;
    index.config.rrf_k = args.rrf_k;
    let mode = Mode::resolve(args.mode, &index);
    let filter = SearchFilter {
        year_min: args.year_min,
        year_max: args.year_max,
        sources: args.source.clone(),
    };
    if let Some(batch) = &args.batch {
        return run_batch(&index, batch, &args, mode, &filter);
    }
    let query = args.query.as_deref().unwrap_or_default();
    let hits = search(&index, query, args.k, mode, &filter)?;
    if g.json {
        println!("{}", serde_json::json!({ "hits": hits }));
    } else if hits.is_empty() {
        println!("no passages match");
    } else {
        for h in &hits {
            println!(
                "[{}] {}  {}\n    {} · chars {}–{} · score {:.2}\n    {}\n",
                h.rank,
                h.doc_id,
                h.title,
                h.section,
                h.start,
                h.end,
                h.score,
                preview(&h.text, 400)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one query in `mode`.
pub fn search(
    index: &HybridSearcher,
    query: &str,
    k: usize,
    mode: Mode,
    filter: &SearchFilter,
) -> anyhow::Result<Vec<Hit>> {
    Ok(index.search(query, k, mode.to_search(), filter)?)
}

fn run_batch(
    index: &HybridSearcher,
    path: &std::path::Path,
    args: &Args,
    mode: Mode,
    filter: &SearchFilter,
) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for (id, line) in crate::store::read_batch(path)? {
        let out = match line {
            Err(e) => serde_json::json!({ "id": id, "error": e }),
            Ok(v) => {
                let text = v
                    .get("text")
                    .or_else(|| v.get("query"))
                    .and_then(|t| t.as_str());
                let k = v
                    .get("k")
                    .and_then(|k| k.as_u64())
                    .and_then(|k| usize::try_from(k).ok())
                    .unwrap_or(args.k);
                match text {
                    None => serde_json::json!({ "id": id, "error": "missing \"text\"" }),
                    Some(t) => match search(index, t, k, mode, filter) {
                        Ok(hits) => serde_json::json!({ "id": id, "hits": hits }),
                        Err(e) => serde_json::json!({ "id": id, "error": format!("{e:#}") }),
                    },
                }
            }
        };
        failed |= out.get("error").is_some();
        println!("{out}");
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The first `n` characters of `s` on one line.
pub fn preview(s: &str, n: usize) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        one
    } else {
        format!("{}…", one.chars().take(n).collect::<String>())
    }
}
