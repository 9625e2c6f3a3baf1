//! `clinrag summarize DOC_ID... | --file NOTE`: an extractive summary whose every sentence cites
//! its source span, checked by the same verifier as `ask`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clinrag_agents::{Asker, AskerConfig, SummarizeRequest};

use crate::Global;

/// Arguments of `clinrag summarize`.
#[derive(clap::Args)]
pub struct Args {
    /// Stored document ids (`PMID:n`, ...).
    #[arg(required_unless_present = "file")]
    doc_ids: Vec<String>,
    /// A note to summarize instead (its file name becomes the document id of the citations).
    #[arg(long, conflicts_with = "doc_ids")]
    file: Option<PathBuf>,
    /// Sentences per document.
    #[arg(long, default_value_t = 3)]
    sentences: usize,
}

/// Runs `clinrag summarize`: every sentence cites its source span; the verifier checks it.
pub async fn run(g: &Global, args: Args) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let searcher = Arc::new(crate::store::searcher(g)?);
    let asker = Asker::new(searcher, AskerConfig::default())
        .with_catalog(Some(crate::store::catalog(g).await?));
    let mut req = match &args.file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the note {}", f.display()))?;
            let name = f
                .file_name()
                .map(|n| format!("FILE:{}", n.to_string_lossy()))
                .unwrap_or_else(|| "FILE:note".into());
            SummarizeRequest::text(name, text)
        }
        None => SummarizeRequest::docs(args.doc_ids.clone()),
    };
    req.max_sentences = args.sentences.max(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let r = asker.summarize(req, tx).await;
    let _ = drain.await;
    let a = r?;
    if g.json {
        println!("{}", serde_json::to_string(&a)?);
    } else {
        println!("{}", a.answer);
        crate::cmd::ask::print_sources(&a);
    }
    Ok(if a.abstained {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
