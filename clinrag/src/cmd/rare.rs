//! `clinrag rare`: rank OMIM and ORPHA diseases for a patient's HPO phenotypes (or free text),
//! with matched phenotype pairs, hallmarks not observed and a calibrated score; `--batch` for JSONL.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clinrag_phenotype::{
    IndexConfig, PhenotypeMatcher, RankConfig, Ranking, RareIndex, Scheme, SimConfig, TextMention,
    simulate,
};

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
    /// Case description; phenotypes are found by exact label/synonym match, negated ones are excluded.
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

struct Answer {
    ranking: Ranking,
    mentions: Vec<TextMention>,
}

fn answer(
    idx: &RareIndex,
    matcher: Option<&PhenotypeMatcher>,
    cfg: &RankConfig,
    req: &Request,
    k: usize,
) -> anyhow::Result<Answer> {
    let mut present = req.hpo.clone();
    let mut excluded = req.exclude.clone();
    let mut mentions = Vec::new();
    if let (Some(text), Some(m)) = (req.text.as_deref(), matcher) {
        mentions = m.find(text);
        for x in &mentions {
            let id = x.term.to_string();
            if x.negated {
                excluded.push(id);
            } else {
                present.push(id);
            }
        }
        if mentions.is_empty() && present.is_empty() {
            anyhow::bail!(
                "no HPO phenotype found in the text (exact label or synonym match); pass --hpo terms instead"
            );
        }
    }
    let q = idx.prepare(&present, &excluded)?;
    Ok(Answer {
        ranking: idx.rank(&q, cfg, k),
        mentions,
    })
}

fn answer_json(a: &Answer) -> serde_json::Value {
    let mut v = serde_json::to_value(&a.ranking)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
    if !a.mentions.is_empty()
        && let Some(o) = v.as_object_mut()
    {
        o.insert(
            "text_terms".into(),
            serde_json::to_value(&a.mentions).unwrap_or(serde_json::Value::Null),
        );
    }
    v
}

fn print_table(a: &Answer) {
    for w in &a.ranking.query.warnings {
        eprintln!("note: {w}");
    }
    for m in &a.mentions {
        eprintln!(
            "text: {} {}{}",
            m.term,
            m.name,
            if m.negated {
                " (negated -> excluded)"
            } else {
                ""
            }
        );
    }
    println!(
        "{:>4}  {:<14} {:>8} {:>9}  name",
        "rank", "id", "score", "posterior"
    );
    for c in &a.ranking.candidates {
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
    let needs_text = args.text.is_some() || args.batch.is_some();
    // TODO(lead): use clinrag-kg's linker for --text when it is wired; this is the exact-match fallback.
    let matcher = needs_text.then(|| PhenotypeMatcher::new(idx.ontology()));
    if let Some(batch) = &args.batch {
        return run_batch(&idx, matcher.as_ref(), &cfg, batch, args.k);
    }
    let req = Request {
        hpo: args.hpo,
        exclude: args.exclude,
        text: args.text,
        ..Request::default()
    };
    let a = answer(&idx, matcher.as_ref(), &cfg, &req, args.k)?;
    if g.json {
        println!("{}", answer_json(&a));
    } else {
        print_table(&a);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_batch(
    idx: &RareIndex,
    matcher: Option<&PhenotypeMatcher>,
    cfg: &RankConfig,
    path: &Path,
    k: usize,
) -> anyhow::Result<ExitCode> {
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
            Ok(req) => match answer(idx, matcher, cfg, &req, req.k.unwrap_or(k)) {
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
