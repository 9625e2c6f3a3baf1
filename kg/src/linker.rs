//! Entity linker: dictionary matching over normalised labels, synonyms and a table of clinical
//! abbreviations (a trie over word ids, the word-level equivalent of an Aho-Corasick automaton
//! with overlapping matches); longest non-overlapping matches on word boundaries, char offsets
//! into the original text, and NegEx-style context for each mention.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};

use crate::context::{Certainty, ContextRules, Experiencer, Temporality};
use crate::error::{KgError, Result};
use crate::graph::{ConceptGraph, Detail, EdgeKind, NodeKind, Vocab};
use crate::icd10cm::IcdLevel;
use crate::text::{Respelt, Token, normalize_term, tokenize};

/// A concept a mention links to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptRef {
    /// Vocabulary prefix ("ICD10CM", "HP", "ATC", ...).
    pub vocab: String,
    /// Code within the vocabulary.
    pub code: String,
    /// Concept id (`PREFIX:code`).
    pub id: String,
    /// Preferred label.
    pub label: String,
    /// How the text matched: "label", "synonym \"...\"", "abbreviation MI", "brand Lipitor", ...
    pub matched_via: String,
}

/// A linked span of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    /// Start, in chars (Unicode scalar values) of the original text.
    pub start: usize,
    /// End (exclusive), in chars.
    pub end: usize,
    /// The original text of the span.
    pub text_span: String,
    /// The concepts, best vocabulary first.
    pub concept_ids: Vec<ConceptRef>,
    /// `certainty == Negated`.
    pub negated: bool,
    /// Affirmed, negated or possible.
    pub certainty: Certainty,
    /// Patient or family.
    pub experiencer: Experiencer,
    /// Current or historical.
    pub temporality: Temporality,
    /// How the span's letters were read when not as written (look-alike letters of another
    /// script, fullwidth forms, invisible characters: see [`crate::tokenize`]); empty for plain
    /// text. A mention with a note matched only after that reading.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Via {
    Label,
    Synonym(u16),
    Variant,
    Abbreviation(u16),
}

#[derive(Debug, Default)]
struct Term {
    refs: Vec<(u32, Via)>,
    needs_upper: bool,
    /// The resolved concept references, computed on first use.
    resolved: std::sync::OnceLock<Vec<ConceptRef>>,
}

/// Clinical abbreviations: (abbreviation, expansions tried in order, must be upper case in text).
const ABBREVIATIONS: &[(&str, &[&str], bool)] = &[
    ("MI", &["myocardial infarction"], true),
    ("AMI", &["acute myocardial infarction"], true),
    (
        "STEMI",
        &[
            "st elevation myocardial infarction",
            "acute st elevation myocardial infarction",
        ],
        false,
    ),
    (
        "NSTEMI",
        &[
            "non st elevation myocardial infarction",
            "non st elevation nstemi myocardial infarction",
        ],
        false,
    ),
    ("T2DM", &["type 2 diabetes mellitus"], false),
    ("DM2", &["type 2 diabetes mellitus"], false),
    ("T2D", &["type 2 diabetes mellitus"], false),
    ("T1DM", &["type 1 diabetes mellitus"], false),
    ("DM", &["diabetes mellitus"], true),
    ("CKD", &["chronic kidney disease"], false),
    ("ESRD", &["end stage renal disease"], false),
    ("AKI", &["acute kidney injury"], false),
    ("AF", &["atrial fibrillation"], true),
    ("afib", &["atrial fibrillation"], false),
    ("a-fib", &["atrial fibrillation"], false),
    ("HTN", &["hypertension"], false),
    ("COPD", &["chronic obstructive pulmonary disease"], false),
    ("CHF", &["congestive heart failure"], false),
    ("HF", &["heart failure"], true),
    ("CAD", &["coronary artery disease"], true),
    (
        "DVT",
        &["deep vein thrombosis", "deep venous thrombosis"],
        false,
    ),
    ("PE", &["pulmonary embolism"], true),
    ("UTI", &["urinary tract infection"], false),
    (
        "URI",
        &[
            "upper respiratory infection",
            "upper respiratory tract infection",
        ],
        true,
    ),
    ("SOB", &["shortness of breath", "dyspnea"], true),
    (
        "GERD",
        &["gastroesophageal reflux disease", "gastroesophageal reflux"],
        false,
    ),
    ("CVA", &["cerebrovascular accident", "stroke"], true),
    ("TIA", &["transient ischemic attack"], true),
    ("OSA", &["obstructive sleep apnea"], true),
    ("RA", &["rheumatoid arthritis"], true),
    ("OA", &["osteoarthritis"], true),
    ("SLE", &["systemic lupus erythematosus"], true),
    ("MS", &["multiple sclerosis"], true),
    ("ARDS", &["acute respiratory distress syndrome"], false),
    ("BPH", &["benign prostatic hyperplasia"], false),
    ("IBD", &["inflammatory bowel disease"], false),
    ("IBS", &["irritable bowel syndrome"], false),
    ("HCC", &["hepatocellular carcinoma"], true),
    (
        "NSCLC",
        &[
            "non small cell lung cancer",
            "non small cell lung carcinoma",
        ],
        false,
    ),
    ("ALS", &["amyotrophic lateral sclerosis"], true),
    ("ADHD", &["attention deficit hyperactivity disorder"], false),
    (
        "PTSD",
        &[
            "post traumatic stress disorder",
            "posttraumatic stress disorder",
        ],
        false,
    ),
    ("TB", &["tuberculosis"], true),
    (
        "PAD",
        &["peripheral arterial disease", "peripheral artery disease"],
        true,
    ),
    ("PUD", &["peptic ulcer disease", "peptic ulcer"], true),
    ("AAA", &["abdominal aortic aneurysm"], true),
    ("LVH", &["left ventricular hypertrophy"], true),
    ("SAH", &["subarachnoid hemorrhage"], true),
    ("CAP", &["community acquired pneumonia"], true),
    ("PNA", &["pneumonia"], true),
    ("N/V", &["nausea and vomiting"], false),
    ("HLD", &["hyperlipidemia"], true),
];

/// Single words too common or too generic to link on their own.
const STOP_TERMS: &[&str] = &[
    "a",
    "an",
    "the",
    "and",
    "or",
    "of",
    "in",
    "on",
    "for",
    "with",
    "without",
    "to",
    "at",
    "by",
    "from",
    "as",
    "is",
    "was",
    "be",
    "are",
    "this",
    "that",
    "it",
    "not",
    "no",
    "all",
    "any",
    "one",
    "two",
    "may",
    "can",
    "will",
    "other",
    "unspecified",
    "human",
    "male",
    "female",
    "adult",
    "aged",
    "child",
    "time",
    "risk",
    "study",
    "method",
    "result",
    "patient",
    "use",
    "care",
    "level",
    "type",
    "normal",
    "abnormal",
    "high",
    "low",
    "left",
    "right",
    "control",
    "group",
    "case",
    "age",
    "day",
    "year",
    "today",
    "focus",
    "alert",
    "complete",
    "clear",
    "relief",
    "ease",
    "balance",
    "select",
    "advance",
    "health",
    "plus",
    "cold",
    "heat",
    "water",
    "air",
    "light",
    "life",
    "well",
    "good",
    "best",
    "first",
    "day",
    "night",
    "men",
    "women",
    "infant",
    "mother",
    "father",
    "family",
    "history",
    "pain",
    "disease",
    "syndrome",
    "disorder",
    "symptom",
    "finding",
    "condition",
    "injury",
    "reaction",
    "process",
    "state",
    "change",
    "form",
    "part",
    "area",
    "site",
    "body",
    "cell",
    "tissue",
    "organ",
    "system",
    "function",
    "activity",
    "factor",
    "effect",
    "response",
    "rate",
    "test",
    "treatment",
    "therapy",
    "drug",
    "medicine",
    "product",
    "dose",
    "unit",
    "size",
    "length",
    "weight",
    "mass",
    "volume",
    "number",
    "class",
    "order",
    "series",
    "model",
    "animal",
    "mouse",
    "mice",
    "rat",
    "dog",
    "cat",
    "protein",
    "gene",
    "acid",
    "solution",
    "tablet",
    "capsule",
    "injection",
    "cream",
    "gel",
    "spray",
    "oral",
    "topical",
    "mild",
    "moderate",
    "severe",
    "acute",
    "chronic",
    "primary",
    "secondary",
    "total",
    "partial",
    "multiple",
    "single",
    "general",
    "local",
    "present",
    "absent",
    "increased",
    "decreased",
    "positive",
    "negative",
    "new",
    "old",
    "early",
    "late",
    "small",
    "large",
    "long",
    "short",
    "upper",
    "lower",
    "anterior",
    "posterior",
    "medial",
    "lateral",
    "central",
    "peripheral",
    "internal",
    "external",
    "sign",
    "signs",
    "encounter",
    "status",
    "other specified",
    "infection",
    "mental",
    "physical",
    "social",
    "work",
    "home",
    "hospital",
    "clinic",
    "world",
    "united states",
    "china",
    "europe",
    "america",
    "research",
    "data",
    "information",
    "analysis",
    "review",
    "report",
    "survey",
    "trial",
    "evaluation",
    "outcome",
    "quality",
    "sample",
    "period",
    "phase",
    "stage",
    "grade",
    "score",
    "index",
    "value",
    "range",
    "average",
    "mean",
    "role",
    "need",
    "support",
    "help",
    "hope",
    "energy",
    "power",
    "action",
    "motion",
    "rest",
    "sleep",
    "food",
    "diet",
    "exercise",
    "stress",
    "tension",
    "pressure",
    "temperature",
    "blood",
    "urine",
    "skin",
    "heart",
    "lung",
    "liver",
    "kidney",
    "brain",
    "bone",
    "muscle",
    "eye",
    "ear",
    "nose",
    "mouth",
    "face",
    "head",
    "neck",
    "back",
    "chest",
    "arm",
    "leg",
    "hand",
    "foot",
    "finger",
    "toe",
    "genetic",
    "transcription",
    "translation",
    "expression",
    "regulation",
    "binding",
    "signal",
    "pathway",
    "network",
    "structure",
    "sequence",
    "temperature",
    "membrane",
    "surface",
    "density",
    "frequency",
    "duration",
    "interval",
    "control group",
    "patients",
    "people",
    "persons",
    "population",
    "family",
    "daily",
    "twice",
    "once",
    "above",
    "below",
];

/// The entity linker. Cheap to share: `Send + Sync`, built once from a graph.
pub struct Linker {
    graph: Arc<ConceptGraph>,
    /// Normalised word -> id (from 1); patterns and text are sequences of word ids, so every
    /// match lies on word boundaries.
    words: HashMap<String, u32>,
    trie: WordTrie,
    terms: Vec<Term>,
    rules: ContextRules,
}

/// Multiplicative hash of a `u64` key (the trie's `(node, word)` pairs): SipHash's DoS
/// resistance is not needed for keys built from the vocabularies.
#[derive(Default)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

/// Dictionary patterns (sequences of word ids) in a trie; node 0 is the root.
struct WordTrie {
    /// `(node << 32) | word` -> child node.
    edges: HashMap<u64, u32, std::hash::BuildHasherDefault<PairHasher>>,
    /// The term whose pattern ends at each node (`u32::MAX`: none).
    term_at: Vec<u32>,
}

impl WordTrie {
    fn build(patterns: &[Vec<u32>]) -> Result<Self> {
        let total: usize = patterns.iter().map(Vec::len).sum();
        let mut edges = HashMap::with_capacity_and_hasher(total, Default::default());
        let mut term_at = vec![u32::MAX];
        for (t, p) in patterns.iter().enumerate() {
            let mut node = 0u32;
            for &w in p {
                let next = u32::try_from(term_at.len())
                    .map_err(|_| KgError::Linker("dictionary too large".into()))?;
                node = *edges
                    .entry((u64::from(node) << 32) | u64::from(w))
                    .or_insert_with(|| {
                        term_at.push(u32::MAX);
                        next
                    });
            }
            if node != 0
                && let Some(slot) = term_at.get_mut(node as usize)
            {
                *slot = u32::try_from(t).unwrap_or(u32::MAX);
            }
        }
        Ok(WordTrie { edges, term_at })
    }

    /// Every pattern that occurs in `ids`: (first word, end word, term), overlapping.
    fn find_all(&self, ids: &[u32]) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for start in 0..ids.len() {
            let mut node = 0u32;
            for (k, &w) in ids[start..].iter().enumerate() {
                if w == 0 {
                    break;
                }
                match self.edges.get(&((u64::from(node) << 32) | u64::from(w))) {
                    Some(&n) => node = n,
                    None => break,
                }
                if let Some(&t) = self.term_at.get(node as usize)
                    && t != u32::MAX
                {
                    out.push((start, start + k + 1, t as usize));
                }
            }
        }
        out
    }

    fn memory_usage(&self) -> usize {
        self.edges.capacity() * 16 + self.term_at.len() * 4
    }
}

/// Magic bytes of the linker cache file (`kg/linker.bin`).
const CACHE_MAGIC: &[u8; 8] = b"CRAGLNK\n";
/// Bumped whenever the dictionary layout or how it is built changes.
/// 2: tokens read look-alike, fullwidth and invisible characters (`tokenize`).
const CACHE_VERSION: u32 = 2;
/// Magic, version, graph key, payload length, payload CRC-32.
const CACHE_HEADER: usize = 8 + 4 + 8 + 8 + 4;

/// The built dictionary, as the cache file stores it.
#[derive(Serialize, Deserialize)]
struct Dictionary {
    /// Word `i + 1` (id 0 is "not in the dictionary").
    words: Vec<String>,
    /// Per term: (node, how it matched) and whether the text must be upper case.
    terms: Vec<(Vec<(u32, Via)>, bool)>,
    /// Trie edges (`(node << 32) | word`, child), sorted.
    edges: Vec<(u64, u32)>,
    /// Term ending at each trie node.
    term_at: Vec<u32>,
}

fn vocab_rank(v: Vocab) -> u8 {
    match v {
        Vocab::Hpo => 0,
        Vocab::Icd10cm => 1,
        Vocab::Omim | Vocab::Orpha => 2,
        Vocab::Mesh => 3,
        Vocab::Drug => 4,
        Vocab::Atc => 5,
        Vocab::Brand => 6,
        Vocab::Document => 7,
    }
}

/// Name variants used for matching: the name, without parentheticals, without a trailing
/// "unspecified"/"NOS", and (for MeSH) uninverted ("Diabetes Mellitus, Type 2").
fn variants(name: &str, vocab: Vocab) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut push = |s: String, variant: bool| {
        if !s.is_empty() && !out.iter().any(|(o, _)| *o == s) {
            out.push((s, variant));
        }
    };
    let base = normalize_term(name);
    push(base.clone(), false);
    // Drop "(...)" and "[...]".
    if name.contains('(') || name.contains('[') {
        let mut depth = 0i32;
        let stripped: String = name
            .chars()
            .filter(|&c| {
                match c {
                    '(' | '[' => depth += 1,
                    ')' | ']' => {
                        depth -= 1;
                        return false;
                    }
                    _ => {}
                }
                depth <= 0 && c != '(' && c != '['
            })
            .collect();
        push(normalize_term(&stripped), true);
    }
    for suffix in [
        " unspecified",
        " nos",
        " not otherwise specified",
        " not elsewhere classified",
    ] {
        if let Some(s) = base.strip_suffix(suffix) {
            push(s.to_string(), true);
        }
    }
    if vocab == Vocab::Mesh
        && let Some((head, tail)) = name.split_once(", ")
        && !tail.contains(',')
        && tail.split(' ').count() <= 3
    {
        push(normalize_term(&format!("{tail} {head}")), true);
    }
    out
}

fn is_acronym(name: &str) -> bool {
    let letters = name.chars().filter(|c| c.is_alphabetic()).count();
    !name.contains(' ')
        && (1..=5).contains(&letters)
        && name
            .chars()
            .filter(|c| c.is_alphabetic())
            .all(char::is_uppercase)
}

impl Linker {
    /// Builds the dictionary and automaton from every concept and disease of `graph`
    /// (documents, chapters, blocks and obsolete HPO terms are left out).
    pub fn new(graph: Arc<ConceptGraph>) -> Result<Self> {
        let stop: HashSet<&str> = STOP_TERMS.iter().copied().collect();
        let mut by_norm: HashMap<String, usize> = HashMap::new();
        let mut terms: Vec<Term> = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let add = |by_norm: &mut HashMap<String, usize>,
                   norm: String,
                   node: u32,
                   via: Via,
                   upper: bool,
                   terms: &mut Vec<Term>,
                   patterns: &mut Vec<String>| {
            let t = *by_norm.entry(norm.clone()).or_insert_with(|| {
                terms.push(Term::default());
                patterns.push(norm);
                terms.len() - 1
            });
            if let Some(term) = terms.get_mut(t) {
                if term.refs.is_empty() || upper {
                    term.needs_upper = term.needs_upper || upper;
                }
                if !term.refs.iter().any(|(n, _)| *n == node) {
                    term.refs.push((node, via));
                }
            }
        };
        let g = graph.graph();
        for i in g.node_indices() {
            let n = &g[i];
            let skip = match (&n.kind, &n.detail) {
                (NodeKind::Document, _) => true,
                (
                    _,
                    Detail::Icd {
                        level: IcdLevel::Chapter | IcdLevel::Block,
                        ..
                    },
                ) => true,
                (_, Detail::Hpo { obsolete: true, .. }) => true,
                (_, Detail::Atc { level }) => *level < 5,
                _ => false,
            };
            if skip {
                continue;
            }
            let Ok(idx) = u32::try_from(i.index()) else {
                continue;
            };
            let case_known = !matches!(n.vocab, Vocab::Atc | Vocab::Drug | Vocab::Brand);
            let names = std::iter::once((&n.label, None))
                .chain(n.synonyms.iter().enumerate().map(|(k, s)| (s, Some(k))));
            for (name, syn) in names {
                let upper = case_known && is_acronym(name);
                for (norm, is_variant) in variants(name, n.vocab) {
                    let words = norm.split(' ').count();
                    if norm.len() < 3
                        || words > 12
                        || stop.contains(norm.as_str())
                        || norm.bytes().all(|b| b.is_ascii_digit() || b == b' ')
                    {
                        continue;
                    }
                    if n.vocab == Vocab::Brand && words == 1 && norm.len() < 5 {
                        continue;
                    }
                    let short = norm.len() <= 3;
                    let via = match (is_variant, syn) {
                        (true, _) => Via::Variant,
                        (false, None) => Via::Label,
                        (false, Some(k)) => Via::Synonym(u16::try_from(k).unwrap_or(u16::MAX)),
                    };
                    add(
                        &mut by_norm,
                        norm,
                        idx,
                        via,
                        upper || short,
                        &mut terms,
                        &mut patterns,
                    );
                }
            }
        }
        for (k, (abbr, expansions, upper)) in ABBREVIATIONS.iter().enumerate() {
            let targets: Vec<u32> = expansions
                .iter()
                .filter_map(|e| by_norm.get(&normalize_term(e)))
                .filter_map(|&t| terms.get(t))
                .flat_map(|t| t.refs.iter().map(|(n, _)| *n))
                .collect();
            if targets.is_empty() {
                continue;
            }
            let norm = normalize_term(abbr);
            let via = Via::Abbreviation(u16::try_from(k).unwrap_or(u16::MAX));
            for n in targets {
                add(
                    &mut by_norm,
                    norm.clone(),
                    n,
                    via,
                    *upper,
                    &mut terms,
                    &mut patterns,
                );
            }
        }
        tracing::debug!(terms = terms.len(), "dictionary built");
        let t_trie = std::time::Instant::now();
        let mut words: HashMap<String, u32> = HashMap::new();
        let mut encoded: Vec<Vec<u32>> = Vec::with_capacity(patterns.len());
        for p in &patterns {
            let mut ids = Vec::with_capacity(4);
            for w in p.split(' ') {
                let next = u32::try_from(words.len() + 1)
                    .map_err(|_| KgError::Linker("too many distinct words".into()))?;
                ids.push(*words.entry(w.to_string()).or_insert(next));
            }
            encoded.push(ids);
        }
        drop(patterns);
        let trie = WordTrie::build(&encoded)?;
        if std::env::var_os("CLINRAG_KG_TIMING").is_some() {
            eprintln!(
                "word trie build: {:.3} s, {} bytes",
                t_trie.elapsed().as_secs_f64(),
                trie.memory_usage()
            );
        }
        Ok(Linker {
            graph,
            words,
            trie,
            terms,
            rules: ContextRules::new(),
        })
    }

    /// Loads the dictionary from the cache file `cache` when it was written for the same graph
    /// (`graph_key`: see [`crate::snapshot::fingerprint`]), else builds it with [`Linker::new`]
    /// and writes the cache (atomically; a failed write is logged, not an error).
    pub fn open_cached(graph: Arc<ConceptGraph>, cache: &Path, graph_key: u64) -> Result<Self> {
        match Self::read_cache(cache, graph_key, graph.node_count()) {
            Ok(Some(d)) => return Self::from_dictionary(graph, d),
            Ok(None) => {}
            Err(e) => tracing::warn!("ignoring the linker cache: {e}"),
        }
        let linker = Self::new(graph)?;
        if let Err(e) = linker.write_cache(cache, graph_key) {
            tracing::warn!("cannot save the linker cache: {e}");
        }
        Ok(linker)
    }

    /// `Ok(None)` when the file is missing or was written for another graph or version.
    fn read_cache(cache: &Path, graph_key: u64, nodes: usize) -> Result<Option<Dictionary>> {
        let bytes = match std::fs::read(cache) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(KgError::io(cache, e)),
        };
        let bad = |m: &str| KgError::Snapshot {
            path: cache.to_path_buf(),
            message: m.to_string(),
        };
        let u = |r: std::ops::Range<usize>| -> u64 {
            let mut b = [0u8; 8];
            if let Some(src) = bytes.get(r.clone()) {
                b[..r.len()].copy_from_slice(src);
            }
            u64::from_le_bytes(b)
        };
        if bytes.len() < CACHE_HEADER || &bytes[..8] != CACHE_MAGIC {
            return Err(bad("not a linker cache"));
        }
        if u(8..12) != u64::from(CACHE_VERSION) || u(12..20) != graph_key {
            return Ok(None);
        }
        let payload = &bytes[CACHE_HEADER..];
        if u(20..28) != payload.len() as u64 || u(28..32) != u64::from(crc32fast::hash(payload)) {
            return Err(bad("truncated or corrupt"));
        }
        let d: Dictionary = postcard::from_bytes(payload).map_err(|e| bad(&e.to_string()))?;
        let n_terms = d.terms.len();
        let ok = d
            .terms
            .iter()
            .all(|(refs, _)| refs.iter().all(|(n, _)| (*n as usize) < nodes))
            && d.term_at
                .iter()
                .all(|&t| t == u32::MAX || (t as usize) < n_terms)
            && d.edges.iter().all(|&(_, c)| (c as usize) < d.term_at.len());
        if !ok {
            return Err(bad("references outside the graph"));
        }
        Ok(Some(d))
    }

    fn write_cache(&self, cache: &Path, graph_key: u64) -> Result<()> {
        let mut words: Vec<(&String, u32)> = self.words.iter().map(|(w, &i)| (w, i)).collect();
        words.sort_by_key(|&(_, i)| i);
        let mut edges: Vec<(u64, u32)> = self.trie.edges.iter().map(|(&k, &v)| (k, v)).collect();
        edges.sort_unstable();
        let d = Dictionary {
            words: words.into_iter().map(|(w, _)| w.clone()).collect(),
            terms: self
                .terms
                .iter()
                .map(|t| (t.refs.clone(), t.needs_upper))
                .collect(),
            edges,
            term_at: self.trie.term_at.clone(),
        };
        let payload = postcard::to_allocvec(&d).map_err(|e| KgError::Linker(e.to_string()))?;
        let mut out = Vec::with_capacity(CACHE_HEADER + payload.len());
        out.extend_from_slice(CACHE_MAGIC);
        out.extend_from_slice(&CACHE_VERSION.to_le_bytes());
        out.extend_from_slice(&graph_key.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        let stem = cache
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        crate::snapshot::write_atomic(cache, &out, &format!("{stem}.tmp")).map_err(|e| {
            KgError::Write {
                path: cache.to_path_buf(),
                source: e,
            }
        })
    }

    fn from_dictionary(graph: Arc<ConceptGraph>, d: Dictionary) -> Result<Self> {
        let mut words = HashMap::with_capacity(d.words.len());
        for (i, w) in d.words.into_iter().enumerate() {
            let id = u32::try_from(i + 1).map_err(|_| KgError::Linker("too many words".into()))?;
            words.insert(w, id);
        }
        let mut edges = HashMap::with_capacity_and_hasher(d.edges.len(), Default::default());
        edges.extend(d.edges);
        Ok(Linker {
            graph,
            words,
            trie: WordTrie {
                edges,
                term_at: d.term_at,
            },
            terms: d
                .terms
                .into_iter()
                .map(|(refs, needs_upper)| Term {
                    refs,
                    needs_upper,
                    resolved: std::sync::OnceLock::new(),
                })
                .collect(),
            rules: ContextRules::new(),
        })
    }

    /// The graph the linker was built from.
    pub fn graph(&self) -> &Arc<ConceptGraph> {
        &self.graph
    }

    /// Number of distinct normalised terms in the dictionary.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// Finds concept mentions in `text`: longest non-overlapping dictionary matches on word
    /// boundaries, with char offsets into `text` and their context.
    pub fn link(&self, text: &str) -> Vec<Mention> {
        let toks = tokenize(text);
        let spans = self.match_spans(&toks);
        if spans.is_empty() {
            return Vec::new();
        }
        let char_spans: Vec<(usize, usize)> = spans
            .iter()
            .map(|&(a, b, _)| (toks[a].start, toks[b - 1].end))
            .collect();
        let contexts = self.rules.analyze(text, &char_spans);
        let char_index = CharIndex::new(text);
        spans
            .iter()
            .zip(char_spans)
            .zip(contexts)
            .map(
                |((&(a, b, term), (s, e)), (certainty, experiencer, temporality))| {
                    let span_text = char_index.slice(text, s, e).to_string();
                    let note = toks[a..b]
                        .iter()
                        .fold(Respelt::default(), |r, t| r.merge(t.respelt))
                        .describe();
                    Mention {
                        note,
                        start: s,
                        end: e,
                        concept_ids: self.refs_for(term),
                        text_span: span_text,
                        negated: certainty == Certainty::Negated,
                        certainty,
                        experiencer,
                        temporality,
                    }
                },
            )
            .collect()
    }

    /// (first token, end token, term) of the chosen matches, in text order.
    fn match_spans(&self, toks: &[Token]) -> Vec<(usize, usize, usize)> {
        let ids: Vec<u32> = toks
            .iter()
            .map(|t| self.words.get(&t.norm).copied().unwrap_or(0))
            .collect();
        let mut cands: Vec<(usize, usize, usize)> = Vec::new();
        for (first, last_plus, term_id) in self.trie.find_all(&ids) {
            let Some(term) = self.terms.get(term_id) else {
                continue;
            };
            if term.needs_upper
                && !toks[first..last_plus]
                    .iter()
                    .all(|t| t.upper || t.norm.bytes().all(|b| b.is_ascii_digit()))
            {
                continue;
            }
            cands.push((first, last_plus, term_id));
        }
        // Longest first, then leftmost; keep those that do not overlap a chosen one.
        cands.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
        let mut taken = vec![false; toks.len()];
        let mut chosen = Vec::new();
        for (a, b, t) in cands {
            if taken[a..b].iter().any(|x| *x) {
                continue;
            }
            taken[a..b].iter_mut().for_each(|x| *x = true);
            chosen.push((a, b, t));
        }
        chosen.sort_unstable();
        chosen
    }

    fn refs_for(&self, term: usize) -> Vec<ConceptRef> {
        match self.terms.get(term) {
            Some(t) => t.resolved.get_or_init(|| self.resolve(t)).clone(),
            None => Vec::new(),
        }
    }

    fn resolve(&self, t: &Term) -> Vec<ConceptRef> {
        let g = self.graph.graph();
        let mut out: Vec<(u8, ConceptRef)> = Vec::new();
        let mut seen: HashSet<u32> = HashSet::new();
        for &(n, via) in &t.refs {
            let Some(node) = g.node_weight(NodeIndex::new(n as usize)) else {
                continue;
            };
            let how = match via {
                Via::Label => "label".to_string(),
                Via::Synonym(k) => format!(
                    "synonym \"{}\"",
                    node.synonyms.get(usize::from(k)).unwrap_or(&node.label)
                ),
                Via::Variant => format!("label variant of \"{}\"", node.label),
                Via::Abbreviation(k) => format!(
                    "abbreviation {}",
                    ABBREVIATIONS.get(usize::from(k)).map_or("", |a| a.0)
                ),
            };
            seen.insert(n);
            out.push((
                vocab_rank(node.vocab),
                self.concept_ref(NodeIndex::new(n as usize), how.clone()),
            ));
            // Brands resolve to their drugs, drugs to their ATC codes.
            let mut frontier = vec![(NodeIndex::new(n as usize), how)];
            while let Some((cur, why)) = frontier.pop() {
                for e in g.edges(cur) {
                    let follow = matches!(
                        (g[cur].vocab, e.weight().kind, g[e.target()].vocab),
                        (Vocab::Brand, EdgeKind::BrandOf, _)
                            | (Vocab::Drug, EdgeKind::MapsTo, Vocab::Atc)
                    );
                    let Ok(tix) = u32::try_from(e.target().index()) else {
                        continue;
                    };
                    if follow && seen.insert(tix) {
                        let src = &g[cur];
                        let chain = format!(
                            "{} of {} {} ({why})",
                            e.weight().kind.name(),
                            src.id(),
                            src.label
                        );
                        out.push((
                            vocab_rank(g[e.target()].vocab),
                            self.concept_ref(e.target(), chain.clone()),
                        ));
                        frontier.push((e.target(), chain));
                    }
                }
            }
        }
        out.sort_by_key(|a| a.0);
        out.into_iter().map(|(_, r)| r).collect()
    }

    pub(crate) fn concept_ref(&self, n: NodeIndex, matched_via: String) -> ConceptRef {
        let node = &self.graph.graph()[n];
        ConceptRef {
            vocab: node.vocab.prefix().to_string(),
            code: node.code.clone(),
            id: node.id(),
            label: node.label.clone(),
            matched_via,
        }
    }

    /// Concept ids asserted for the patient in `text` (affirmed, not family), with counts:
    /// what ingest stores per chunk.
    pub fn concept_counts(&self, text: &str) -> Vec<(String, u32)> {
        let mut counts: HashMap<String, u32> = HashMap::new();
        for m in self.link(text) {
            if m.certainty != Certainty::Affirmed || m.experiencer != Experiencer::Patient {
                continue;
            }
            for c in m.concept_ids {
                *counts.entry(c.id).or_default() += 1;
            }
        }
        let mut v: Vec<(String, u32)> = counts.into_iter().collect();
        v.sort();
        v
    }
}

/// Maps char offsets to byte offsets.
struct CharIndex(Vec<usize>);

impl CharIndex {
    fn new(text: &str) -> Self {
        let mut v: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        v.push(text.len());
        CharIndex(v)
    }
    fn slice<'a>(&self, text: &'a str, s: usize, e: usize) -> &'a str {
        match (self.0.get(s), self.0.get(e)) {
            (Some(&a), Some(&b)) => text.get(a..b).unwrap_or(""),
            _ => "",
        }
    }
}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Linker>();
};
