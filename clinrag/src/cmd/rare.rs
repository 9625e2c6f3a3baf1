//! `clinrag rare`: rank OMIM and ORPHA diseases for a patient's HPO phenotypes (or free text),
//! with matched phenotype pairs, hallmarks not observed and a calibrated score; `--batch` for JSONL.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clinrag_phenotype::{
    IndexConfig, PhenotypeMatcher, RankConfig, Ranking, RareIndex, Scheme, SimConfig, simulate,
};
use clinrag_retrieval::KeywordIndex;

/// Rank rare diseases for observed (and excluded) phenotypes.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Observed HPO terms, comma-separated (HP:0001250,HP:0001249).
    #[arg(long, value_delimiter = ',')]
    pub hpo: Vec<String>,
    /// Excluded (explicitly absent) HPO terms, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Case description; phenotypes are found by the knowledge-graph linker (HPO labels, synonyms
    /// and variants, with negation): negated findings become excluded terms, uncertain and family
    /// findings are ignored. Without the vocabularies, an exact label/synonym matcher is used.
    #[arg(long)]
    pub text: Option<String>,
    /// Number of candidates.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// JSONL requests, one per line: {"id", "hpo": [..], "exclude": [..], "text": ".."}.
    #[arg(long)]
    pub batch: Option<PathBuf>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

/// Scoring options shared by `rare`, `eval rare` and `bench rare`.
#[derive(clap::Args, Debug, Clone)]
pub struct ScoringArgs {
    /// Scoring scheme: lr (likelihood ratio, default) or bma (Resnik best-match average).
    #[arg(long, default_value = "lr")]
    pub scheme: String,
    /// Advanced: probability that a listed phenotype is noise (lr).
    #[arg(long)]
    pub noise: Option<f32>,
    /// Advanced: weight of the penalty per frequent disease phenotype the patient does not show (lr; 0 disables).
    #[arg(long)]
    pub hallmark_weight: Option<f32>,
    /// Advanced: frequency from which a disease phenotype counts as a hallmark (lr).
    #[arg(long)]
    pub hallmark_frequency: Option<f32>,
    /// Advanced: weight of a partial match (patient and disease terms only share an ancestor) (lr).
    #[arg(long)]
    pub partial_match: Option<f32>,
    /// Advanced: frequency assumed for annotations without one.
    #[arg(long)]
    pub unspecified_frequency: Option<f32>,
}

impl ScoringArgs {
    /// The ranking configuration these options select.
    pub fn config(&self) -> anyhow::Result<RankConfig> {
        let scheme: Scheme = self.scheme.parse().map_err(anyhow::Error::msg)?;
        let d = RankConfig::default();
        let cfg = RankConfig {
            scheme,
            noise: self.noise.unwrap_or(d.noise),
            hallmark_weight: self.hallmark_weight.unwrap_or(d.hallmark_weight),
            hallmark_frequency: self.hallmark_frequency.unwrap_or(d.hallmark_frequency),
            partial_match: self.partial_match.unwrap_or(d.partial_match),
            ..d
        };
        for (name, v) in [
            ("noise", cfg.noise),
            ("hallmark weight", cfg.hallmark_weight),
            ("hallmark frequency", cfg.hallmark_frequency),
            ("partial match", cfg.partial_match),
        ] {
            if !(0.0..=1.0).contains(&v) {
                anyhow::bail!("{name} must be between 0 and 1, got {v}");
            }
        }
        Ok(cfg)
    }

    /// The index configuration these options select.
    pub fn index_config(&self) -> anyhow::Result<IndexConfig> {
        let d = IndexConfig::default();
        let u = self
            .unspecified_frequency
            .unwrap_or(d.unspecified_frequency);
        if !(0.0..=1.0).contains(&u) {
            anyhow::bail!("unspecified frequency must be between 0 and 1, got {u}");
        }
        Ok(IndexConfig {
            unspecified_frequency: u,
            ..d
        })
    }
}

/// Subcommands of `rare`.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Write a simulated development set (JSONL cases for `eval rare`), deterministic for a seed.
    Simulate(SimulateArgs),
    /// Same as `clinrag eval rare`: top-1/3/10 and median rank on labelled cases.
    Eval(super::eval_rare::Args),
    /// Same as `clinrag bench rare`: milliseconds per case and start-up time.
    Bench(super::bench_rare::Args),
}

/// Options of `rare simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Number of cases.
    #[arg(long, default_value_t = 300)]
    pub n: usize,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output JSONL file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Paths of the HPO files in the home folder.
pub fn hpo_paths(g: &crate::Global) -> anyhow::Result<(PathBuf, PathBuf)> {
    let obo = g.path("vocab/hpo/hp.obo");
    let hpoa = g.path("vocab/hpo/phenotype.hpoa");
    for p in [&obo, &hpoa] {
        if !p.exists() {
            anyhow::bail!(
                "HPO data not found: {} is missing; run `clinrag setup` first",
                p.display()
            );
        }
    }
    Ok((obo, hpoa))
}

/// Loads the ranking index from the home folder (on the calling thread: call from a blocking thread).
pub fn load_index(g: &crate::Global, config: IndexConfig) -> anyhow::Result<RareIndex> {
    let (obo, hpoa) = hpo_paths(g)?;
    let idx = RareIndex::load(&obo, &hpoa, config).context("loading the HPO data")?;
    let s = idx.stats();
    tracing::info!(
        diseases = s.diseases,
        annotations = s.annotations,
        ontology_ms = s.ontology_ms,
        annotations_ms = s.annotations_ms,
        build_ms = s.build_ms,
        "rare-disease index ready"
    );
    for w in idx.ontology().warnings().iter().take(5) {
        tracing::warn!("{w}");
    }
    Ok(idx)
}

/// One request: observed and excluded terms, optional text.
#[derive(Debug, Default, serde::Deserialize)]
struct Request {
    #[serde(default)]
    id: serde_json::Value,
    #[serde(default)]
    hpo: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    k: Option<usize>,
}

/// What maps `--text` to HPO terms.
pub enum TextLinker {
    /// The knowledge-graph linker (all vocabularies, NegEx-style context).
    Kg(Box<clinrag_kg::Linker>),
    /// clinrag-phenotype's exact label/synonym matcher, when the linker cannot be loaded.
    Phenotype(PhenotypeMatcher),
}

impl TextLinker {
    /// The kg linker when the home folder has the vocabularies, else the phenotype matcher
    /// (with a warning saying why).
    pub fn load(g: &crate::Global, idx: &RareIndex) -> TextLinker {
        match super::kg::linker_if_available(g) {
            Ok(Some(l)) => TextLinker::Kg(Box::new(l)),
            Ok(None) => TextLinker::Phenotype(PhenotypeMatcher::new(idx.ontology())),
            Err(e) => {
                tracing::warn!(
                    "the concept linker is unavailable ({e:#}); --text uses exact HPO label matching"
                );
                TextLinker::Phenotype(PhenotypeMatcher::new(idx.ontology()))
            }
        }
    }

    /// "kg-linker" or "phenotype-matcher", for the JSON answer.
    pub fn name(&self) -> &'static str {
        match self {
            TextLinker::Kg(_) => "kg-linker",
            TextLinker::Phenotype(_) => "phenotype-matcher",
        }
    }

    /// The HPO terms of `text`, each with what the ranking does with it.
    pub fn terms(&self, text: &str) -> Vec<TextTerm> {
        use clinrag_kg::{Certainty, Experiencer};
        match self {
            TextLinker::Kg(l) => {
                let mut out = Vec::new();
                for m in l.link(text) {
                    let (status, note) = match (m.experiencer, m.certainty) {
                        (Experiencer::Family, _) => ("ignored", Some("a relative's finding")),
                        (_, Certainty::Possible) => ("ignored", Some("uncertain")),
                        (_, Certainty::Negated) => ("excluded", None),
                        (_, Certainty::Affirmed) => ("present", None),
                    };
                    for c in m.concept_ids.iter().filter(|c| c.vocab == "HP") {
                        if out
                            .iter()
                            .any(|t: &TextTerm| t.term == c.id && t.start == m.start)
                        {
                            continue;
                        }
                        out.push(TextTerm {
                            term: c.id.clone(),
                            name: c.label.clone(),
                            start: m.start,
                            end: m.end,
                            text: m.text_span.clone(),
                            status,
                            note: note.map(str::to_owned),
                        });
                    }
                }
                out
            }
            TextLinker::Phenotype(p) => p
                .find(text)
                .into_iter()
                .map(|x| {
                    let start = text.get(..x.start).map_or(0, |s| s.chars().count());
                    let span = text.get(x.start..x.end).unwrap_or_default();
                    TextTerm {
                        term: x.term.to_string(),
                        name: x.name,
                        start,
                        end: start + span.chars().count(),
                        text: span.to_owned(),
                        status: if x.negated { "excluded" } else { "present" },
                        note: None,
                    }
                })
                .collect(),
        }
    }
}

/// An HPO term found in `--text`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TextTerm {
    /// `HP:nnnnnnn`.
    pub term: String,
    /// Its preferred name.
    pub name: String,
    /// Char span in the text.
    pub start: usize,
    /// End (exclusive), chars.
    pub end: usize,
    /// The words of the text.
    pub text: String,
    /// "present", "excluded" (negated) or "ignored".
    pub status: &'static str,
    /// Why a term was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A literature passage that mentions a candidate disease.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Literature {
    /// Document id (`PMID:n`, ...).
    pub doc_id: String,
    /// Chunk id.
    pub chunk_id: String,
    /// Document title.
    pub title: String,
    /// Char span of the passage in the stored document.
    pub start: usize,
    /// End (exclusive).
    pub end: usize,
}

/// Passages per candidate.
const LITERATURE_PER_CANDIDATE: usize = 3;

/// The keyword index when one exists in the home folder (never created here).
pub fn literature_index(g: &crate::Global) -> Option<KeywordIndex> {
    let dir = g.path(crate::store::KEYWORD_DIR);
    if !dir.join("meta.json").exists() {
        return None;
    }
    match KeywordIndex::open_or_create(&dir) {
        Ok(k) => Some(k),
        Err(e) => {
            tracing::warn!("no literature links: {e}");
            None
        }
    }
}

/// Chunks whose linked concepts hold the disease id (ingest links OMIM and ORPHA disease
/// names), best match of the disease name first.
fn literature(kw: &KeywordIndex, id: &str, name: &str) -> anyhow::Result<Vec<Literature>> {
    Ok(kw
        .chunks_mentioning(id, Some(name), LITERATURE_PER_CANDIDATE)?
        .into_iter()
        .map(|h| Literature {
            doc_id: h.doc_id,
            chunk_id: h.chunk_id,
            title: h.title,
            start: h.start,
            end: h.end,
        })
        .collect())
}

struct Answer {
    ranking: Ranking,
    text_terms: Vec<TextTerm>,
    text_linker: Option<&'static str>,
    /// One list per candidate.
    literature: Vec<Vec<Literature>>,
}

/// What a request needs besides the index: the text linker (loaded on first use) and the
/// keyword index for literature links.
struct Ctx<'a> {
    g: &'a crate::Global,
    idx: &'a RareIndex,
    cfg: &'a RankConfig,
    linker: std::cell::OnceCell<TextLinker>,
    literature: Option<KeywordIndex>,
}

fn answer(cx: &Ctx<'_>, req: &Request, k: usize) -> anyhow::Result<Answer> {
    let mut present = req.hpo.clone();
    let mut excluded = req.exclude.clone();
    let mut text_terms = Vec::new();
    let mut text_linker = None;
    if let Some(text) = req.text.as_deref() {
        let l = cx.linker.get_or_init(|| TextLinker::load(cx.g, cx.idx));
        text_linker = Some(l.name());
        text_terms = l.terms(text);
        for t in &text_terms {
            match t.status {
                "present" => present.push(t.term.clone()),
                "excluded" => excluded.push(t.term.clone()),
                _ => {}
            }
        }
        if present.is_empty() {
            anyhow::bail!(
                "no present HPO phenotype found in the text ({} terms found, none affirmed); pass --hpo terms instead",
                text_terms.len()
            );
        }
    }
    let q = cx.idx.prepare(&present, &excluded)?;
    let ranking = cx.idx.rank(&q, cx.cfg, k);
    let mut lit = Vec::with_capacity(ranking.candidates.len());
    for c in &ranking.candidates {
        lit.push(match &cx.literature {
            Some(kw) => literature(kw, &c.id.to_string(), &c.name)?,
            None => Vec::new(),
        });
    }
    Ok(Answer {
        ranking,
        text_terms,
        text_linker,
        literature: lit,
    })
}

fn answer_json(a: &Answer) -> serde_json::Value {
    let mut v = serde_json::to_value(&a.ranking)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
    if let Some(cands) = v.get_mut("candidates").and_then(|c| c.as_array_mut()) {
        for (c, lit) in cands.iter_mut().zip(&a.literature) {
            if let Some(o) = c.as_object_mut() {
                o.insert(
                    "literature".into(),
                    serde_json::to_value(lit).unwrap_or_default(),
                );
            }
        }
    }
    if let (Some(name), Some(o)) = (a.text_linker, v.as_object_mut()) {
        o.insert("text_linker".into(), name.into());
        o.insert(
            "text_terms".into(),
            serde_json::to_value(&a.text_terms).unwrap_or(serde_json::Value::Null),
        );
    }
    v
}

fn print_table(a: &Answer) {
    for w in &a.ranking.query.warnings {
        eprintln!("note: {w}");
    }
    if let Some(l) = a.text_linker {
        eprintln!("text mapped by the {l}");
    }
    for m in &a.text_terms {
        eprintln!(
            "text: {} {} \"{}\" -> {}{}",
            m.term,
            m.name,
            m.text,
            m.status,
            m.note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
    }
    println!(
        "{:>4}  {:<14} {:>8} {:>9}  name",
        "rank", "id", "score", "posterior"
    );
    for (i, c) in a.ranking.candidates.iter().enumerate() {
        let post = c
            .posterior
            .map(|p| format!("{p:.3}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:>4}  {:<14} {:>8.2} {:>9}  {}",
            c.rank,
            c.id.to_string(),
            c.score,
            post,
            c.name
        );
        for m in c.matched.iter().take(4) {
            println!(
                "        {} {} ~ {} {} (via {} {}, IC {:.2}, freq {:.2})",
                m.patient.id,
                m.patient.name,
                m.disease.id,
                m.disease.name,
                m.mica.id,
                m.mica.name,
                m.ic,
                m.frequency
            );
        }
        if !c.not_observed.is_empty() {
            let names: Vec<String> = c
                .not_observed
                .iter()
                .take(3)
                .map(|d| d.term.name.clone())
                .collect();
            println!("        not observed: {}", names.join("; "));
        }
        for l in a.literature.get(i).into_iter().flatten() {
            println!(
                "        literature: {} chars {}-{}  {}",
                l.doc_id, l.start, l.end, l.title
            );
        }
    }
}

/// Runs `clinrag rare`.
pub async fn run(g: &crate::Global, mut args: Args) -> anyhow::Result<ExitCode> {
    match args.action.take() {
        Some(Action::Eval(a)) => return super::eval_rare::run(g, a).await,
        Some(Action::Bench(a)) => return super::bench_rare::run(g, a).await,
        other => args.action = other,
    }
    let g = g.clone();
    tokio::task::spawn_blocking(move || run_blocking(&g, args))
        .await
        .context("the rare-disease worker thread failed")?
}

fn run_blocking(g: &crate::Global, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Action::Simulate(s)) = &args.action {
        return simulate_cmd(g, s);
    }
    let cfg = args.scoring.config()?;
    if args.batch.is_none() && args.hpo.is_empty() && args.text.is_none() {
        anyhow::bail!(
            "no phenotype given: pass --hpo HP:...,HP:... (and optionally --exclude) or --text, or --batch FILE.jsonl"
        );
    }
    let idx = load_index(g, args.scoring.index_config()?)?;
    let cx = Ctx {
        g,
        idx: &idx,
        cfg: &cfg,
        linker: std::cell::OnceCell::new(),
        literature: literature_index(g),
    };
    if let Some(batch) = &args.batch {
        return run_batch(&cx, batch, args.k);
    }
    let req = Request {
        hpo: args.hpo,
        exclude: args.exclude,
        text: args.text,
        ..Request::default()
    };
    let a = answer(&cx, &req, args.k)?;
    if g.json {
        println!("{}", answer_json(&a));
    } else {
        print_table(&a);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_batch(cx: &Ctx<'_>, path: &Path, k: usize) -> anyhow::Result<ExitCode> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = 0usize;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: cannot read", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = match serde_json::from_str::<Request>(&line) {
            Ok(req) => match answer(cx, &req, req.k.unwrap_or(k)) {
                Ok(a) => {
                    let mut v = answer_json(&a);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("id".into(), req.id.clone());
                    }
                    v
                }
                Err(e) => {
                    failed += 1;
                    serde_json::json!({ "id": req.id, "error": format!("{e:#}") })
                }
            },
            Err(e) => {
                failed += 1;
                crate::store::bad_batch_line(&line, n, e)
            }
        };
        writeln!(out, "{v}")?;
    }
    if failed > 0 {
        tracing::warn!(failed, "some batch requests failed");
    }
    Ok(ExitCode::SUCCESS)
}

fn simulate_cmd(g: &crate::Global, s: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let idx = load_index(g, IndexConfig::default())?;
    let cfg = SimConfig {
        seed: s.seed,
        cases: s.n,
        ..SimConfig::default()
    };
    let cases = simulate(&idx, &cfg);
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&s.out)
            .with_context(|| format!("cannot create {}", s.out.display()))?,
    );
    for c in &cases {
        writeln!(f, "{}", serde_json::to_string(c)?)?;
    }
    f.flush()?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({ "written": cases.len(), "path": s.out.display().to_string(), "config": cfg })
        );
    } else {
        println!(
            "wrote {} simulated cases (seed {}) to {}",
            cases.len(),
            s.seed,
            s.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
