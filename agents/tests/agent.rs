//! The agent loop over real tools (search and stored passages of a fixture corpus ingested by
//! the real pipeline), driven by a scripted model that calls unknown tools, passes bad
//! arguments and never stops on its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use clinrag_agents::tools::{GetPassage, SearchLiterature};
use clinrag_agents::{
    AgentEvent, AgentLoop, Asker, AskerConfig, Budget, ScriptedModel, StopReason, Toolbox,
};
use clinrag_llm_runtime::{CancelToken, ChatModel};
use clinrag_retrieval::HybridSearcher;

mod common;

use common::{fixture, ingested};

async fn toolbox() -> (tempfile::TempDir, Toolbox) {
    let (dir, catalog, index, _) = ingested(&[fixture("corpus.jsonl")]).await;
    let asker = Arc::new(
        Asker::new(Arc::new(HybridSearcher::new(index)), AskerConfig::default())
            .with_catalog(Some(catalog.clone())),
    );
    let tb = Toolbox::new()
        .with(Arc::new(SearchLiterature(asker)))
        .with(Arc::new(GetPassage(catalog)));
    (dir, tb)
}

async fn run(
    model: ScriptedModel,
    tb: Toolbox,
    budget: Budget,
    cancel: &CancelToken,
) -> (clinrag_agents::AgentOutcome, Vec<AgentEvent>) {
    let mut agent = AgentLoop::new(Arc::new(model) as Arc<dyn ChatModel>, tb);
    agent.budget = budget;
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let out = agent
        .run("How is warfarin monitored?", cancel, tx)
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (out, events)
}

#[tokio::test]
async fn errors_go_back_to_the_model_and_the_run_goes_on() {
    let (_d, tb) = toolbox().await;
    let model = ScriptedModel::new([
        // 1: a real search
        "search_literature",
        r#"{"query": "warfarin monitoring", "k": 2}"#,
        // 2: an option that does not exist
        "17",
        // 3: bad arguments (doc_id must be a string, start/end missing)
        "get_passage",
        r#"{"doc_id": 5}"#,
        // 4: a span outside the document
        "get_passage",
        r#"{"doc_id": "DOC:warfarin", "start": 0, "end": 5000}"#,
        // 5: a good call
        "get_passage",
        r#"{"doc_id": "DOC:warfarin", "start": 0, "end": 19}"#,
        // 6: finish
        "finish",
        r#"{"answer": "Warfarin is monitored with the INR."}"#,
    ]);
    let (out, events) = run(model, tb, Budget::default(), &CancelToken::new()).await;
    assert_eq!(out.stop, StopReason::Finished);
    assert_eq!(
        out.answer.as_deref(),
        Some("Warfarin is monitored with the INR.")
    );
    let kinds: Vec<(bool, Option<&str>)> = out
        .trace
        .iter()
        .map(|t| (t.ok, t.error_kind.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (true, None),
            (false, Some("unknown_tool")),
            (false, Some("bad_args")),
            (false, Some("failed")),
            (true, None),
            (true, None),
        ]
    );
    // The search found the warfarin passage; get_passage returned the exact stored text.
    let (tool, r) = &out.results[0];
    assert_eq!(tool, "search_literature");
    assert_eq!(r[0]["doc_id"], "DOC:warfarin");
    assert_eq!(out.results[1].1["text"], "Warfarin monitoring");
    // The trace holds argument names, never values.
    let trace = serde_json::to_string(&out.trace).unwrap();
    assert!(!trace.contains("warfarin monitoring") && !trace.contains("DOC:warfarin"));
    assert!(matches!(events.first(), Some(AgentEvent::Step { step: 1 })));
    assert!(matches!(
        events.last(),
        Some(AgentEvent::Stopped {
            reason: StopReason::Finished
        })
    ));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, AgentEvent::ToolError { .. }))
            .count(),
        3
    );
}

#[tokio::test]
async fn budgets_and_cancellation_stop_the_loop() {
    let forever: Vec<&str> = ["search_literature", r#"{"query": "aspirin"}"#].repeat(20);
    let (_d, tb) = toolbox().await;
    let budget = Budget {
        max_steps: 3,
        ..Budget::default()
    };
    let (out, _) = run(
        ScriptedModel::new(forever.clone()),
        tb.clone(),
        budget,
        &CancelToken::new(),
    )
    .await;
    assert_eq!(out.stop, StopReason::StepBudget);
    assert_eq!(out.trace.len(), 3);
    assert!(out.answer.is_none());

    let budget = Budget {
        max_tokens: 10,
        ..Budget::default()
    };
    let (out, _) = run(
        ScriptedModel::new(forever.clone()),
        tb.clone(),
        budget,
        &CancelToken::new(),
    )
    .await;
    assert_eq!(out.stop, StopReason::TokenBudget);
    assert!(out.trace.is_empty());

    let cancel = CancelToken::new();
    cancel.cancel();
    let (out, events) = run(ScriptedModel::new(forever), tb, Budget::default(), &cancel).await;
    assert_eq!(out.stop, StopReason::Cancelled);
    assert!(matches!(
        events.last(),
        Some(AgentEvent::Stopped {
            reason: StopReason::Cancelled
        })
    ));
}
