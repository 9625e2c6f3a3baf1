//! The QA agent with the real default model (SmolLM2-135M GGUF): the invariants hold whatever
//! the model picks or writes. Needs the model file, so it runs only when `CLINRAG_TEST_MODEL`
//! names it:
//!
//! ```sh
//! CLINRAG_TEST_MODEL=$CLINRAG_HOME/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf \
//!   cargo test --workspace --test default_model
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use clinrag_agents::{AskRequest, Asker, AskerConfig, Style};
use clinrag_llm_runtime::{ChatModel, LocalConfig, LocalModel};
use clinrag_retrieval::{HybridSearcher, char_slice};

mod common;

use common::{fixture, ingested};

#[tokio::test]
async fn default_model_never_breaks_the_citations() {
    let Ok(path) = std::env::var("CLINRAG_TEST_MODEL") else {
        eprintln!("note: CLINRAG_TEST_MODEL not set; default-model test skipped");
        return;
    };
    let model = tokio::task::spawn_blocking(move || {
        LocalModel::load(Path::new(&path), &LocalConfig::default())
    })
    .await
    .unwrap()
    .unwrap();
    let (_dir, catalog, index, _) =
        ingested(&[fixture("corpus.jsonl"), fixture("planted.jsonl")]).await;
    let asker = Asker::new(Arc::new(HybridSearcher::new(index)), AskerConfig::default())
        .with_model(Some(Arc::new(model) as Arc<dyn ChatModel>))
        .with_catalog(Some(catalog.clone()));
    for style in [Style::Extractive, Style::Generative] {
        let mut req = AskRequest::new("What is the first-line drug for type 2 diabetes?");
        req.style = Some(style);
        let a = asker.ask_collect(req).await.unwrap();
        assert!(!a.abstained, "{style:?}: {:?}", a.abstain_reason);
        assert!(
            !a.answer.to_lowercase().contains("glargine"),
            "{}",
            a.answer
        );
        for s in &a.sentences {
            for c in &s.citations {
                assert!(
                    a.evidence
                        .iter()
                        .any(|p| p.n == c.passage && p.doc_id == c.doc_id)
                );
                let doc = catalog.document(&c.doc_id).await.unwrap().unwrap();
                assert_eq!(
                    char_slice(&doc.body, c.start, c.end),
                    Some(c.quote.as_str())
                );
            }
        }
    }
}
