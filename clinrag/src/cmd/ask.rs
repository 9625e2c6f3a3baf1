//! `clinrag ask "QUESTION"`: an answer from the indexed literature whose every sentence cites a
//! retrieved passage, checked by the citation verifier; abstains when the evidence is weak.
//! `--batch FILE.jsonl` answers one question per line over models and indexes loaded once.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clinrag_agents::{
    Answer, AskEvent, AskRequest, Asker, AskerConfig, ExpandFn, Route, Style, SummarizeRequest,
};
use clinrag_retrieval::{ExpansionConfig, SearchFilter};

use crate::Global;
use crate::cmd::search::Mode;

/// On or off (`ask`'s own switches, so that they do not move with other commands' flags).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toggle {
    On,
    Off,
}

/// `--style` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StyleArg {
    /// Answer sentences are evidence sentences; the model picks the lead (constrained choice).
    Extractive,
    /// The model writes sentences with quotes (constrained JSON); everything is verified, and the
    /// extractive answer replaces it when nothing survives.
    Generative,
}

/// Options shared by `ask`, `summarize` and `eval qa`: how the asker is built.
#[derive(clap::Args, Clone, Debug)]
pub struct AskerArgs {
    /// Passages retrieved.
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// Retrieval mode [default: hybrid when the vector index exists, else bm25].
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Answer style.
    #[arg(long, value_enum, default_value = "extractive")]
    pub style: StyleArg,
    /// Do not load a chat model: the extractive answer in relevance order.
    #[arg(long)]
    pub no_model: bool,
    /// Concept linking for relevance and the verifier's concept overlap (needs the
    /// vocabularies; off: token overlap only).
    #[arg(long, value_enum, default_value = "on")]
    pub concepts: Toggle,
    /// At most this many answer sentences.
    #[arg(long, default_value_t = 3)]
    pub max_sentences: usize,
    /// Abstain unless a passage holds this share of the question's content words.
    #[arg(long, default_value_t = AskerConfig::default().min_coverage)]
    pub min_coverage: f32,
    /// Verifier threshold: sentences with less support by their quotes are removed.
    #[arg(long, default_value_t = clinrag_agents::MIN_SUPPORT)]
    pub min_support: f32,
    /// Graph-expanded retrieval, as `clinrag search --expand on` (needs the vocabularies).
    #[arg(long, value_enum, default_value = "off")]
    pub expand: Toggle,
    /// Weight of an expansion term relative to the question's own words.
    #[arg(long, default_value_t = ExpansionConfig::default().term_weight)]
    pub expand_weight: f32,
    /// Score factor `1 + B * share` for passages mentioning a share of the linked concepts.
    #[arg(long, default_value_t = ExpansionConfig::default().concept_boost)]
    pub expand_boost: f32,
    #[command(flatten)]
    pub model: crate::cmd::chat::ModelArgs,
}

impl AskerArgs {
    /// Loads everything the asker needs, once.
    pub async fn build(&self, g: &Global) -> anyhow::Result<Asker> {
        let searcher = Arc::new(crate::store::searcher(g)?);
        let linker = if self.concepts == Toggle::On || self.expand == Toggle::On {
            crate::cmd::kg::linker_if_available(g)?.map(Arc::new)
        } else {
            None
        };
        if self.expand == Toggle::On && linker.is_none() {
            anyhow::bail!("--expand on needs the vocabularies: run `clinrag setup` first");
        }
        let expander: Option<ExpandFn> = match (&linker, self.expand) {
            (Some(l), Toggle::On) => {
                let l = l.clone();
                let f: ExpandFn = Arc::new(move |q: &str| crate::cmd::kg::query_expansion(&l, q));
                Some(f)
            }
            _ => None,
        };
        let model = if self.no_model {
            None
        } else {
            Some(self.model.open(g).await?)
        };
        let catalog = crate::store::catalog(g).await?;
        let config = AskerConfig {
            k: self.k,
            mode: self.mode.map(Mode::to_search),
            style: match self.style {
                StyleArg::Extractive => Style::Extractive,
                StyleArg::Generative => Style::Generative,
            },
            max_sentences: self.max_sentences.max(1),
            min_coverage: self.min_coverage,
            min_support: self.min_support,
            expand: self.expand == Toggle::On,
            expansion: ExpansionConfig {
                term_weight: self.expand_weight,
                concept_boost: self.expand_boost,
            },
            ..AskerConfig::default()
        };
        Ok(Asker::new(searcher, config)
            .with_model(model)
            .with_linker(if self.concepts == Toggle::On {
                linker
            } else {
                None
            })
            .with_expander(expander)
            .with_catalog(Some(catalog)))
    }
}

/// Arguments of `clinrag ask`.
#[derive(clap::Args)]
pub struct Args {
    /// The question.
    #[arg(required_unless_present = "batch")]
    question: Option<String>,
    /// Only documents from this year on.
    #[arg(long)]
    year_min: Option<u64>,
    /// Only documents up to this year.
    #[arg(long)]
    year_max: Option<u64>,
    /// JSONL file of questions (`{"id", "text"|"question", "k"?}` per line); one JSON line out each.
    #[arg(long, conflicts_with = "question")]
    batch: Option<PathBuf>,
    /// Route the request to the agent that handles it: a case description goes to `diagnose`,
    /// "code this ..." to the coding agent, "summarize ..." to `summarize` (off: always answer).
    #[arg(long, value_enum, default_value = "on")]
    route: Toggle,
    #[command(flatten)]
    asker: AskerArgs,
}

/// Runs `clinrag ask`.
pub async fn run(g: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let asker = args.asker.build(g).await?;
    let filter = SearchFilter {
        year_min: args.year_min,
        year_max: args.year_max,
        sources: Vec::new(),
    };
    if let Some(batch) = &args.batch {
        return run_batch(&asker, batch, &filter).await;
    }
    let question = args.question.clone().unwrap_or_default();
    if args.route == Toggle::On {
        let r = clinrag_agents::route(&question, asker.model().map(|m| m.as_ref())).await;
        if r != Route::Ask {
            return routed(g, &asker, r, &question).await;
        }
    }
    let mut req = AskRequest::new(question);
    req.filter = filter;
    let answer = if g.json {
        asker.ask_collect(req).await?
    } else {
        ask_streaming(&asker, req).await?
    };
    if g.json {
        println!("{}", serde_json::to_string(&answer)?);
    } else {
        print_sources(&answer);
    }
    Ok(if answer.abstained {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints the answer as its verified pieces arrive.
async fn ask_streaming(asker: &Asker, req: AskRequest) -> anyhow::Result<Answer> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let printer = tokio::spawn(async move {
        let mut out = std::io::stdout();
        while let Some(ev) = rx.recv().await {
            match ev {
                AskEvent::Evidence(ps) => eprintln!("[{} passages retrieved]", ps.len()),
                AskEvent::Token(t) => {
                    let _ = write!(out, "{t} ");
                    let _ = out.flush();
                }
                AskEvent::Answer(_) => println!(),
            }
        }
    });
    let a = asker.ask(req, tx).await;
    let _ = printer.await;
    Ok(a?)
}

/// The cited passages under a text-mode answer.
pub fn print_sources(a: &Answer) {
    let mut shown: Vec<usize> = Vec::new();
    for s in &a.sentences {
        for c in &s.citations {
            if shown.contains(&c.passage) {
                continue;
            }
            shown.push(c.passage);
            println!(
                "  [{}] {} chars {}–{}  (clinrag docs show {} --span {}:{})",
                c.passage, c.doc_id, c.start, c.end, c.doc_id, c.start, c.end
            );
        }
    }
    for r in &a.removed {
        eprintln!("  removed: {}", r.reason);
    }
}

async fn run_batch(
    asker: &Asker,
    path: &std::path::Path,
    filter: &SearchFilter,
) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for (id, line) in crate::store::read_batch(path)? {
        let out = match line {
            Err(e) => serde_json::json!({ "id": id, "error": e }),
            Ok(v) => {
                let text = v
                    .get("text")
                    .or_else(|| v.get("question"))
                    .and_then(|t| t.as_str());
                match text {
                    None => serde_json::json!({ "id": id, "error": "missing \"text\"" }),
                    Some(t) => {
                        let mut req = AskRequest::new(t);
                        req.filter = filter.clone();
                        req.k = v
                            .get("k")
                            .and_then(|k| k.as_u64())
                            .and_then(|k| usize::try_from(k).ok());
                        match asker.ask_collect(req).await {
                            Ok(a) => {
                                let mut o = serde_json::to_value(&a)?;
                                o["id"] = id;
                                o
                            }
                            Err(e) => serde_json::json!({ "id": id, "error": e.to_string() }),
                        }
                    }
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

/// Handles a request the router sent to another agent.
async fn routed(g: &Global, asker: &Asker, r: Route, text: &str) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let body = clinrag_agents::route::strip_directive(text).to_string();
    if !g.json {
        eprintln!("[routed to {}]", r.as_str());
    }
    match r {
        Route::Ask => unreachable_route(),
        Route::Diagnose => {
            let d = crate::cmd::diagnose::diagnoser(g)
                .await?
                .diagnose(&body, 5)
                .await?;
            if g.json {
                let mut v = serde_json::to_value(&d)?;
                v["routed_to"] = "diagnose".into();
                println!("{v}");
            } else {
                crate::cmd::diagnose::print(g, &d)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Route::Summarize => {
            let (tx, mut rx) = tokio::sync::mpsc::channel(64);
            let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
            let a = asker
                .summarize(SummarizeRequest::text("REQUEST", body), tx)
                .await;
            let _ = drain.await;
            let a = a?;
            if g.json {
                let mut v = serde_json::to_value(&a)?;
                v["routed_to"] = "summarize".into();
                println!("{v}");
            } else {
                println!("{}", a.answer);
                print_sources(&a);
            }
            Ok(ExitCode::SUCCESS)
        }
        Route::Code => {
            let gc = g.clone();
            let coding = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let coder = crate::cmd::code::load_icd(&gc)?;
                let mut coding = coder.code(&body);
                clinrag_agents::code_check::final_check(&mut coding, &body, |c| {
                    coder.lookup(c).is_some_and(|(_, billable)| billable)
                });
                Ok(coding)
            })
            .await
            .context("coding thread failed")??;
            let mut v = serde_json::to_value(&coding)?;
            v["routed_to"] = "code".into();
            if g.json {
                println!("{v}");
            } else {
                for c in &coding.codes {
                    println!("{:<9} {:.3} {}", c.code, c.score, c.title);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn unreachable_route() -> anyhow::Result<ExitCode> {
    anyhow::bail!("internal: a question was routed away from ask")
}
