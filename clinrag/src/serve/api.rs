//! The JSON endpoints: request and response types (their JSON Schemas feed `/openapi.json`)
//! and handlers that call the library crates (search, coding, rare-disease ranking, documents).
//! CPU-bound work runs on the blocking pool, never on the async workers.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use clinrag_phenotype::{HpoId, IndexConfig, PhenotypeMatcher, RankConfig, RareIndex};
use clinrag_retrieval::{Error as RetrievalError, SearchError, SearchFilter};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::{App, MAX_CODES};
use crate::cmd::search::Mode;

/// Most passages one search may ask for.
pub const MAX_HITS: usize = 100;

/// A JSON request body: 400 when it is not JSON, 422 when it does not fit the schema.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::bad_request("bad_body", "the request body could not be read"))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body with the API's error mapping.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request body is empty: send a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::invalid(format!(
            "the JSON does not fit the request: {}",
            redact_quoted(&e.to_string())
        )),
        _ => ApiError::bad_request(
            "bad_json",
            format!("the request body is not valid JSON: {e}"),
        ),
    })
}

/// Replaces double-quoted values in a serde message (which may be request text) by `"…"`;
/// field names (backquoted) stay.
fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut inside = false;
    for c in msg.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiError::bad_request("bad_query", format!("bad query string: {}", e.body_text()))
}

// ---------------------------------------------------------------------------------------------
// health, metrics, 404

/// `GET /healthz`: liveness (no token needed, no data).
pub async fn healthz(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": app.started.elapsed().as_secs(),
        "loaded": app.loaded(),
    }))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

/// Unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /openapi.json")
}

// ---------------------------------------------------------------------------------------------
// search

/// Retrieval mode.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchModeReq {
    /// BM25 over the keyword index.
    Bm25,
    /// Sentence-embedding similarity (needs the vector index).
    Dense,
    /// BM25 and dense fused (needs the vector index).
    Hybrid,
}

/// `POST /v1/search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The question or keywords (at most 4,096 characters).
    pub query: String,
    /// Number of passages, 1 to 100 (default 10).
    #[serde(default)]
    pub k: Option<usize>,
    /// Retrieval mode (default: hybrid when the vector index exists, else bm25).
    #[serde(default)]
    pub mode: Option<SearchModeReq>,
    /// Only documents from this year on.
    #[serde(default)]
    pub year_min: Option<u64>,
    /// Only documents up to this year.
    #[serde(default)]
    pub year_max: Option<u64>,
    /// Only these source formats (pubmed, pmc, markdown, text, jsonl).
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A cited passage: `text` is exactly the characters `[start, end)` of document `doc_id`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Passage {
    /// 1-based rank.
    pub rank: usize,
    /// Retrieval score.
    pub score: f32,
    /// Document id (`PMID:n`, `PMCID:n`, `DOI:x`, ...).
    pub doc_id: String,
    /// Chunk id.
    pub chunk_id: String,
    /// Document title.
    pub title: String,
    /// Section name.
    pub section: String,
    /// First character (Unicode scalar values) in the stored document text.
    pub start: usize,
    /// End character (exclusive).
    pub end: usize,
    /// The passage.
    pub text: String,
}

/// Answer of `POST /v1/search`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchResponse {
    /// Mode used.
    pub mode: SearchModeReq,
    /// Passages, best first.
    pub hits: Vec<Passage>,
}

/// `POST /v1/search`.
pub async fn search(
    State(app): State<Arc<App>>,
    JsonBody(req): JsonBody<SearchRequest>,
) -> ApiResult<Json<SearchResponse>> {
    let k = req.k.unwrap_or(10);
    if !(1..=MAX_HITS).contains(&k) {
        return Err(ApiError::invalid(format!(
            "k must be between 1 and {MAX_HITS}, got {k}"
        )));
    }
    let mode = match req.mode {
        Some(SearchModeReq::Bm25) => Mode::Bm25,
        Some(SearchModeReq::Dense) => Mode::Dense,
        Some(SearchModeReq::Hybrid) => Mode::Hybrid,
        None => Mode::resolve(None, &app.searcher),
    };
    if mode != Mode::Bm25 && !app.searcher.has_dense() {
        return Err(ApiError::invalid(
            "dense and hybrid search need the vector index (`clinrag ingest --embed`); use mode bm25",
        ));
    }
    let filter = SearchFilter {
        year_min: req.year_min,
        year_max: req.year_max,
        sources: req.sources,
    };
    let searcher = app.searcher.clone();
    let t = Instant::now();
    let hits = tokio::task::spawn_blocking(move || {
        searcher.search(&req.query, k, mode.to_search(), &filter)
    })
    .await
    .map_err(ApiError::internal)?;
    app.metrics.stage("search", t.elapsed());
    let hits = hits.map_err(|e| match e {
        SearchError::Keyword(RetrievalError::InvalidQuery(m)) => ApiError::invalid(m),
        other => ApiError::internal(other),
    })?;
    Ok(Json(SearchResponse {
        mode: match mode {
            Mode::Bm25 => SearchModeReq::Bm25,
            Mode::Dense => SearchModeReq::Dense,
            Mode::Hybrid => SearchModeReq::Hybrid,
        },
        hits: hits
            .into_iter()
            .map(|h| Passage {
                rank: h.rank,
                score: h.score,
                doc_id: h.doc_id,
                chunk_id: h.chunk_id,
                title: h.title,
                section: h.section,
                start: h.start,
                end: h.end,
                text: h.text,
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------------------------------------
// coding

/// `POST /v1/code/icd10cm` and `POST /v1/code/atc`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The clinical text (a phrase or a whole note).
    pub text: String,
    /// Number of codes at most, 1 to 50 (default 10); the problems of the text are always listed.
    #[serde(default)]
    pub k: Option<usize>,
    /// Codes the caller suspects (ICD-10-CM only); unknown ones are reported and ignored.
    #[serde(default)]
    pub hints: Vec<String>,
}

/// A span of the input supporting a code (char offsets of the input, end exclusive).
#[derive(Debug, Serialize, JsonSchema)]
pub struct EvidenceSpan {
    /// First character.
    pub start: usize,
    /// End character (exclusive).
    pub end: usize,
    /// The input's text of the span.
    pub text: String,
}

/// One assigned code.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AssignedCode {
    /// The code (`I21.4`, `N02BE01`): always a code of the loaded classification.
    pub code: String,
    /// Official title.
    pub title: String,
    /// Score in 0..=1.
    pub score: f32,
    /// Answers a problem of the text (`true`) or is an alternative.
    pub primary: bool,
    /// Supporting spans of the input.
    pub evidence: Vec<EvidenceSpan>,
    /// Why this code.
    pub rationale: String,
    /// Tabular notes that apply.
    pub notes: Vec<String>,
}

/// Answer of the coding endpoints.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CodeResponse {
    /// `ICD-10-CM` or `ATC`.
    pub system: String,
    /// Codes, best first.
    pub codes: Vec<AssignedCode>,
    /// Remarks about the input.
    pub warnings: Vec<String>,
}

fn coding_response(system: &str, c: clinrag_coding::Coding, keep: usize) -> CodeResponse {
    let mut codes = c.codes;
    codes.truncate(keep);
    CodeResponse {
        system: system.to_owned(),
        codes: codes
            .into_iter()
            .map(|r| AssignedCode {
                code: r.code,
                title: r.title,
                score: r.score,
                primary: r.primary,
                evidence: r
                    .evidence
                    .into_iter()
                    .map(|e| EvidenceSpan {
                        start: e.start,
                        end: e.end,
                        text: e.text,
                    })
                    .collect(),
                rationale: r.rationale,
                notes: r.notes,
            })
            .collect(),
        warnings: c.warnings,
    }
}

fn check_k(k: Option<usize>) -> ApiResult<usize> {
    let k = k.unwrap_or(10);
    if !(1..=MAX_CODES).contains(&k) {
        return Err(ApiError::invalid(format!(
            "k must be between 1 and {MAX_CODES}, got {k}"
        )));
    }
    Ok(k)
}

/// `POST /v1/code/icd10cm`.
pub async fn code_icd10cm(
    State(app): State<Arc<App>>,
    JsonBody(req): JsonBody<CodeRequest>,
) -> ApiResult<Json<CodeResponse>> {
    let k = check_k(req.k)?;
    let coder = app.icd().await?;
    let t = Instant::now();
    let coding = tokio::task::spawn_blocking(move || coder.code_with(&req.text, &req.hints, None))
        .await
        .map_err(ApiError::internal)?;
    app.metrics.stage("code_icd10cm", t.elapsed());
    // The coder ran with k = MAX_CODES; its list cut at k equals a run with k (alternatives are
    // ranked globally after the problems), keeping every problem of the text.
    let keep = k.max(coding.codes.iter().filter(|c| c.primary).count());
    Ok(Json(coding_response("ICD-10-CM", coding, keep)))
}

/// `POST /v1/code/atc`.
pub async fn code_atc(
    State(app): State<Arc<App>>,
    JsonBody(req): JsonBody<CodeRequest>,
) -> ApiResult<Json<CodeResponse>> {
    let k = check_k(req.k)?;
    let coder = app.atc().await?;
    let t = Instant::now();
    let hints = req.hints;
    let mut coding = tokio::task::spawn_blocking(move || coder.code(&req.text))
        .await
        .map_err(ApiError::internal)?;
    app.metrics.stage("code_atc", t.elapsed());
    for h in &hints {
        coding
            .warnings
            .push(format!("hint {h:?} ignored: hints apply to ICD-10-CM only"));
    }
    Ok(Json(coding_response("ATC", coding, k)))
}

// ---------------------------------------------------------------------------------------------
// rare diseases and HPO

/// The HPO ontology, the ranking index, the text matcher and the autocomplete labels.
pub struct RareData {
    idx: RareIndex,
    matcher: PhenotypeMatcher,
    /// (lower-cased label, term, label, is a synonym), phenotypic abnormalities only.
    labels: Vec<(String, HpoId, String, bool)>,
}

impl RareData {
    /// Loads `vocab/hpo/{hp.obo,phenotype.hpoa}` of the home folder (blocking).
    pub fn load(g: &crate::Global) -> anyhow::Result<Self> {
        let idx = crate::cmd::rare::load_index(g, IndexConfig::default())?;
        let ont = idx.ontology();
        let matcher = PhenotypeMatcher::new(ont);
        let labels = ont
            .labels()
            .filter(|(id, _, _)| ont.is_phenotypic_abnormality(*id))
            .map(|(id, label, kind)| {
                (
                    label.to_lowercase(),
                    id,
                    label.to_owned(),
                    !matches!(kind, clinrag_phenotype::LabelKind::Name),
                )
            })
            .collect();
        Ok(Self {
            idx,
            matcher,
            labels,
        })
    }

    fn name(&self, id: HpoId) -> String {
        self.idx.ontology().name(id).unwrap_or("").to_owned()
    }

    /// Terms whose name or synonym matches `q`: exact, then prefix, then word prefix, then
    /// substring; names before synonyms, shorter first; one entry per term.
    pub fn suggest(&self, q: &str, limit: usize) -> Vec<HpoSuggestion> {
        let q = q.trim().to_lowercase();
        if let Ok(r) = self.idx.ontology().resolve_str(&q.to_uppercase()) {
            let id = r.id;
            return vec![HpoSuggestion {
                id: id.to_string(),
                name: self.name(id),
                label: self.name(id),
                synonym: false,
            }];
        }
        if q.chars().count() < 2 {
            return Vec::new();
        }
        let mut scored: Vec<(u8, bool, usize, usize)> = Vec::new();
        for (i, (low, _, _, syn)) in self.labels.iter().enumerate() {
            let rank = if *low == q {
                0
            } else if low.starts_with(&q) {
                1
            } else if low
                .match_indices(&q)
                .any(|(p, _)| low[..p].ends_with(|c: char| !c.is_alphanumeric()))
            {
                2
            } else if low.contains(&q) {
                3
            } else {
                continue;
            };
            scored.push((rank, *syn, low.len(), i));
        }
        scored.sort_unstable();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (_, syn, _, i) in scored {
            let (_, id, label, _) = &self.labels[i];
            if !seen.insert(*id) {
                continue;
            }
            out.push(HpoSuggestion {
                id: id.to_string(),
                name: self.name(*id),
                label: label.clone(),
                synonym: syn,
            });
            if out.len() >= limit {
                break;
            }
        }
        out
    }
}

/// `GET /v1/hpo/suggest?q=..&limit=..`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SuggestQuery {
    /// Typed text (two characters at least) or an `HP:` id.
    pub q: String,
    /// Number of suggestions, 1 to 50 (default 10).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One autocomplete suggestion.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HpoSuggestion {
    /// `HP:nnnnnnn`.
    pub id: String,
    /// Preferred name.
    pub name: String,
    /// The name or synonym that matched.
    pub label: String,
    /// Whether `label` is a synonym.
    pub synonym: bool,
}

/// Answer of `GET /v1/hpo/suggest`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SuggestResponse {
    /// Suggestions, best first.
    pub terms: Vec<HpoSuggestion>,
}

/// `GET /v1/hpo/suggest`.
pub async fn hpo_suggest(
    State(app): State<Arc<App>>,
    q: Result<Query<SuggestQuery>, QueryRejection>,
) -> ApiResult<Json<SuggestResponse>> {
    let Query(q) = q.map_err(query_error)?;
    let limit = q.limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and 50, got {limit}"
        )));
    }
    let data = app.rare().await?;
    let t = Instant::now();
    let terms = tokio::task::spawn_blocking(move || data.suggest(&q.q, limit))
        .await
        .map_err(ApiError::internal)?;
    app.metrics.stage("hpo_suggest", t.elapsed());
    Ok(Json(SuggestResponse { terms }))
}

/// `POST /v1/rare`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RareRequest {
    /// Observed HPO terms (`HP:0001250`).
    #[serde(default)]
    pub hpo: Vec<String>,
    /// Explicitly absent HPO terms.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Case description: phenotypes found by exact name/synonym match are added (negated ones
    /// are excluded).
    #[serde(default)]
    pub text: Option<String>,
    /// Number of diseases, 1 to 100 (default 10).
    #[serde(default)]
    pub k: Option<usize>,
}

/// An HPO term.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TermOut {
    /// `HP:nnnnnnn`.
    pub id: String,
    /// Preferred name.
    pub name: String,
}

/// A patient phenotype and the disease phenotype that explains it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MatchOut {
    /// The patient's term.
    pub patient: TermOut,
    /// The disease's phenotype.
    pub disease: TermOut,
    /// Information content of their most informative common ancestor.
    pub ic: f64,
    /// Frequency of the disease phenotype.
    pub frequency: f64,
}

/// One ranked disease.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiseaseOut {
    /// 1-based rank.
    pub rank: usize,
    /// `OMIM:n` or `ORPHA:n`: always a disease of the loaded annotations.
    pub id: String,
    /// Disease name.
    pub name: String,
    /// log10 likelihood ratio (or similarity for the bma scheme).
    pub score: f64,
    /// Posterior probability under a uniform prior.
    pub posterior: Option<f64>,
    /// Patient phenotypes the disease explains.
    pub matched: Vec<MatchOut>,
    /// Frequent disease phenotypes the patient does not show.
    pub not_observed: Vec<TermOut>,
}

/// A phenotype found in the case text (char offsets of the text).
#[derive(Debug, Serialize, JsonSchema)]
pub struct TextTerm {
    /// First character.
    pub start: usize,
    /// End character (exclusive).
    pub end: usize,
    /// `HP:nnnnnnn`.
    pub id: String,
    /// Preferred name.
    pub name: String,
    /// A negation cue governs it (the term is excluded).
    pub negated: bool,
}

/// Answer of `POST /v1/rare`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RareResponse {
    /// Diseases, best first.
    pub candidates: Vec<DiseaseOut>,
    /// Observed terms used.
    pub present: Vec<TermOut>,
    /// Excluded terms used.
    pub excluded: Vec<TermOut>,
    /// Phenotypes found in `text`.
    pub text_terms: Vec<TextTerm>,
    /// What was mapped, dropped or ignored, and why.
    pub warnings: Vec<String>,
    /// Diseases scored.
    pub diseases_scored: usize,
}

fn rank_blocking(data: &RareData, req: RareRequest, k: usize) -> ApiResult<RareResponse> {
    let mut present = req.hpo;
    let mut excluded = req.exclude;
    let mut text_terms = Vec::new();
    if let Some(text) = req.text.as_deref() {
        for m in data.matcher.find(text) {
            let id = m.term.to_string();
            if m.negated {
                excluded.push(id.clone());
            } else {
                present.push(id.clone());
            }
            // Byte offsets to char offsets.
            let start = text.get(..m.start).map_or(0, |s| s.chars().count());
            let len = text.get(m.start..m.end).map_or(0, |s| s.chars().count());
            text_terms.push(TextTerm {
                start,
                end: start + len,
                id,
                name: m.name,
                negated: m.negated,
            });
        }
        if text_terms.is_empty() && present.is_empty() {
            return Err(ApiError::invalid(
                "no HPO phenotype found in the text (exact name or synonym match); pass hpo terms instead",
            ));
        }
    }
    if present.is_empty() && excluded.is_empty() {
        return Err(ApiError::invalid(
            "no phenotype given: pass hpo (observed HPO ids), exclude, or text",
        ));
    }
    let q = data
        .idx
        .prepare(&present, &excluded)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let ranking = data.idx.rank(&q, &RankConfig::default(), k);
    let term = |id: HpoId| TermOut {
        id: id.to_string(),
        name: data.name(id),
    };
    Ok(RareResponse {
        candidates: ranking
            .candidates
            .into_iter()
            .map(|c| DiseaseOut {
                rank: c.rank,
                id: c.id.to_string(),
                name: c.name,
                score: c.score,
                posterior: c.posterior,
                matched: c
                    .matched
                    .into_iter()
                    .map(|m| MatchOut {
                        patient: term(m.patient.id),
                        disease: term(m.disease.id),
                        ic: m.ic,
                        frequency: m.frequency,
                    })
                    .collect(),
                not_observed: c
                    .not_observed
                    .into_iter()
                    .map(|d| term(d.term.id))
                    .collect(),
            })
            .collect(),
        present: ranking.query.present_ids.iter().map(|i| term(*i)).collect(),
        excluded: ranking
            .query
            .excluded_ids
            .iter()
            .map(|i| term(*i))
            .collect(),
        text_terms,
        warnings: ranking.query.warnings,
        diseases_scored: ranking.diseases_scored,
    })
}

/// `POST /v1/rare`.
pub async fn rare(
    State(app): State<Arc<App>>,
    JsonBody(req): JsonBody<RareRequest>,
) -> ApiResult<Json<RareResponse>> {
    let k = req.k.unwrap_or(10);
    if !(1..=100).contains(&k) {
        return Err(ApiError::invalid(format!(
            "k must be between 1 and 100, got {k}"
        )));
    }
    let data = app.rare().await?;
    let t = Instant::now();
    let r = tokio::task::spawn_blocking(move || rank_blocking(&data, req, k))
        .await
        .map_err(ApiError::internal)?;
    app.metrics.stage("rare", t.elapsed());
    Ok(Json(r?))
}

// ---------------------------------------------------------------------------------------------
// documents

/// `GET /v1/documents/{id}?start=..&end=..`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DocumentQuery {
    /// First character of a passage to return.
    #[serde(default)]
    pub start: Option<usize>,
    /// End character (exclusive) of the passage.
    #[serde(default)]
    pub end: Option<usize>,
}

/// A section of a stored document.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SectionOut {
    /// Section name.
    pub name: String,
    /// First character.
    pub start: usize,
    /// End character (exclusive).
    pub end: usize,
}

/// The passage a citation points to.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SpanOut {
    /// First character.
    pub start: usize,
    /// End character (exclusive).
    pub end: usize,
    /// Section holding the whole span, if one does.
    pub section: Option<String>,
    /// Exactly the characters `[start, end)` of `body`.
    pub text: String,
}

/// Answer of `GET /v1/documents/{id}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DocumentResponse {
    /// Document id.
    pub doc_id: String,
    /// Title.
    pub title: String,
    /// Source format.
    pub source: String,
    /// Journal.
    pub journal: Option<String>,
    /// Publication year.
    pub year: Option<i32>,
    /// Authors.
    pub authors: Vec<String>,
    /// DOI.
    pub doi: Option<String>,
    /// MeSH descriptors.
    pub mesh: Vec<String>,
    /// Sections of `body`.
    pub sections: Vec<SectionOut>,
    /// Length of `body` in characters.
    pub chars: usize,
    /// The stored text citations point into.
    pub body: String,
    /// The requested passage.
    pub passage: Option<SpanOut>,
}

/// `GET /v1/documents/{id}`.
pub async fn document(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    q: Result<Query<DocumentQuery>, QueryRejection>,
) -> ApiResult<Json<DocumentResponse>> {
    let Query(q) = q.map_err(query_error)?;
    let t = Instant::now();
    let doc = app
        .catalog
        .document(&id)
        .await
        .map_err(ApiError::internal)?;
    app.metrics.stage("document", t.elapsed());
    let Some(doc) = doc else {
        return Err(ApiError::not_found(format!("no such document: {id}")));
    };
    let chars = doc.body.chars().count();
    let passage = match (q.start, q.end) {
        (None, None) => None,
        (Some(start), Some(end)) => {
            let Some(text) = doc.span(start, end) else {
                return Err(ApiError::invalid(format!(
                    "span {start}:{end} is outside document {id} (its text has {chars} characters)"
                )));
            };
            let section = doc
                .sections
                .iter()
                .find(|s| s.start <= start && end <= s.end)
                .map(|s| s.name.clone());
            Some(SpanOut {
                start,
                end,
                section,
                text: text.to_owned(),
            })
        }
        _ => {
            return Err(ApiError::invalid(
                "give both start and end (character offsets) or neither",
            ));
        }
    };
    Ok(Json(DocumentResponse {
        sections: doc
            .sections
            .iter()
            .map(|s| SectionOut {
                name: s.name.clone(),
                start: s.start,
                end: s.end,
            })
            .collect(),
        doc_id: doc.doc_id,
        title: doc.title,
        source: doc.source,
        journal: doc.journal,
        year: doc.year,
        authors: doc.authors,
        doi: doc.doi,
        mesh: doc.mesh,
        chars,
        body: doc.body,
        passage,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_are_400_or_422_and_do_not_echo_values() {
        let e = parse_json::<SearchRequest>(b"{\"query\": ").unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        let e = parse_json::<SearchRequest>(b"  ").unwrap_err();
        assert_eq!(e.code, "empty_body");
        let e = parse_json::<SearchRequest>(br#"{"query": "chest pain", "k": "secret words"}"#)
            .unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!e.message.contains("secret words"), "{}", e.message);
        let e = parse_json::<SearchRequest>(br#"{"query": "x", "bogus": 1}"#).unwrap_err();
        assert!(e.message.contains("bogus"), "{}", e.message);
    }

    #[test]
    fn redaction_keeps_field_names() {
        assert_eq!(
            redact_quoted("invalid type: string \"abc\", expected usize at `k`"),
            "invalid type: string \"…\", expected usize at `k`"
        );
    }
}
