//! Tools: typed functions over retrieval, the concept graph, coding and phenotype ranking that an
//! agent (or a person, through the agent loop) can call with JSON arguments.
//!
//! A [`Tool`] has typed arguments and a typed result; [`DynTool`] is its JSON face (arguments
//! parsed with serde, so bad arguments are an error the loop returns to the model, never a panic).
//! Every argument schema stays inside the JSON-schema subset that `llm-runtime` can enforce
//! during generation, so a local model's tool arguments always parse.

use std::sync::Arc;

use clinrag_coding::{AtcCoder, Coding, IcdCoder};
use clinrag_kg::{ConceptGraph, Linker};
use clinrag_llm_runtime::BoxFuture;
use clinrag_phenotype::{RankConfig, RareIndex};
use clinrag_retrieval::{Catalog, SearchFilter, char_slice};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::qa::Asker;
use crate::verify::Passage;

/// Why a tool call failed; returned to the model as text, never fatal to the loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// No tool of that name.
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    /// Arguments do not match the tool's schema.
    #[error("bad arguments for {tool}: {reason}")]
    BadArgs { tool: String, reason: String },
    /// The tool ran and failed (unknown code, missing document, component not loaded, ...).
    #[error("{0}")]
    Failed(String),
}

/// A typed tool.
pub trait Tool: Send + Sync {
    /// Arguments, parsed from the model's JSON.
    type Args: DeserializeOwned + Send;
    /// Result, serialised for the model and the trace.
    type Output: Serialize + Send;
    /// Name the model uses.
    fn name(&self) -> &'static str;
    /// One line for the model's tool list.
    fn description(&self) -> &'static str;
    /// JSON schema of [`Tool::Args`] (the `llm-runtime` subset: objects, arrays, strings,
    /// integers, numbers, booleans, enums).
    fn schema(&self) -> serde_json::Value;
    /// Runs the tool.
    fn call(&self, args: Self::Args) -> BoxFuture<'_, Result<Self::Output, ToolError>>;
}

/// The JSON face of a [`Tool`], for the agent loop.
pub trait DynTool: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn schema(&self) -> serde_json::Value;
    /// Parses `args`, runs the tool, serialises the result.
    fn call_json(
        &self,
        args: serde_json::Value,
    ) -> BoxFuture<'_, Result<serde_json::Value, ToolError>>;
}

impl<T: Tool> DynTool for T {
    fn name(&self) -> &'static str {
        Tool::name(self)
    }
    fn description(&self) -> &'static str {
        Tool::description(self)
    }
    fn schema(&self) -> serde_json::Value {
        Tool::schema(self)
    }
    fn call_json(
        &self,
        args: serde_json::Value,
    ) -> BoxFuture<'_, Result<serde_json::Value, ToolError>> {
        Box::pin(async move {
            let a: T::Args = serde_json::from_value(args).map_err(|e| ToolError::BadArgs {
                tool: Tool::name(self).to_string(),
                reason: e.to_string(),
            })?;
            let out = self.call(a).await?;
            serde_json::to_value(out).map_err(|e| ToolError::Failed(format!("result: {e}")))
        })
    }
}

fn failed(e: impl std::fmt::Display) -> ToolError {
    ToolError::Failed(e.to_string())
}

fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
) -> BoxFuture<'static, Result<T, ToolError>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ToolError::Failed(format!("tool task failed: {e}")))?
    })
}

// ---------------------------------------------------------------------------------------------

/// `search_literature`: ranked passages with citations.
pub struct SearchLiterature(pub Arc<Asker>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    pub query: String,
    #[serde(default)]
    pub k: Option<u32>,
}

impl Tool for SearchLiterature {
    type Args = SearchArgs;
    type Output = Vec<Passage>;
    fn name(&self) -> &'static str {
        "search_literature"
    }
    fn description(&self) -> &'static str {
        "Search the indexed literature; returns passages with doc_id, char offsets and text."
    }
    fn schema(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {
            "query": {"type": "string", "maxLength": 300},
            "k": {"type": "integer"}
        }})
    }
    fn call(&self, a: SearchArgs) -> BoxFuture<'_, Result<Vec<Passage>, ToolError>> {
        let searcher = self.0.searcher().clone();
        let mode = self.0.config.mode.unwrap_or(if searcher.has_dense() {
            clinrag_retrieval::SearchMode::Hybrid
        } else {
            clinrag_retrieval::SearchMode::Bm25
        });
        let k = a.k.unwrap_or(5).clamp(1, 20) as usize;
        run_blocking(move || {
            let hits = searcher
                .search(&a.query, k, mode, &SearchFilter::default())
                .map_err(failed)?;
            Ok(Passage::from_hits(hits))
        })
    }
}

/// `get_passage`: the exact stored text of a document span.
pub struct GetPassage(pub Catalog);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassageArgs {
    pub doc_id: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Serialize)]
pub struct PassageText {
    pub doc_id: String,
    pub start: usize,
    pub end: usize,
    pub text: String,
}

impl Tool for GetPassage {
    type Args = PassageArgs;
    type Output = PassageText;
    fn name(&self) -> &'static str {
        "get_passage"
    }
    fn description(&self) -> &'static str {
        "The exact stored text of chars [start, end) of a document."
    }
    fn schema(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {
            "doc_id": {"type": "string", "maxLength": 100},
            "start": {"type": "integer"},
            "end": {"type": "integer"}
        }})
    }
    fn call(&self, a: PassageArgs) -> BoxFuture<'_, Result<PassageText, ToolError>> {
        Box::pin(async move {
            if a.end <= a.start || a.end - a.start > 20_000 {
                return Err(ToolError::BadArgs {
                    tool: "get_passage".into(),
                    reason: "need start < end and at most 20000 chars".into(),
                });
            }
            let doc = self
                .0
                .document(&a.doc_id)
                .await
                .map_err(failed)?
                .ok_or_else(|| ToolError::Failed(format!("no such document: {}", a.doc_id)))?;
            let text = char_slice(&doc.body, a.start, a.end).ok_or_else(|| {
                ToolError::Failed(format!(
                    "span {}..{} is outside {} ({} chars)",
                    a.start,
                    a.end,
                    a.doc_id,
                    doc.body.chars().count()
                ))
            })?;
            Ok(PassageText {
                doc_id: a.doc_id,
                start: a.start,
                end: a.end,
                text: text.to_string(),
            })
        })
    }
}

/// `link_concepts`: concept mentions with spans and negation.
pub struct LinkConcepts(pub Arc<Linker>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextArgs {
    pub text: String,
}

/// A linked mention, as tools report it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkedConcept {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub concept_id: String,
    pub label: String,
    pub negated: bool,
    /// Every concept id of the mention (best vocabulary first).
    pub all_ids: Vec<String>,
}

/// Links `text` with `linker`.
pub fn link(linker: &Linker, text: &str) -> Vec<LinkedConcept> {
    linker
        .link(text)
        .into_iter()
        .filter_map(|m| {
            let first = m.concept_ids.first()?.clone();
            Some(LinkedConcept {
                start: m.start,
                end: m.end,
                text: m.text_span,
                concept_id: first.id,
                label: first.label,
                negated: m.negated,
                all_ids: m.concept_ids.into_iter().map(|c| c.id).collect(),
            })
        })
        .collect()
}

impl Tool for LinkConcepts {
    type Args = TextArgs;
    type Output = Vec<LinkedConcept>;
    fn name(&self) -> &'static str {
        "link_concepts"
    }
    fn description(&self) -> &'static str {
        "Find ICD-10-CM, HPO, MeSH, ATC and drug concepts in text, with char spans and negation."
    }
    fn schema(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {"text": {"type": "string", "maxLength": 2000}}})
    }
    fn call(&self, a: TextArgs) -> BoxFuture<'_, Result<Vec<LinkedConcept>, ToolError>> {
        let l = self.0.clone();
        run_blocking(move || Ok(link(&l, &a.text)))
    }
}

/// `lookup_code`: a concept of the graph by its id.
pub struct LookupCode(pub Arc<ConceptGraph>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeArgs {
    pub code: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ConceptInfo {
    pub id: String,
    pub label: String,
    pub kind: String,
}

impl Tool for LookupCode {
    type Args = CodeArgs;
    type Output = Vec<ConceptInfo>;
    fn name(&self) -> &'static str {
        "lookup_code"
    }
    fn description(&self) -> &'static str {
        "Look up a code (I21.4, HP:0001166, ATC:N02BE01, OMIM:154700, ...) in the vocabularies."
    }
    fn schema(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {"code": {"type": "string", "maxLength": 40}}})
    }
    fn call(&self, a: CodeArgs) -> BoxFuture<'_, Result<Vec<ConceptInfo>, ToolError>> {
        Box::pin(async move {
            let ixs = self.0.lookup(&a.code).map_err(failed)?;
            Ok(ixs
                .into_iter()
                .filter_map(|i| self.0.node(i))
                .map(|n| ConceptInfo {
                    id: n.id(),
                    label: n.label.clone(),
                    kind: format!("{:?}", n.kind),
                })
                .collect())
        })
    }
}

/// `kg_neighbors`: concepts related to a code in the graph.
pub struct KgNeighbors(pub Arc<ConceptGraph>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighborArgs {
    pub code: String,
    #[serde(default)]
    pub depth: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct NeighborInfo {
    pub id: String,
    pub label: String,
    pub edge: String,
    pub depth: usize,
}

impl Tool for KgNeighbors {
    type Args = NeighborArgs;
    type Output = Vec<NeighborInfo>;
    fn name(&self) -> &'static str {
        "kg_neighbors"
    }
    fn description(&self) -> &'static str {
        "Concepts linked to a code in the concept graph (parents, children, phenotypes, mappings)."
    }
    fn schema(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {
            "code": {"type": "string", "maxLength": 40},
            "depth": {"type": "integer"}
        }})
    }
    fn call(&self, a: NeighborArgs) -> BoxFuture<'_, Result<Vec<NeighborInfo>, ToolError>> {
        Box::pin(async move {
            let ixs = self.0.lookup(&a.code).map_err(failed)?;
            let start = *ixs
                .first()
                .ok_or_else(|| ToolError::Failed(format!("no such code: {}", a.code)))?;
            let depth = a.depth.unwrap_or(1).clamp(1, 2) as usize;
            Ok(self
                .0
                .neighbors(start, depth, None)
                .into_iter()
                .take(50)
                .filter_map(|nb| {
                    let n = self.0.node(nb.node)?;
                    Some(NeighborInfo {
                        id: n.id(),
                        label: n.label.clone(),
                        edge: format!("{:?}", nb.edge),
                        depth: nb.depth,
                    })
                })
                .collect())
        })
    }
}

/// `assign_codes`: ICD-10-CM or ATC codes with evidence spans.
pub struct AssignCodes {
    pub icd: Option<Arc<IcdCoder>>,
    pub atc: Option<Arc<AtcCoder>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignArgs {
    pub text: String,
    pub system: CodeSystem,
}

/// Code systems of `assign_codes`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CodeSystem {
    Icd10cm,
    Atc,
}

impl Tool for AssignCodes {
    type Args = AssignArgs;
    type Output = Coding;
    fn name(&self) -> &'static str {
        "assign_codes"
    }
    fn description(&self) -> &'static str {
        "Assign billable ICD-10-CM or level-5 ATC codes to clinical text, with evidence spans."
    }
    fn schema(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {
            "text": {"type": "string", "maxLength": 2000},
            "system": {"enum": ["icd10cm", "atc"]}
        }})
    }
    fn call(&self, a: AssignArgs) -> BoxFuture<'_, Result<Coding, ToolError>> {
        let icd = self.icd.clone();
        let atc = self.atc.clone();
        run_blocking(move || match a.system {
            CodeSystem::Icd10cm => icd
                .map(|c| c.code(&a.text))
                .ok_or_else(|| ToolError::Failed("the ICD-10-CM coder is not loaded".into())),
            CodeSystem::Atc => atc
                .map(|c| c.code(&a.text))
                .ok_or_else(|| ToolError::Failed("the ATC coder is not loaded".into())),
        })
    }
}

/// `rank_rare_diseases`: OMIM/ORPHA diseases ranked for HPO terms.
pub struct RankRareDiseases(pub Arc<RareIndex>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RareArgs {
    pub hpo: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub k: Option<u32>,
}

/// A ranked disease, as tools report it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RareCandidate {
    pub rank: usize,
    pub id: String,
    pub name: String,
    pub score: f64,
    /// Patient terms the disease explains (HPO ids).
    pub matched: Vec<String>,
    /// Frequent disease phenotypes the patient does not show (HPO ids).
    pub not_observed: Vec<String>,
    /// Excluded terms the disease usually has, and present terms it is annotated not to have.
    pub against: Vec<String>,
}

/// Ranks with `idx` (shared by the tool and the diagnosis agent).
pub fn rank_rare(
    idx: &RareIndex,
    hpo: &[String],
    exclude: &[String],
    k: usize,
) -> Result<Vec<RareCandidate>, ToolError> {
    let q = idx.prepare(hpo, exclude).map_err(failed)?;
    let r = idx.rank(&q, &RankConfig::default(), k);
    Ok(r.candidates
        .into_iter()
        .map(|c| RareCandidate {
            rank: c.rank,
            id: c.id.to_string(),
            name: c.name,
            score: c.score,
            matched: c.matched.iter().map(|m| m.patient.id.to_string()).collect(),
            not_observed: c
                .not_observed
                .iter()
                .map(|p| format!("{} {}", p.term.id, p.term.name))
                .collect(),
            against: c
                .excluded_but_expected
                .iter()
                .map(|p| format!("excluded but expected: {} {}", p.term.id, p.term.name))
                .chain(
                    c.contradicted
                        .iter()
                        .map(|t| format!("annotated absent: {} {}", t.id, t.name)),
                )
                .collect(),
        })
        .collect())
}

impl Tool for RankRareDiseases {
    type Args = RareArgs;
    type Output = Vec<RareCandidate>;
    fn name(&self) -> &'static str {
        "rank_rare_diseases"
    }
    fn description(&self) -> &'static str {
        "Rank rare diseases (OMIM, ORPHA) for present and excluded HPO terms."
    }
    fn schema(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {
            "hpo": {"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 12}},
            "exclude": {"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 12}},
            "k": {"type": "integer"}
        }})
    }
    fn call(&self, a: RareArgs) -> BoxFuture<'_, Result<Vec<RareCandidate>, ToolError>> {
        let idx = self.0.clone();
        run_blocking(move || {
            let k = a.k.unwrap_or(10).clamp(1, 50) as usize;
            rank_rare(&idx, &a.hpo, &a.exclude, k)
        })
    }
}

/// `ask_literature`: the QA agent as a tool (agents consult each other): a verified answer.
pub struct AskLiterature(pub Arc<Asker>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionArgs {
    pub question: String,
}

impl Tool for AskLiterature {
    type Args = QuestionArgs;
    type Output = crate::qa::Answer;
    fn name(&self) -> &'static str {
        "ask_literature"
    }
    fn description(&self) -> &'static str {
        "Answer a question from the literature with verified citations (or abstain)."
    }
    fn schema(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {"question": {"type": "string", "maxLength": 300}}})
    }
    fn call(&self, a: QuestionArgs) -> BoxFuture<'_, Result<crate::qa::Answer, ToolError>> {
        Box::pin(async move {
            self.0
                .ask_collect(crate::qa::AskRequest::new(a.question))
                .await
                .map_err(failed)
        })
    }
}

/// The tools an agent may call, by name.
#[derive(Default, Clone)]
pub struct Toolbox {
    tools: Vec<Arc<dyn DynTool>>,
}

impl Toolbox {
    /// An empty toolbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool (a later tool of the same name replaces the earlier one).
    pub fn with(mut self, tool: Arc<dyn DynTool>) -> Self {
        self.tools.retain(|t| t.name() != tool.name());
        self.tools.push(tool);
        self
    }

    /// Every tool over the components that are loaded.
    pub fn standard(
        asker: Option<Arc<Asker>>,
        linker: Option<Arc<Linker>>,
        icd: Option<Arc<IcdCoder>>,
        atc: Option<Arc<AtcCoder>>,
        rare: Option<Arc<RareIndex>>,
    ) -> Self {
        let mut tb = Self::new();
        if let Some(a) = &asker {
            tb = tb
                .with(Arc::new(SearchLiterature(a.clone())))
                .with(Arc::new(AskLiterature(a.clone())));
            if let Some(c) = a.catalog() {
                tb = tb.with(Arc::new(GetPassage(c.clone())));
            }
        }
        if let Some(l) = &linker {
            let g = l.graph().clone();
            tb = tb
                .with(Arc::new(LinkConcepts(l.clone())))
                .with(Arc::new(LookupCode(g.clone())))
                .with(Arc::new(KgNeighbors(g)));
        }
        if icd.is_some() || atc.is_some() {
            tb = tb.with(Arc::new(AssignCodes { icd, atc }));
        }
        if let Some(r) = rare {
            tb = tb.with(Arc::new(RankRareDiseases(r)));
        }
        tb
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn DynTool>> {
        self.tools.iter().find(|t| t.name() == name)
    }

    /// Tool names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|t| t.name()).collect()
    }

    /// The tools.
    pub fn tools(&self) -> &[Arc<dyn DynTool>] {
        &self.tools
    }

    /// Calls a tool by name.
    pub async fn call(
        &self,
        name: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, ToolError> {
        let t = self
            .get(name)
            .ok_or_else(|| ToolError::UnknownTool(name.to_string()))?;
        t.call_json(args).await
    }
}
