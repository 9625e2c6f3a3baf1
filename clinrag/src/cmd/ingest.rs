//! `clinrag ingest PATH...`: parse, chunk and index files and folders, with a progress bar and
//! a summary; exit code 1 when some files or records failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use std::sync::Arc;

use clinrag_ingest::{ChunkAnnotator, ChunkConfig, Failure, IngestConfig, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Global;

/// Arguments of `clinrag ingest`.
#[derive(clap::Args)]
pub struct Args {
    /// Files or folders (.xml, .xml.gz, .nxml, .md, .txt, .jsonl).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Largest chunk in characters.
    #[arg(long, default_value_t = 1000)]
    max_chunk_chars: usize,
    /// Largest single document in MB.
    #[arg(long, default_value_t = 64)]
    max_doc_mb: usize,
    /// Do not link concepts (ICD-10-CM, HPO, MeSH, ATC, drugs) into the chunks.
    #[arg(long)]
    no_link: bool,
    /// Require embedding: fail when no embedder is installed. By default chunks are embedded
    /// into the vector index (dense and hybrid search) whenever the model is installed.
    #[arg(long, conflicts_with = "no_embed")]
    embed: bool,
    /// Do not create a vector index (keyword search only). A home that already has one keeps
    /// it in line with the catalog regardless.
    #[arg(long)]
    no_embed: bool,
    /// gRPC URL of a Qdrant server holding the vectors (feature `qdrant-server`; API key from
    /// CLINRAG_QDRANT_API_KEY); default: the vector index in the home folder.
    #[arg(long, env = "CLINRAG_QDRANT_URL")]
    qdrant_url: Option<String>,
}

/// The knowledge-graph linker as the ingest pipeline's chunk annotator: the concept ids of the
/// affirmed mentions in each chunk go into the keyword index's `concepts` field.
struct KgAnnotator(clinrag_kg::Linker);

impl ChunkAnnotator for KgAnnotator {
    fn concepts(&self, text: &str) -> Vec<String> {
        self.0
            .concept_counts(text)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }
}

/// Loads the linker when the vocabularies are set up; ingest goes on without it otherwise.
async fn linker(g: &Global) -> Option<Arc<dyn ChunkAnnotator>> {
    let home = g.home.clone();
    if !home.join(clinrag_kg::SNAPSHOT_PATH).exists() && !home.join("vocab").exists() {
        if !g.json {
            eprintln!(
                "note: no vocabularies in {} (run `clinrag setup`): concepts are not linked",
                home.display()
            );
        }
        return None;
    }
    let built = tokio::task::spawn_blocking(move || {
        let graph = clinrag_kg::open_or_build(&home)?;
        clinrag_kg::open_linker(&home, Arc::new(graph))
    })
    .await;
    match built {
        Ok(Ok(l)) => Some(Arc::new(KgAnnotator(l))),
        Ok(Err(e)) => {
            eprintln!("warning: concept linking is off: {e}");
            None
        }
        Err(e) => {
            eprintln!("warning: concept linking is off: {e}");
            None
        }
    }
}

struct Bar {
    bar: ProgressBar,
    started: Instant,
    docs: std::sync::atomic::AtomicU64,
    quiet: bool,
}

impl Progress for Bar {
    fn total_bytes(&self, bytes: u64) {
        self.bar.set_length(bytes);
    }
    fn file_done(&self, _path: &Path, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn documents(&self, n: u64) {
        let d = self.docs.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar
            .set_message(format!("{d} documents, {:.0} docs/s", d as f64 / secs));
    }
    fn failure(&self, f: &Failure) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("failed: {f}"));
        }
    }
}

/// Runs `clinrag ingest`.
pub async fn run(g: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = IngestConfig {
        chunk: ChunkConfig {
            max_chars: args.max_chunk_chars,
        },
        max_doc_bytes: args.max_doc_mb * 1024 * 1024,
        ..IngestConfig::default()
    };
    if !args.no_embed && !crate::store::embedder_installed(g) {
        if args.embed {
            anyhow::bail!(
                "--embed: no embedding model in {} and no CLINRAG_EMBED_BASE_URL (run `clinrag setup`)",
                g.path(crate::store::EMBED_MODEL_DIR).display()
            );
        }
        if !g.json {
            eprintln!(
                "note: no embedding model in {} (run `clinrag setup`): keyword search only",
                g.path(crate::store::EMBED_MODEL_DIR).display()
            );
        }
    }
    let mut ingestor =
        crate::store::ingestor_at(g, cfg, !args.no_embed, args.qdrant_url.as_deref()).await?;
    if !args.no_link
        && let Some(a) = linker(g).await
    {
        ingestor = ingestor.with_annotator(a);
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if g.json {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = Bar {
        bar,
        started: Instant::now(),
        docs: Default::default(),
        quiet: g.json,
    };
    let report = ingestor.ingest(&args.paths, &progress).await?;
    progress.bar.finish_and_clear();
    if g.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("throughput".into(), throughput(&report));
        }
        println!("{v}");
    } else {
        let t = throughput(&report);
        eprintln!(
            "ingested {} documents ({} chunks), unchanged {}, removed {}, failed {} — {} files ({} unchanged) in {:.1}s: {:.0} docs/s, {:.0} chunks/s, {:.1} MB/s",
            report.documents_ingested,
            report.chunks,
            report.documents_unchanged,
            report.documents_removed,
            report.failures.len(),
            report.files,
            report.files_unchanged,
            report.seconds,
            t["documents_per_s"].as_f64().unwrap_or(0.0),
            t["chunks_per_s"].as_f64().unwrap_or(0.0),
            t["mb_per_s"].as_f64().unwrap_or(0.0),
        );
        if let Some(d) = &report.derived {
            eprintln!("{d}");
        }
        if report.recovered.reindexed + report.recovered.purged > 0 {
            eprintln!(
                "recovered an interrupted run: {} documents re-indexed, {} removals finished",
                report.recovered.reindexed, report.recovered.purged
            );
        }
        if !report.files_skipped.is_empty() {
            eprintln!(
                "skipped {} files with unsupported extensions (e.g. {})",
                report.files_skipped.len(),
                report.files_skipped[0]
            );
        }
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn throughput(r: &clinrag_ingest::IngestReport) -> serde_json::Value {
    let s = r.seconds.max(1e-9);
    serde_json::json!({
        "documents_per_s": (r.documents_ingested + r.documents_unchanged) as f64 / s,
        "chunks_per_s": r.chunks as f64 / s,
        "mb_per_s": r.bytes as f64 / 1e6 / s,
    })
}
