//! The agent loop: a chat model calls tools until it finishes or a budget runs out.
//!
//! Each step is two constrained generations, so every step parses: the model first picks the
//! tool by constrained choice among the toolbox's names and `finish`, then writes the arguments
//! as JSON constrained by that tool's schema (`finish` takes `{"answer": string}`). An
//! out-of-range choice (only a misbehaving backend can produce one) is an unknown tool, and
//! arguments that do not deserialise are bad arguments: both go back to the model as an error
//! and cost a step. Tool results go back fenced as data.
//!
//! The loop reports a closed set of [`AgentEvent`]s on a channel and returns the whole trace,
//! which is also written to the catalog's audit table (tool names, argument names and sizes,
//! result sizes and timings: no argument values, so no patient text).

use std::sync::Arc;
use std::time::Instant;

use clinrag_llm_runtime::{CancelToken, ChatModel, LlmError, Message, SamplingParams};
use clinrag_retrieval::Catalog;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::Sender;

use crate::error::{AgentError, Result};
use crate::prompts::{self, AGENT_LOOP};
use crate::tools::Toolbox;

/// Limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Tool calls (steps) at most, `finish` included.
    pub max_steps: usize,
    /// Estimated tokens (prompt + output chars / 4) over the whole run.
    pub max_tokens: usize,
    /// Longest tool result shown to the model, in chars (the trace keeps the size).
    pub max_result_chars: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            max_steps: 6,
            max_tokens: 12_000,
            max_result_chars: 1_500,
        }
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Finished,
    StepBudget,
    TokenBudget,
    Cancelled,
}

/// What the loop reports while it runs (a closed set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A step starts.
    Step { step: usize },
    /// The model called a tool.
    ToolCall {
        step: usize,
        tool: String,
        args: serde_json::Value,
    },
    /// The tool answered.
    ToolResult {
        step: usize,
        tool: String,
        result: serde_json::Value,
        ms: f64,
    },
    /// The call failed (unknown tool, bad arguments, tool error); the model is told.
    ToolError {
        step: usize,
        tool: String,
        error: String,
    },
    /// The model finished with this text.
    Final { answer: String },
    /// The run stopped.
    Stopped { reason: StopReason },
}

/// One step of the trace (what the audit table gets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    pub step: usize,
    pub tool: String,
    /// Argument names (values are not recorded: they may hold patient text).
    pub arg_names: Vec<String>,
    pub arg_bytes: usize,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    pub result_bytes: usize,
    pub ms: f64,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentOutcome {
    /// The model's final text (not verified: it is the model's; tool results carry the evidence).
    pub answer: Option<String>,
    pub stop: StopReason,
    pub trace: Vec<TraceStep>,
    /// Results of successful tool calls, in order (tool, result).
    pub results: Vec<(String, serde_json::Value)>,
    pub estimated_tokens: usize,
}

/// A tool-using agent over a chat model.
pub struct AgentLoop {
    model: Arc<dyn ChatModel>,
    tools: Toolbox,
    catalog: Option<Catalog>,
    pub budget: Budget,
}

const FINISH: &str = "finish";

impl AgentLoop {
    pub fn new(model: Arc<dyn ChatModel>, tools: Toolbox) -> Self {
        Self {
            model,
            tools,
            catalog: None,
            budget: Budget::default(),
        }
    }

    /// Writes each run's trace to the catalog's audit table.
    pub fn with_catalog(mut self, catalog: Option<Catalog>) -> Self {
        self.catalog = catalog;
        self
    }

    fn system_prompt(&self) -> String {
        let mut s = String::from(AGENT_LOOP.text);
        s.push_str("\nTools:\n");
        for t in self.tools.tools() {
            s.push_str(&format!(
                "- {}: {} Arguments: {}\n",
                t.name(),
                t.description(),
                t.schema()
            ));
        }
        s.push_str("- finish: give the final answer. Arguments: {\"answer\": string}\n");
        s
    }

    /// Runs the loop on `task`.
    pub async fn run(
        &self,
        task: &str,
        cancel: &CancelToken,
        events: Sender<AgentEvent>,
    ) -> Result<AgentOutcome> {
        if task.trim().is_empty() {
            return Err(AgentError::InvalidRequest("the task is empty".into()));
        }
        let mut messages = vec![
            Message::system(self.system_prompt()),
            Message::user(task.to_string()),
        ];
        let mut names: Vec<String> = self.tools.names().iter().map(|s| s.to_string()).collect();
        names.push(FINISH.into());
        let mut out = AgentOutcome {
            answer: None,
            stop: StopReason::StepBudget,
            trace: Vec::new(),
            results: Vec::new(),
            estimated_tokens: 0,
        };
        let est = |m: &[Message]| m.iter().map(|m| m.content.chars().count()).sum::<usize>() / 4;
        for step in 1..=self.budget.max_steps {
            if cancel.is_cancelled() {
                out.stop = StopReason::Cancelled;
                break;
            }
            let _ = events.send(AgentEvent::Step { step }).await;
            let cost = est(&messages);
            if out.estimated_tokens + cost > self.budget.max_tokens {
                out.stop = StopReason::TokenBudget;
                break;
            }
            out.estimated_tokens += cost;
            let mut pick = messages.clone();
            pick.push(Message::user(format!(
                "Step {step}. Which tool now? One of: {}",
                names.join(", ")
            )));
            let t0 = Instant::now();
            let chosen = match self
                .model
                .choose(pick, names.clone(), SamplingParams::greedy(16))
                .await
            {
                Ok(i) => names
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("unknown tool (option {i} of {})", names.len())),
                Err(e) if e.is_retryable() || matches!(e, LlmError::Cancelled) => {
                    return Err(e.into());
                }
                Err(e) => Err(format!("no tool chosen: {e}")),
            };
            let tool = match chosen {
                Ok(tool) => tool,
                Err(error) => {
                    self.fail(
                        &mut out,
                        &mut messages,
                        &events,
                        step,
                        "?",
                        &error,
                        "unknown_tool",
                        0,
                        t0,
                    )
                    .await;
                    continue;
                }
            };
            let schema = if tool == FINISH {
                serde_json::json!({"type": "object", "properties": {"answer": {"type": "string", "maxLength": 800}}})
            } else {
                self.tools
                    .get(&tool)
                    .map(|t| t.schema())
                    .unwrap_or(serde_json::json!({"type": "object", "properties": {}}))
            };
            let mut ask = messages.clone();
            ask.push(Message::user(format!("Arguments for {tool} as JSON:")));
            if cancel.is_cancelled() {
                out.stop = StopReason::Cancelled;
                break;
            }
            let args = self
                .model
                .generate_json(ask, schema, SamplingParams::greedy(200))
                .await;
            let args = match args {
                Ok(a) => a,
                Err(e) if e.is_retryable() => return Err(e.into()),
                Err(e) => {
                    self.fail(
                        &mut out,
                        &mut messages,
                        &events,
                        step,
                        &tool,
                        &format!("arguments could not be produced: {e}"),
                        "bad_args",
                        0,
                        t0,
                    )
                    .await;
                    continue;
                }
            };
            let arg_bytes = args.to_string().len();
            out.estimated_tokens += arg_bytes / 4;
            messages.push(Message::assistant(
                serde_json::json!({"tool": tool, "args": args}).to_string(),
            ));
            let _ = events
                .send(AgentEvent::ToolCall {
                    step,
                    tool: tool.clone(),
                    args: args.clone(),
                })
                .await;
            if tool == FINISH {
                let answer = args
                    .get("answer")
                    .and_then(|a| a.as_str())
                    .unwrap_or_default()
                    .to_string();
                out.trace.push(trace(step, &tool, &args, true, None, 0, t0));
                let _ = events
                    .send(AgentEvent::Final {
                        answer: answer.clone(),
                    })
                    .await;
                out.answer = Some(answer);
                out.stop = StopReason::Finished;
                break;
            }
            match self.tools.call(&tool, args.clone()).await {
                Ok(result) => {
                    let text = result.to_string();
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    out.trace
                        .push(trace(step, &tool, &args, true, None, text.len(), t0));
                    let shown = crate::text::truncate_chars(&text, self.budget.max_result_chars);
                    messages.push(Message::user(format!(
                        "Result of {tool}:\n{}",
                        prompts::fence_numbered([(step, shown.as_str())])
                    )));
                    let _ = events
                        .send(AgentEvent::ToolResult {
                            step,
                            tool: tool.clone(),
                            result: result.clone(),
                            ms,
                        })
                        .await;
                    out.results.push((tool, result));
                }
                Err(e) => {
                    let kind = match &e {
                        crate::tools::ToolError::UnknownTool(_) => "unknown_tool",
                        crate::tools::ToolError::BadArgs { .. } => "bad_args",
                        crate::tools::ToolError::Failed(_) => "failed",
                    };
                    let bytes = arg_bytes;
                    self.fail(
                        &mut out,
                        &mut messages,
                        &events,
                        step,
                        &tool,
                        &e.to_string(),
                        kind,
                        bytes,
                        t0,
                    )
                    .await;
                    if let Some(last) = out.trace.last_mut() {
                        last.arg_names = arg_names(&args);
                    }
                }
            }
        }
        let _ = events.send(AgentEvent::Stopped { reason: out.stop }).await;
        if let Some(cat) = &self.catalog {
            let detail = serde_json::json!({
                "stop": out.stop,
                "steps": out.trace,
                "estimated_tokens": out.estimated_tokens,
                "prompt": AGENT_LOOP.name,
                "model": self.model.info(),
            });
            if let Err(e) = cat.audit("agents", "agent_loop", &detail).await {
                tracing::warn!("cannot write the audit record: {e}");
            }
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn fail(
        &self,
        out: &mut AgentOutcome,
        messages: &mut Vec<Message>,
        events: &Sender<AgentEvent>,
        step: usize,
        tool: &str,
        error: &str,
        kind: &str,
        arg_bytes: usize,
        t0: Instant,
    ) {
        let mut t = trace(
            step,
            tool,
            &serde_json::Value::Null,
            false,
            Some(kind),
            0,
            t0,
        );
        t.arg_bytes = arg_bytes;
        out.trace.push(t);
        messages.push(Message::user(format!(
            "Error from {tool}: {error}. Choose a tool from the list and valid arguments."
        )));
        let _ = events
            .send(AgentEvent::ToolError {
                step,
                tool: tool.to_string(),
                error: error.to_string(),
            })
            .await;
    }
}

fn arg_names(args: &serde_json::Value) -> Vec<String> {
    args.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn trace(
    step: usize,
    tool: &str,
    args: &serde_json::Value,
    ok: bool,
    error_kind: Option<&str>,
    result_bytes: usize,
    t0: Instant,
) -> TraceStep {
    TraceStep {
        step,
        tool: tool.to_string(),
        arg_names: arg_names(args),
        arg_bytes: if args.is_null() {
            0
        } else {
            args.to_string().len()
        },
        ok,
        error_kind: error_kind.map(str::to_string),
        result_bytes,
        ms: t0.elapsed().as_secs_f64() * 1000.0,
    }
}
