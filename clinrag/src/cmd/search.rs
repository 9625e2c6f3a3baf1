//! `clinrag search "QUERY"`: ranked passages with their citations; `--batch FILE.jsonl` runs
//! many queries over indexes opened once.

use std::path::PathBuf;
use std::process::ExitCode;

use clinrag_retrieval::{ExpandedHit, ExpansionConfig, HybridSearcher, SearchFilter, SearchMode};

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

    /// The mode's name on the command line and in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Bm25 => "bm25",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
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

/// On or off.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toggle {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Hybrid fusion options shared by `search` and `eval retrieval` (weighted reciprocal rank
/// fusion: a passage scores `w / (k + rank)` summed over the BM25 and dense lists).
#[derive(clap::Args, Clone, Debug)]
pub struct FusionArgs {
    /// RRF constant k of the hybrid fusion.
    #[arg(long, default_value_t = 60.0)]
    pub rrf_k: f32,
    /// Weight of the BM25 list in the hybrid fusion (0 switches it off).
    #[arg(long, default_value_t = retrieval_defaults().bm25_weight)]
    pub bm25_weight: f32,
    /// Weight of the dense list in the hybrid fusion (0 switches it off).
    #[arg(long, default_value_t = retrieval_defaults().dense_weight)]
    pub dense_weight: f32,
}

fn retrieval_defaults() -> clinrag_retrieval::FusionConfig {
    clinrag_retrieval::FusionConfig::default()
}

impl FusionArgs {
    /// Sets these options on a searcher's fusion configuration.
    pub fn apply(&self, index: &mut HybridSearcher) {
        index.config.rrf_k = self.rrf_k;
        index.config.bm25_weight = self.bm25_weight;
        index.config.dense_weight = self.dense_weight;
    }
}

/// Graph expansion options shared by `search` and `eval retrieval`.
#[derive(clap::Args, Clone, Debug)]
pub struct ExpandArgs {
    /// Graph-expanded retrieval: concepts linked in the query add their synonyms and closely
    /// related concepts to the query, and BM25 candidates that mention them are boosted
    /// (explained in each hit's "expansion"). Off by default (measured in benchmarks/kg.md: it
    /// raises BM25 recall@10, not hybrid's, and costs a linker load plus ~15 ms per query).
    #[arg(long, value_enum, default_value = "off")]
    pub expand: Toggle,
    /// Weight of an expansion term relative to the query's own words.
    #[arg(long, default_value_t = ExpansionConfig::default().term_weight)]
    pub expand_weight: f32,
    /// Score factor `1 + B * share` for BM25 candidates mentioning a share of the linked concepts.
    #[arg(long, default_value_t = ExpansionConfig::default().concept_boost)]
    pub expand_boost: f32,
}

/// The linker and weights behind `--expand on`.
pub struct Expander {
    linker: clinrag_kg::Linker,
    cfg: ExpansionConfig,
}

impl Expander {
    /// Loads the linker when `--expand on` (an error when the vocabularies are missing).
    pub fn load(g: &Global, a: &ExpandArgs) -> anyhow::Result<Option<Expander>> {
        if a.expand == Toggle::Off {
            return Ok(None);
        }
        let Some(linker) = crate::cmd::kg::linker_if_available(g)? else {
            anyhow::bail!("--expand on needs the vocabularies: run `clinrag setup` first");
        };
        Ok(Some(Expander {
            linker,
            cfg: ExpansionConfig {
                term_weight: a.expand_weight,
                concept_boost: a.expand_boost,
            },
        }))
    }
}

/// Runs one query in `mode`, graph-expanded when `expander` is given.
pub fn search_expanded(
    index: &HybridSearcher,
    expander: Option<&Expander>,
    query: &str,
    k: usize,
    mode: Mode,
    filter: &SearchFilter,
) -> anyhow::Result<Vec<ExpandedHit>> {
    let exp = expander
        .map(|e| crate::cmd::kg::query_expansion(&e.linker, query))
        .unwrap_or_default();
    let cfg = expander.map(|e| e.cfg).unwrap_or_default();
    Ok(index.search_expanded(query, &exp, &cfg, k, mode.to_search(), filter)?)
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
    #[command(flatten)]
    fusion: FusionArgs,
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
    #[command(flatten)]
    expand: ExpandArgs,
    /// gRPC URL of a Qdrant server holding the vectors (feature `qdrant-server`; API key from
    /// CLINRAG_QDRANT_API_KEY); default: the vector index in the home folder.
    #[arg(long, env = "CLINRAG_QDRANT_URL")]
    qdrant_url: Option<String>,
}

/// Runs `clinrag search`.
pub async fn run(g: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let mut index = crate::store::searcher_at(g, args.qdrant_url.as_deref())?;
    index.config.max_per_doc = args.max_per_doc;
    args.fusion.apply(&mut index);
    let mode = Mode::resolve(args.mode, &index);
    let filter = SearchFilter {
        year_min: args.year_min,
        year_max: args.year_max,
        sources: args.source.clone(),
    };
    let expander = Expander::load(g, &args.expand)?;
    if let Some(batch) = &args.batch {
        return run_batch(&index, expander.as_ref(), batch, &args, mode, &filter);
    }
    let query = args.query.as_deref().unwrap_or_default();
    let hits = search_expanded(&index, expander.as_ref(), query, args.k, mode, &filter)?;
    if !g.json && args.mode.is_none() && !index.has_dense() {
        eprintln!(
            "note: no vector index in this home: BM25 only (ingest with the embedding model installed for hybrid search)"
        );
    }
    if g.json {
        println!(
            "{}",
            serde_json::json!({ "mode": mode.name(), "hits": hits })
        );
    } else if hits.is_empty() {
        println!("no passages match");
    } else {
        for e in &hits {
            let h = &e.hit;
            println!(
                "[{}] {}  {}\n    {} · chars {}–{} · score {:.2}\n    {}",
                h.rank,
                h.doc_id,
                h.title,
                h.section,
                h.start,
                h.end,
                h.score,
                preview(&h.text, 400)
            );
            for n in &e.expansion {
                println!("    expansion: {}", n.explanation);
            }
            println!();
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_batch(
    index: &HybridSearcher,
    expander: Option<&Expander>,
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
                    Some(t) => match search_expanded(index, expander, t, k, mode, filter) {
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
