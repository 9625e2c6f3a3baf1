//! Question answering with verified citations (`clinrag ask`), and extractive summaries.
//!
//! Stages: retrieve (the `search` retrieval, graph-expanded when an expansion function is given) → select candidate sentences
//! from the evidence passages (question-term and concept overlap; instruction-like sentences and
//! sentences carrying literature identifiers of their own are never candidates) → generate → verify ([`crate::Verifier`]) → answer or abstain.
//!
//! Generation styles:
//! * [`Style::Extractive`] (default): the answer is made of evidence sentences, so every quote is
//!   exact by construction. The model only picks the lead sentence among the top candidates with
//!   constrained choice; whatever it picks, it can only be one of them.
//! * [`Style::Generative`]: the model writes JSON (constrained) with sentences, passage numbers
//!   and quotes; quotes are located in the cited passage, and everything is verified. When no
//!   sentence survives, the extractive answer is used instead (`fallback`).
//!
//! Abstention: when no passage contains at least [`AskerConfig::min_coverage`] of the question's
//! content words, or no sentence reaches [`AskerConfig::min_relevance`], or nothing survives
//! verification, the answer abstains and says what was searched.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use clinrag_kg::Linker;
use clinrag_llm_runtime::{CancelToken, ChatModel, Message, ModelInfo, SamplingParams};
use clinrag_retrieval::{
    Catalog, ExpansionConfig, Hit, HybridSearcher, MAX_QUERY_CHARS, QueryExpansion, SearchFilter,
    SearchMode,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::Sender;

use crate::error::{AgentError, Result};
use crate::prompts::{self, QA_CHOOSE, QA_GENERATE};
use crate::text::{content_tokens, sentences};
use crate::verify::{AnswerSentence, Citation, DraftSentence, Passage, Removed, Verifier};

/// How the answer text is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Evidence sentences, lead chosen by the model (default).
    #[default]
    Extractive,
    /// Model-written sentences with quotes, verified.
    Generative,
}

/// Settings of an [`Asker`].
#[derive(Debug, Clone)]
pub struct AskerConfig {
    /// Passages retrieved.
    pub k: usize,
    /// Retrieval mode (`None`: hybrid when the searcher has vectors, else BM25).
    pub mode: Option<SearchMode>,
    /// Default generation style.
    pub style: Style,
    /// At most this many answer sentences.
    pub max_sentences: usize,
    /// Candidate sentences offered to the model's choice.
    pub choices: usize,
    /// Verifier threshold ([`crate::MIN_SUPPORT`]).
    pub min_support: f32,
    /// Abstain unless some passage holds this share of the question's content words.
    pub min_coverage: f32,
    /// A sentence is a candidate only with this relevance (share of question words, concepts).
    pub min_relevance: f32,
    /// Expand the query through the concept graph (needs [`Asker::with_expander`]).
    pub expand: bool,
    /// Weights of the expansion (retrieval's).
    pub expansion: ExpansionConfig,
    /// Passages shown to the model in generative style.
    pub generative_passages: usize,
    /// Token budget of a generative answer.
    pub max_tokens: usize,
}

impl Default for AskerConfig {
    fn default() -> Self {
        Self {
            k: 8,
            mode: None,
            style: Style::Extractive,
            max_sentences: 3,
            choices: 4,
            min_support: crate::verify::MIN_SUPPORT,
            min_coverage: 0.4,
            min_relevance: 0.34,
            expand: false,
            expansion: ExpansionConfig::default(),
            generative_passages: 4,
            max_tokens: 256,
        }
    }
}

/// One question.
#[derive(Debug, Clone, Default)]
pub struct AskRequest {
    pub question: String,
    pub k: Option<usize>,
    pub mode: Option<SearchMode>,
    pub style: Option<Style>,
    pub filter: SearchFilter,
    pub cancel: CancelToken,
}

impl AskRequest {
    /// A request with default settings.
    pub fn new(question: impl Into<String>) -> Self {
        Self {
            question: question.into(),
            ..Self::default()
        }
    }
}

/// What [`Asker::ask`] reports while it works, in this order: one `Evidence`, zero or more
/// `Token` (pieces of the verified answer text), one `Answer`.
#[derive(Debug, Clone)]
pub enum AskEvent {
    Evidence(Vec<Passage>),
    Token(String),
    Answer(Box<Answer>),
}

/// What was searched (always reported; the abstention message repeats it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Searched {
    pub query: String,
    /// Concept-graph expansion terms of the second query.
    pub expansion: Vec<String>,
    pub mode: Option<SearchMode>,
    pub k: usize,
    /// Passages retrieved.
    pub passages: usize,
    /// Best share of question content words found in one passage.
    pub best_coverage: f32,
}

/// Milliseconds per stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    pub retrieve_ms: f64,
    pub select_ms: f64,
    pub generate_ms: f64,
    pub verify_ms: f64,
    pub total_ms: f64,
}

/// A verified answer (the JSON contract of `clinrag ask`, plus extra fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The sentences joined, each followed by its citation markers `[n]`.
    pub answer: String,
    pub abstained: bool,
    pub sentences: Vec<AnswerSentence>,
    pub evidence: Vec<Passage>,
    pub searched: Searched,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abstain_reason: Option<String>,
    /// Sentences (or citations) the verifier dropped, with the reason.
    pub removed: Vec<Removed>,
    pub style: Style,
    /// The generative answer failed verification; the extractive one is given instead.
    pub fallback: bool,
    /// Prompt versions used.
    pub prompts: Vec<String>,
    pub model: Option<ModelInfo>,
    pub timings: StageTimings,
}

/// Where a summary's text comes from.
#[derive(Debug, Clone)]
pub enum SummarySource {
    /// Stored documents (needs [`Asker::with_catalog`]).
    Docs(Vec<String>),
    /// A note given as text; `name` becomes its document id in citations.
    Text { name: String, text: String },
}

/// A summary request.
#[derive(Debug, Clone)]
pub struct SummarizeRequest {
    pub source: SummarySource,
    /// At most this many sentences per document (default 3).
    pub max_sentences: usize,
    pub cancel: CancelToken,
}

impl SummarizeRequest {
    /// Summaries of stored documents.
    pub fn docs(ids: Vec<String>) -> Self {
        Self {
            source: SummarySource::Docs(ids),
            max_sentences: 3,
            cancel: CancelToken::new(),
        }
    }

    /// A summary of a note.
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            source: SummarySource::Text {
                name: name.into(),
                text: text.into(),
            },
            max_sentences: 3,
            cancel: CancelToken::new(),
        }
    }
}

/// Answer sentences after the lead need this share of the best candidate's relevance.
pub const FOLLOW_RELEVANCE: f32 = 0.75;

/// Coverage weight of a question word that occurs nowhere in the index.
pub const ABSENT_TERM_WEIGHT: f32 = 3.0;

/// Maps a query to its concept-graph expansion.
pub type ExpandFn = Arc<dyn Fn(&str) -> QueryExpansion + Send + Sync>;

/// The question-answering agent: built once, shared as `Arc<Asker>`.
pub struct Asker {
    searcher: Arc<HybridSearcher>,
    model: Option<Arc<dyn ChatModel>>,
    linker: Option<Arc<Linker>>,
    expander: Option<ExpandFn>,
    catalog: Option<Catalog>,
    /// Settings.
    pub config: AskerConfig,
}

/// A candidate answer sentence.
#[derive(Debug, Clone)]
struct Candidate {
    passage: usize,
    start: usize,
    end: usize,
    text: String,
    relevance: f32,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

impl Asker {
    /// An asker over `searcher`, purely extractive until a model is added.
    pub fn new(searcher: Arc<HybridSearcher>, config: AskerConfig) -> Self {
        Self {
            searcher,
            model: None,
            linker: None,
            expander: None,
            catalog: None,
            config,
        }
    }

    /// Adds the chat model.
    pub fn with_model(mut self, model: Option<Arc<dyn ChatModel>>) -> Self {
        self.model = model;
        self
    }

    /// Adds the linker (graph expansion, concept overlap in relevance and support).
    pub fn with_linker(mut self, linker: Option<Arc<Linker>>) -> Self {
        self.linker = linker;
        self
    }

    /// Adds the query expansion through the concept graph (the binary maps the linker's
    /// expansion to retrieval's plain data, as `clinrag search --expand on` does).
    pub fn with_expander(mut self, expander: Option<ExpandFn>) -> Self {
        self.expander = expander;
        self
    }

    /// Adds the catalog (summaries of stored documents, audit records).
    pub fn with_catalog(mut self, catalog: Option<Catalog>) -> Self {
        self.catalog = catalog;
        self
    }

    /// The searcher.
    pub fn searcher(&self) -> &Arc<HybridSearcher> {
        &self.searcher
    }

    /// The model, if any.
    pub fn model(&self) -> Option<&Arc<dyn ChatModel>> {
        self.model.as_ref()
    }

    /// The linker, if any.
    pub fn linker(&self) -> Option<&Arc<Linker>> {
        self.linker.as_ref()
    }

    /// The catalog, if any.
    pub fn catalog(&self) -> Option<&Catalog> {
        self.catalog.as_ref()
    }

    /// [`Asker::ask`] without events.
    pub async fn ask_collect(&self, req: AskRequest) -> Result<Answer> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let r = self.ask(req, tx).await;
        let _ = drain.await;
        r
    }

    /// Answers a question from the indexed literature, with verified citations.
    pub async fn ask(&self, req: AskRequest, events: Sender<AskEvent>) -> Result<Answer> {
        let total = Instant::now();
        let question = req.question.trim().to_string();
        if question.is_empty() {
            return Err(AgentError::InvalidRequest("the question is empty".into()));
        }
        if question.chars().count() > MAX_QUERY_CHARS {
            return Err(AgentError::InvalidRequest(format!(
                "the question is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        let cfg = &self.config;
        let k = req.k.unwrap_or(cfg.k).clamp(1, 100);
        let style = req.style.unwrap_or(cfg.style);
        let mode = req
            .mode
            .or(cfg.mode)
            .unwrap_or(if self.searcher.has_dense() {
                SearchMode::Hybrid
            } else {
                SearchMode::Bm25
            });

        // Retrieve.
        let t = Instant::now();
        let (hits, expansion) = self.retrieve(&question, k, mode, &req.filter).await?;
        let evidence = Passage::from_hits(hits);
        let retrieve_ms = ms(t);
        let _ = events.send(AskEvent::Evidence(evidence.clone())).await;
        check(&req.cancel)?;

        // Select.
        let t = Instant::now();
        let q_tokens = content_tokens(&question);
        let q_concepts = self.concepts(&question);
        let weights = self.term_weights(&question, &evidence).await?;
        let best_coverage = evidence
            .iter()
            .map(|p| coverage(&weights, &p.text))
            .fold(0.0f32, f32::max);
        let candidates = self.candidates(&evidence, &q_tokens, &q_concepts);
        let select_ms = ms(t);
        let mut searched = Searched {
            query: question.clone(),
            expansion,
            mode: Some(mode),
            k,
            passages: evidence.len(),
            best_coverage,
        };

        let mut answer = Answer {
            answer: String::new(),
            abstained: true,
            sentences: Vec::new(),
            evidence,
            searched: Searched::default(),
            abstain_reason: None,
            removed: Vec::new(),
            style,
            fallback: false,
            prompts: Vec::new(),
            model: self.model.as_ref().map(|m| m.info()),
            timings: StageTimings {
                retrieve_ms,
                select_ms,
                ..StageTimings::default()
            },
        };

        let weak = if answer.evidence.is_empty() {
            Some("no passage matched".to_string())
        } else if q_tokens.is_empty() {
            Some("the question has no content words to search for".to_string())
        } else if best_coverage < cfg.min_coverage {
            Some(format!(
                "the best passage holds {:.0}% of the question's terms (needs {:.0}%)",
                best_coverage * 100.0,
                cfg.min_coverage * 100.0
            ))
        } else if candidates.is_empty() {
            Some("no sentence of the evidence is relevant enough".to_string())
        } else {
            None
        };

        if weak.is_none() {
            // Generate.
            let t = Instant::now();
            let mut drafts = Vec::new();
            let mut pre_removed = Vec::new();
            if style == Style::Generative
                && let Some(model) = &self.model
            {
                answer.prompts.push(QA_GENERATE.name.into());
                let (d, r) = self
                    .generative(model.as_ref(), &question, &answer.evidence, &req.cancel)
                    .await?;
                drafts = d;
                pre_removed = r;
            }
            let generative_ok = !drafts.is_empty();
            answer.timings.generate_ms = ms(t);
            check(&req.cancel)?;

            // Verify.
            let t = Instant::now();
            let verifier = {
                let mut v = Verifier::new(&answer.evidence, self.linker.as_deref());
                v.min_support = cfg.min_support;
                v
            };
            let (mut kept, mut removed) = verifier.verify(drafts);
            answer.removed.append(&mut pre_removed);
            answer.removed.append(&mut removed);
            answer.timings.verify_ms = ms(t);

            if kept.is_empty() {
                // Extractive (default, or fallback of a generative answer that failed).
                answer.fallback = style == Style::Generative;
                if answer.fallback && !generative_ok {
                    tracing::debug!("generative answer produced no usable sentence");
                }
                let t = Instant::now();
                let drafts = self
                    .extractive(
                        &question,
                        &answer.evidence,
                        &candidates,
                        &mut answer.prompts,
                    )
                    .await?;
                answer.timings.generate_ms += ms(t);
                check(&req.cancel)?;
                let t = Instant::now();
                let (k2, mut r2) = verifier.verify(drafts);
                kept = k2;
                answer.removed.append(&mut r2);
                answer.timings.verify_ms += ms(t);
            }
            if kept.is_empty() {
                searched.passages = answer.evidence.len();
                answer.abstain_reason = Some("no sentence passed verification".into());
            } else {
                answer.abstained = false;
                answer.sentences = kept;
            }
        } else {
            answer.abstain_reason = weak;
        }

        if answer.abstained {
            answer.sentences.clear();
            answer.answer = abstain_message(&searched, answer.abstain_reason.as_deref());
            let _ = events.send(AskEvent::Token(answer.answer.clone())).await;
        } else {
            let mut text = String::new();
            for s in &answer.sentences {
                let piece = sentence_with_markers(s);
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&piece);
                let _ = events.send(AskEvent::Token(piece)).await;
            }
            answer.answer = text;
        }
        answer.searched = searched;
        answer.timings.total_ms = ms(total);
        self.audit("ask", &answer).await;
        let _ = events
            .send(AskEvent::Answer(Box::new(answer.clone())))
            .await;
        Ok(answer)
    }

    /// The search hits for `question`: `search`'s retrieval, graph-expanded (retrieval's
    /// `search_expanded`) when an expansion function was given and `config.expand` is on.
    async fn retrieve(
        &self,
        question: &str,
        k: usize,
        mode: SearchMode,
        filter: &SearchFilter,
    ) -> Result<(Vec<Hit>, Vec<String>)> {
        let exp = match &self.expander {
            Some(f) if self.config.expand => f(question),
            _ => QueryExpansion::default(),
        };
        let terms: Vec<String> = exp.terms.iter().map(|t| t.term.clone()).collect();
        let searcher = self.searcher.clone();
        let q = question.to_string();
        let filter = filter.clone();
        let cfg = self.config.expansion;
        let hits = tokio::task::spawn_blocking(move || {
            searcher.search_expanded(&q, &exp, &cfg, k, mode, &filter)
        })
        .await
        .map_err(|e| AgentError::Internal(format!("search task failed: {e}")))??;
        Ok((hits.into_iter().map(|h| h.hit).collect(), terms))
    }

    /// Weights of the question's content words for [`coverage`]: a word in few of the retrieved
    /// passages weighs more (`ln(1 + n / (df + 0.5))`), and a word that occurs nowhere in the
    /// index (a keyword search for it finds nothing) weighs [`ABSENT_TERM_WEIGHT`]: a question
    /// about something the corpus never mentions should abstain.
    async fn term_weights(
        &self,
        question: &str,
        evidence: &[Passage],
    ) -> Result<HashMap<String, f32>> {
        let words: Vec<(String, String)> = crate::text::content_words(question)
            .into_iter()
            .take(24)
            .collect();
        let searcher = self.searcher.clone();
        let probe: Vec<String> = words.iter().map(|(_, w)| w.clone()).collect();
        let absent: Vec<bool> = tokio::task::spawn_blocking(move || {
            probe
                .iter()
                .map(|w| {
                    searcher
                        .search(w, 1, SearchMode::Bm25, &SearchFilter::default())
                        .map(|h| h.is_empty())
                        .unwrap_or(false)
                })
                .collect()
        })
        .await
        .map_err(|e| AgentError::Internal(format!("search task failed: {e}")))?;
        let ptoks: Vec<BTreeSet<String>> =
            evidence.iter().map(|p| content_tokens(&p.text)).collect();
        let n = ptoks.len().max(1) as f32;
        Ok(words
            .into_iter()
            .zip(absent)
            .map(|((st, _), absent)| {
                let w = if absent {
                    ABSENT_TERM_WEIGHT
                } else {
                    let df = ptoks.iter().filter(|t| t.contains(&st)).count() as f32;
                    (1.0 + n / (df + 0.5)).ln()
                };
                (st, w)
            })
            .collect())
    }

    fn concepts(&self, text: &str) -> BTreeSet<String> {
        let Some(linker) = &self.linker else {
            return BTreeSet::new();
        };
        linker
            .link(text)
            .into_iter()
            .filter(|m| !m.negated)
            .flat_map(|m| m.concept_ids.into_iter().map(|c| c.id))
            .collect()
    }

    /// Evidence sentences ranked by relevance to the question, best first.
    fn candidates(
        &self,
        evidence: &[Passage],
        q_tokens: &BTreeSet<String>,
        q_concepts: &BTreeSet<String>,
    ) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::new();
        if q_tokens.is_empty() {
            return out;
        }
        for p in evidence {
            for (s, e) in sentences(&p.text) {
                let Some(text) = clinrag_retrieval::char_slice(&p.text, s, e) else {
                    continue;
                };
                if prompts::looks_like_injection(text) || prompts::looks_like_reference(text) {
                    continue;
                }
                let toks = content_tokens(text);
                if toks.len() < 3 {
                    continue;
                }
                let tok_rel = q_tokens.intersection(&toks).count() as f32 / q_tokens.len() as f32;
                let relevance = if q_concepts.is_empty() {
                    tok_rel
                } else {
                    let sc = self.concepts(text);
                    let c = q_concepts.intersection(&sc).count() as f32 / q_concepts.len() as f32;
                    0.7 * tok_rel + 0.3 * c
                };
                if relevance < self.config.min_relevance {
                    continue;
                }
                if out.iter().any(|c| c.text == text) {
                    continue;
                }
                out.push(Candidate {
                    passage: p.n,
                    start: s,
                    end: e,
                    text: text.to_string(),
                    relevance,
                });
            }
        }
        // Best relevance first; ties go to the better-ranked passage, then document order.
        out.sort_by(|a, b| {
            b.relevance
                .total_cmp(&a.relevance)
                .then(a.passage.cmp(&b.passage))
                .then(a.start.cmp(&b.start))
        });
        out
    }

    /// Extractive drafts: the model picks the lead among the top candidates; the rest follow in
    /// relevance order.
    async fn extractive(
        &self,
        question: &str,
        evidence: &[Passage],
        candidates: &[Candidate],
        prompts_used: &mut Vec<String>,
    ) -> Result<Vec<DraftSentence>> {
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        let offered = candidates.len().min(self.config.choices);
        if offered > 1
            && let Some(model) = &self.model
        {
            prompts_used.push(QA_CHOOSE.name.into());
            let data = prompts::fence_numbered(
                candidates[..offered]
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (i + 1, c.text.as_str())),
            );
            let messages = vec![
                Message::system(QA_CHOOSE.text),
                Message::user(format!(
                    "Question: {}\n\nSentences:\n{data}\n\nNumber of the sentence that best answers the question:",
                    prompts::neutralise(question)
                )),
            ];
            let options: Vec<String> = (1..=offered).map(|i| i.to_string()).collect();
            match model
                .choose(messages, options, SamplingParams::greedy(4))
                .await
            {
                Ok(i) if i < offered => {
                    order.remove(i);
                    order.insert(0, i);
                }
                Ok(i) => tracing::warn!("model chose option {i} of {offered}; ignored"),
                Err(e) if e.is_retryable() => return Err(e.into()),
                Err(e) => tracing::warn!("model choice failed ({e}); relevance order kept"),
            }
        }
        // Sentences after the lead must be nearly as relevant as the best candidate.
        let best = candidates.first().map_or(0.0, |c| c.relevance);
        let lead = order.first().copied();
        Ok(order
            .into_iter()
            .filter(|&i| Some(i) == lead || candidates[i].relevance >= FOLLOW_RELEVANCE * best)
            .take(self.config.max_sentences)
            .filter_map(|i| {
                let c = &candidates[i];
                let p = evidence.iter().find(|p| p.n == c.passage)?;
                Some(DraftSentence {
                    text: c.text.clone(),
                    citations: vec![p.cite(c.start, c.end)?],
                })
            })
            .collect())
    }

    /// Generative drafts from the model's JSON; citations are mapped to passage spans by finding
    /// the quote in the cited passage. Citations of passages not shown, and quotes that are not
    /// in their passage, are dropped here (and reported).
    async fn generative(
        &self,
        model: &dyn ChatModel,
        question: &str,
        evidence: &[Passage],
        cancel: &CancelToken,
    ) -> Result<(Vec<DraftSentence>, Vec<Removed>)> {
        let shown = &evidence[..evidence.len().min(self.config.generative_passages)];
        let data = prompts::fence_numbered(shown.iter().map(|p| (p.n, p.text.as_str())));
        let messages = vec![
            Message::system(QA_GENERATE.text),
            Message::user(format!(
                "Passages:\n{data}\n\nQuestion: {}",
                prompts::neutralise(question)
            )),
        ];
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "sentences": {
                    "type": "array", "minItems": 1, "maxItems": self.config.max_sentences,
                    "items": {
                        "type": "object",
                        "properties": {
                            "text": { "type": "string", "maxLength": 300 },
                            "citations": {
                                "type": "array", "minItems": 0, "maxItems": 2,
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "passage": { "type": "integer" },
                                        "quote": { "type": "string", "maxLength": 300 }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        });
        let params = SamplingParams::greedy(self.config.max_tokens);
        let v = match model.generate_json(messages, schema, params).await {
            Ok(v) => v,
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => {
                tracing::warn!("generative answer failed ({e}); extractive answer instead");
                return Ok((Vec::new(), Vec::new()));
            }
        };
        check(cancel)?;
        Ok(parse_generative(&v, shown))
    }

    /// A summary whose every sentence cites its span; verified like answers.
    pub async fn summarize(
        &self,
        req: SummarizeRequest,
        events: Sender<AskEvent>,
    ) -> Result<Answer> {
        let total = Instant::now();
        let t = Instant::now();
        let evidence = match &req.source {
            SummarySource::Text { name, text } => {
                if text.trim().is_empty() {
                    return Err(AgentError::InvalidRequest("the note is empty".into()));
                }
                vec![Passage {
                    n: 1,
                    doc_id: name.clone(),
                    chunk_id: format!("{name}#0"),
                    title: String::new(),
                    section: String::new(),
                    start: 0,
                    end: text.chars().count(),
                    text: text.clone(),
                    score: 1.0,
                }]
            }
            SummarySource::Docs(ids) => {
                let cat = self.catalog.as_ref().ok_or_else(|| {
                    AgentError::Unavailable("summaries of stored documents need the catalog".into())
                })?;
                if ids.is_empty() {
                    return Err(AgentError::InvalidRequest("no document id given".into()));
                }
                let mut ev = Vec::new();
                for id in ids {
                    let doc = cat.document(id).await?.ok_or_else(|| {
                        AgentError::InvalidRequest(format!("no such document: {id}"))
                    })?;
                    for c in cat.chunks(id).await? {
                        let Some(text) = clinrag_retrieval::char_slice(&doc.body, c.start, c.end)
                        else {
                            continue;
                        };
                        ev.push(Passage {
                            n: ev.len() + 1,
                            doc_id: doc.doc_id.clone(),
                            chunk_id: c.chunk_id,
                            title: doc.title.clone(),
                            section: c.section,
                            start: c.start,
                            end: c.end,
                            text: text.to_string(),
                            score: 1.0,
                        });
                    }
                }
                ev
            }
        };
        let retrieve_ms = ms(t);
        let _ = events.send(AskEvent::Evidence(evidence.clone())).await;
        check(&req.cancel)?;
        let t = Instant::now();
        let drafts = summary_drafts(&evidence, req.max_sentences.max(1));
        let select_ms = ms(t);
        let t = Instant::now();
        let verifier = Verifier::new(&evidence, self.linker.as_deref());
        let (kept, removed) = verifier.verify(drafts);
        let verify_ms = ms(t);
        let mut answer = Answer {
            answer: String::new(),
            abstained: kept.is_empty(),
            sentences: kept,
            searched: Searched {
                query: String::new(),
                passages: evidence.len(),
                ..Searched::default()
            },
            evidence,
            abstain_reason: None,
            removed,
            style: Style::Extractive,
            fallback: false,
            prompts: Vec::new(),
            model: None,
            timings: StageTimings {
                retrieve_ms,
                select_ms,
                generate_ms: 0.0,
                verify_ms,
                total_ms: 0.0,
            },
        };
        if answer.abstained {
            answer.abstain_reason = Some("no sentence of the source could be cited".into());
            answer.answer =
                "Nothing to summarize: no sentence of the source could be cited.".into();
        } else {
            let pieces: Vec<String> = answer.sentences.iter().map(sentence_with_markers).collect();
            for p in &pieces {
                let _ = events.send(AskEvent::Token(p.clone())).await;
            }
            answer.answer = pieces.join(" ");
        }
        answer.timings.total_ms = ms(total);
        self.audit("summarize", &answer).await;
        let _ = events
            .send(AskEvent::Answer(Box::new(answer.clone())))
            .await;
        Ok(answer)
    }

    /// Records the outcome (no question or document text) in the catalog's audit table.
    async fn audit(&self, action: &str, a: &Answer) {
        let Some(cat) = &self.catalog else {
            return;
        };
        let detail = serde_json::json!({
            "abstained": a.abstained,
            "sentences": a.sentences.len(),
            "removed": a.removed.len(),
            "evidence": a.evidence.iter().map(|p| &p.chunk_id).collect::<Vec<_>>(),
            "cited": a.sentences.iter().flat_map(|s| s.citations.iter().map(|c| format!("{}:{}-{}", c.doc_id, c.start, c.end))).collect::<Vec<_>>(),
            "style": a.style,
            "fallback": a.fallback,
            "prompts": a.prompts,
            "timings": a.timings,
        });
        if let Err(e) = cat.audit("agents", action, &detail).await {
            tracing::warn!("cannot write the audit record: {e}");
        }
    }
}

fn check(cancel: &CancelToken) -> Result<()> {
    if cancel.is_cancelled() {
        Err(AgentError::Cancelled)
    } else {
        Ok(())
    }
}

/// Weighted share of the question's terms (`weights`) found among the content words of `text`.
fn coverage(weights: &HashMap<String, f32>, text: &str) -> f32 {
    let total: f32 = weights.values().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let t = content_tokens(text);
    weights
        .iter()
        .filter(|(w, _)| t.contains(*w))
        .map(|(_, x)| x)
        .sum::<f32>()
        / total
}

/// `text [n] [m]`.
fn sentence_with_markers(s: &AnswerSentence) -> String {
    let mut ns: Vec<usize> = s.citations.iter().map(|c| c.passage).collect();
    ns.dedup();
    let marks: Vec<String> = ns.iter().map(|n| format!("[{n}]")).collect();
    format!("{} {}", s.text, marks.join(" "))
}

fn abstain_message(s: &Searched, reason: Option<&str>) -> String {
    let mut m = format!(
        "I cannot answer this from the indexed literature. Searched for \"{}\"",
        s.query
    );
    if !s.expansion.is_empty() {
        m.push_str(&format!(
            " (expanded with: {})",
            s.expansion
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    m.push_str(&format!("; {} passages retrieved", s.passages));
    if let Some(r) = reason {
        m.push_str(&format!("; {r}"));
    }
    m.push('.');
    m
}

/// Maps the model's JSON to drafts (see [`Asker::generative`]).
pub(crate) fn parse_generative(
    v: &serde_json::Value,
    shown: &[Passage],
) -> (Vec<DraftSentence>, Vec<Removed>) {
    let mut drafts = Vec::new();
    let mut removed = Vec::new();
    let Some(items) = v.get("sentences").and_then(|s| s.as_array()) else {
        removed.push(Removed {
            text: String::new(),
            reason: "model output has no \"sentences\" array".into(),
        });
        return (drafts, removed);
    };
    for item in items {
        let Some(text) = item.get("text").and_then(|t| t.as_str()) else {
            continue;
        };
        let text = text.trim().to_string();
        if text.is_empty() {
            continue;
        }
        let mut citations: Vec<Citation> = Vec::new();
        let cites = item
            .get("citations")
            .and_then(|c| c.as_array())
            .cloned()
            .unwrap_or_default();
        for c in cites {
            let n = c.get("passage").and_then(|n| n.as_u64()).unwrap_or(0);
            let quote = c.get("quote").and_then(|q| q.as_str()).unwrap_or("");
            let Some(p) = shown.iter().find(|p| p.n as u64 == n) else {
                removed.push(Removed {
                    text: text.clone(),
                    reason: format!("citation [{n}] dropped: no such passage was retrieved"),
                });
                continue;
            };
            match crate::text::find_chars_loose(&p.text, quote) {
                Some((s, e)) => {
                    if let Some(c) = p.cite(s, e) {
                        citations.push(c);
                    }
                }
                None => removed.push(Removed {
                    text: text.clone(),
                    reason: format!("citation [{n}] dropped: the quote does not occur in it"),
                }),
            }
        }
        drafts.push(DraftSentence { text, citations });
    }
    (drafts, removed)
}

/// Extractive summary drafts: per document, the sentences whose content words recur most in
/// the rest of the document (plus the title words), in document order.
fn summary_drafts(evidence: &[Passage], per_doc: usize) -> Vec<DraftSentence> {
    let mut docs: Vec<&str> = Vec::new();
    for p in evidence {
        if !docs.contains(&p.doc_id.as_str()) {
            docs.push(&p.doc_id);
        }
    }
    let mut drafts = Vec::new();
    for doc in docs {
        // (passage, start, end, text, tokens)
        let mut sents: Vec<(&Passage, usize, usize, &str, BTreeSet<String>)> = Vec::new();
        for p in evidence.iter().filter(|p| p.doc_id == doc) {
            for (s, e) in sentences(&p.text) {
                let Some(t) = clinrag_retrieval::char_slice(&p.text, s, e) else {
                    continue;
                };
                if prompts::looks_like_injection(t) || prompts::looks_like_reference(t) {
                    continue;
                }
                sents.push((p, s, e, t, content_tokens(t)));
            }
        }
        let mut df: HashMap<&str, usize> = HashMap::new();
        for (_, _, _, _, toks) in &sents {
            for w in toks {
                *df.entry(w.as_str()).or_default() += 1;
            }
        }
        let title: BTreeSet<String> = evidence
            .iter()
            .find(|p| p.doc_id == doc)
            .map(|p| content_tokens(&p.title))
            .unwrap_or_default();
        let mut scored: Vec<(f32, usize)> = sents
            .iter()
            .enumerate()
            .filter(|(_, s)| s.4.len() >= 4)
            .map(|(i, (p, _, _, _, toks))| {
                let recur: f32 = toks
                    .iter()
                    .map(|w| (df.get(w.as_str()).copied().unwrap_or(1) - 1) as f32)
                    .sum::<f32>()
                    / toks.len() as f32;
                let in_title = toks.intersection(&title).count() as f32 / toks.len() as f32;
                let concl = if p.section.to_lowercase().contains("conclusion") {
                    0.5
                } else {
                    0.0
                };
                (recur + in_title + concl, i)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut pick: Vec<usize> = scored.iter().take(per_doc).map(|s| s.1).collect();
        pick.sort_unstable();
        for i in pick {
            let (p, s, e, t, _) = &sents[i];
            if let Some(c) = p.cite(*s, *e) {
                drafts.push(DraftSentence {
                    text: t.to_string(),
                    citations: vec![c],
                });
            }
        }
    }
    drafts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(n: usize, doc: &str, text: &str) -> Passage {
        Passage {
            n,
            doc_id: doc.into(),
            chunk_id: format!("{doc}#0"),
            title: String::new(),
            section: "Abstract".into(),
            start: 100,
            end: 100 + text.chars().count(),
            text: text.into(),
            score: 1.0,
        }
    }

    #[test]
    fn generative_output_is_mapped_and_checked() {
        let shown = vec![passage(
            1,
            "PMID:1",
            "Metformin lowers hepatic glucose output. It is first-line therapy.",
        )];
        let v = serde_json::json!({"sentences": [
            {"text": "Metformin lowers glucose output.", "citations": [{"passage": 1, "quote": "Metformin lowers hepatic  glucose output."}]},
            {"text": "It cures cancer.", "citations": [{"passage": 7, "quote": "It cures cancer."}]},
            {"text": "It is safe.", "citations": [{"passage": 1, "quote": "It is totally safe."}]},
        ]});
        let (drafts, removed) = parse_generative(&v, &shown);
        assert_eq!(drafts.len(), 3);
        let c = &drafts[0].citations[0];
        assert_eq!(
            (c.start, c.end, c.quote.as_str()),
            (100, 140, "Metformin lowers hepatic glucose output.")
        );
        assert!(drafts[1].citations.is_empty() && drafts[2].citations.is_empty());
        assert_eq!(removed.len(), 2);
        assert!(removed[0].reason.contains("no such passage"));
        assert!(removed[1].reason.contains("does not occur"));
        let (kept, _) = Verifier::new(&shown, None).verify(drafts);
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn summary_cites_own_spans() {
        let ev = vec![passage(
            1,
            "NOTE",
            "Chest pain since morning radiating to left arm. ECG shows ST elevation in leads II, III. Troponin elevated at admission. Patient likes gardening and music.",
        )];
        let drafts = summary_drafts(&ev, 2);
        assert_eq!(drafts.len(), 2);
        let (kept, removed) = Verifier::new(&ev, None).verify(drafts);
        assert_eq!(kept.len(), 2, "{removed:?}");
        for s in kept {
            assert_eq!(s.citations[0].quote, s.text);
        }
    }
}
