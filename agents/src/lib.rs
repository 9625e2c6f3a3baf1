//! Agents of clinrag: question answering with mechanically verified citations, extractive
//! summaries, the `Tool` trait and its tools over retrieval, the concept graph, coding and
//! phenotype ranking, and a budgeted agent loop over a [`clinrag_llm_runtime::ChatModel`].
//!
//! Correctness never depends on the model: answers are built from retrieved text and checked by
//! [`Verifier`]; the model only chooses (constrained choice) or drafts (constrained JSON) and
//! whatever it produces is checked before it reaches the user.

mod agent;
pub mod code_check;
mod diagnose;
mod error;
pub mod prompts;
mod qa;
pub mod route;
mod scripted;
pub mod text;
pub mod tools;
mod verify;

/// Entry points for the fuzz targets in `fuzz/` (not part of the supported API).
#[doc(hidden)]
pub mod fuzzing {
    use crate::verify::{DraftSentence, Passage, Removed};

    /// Maps a generative answer's JSON (as the model produced it) to draft sentences with
    /// citations resolved against `shown`, as [`crate::Asker`] does before verification.
    pub fn parse_generative(
        v: &serde_json::Value,
        shown: &[Passage],
    ) -> (Vec<DraftSentence>, Vec<Removed>) {
        crate::qa::parse_generative(v, shown)
    }
}

pub use agent::{AgentEvent, AgentLoop, AgentOutcome, Budget, StopReason, TraceStep};
pub use diagnose::{Diagnoser, Diagnosis, DiffItem};
pub use error::{AgentError, Result};
pub use qa::{
    Answer, AskEvent, AskRequest, Asker, AskerConfig, ExpandFn, Searched, StageTimings, Style,
    SummarizeRequest, SummarySource,
};
pub use route::{Route, route, route_rules};
pub use scripted::ScriptedModel;
pub use tools::{DynTool, Tool, ToolError, Toolbox};
pub use verify::{
    AnswerSentence, Citation, DraftSentence, MIN_SUPPORT, Passage, Rejection, Removed, Verifier,
};
