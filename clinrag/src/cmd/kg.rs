//! `clinrag kg`: build the concept graph snapshot and query it (concept, search, neighbors,
//! path, expand); `--batch` for JSONL requests.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clinrag_kg::{
    ConceptGraph, EdgeKind, ExpandOptions, KgError, Linker, NodeIx, NodeKind, VocabPaths,
    build_graph, snapshot,
};
use serde_json::{Value, json};

/// Concept graph: vocabularies (ICD-10-CM, ATC, HPO, MeSH, drugs) and their relations.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// JSONL requests, one per line: {"id", "op": "concept"|"search"|"neighbors"|"path"|"expand", "code", "text", "a", "b", "depth", "edge", "k"}.
    #[arg(long)]
    pub batch: Option<PathBuf>,
}

/// `kg` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Build the graph snapshot (kg/graph.bin) from the vocabulary files of the home folder.
    Build,
    /// Show a concept by code: I21.4, ICD10CM:I21.4, HP:0001166, N02BE01, OMIM:154700, MESH:D003924.
    Concept {
        /// The code.
        code: String,
    },
    /// Search labels and synonyms.
    Search {
        /// The words to look for.
        text: String,
        /// Number of hits.
        #[arg(long, default_value_t = 10)]
        k: usize,
    },
    /// Concepts within N hops (edges followed both ways).
    Neighbors {
        /// The code.
        code: String,
        /// Hops.
        #[arg(long, default_value_t = 1)]
        depth: usize,
        /// Only this edge type: is_a, has_phenotype, excludes1, excludes2, brand_of, maps_to, mentions.
        #[arg(long)]
        edge: Option<String>,
        /// At most this many neighbours.
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Shortest path between two codes.
    Path {
        /// From.
        a: String,
        /// To.
        b: String,
    },
    /// Graph expansion of a query: linked concepts and extra terms, each explained.
    Expand {
        /// The query.
        text: String,
    },
}

/// Loads the snapshot; when it is missing, builds it from the vocabularies and saves it.
pub fn open_graph(g: &crate::Global) -> anyhow::Result<ConceptGraph> {
    let t = Instant::now();
    let graph = clinrag_kg::open_or_build(&g.home)?;
    tracing::info!(
        ms = t.elapsed().as_millis() as u64,
        nodes = graph.node_count(),
        "concept graph ready"
    );
    Ok(graph)
}

/// Loads the graph and builds the linker, or `None` (with a note on stderr) when the home
/// folder has no vocabularies: callers that only enrich their answers with concepts go on without.
pub fn linker_if_available(g: &crate::Global) -> anyhow::Result<Option<Linker>> {
    if !g.home.join(clinrag_kg::SNAPSHOT_PATH).exists() && !g.home.join("vocab").exists() {
        if !g.json {
            eprintln!(
                "note: no vocabularies in {} (run `clinrag setup`): no concept linking",
                g.home.display()
            );
        }
        return Ok(None);
    }
    let graph = Arc::new(open_graph(g)?);
    let t = Instant::now();
    let linker = clinrag_kg::open_linker(&g.home, graph)?;
    tracing::info!(ms = t.elapsed().as_millis() as u64, "linker ready");
    Ok(Some(linker))
}

/// The graph expansion of a search query as retrieval's plain data: affirmed concepts linked
/// in the query (how they matched, shortened to its first word: label, synonym, abbreviation,
/// ...) and the extra terms (synonyms, label, parent, child) with the concept they come from.
pub fn query_expansion(linker: &Linker, query: &str) -> clinrag_retrieval::QueryExpansion {
    use clinrag_retrieval::{ExpansionConcept, ExpansionTerm, QueryExpansion};
    let e = linker.expand(query, ExpandOptions::default());
    let short = |via: &str| {
        let w = via.split_whitespace().next().unwrap_or("label");
        match w {
            "label" if via.starts_with("label variant") => "variant".to_string(),
            w => w.to_string(),
        }
    };
    let concepts: Vec<ExpansionConcept> = e
        .concepts
        .iter()
        .map(|c| ExpansionConcept {
            id: c.id.clone(),
            label: c.label.clone(),
            via: short(&c.matched_via),
        })
        .collect();
    let label_of = |id: &str| {
        concepts
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.label.clone())
            .unwrap_or_default()
    };
    let terms = e
        .terms
        .iter()
        .map(|t| ExpansionTerm {
            term: t.term.clone(),
            concept: t.concept_id.clone(),
            label: label_of(&t.concept_id),
            via: t.relation.clone(),
        })
        .collect();
    QueryExpansion { concepts, terms }
}

/// Runs `clinrag kg`.
pub async fn run(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || run_blocking(&g, args))
        .await
        .context("the knowledge-graph worker thread failed")?
}

fn node_json(graph: &ConceptGraph, ix: NodeIx) -> Value {
    match graph.node(ix) {
        Some(n) => {
            json!({ "id": n.id(), "vocab": n.vocab.prefix(), "code": n.code, "label": n.label })
        }
        None => Value::Null,
    }
}

fn concept(graph: &ConceptGraph, code: &str) -> Result<Value, KgError> {
    let ixs = graph.lookup(code)?;
    let concepts: Vec<Value> = ixs
        .iter()
        .filter_map(|&ix| {
            let n = graph.node(ix)?;
            let mut v = serde_json::to_value(n).unwrap_or(Value::Null);
            let edges: Vec<Value> = graph
                .edges_of(ix)
                .into_iter()
                .take(100)
                .map(|(dir, other, e)| {
                    let mut o = node_json(graph, other);
                    if let Some(m) = o.as_object_mut() {
                        m.insert("edge".into(), json!(e.kind.name()));
                        m.insert("dir".into(), json!(dir));
                        if let Some(f) = e.frequency {
                            m.insert("frequency".into(), json!(f));
                        }
                        if e.count > 0 {
                            m.insert("count".into(), json!(e.count));
                        }
                    }
                    o
                })
                .collect();
            if let Some(m) = v.as_object_mut() {
                m.insert("id".into(), json!(n.id()));
                m.insert("edges".into(), Value::Array(edges));
            }
            Some(v)
        })
        .collect();
    Ok(json!({ "concepts": concepts }))
}

fn search(graph: &ConceptGraph, text: &str, k: usize) -> Value {
    let hits: Vec<Value> = graph
        .search(text, k)
        .into_iter()
        .map(|h| {
            let mut o = node_json(graph, h.node);
            if let Some(m) = o.as_object_mut() {
                m.insert("score".into(), json!(h.score));
                m.insert("matched".into(), json!(h.matched));
            }
            o
        })
        .collect();
    json!({ "hits": hits })
}

fn neighbors(
    graph: &ConceptGraph,
    code: &str,
    depth: usize,
    edge: Option<&str>,
    limit: usize,
) -> anyhow::Result<Value> {
    let kind = match edge {
        Some(e) => Some(EdgeKind::parse(e).with_context(|| {
            let names: Vec<&str> = EdgeKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown edge type {e:?}; use one of {}", names.join(", "))
        })?),
        None => None,
    };
    let ixs = graph.lookup(code)?;
    let mut out = Vec::new();
    for ix in ixs {
        let list: Vec<Value> = graph
            .neighbors(ix, depth, kind)
            .into_iter()
            .filter(|n| {
                kind == Some(EdgeKind::Mentions)
                    || graph
                        .node(n.node)
                        .is_some_and(|x| x.kind != NodeKind::Document)
            })
            .take(limit)
            .map(|n| {
                let mut o = node_json(graph, n.node);
                if let Some(m) = o.as_object_mut() {
                    m.insert("depth".into(), json!(n.depth));
                    m.insert("edge".into(), json!(n.edge.name()));
                    m.insert("dir".into(), json!(n.dir));
                    m.insert("from".into(), json!(graph.node(n.from).map(|f| f.id())));
                }
                o
            })
            .collect();
        out.push(json!({ "concept": node_json(graph, ix), "neighbors": list }));
    }
    Ok(json!({ "results": out }))
}

fn path(graph: &ConceptGraph, a: &str, b: &str) -> anyhow::Result<Value> {
    let (ia, ib) = (graph.lookup(a)?, graph.lookup(b)?);
    let mut best: Option<Vec<clinrag_kg::PathStep>> = None;
    for &x in &ia {
        for &y in &ib {
            if let Some(p) = graph.shortest_path(x, y)
                && best.as_ref().is_none_or(|b| p.len() < b.len())
            {
                best = Some(p);
            }
        }
    }
    Ok(match best {
        Some(p) => {
            let steps: Vec<Value> = p
                .iter()
                .map(|s| {
                    let mut o = node_json(graph, s.node);
                    if let (Some(m), Some((k, d))) = (o.as_object_mut(), s.via) {
                        m.insert("edge".into(), json!(k.name()));
                        m.insert("dir".into(), json!(d));
                    }
                    o
                })
                .collect();
            json!({ "path": steps, "hops": steps.len().saturating_sub(1) })
        }
        None => json!({ "path": Value::Null, "hops": Value::Null }),
    })
}

fn print_human(v: &Value) {
    if let Some(cs) = v.get("concepts").and_then(Value::as_array) {
        for c in cs {
            println!(
                "{}  {}",
                c["id"].as_str().unwrap_or(""),
                c["label"].as_str().unwrap_or("")
            );
            if let Some(syn) = c
                .get("synonyms")
                .and_then(Value::as_array)
                .filter(|s| !s.is_empty())
            {
                let s: Vec<&str> = syn.iter().filter_map(Value::as_str).collect();
                println!("  synonyms: {}", s.join("; "));
            }
            for e in c
                .get("edges")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!(
                    "  {} {} {}  {}",
                    e["edge"].as_str().unwrap_or(""),
                    e["dir"].as_str().unwrap_or(""),
                    e["id"].as_str().unwrap_or(""),
                    e["label"].as_str().unwrap_or("")
                );
            }
        }
    } else if let Some(hits) = v.get("hits").and_then(Value::as_array) {
        for h in hits {
            println!(
                "{:.2}  {:<18} {}  (matched {:?})",
                h["score"].as_f64().unwrap_or(0.0),
                h["id"].as_str().unwrap_or(""),
                h["label"].as_str().unwrap_or(""),
                h["matched"].as_str().unwrap_or("")
            );
        }
    } else if let Some(rs) = v.get("results").and_then(Value::as_array) {
        for r in rs {
            println!(
                "{}  {}",
                r["concept"]["id"].as_str().unwrap_or(""),
                r["concept"]["label"].as_str().unwrap_or("")
            );
            for n in r["neighbors"].as_array().into_iter().flatten() {
                println!(
                    "  {} {} {} {}  {}",
                    n["depth"],
                    n["edge"].as_str().unwrap_or(""),
                    n["dir"].as_str().unwrap_or(""),
                    n["id"].as_str().unwrap_or(""),
                    n["label"].as_str().unwrap_or("")
                );
            }
        }
    } else if let Some(p) = v.get("path") {
        match p.as_array() {
            Some(steps) => {
                for s in steps {
                    let via = s
                        .get("edge")
                        .and_then(Value::as_str)
                        .map(|e| format!("--{e} ({})--> ", s["dir"].as_str().unwrap_or("")))
                        .unwrap_or_default();
                    println!(
                        "{via}{}  {}",
                        s["id"].as_str().unwrap_or(""),
                        s["label"].as_str().unwrap_or("")
                    );
                }
            }
            None => println!("no path"),
        }
    } else {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    }
}

fn emit(g: &crate::Global, v: &Value) {
    if g.json {
        println!("{v}");
    } else {
        print_human(v);
    }
}

fn run_blocking(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Action::Build) = args.action {
        let t = Instant::now();
        let graph =
            build_graph(&VocabPaths::from_home(&g.home)).context("building the concept graph")?;
        let path = g.path(clinrag_kg::SNAPSHOT_PATH);
        snapshot::save(&graph, &path)?;
        let (nodes, edges) = graph.stats();
        let v = json!({
            "path": path.display().to_string(),
            "nodes": graph.node_count(),
            "edges": graph.edge_count(),
            "seconds": t.elapsed().as_secs_f64(),
            "nodes_by_vocab": nodes.iter().map(|(v, c)| (v.prefix().to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
            "edges_by_type": edges.iter().map(|(k, c)| (k.name().to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
            "reports": graph.reports(),
        });
        if g.json {
            println!("{v}");
        } else {
            for r in graph.reports() {
                eprintln!("{r}");
            }
            println!(
                "wrote {} ({} nodes, {} edges) in {:.1} s",
                path.display(),
                graph.node_count(),
                graph.edge_count(),
                t.elapsed().as_secs_f64()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let graph = Arc::new(open_graph(g)?);
    if let Some(batch) = &args.batch {
        return run_batch(&g.home, &graph, batch);
    }
    let result = match args.action {
        Some(Action::Concept { code }) => concept(&graph, &code).map_err(anyhow::Error::from),
        Some(Action::Search { text, k }) => Ok(search(&graph, &text, k)),
        Some(Action::Neighbors {
            code,
            depth,
            edge,
            limit,
        }) => neighbors(&graph, &code, depth, edge.as_deref(), limit),
        Some(Action::Path { a, b }) => path(&graph, &a, &b),
        Some(Action::Expand { text }) => {
            let linker = clinrag_kg::open_linker(&g.home, graph.clone())?;
            Ok(serde_json::to_value(
                linker.expand(&text, ExpandOptions::default()),
            )?)
        }
        Some(Action::Build) | None => anyhow::bail!(
            "give a subcommand (build, concept, search, neighbors, path, expand) or --batch FILE.jsonl"
        ),
    };
    match result {
        Ok(v) => {
            emit(g, &v);
            Ok(ExitCode::SUCCESS)
        }
        // Unknown codes are an answer ("no such code"), not a crash: exit 1 with the message.
        Err(e)
            if e.downcast_ref::<KgError>()
                .is_some_and(KgError::is_user_fault) =>
        {
            if g.json {
                println!("{}", json!({ "error": e.to_string() }));
            } else {
                eprintln!("{e}");
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e),
    }
}

#[derive(serde::Deserialize)]
struct Request {
    #[serde(default)]
    id: Value,
    op: String,
    code: Option<String>,
    text: Option<String>,
    a: Option<String>,
    b: Option<String>,
    depth: Option<usize>,
    edge: Option<String>,
    k: Option<usize>,
}

fn answer(
    home: &Path,
    graph: &Arc<ConceptGraph>,
    linker: &mut Option<Linker>,
    r: &Request,
) -> anyhow::Result<Value> {
    let need = |o: &Option<String>, name: &str| {
        o.clone()
            .with_context(|| format!("op {:?} needs {name:?}", r.op))
    };
    match r.op.as_str() {
        "concept" => Ok(concept(graph, &need(&r.code, "code")?)?),
        "search" => Ok(search(graph, &need(&r.text, "text")?, r.k.unwrap_or(10))),
        "neighbors" => neighbors(
            graph,
            &need(&r.code, "code")?,
            r.depth.unwrap_or(1),
            r.edge.as_deref(),
            200,
        ),
        "path" => path(graph, &need(&r.a, "a")?, &need(&r.b, "b")?),
        "expand" => {
            if linker.is_none() {
                *linker = Some(clinrag_kg::open_linker(home, graph.clone())?);
            }
            let l = linker.as_ref().context("linker not built")?;
            Ok(serde_json::to_value(l.expand(
                &need(&r.text, "text")?,
                ExpandOptions::default(),
            ))?)
        }
        other => {
            anyhow::bail!("unknown op {other:?}; use concept, search, neighbors, path or expand")
        }
    }
}

fn run_batch(home: &Path, graph: &Arc<ConceptGraph>, path: &Path) -> anyhow::Result<ExitCode> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    let mut linker = None;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: cannot read", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = match serde_json::from_str::<Request>(&line) {
            Ok(r) => match answer(home, graph, &mut linker, &r) {
                Ok(mut v) => {
                    if let Some(o) = v.as_object_mut() {
                        o.insert("id".into(), r.id.clone());
                    }
                    v
                }
                Err(e) => json!({ "id": r.id, "error": format!("{e:#}") }),
            },
            Err(e) => crate::store::bad_batch_line(&line, n, e),
        };
        writeln!(out, "{v}")?;
    }
    Ok(ExitCode::SUCCESS)
}
