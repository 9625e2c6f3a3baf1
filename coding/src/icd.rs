//! The ICD-10-CM coder: a token-overlap scorer over titles and inclusion terms of every
//! billable leaf (with the path's titles and notes as context), a hierarchy walk from chapter
//! to leaf that scores children at each level and may ask an [`Adjudicator`], and the tabular
//! rules (combination codes, excludes1 conflicts, code-first / use-additional notes).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use clinrag_kg::{Icd10cm, IcdCode, IcdLevel, load_icd10cm, tokenize};

use serde::{Deserialize, Serialize};

use crate::adjudicate::{Adjudicator, Candidate};
use crate::context::{Status, Word, analyse_with};
use crate::embed::{CodeVectors, TEXTS_VERSION, TextEmbedder, VEC_SNAPSHOT_PATH, VectorSource};
use crate::error::{CodingError, Result};
use crate::lay::{HPO_PATH, LayTerms};
use crate::lexicon::LATERAL;
use crate::snapshot;
use crate::{CodeResult, Coding, Evidence, cut_input};

/// Where the tabular and the code list live under a clinrag home.
pub const TABULAR_PATH: &str = "vocab/icd10cm/icd10c-tabular-April-1-2026.xml";
/// The CDC code list used to cross-check expanded 7th-character codes.
pub const CODE_LIST_PATH: &str = "vocab/icd10cm/code-list-April-2026.txt";

/// Tunables of the ICD-10-CM coder.
#[derive(Debug, Clone)]
pub struct IcdOptions {
    /// How many codes to return at most (problems of the text always come first).
    pub k: usize,
    /// Smallest score of a code given for a problem of the text.
    pub min_score: f32,
    /// Smallest summed idf of the matched words.
    pub min_weight: f32,
    /// Score gap under which the adjudicator is asked at a level of the walk.
    pub adjudicate_margin: f32,
    /// Rewrite abbreviations and lay terms (off only to measure what the lexicon brings).
    pub lexicon: bool,
    /// Also read each clause with the HPO lay terms and abbreviations rewritten, keeping the
    /// better-coding reading (off only for ablation).
    pub lay_terms: bool,
    /// Use the embedding-similarity candidates when an embedder is attached
    /// ([`IcdCoder::attach_embedder`]; off only for ablation).
    pub embedding: bool,
    /// Smallest cosine similarity between a clause and a code text for the code to become a
    /// candidate (also what keeps text with no codable content uncoded).
    pub embed_floor: f32,
    /// Nearest code texts looked at per clause.
    pub embed_k: usize,
    /// Score added to a lexical candidate that is also an embedding candidate, at cosine 1
    /// (scaled linearly from 0 at the floor).
    pub embed_weight: f32,
    /// Score of a candidate found by embedding similarity alone: `embed_base` at the floor,
    /// up to `embed_base + embed_span` at cosine 1 (plus the leaf's specificity bonus).
    pub embed_base: f32,
    /// See `embed_base`.
    pub embed_span: f32,
}

impl Default for IcdOptions {
    fn default() -> Self {
        IcdOptions {
            k: 10,
            min_score: 0.5,
            min_weight: 1.5,
            adjudicate_margin: 0.08,
            lexicon: true,
            lay_terms: true,
            embedding: true,
            embed_floor: 0.8,
            embed_k: 10,
            embed_weight: 0.1,
            embed_base: 0.5,
            embed_span: 0.4,
        }
    }
}

/// Ignored everywhere (function words and note filler).
const STOP: &[&str] = &[
    // Articles and prepositions of French and Spanish names ("Gilles de la Tourette", "La Crosse"),
    // which would otherwise make a sentence in those languages look like those names.
    "de",
    "la",
    "le",
    "les",
    "des",
    "du",
    "del",
    "el",
    "los",
    "las",
    // The pronoun (see `is_designator` for the numeral).
    "i",
    "of",
    "the",
    "a",
    "an",
    "and",
    "or",
    "in",
    "on",
    "to",
    "for",
    "with",
    "by",
    "at",
    "as",
    "due",
    "from",
    "than",
    "into",
    "is",
    "was",
    "has",
    "have",
    "had",
    "be",
    "been",
    "are",
    "were",
    "this",
    "that",
    "his",
    "her",
    "their",
    "s",
    "p",
    "patient",
    "pt",
    "yo",
    "y",
    "o",
    "year",
    "male",
    "female",
    "man",
    "woman",
    "presents",
    "presenting",
    "seen",
    "today",
    "visit",
    "follow",
    "up",
    "complains",
    "hx",
    "dx",
    "noted",
    "found",
    "known",
    "new",
    "onset",
    "likely",
    "probable",
    "mg",
    "daily",
    "bid",
    "tid",
    "since",
    "ago",
    "week",
    "weeks",
    "month",
    "day",
    "days",
    "admitted",
    "admission",
    "diagnosed",
    "diagnosis",
    "here",
    "evaluation",
    "eval",
    "stable",
    "worsening",
    "ongoing",
    "continued",
    "also",
    "very",
    "h",
    "m",
    "f",
    "yr",
    "yrs",
    "w",
    "x",
    "currently",
    "recently",
    "recent",
    "now",
    "states",
    "report",
    "reports",
    // How a patient tells what a test or a doctor found ("the scan showed", "the doctor said").
    "showed",
    "show",
    "shown",
    "revealed",
    "reveal",
    "said",
    "say",
    "says",
    "told",
    "doctor",
    "came",
    "went",
    "reckon",
    "think",
    // Pronouns and fillers of plain speech ("they said it's pre-eclampsia but not the severe
    // kind").
    "they",
    "he",
    "she",
    "it",
    "its",
    "we",
    "you",
    "my",
    "me",
    "our",
    "your",
    "him",
    "them",
    "just",
    "but",
    "kind",
    "bit",
    "lot",
    "lots",
    "loo",
    "going",
    "keeps",
    "keep",
    "getting",
    "get",
    "got",
    "really",
    "quite",
    "pretty",
    "sometimes",
    "always",
    "often",
    "then",
    "when",
    "couple",
    // Narrative words of plain speech ("so deep you can see the bone").
    "so",
    "can",
    "could",
    "would",
    "see",
    "saw",
    "there",
    "what",
    "which",
    "who",
];
/// No penalty when a title has them and the text does not; never counted in the text.
const NEUTRAL: &[&str] = &[
    "unspecified",
    "nos",
    "specified",
    "other",
    "elsewhere",
    "classified",
    "not",
    "site",
    "part",
    "without",
    "primary",
    "condition",
    "certain",
    "mentioned",
    "use",
    "additional",
    "code",
    "identify",
    "encounter",
    "initial",
    "type",
    "uncomplicated",
    "nos",
    "region",
    // The defaults a text leaves unsaid (guidelines I.C.19.e.5 and I.C.19.c.1): intent unknown
    // is accidental, a fracture not said to be nondisplaced is displaced.
    "accidental",
    "unintentional",
    "displaced",
];

/// "nonrheumatic", "nontraumatic", "noninfective": a title word saying what the condition is
/// not; text that does not mention it is consistent with it, so it costs a fifth of its idf.
fn is_negative_qualifier(w: &str) -> bool {
    w.len() >= 7
        && w.starts_with("non")
        && w.bytes().all(|b| b.is_ascii_alphabetic())
        // Not the marked side of a default pair: a fracture not said to be nondisplaced is
        // displaced.
        && !UNSAID_DEFAULTS.iter().any(|(m, _)| *m == w)
}

/// First words of a "without" phrase whose scope goes on past "of" ("without mention of
/// complication", "without spontaneous rupture of ear drum"); any other "without X of" ends at
/// "of", which names the site ("without foreign body of left index finger").
const WITHOUT_OF_GOES_ON: &[&str] = &[
    "mention",
    "evidence",
    "presence",
    "confirmation",
    "spontaneous",
    "rupture",
    "prolapse",
    "loss",
    "atherosclerosis",
    "contracture",
    "diagnosis",
];

/// Words that make a text a newborn's ("neonatal jaundice", "term infant with ..."), and the
/// factor on perinatal codes' scores without one.
const NEWBORN: &[&str] = &[
    "newborn",
    "neonate",
    "neonatal",
    "perinatal",
    "infant",
    "baby",
    "birth",
    "preterm",
    "premature",
    "prematurity",
    "fetal",
    "fetus",
    "nicu",
    "meconium",
    "gestational",
    "congenital",
];
const PERINATAL_DEMOTION: f32 = 0.8;

/// "Hepatitis A", "vitamin A", "influenza A", "group A": the letter is a type, not an
/// article, in titles and text alike; so is "I" after "type", "stage" and the like.
fn is_designator(prev: Option<&str>, w: &str) -> bool {
    match w {
        "a" => prev
            .is_some_and(|p| matches!(p, "hepatitis" | "vitamin" | "influenza" | "group" | "type")),
        // "I" is the pronoun unless it numbers something ("type I", "stage I", "factor I").
        "i" => prev.is_some_and(|p| {
            matches!(
                p,
                "type" | "stage" | "grade" | "class" | "factor" | "phase" | "degree" | "schedule"
            )
        }),
        _ => false,
    }
}

/// Common function words of French, Spanish, German, Italian and Portuguese that are no English
/// word (accents folded as `tokenize` folds them).
const FOREIGN_FUNCTION_WORDS: &[&str] = &[
    "le", "la", "les", "un", "une", "des", "du", "et", "est", "pour", "avec", "dans", "sur", "je",
    "il", "elle", "nous", "vous", "ils", "ce", "cette", "qui", "que", "pas", "ne", "au", "aux",
    "sont", "etait", "tres", "el", "los", "las", "una", "unos", "y", "es", "para", "por", "del",
    "esta", "tiene", "muy", "pero", "der", "das", "und", "ist", "nicht", "mit", "ein", "eine",
    "ich", "sie", "er", "wir", "zu", "auf", "fur", "von", "dem", "lo", "gli", "di", "che", "non",
    "os", "um", "uma", "nao", "com", "em",
];

/// Common English function words, against which the foreign ones are counted.
const ENGLISH_FUNCTION_WORDS: &[&str] = &[
    "the", "and", "of", "with", "in", "on", "for", "is", "was", "has", "have", "had", "to", "my",
    "his", "her", "their", "no", "not", "denies", "patient", "pt", "at", "from", "by", "this",
    "that", "he", "she", "they", "we", "you", "it", "are", "were", "be", "been", "or", "but",
];

/// Sentences with at least two foreign function words and more of them than English ones.
fn foreign_sentences(words: &[Word]) -> Vec<u32> {
    let mut counts: HashMap<u32, (usize, usize)> = HashMap::new();
    for w in words.iter().filter(|w| !w.rewritten) {
        let c = counts.entry(w.sentence).or_default();
        if FOREIGN_FUNCTION_WORDS.contains(&w.norm.as_str()) {
            c.0 += 1;
        } else if ENGLISH_FUNCTION_WORDS.contains(&w.norm.as_str()) {
            c.1 += 1;
        }
    }
    let mut out: Vec<u32> = counts
        .into_iter()
        .filter(|(_, (f, e))| *f >= 2 && f > e)
        .map(|(s, _)| s)
        .collect();
    out.sort_unstable();
    out
}

/// The tabular's side words.
const LATERAL_WORDS: &[&str] = &["left", "right", "bilateral", "unilateral"];

/// Taken off a leaf that says no side when the text names one that a sibling says.
const SIDE_MISSED: f32 = 0.2;
/// A clause read again with the one side its sentence says elsewhere keeps that reading when
/// it scores at least this close to the reading without it.
const SIDE_FROM_SENTENCE_MARGIN: f32 = 0.05;
/// The same for a body part said elsewhere in the sentence, read into a code of an unspecified
/// site.
const SITE_FROM_SENTENCE_MARGIN: f32 = 0.1;
/// Context words that are no body part.
const NOT_SITES: &[&str] = &[
    "organism",
    "site",
    "side",
    "part",
    "parts",
    "trimester",
    "severity",
    "episode",
    "laterality",
    "region",
    "location",
    "cause",
    "vessel",
    "current",
    "medication",
    "med",
    "meds",
    "drug",
    "past",
    "previous",
    "regular",
    "flexion",
    "extension",
    "degree",
    "range",
    "motion",
    "palpated",
    "symmetric",
    "both",
    "bilaterally",
    "upper",
    "lower",
    "bone",
    "joint",
    "muscle",
    "ligament",
];

/// Pairs (marked, default) of title words where text that says neither reads as the default,
/// so an unsaid marked word costs at least `UNSAID_DEFAULT_MARGIN` times an unsaid default:
/// acuity (the index's "Thrombosis, vein, deep (acute)"), intent (guidelines I.C.19.e.5: intent
/// unknown is accidental), displacement (I.C.19.c.1: not said is displaced).
const UNSAID_DEFAULTS: &[(&str, &str)] = &[
    ("chronic", "acute"),
    ("undetermined", "accidental"),
    ("nondisplaced", "displaced"),
    // Atherosclerosis of the extremities: of the native arteries unless a graft is said (I70.2-
    // against I70.3-).
    ("bypass", "native"),
];
const UNSAID_DEFAULT_MARGIN: f32 = 1.05;

/// Title words common enough in the tabular to cost little by idf, whose absence from the text
/// still matters: "subsequent" (I22 "Subsequent ST elevation myocardial infarction" is a second
/// infarction within four weeks, not the first; the 7th character D is a later encounter) and
/// "sequela" (7th character S). Unsaid, each costs at least this much.
const UNSAID_COSTLY: &[(&str, f32)] = &[
    ("subsequent", 2.0),
    ("sequela", 2.0),
    // A drug named in a medication list is not a poisoning (T36-T50 "Poisoning by ...").
    ("poisoning", 2.0),
    ("underdosing", 2.0),
    // "Below-knee amputation" is a status or a procedure (Z89.51-), not "Complete traumatic
    // amputation" (S88.-); "pneumothorax" is J93.-, not S27.0.
    ("traumatic", 1.5),
    // A colonoscopy or mammogram that found something is no screening encounter (Z12.-).
    ("screening", 1.5),
];
/// Taken off such a code's score after the embedding similarity is added.
const UNSAID_COSTLY_DEMOTION: f32 = 0.1;

/// (text word, title word) pairs that contradict: a leaf whose title says the second when the
/// text says the first pays the first's idf ("recurrent major depression" against "Major
/// depressive disorder, single episode, ..."; "traumatic" against "nontraumatic", which
/// otherwise costs little as a negative qualifier).
const CONTRADICTS: &[(&str, &str)] = &[
    ("recurrent", "single"),
    ("traumatic", "nontraumatic"),
    ("nontraumatic", "traumatic"),
    ("benign", "malignant"),
    ("malignant", "benign"),
    ("present", "absent"),
    ("normal", "abnormal"),
];

/// An inverted list read whole: at most this many parts of at most this many words each, and
/// the least score of its reading.
const LIST_MAX_PARTS: usize = 5;
const LIST_PART_MAX_WORDS: usize = 6;
const LIST_MIN_SCORE: f32 = 0.6;

/// Words that say where or of what, not what is wrong (with the sides, the `DEFAULTABLE` sites
/// and the `IMPLIED` body parts): a clause of only these codes nothing.
const CONTEXT_WORDS: &[&str] = &[
    "back",
    "head",
    "neck",
    "face",
    "chest",
    "abdomen",
    "abdominal",
    "pelvis",
    "groin",
    "eyelid",
    "orbit",
    "nose",
    "mouth",
    "tooth",
    "teeth",
    "skin",
    "scalp",
    "cheek",
    "jaw",
    "lip",
    "tongue",
    "throat",
    "both",
    "bilaterally",
    "current",
    "medication",
    "medications",
    "med",
    "meds",
    "drug",
    "drugs",
    "past",
    "previous",
    "regular",
    "flexion",
    "extension",
    "degree",
    "degrees",
    "range",
    "motion",
    "palpated",
    "symmetric",
];

/// The least embedding similarity at which a clause of only body parts and sides is coded.
const CONTEXT_ONLY_MIN_SIMILARITY: f32 = 0.9;

/// Words of the B95-B97 agent names that name no agent by themselves.
const AGENT_GENERIC: &[&str] = &[
    "group",
    "infection",
    "resistant",
    "susceptible",
    "methicillin",
    "bacterial",
    "agents",
    "agent",
    "viral",
    "virus",
    "human",
    "type",
    "pneumoniae",
    "pneumonia",
    "influenzae",
    "influenza",
    "shiga",
    "toxin",
    "producing",
    "lymphotrophic",
    "cell",
    "associated",
    "immunodeficiency",
    "respiratory",
];

/// Codes of an infectious agent at an unspecified site (A49 bacterial, B34 viral): with a site or
/// condition in the clause, the condition is coded and the agent apart.
const AGENT_UNSPECIFIED_SITE: &[&str] = &["A49", "B34"];

/// The least score of the agent's B95-B97 reading.
const AGENT_MIN_SCORE: f32 = 0.4;

/// Taken off the score of a manifestation code ("in diseases classified elsewhere").
const MANIFESTATION_DEMOTION: f32 = 0.1;

/// Score added to a leaf whose own title says a number of the clause ("stage 2").
const NUMBER_BONUS: f32 = 0.03;

/// Credit for a clause word that a leaf says only through a synonym ("wrist" for "hand"): the
/// word itself said counts more.
const SYNONYM_CREDIT: f32 = 0.95;

/// Credit for a clause word that only another inclusion term of the leaf's path says.
const UNION_CREDIT: f32 = 1.0;

/// Words that "unspecified" makes optional ("unspecified organism", "unspecified site").
const DEFAULTABLE: &[&str] = &[
    "organism",
    "site",
    "side",
    "part",
    "trimester",
    "severity",
    "episode",
    "ear",
    "eye",
    "ligament",
    "region",
    "limb",
    "laterality",
    "bone",
    "joint",
    "muscle",
    "location",
    "cause",
    "lobe",
    "bronchus",
    "lung",
    "kidney",
    "parts",
    "vessel",
    "foot",
    "hand",
    "knee",
    "hip",
    "ankle",
    "wrist",
    "shoulder",
    "elbow",
    "finger",
    "toe",
    "thigh",
    "femur",
    "arm",
    "leg",
    "breast",
    "ovary",
    "extremity",
    "upper",
    "lower",
];

/// The noun forms a participle or adjective may stand for, most likely first: "perforated" ->
/// "perforation", "infected" -> "infection", "fractured" -> "fracture", "anemic" -> "anemia",
/// "gangrenous" -> "gangrene". Only forms the vocabulary has are used.
fn word_forms(w: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Irregular participles.
    if let Some((_, noun)) = IRREGULAR_FORMS.iter().find(|(p, _)| *p == w) {
        out.push((*noun).to_string());
        return out;
    }
    if w.len() < 6 || !w.bytes().all(|b| b.is_ascii_lowercase()) {
        return out;
    }
    if let Some(stem) = w.strip_suffix("ated") {
        out.push(format!("{stem}ation"));
    }
    if let Some(stem) = w.strip_suffix("ed") {
        out.push(format!("{stem}ion"));
        out.push(format!("{stem}e"));
        out.push(format!("{stem}ment"));
    }
    if let Some(stem) = w.strip_suffix("ic") {
        out.push(format!("{stem}ia"));
    }
    if let Some(stem) = w.strip_suffix("ous") {
        out.push(format!("{stem}e"));
    }
    out
}

/// Irregular participles and the noun of the tabular's titles ("bitten" -> "bite").
const IRREGULAR_FORMS: &[(&str, &str)] = &[
    ("bitten", "bite"),
    ("stung", "sting"),
    ("torn", "tear"),
    ("burnt", "burn"),
    ("swollen", "swelling"),
];

/// The cache key of a query.
fn query_key(q: &[(u32, f32)], free: &[u32], negq: &[(u32, f32)]) -> Vec<u32> {
    q.iter()
        .map(|(t, _)| *t)
        .chain(free.iter().map(|t| t | 0x8000_0000))
        .chain(negq.iter().map(|(t, _)| t | 0x4000_0000))
        .collect()
}

/// Clauses of at most this many scored words get the stray-word reading (longer ones, in
/// windows of this many words: `WINDOW_STEP`, `WINDOW_TRIES`); the score it must
/// reach, the least share of the clause's word weight it keeps, and the discount on its scores
/// (see `IcdCoder::without_stray_words`).
const STRAY_MAX_WORDS: usize = 8;
const STRAY_MIN_SCORE: f32 = 0.85;
const STRAY_KEPT_SHARE: f32 = 0.15;
const STRAY_DISCOUNT: f32 = 0.9;
/// A longer clause is read in windows of `STRAY_MAX_WORDS` consecutive scored words, this many
/// words apart; the best-matching `WINDOW_TRIES` windows get the stray-word reading.
const WINDOW_STEP: usize = 2;
const WINDOW_TRIES: usize = 2;

/// Words a body part implies in the tabular's wording ("wrist" -> "upper limb"): free tokens,
/// so a title saying them costs nothing, but they add no coverage.
const IMPLIED: &[(&str, &[&str])] = &[
    ("wrist", &["upper", "limb", "extremity"]),
    ("hand", &["upper", "limb", "extremity"]),
    ("finger", &["upper", "limb", "extremity", "hand"]),
    ("thumb", &["upper", "limb", "extremity", "hand"]),
    ("forearm", &["upper", "limb", "extremity", "arm"]),
    ("elbow", &["upper", "limb", "extremity", "arm"]),
    ("arm", &["upper", "limb", "extremity"]),
    ("shoulder", &["upper", "limb", "extremity"]),
    ("ankle", &["lower", "limb", "extremity", "foot"]),
    ("foot", &["lower", "limb", "extremity", "ankle"]),
    ("toe", &["lower", "limb", "extremity", "foot"]),
    ("knee", &["lower", "limb", "extremity", "leg"]),
    ("leg", &["lower", "limb", "extremity"]),
    ("thigh", &["lower", "limb", "extremity", "leg"]),
    ("calf", &["lower", "limb", "extremity", "leg"]),
    ("shin", &["lower", "limb", "extremity", "leg"]),
    // The colon is the large intestine of the tabular's titles.
    ("colon", &["intestine"]),
    ("sigmoid", &["intestine"]),
];

/// What the index build depends on besides the source files (part of the snapshot key).
fn index_config_text() -> String {
    // How `clinrag_kg::tokenize` reads a probe of the cases its normalisation handles (case,
    // accents, plurals, British spellings, hyphens, ligatures, look-alike letters): a change
    // of the tokenizer changes the key, so a snapshot indexed with the old words is rebuilt.
    let probe: Vec<String> = tokenize(
        "Ménière's Diseases, oesophageal haemorrhage; non-ST \u{FB01}brosis m\u{0435}tformin 3a",
    )
    .into_iter()
    .map(|t| t.norm)
    .collect();
    // Bump the leading tag when `view` or the leaf construction changes.
    format!(
        "index-16 {probe:?}{STOP:?}{WITHOUT_OF_GOES_ON:?}{NEUTRAL:?}{DEFAULTABLE:?}{SYNONYM_PAIRS:?}{SYNONYMS:?}"
    )
}

/// Query words and title words that stand for each other, both ways (either counts as a match):
/// plain words and the tabular's adjectives ("kidney" / "renal", "sacrum" / "sacral region").
const SYNONYM_PAIRS: &[(&str, &str)] = &[
    ("limb", "extremity"),
    ("kidney", "renal"),
    ("heart", "cardiac"),
    ("lung", "pulmonary"),
    ("liver", "hepatic"),
    ("stomach", "gastric"),
    ("vein", "venous"),
    ("hypertension", "hypertensive"),
    ("diabetes", "diabetic"),
    ("sacrum", "sacral"),
    ("spine", "spinal"),
    ("vertebra", "vertebral"),
    ("skull", "cranial"),
    ("abdomen", "abdominal"),
    ("mouth", "oral"),
    ("larynx", "laryngeal"),
    ("rectum", "rectal"),
    ("anus", "anal"),
    ("esophagus", "esophageal"),
    ("pancreas", "pancreatic"),
    ("spleen", "splenic"),
    ("skin", "cutaneous"),
    ("breast", "mammary"),
    ("ovary", "ovarian"),
    ("uterus", "uterine"),
    ("testis", "testicular"),
    ("prostate", "prostatic"),
    ("penis", "penile"),
    ("vagina", "vaginal"),
    ("vulva", "vulvar"),
    ("urethra", "urethral"),
    ("ureter", "ureteral"),
    ("artery", "arterial"),
    ("duodenum", "duodenal"),
    ("colon", "colonic"),
    ("pharynx", "pharyngeal"),
    ("streptococcus", "streptococcal"),
    ("staphylococcus", "staphylococcal"),
];

/// Query words and the title words that may stand for them, one way.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("leg", &["limb", "extremity"]),
    ("arm", &["limb", "extremity"]),
    ("wrist", &["hand", "limb"]),
    ("toe", &["foot"]),
    ("finger", &["hand"]),
    ("cancer", &["malignant", "neoplasm"]),
    ("tumor", &["neoplasm"]),
    // Body parts in plain words and the adjectives of the tabular.
    ("neck", &["cervical"]),
    ("chest", &["thoracic"]),
    ("brain", &["cerebral"]),
    ("nose", &["nasal"]),
    ("bowel", &["intestinal", "intestine"]),
    ("gut", &["intestinal", "intestine"]),
    ("womb", &["uterus", "uterine"]),
    ("postprocedural", &["postsurgical", "postoperative"]),
    // Bones in their adjective form ("femoral neck" -> "neck of femur").
    ("femoral", &["femur"]),
    ("humeral", &["humerus"]),
    ("tibial", &["tibia"]),
    ("fibular", &["fibula"]),
    ("radial", &["radius"]),
    ("ulnar", &["ulna"]),
    // The forearm of the pathological-fracture titles ("Age-related osteoporosis with current
    // pathological fracture, left forearm").
    ("radius", &["forearm"]),
    ("ulna", &["forearm"]),
    ("clavicular", &["clavicle"]),
    ("pelvic", &["pelvis"]),
    ("testicle", &["testis", "testicular"]),
    // The tabular names intracranial and other bleeds "hemorrhage" ("Traumatic subdural
    // hemorrhage"); a clinician writes "hematoma" for the same.
    ("hematoma", &["hemorrhage"]),
    ("bleeding", &["hemorrhage"]),
    ("bleed", &["hemorrhage"]),
    ("hiatal", &["hiatus"]),
    // The pregnancy chapter says "maternal" ("Unspecified maternal hypertension").
    ("pregnancy", &["maternal"]),
    // Cystitis is an infection of the bladder ("Infections of bladder in pregnancy").
    ("cystitis", &["bladder"]),
    // The sigmoid is part of the colon, the large intestine of the tabular's titles.
    ("sigmoid", &["colon", "large"]),
    ("colon", &["large"]),
];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct View {
    /// Words the text must have (a missing one costs its idf).
    req: Vec<u32>,
    /// Nonessential modifiers and neutral words (credit when present, no cost when absent).
    opt: Vec<u32>,
    /// Words after "without": present in the text, they contradict the title.
    neg: Vec<u32>,
    /// "X and Y" (ICD "and" means and/or): the cheaper side's missing words cost.
    any: Vec<(Vec<u32>, Vec<u32>)>,
    text: String,
}

impl View {
    /// Whether the view names the word (required, optional or in an "and" group).
    fn says(&self, t: u32) -> bool {
        self.req.contains(&t)
            || self.opt.contains(&t)
            || self
                .any
                .iter()
                .any(|(a, b)| a.contains(&t) || b.contains(&t))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Node {
    code: String,
    title: String,
    level: IcdLevel,
    parent: Option<usize>,
    children: Vec<usize>,
    billable: bool,
    title_view: View,
    incl: Vec<View>,
    notes: Vec<String>,
    excludes1: Vec<String>,
    leaf: Option<usize>,
    /// Of a category: the words that some but not all of its billable leaves' titles say (the
    /// words that tell its leaves apart: laterality, site, "non" of NSTEMI), sorted.
    distinct: Vec<u32>,
    /// Of a category: the words of its title that no sibling category's title says
    /// ("subsequent" of I22 against I21 and I23), which its inclusion terms stand in for only
    /// at the category level, not for its leaves.
    cat_diff: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Leaf {
    node: usize,
    /// Path from the category down to the leaf.
    path: Vec<usize>,
    diffs: Vec<Vec<u32>>,
    all: Vec<u32>,
    bonus: f32,
}

/// The embedding-similarity signal attached to a coder: the embedder for the clauses, the
/// code-text vectors, and per row the node it stands for and the leaf a hit on it proposes.
struct Semantic {
    embedder: Arc<dyn TextEmbedder>,
    vectors: CodeVectors,
    rows: Vec<usize>,
    /// Nearest rows of clause texts seen before (cleared when full).
    cache: Mutex<HashMap<String, Vec<(usize, f32)>>>,
}

/// Rows kept per clause text in the cache, and the cosine under which none is kept (the
/// options' `embed_k` and `embed_floor` cut them further).
const CACHED_NEAREST: usize = 32;
const CACHED_FLOOR: f32 = 0.3;
/// Clause texts cached at most.
const CACHE_ENTRIES: usize = 20_000;

/// An embedding hit: the node a code text stands for, the cosine, the text's row.
type Hit = (usize, f32, usize);

/// Words of [`STOP`] kept in the text a clause is embedded as (function words and "hx").
const EMBED_KEEP: &[&str] = &[
    "of", "the", "a", "an", "and", "or", "in", "on", "to", "for", "with", "by", "at", "due",
    "from", "into", "hx",
];

/// Most distinct clauses of one text looked up by embedding similarity (a long note's other
/// clauses get the lexical candidates only, with a warning).
const MAX_SEMANTIC_QUERIES: usize = 512;

/// Least score of a merged reading whose code says words of both fragments (a combination
/// code) for the fragments to be merged.
const COMBINATION_MIN: f32 = 0.8;

/// Least score of a clause of one scored word (see `code_clause`).
const SINGLE_WORD_MIN_SCORE: f32 = 0.65;

/// Most stray-word readings of one text (each scores the clause up to n(n+1)/2 times; a long
/// note's other clauses go without, with a warning).
const MAX_STRAY_READINGS: usize = 256;

/// The ICD-10-CM coder. Build once, share (`Send + Sync`).
pub struct IcdCoder {
    nodes: Vec<Node>,
    by_code: HashMap<String, usize>,
    vocab: HashMap<String, u32>,
    idf: Vec<f32>,
    leaves: Vec<Leaf>,
    postings: Vec<Vec<u32>>,
    numeric: Vec<bool>,
    syn: HashMap<u32, Vec<u32>>,
    lay: LayTerms,
    /// Words some title or inclusion term puts after "without" (derived, not stored).
    negatable: Vec<bool>,
    /// Negative qualifiers ("nonrheumatic"), by token (derived, not stored).
    soft: Vec<bool>,
    /// Token ids of [`CONTEXT_WORDS`], sorted (see `only_context`).
    context_words: Vec<u32>,
    /// Token ids that name an infectious agent (from the B95-B97 titles), sorted.
    organisms: Vec<u32>,
    /// Every token id of the B95-B97 titles' agent names ("resistant", "group"), sorted.
    agent_words: Vec<u32>,
    /// Per category node: the side words (left, right, bilateral, unilateral) some leaf title
    /// below it says (derived, not stored).
    category_sides: HashMap<usize, Vec<u32>>,
    stop: HashSet<&'static str>,
    neutral: HashSet<&'static str>,
    /// Embedding similarity (attached after load; not part of the snapshot).
    semantic: Option<Semantic>,
    /// Per node with leaves below it: the leaf a hit on the node proposes (derived).
    default_leaf: HashMap<usize, usize>,
    /// Tunables.
    pub options: IcdOptions,
}

/// The index of an [`IcdCoder`] as stored in its snapshot (borrowed for writing).
#[derive(Serialize)]
pub(crate) struct IndexRef<'a> {
    nodes: &'a [Node],
    by_code: &'a HashMap<String, usize>,
    vocab: &'a HashMap<String, u32>,
    idf: &'a [f32],
    leaves: &'a [Leaf],
    postings: &'a [Vec<u32>],
    numeric: &'a [bool],
    syn: &'a HashMap<u32, Vec<u32>>,
    lay: &'a LayTerms,
}

/// The index of an [`IcdCoder`] as read back from its snapshot.
#[derive(Deserialize)]
pub(crate) struct Index {
    nodes: Vec<Node>,
    by_code: HashMap<String, usize>,
    vocab: HashMap<String, u32>,
    idf: Vec<f32>,
    leaves: Vec<Leaf>,
    postings: Vec<Vec<u32>>,
    numeric: Vec<bool>,
    syn: HashMap<u32, Vec<u32>>,
    lay: LayTerms,
}

/// How [`IcdCoder::load_cached`] got its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexSource {
    /// Read from the snapshot (`coding/icd10cm.bin` under the home).
    Snapshot,
    /// Built from the tabular and written to the snapshot.
    BuiltAndSaved,
    /// Built from the tabular; the snapshot could not be written (the reason).
    BuiltNotSaved(String),
}

struct Scored {
    leaf: usize,
    score: f32,
    matched_weight: f32,
    prec: f32,
    view: String,
    /// Cosine similarity of the clause to a text of the leaf or of an ancestor (0: none).
    sim: f32,
    /// Whether the lexical scorer found the leaf (else only embedding similarity did).
    lexical: bool,
}

/// Leaf, score, rationale, alternatives, extra codes (use-additional), and whether the leaf
/// came from embedding similarity alone (its evidence is then the clause).
type ClauseOutcome = (
    usize,
    f32,
    String,
    Vec<(usize, f32)>,
    Vec<(usize, f32, String)>,
    bool,
);

struct Problem {
    node: usize,
    score: f32,
    evidence: Vec<Evidence>,
    rationale: String,
    clause: u32,
}

/// The text of a square bracket that closes a title and names the condition ("Giardiasis
/// [lambliasis]"); not a bracket that qualifies a site ("[any part, except ear drum]").
fn closing_bracket_synonym(title: &str) -> Option<&str> {
    let inner = title.trim_end().strip_suffix(']')?;
    let (head, syn) = inner.rsplit_once('[')?;
    let syn = syn.trim();
    let lower = syn.to_lowercase();
    let qualifies_site = lower.starts_with("any ") || lower.contains("except");
    // Acronyms ("[ALL]", "[MEN]", "[ER+]") are the abbreviation table's business, and an
    // eponym that is also an English word ("[Wells]", "[Sweet]") would code plain text.
    let acronym = syn.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && syn
            .chars()
            .filter(|c| c.is_alphabetic())
            .filter(|c| c.is_uppercase())
            .count()
            >= 2;
    let word_like = !syn.contains(' ') && BRACKET_WORDS_NOT_SYNONYMS.contains(&lower.as_str());
    (!head.trim().is_empty()
        && !syn.is_empty()
        && !syn.contains(',')
        && !qualifies_site
        && !acronym
        && !word_like)
        .then_some(syn)
}

/// One-word closing brackets that are English words, or a class named in a poisoning title,
/// not a name of the condition.
const BRACKET_WORDS_NOT_SYNONYMS: &[&str] = &[
    "wells",
    "sweet",
    "baker",
    "grover",
    "hurst",
    "other",
    "battery",
    "ventilator",
    "ventouse",
    "cholinergics",
    "hallucinogens",
];

fn title_pieces(title: &str) -> Vec<(String, bool)> {
    // (text, optional): parenthesised and bracketed parts are nonessential modifiers.
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in title.chars() {
        match c {
            '(' | '[' => {
                if depth == 0 && !cur.is_empty() {
                    out.push((std::mem::take(&mut cur), false));
                }
                depth += 1;
            }
            ')' | ']' => {
                depth -= 1;
                if depth <= 0 {
                    depth = 0;
                    if !cur.is_empty() {
                        out.push((std::mem::take(&mut cur), true));
                    }
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push((cur, depth > 0));
    }
    out
}

impl IcdCoder {
    /// Loads the coder of a clinrag home: from its snapshot when it matches the source files,
    /// else from the tabular (`vocab/icd10cm/...`) and `vocab/hpo/hp.obo` (lay terms).
    pub fn load(home: &Path) -> Result<Self> {
        Ok(Self::load_cached(home)?.0)
    }

    /// [`IcdCoder::load`], saying whether the snapshot was used. The snapshot
    /// (`coding/icd10cm.bin`) is keyed by its format version and a checksum of the tabular, the
    /// code list, `hp.obo` and the index-time word lists; any mismatch rebuilds and rewrites it.
    pub fn load_cached(home: &Path) -> Result<(Self, IndexSource)> {
        let tab = home.join(TABULAR_PATH);
        let list = home.join(CODE_LIST_PATH);
        let hpo = home.join(HPO_PATH);
        let snap = home.join(snapshot::ICD_SNAPSHOT_PATH);
        let key = snapshot::source_key(&[&tab, &list, &hpo], &index_config_text());
        if let Some(key) = key
            && let Ok(index) = snapshot::read(&snap, key)
        {
            return Ok((Self::from_index(index), IndexSource::Snapshot));
        }
        let icd = load_icd10cm(&tab, list.exists().then_some(list.as_path()))?;
        if !icd.codes.iter().any(|c| c.billable) {
            return Err(CodingError::Empty {
                path: tab,
                message: "no billable ICD-10-CM codes in the tabular".into(),
            });
        }
        let lay = if hpo.exists() {
            LayTerms::load(&hpo)
        } else {
            LayTerms::default()
        };
        let me = Self::with_lay_terms(&icd, lay);
        let source = match key {
            Some(key) => match snapshot::write(&snap, key, &me.index_ref()) {
                Ok(()) => IndexSource::BuiltAndSaved,
                Err(e) => IndexSource::BuiltNotSaved(e.to_string()),
            },
            None => IndexSource::BuiltNotSaved("cannot read the source files to key it".into()),
        };
        Ok((me, source))
    }

    fn index_ref(&self) -> IndexRef<'_> {
        IndexRef {
            nodes: &self.nodes,
            by_code: &self.by_code,
            vocab: &self.vocab,
            idf: &self.idf,
            leaves: &self.leaves,
            postings: &self.postings,
            numeric: &self.numeric,
            syn: &self.syn,
            lay: &self.lay,
        }
    }

    fn from_index(ix: Index) -> Self {
        IcdCoder {
            nodes: ix.nodes,
            by_code: ix.by_code,
            vocab: ix.vocab,
            idf: ix.idf,
            leaves: ix.leaves,
            postings: ix.postings,
            numeric: ix.numeric,
            syn: ix.syn,
            lay: ix.lay,
            negatable: Vec::new(),
            soft: Vec::new(),
            context_words: Vec::new(),
            organisms: Vec::new(),
            agent_words: Vec::new(),
            category_sides: HashMap::new(),
            stop: STOP.iter().copied().collect(),
            neutral: NEUTRAL.iter().copied().collect(),
            semantic: None,
            default_leaf: HashMap::new(),
            options: IcdOptions::default(),
        }
        .with_negatable()
    }

    fn with_negatable(mut self) -> Self {
        let mut neg = vec![false; self.vocab.len()];
        for n in &self.nodes {
            for v in std::iter::once(&n.title_view).chain(&n.incl) {
                for &t in &v.neg {
                    if let Some(x) = neg.get_mut(t as usize) {
                        *x = true;
                    }
                }
            }
        }
        self.negatable = neg;
        let mut soft = vec![false; self.vocab.len()];
        for (w, &id) in &self.vocab {
            if let Some(x) = soft.get_mut(id as usize) {
                *x = is_negative_qualifier(w);
            }
        }
        self.soft = soft;
        let mut context: Vec<u32> = LATERAL_WORDS
            .iter()
            .chain(DEFAULTABLE)
            .chain(IMPLIED.iter().map(|(k, _)| k))
            .chain(CONTEXT_WORDS)
            .filter_map(|w| self.vocab.get(&clinrag_kg::normalize_term(w)).copied())
            .collect();
        // The body parts of the injury chapter's titles: the words after "of" in "Contusion of
        // thyroid gland", "Fracture of patella", "Unspecified injury of right ankle".
        // What comes before "of" names the injury ("Abrasion of ...", "Laceration of ..."):
        // such a word is never a body part, even where a title says it after "of" ("Injury of
        // conjunctiva and corneal abrasion").
        let mut injuries: HashSet<u32> = HashSet::new();
        for n in self.nodes.iter().filter(|n| n.code.starts_with('S')) {
            for part in n.title.to_lowercase().split(',') {
                let Some((head, _)) = part.split_once(" of ") else {
                    continue;
                };
                for t in tokenize(head) {
                    if let Some(&id) = self.vocab.get(t.norm.as_str()) {
                        injuries.insert(id);
                    }
                }
            }
        }
        for n in self.nodes.iter().filter(|n| n.code.starts_with('S')) {
            for part in n.title.to_lowercase().split(',') {
                let Some((_, site)) = part.split_once(" of ") else {
                    continue;
                };
                for w in site.split_whitespace() {
                    if matches!(w, "with" | "without" | "due" | "by" | "from" | "in") {
                        break;
                    }
                    for t in tokenize(w) {
                        let w = t.norm.as_str();
                        if self.stop.contains(w) || self.neutral.contains(w) {
                            continue;
                        }
                        if let Some(&id) = self.vocab.get(w)
                            && !injuries.contains(&id)
                        {
                            context.push(id);
                        }
                    }
                }
            }
        }
        context.sort_unstable();
        context.dedup();
        self.context_words = context;
        // The agents of B95-B97 ("Methicillin resistant Staphylococcus aureus infection as the
        // cause of diseases classified elsewhere"): the words before "as the cause".
        let mut organisms: Vec<u32> = Vec::new();
        let mut agent_words: Vec<u32> = Vec::new();
        for n in self
            .nodes
            .iter()
            .filter(|n| ["B95", "B96", "B97"].iter().any(|p| n.code.starts_with(p)))
        {
            let lower = n.title.to_lowercase();
            let name = lower.split(" as the cause").next().unwrap_or("");
            for t in tokenize(name) {
                let w = t.norm.as_str();
                let Some(&id) = self.vocab.get(w) else {
                    continue;
                };
                if self.stop.contains(w) || self.neutral.contains(w) {
                    continue;
                }
                agent_words.push(id);
                if !AGENT_GENERIC.contains(&w) && w.len() > 2 {
                    organisms.push(id);
                }
            }
        }
        organisms.sort_unstable();
        organisms.dedup();
        agent_words.sort_unstable();
        agent_words.dedup();
        self.organisms = organisms;
        self.agent_words = agent_words;
        let lateral: Vec<u32> = LATERAL_WORDS
            .iter()
            .filter_map(|w| self.vocab.get(*w).copied())
            .collect();
        let mut category_sides: HashMap<usize, Vec<u32>> = HashMap::new();
        for l in &self.leaves {
            let view = &self.nodes[l.node].title_view;
            let Some(&cat) = l.path.first() else { continue };
            let entry = category_sides.entry(cat).or_default();
            for &t in &lateral {
                if !entry.contains(&t) && view.says(t) {
                    entry.push(t);
                }
            }
        }
        self.category_sides = category_sides;
        // The leaf a hit on a node proposes: its own, or the one below it the walk would pick
        // with nothing else said (highest specificity bonus: "unspecified", initial encounter).
        let mut dl: HashMap<usize, usize> = HashMap::new();
        for (li, l) in self.leaves.iter().enumerate() {
            for &p in &l.path {
                let replace = match dl.get(&p) {
                    None => true,
                    Some(&o) => {
                        let (a, b) = (&self.leaves[li], &self.leaves[o]);
                        a.bonus > b.bonus
                            || (a.bonus == b.bonus
                                && self.nodes[a.node].code < self.nodes[b.node].code)
                    }
                };
                if replace {
                    dl.insert(p, li);
                }
            }
        }
        self.default_leaf = dl;
        self
    }

    /// The texts of the embedding index and the code each stands for: every billable leaf's
    /// title (for 7th-character codes, the base code's title once, standing for the base
    /// code), the leaf's inclusion terms, and the inclusion terms of its ancestors (standing
    /// for the ancestor). Deduplicated.
    fn embedding_texts(&self) -> (Vec<String>, Vec<String>) {
        let mut seen: HashSet<(String, usize)> = HashSet::new();
        let (mut texts, mut codes) = (Vec::new(), Vec::new());
        let mut push = |text: &str, node: usize| {
            let t = text.trim();
            if !t.is_empty() && seen.insert((t.to_string(), node)) {
                texts.push(t.to_string());
                codes.push(self.nodes[node].code.clone());
            }
        };
        for l in &self.leaves {
            let n = &self.nodes[l.node];
            let base = n.parent.filter(|&p| {
                n.code.ends_with(|c: char| c.is_ascii_alphabetic())
                    && n.title.starts_with(&format!("{}, ", self.nodes[p].title))
            });
            match base {
                Some(p) => push(&self.nodes[p].title, p),
                None => push(&n.title, l.node),
            }
            for &p in &l.path {
                // The title's closing-bracket synonym is in the embedded title already.
                let bracket = closing_bracket_synonym(&self.nodes[p].title);
                for v in &self.nodes[p].incl {
                    if Some(v.text.as_str()) != bracket {
                        push(&v.text, p);
                    }
                }
            }
        }
        (texts, codes)
    }

    /// Attaches embedding similarity as a candidate signal: the code texts' vectors are read
    /// from the home's `coding/icd10cm.vec` when it was made from the same tabular and code
    /// list by the same embedder (name and dimension) and index-text version, else embedded
    /// now (a one-time cost: tens of thousands of short texts) and written there atomically.
    pub fn attach_embedder(
        &mut self,
        home: &Path,
        embedder: Arc<dyn TextEmbedder>,
    ) -> Result<VectorSource> {
        let tab = home.join(TABULAR_PATH);
        let list = home.join(CODE_LIST_PATH);
        let path = home.join(VEC_SNAPSHOT_PATH);
        let config = format!(
            "{TEXTS_VERSION} {} {} leaves={}",
            embedder.name(),
            embedder.dim(),
            self.leaves.len()
        );
        let key = snapshot::source_key(&[&tab, &list], &config);
        if let Some(key) = key
            && let Ok(bytes) = std::fs::read(&path)
            && let Ok(v) = CodeVectors::from_bytes(&bytes, key)
            && let Ok(s) = self.semantic_from(v, Arc::clone(&embedder))
        {
            self.semantic = Some(s);
            return Ok(VectorSource::Snapshot);
        }
        let (texts, codes) = self.embedding_texts();
        let v = CodeVectors::build(embedder.as_ref(), &texts, codes).map_err(|message| {
            CodingError::Embedding {
                path: path.clone(),
                message,
            }
        })?;
        let source = match key {
            Some(key) => match v.write(&path, key) {
                Ok(()) => VectorSource::BuiltAndSaved,
                Err(e) => VectorSource::BuiltNotSaved(e),
            },
            None => VectorSource::BuiltNotSaved("cannot read the source files to key it".into()),
        };
        let s = self
            .semantic_from(v, embedder)
            .map_err(|message| CodingError::Embedding { path, message })?;
        self.semantic = Some(s);
        Ok(source)
    }

    fn semantic_from(
        &self,
        vectors: CodeVectors,
        embedder: Arc<dyn TextEmbedder>,
    ) -> std::result::Result<Semantic, String> {
        if vectors.model != embedder.name() || vectors.dim != embedder.dim() {
            return Err("made by another embedder".into());
        }
        let rows = vectors
            .codes
            .iter()
            .map(|c| {
                self.by_code
                    .get(c)
                    .copied()
                    .filter(|n| self.default_leaf.contains_key(n))
                    .ok_or_else(|| format!("{c} is not a code of the loaded tabular"))
            })
            .collect::<std::result::Result<Vec<usize>, String>>()?;
        Ok(Semantic {
            embedder,
            vectors,
            rows,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The `k` code texts nearest to `text` by embedding similarity, best first: (code, code
    /// text, cosine); empty without an attached embedder. For explaining and tuning.
    pub fn nearest_code_texts(
        &self,
        text: &str,
        k: usize,
    ) -> std::result::Result<Vec<(String, String, f32)>, String> {
        let Some(sem) = &self.semantic else {
            return Ok(Vec::new());
        };
        let v = sem.embedder.embed(&[text.to_string()])?;
        let Some(q) = v.first() else {
            return Ok(Vec::new());
        };
        Ok(sem
            .vectors
            .search(q, k, -1.0)
            .into_iter()
            .map(|(row, sim)| {
                (
                    sem.vectors.codes[row].clone(),
                    sem.vectors.texts[row].clone(),
                    sim,
                )
            })
            .collect())
    }

    /// Number of code texts in the attached embedding index (0: none attached).
    pub fn embedding_rows(&self) -> usize {
        self.semantic.as_ref().map_or(0, |s| s.vectors.len())
    }

    /// The text a clause is embedded as: its affirmed words as written (lexicon expansions as
    /// expanded); `None` when nothing but function words is left.
    fn semantic_query(&self, cw: &[Word], chars: &[char]) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        let mut content = false;
        let mut last: Option<(usize, usize)> = None;
        for w in cw.iter().filter(|w| w.status == Status::Affirmed) {
            // Note filler ("pt", "presents", "since") is left out; function words stay.
            if self.stop.contains(w.norm.as_str()) && !EMBED_KEEP.contains(&w.norm.as_str()) {
                continue;
            }
            if w.rewritten {
                parts.push(w.norm.clone());
            } else if last != Some((w.start, w.end)) {
                let surface: String = chars.get(w.start..w.end)?.iter().collect();
                parts.push(surface.to_lowercase());
            }
            last = Some((w.start, w.end));
            let s = w.norm.as_str();
            if !self.stop.contains(s)
                && !self.neutral.contains(s)
                && s.chars().filter(|c| c.is_alphabetic()).count() >= 2
            {
                content = true;
            }
        }
        content.then(|| parts.join(" "))
    }

    /// Per query, the nodes whose texts are within the floor, with their best cosine.
    fn semantic_hits(&self, queries: &[String]) -> std::result::Result<Vec<Vec<Hit>>, String> {
        let Some(sem) = &self.semantic else {
            return Ok(vec![Vec::new(); queries.len()]);
        };
        // The nearest rows of each query (found once, at a low floor), then the options' cut.
        let mut nearest: Vec<Option<Vec<(usize, f32)>>> = {
            let cache = sem
                .cache
                .lock()
                .map_err(|_| "embedding cache poisoned".to_string())?;
            queries.iter().map(|q| cache.get(q).cloned()).collect()
        };
        let missing: Vec<String> = queries
            .iter()
            .zip(&nearest)
            .filter(|(_, n)| n.is_none())
            .map(|(q, _)| q.clone())
            .collect();
        if !missing.is_empty() {
            let vecs = sem.embedder.embed(&missing)?;
            if vecs.len() != missing.len() {
                return Err(format!(
                    "the embedder returned {} vectors for {} texts",
                    vecs.len(),
                    missing.len()
                ));
            }
            let found: Vec<Vec<(usize, f32)>> = vecs
                .iter()
                .map(|v| sem.vectors.search(v, CACHED_NEAREST, CACHED_FLOOR))
                .collect();
            let mut it = found.iter();
            for n in nearest.iter_mut().filter(|n| n.is_none()) {
                *n = it.next().cloned();
            }
            if let Ok(mut cache) = sem.cache.lock() {
                if cache.len() + missing.len() > CACHE_ENTRIES {
                    cache.clear();
                }
                for (q, f) in missing.into_iter().zip(found) {
                    cache.insert(q, f);
                }
            }
        }
        let k = self.options.embed_k.min(CACHED_NEAREST);
        Ok(nearest
            .into_iter()
            .map(|rows| {
                let mut hits: Vec<Hit> = Vec::new();
                for (row, sim) in rows
                    .unwrap_or_default()
                    .into_iter()
                    .take(k)
                    .filter(|(_, sim)| *sim >= self.options.embed_floor)
                {
                    let node = sem.rows[row];
                    if !hits.iter().any(|h| h.0 == node) {
                        hits.push((node, sim, row));
                    }
                }
                hits
            })
            .collect())
    }

    /// Adds the embedding candidates to the lexical ones: a lexical candidate under a hit
    /// node gains up to `embed_weight`; a hit whose leaves the lexical scorer missed proposes
    /// its default leaf at `embed_base..embed_base + embed_span`. Re-sorted.
    fn add_semantic(&self, scored: &mut Vec<Scored>, hits: &[Hit]) {
        let o = &self.options;
        let norm =
            |sim: f32| ((sim - o.embed_floor) / (1.0 - o.embed_floor).max(1e-6)).clamp(0.0, 1.0);
        let alone = |sim: f32, leaf: usize| {
            o.embed_base + o.embed_span * norm(sim) + self.leaves[leaf].bonus
        };
        let mut covered: HashSet<usize> = HashSet::new();
        for s in scored.iter_mut() {
            let path = &self.leaves[s.leaf].path;
            let sim = hits
                .iter()
                .filter(|h| path.contains(&h.0))
                .map(|h| h.1)
                .fold(0f32, f32::max);
            if sim > 0.0 {
                for h in hits.iter().filter(|h| path.contains(&h.0)) {
                    covered.insert(h.0);
                }
                s.sim = sim;
                s.score = (s.score + o.embed_weight * norm(sim)).max(alone(sim, s.leaf));
            }
        }
        for &(node, sim, row) in hits {
            if covered.contains(&node) {
                continue;
            }
            let Some(&leaf) = self.default_leaf.get(&node) else {
                continue;
            };
            if let Some(s) = scored.iter_mut().find(|s| s.leaf == leaf) {
                s.sim = s.sim.max(sim);
                s.score = s.score.max(alone(sim, leaf));
                continue;
            }
            scored.push(Scored {
                leaf,
                score: alone(sim, leaf),
                matched_weight: 0.0,
                prec: 0.0,
                view: format!(
                    "similar to {:?} of {} (embedding similarity {sim:.2})",
                    self.semantic
                        .as_ref()
                        .and_then(|s| s.vectors.texts.get(row))
                        .map_or("", String::as_str),
                    self.nodes[node].code
                ),
                sim,
                lexical: false,
            });
        }
        self.sort_scored(scored);
    }

    /// Number of HPO lay-term and abbreviation rewrites loaded.
    pub fn lay_term_count(&self) -> usize {
        self.lay.len()
    }

    /// Builds the coder from a loaded tabular (no HPO lay terms).
    pub fn new(icd: &Icd10cm) -> Self {
        Self::with_lay_terms(icd, LayTerms::default())
    }

    /// Builds the coder from a loaded tabular and the HPO lay terms of `hp.obo` text.
    pub fn with_hpo(icd: &Icd10cm, hp_obo: &str) -> Self {
        let ont = clinrag_phenotype::Ontology::parse_str(hp_obo, "hp.obo");
        Self::with_lay_terms(icd, LayTerms::from_ontology(&ont))
    }

    fn with_lay_terms(icd: &Icd10cm, lay: LayTerms) -> Self {
        let mut me = IcdCoder {
            nodes: Vec::with_capacity(icd.codes.len()),
            by_code: HashMap::new(),
            vocab: HashMap::new(),
            idf: Vec::new(),
            leaves: Vec::new(),
            postings: Vec::new(),
            numeric: Vec::new(),
            syn: HashMap::new(),
            lay,
            negatable: Vec::new(),
            soft: Vec::new(),
            context_words: Vec::new(),
            organisms: Vec::new(),
            agent_words: Vec::new(),
            category_sides: HashMap::new(),
            stop: STOP.iter().copied().collect(),
            neutral: NEUTRAL.iter().copied().collect(),
            semantic: None,
            default_leaf: HashMap::new(),
            options: IcdOptions::default(),
        };
        let mut df: Vec<u32> = Vec::new();
        let mut ext_seen: HashSet<(String, String)> = HashSet::new();
        for c in &icd.codes {
            let parent = c.parent.as_ref().and_then(|p| me.by_code.get(p).copied());
            let title_view = match (c.extension, parent) {
                (Some(_), Some(p)) => {
                    let pt = me.nodes[p].title.clone();
                    let mut v = me.nodes[p].title_view.clone();
                    let ext = c
                        .label
                        .strip_prefix(&format!("{pt}, "))
                        .unwrap_or(&c.label)
                        .to_string();
                    let ev = me.view(&ext, &mut df);
                    // The 7th-character label repeats under every extended code: counted each
                    // time, it would make "subsequent" and "initial" as cheap as "of" (I22
                    // "Subsequent ... myocardial infarction" would then cost nothing to text
                    // without it). Counted once per category that defines it.
                    let cat = c.code.get(..3).unwrap_or(&c.code).to_string();
                    if !ext_seen.insert((cat, ext.clone())) {
                        let mut counted: Vec<u32> = ev.req.iter().chain(&ev.opt).copied().collect();
                        counted.sort_unstable();
                        counted.dedup();
                        for t in counted {
                            if let Some(d) = df.get_mut(t as usize) {
                                *d = d.saturating_sub(1);
                            }
                        }
                    }
                    v.opt.extend(ev.req);
                    v.opt.extend(ev.opt);
                    v.text = c.label.clone();
                    v
                }
                _ => me.view(&c.label, &mut df),
            };
            let synonyms = c.notes.inclusion_terms.iter().chain(
                // `includes` notes of categories and below name synonyms too, unless they point elsewhere.
                c.notes.includes.iter().filter(|n| {
                    matches!(c.level, IcdLevel::Category | IcdLevel::Subcategory)
                        && note_refs(n).is_empty()
                        && !n.contains("code")
                }),
            );
            let mut incl: Vec<View> = synonyms.map(|t| me.view(t, &mut df)).collect();
            // A bracket closing the title is a synonym of it (the tabular's convention):
            // "Acute obstructive laryngitis [croup]", "Palmar fascial fibromatosis
            // [Dupuytren]", "Thromboangiitis obliterans [Buerger's disease]".
            if let Some(syn) = closing_bracket_synonym(&c.label) {
                incl.push(me.view(syn, &mut df));
            }
            let ix = me.nodes.len();
            me.nodes.push(Node {
                code: c.code.clone(),
                title: c.label.clone(),
                level: c.level,
                parent,
                children: Vec::new(),
                billable: c.billable,
                title_view,
                incl,
                notes: notes_of(c),
                excludes1: c
                    .notes
                    .excludes1
                    .iter()
                    .flat_map(|n| note_refs(n))
                    .collect(),
                leaf: None,
                distinct: Vec::new(),
                cat_diff: Vec::new(),
            });
            if let Some(p) = parent {
                me.nodes[p].children.push(ix);
            }
            me.by_code.insert(c.code.clone(), ix);
        }
        let n_docs = me.nodes.len().max(1) as f32;
        me.idf = df
            .iter()
            .map(|&d| (1.0 + n_docs / (d as f32 + 1.0)).ln())
            .collect();
        // Leaves.
        let mut with_cache: HashMap<usize, HashSet<String>> = HashMap::new();
        for ix in 0..me.nodes.len() {
            let node = &me.nodes[ix];
            if !node.billable || node.code.starts_with(['V', 'W', 'X', 'Y']) {
                continue;
            }
            let mut path = vec![ix];
            let mut cur = node.parent;
            while let Some(p) = cur {
                if matches!(me.nodes[p].level, IcdLevel::Block | IcdLevel::Chapter) {
                    break;
                }
                path.push(p);
                cur = me.nodes[p].parent;
            }
            path.reverse();
            let mut all: Vec<u32> = Vec::new();
            let mut own_diff: Vec<Vec<u32>> = Vec::new();
            for (k, &p) in path.iter().enumerate() {
                let n = &me.nodes[p];
                for v in std::iter::once(&n.title_view).chain(&n.incl) {
                    all.extend(&v.req);
                    all.extend(&v.opt);
                    for (a, b) in &v.any {
                        all.extend(a.iter().chain(b));
                    }
                }
                let mut d = Vec::new();
                if k > 0 && n.title_view.text == n.title {
                    let parent_words: HashSet<u32> = {
                        let pn = &me.nodes[path[k - 1]];
                        let v = &pn.title_view;
                        v.req
                            .iter()
                            .chain(&v.opt)
                            .chain(v.any.iter().flat_map(|(a, b)| a.iter().chain(b)))
                            .copied()
                            .collect()
                    };
                    d.extend(
                        n.title_view
                            .req
                            .iter()
                            .filter(|t| !parent_words.contains(t)),
                    );
                }
                own_diff.push(d);
            }
            all.sort_unstable();
            all.dedup();
            // diffs[k]: what sets the leaf apart from path[k] (the differentia of the nodes below it).
            let mut diffs: Vec<Vec<u32>> = vec![Vec::new(); path.len()];
            for k in (0..path.len().saturating_sub(1)).rev() {
                let mut d = diffs[k + 1].clone();
                d.extend(&own_diff[k + 1]);
                d.sort_unstable();
                d.dedup();
                diffs[k] = d;
            }
            let lower = node.title.to_lowercase();
            let mut bonus = 0.0f32;
            if lower.contains("unspecified") {
                bonus += 0.02;
            }
            // "Without X" is the default reading only where the category also has "with X"
            // (E11.9 "without complications" against E11.8; not M06.0 "without rheumatoid
            // factor", whose "with" is another category).
            if let Some(x) = lower
                .split_once("without ")
                .and_then(|(_, rest)| rest.split([' ', ',']).next())
                && with_words(&me.nodes, path[0], &mut with_cache).contains(x)
            {
                bonus += 0.01;
            }
            if lower.contains("other") {
                bonus -= 0.02;
            }
            if me.nodes[ix].code.len() == 8 && me.nodes[ix].code.ends_with('A') {
                bonus += 0.02;
            }
            // A manifestation code ("... in diseases classified elsewhere") is never the first
            // code of a condition: the tabular codes the underlying disease first (N16 for
            // "pyelonephritis" only after the disease; N12 is the code).
            if path.iter().any(|&p| {
                me.nodes[p]
                    .title
                    .to_lowercase()
                    .contains("in diseases classified elsewhere")
            }) {
                bonus -= MANIFESTATION_DEMOTION;
            }
            // Between equally supported leaves, the shallower (more general) one.
            bonus -= 0.005 * (path.len() as f32 - 1.0);
            let li = me.leaves.len();
            me.nodes[ix].leaf = Some(li);
            me.leaves.push(Leaf {
                node: ix,
                path,
                diffs,
                all,
                bonus,
            });
        }
        // Per category, the title words no sibling category says (numbers aside: "2" of E11).
        let numbers: HashSet<u32> = me
            .vocab
            .iter()
            .filter(|(w, _)| w.bytes().all(|b| b.is_ascii_digit()))
            .map(|(_, &id)| id)
            .collect();
        for ix in 0..me.nodes.len() {
            let n = &me.nodes[ix];
            if n.level != IcdLevel::Category {
                continue;
            }
            let Some(p) = n.parent else { continue };
            let others: HashSet<u32> = me.nodes[p]
                .children
                .iter()
                .filter(|&&c| c != ix)
                .flat_map(|&c| {
                    let v = &me.nodes[c].title_view;
                    v.req
                        .iter()
                        .chain(&v.opt)
                        .chain(v.any.iter().flat_map(|(a, b)| a.iter().chain(b)))
                        .copied()
                        .collect::<Vec<u32>>()
                })
                .collect();
            let mut d: Vec<u32> = n
                .title_view
                .req
                .iter()
                .filter(|t| !others.contains(t))
                .filter(|t| !numbers.contains(t))
                .copied()
                .collect();
            d.sort_unstable();
            d.dedup();
            me.nodes[ix].cat_diff = d;
        }
        // Per category, the title words that tell its leaves apart.
        let mut per_cat: HashMap<usize, (usize, HashMap<u32, usize>)> = HashMap::new();
        for l in &me.leaves {
            let v = &me.nodes[l.node].title_view;
            let mut ws: Vec<u32> = v
                .req
                .iter()
                .chain(&v.opt)
                .chain(v.any.iter().flat_map(|(a, b)| a.iter().chain(b)))
                .copied()
                .collect();
            ws.sort_unstable();
            ws.dedup();
            let e = per_cat.entry(l.path[0]).or_default();
            e.0 += 1;
            for w in ws {
                *e.1.entry(w).or_default() += 1;
            }
        }
        for (cat, (n, counts)) in per_cat {
            let mut d: Vec<u32> = counts
                .into_iter()
                .filter(|&(_, c)| c < n)
                .map(|(w, _)| w)
                .collect();
            d.sort_unstable();
            me.nodes[cat].distinct = d;
        }
        let both_ways = SYNONYM_PAIRS
            .iter()
            .flat_map(|(a, b)| [(*a, std::slice::from_ref(b)), (*b, std::slice::from_ref(a))]);
        let one_way = SYNONYMS.iter().map(|&(w, alts)| (w, alts));
        for (w, alts) in both_ways.chain(one_way) {
            let w = clinrag_kg::normalize_term(w);
            if let Some(&id) = me.vocab.get(&w) {
                let ids = alts
                    .iter()
                    .filter_map(|a| me.vocab.get(&clinrag_kg::normalize_term(a)).copied());
                let entry = me.syn.entry(id).or_default();
                for alt in ids {
                    if !entry.contains(&alt) {
                        entry.push(alt);
                    }
                }
                if entry.is_empty() {
                    me.syn.remove(&id);
                }
            }
        }
        // The tabular's own participles and adjectives also match its nouns ("perforated" in a
        // clause, "perforation" in a title).
        let forms: Vec<(u32, u32)> = me
            .vocab
            .iter()
            .flat_map(|(w, &id)| {
                word_forms(w)
                    .into_iter()
                    .filter_map(|f| me.vocab.get(f.as_str()).copied())
                    .filter(move |f| *f != id)
                    .map(move |f| (id, f))
            })
            .collect();
        for (id, f) in forms {
            let entry = me.syn.entry(id).or_default();
            if !entry.contains(&f) {
                entry.push(f);
            }
        }
        me.numeric = vec![false; me.vocab.len()];
        for (w, &id) in &me.vocab {
            me.numeric[id as usize] = w.bytes().all(|b| b.is_ascii_digit());
        }
        me.postings = vec![Vec::new(); me.vocab.len()];
        for (li, l) in me.leaves.iter().enumerate() {
            for &t in &l.all {
                me.postings[t as usize].push(li as u32);
            }
        }
        me.with_negatable()
    }

    fn token_id(&mut self, w: &str, df: &mut Vec<u32>) -> u32 {
        if let Some(&id) = self.vocab.get(w) {
            return id;
        }
        let id = self.vocab.len() as u32;
        self.vocab.insert(w.to_string(), id);
        df.push(0);
        id
    }

    fn view(&mut self, text: &str, df: &mut Vec<u32>) -> View {
        let mut v = View {
            text: text.to_string(),
            ..Default::default()
        };
        for (piece, optional) in title_pieces(text) {
            for part in piece.split(',') {
                // "without" (and "not") scope over their comma-separated part of the title.
                let mut after_without = false;
                let mut raw: Vec<&str> = part.split_whitespace().collect();
                // "Malignant melanoma of left upper limb, including shoulder": what the part
                // includes is a nonessential modifier.
                let optional = optional
                    || raw
                        .first()
                        .is_some_and(|w| w.eq_ignore_ascii_case("including"));
                // "Rotator cuff tear ..., not specified as traumatic", "Malignant neoplasm of
                // liver, not specified as primary or secondary": the title is the code for text
                // that does not say the rest, so text saying it contradicts the title (a
                // "without" scope).
                if let Some(k) = raw.windows(3).position(|w| {
                    w[0].eq_ignore_ascii_case("not")
                        && w[1].eq_ignore_ascii_case("specified")
                        && w[2].eq_ignore_ascii_case("as")
                }) {
                    for rw in raw.drain(k..).skip(3) {
                        for t in tokenize(rw) {
                            let w = t.norm.as_str();
                            if !self.stop.contains(w) && !self.neutral.contains(w) {
                                let id = self.token_id(w, df);
                                v.neg.push(id);
                            }
                        }
                    }
                }
                let mut side: Vec<Option<(usize, bool)>> = vec![None; raw.len()];
                if !optional && !after_without {
                    for k in 1..raw.len().saturating_sub(1) {
                        // "Acute and chronic respiratory failure" says both, not either.
                        let both = raw[k - 1].eq_ignore_ascii_case("acute")
                            && raw[k + 1].eq_ignore_ascii_case("chronic");
                        if raw[k].eq_ignore_ascii_case("and")
                            && !both
                            && !raw[..k].iter().any(|w| w.eq_ignore_ascii_case("without"))
                        {
                            let g = v.any.len();
                            v.any.push((Vec::new(), Vec::new()));
                            side[k - 1] = Some((g, false));
                            side[k + 1] = Some((g, true));
                        }
                    }
                }
                let mut after_unspecified = false;
                // "unspecified as acute or chronic", "unspecified as to perforation", "unspecified
                // whether with hypoxia or hypercapnia": the title says the text is silent there,
                // so those words are neither required nor credited (the "acute" and "chronic"
                // siblings need the text to say them).
                let mut unspecified_as = false;
                let mut scope_first: Option<String> = None;
                let mut prev_word: Option<String> = None;
                for (k, rw) in raw.iter().enumerate() {
                    for t in tokenize(rw) {
                        let w = t.norm.as_str();
                        if (w == "as" || w == "whether") && after_unspecified {
                            unspecified_as = true;
                        }
                        if unspecified_as {
                            continue;
                        }
                        if w == "without" || w == "not" {
                            after_without = true;
                            scope_first = None;
                            continue;
                        }
                        if w == "with" {
                            after_without = false;
                        }
                        // "Laceration without foreign body of left index finger": the site
                        // after "of" is said, not denied ("without mention of ..." goes on).
                        if w == "of"
                            && after_without
                            && scope_first
                                .as_deref()
                                .is_some_and(|f| !WITHOUT_OF_GOES_ON.contains(&f))
                        {
                            after_without = false;
                        }
                        let designator = is_designator(prev_word.as_deref(), w);
                        prev_word = Some(w.to_string());
                        if self.stop.contains(w) && !designator {
                            continue;
                        }
                        if after_without && scope_first.is_none() {
                            scope_first = Some(w.to_string());
                        }
                        let neutral = self.neutral.contains(w);
                        let id = self.token_id(w, df);
                        if after_without {
                            if !neutral {
                                v.neg.push(id);
                            }
                        } else if optional
                            || neutral
                            || (after_unspecified && DEFAULTABLE.contains(&w))
                        {
                            v.opt.push(id);
                        } else if let Some((g, right)) = side[k] {
                            if let Some(pair) = v.any.get_mut(g) {
                                if right {
                                    pair.1.push(id)
                                } else {
                                    pair.0.push(id)
                                }
                            }
                        } else {
                            v.req.push(id);
                        }
                        after_unspecified = w == "unspecified";
                        if after_unspecified {
                            continue;
                        }
                    }
                }
            }
        }
        let mut seen: HashSet<u32> = HashSet::new();
        v.req.retain(|t| seen.insert(*t));
        for (a, b) in &mut v.any {
            a.retain(|t| !seen.contains(t));
            b.retain(|t| !seen.contains(t));
        }
        v.any.retain(|(a, b)| !a.is_empty() && !b.is_empty());
        for (a, b) in &v.any {
            seen.extend(a.iter().chain(b));
        }
        v.opt.retain(|t| seen.insert(*t));
        v.neg.retain(|t| !seen.contains(t));
        v.neg.sort_unstable();
        v.neg.dedup();
        let mut counted: Vec<u32> = v
            .req
            .iter()
            .chain(&v.opt)
            .chain(v.any.iter().flat_map(|(a, b)| a.iter().chain(b)))
            .copied()
            .collect();
        counted.sort_unstable();
        counted.dedup();
        for t in counted {
            if let Some(d) = df.get_mut(t as usize) {
                *d += 1;
            }
        }
        v
    }

    /// Number of billable codes the coder can assign.
    pub fn leaf_count(&self) -> usize {
        self.leaves.len()
    }

    /// Whether `code` (dotted or not) is a code of the loaded tabular, and whether billable.
    pub fn lookup(&self, code: &str) -> Option<(&str, bool)> {
        let ix = self.by_code.get(&normalise_code(code))?;
        let n = &self.nodes[*ix];
        Some((n.title.as_str(), n.billable))
    }

    /// Codes `text` without an adjudicator.
    pub fn code(&self, text: &str) -> Coding {
        self.code_with(text, &[], None)
    }

    /// Codes `text`; `hints` are codes the caller suspects (unknown ones are reported and
    /// ignored); `adjudicator` is asked between close children during the hierarchy walk.
    pub fn code_with(
        &self,
        text: &str,
        hints: &[String],
        adjudicator: Option<&dyn Adjudicator>,
    ) -> Coding {
        let mut warnings = Vec::new();
        let text = cut_input(text, &mut warnings);
        let mut hint_nodes = Vec::new();
        for h in hints {
            match self.by_code.get(&normalise_code(h)) {
                Some(&ix) => hint_nodes.push(ix),
                None => warnings.push(format!(
                    "hint {h:?} is not a code of the loaded ICD-10-CM tabular; ignored"
                )),
            }
        }
        if text.trim().is_empty() {
            warnings.push("empty text: nothing to code".into());
            return Coding {
                codes: Vec::new(),
                warnings,
            };
        }
        let chars: Vec<char> = text.chars().collect();
        let mut words = analyse_with(&text, self.options.lexicon);
        // A sentence in another language is not coded: its words would only match titles by
        // accident ("folie a deux" for a dinner booking in French).
        let foreign = foreign_sentences(&words);
        if !foreign.is_empty() {
            for w in &mut words {
                if foreign.contains(&w.sentence) && w.status == Status::Affirmed {
                    w.status = Status::Trigger;
                }
            }
            warnings.push(format!(
                "{} sentence(s) look like another language than English and were not coded",
                foreign.len()
            ));
        }
        // A medication list ("Medications: atorvastatin 20 mg nightly, aspirin 81 mg daily")
        // names drugs, not conditions: its sentence is not coded, except the long-term drug
        // therapy clauses (Z79.-) the lexicon made of it.
        if let Some(list) = words.iter().position(|w| {
            MEDICATION_HEADINGS.contains(&w.norm.as_str())
                && chars
                    .get(w.end..)
                    .is_some_and(|rest| rest.iter().find(|c| !c.is_whitespace()) == Some(&':'))
        }) {
            let (sentence, from) = (words[list].sentence, words[list].end);
            for w in &mut words {
                if w.sentence == sentence
                    && w.start >= from
                    && w.status == Status::Affirmed
                    && !w.rewritten
                {
                    w.status = Status::Trigger;
                }
            }
        }
        let mut problems: Vec<Problem> = Vec::new();
        let mut alternatives: Vec<(usize, f32)> = Vec::new();
        let mut cache: HashMap<Vec<u32>, Option<ClauseOutcome>> = HashMap::new();
        let mut acc = vec![0f32; self.leaves.len()];
        // Clauses, then greedy merging of neighbours in a sentence when the merged text codes
        // at least as well ("sciatica, right side"; "infarction, myocardial, acute").
        let mut clauses: Vec<(usize, usize)> = Vec::new();
        let mut start = 0usize;
        while start < words.len() {
            let clause = words[start].clause;
            let end = words[start..]
                .iter()
                .position(|w| w.clause != clause)
                .map_or(words.len(), |n| start + n);
            clauses.push((start, end));
            start = end;
        }
        let mut quick_cache: HashMap<Vec<u32>, (f32, Option<usize>)> = HashMap::new();
        // The best leaf of a range's reading and its score (0 under the floors).
        let mut quick = |range: (usize, usize), acc: &mut Vec<f32>| -> (f32, Option<usize>) {
            let (q, free, negq) = self.query(&words[range.0..range.1]);
            if q.is_empty() {
                return (0.0, None);
            }
            let key = query_key(&q, &free, &negq);
            *quick_cache.entry(key).or_insert_with(|| {
                let scored = self.score_leaves(&q, &free, &negq, &hint_nodes, acc);
                scored
                    .first()
                    .filter(|s| {
                        s.score >= self.options.min_score
                            && s.matched_weight >= self.options.min_weight
                    })
                    .map_or((0.0, None), |s| (s.score, Some(s.leaf)))
            })
        };
        // Whether a leaf's texts say a scored word of a range.
        let says_some = |leaf: usize, range: (usize, usize)| {
            let l = &self.leaves[leaf];
            self.query(&words[range.0..range.1]).0.iter().any(|(t, _)| {
                l.all.binary_search(t).is_ok()
                    || self
                        .syn
                        .get(t)
                        .is_some_and(|alts| alts.iter().any(|a| l.all.binary_search(a).is_ok()))
            })
        };
        // A sentence that is one inverted list ("melanoma, malignant, left upper arm";
        // "pneumonia, aspiration, after vomiting"): read whole when some code says something of
        // every part and codes the whole well; pairwise merging can miss it when the first
        // pair alone codes worse than its parts.
        let mut listed: Vec<(usize, usize)> = Vec::with_capacity(clauses.len());
        let mut k = 0usize;
        while k < clauses.len() {
            let sentence = words[clauses[k].0].sentence;
            let n = clauses[k..]
                .iter()
                .take_while(|c| words[c.0].sentence == sentence)
                .count();
            let parts = &clauses[k..k + n];
            let whole = (parts[0].0, parts[n - 1].1);
            let short = parts.iter().all(|c| c.1 - c.0 <= LIST_PART_MAX_WORDS);
            if (3..=LIST_MAX_PARTS).contains(&n) && short {
                let (sm, leaf) = quick(whole, &mut acc);
                if sm >= LIST_MIN_SCORE
                    && leaf.is_some_and(|l| {
                        parts
                            .iter()
                            .all(|&c| self.query(&words[c.0..c.1]).0.is_empty() || says_some(l, c))
                    })
                {
                    listed.push(whole);
                    k += n;
                    continue;
                }
            }
            listed.extend_from_slice(parts);
            k += n;
        }
        // Up to three passes, so that a fragment merged in one pass can take the next one in
        // the following ("neuropathy" + "diabetic, type 2" -> E11.40).
        let mut groups: Vec<(usize, usize)> = listed;
        for _ in 0..3 {
            let before = groups.len();
            let units = std::mem::take(&mut groups);
            let mut cur: Option<(usize, usize)> = None;
            for &c in &units {
                cur = match cur {
                    None => Some(c),
                    // Only short fragments are worth a merge ("acute", "right side", "stage 5").
                    Some(p)
                        if words[p.0].sentence == words[c.0].sentence
                            && c.0 - p.0 < 40
                            && (c.1 - c.0 <= 4 || c.0 - p.0 <= 4) =>
                    {
                        let ((sp, _), (sc, _)) = (quick(p, &mut acc), quick(c, &mut acc));
                        let (sm, leaf) = quick((p.0, c.1), &mut acc);
                        let modifier = c.1 - c.0 <= 3 && sm >= sp.min(sc) - 0.03;
                        // A combination code that says something of both ("neuropathy, diabetic"
                        // -> E11.40; the tabular prefers it to the two codes).
                        let combination = sm >= COMBINATION_MIN
                            && leaf.is_some_and(|l| says_some(l, p) && says_some(l, c));
                        if sm > 0.0 && (sm >= sp.max(sc) - 0.03 || modifier || combination) {
                            Some((p.0, c.1))
                        } else {
                            groups.push(p);
                            Some(c)
                        }
                    }
                    Some(p) => {
                        groups.push(p);
                        Some(c)
                    }
                };
            }
            groups.extend(cur);
            if groups.len() == before {
                break;
            }
        }
        // Embedding similarity: each group's affirmed words, embedded in one batch.
        let mut group_hits: Vec<Vec<Hit>> = vec![Vec::new(); groups.len()];
        if self.options.embedding && self.semantic.is_some() {
            let mut distinct: Vec<String> = Vec::new();
            let mut which: Vec<Option<usize>> = Vec::with_capacity(groups.len());
            let mut capped = false;
            for &(a, b) in &groups {
                let Some(q) = self.semantic_query(&words[a..b], &chars) else {
                    which.push(None);
                    continue;
                };
                match distinct.iter().position(|d| *d == q) {
                    Some(i) => which.push(Some(i)),
                    None if distinct.len() < MAX_SEMANTIC_QUERIES => {
                        distinct.push(q);
                        which.push(Some(distinct.len() - 1));
                    }
                    None => {
                        capped = true;
                        which.push(None);
                    }
                }
            }
            if capped {
                warnings.push(format!(
                    "embedding similarity used for the first {MAX_SEMANTIC_QUERIES} distinct clauses only"
                ));
            }
            if !distinct.is_empty() {
                match self.semantic_hits(&distinct) {
                    Ok(hits) => {
                        for (g, w) in group_hits.iter_mut().zip(&which) {
                            if let Some(h) = w.and_then(|i| hits.get(i)) {
                                g.clone_from(h);
                            }
                        }
                    }
                    Err(e) => warnings.push(format!(
                        "embedding similarity unavailable ({e}); lexical candidates only"
                    )),
                }
            }
        }
        // Perinatal codes (P00-P96) are for a newborn's record: without a word saying so, they
        // yield to the other chapters' codes.
        let newborn = words
            .iter()
            .any(|w| w.status == Status::Affirmed && NEWBORN.contains(&w.norm.as_str()));
        // An infant's age ("6-week-old boy", "3 month old") or an infant word: the adult
        // form of a condition ("Adult hypertrophic pyloric stenosis", K31.1) is not it.
        let infant = newborn
            || words.iter().enumerate().any(|(k, w)| {
                w.status == Status::Affirmed && INFANT_WORDS.contains(&w.norm.as_str())
                    || (w.norm.chars().all(|c| c.is_ascii_digit())
                        && matches!(
                            words.get(k + 1).map(|n| n.norm.as_str()),
                            Some("day" | "days" | "week" | "weeks" | "month" | "wk" | "mo")
                        )
                        && words.get(k + 2).is_some_and(|n| n.norm == "old"))
            });
        let pregnancy = pregnancy_context(&words);
        // The weeks are coded once (Z3A.-, below), not again inside the clause they sit in.
        if let Some(Pregnancy {
            weeks: Some(_),
            span,
            ..
        }) = &pregnancy
        {
            for w in &mut words {
                if w.start >= span.0 && w.end <= span.1 && w.status == Status::Affirmed {
                    w.status = Status::Trigger;
                }
            }
        }
        let pregnant = pregnancy.is_some();
        let stray_left = std::cell::Cell::new(MAX_STRAY_READINGS);
        let stray_skipped = std::cell::Cell::new(false);
        let mut run = |cw: &[Word], sem: &[Hit], acc: &mut Vec<f32>| -> Option<ClauseOutcome> {
            let (q, free, negq) = self.query(cw);
            if q.is_empty() && sem.is_empty() {
                return None;
            }
            let mut key = query_key(&q, &free, &negq);
            for h in sem {
                key.push(0x2000_0000 | h.0 as u32);
            }
            cache
                .entry(key)
                .or_insert_with(|| {
                    self.code_clause(
                        &q,
                        &free,
                        &negq,
                        &hint_nodes,
                        adjudicator,
                        &clause_text(cw, &chars),
                        sem,
                        (newborn, pregnant),
                        (&stray_left, &stray_skipped),
                        acc,
                    )
                })
                .clone()
        };
        // The words of each sentence (index range), for the reads across a sentence's clauses.
        let mut sentence_words: Vec<(usize, usize)> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let s = w.sentence as usize;
            if sentence_words.len() <= s {
                sentence_words.resize(s + 1, (i, i));
            }
            sentence_words[s].1 = i + 1;
        }
        let around = |s: u32, before: u32, after: u32| -> &[Word] {
            let from = sentence_words
                .get(s.saturating_sub(before) as usize)
                .map_or(0, |r| r.0);
            let to = sentence_words
                .get(((s + after) as usize).min(sentence_words.len().saturating_sub(1)))
                .map_or(0, |r| r.1);
            words.get(from..to.max(from)).unwrap_or(&[])
        };
        // A group that codes nothing as a whole and says a cause ("left ventricular hypertrophy
        // due to long-standing hypertension"): the condition and its cause, read apart.
        let mut readings: Vec<((usize, usize), Vec<Hit>)> = Vec::with_capacity(groups.len());
        for (g, sem) in groups.into_iter().zip(group_hits) {
            let at = (g.0 + 1..g.1.saturating_sub(1)).find(|&k| {
                !words[k].rewritten
                    && matches!(
                        (words[k].norm.as_str(), words[k + 1].norm.as_str()),
                        ("due", "to") | ("secondary", "to") | ("caused", "by")
                    )
            });
            match at {
                Some(k) if run(&words[g.0..g.1], &sem, &mut acc).is_none() => {
                    readings.push(((g.0, k), Vec::new()));
                    readings.push(((k, g.1), Vec::new()));
                }
                _ => readings.push((g, sem)),
            }
        }
        for ((a, b), sem) in &readings {
            let (a, b) = (*a, *b);
            let history = personal_history_reading(&words[a..b]);
            let clause = words[a].clause;
            // The clause was embedded as written: in the history reading only its hits on
            // personal-history codes stand (not "DVT" -> I82.409).
            let hist_sem: Vec<Hit> = if history.is_some() {
                sem.iter()
                    .copied()
                    .filter(|h| {
                        let code = &self.nodes[h.0].code;
                        ["Z85", "Z86", "Z87"].iter().any(|p| code.starts_with(p))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let (written, mut outcome, sem): (&[Word], _, &[Hit]) = match &history {
                Some((hw, true)) => (hw, run(hw, &hist_sem, &mut acc), &hist_sem),
                // Any other condition said to be history: the personal-history reading only
                // when it lands on a personal-history code (Z85-Z87) that names the condition
                // itself ("h/o DVT" Z86.718, "hx of colon polyps" Z86.010-), not on a catch-all
                // that matched "personal history" alone ("h/o HTN" stays I10).
                Some((hw, false)) => {
                    let alt = run(hw, &hist_sem, &mut acc);
                    let trigger = hw.last().map(|w| (w.start, w.end));
                    let names_it = alt.as_ref().is_some_and(|o| {
                        self.is_personal_history(o.0)
                            && self
                                .evidence(hw, o.0, &chars)
                                .iter()
                                .any(|e| Some((e.start, e.end)) != trigger)
                    });
                    if names_it {
                        (hw, alt, &hist_sem)
                    } else {
                        (&words[a..b], run(&words[a..b], sem, &mut acc), sem)
                    }
                }
                None => (&words[a..b], run(&words[a..b], sem, &mut acc), sem),
            };
            // The clause read with HPO lay terms / abbreviations rewritten, when that codes better.
            let lay_words = if self.options.lay_terms {
                self.lay.rewrite(written)
            } else {
                None
            };
            let mut lay_used = false;
            if let Some(lw) = &lay_words {
                let alt = run(lw, sem, &mut acc);
                let better = match (&alt, &outcome) {
                    (Some(x), Some(y)) => x.1 > y.1 + 1e-4,
                    (Some(_), None) => true,
                    _ => false,
                };
                if better {
                    outcome = alt;
                    lay_used = true;
                }
            }
            let mut cw: &[Word] = match (&lay_words, lay_used) {
                (Some(lw), true) => lw,
                _ => written,
            };
            // A clause that names no side or no body part, in a sentence that names them
            // elsewhere ("my left eye has gone misty and the eye doctor says it's a nuclear
            // cataract in that eye"; "my wife felt a lump in her left breast and the biopsy
            // showed it's cancer"): read again with them, kept when the code says them.
            let site_of = |w: &Word| {
                w.status == Status::Affirmed
                    && !NOT_SITES.contains(&w.norm.as_str())
                    && self
                        .vocab
                        .get(&w.norm)
                        .is_some_and(|t| self.context_words.binary_search(t).is_ok())
            };
            let is_side =
                |w: &Word| w.status == Status::Affirmed && LATERAL_WORDS.contains(&w.norm.as_str());
            let side_words: Option<(Vec<Word>, bool)> = outcome.as_ref().and_then(|o| {
                let sentence = cw.first()?.sentence;
                let elsewhere = |w: &&Word| {
                    w.sentence == sentence
                        && (w.end <= words[a].start || w.start >= words[b - 1].end)
                };
                let mut extra: Vec<Word> = Vec::new();
                if !cw.iter().any(&is_side) {
                    let mut said = around(sentence, 0, 0)
                        .iter()
                        .filter(elsewhere)
                        .filter(|w| is_side(w));
                    if let Some(side) = said.next()
                        && !said.any(|w| w.norm != side.norm)
                    {
                        extra.push(side.clone());
                    }
                }
                let mut sites = false;
                // The clause says no body part: the code's is unspecified, or a guess among
                // the category's sites ("arthritis in both of them" M16.0, the hips).
                if !cw.iter().any(|w| site_of(w) && !is_side(w)) {
                    for w in around(sentence, 0, 0)
                        .iter()
                        .filter(elsewhere)
                        .filter(|w| site_of(w) && !is_side(w))
                    {
                        if !extra.iter().any(|x| x.norm == w.norm) {
                            extra.push(w.clone());
                            sites = true;
                        }
                    }
                }
                let view = &self.nodes[self.leaves[o.0].node].title_view;
                extra.retain(|w| !self.vocab.get(&w.norm).is_some_and(|t| view.says(*t)));
                if extra.is_empty() {
                    return None;
                }
                let mut sw = cw.to_vec();
                sw.extend(extra.into_iter().map(|w| Word {
                    rewritten: true,
                    ..w
                }));
                Some((sw, sites))
            });
            let mut side_used = false;
            if let Some((sw, sites)) = &side_words
                && let Some(alt) = run(sw, sem, &mut acc)
            {
                let current = outcome.as_ref().map_or(0.0, |o| o.1);
                let code = &self.nodes[self.leaves[alt.0].node].code;
                let current_code = outcome
                    .as_ref()
                    .map_or("", |o| self.nodes[self.leaves[o.0].node].code.as_str());
                let same_category = current_code.get(..3) == code.get(..3);
                let view = &self.nodes[self.leaves[alt.0].node].title_view;
                let said = |w: &Word| {
                    self.vocab.get(&w.norm).is_some_and(|t| {
                        view.says(*t)
                            || self
                                .syn
                                .get(t)
                                .is_some_and(|alts| alts.iter().any(|x| view.says(*x)))
                    })
                };
                let added = &sw[cw.len()..];
                // A sibling of the reading without the side (H66.90 -> H66.91; S52.501A ->
                // S52.502A) is the same condition; anything else must score as well.
                let sibling = outcome.as_ref().is_some_and(|o| {
                    let up = |l: usize, n: usize| {
                        let mut node = Some(self.leaves[l].node);
                        for _ in 0..n {
                            node = node.and_then(|x| self.nodes[x].parent);
                        }
                        node
                    };
                    let n = if code.len() == 8 { 2 } else { 1 };
                    up(o.0, n).is_some() && up(o.0, n) == up(alt.0, n)
                });
                let sides_said = added.iter().filter(|w| is_side(w)).all(said);
                let ok = (sibling && sides_said)
                    || (same_category
                        && added.iter().all(said)
                        && alt.1 >= current - SIDE_FROM_SENTENCE_MARGIN)
                    // A site: a code of the same category that says one of the body parts (the
                    // reading without it was of an unspecified site), or of the same chapter
                    // scoring about as well.
                    || (*sites
                        && sides_said
                        && added.iter().any(|w| !is_side(w) && said(w))
                        && ((same_category && alt.1 >= self.options.min_score)
                            || (current_code.get(..1) == code.get(..1)
                                && alt.1 >= current - SITE_FROM_SENTENCE_MARGIN)));
                if ok && alt.0 != outcome.as_ref().map_or(usize::MAX, |o| o.0) {
                    outcome = Some(alt);
                    side_used = true;
                }
            }
            // Else the side's sibling of the code itself (a clause read with the side may lose
            // the side among its other words: "the doctor said it is otitis media").
            if !side_used
                && let Some((sw, _)) = &side_words
                && let Some(o) = outcome.as_mut()
            {
                let sides: Vec<u32> = sw[cw.len()..]
                    .iter()
                    .filter(|w| is_side(w))
                    .filter_map(|w| self.vocab.get(&w.norm).copied())
                    .collect();
                if let [side] = sides[..]
                    && let Some(l) = self.side_sibling(o.0, side)
                {
                    o.0 = l;
                    o.2.push_str("; the side said elsewhere in the sentence");
                    side_used = true;
                }
            }
            if side_used && let Some((sw, _)) = &side_words {
                cw = sw;
            }
            // In a pregnancy, a condition is coded to the pregnancy chapter where it has a code
            // there (guideline I.C.15.a.1): the clause read again with the pregnancy and its
            // trimester ("UTI at 22 wks gestation" -> O23.42), kept when it lands on an O code
            // that names something of the clause.
            let preg_words = pregnancy
                .as_ref()
                .zip(outcome.as_ref())
                .and_then(|(pg, o)| {
                    let current = &self.nodes[self.leaves[o.0].node].code;
                    // A clause that only says the pregnancy ("pregnant", "G1") has no condition to
                    // read in it.
                    let condition = cw.iter().any(|w| {
                        w.status == Status::Affirmed
                            && !PREGNANT_WORDS.contains(&w.norm.as_str())
                            && !w.norm.chars().any(|c| c.is_ascii_digit())
                            && self.vocab.contains_key(&w.norm)
                            && !self.stop.contains(w.norm.as_str())
                            && !self.neutral.contains(w.norm.as_str())
                    });
                    if current.starts_with("Z3A") || current.starts_with("Z33") || !condition {
                        return None;
                    }
                    let mut pw: Vec<Word> = cw.to_vec();
                    let last = pw.last()?.clone();
                    for norm in std::iter::once("pregnancy").chain(pg.trimester_words()) {
                        pw.push(Word {
                            norm: norm.into(),
                            status: Status::Affirmed,
                            rewritten: true,
                            upper: false,
                            start: pg.span.0,
                            end: pg.span.1,
                            // Said elsewhere: its own piece of evidence, not a span from the
                            // pregnancy to the clause (across a whole note).
                            clause: u32::MAX,
                            ..last.clone()
                        });
                    }
                    Some(pw)
                });
            let mut preg_used = false;
            if let Some(pw) = &preg_words
                && let Some(alt) = run(pw, &[], &mut acc)
            {
                let code = &self.nodes[self.leaves[alt.0].node].code;
                let current = outcome.as_ref().map(|o| o.1).unwrap_or(0.0);
                // The O code says a word of the clause itself, not only the pregnancy.
                let l = &self.leaves[alt.0];
                let names_it = self.query(cw).0.iter().any(|(t, _)| {
                    !PREGNANT_WORDS.iter().any(|p| self.vocab.get(*p) == Some(t))
                        && (l.all.binary_search(t).is_ok()
                            || self.syn.get(t).is_some_and(|alts| {
                                alts.iter().any(|a| l.all.binary_search(a).is_ok())
                            }))
                });
                // Chapter 15, or the supervision of a normal pregnancy by trimester (Z34.-).
                if (code.starts_with('O') || code.starts_with("Z34"))
                    && names_it
                    && alt.1 >= self.options.min_score
                    && if outcome.as_ref().is_some_and(|o| {
                        let c = &self.nodes[self.leaves[o.0].node].code;
                        c.starts_with('O') || c.starts_with("Z34")
                    }) {
                        // Already a pregnancy code: the one of the trimester the weeks say
                        // (of the same subcategory, or for a code of unspecified trimester:
                        // gestational diabetes, O24.41-, has no trimester), or else only a
                        // better one.
                        let current_code = outcome
                            .as_ref()
                            .map_or("", |o| self.nodes[self.leaves[o.0].node].code.as_str());
                        let same_kind = current_code.get(..5) == code.get(..5)
                            || outcome.as_ref().is_some_and(|o| {
                                self.nodes[self.leaves[o.0].node]
                                    .title
                                    .contains("unspecified trimester")
                            });
                        if pregnancy.as_ref().is_some_and(|p| p.trimester.is_some()) {
                            alt.1 >= current - PREGNANCY_MARGIN && same_kind
                        } else {
                            alt.1 > current
                        }
                    } else {
                        alt.1 >= current - PREGNANCY_MARGIN
                    }
                {
                    outcome = Some(alt);
                    preg_used = true;
                }
            }
            if preg_used && let Some(pw) = &preg_words {
                cw = pw;
            }
            // The infectious agent named in the clause ("E. coli UTI", "MRSA cellulitis",
            // "helicobacter pylori gastritis"): when the clause codes to nothing but the agent
            // (A49 / B34 "of unspecified site", B95-B97) or to nothing at all, it is read again
            // without the agent's words for the condition; the agent is coded apart below.
            let agent_only = |l: usize| {
                let code = &self.nodes[self.leaves[l].node].code;
                AGENT_UNSPECIFIED_SITE
                    .iter()
                    .chain(&["B95", "B96", "B97"])
                    .any(|p| code.starts_with(p))
            };
            // A condition of "unspecified organism" whose organism another sentence names
            // ("Right lower lobe pneumonia; sputum culture grew Klebsiella pneumoniae." ->
            // J15.0): read again with the organism, kept when the code names it.
            let is_organism = |w: &Word| {
                self.vocab.get(&w.norm).is_some_and(|id| {
                    self.organisms.binary_search(id).is_ok()
                        || self.syn.get(id).is_some_and(|alts| {
                            alts.iter().any(|x| self.organisms.binary_search(x).is_ok())
                        })
                })
            };
            let near = around(words[a].sentence, 1, 1);
            let organism_clauses: Vec<u32> = near
                .iter()
                .filter(|w| {
                    w.status == Status::Affirmed
                        && (w.end <= words[a].start || w.start >= words[b - 1].end)
                        && is_organism(w)
                })
                .map(|w| w.clause)
                .collect();
            // The organism's words with the generic ones of its name ("Klebsiella pneumoniae").
            let organism_elsewhere: Vec<Word> = near
                .iter()
                .filter(|w| {
                    organism_clauses.contains(&w.clause)
                        && w.status == Status::Affirmed
                        && (is_organism(w)
                            || self
                                .vocab
                                .get(&w.norm)
                                .is_some_and(|id| self.agent_words.binary_search(id).is_ok()))
                })
                .cloned()
                .collect();
            if !organism_elsewhere.is_empty()
                && let Some(o) = &outcome
                && self.nodes[self.leaves[o.0].node]
                    .title
                    .contains("unspecified organism")
            {
                // Without the words that said no organism ("pneumonia, unspecified organism").
                let mut ow: Vec<Word> = cw
                    .iter()
                    .filter(|w| {
                        !(w.rewritten && matches!(w.norm.as_str(), "unspecified" | "organism"))
                    })
                    .cloned()
                    .collect();
                ow.extend(organism_elsewhere.iter().map(|w| Word {
                    rewritten: true,
                    ..w.clone()
                }));
                if let Some(mut alt) = run(&ow, &[], &mut acc) {
                    let view = &self.nodes[self.leaves[alt.0].node].title_view;
                    let names = organism_elsewhere
                        .iter()
                        .any(|w| self.vocab.get(&w.norm).is_some_and(|t| view.says(*t)));
                    let code = &self.nodes[self.leaves[alt.0].node].code;
                    if names
                        && alt.1 >= self.options.min_score
                        && !agent_only(alt.0)
                        && code.get(..1) == self.nodes[self.leaves[o.0].node].code.get(..1)
                    {
                        alt.2.push_str("; the organism said in another sentence");
                        outcome = Some(alt);
                    }
                }
            }
            let org: Vec<&Word> = cw
                .iter()
                .filter(|w| {
                    w.status == Status::Affirmed
                        && self
                            .vocab
                            .get(&w.norm)
                            .is_some_and(|id| self.organisms.binary_search(id).is_ok())
                })
                .collect();
            if !org.is_empty() && outcome.as_ref().is_none_or(|o| agent_only(o.0)) {
                let rest: Vec<Word> = cw
                    .iter()
                    .filter(|w| {
                        self.vocab
                            .get(&w.norm)
                            .is_none_or(|id| self.agent_words.binary_search(id).is_err())
                    })
                    .cloned()
                    .collect();
                if let Some(mut o) = run(&rest, &[], &mut acc)
                    && o.1 >= self.options.min_score
                    && !agent_only(o.0)
                {
                    o.2.push_str("; the infectious agent coded apart");
                    outcome = Some(o);
                }
            }
            if infant && let Some(o) = outcome.as_mut() {
                let adult = |l: usize| {
                    self.nodes[self.leaves[l].node]
                        .title
                        .to_lowercase()
                        .contains("adult")
                };
                if adult(o.0)
                    && let Some(&(l, sc)) =
                        o.3.iter()
                            .find(|(l, sc)| !adult(*l) && *sc >= self.options.min_score)
                {
                    o.0 = l;
                    o.1 = sc;
                    o.2.push_str("; not the adult form: the patient is an infant");
                }
            }
            // A drug named without an event ("aspirin 81 mg daily") is no poisoning, adverse
            // effect or underdosing (T36-T50).
            if let Some(o) = &outcome {
                let code = &self.nodes[self.leaves[o.0].node].code;
                let drug_event = code.starts_with('T')
                    && code
                        .get(1..3)
                        .and_then(|n| n.parse::<u32>().ok())
                        .is_some_and(|n| (36..=50).contains(&n));
                if drug_event
                    && !cw.iter().any(|w| {
                        w.status == Status::Affirmed && DRUG_EVENT_WORDS.contains(&w.norm.as_str())
                    })
                {
                    outcome = None;
                }
            }
            // A code of the other side than the one the clause says (the embedding's nearest
            // code text can win over the side: "fracture of left distal radius, well"): the
            // sibling of the side said.
            if let Some(o) = outcome.as_mut()
                && let [Some(right), Some(left)] =
                    ["right", "left"].map(|w| self.vocab.get(w).copied())
            {
                let says = |t: u32| {
                    cw.iter().any(|w| {
                        w.status == Status::Affirmed && self.vocab.get(&w.norm) == Some(&t)
                    })
                };
                let view = &self.nodes[self.leaves[o.0].node].title_view;
                let wanted = match (says(right), says(left)) {
                    (true, false) if view.says(left) && !view.says(right) => Some(right),
                    (false, true) if view.says(right) && !view.says(left) => Some(left),
                    _ => None,
                };
                if let Some(side) = wanted
                    && let Some(l) = self.side_sibling(o.0, side)
                {
                    o.0 = l;
                    o.2.push_str("; the side the clause says");
                }
            }
            // Both sides said where the category has a code for each side but none for both
            // ("rheumatoid arthritis of bilateral hands", "both knees ache"): the right code and
            // the left one.
            let mut other_side: Option<usize> = None;
            if let Some(o) = outcome.as_mut()
                && cw
                    .iter()
                    .any(|w| w.status == Status::Affirmed && w.norm == "bilateral")
                && let [Some(bi), Some(right), Some(left)] =
                    ["bilateral", "right", "left"].map(|w| self.vocab.get(w).copied())
                && ![bi, right, left]
                    .iter()
                    .any(|t| self.nodes[self.leaves[o.0].node].title_view.says(*t))
                && self.side_sibling(o.0, bi).is_none()
                && let (Some(r), Some(l)) =
                    (self.side_sibling(o.0, right), self.side_sibling(o.0, left))
            {
                o.0 = r;
                o.2.push_str("; both sides said and no code for both: the right and the left");
                other_side = Some(l);
            }
            let Some((leaf, score, mut rationale, alts, extra, semantic_only)) = outcome else {
                continue;
            };
            if preg_used {
                rationale.push_str("; read in the pregnancy");
            }
            if lay_used {
                rationale.push_str("; read with HPO lay terms");
            }
            // An infectious agent named with a condition coded elsewhere ("E. coli UTI", "MRSA
            // cellulitis of the left leg"): the condition's code, and the agent's B95-B97 code
            // ("use additional code to identify infectious agent"), unless the condition's code
            // already names the agent (J15.212 "Pneumonia due to MRSA").
            let mut agent: Option<(usize, f32, Vec<Evidence>)> = None;
            if !org.is_empty() {
                let said_by = |leaf: usize| {
                    org.iter().any(|w| {
                        self.vocab.get(&w.norm).is_some_and(|id| {
                            self.nodes[self.leaves[leaf].node].title_view.says(*id)
                        })
                    })
                };
                if !said_by(leaf) {
                    let mut aw: Vec<Word> =
                        cw.iter()
                            .filter(|w| {
                                w.status == Status::Affirmed
                                    && w.norm != "infection"
                                    && self.vocab.get(&w.norm).is_some_and(|id| {
                                        self.agent_words.binary_search(id).is_ok()
                                    })
                            })
                            .cloned()
                            .collect();
                    if let Some(last) = aw.last().cloned() {
                        for norm in ["cause", "classified", "elsewhere"] {
                            aw.push(Word {
                                norm: norm.into(),
                                rewritten: true,
                                ..last.clone()
                            });
                        }
                    }
                    // The best B95-B97 code of the reading (its first code may be another
                    // agent code, "Sepsis due to E. coli").
                    let is_agent = |l: usize| {
                        ["B95", "B96", "B97"]
                            .iter()
                            .any(|p| self.nodes[self.leaves[l].node].code.starts_with(p))
                    };
                    let best = run(&aw, &[], &mut acc).and_then(|o| {
                        std::iter::once((o.0, o.1))
                            .chain(o.3.iter().map(|&(l, s)| (l, s)))
                            .find(|&(l, _)| is_agent(l))
                    });
                    if let Some(o) = best
                        && o.1 >= AGENT_MIN_SCORE
                    {
                        let ev = org
                            .iter()
                            .map(|w| Evidence {
                                start: w.start,
                                end: w.end,
                                text: chars[w.start..w.end].iter().collect(),
                            })
                            .collect();
                        agent = Some((o.0, o.1, ev));
                    }
                }
            }
            let node = self.leaves[leaf].node;
            let mut evidence = self.evidence(cw, leaf, &chars);
            if semantic_only && evidence.is_empty() {
                evidence = clause_evidence(written, &chars);
            }
            // The condition as written and the words saying the pregnancy.
            if preg_used && let Some(pg) = &pregnancy {
                evidence = clause_evidence(written, &chars);
                if !evidence
                    .iter()
                    .any(|e| e.start <= pg.span.0 && pg.span.1 <= e.end)
                {
                    evidence.push(Evidence {
                        start: pg.span.0,
                        end: pg.span.1,
                        text: chars[pg.span.0..pg.span.1].iter().collect(),
                    });
                }
            }
            let other_side = other_side.map(|l| Problem {
                node: self.leaves[l].node,
                score: score * 0.999,
                evidence: evidence.clone(),
                rationale: rationale.clone(),
                clause,
            });
            problems.push(Problem {
                node,
                score,
                evidence,
                rationale,
                clause,
            });
            problems.extend(other_side);
            if let Some((l, s, mut ev)) = agent {
                ev.dedup_by_key(|e| (e.start, e.end));
                problems.push(Problem {
                    node: self.leaves[l].node,
                    score: s,
                    evidence: ev,
                    rationale: "the infectious agent of the condition (B95-B97)".into(),
                    clause,
                });
            }
            for (l, s, r) in extra {
                let evidence = self.evidence(cw, l, &chars);
                problems.push(Problem {
                    node: self.leaves[l].node,
                    score: s,
                    evidence,
                    rationale: r,
                    clause,
                });
            }
            alternatives.extend(alts);
        }
        // The weeks of gestation (Z3A.-), an additional code on the maternal record.
        if let Some(pg) = &pregnancy
            && let Some(weeks) = pg.weeks
        {
            let code = match weeks {
                0..=7 => "Z3A.01".to_string(),
                8..=42 => format!("Z3A.{weeks:02}"),
                _ => "Z3A.49".to_string(),
            };
            if let Some(node) = self.billable(&normalise_code(&code)) {
                problems.push(Problem {
                    node,
                    score: 1.0,
                    evidence: vec![Evidence {
                        start: pg.span.0,
                        end: pg.span.1,
                        text: chars[pg.span.0..pg.span.1].iter().collect(),
                    }],
                    rationale: format!("{weeks} weeks of gestation said in the text"),
                    clause: u32::MAX,
                });
            }
        }
        // One problem per code (a long note repeats itself), evidence merged, first mention first.
        let mut merged: Vec<Problem> = Vec::new();
        let mut at: HashMap<usize, usize> = HashMap::new();
        for p in problems {
            match at.get(&p.node) {
                Some(&i) => {
                    let m = &mut merged[i];
                    m.score = m.score.max(p.score);
                    if m.evidence.len() < 100 {
                        m.evidence.extend(p.evidence);
                    }
                }
                None => {
                    at.insert(p.node, merged.len());
                    merged.push(p);
                }
            }
        }
        let mut problems = merged;
        // "Pregnant state, incidental" (Z33.1) is for a pregnancy nothing complicates and no visit
        // supervises: with a code of the pregnancy chapter or a supervision code (Z34.-) it goes
        // (its excludes1 would otherwise drop that code).
        if problems.iter().any(|p| {
            let c = &self.nodes[p.node].code;
            c.starts_with('O') || c.starts_with("Z34")
        }) {
            problems.retain(|p| !self.nodes[p.node].code.starts_with("Z33"));
        }
        // An agent code (B95-B97) whose organism another code already names ("Pneumonia due to
        // Klebsiella pneumoniae" with "Klebsiella pneumoniae as the cause of diseases
        // classified elsewhere"): the combination code says it.
        let agent_named = |p: &Problem, others: &[Problem]| {
            let code = &self.nodes[p.node].code;
            ["B95", "B96", "B97"].iter().any(|x| code.starts_with(x))
                && others.iter().any(|q| {
                    let qc = &self.nodes[q.node].code;
                    !["B95", "B96", "B97"].iter().any(|x| qc.starts_with(x))
                        && self.nodes[p.node]
                            .title_view
                            .req
                            .iter()
                            .filter(|t| self.organisms.binary_search(t).is_ok())
                            .any(|t| self.nodes[q.node].title_view.says(*t))
                })
        };
        let named: Vec<bool> = problems.iter().map(|p| agent_named(p, &problems)).collect();
        let mut k = 0usize;
        problems.retain(|_| {
            k += 1;
            !named[k - 1]
        });
        self.apply_combinations(&mut problems);
        let mut conflicts = Vec::new();
        self.resolve_excludes1(&mut problems, &mut conflicts);
        let n_conflicts = conflicts.len();
        warnings.extend(conflicts.into_iter().take(20));
        if n_conflicts > 20 {
            warnings.push(format!(
                "... and {} more excludes1 conflicts",
                n_conflicts - 20
            ));
        }
        if stray_skipped.get() {
            warnings.push(format!(
                "stray-word reading used for the first {MAX_STRAY_READINGS} uncoded clauses only"
            ));
        }
        self.read_the_encounter(&mut problems, &words, &chars);
        self.drop_explained_symptoms(&mut problems, &words, &chars);
        self.drop_unspecified_twins(&mut problems);
        // Merge duplicates (same code from several clauses). Signs and symptoms follow the
        // diagnoses (guideline I.B.5: a symptom code is not sequenced first when a related
        // definitive diagnosis is established); otherwise first mention first.
        let mut codes: Vec<CodeResult> = Vec::new();
        problems.sort_by_key(|p| (self.is_symptom(p.node), p.clause));
        for p in problems {
            let n = &self.nodes[p.node];
            if let Some(c) = codes.iter_mut().find(|c| c.code == n.code) {
                c.evidence.extend(p.evidence);
                c.score = c.score.max(p.score.clamp(0.0, 1.0));
                continue;
            }
            codes.push(CodeResult {
                code: n.code.clone(),
                system: "ICD-10-CM".into(),
                title: n.title.clone(),
                score: p.score.clamp(0.0, 1.0),
                evidence: p.evidence,
                primary: true,
                rationale: p.rationale,
                notes: self.path_notes(p.node),
            });
        }
        alternatives.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (leaf, score) in alternatives {
            if codes.len() >= self.options.k.max(1) {
                break;
            }
            let n = &self.nodes[self.leaves[leaf].node];
            if codes.iter().any(|c| c.code == n.code) {
                continue;
            }
            codes.push(CodeResult {
                code: n.code.clone(),
                system: "ICD-10-CM".into(),
                title: n.title.clone(),
                score: score.clamp(0.0, 1.0),
                evidence: Vec::new(),
                primary: false,
                rationale: "alternative candidate".into(),
                notes: self.path_notes(self.leaves[leaf].node),
            });
        }
        codes.truncate(
            self.options
                .k
                .max(1)
                .max(codes.iter().filter(|c| c.primary).count()),
        );
        if codes.is_empty() {
            warnings.push("no codable content found".into());
        }
        Coding { codes, warnings }
    }

    /// The scored query words of a clause: (token, weight), free tokens (implied), and the
    /// negated words that some title puts after "without" (token, weight).
    #[allow(clippy::type_complexity)]
    fn query(&self, cw: &[Word]) -> (Vec<(u32, f32)>, Vec<u32>, Vec<(u32, f32)>) {
        let mut q: Vec<(u32, f32)> = Vec::new();
        let mut free = Vec::new();
        let mut negq: Vec<(u32, f32)> = Vec::new();
        for w in cw.iter().filter(|w| w.status == Status::Negated) {
            if let Some(&id) = self.vocab.get(&w.norm)
                && self.negatable.get(id as usize).copied().unwrap_or(false)
                && !negq.iter().any(|(t, _)| *t == id)
            {
                negq.push((id, self.idf[id as usize]));
            }
        }
        for (i, w) in cw.iter().enumerate() {
            if w.status != Status::Affirmed {
                continue;
            }
            let s = w.norm.as_str();
            let prev = i.checked_sub(1).map(|k| cw[k].norm.as_str());
            if (self.stop.contains(s) && !is_designator(prev, s)) || self.neutral.contains(s) {
                continue;
            }
            if let Some((_, implied)) = IMPLIED.iter().find(|(k, _)| *k == s) {
                free.extend(implied.iter().filter_map(|i| self.vocab.get(*i).copied()));
            }
            // "Left", "right": the tabular says "unilateral" and "left side".
            if LATERAL.contains(&s) {
                free.extend(
                    ["unilateral", "side"]
                        .iter()
                        .filter_map(|w| self.vocab.get(*w)),
                );
            }
            // A word the tabular never says may still be a form of one it says ("perforated"
            // for "perforation", "anemic" for "anemia").
            let id = self.vocab.get(s).copied().or_else(|| {
                word_forms(s)
                    .into_iter()
                    .find_map(|f| self.vocab.get(f.as_str()).copied())
            });
            if let Some(id) = id
                && !q.iter().any(|(t, _)| *t == id)
            {
                q.push((id, self.idf[id as usize]));
                if let Some(alts) = self.syn.get(&id) {
                    free.extend(alts);
                }
            }
        }
        free.sort_unstable();
        free.dedup();
        if q.is_empty() {
            negq.clear();
        }
        (q, free, negq)
    }

    /// A clause whose words no code explains together ("syncope at church", "vomiting all
    /// night"): words are dropped one at a time, each time the one whose absence lets the
    /// clause match a code best, until a reading matches a code almost fully
    /// ([`STRAY_MIN_SCORE`]) with enough weight and keeps enough of the clause
    /// ([`STRAY_KEPT_SHARE`]). That reading is scored at a discount, so free text around a
    /// condition does not hide it, while a sentence with nothing codable still yields nothing.
    /// A clause longer than [`STRAY_MAX_WORDS`] is read in windows of that many consecutive
    /// words; the [`WINDOW_TRIES`] windows that match a code best get the reading.
    fn without_stray_words(
        &self,
        q: &[(u32, f32)],
        free: &[u32],
        negq: &[(u32, f32)],
        hints: &[usize],
        acc: &mut [f32],
    ) -> Option<Vec<Scored>> {
        if q.len() < 2 {
            return None;
        }
        if q.len() > STRAY_MAX_WORDS {
            // A long clause ("the school nurse sent my daughter home with head lice"): windows
            // of consecutive words, the best-matching ones read as a short clause.
            let last = q.len() - STRAY_MAX_WORDS;
            let mut starts: Vec<usize> = (0..=last).step_by(WINDOW_STEP).collect();
            if starts.last() != Some(&last) {
                starts.push(last);
            }
            let mut ranked: Vec<(f32, usize)> = starts
                .into_iter()
                .map(|s| {
                    let w = &q[s..s + STRAY_MAX_WORDS];
                    let top = self
                        .score_leaves(w, free, negq, hints, acc)
                        .first()
                        .map_or(0.0, |x| x.score);
                    (top, s)
                })
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            return ranked.into_iter().take(WINDOW_TRIES).find_map(|(_, s)| {
                self.without_stray_words(&q[s..s + STRAY_MAX_WORDS], free, negq, hints, acc)
            });
        }
        let weight = |ws: &[(u32, f32)]| ws.iter().map(|(_, w)| w).sum::<f32>();
        let floor = STRAY_KEPT_SHARE * weight(q);
        let mut cur = q.to_vec();
        while cur.len() > 1 {
            let mut best: Option<(f32, usize, Vec<Scored>)> = None;
            for i in 0..cur.len() {
                let mut sub = cur.clone();
                sub.remove(i);
                let scored = self.score_leaves(&sub, free, negq, hints, acc);
                let top = scored.first().map_or(0.0, |s| s.score);
                if best.as_ref().is_none_or(|b| top > b.0) {
                    best = Some((top, i, scored));
                }
            }
            let (top, i, mut scored) = best?;
            cur.remove(i);
            if weight(&cur) < floor || self.only_context(&cur) {
                return None;
            }
            if top >= STRAY_MIN_SCORE
                && scored
                    .first()
                    .is_some_and(|s| s.matched_weight >= self.options.min_weight)
            {
                for s in &mut scored {
                    s.score *= STRAY_DISCOUNT;
                }
                return Some(scored);
            }
        }
        None
    }

    /// Whether a query says only where or of what (a body part, a side, "current medications"),
    /// no condition: such a clause codes nothing ("right arm" is no fracture of the humerus).
    fn only_context(&self, q: &[(u32, f32)]) -> bool {
        !q.is_empty()
            && q.iter()
                .all(|(t, _)| self.context_words.binary_search(t).is_ok() || self.is_number(*t))
    }

    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn code_clause(
        &self,
        q: &[(u32, f32)],
        free: &[u32],
        negq: &[(u32, f32)],
        hints: &[usize],
        adjudicator: Option<&dyn Adjudicator>,
        context: &str,
        semantic: &[Hit],
        (newborn, pregnant): (bool, bool),
        (stray_left, stray_skipped): (&std::cell::Cell<usize>, &std::cell::Cell<bool>),
        acc: &mut [f32],
    ) -> Option<ClauseOutcome> {
        // A clause whose known words only say where ("right ankle", "Lumbar spine: forward
        // flexion") codes nothing, unless the embedding finds a code very close to the clause
        // as written (its other words may say what: "scratched eye").
        let context_only = self.only_context(q);
        if context_only && semantic.iter().all(|h| h.1 < CONTEXT_ONLY_MIN_SIMILARITY) {
            return None;
        }
        let semantic: Vec<Hit> = if context_only {
            semantic
                .iter()
                .copied()
                .filter(|h| h.1 >= CONTEXT_ONLY_MIN_SIMILARITY)
                .collect()
        } else {
            semantic.to_vec()
        };
        let semantic = semantic.as_slice();
        let q: &[(u32, f32)] = if context_only { &[] } else { q };
        let mut scored = if q.is_empty() {
            Vec::new()
        } else {
            self.score_leaves(q, free, negq, hints, acc)
        };
        if !semantic.is_empty() {
            self.add_semantic(&mut scored, semantic);
        }
        // Enough lexical support, or a code text close enough to the clause (the floor).
        // One word that matches only part of a term ("back" against "Back pain NOS", "dog"
        // against "Dog tapeworm") is no diagnosis: a single-word clause needs more.
        let min_score = if q.len() == 1 {
            self.options.min_score.max(SINGLE_WORD_MIN_SCORE)
        } else {
            self.options.min_score
        };
        let weak = |s: Option<&Scored>| {
            s.is_none_or(|b| {
                (b.score < min_score && b.sim < self.options.embed_floor)
                    || b.score < self.options.min_score
                    || (b.matched_weight < self.options.min_weight
                        && b.sim < self.options.embed_floor)
            })
        };
        let stray = weak(scored.first()) && q.len() >= 2;
        if stray && stray_left.get() == 0 {
            stray_skipped.set(true);
        }
        if stray
            && stray_left.get() > 0
            && let Some(mut rescored) = {
                stray_left.set(stray_left.get() - 1);
                self.without_stray_words(q, free, negq, hints, acc)
            }
        {
            if !semantic.is_empty() {
                self.add_semantic(&mut rescored, semantic);
            }
            scored = rescored;
        }
        // A code whose title says "subsequent" or "sequela" when the clause does not: the
        // embedding similarity must not carry it past the first-encounter code (I22 against
        // I21 for "anterior wall STEMI").
        let costly: Vec<u32> = UNSAID_COSTLY
            .iter()
            .filter_map(|(w, _)| self.vocab.get(&clinrag_kg::normalize_term(w)).copied())
            .filter(|t| !q.iter().any(|(x, _)| x == t))
            .collect();
        if !costly.is_empty() {
            let mut demoted = false;
            for sc in &mut scored {
                let own = &self.nodes[self.leaves[sc.leaf].node].title_view;
                if costly.iter().any(|t| own.says(*t)) {
                    sc.score -= UNSAID_COSTLY_DEMOTION;
                    demoted = true;
                }
            }
            if demoted {
                self.sort_scored(&mut scored);
            }
        }
        if !newborn {
            let mut demoted = false;
            for sc in &mut scored {
                if self.nodes[self.leaves[sc.leaf].node].code.starts_with('P') {
                    sc.score *= PERINATAL_DEMOTION;
                    demoted = true;
                }
            }
            if demoted {
                self.sort_scored(&mut scored);
            }
        }
        // Pregnancy codes (chapter 15) are for a pregnant patient's record: without a word
        // saying a pregnancy or an obstetric condition, none ("DM2 diet controlled" is E11.9,
        // not gestational diabetes, diet controlled).
        if !pregnant
            && !q.iter().any(|(t, _)| {
                OBSTETRIC_WORDS
                    .iter()
                    .any(|w| self.vocab.get(&clinrag_kg::normalize_term(w)) == Some(t))
            })
        {
            scored.retain(|s| !self.nodes[self.leaves[s.leaf].node].code.starts_with('O'));
        }
        let best = scored.first()?;
        if weak(Some(best)) {
            return None;
        }
        let scores: HashMap<usize, f32> = scored.iter().map(|s| (s.leaf, s.score)).collect();
        let (leaf, walk_note) = self.walk(&scores, adjudicator, context);
        let score = scores.get(&leaf).copied().unwrap_or(best.score);
        let view = scored
            .iter()
            .find(|s| s.leaf == leaf)
            .map(|s| s.view.clone())
            .unwrap_or_default();
        let chosen = scored.iter().find(|s| s.leaf == leaf);
        let semantic_only = chosen.is_some_and(|s| !s.lexical);
        let rationale = match chosen {
            Some(s) if !s.lexical => format!("{view}; {walk_note}"),
            Some(s) if s.sim > 0.0 => format!(
                "matched {view:?}, embedding similarity {:.2}; {walk_note}",
                s.sim
            ),
            _ => format!("matched {view:?}; {walk_note}"),
        };
        let mut alts: Vec<(usize, f32)> = scored
            .iter()
            .filter(|s| s.leaf != leaf)
            .take(self.options.k)
            .map(|s| (s.leaf, s.score * 0.999))
            .collect();
        let mut extra = Vec::new();
        // "Use additional code" notes on the path: code the clause again inside the referenced
        // codes (E11.22 -> the stage of chronic kidney disease, N18.-).
        for r in self.additional_refs(self.leaves[leaf].node) {
            if let Some(s) = scored.iter().find(|s| {
                s.leaf != leaf && ref_covers(&r, &self.nodes[self.leaves[s.leaf].node].code)
            }) && s.prec >= 0.8
                && s.matched_weight >= self.options.min_weight
            {
                extra.push((
                    s.leaf,
                    s.prec,
                    format!(
                        "matched {:?}; use additional code ({r}) of {}",
                        s.view, self.nodes[self.leaves[leaf].node].code
                    ),
                ));
            }
        }
        alts.retain(|(l, _)| !extra.iter().any(|(e, _, _)| e == l));
        Some((leaf, score, rationale, alts, extra, semantic_only))
    }

    fn additional_refs(&self, node: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Some(node);
        while let Some(n) = cur {
            if matches!(self.nodes[n].level, IcdLevel::Block | IcdLevel::Chapter) {
                break;
            }
            for note in self.nodes[n]
                .notes
                .iter()
                .filter(|n| n.starts_with("use additional code"))
            {
                out.extend(note_refs(note));
            }
            cur = self.nodes[n].parent;
        }
        out
    }

    /// Candidates best first; equal scores in code order, so results are reproducible.
    fn sort_scored(&self, scored: &mut [Scored]) {
        scored.sort_by(|a, b| {
            b.score.total_cmp(&a.score).then(
                self.nodes[self.leaves[a.leaf].node]
                    .code
                    .cmp(&self.nodes[self.leaves[b.leaf].node].code),
            )
        });
    }

    fn score_leaves(
        &self,
        q: &[(u32, f32)],
        free: &[u32],
        negq: &[(u32, f32)],
        hints: &[usize],
        acc: &mut [f32],
    ) -> Vec<Scored> {
        // Words the text says are absent ("without aura") count for the leaves whose titles
        // say "without" them, and against those that do not.
        let total: f32 = q
            .iter()
            .chain(negq)
            .filter(|(t, _)| !self.is_number(*t))
            .map(|(_, w)| w)
            .sum::<f32>()
            .max(1e-6);
        // Title words the text must say, not the default it leaves out: an unsaid "chronic"
        // costs a little more than an unsaid "acute" (see `UNSAID_DEFAULTS`), whatever their
        // idfs.
        // The sides the text names, and every side word of the tabular.
        let lateral: Vec<u32> = LATERAL_WORDS
            .iter()
            .filter_map(|w| self.vocab.get(*w).copied())
            .collect();
        let sides: Vec<u32> = q
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| lateral.contains(t))
            .collect();
        let defaults: Vec<(u32, f32)> = UNSAID_DEFAULTS
            .iter()
            .filter_map(|(marked, default)| {
                let m = *self.vocab.get(*marked)?;
                let d = self
                    .vocab
                    .get(*default)
                    .map_or(0.0, |d| self.idf[*d as usize]);
                Some((m, self.idf[m as usize].max(d * UNSAID_DEFAULT_MARGIN)))
            })
            .chain(UNSAID_COSTLY.iter().filter_map(|(w, cost)| {
                let m = *self.vocab.get(&clinrag_kg::normalize_term(w))?;
                Some((m, self.idf[m as usize].max(*cost)))
            }))
            .collect();
        let contradictions: Vec<(u32, u32)> = CONTRADICTS
            .iter()
            .filter_map(|(a, b)| {
                let a = *self.vocab.get(*a)?;
                let b = *self.vocab.get(*b)?;
                q.iter().any(|(t, _)| *t == a).then_some((a, b))
            })
            .collect();
        let mut touched: Vec<u32> = Vec::new();
        for &(t, w) in q {
            let posting = &self.postings[t as usize];
            if posting.len() > 30_000 && q.len() > 1 {
                continue;
            }
            let alts: &[u32] = self.syn.get(&t).map_or(&[], |v| v.as_slice());
            for &li in posting
                .iter()
                .chain(alts.iter().flat_map(|a| self.postings[*a as usize].iter()))
            {
                let a = &mut acc[li as usize];
                if *a == 0.0 {
                    touched.push(li);
                }
                *a += w;
            }
        }
        // A leaf matching under 30% of the clause's weight cannot reach a useful score.
        let floor = 0.3 * total;
        touched.retain(|li| {
            let keep = acc[*li as usize] >= floor || q.len() <= 2;
            if !keep {
                acc[*li as usize] = 0.0;
            }
            keep
        });
        let cmp = |a: &u32, b: &u32| {
            acc[*b as usize]
                .total_cmp(&acc[*a as usize])
                .then(
                    self.leaves[*a as usize]
                        .all
                        .len()
                        .cmp(&self.leaves[*b as usize].all.len()),
                )
                .then(a.cmp(b))
        };
        // Single words tie a lot (many leaves share them): look further; long clauses less far.
        let cap = if q.len() <= 2 { 1500usize } else { 500 };
        if touched.len() > cap {
            touched.select_nth_unstable_by(cap, cmp);
            touched[..cap].sort_by(cmp);
        } else {
            touched.sort_by(cmp);
        }
        let mut out = Vec::new();
        let mut seen: Vec<u32> = Vec::new();
        let mut qs: Vec<u32> = q.iter().map(|(t, _)| *t).collect();
        qs.sort_unstable();
        let alts_of: Vec<&[u32]> = q
            .iter()
            .map(|(t, _)| self.syn.get(t).map_or(&[][..], |v| v.as_slice()))
            .collect();
        for &li in touched.iter().take(cap) {
            let l = &self.leaves[li as usize];
            let in_q = |t: &u32| qs.binary_search(t).is_ok() || free.binary_search(t).is_ok();
            let says_without = |t: &u32| {
                l.path.iter().any(|&p| {
                    let n = &self.nodes[p];
                    n.title_view.neg.binary_search(t).is_ok()
                        || n.incl.iter().any(|v| v.neg.binary_search(t).is_ok())
                })
            };
            let neg_matched: f32 = negq
                .iter()
                .filter(|(t, _)| says_without(t))
                .map(|(_, w)| w)
                .sum();
            // A clause word counts as matched for a view when that view, the words that set
            // the leaf apart from the view's node, or the leaf's own title say it: a word that
            // only an ancestor's other inclusion term says ("lumbar" in "Lumbar neuritis or
            // radiculitis NOS" of M54.1) does not make "Radiculopathy, site unspecified" cover
            // "lumbar radiculopathy".
            let own = &self.nodes[l.node];
            let distinct: &[u32] = &self.nodes[l.path[0]].distinct;
            let has = |t: &u32| {
                l.all.binary_search(t).is_ok()
                    || self
                        .syn
                        .get(t)
                        .is_some_and(|alts| alts.iter().any(|a| l.all.binary_search(a).is_ok()))
            };
            let says = |v: &View, t: u32| v.says(t);
            // Per clause word, once per leaf: said by the leaf's own title (always credited),
            // or by some view of its path and not telling the category's leaves apart.
            let base: Vec<f32> = q
                .iter()
                .zip(&alts_of)
                .map(|((t, w), alts)| {
                    if says(&own.title_view, *t) {
                        *w
                    } else if alts.iter().any(|a| says(&own.title_view, *a)) {
                        *w * SYNONYM_CREDIT
                    } else if has(t) && distinct.binary_search(t).is_err() {
                        *w * UNION_CREDIT
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut best: Option<(f32, f32, f32, &str)> = None;
            let views = l
                .path
                .iter()
                .enumerate()
                .flat_map(|(k, &p)| self.nodes[p].incl.iter().map(move |v| (v, k)))
                .chain(std::iter::once((&own.title_view, l.path.len() - 1)));
            for (v, k) in views {
                let mut pen = 0.0f32;
                seen.clear();
                // The leaf's own title and inclusion terms stand alone; an ancestor's inclusion
                // term still needs the words that set the leaf apart from its parent.
                let diff: &[u32] = l.diffs.get(k).map_or(&[], |d| d.as_slice());
                // A category's inclusion term stands for the category, not for its leaves: they
                // still need the words that set the category apart from its siblings.
                let cat_diff: &[u32] = if k == 0 && l.path.len() > 1 {
                    &self.nodes[l.path[0]].cat_diff
                } else {
                    &[]
                };
                let covers = |t: u32| says(v, t) || diff.contains(&t);
                let mut matched = neg_matched;
                let mut matched_words = neg_matched;
                for (((t, w), alts), b) in q.iter().zip(&alts_of).zip(&base) {
                    let credit = if *b < *w && covers(*t) {
                        *w
                    } else if *b < *w * SYNONYM_CREDIT && alts.iter().any(|a| covers(*a)) {
                        *w * SYNONYM_CREDIT
                    } else {
                        *b
                    };
                    matched += credit;
                    if !self.is_number(*t) {
                        matched_words += credit;
                    }
                }
                for t in v.req.iter().chain(diff).chain(cat_diff) {
                    if !in_q(t) && !seen.contains(t) {
                        seen.push(*t);
                        let soft = self.soft.get(*t as usize).copied().unwrap_or(false);
                        let idf = defaults
                            .iter()
                            .find(|(m, _)| m == t)
                            .map_or(self.idf[*t as usize], |(_, c)| *c);
                        pen += idf * if soft { 0.2 } else { 1.0 };
                    }
                }
                for (a, b) in &v.any {
                    let miss = |side: &Vec<u32>| {
                        side.iter()
                            .filter(|t| !in_q(t))
                            .map(|t| self.idf[*t as usize])
                            .sum::<f32>()
                    };
                    pen += miss(a).min(miss(b));
                }
                for t in l
                    .path
                    .iter()
                    .flat_map(|&p| self.nodes[p].title_view.neg.iter())
                    .chain(&v.neg)
                {
                    if qs.binary_search(t).is_ok() && !seen.contains(t) {
                        seen.push(*t);
                        pen += self.idf[*t as usize];
                    }
                }
                for &(a, b) in &contradictions {
                    if (says(v, b) || says(&own.title_view, b)) && !seen.contains(&a) {
                        seen.push(a);
                        pen += self.idf[a as usize];
                    }
                }
                let qcov = (matched_words / total).min(1.0);
                let prec = matched / (matched + pen).max(1e-6);
                let s = qcov * prec;
                let better = match best {
                    None => true,
                    Some((bs, ..)) => s > bs || (s == bs && k + 1 == l.path.len()),
                };
                if better {
                    best = Some((s, matched, prec, v.text.as_str()));
                }
            }
            let Some((view_score, matched, prec, best_view)) = best else {
                continue;
            };
            let best_view = best_view.to_string();
            let mut score = view_score + l.bonus;
            // The text names a side and a leaf of the same category says it, but this leaf's
            // title says no side ("Achilles tendinitis, unspecified leg" against "..., right
            // leg" for "right"; "Unspecified sensorineural hearing loss" against "...,
            // unilateral, left ear"): the side is documented, so this leaf is not the code.
            if !sides.is_empty()
                && !lateral.iter().any(|t| says(&own.title_view, *t))
                && l.path.first().is_some_and(|c| {
                    self.category_sides
                        .get(c)
                        .is_some_and(|said| sides.iter().any(|t| said.contains(t)))
                })
            {
                score -= SIDE_MISSED;
            }
            // A number of the text that the leaf's own title says ("stage 2" against the
            // sibling's "unspecified stage"): numbers add no coverage, but they tell apart.
            if q.iter()
                .any(|(t, _)| self.is_number(*t) && says(&own.title_view, *t))
            {
                score += NUMBER_BONUS;
            }
            if hints
                .iter()
                .any(|h| l.path.contains(h) || self.is_ancestor(*h, l.node))
            {
                score += 0.1;
            }
            out.push(Scored {
                leaf: li as usize,
                score,
                matched_weight: matched,
                prec,
                view: best_view,
                sim: 0.0,
                lexical: true,
            });
        }
        for li in touched {
            acc[li as usize] = 0.0;
        }
        self.sort_scored(&mut out);
        out
    }

    /// Whether a leaf is a personal-history code (Z85-Z87: "Persons with potential health
    /// hazards related to ... personal history").
    fn is_personal_history(&self, leaf: usize) -> bool {
        let code = &self.nodes[self.leaves[leaf].node].code;
        ["Z85", "Z86", "Z87"].iter().any(|p| code.starts_with(p))
    }

    fn is_number(&self, t: u32) -> bool {
        self.numeric.get(t as usize).copied().unwrap_or(false)
    }

    fn is_ancestor(&self, a: usize, mut n: usize) -> bool {
        while let Some(p) = self.nodes[n].parent {
            if p == a {
                return true;
            }
            n = p;
        }
        false
    }

    /// Walks chapter -> block -> category -> ... -> leaf; each node scores as its best leaf;
    /// the adjudicator is asked where the top children are within the margin.
    fn walk(
        &self,
        scores: &HashMap<usize, f32>,
        adjudicator: Option<&dyn Adjudicator>,
        context: &str,
    ) -> (usize, String) {
        let mut node_score: HashMap<usize, f32> = HashMap::new();
        for (&li, &s) in scores {
            let mut cur = Some(self.leaves[li].node);
            while let Some(n) = cur {
                let e = node_score.entry(n).or_insert(f32::MIN);
                if s > *e {
                    *e = s;
                }
                cur = self.nodes[n].parent;
            }
        }
        let mut level: Vec<(usize, f32)> = node_score
            .iter()
            .filter(|(n, _)| self.nodes[**n].parent.is_none())
            .map(|(n, s)| (*n, *s))
            .collect();
        let mut notes = Vec::new();
        loop {
            level.sort_by(|a, b| {
                b.1.total_cmp(&a.1)
                    .then(self.nodes[a.0].code.cmp(&self.nodes[b.0].code))
            });
            let Some(&(mut pick, top)) = level.first() else {
                break;
            };
            if let Some(adj) = adjudicator {
                let close: Vec<&(usize, f32)> = level
                    .iter()
                    .take(5)
                    .filter(|(_, s)| top - s <= self.options.adjudicate_margin)
                    .collect();
                if close.len() > 1 {
                    let options: Vec<Candidate> = close
                        .iter()
                        .map(|(n, s)| Candidate {
                            code: self.nodes[*n].code.clone(),
                            title: self.nodes[*n].title.clone(),
                            score: *s,
                        })
                        .collect();
                    if let Some(i) = adj.choose(context, &options)
                        && let Some(&&(n, _)) = close.get(i)
                    {
                        if n != pick {
                            notes.push(format!(
                                "adjudicated {} over {}",
                                self.nodes[n].code, self.nodes[pick].code
                            ));
                        }
                        pick = n;
                    }
                }
            }
            if let Some(li) = self.nodes[pick].leaf
                && scores.contains_key(&li)
                && self.nodes[pick]
                    .children
                    .iter()
                    .all(|c| !node_score.contains_key(c))
            {
                let n = &self.nodes[pick];
                let note = if notes.is_empty() {
                    format!("walked to billable {}", n.code)
                } else {
                    notes.join("; ")
                };
                return (li, note);
            }
            level = self.nodes[pick]
                .children
                .iter()
                .filter_map(|c| node_score.get(c).map(|s| (*c, *s)))
                .collect();
        }
        // Unreachable in practice (every scored node leads to a scored leaf); fall back to the best.
        let best = scores
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(l, _)| *l)
            .unwrap_or(0);
        (best, "best leaf".into())
    }

    fn evidence(&self, cw: &[Word], leaf: usize, chars: &[char]) -> Vec<Evidence> {
        let l = &self.leaves[leaf];
        let hits: Vec<&Word> = cw
            .iter()
            .filter(|w| {
                w.status == Status::Affirmed
                    && self
                        .vocab
                        .get(&w.norm)
                        .is_some_and(|id| l.all.binary_search(id).is_ok())
            })
            .collect();
        // One span per clause: a side or site read from another clause of the sentence is its
        // own piece of evidence.
        let mut spans: Vec<(u32, usize, usize)> = Vec::new();
        for w in hits {
            match spans.iter_mut().find(|(c, _, _)| *c == w.clause) {
                Some(sp) => {
                    sp.1 = sp.1.min(w.start);
                    sp.2 = sp.2.max(w.end);
                }
                None => spans.push((w.clause, w.start, w.end)),
            }
        }
        spans.sort_by_key(|sp| sp.1);
        spans
            .into_iter()
            .map(|(_, s, e)| Evidence {
                start: s,
                end: e,
                text: chars[s..e].iter().collect(),
            })
            .collect()
    }

    fn path_notes(&self, node: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Some(node);
        while let Some(n) = cur {
            if matches!(self.nodes[n].level, IcdLevel::Block | IcdLevel::Chapter) {
                break;
            }
            for note in &self.nodes[n].notes {
                if !out.contains(note) {
                    out.push(note.clone());
                }
            }
            cur = self.nodes[n].parent;
        }
        out
    }

    fn billable(&self, code: &str) -> Option<usize> {
        self.by_code
            .get(code)
            .copied()
            .filter(|&ix| self.nodes[ix].billable)
    }

    /// Combination codes the tabular prescribes (diabetes with CKD, hypertension with CKD or
    /// heart failure, COPD with lower respiratory infection, diabetes with hyperglycemia).
    fn apply_combinations(&self, problems: &mut Vec<Problem>) {
        let recode = |p: &mut Problem, ix: usize, why: &str| {
            p.node = ix;
            p.rationale.push_str(why);
        };
        let has = |ps: &Vec<Problem>, pred: &dyn Fn(&str) -> bool| {
            ps.iter().position(|p| pred(&self.nodes[p.node].code))
        };
        let starts_any = |c: &str, prefixes: &[&str]| prefixes.iter().any(|p| c.starts_with(p));
        let ckd = |c: &str| c.starts_with("N18.");
        let ckd_late = |c: &str| c == "N18.5" || c == "N18.6";
        let dm = |c: &str| starts_any(c, &["E08", "E09", "E10", "E11", "E13"]);
        let dm_plain = |c: &str| dm(c) && (c.ends_with(".9") || c.ends_with(".8"));
        // Diabetes (or its kidney complication without the CKD, E1x.21 / E1x.29) + CKD ->
        // E1x.22 (+ N18.x).
        let dm_kidney =
            |c: &str| dm_plain(c) || (dm(c) && (c.ends_with(".21") || c.ends_with(".29")));
        if let (Some(d), Some(_)) = (has(problems, &dm_kidney), has(problems, &ckd)) {
            let cat = self.nodes[problems[d].node].code[..3].to_string();
            if let Some(ix) = self.billable(&format!("{cat}.22")) {
                recode(
                    &mut problems[d],
                    ix,
                    "; combined with chronic kidney disease (combination code)",
                );
            }
        }
        // A complication of "other specified diabetes" (E13) read from a clause that says no
        // type ("diabetic polyneuropathy"), with the type said elsewhere (E10 / E11): the
        // complication of that type.
        if let Some(t) = has(problems, &|c: &str| {
            c.starts_with("E10") || c.starts_with("E11")
        }) {
            let cat = self.nodes[problems[t].node].code[..3].to_string();
            for p in problems.iter_mut() {
                let code = self.nodes[p.node].code.clone();
                if let Some(rest) = code.strip_prefix("E13")
                    && let Some(ix) = self.billable(&format!("{cat}{rest}"))
                {
                    recode(p, ix, "; the type of diabetes said elsewhere");
                }
            }
        }
        // Diabetes + hypoglycemia -> E1x.649 (without coma).
        if let (Some(d), Some(h)) = (
            has(problems, &dm_plain),
            has(problems, &|c: &str| {
                c == "E16.2" || c == "E16.1" || c == "E16.0"
            }),
        ) {
            let cat = self.nodes[problems[d].node].code[..3].to_string();
            if let Some(ix) = self.billable(&format!("{cat}.649")) {
                recode(
                    &mut problems[d],
                    ix,
                    "; combined with hypoglycemia (combination code)",
                );
                problems.remove(h);
            }
        }
        // Diabetes + hyperglycemia -> E1x.65.
        if let (Some(d), Some(h)) = (
            has(problems, &dm_plain),
            has(problems, &|c: &str| c == "R73.9"),
        ) {
            let cat = self.nodes[problems[d].node].code[..3].to_string();
            if let Some(ix) = self.billable(&format!("{cat}.65")) {
                recode(
                    &mut problems[d],
                    ix,
                    "; combined with hyperglycemia (combination code)",
                );
                problems.remove(h);
            }
        }
        // Hypertension + heart failure and/or CKD -> I11/I12/I13.
        if let Some(h) = has(problems, &|c: &str| c == "I10") {
            let hf = has(problems, &|c: &str| c.starts_with("I50."));
            let kd = has(problems, &ckd);
            let late = has(problems, &ckd_late).is_some();
            let target = match (hf.is_some(), kd.is_some()) {
                (true, true) => Some(if late { "I13.2" } else { "I13.0" }),
                (true, false) => Some("I11.0"),
                (false, true) => Some(if late { "I12.0" } else { "I12.9" }),
                _ => None,
            };
            if let Some(ix) = target.and_then(|t| self.billable(t)) {
                recode(
                    &mut problems[h],
                    ix,
                    "; hypertension with heart or kidney involvement (combination code)",
                );
            }
        }
        // A hypertensive kidney or heart code read from one clause ("ESRD 2/2 HTN" -> I12.9,
        // "hypertension with heart failure" -> I11.0), with the stage or the other organ said
        // in another: the code of both, and of the stage (I12.0 for stage 5 or end stage).
        let late = has(problems, &ckd_late).is_some();
        if let Some(h) = has(problems, &|c: &str| c == "I12.9" || c == "I12.0") {
            let hf = has(problems, &|c: &str| c.starts_with("I50.") || c == "I11.0").is_some();
            let target = match (hf, late) {
                (true, true) => Some("I13.2"),
                (true, false) => Some("I13.0"),
                (false, true) => Some("I12.0"),
                (false, false) => None,
            };
            if let Some(ix) = target.and_then(|t| self.billable(t))
                && ix != problems[h].node
            {
                recode(
                    &mut problems[h],
                    ix,
                    "; with the stage or heart involvement said elsewhere",
                );
                problems.retain(|p| self.nodes[p.node].code != "I11.0");
            }
        }
        if let (Some(h), Some(_)) = (has(problems, &|c: &str| c == "I11.0"), has(problems, &ckd))
            && let Some(ix) = self.billable(if late { "I13.2" } else { "I13.0" })
        {
            recode(
                &mut problems[h],
                ix,
                "; hypertensive heart and chronic kidney disease (combination code)",
            );
        }
        // Diabetes in pregnancy with the long-term drug said (guideline I.C.15.g): the
        // O24 code of that control ("GDM on metformin" -> O24.415), and no Z79.4 / Z79.84.
        for (z, fifth) in [("Z79.4", '4'), ("Z79.84", '5')] {
            let Some(zi) = has(problems, &|c: &str| c == z) else {
                continue;
            };
            let Some(o) = has(problems, &|c: &str| {
                // Gestational diabetes, control unspecified (O24.419, O24.429, O24.439).
                c.starts_with("O24.4") && c.len() == 7 && c.ends_with('9')
            }) else {
                continue;
            };
            let code = &self.nodes[problems[o].node].code;
            let target = format!("{}{fifth}", &code[..6]);
            if let Some(ix) = self.billable(&target) {
                recode(
                    &mut problems[o],
                    ix,
                    "; the drug said controls it (combination code)",
                );
                problems.remove(zi);
            }
        }
        // Hypertension with a heart condition of I51.4-I51.9 ("left ventricular hypertrophy
        // due to hypertension"): I11.9 includes it (guideline I.C.9.a.1).
        if let (Some(h), Some(c)) = (
            has(problems, &|c: &str| c == "I10"),
            has(problems, &|c: &str| {
                starts_any(c, &["I51.4", "I51.5", "I51.7", "I51.8", "I51.9"])
            }),
        ) && let Some(ix) = self.billable("I11.9")
        {
            recode(
                &mut problems[c],
                ix,
                "; with hypertension: hypertensive heart disease (I11 includes it)",
            );
            problems.remove(h);
        }
        // A general or child examination with another condition coded: the code of the
        // examination "with abnormal findings" (Z00.00 -> Z00.01, Z00.129 -> Z00.121).
        for (normal, abnormal) in [("Z00.00", "Z00.01"), ("Z00.129", "Z00.121")] {
            if let Some(e) = has(problems, &|c: &str| c == normal)
                && problems
                    .iter()
                    .any(|p| !self.nodes[p.node].code.starts_with('Z'))
                && let Some(ix) = self.billable(abnormal)
            {
                recode(
                    &mut problems[e],
                    ix,
                    "; another condition is coded (with abnormal findings)",
                );
            }
        }
        // Enlarged prostate with a lower urinary tract symptom coded (retention, frequency,
        // nocturia, hesitancy, ...): N40.1, and the symptom stays (use additional code).
        if let (Some(b), Some(_)) = (
            has(problems, &|c: &str| c == "N40.0"),
            has(problems, &|c: &str| {
                starts_any(c, &["R33.", "R35.", "R39.1", "R30.0", "R32", "R39.9"])
            }),
        ) && let Some(ix) = self.billable("N40.1")
        {
            recode(
                &mut problems[b],
                ix,
                "; with lower urinary tract symptoms (combination code)",
            );
        }
        // A pregnancy with a condition coded to chapter 15 is no "pregnant state, incidental"
        // (Z33.1).
        if has(problems, &|c: &str| c.starts_with('O')).is_some() {
            problems.retain(|p| self.nodes[p.node].code != "Z33.1");
        }
        // COPD + pneumonia or acute bronchitis -> J44.0 (+ the infection).
        if let (Some(c), Some(_)) = (
            has(problems, &|c: &str| c == "J44.9"),
            has(problems, &|c: &str| {
                starts_any(c, &["J18.", "J15.", "J20.", "J21.", "J22"])
            }),
        ) && let Some(ix) = self.billable("J44.0")
        {
            recode(
                &mut problems[c],
                ix,
                "; COPD with acute lower respiratory infection (combination code)",
            );
        }
    }

    /// Two codes where one's excludes1 note names the other cannot be reported together: the
    /// lower-scored one is dropped (and said in the warnings).
    fn resolve_excludes1(&self, problems: &mut Vec<Problem>, warnings: &mut Vec<String>) {
        let mut drop: HashSet<usize> = HashSet::new();
        for i in 0..problems.len() {
            for j in 0..problems.len() {
                if i == j || drop.contains(&i) || drop.contains(&j) {
                    continue;
                }
                let (a, b) = (problems[i].node, problems[j].node);
                if self.nodes[a].code == self.nodes[b].code {
                    continue;
                }
                if self.excludes(a, &self.nodes[b].code) {
                    let loser = if problems[i].score >= problems[j].score {
                        j
                    } else {
                        i
                    };
                    let winner = if loser == i { j } else { i };
                    warnings.push(format!(
                        "{} and {} exclude each other (excludes1); kept {}",
                        self.nodes[a].code,
                        self.nodes[b].code,
                        self.nodes[problems[winner].node].code
                    ));
                    drop.insert(loser);
                }
            }
        }
        let mut k = 0usize;
        problems.retain(|_| {
            let keep = !drop.contains(&k);
            k += 1;
            keep
        });
    }

    /// The leaf that differs from `leaf` only by naming `side` ("Otitis media, unspecified,
    /// right ear" for "..., unspecified ear"): a leaf under the same parent (grandparent for a
    /// code with a 7th character, which must match) whose title says the side and no other,
    /// sharing the most title words with `leaf`.
    fn side_sibling(&self, leaf: usize, side: u32) -> Option<usize> {
        let node = self.leaves[leaf].node;
        let code = &self.nodes[node].code;
        let seventh = code.len() == 8;
        let mut anc = Some(node);
        for _ in 0..if seventh { 2 } else { 1 } {
            anc = anc.and_then(|x| self.nodes[x].parent);
        }
        let anc = anc?;
        let lateral: Vec<u32> = LATERAL_WORDS
            .iter()
            .filter_map(|w| self.vocab.get(*w).copied())
            .filter(|t| *t != side)
            .collect();
        let own = &self.nodes[node].title_view.req;
        let mut best: Option<(usize, usize)> = None;
        let mut stack = self.nodes[anc].children.clone();
        while let Some(ix) = stack.pop() {
            stack.extend_from_slice(&self.nodes[ix].children);
            let Some(l) = self.nodes[ix].leaf else {
                continue;
            };
            if l == leaf {
                continue;
            }
            let n = &self.nodes[ix];
            if n.code.len() != code.len() || (seventh && n.code.get(7..) != code.get(7..)) {
                continue;
            }
            let v = &n.title_view;
            if !v.says(side) || lateral.iter().any(|t| v.says(*t)) {
                continue;
            }
            let shared = v.req.iter().filter(|t| own.contains(t)).count();
            if best.is_none_or(|(_, s)| shared > s) {
                best = Some((l, shared));
            }
        }
        best.map(|(l, _)| l)
    }

    /// What the text says of the encounter, read into codes made clause by clause:
    /// - a follow-up of an injury ("follow-up visit for closed fracture of the right distal
    ///   radius"; "healing as expected"): the 7th character D, not A (guideline I.C.19.a);
    /// - the gravida of a normal pregnancy ("G2P1 at 24 weeks"): Z34.0- for a first pregnancy,
    ///   Z34.8- for another, not the unspecified Z34.9-;
    /// - an exacerbation said apart from the disease ("known COPD ... treated for an acute
    ///   exacerbation"): J44.1, J45.-1.
    fn read_the_encounter(&self, problems: &mut [Problem], words: &[Word], chars: &[char]) {
        let says = |pat: &[&str]| (0..words.len()).any(|i| phrase_at(words, i, pat));
        let subsequent = SUBSEQUENT_CUES.iter().any(|p| says(p));
        let gravida = gravida_of(words, chars);
        let exacerbation = words
            .iter()
            .any(|w| w.status == Status::Affirmed && w.norm == "exacerbation");
        for p in problems.iter_mut() {
            let code = self.nodes[p.node].code.clone();
            let target = if subsequent
                && code.len() == 8
                && (code.starts_with('S') || code.starts_with('T'))
                && code.ends_with('A')
            {
                Some((
                    format!("{}D", &code[..7]),
                    "; a follow-up encounter (7th character D)",
                ))
            } else if let Some(g) = gravida
                && (code.starts_with("Z34.") && code.len() == 6)
            {
                let kind = if g == 1 { '0' } else { '8' };
                Some((
                    format!("Z34.{kind}{}", &code[5..]),
                    "; the gravida said (first or other pregnancy)",
                ))
            } else if exacerbation && code == "J44.9" {
                Some(("J44.1".to_string(), "; with the exacerbation said"))
            } else if exacerbation
                && code.starts_with("J45.")
                && (code.ends_with("0") || code == "J45.909")
                && code != "J45.990"
                && code != "J45.998"
            {
                let t = if code == "J45.909" {
                    "J45.901".to_string()
                } else {
                    format!("{}1", &code[..5])
                };
                Some((t, "; with the exacerbation said"))
            } else {
                None
            };
            if let Some((t, why)) = target
                && t != code
                && let Some(ix) = self.billable(&t)
            {
                p.node = ix;
                p.rationale.push_str(why);
            }
        }
    }

    /// A sign or symptom code (R00-R69 except R65 "Symptoms and signs specifically associated
    /// with systemic inflammation and infection", which only adds to a sepsis code), or one of
    /// `SYMPTOMS_ELSEWHERE`.
    fn is_symptom(&self, node: usize) -> bool {
        let code = &self.nodes[node].code;
        if SYMPTOMS_ELSEWHERE.iter().any(|p| code.starts_with(p)) {
            return true;
        }
        code.strip_prefix('R')
            .and_then(|rest| rest.get(..2))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < 70 && n != 65)
    }

    /// Signs and symptoms said before a stated diagnosis ("my toe swelled up overnight, red
    /// hot, and the doctor says it's gout"; "three days of cough and fever; chest x-ray shows
    /// consolidation; assessment is pneumonia"): the diagnosis explains them, and a symptom
    /// routinely associated with a diagnosis is not coded apart (guideline I.B.5). A diagnosis
    /// is stated when a word of `EXPLAINED_BY` comes before it in its sentence or the one
    /// before; the symptoms it explains are those said before that word, in the same sentence
    /// or the `EXPLAINED_SENTENCES` before it.
    fn drop_explained_symptoms(&self, problems: &mut Vec<Problem>, words: &[Word], chars: &[char]) {
        if !problems.iter().any(|p| self.is_symptom(p.node)) {
            return;
        }
        let markers: Vec<(usize, u32)> = (0..words.len())
            .filter(|&i| {
                EXPLAINED_BY.iter().any(|pat| phrase_at(words, i, pat))
                    || (words[i].norm == "it"
                        && (chars.get(words[i].end..).is_some_and(|rest| {
                            rest.starts_with(&['\'', 's']) || rest.starts_with(&['\u{2019}', 's'])
                        }) || words
                            .get(i + 1)
                            .is_some_and(|n| n.norm == "is" || n.norm == "was")))
            })
            .map(|i| (words[i].start, words[i].sentence))
            .collect();
        if markers.is_empty() {
            return;
        }
        let sentence_at = |offset: usize| {
            let k = words.partition_point(|w| w.start <= offset);
            words.get(k.saturating_sub(1)).map_or(0, |w| w.sentence)
        };
        // The latest marker before each stated diagnosis: (marker start, marker sentence).
        let mut explained: Vec<(usize, u32)> = Vec::new();
        for p in problems.iter() {
            let code = &self.nodes[p.node].code;
            if self.is_symptom(p.node) || code.starts_with('R') || code.starts_with('Z') {
                continue;
            }
            // The last piece: a side or site read from elsewhere in the sentence may come first.
            let Some(start) = p.evidence.iter().map(|e| e.start).max() else {
                continue;
            };
            let sentence = sentence_at(start);
            if let Some(&m) = markers
                .iter()
                .filter(|(ms, msent)| *ms < start && sentence.saturating_sub(*msent) <= 1)
                .max_by_key(|(ms, _)| *ms)
            {
                explained.push(m);
            }
        }
        if explained.is_empty() {
            return;
        }
        // Symptoms a coded diagnosis asks to code as well ("use additional code for associated
        // symptoms": nocturia with N40.1) stay.
        let asked: Vec<String> = problems
            .iter()
            .filter(|p| !self.is_symptom(p.node))
            .flat_map(|p| self.additional_refs(p.node))
            .collect();
        problems.retain(|p| {
            if !self.is_symptom(p.node)
                || asked
                    .iter()
                    .any(|r| ref_covers(r, &self.nodes[p.node].code))
            {
                return true;
            }
            let Some(end) = p.evidence.iter().map(|e| e.end).max() else {
                return true;
            };
            let start = p.evidence.iter().map(|e| e.start).min().unwrap_or(end);
            let sentence = sentence_at(start);
            !explained.iter().any(|&(ms, msent)| {
                end <= ms && sentence + EXPLAINED_SENTENCES >= msent && sentence <= msent
            })
        });
    }

    /// A category coded twice, once with an "unspecified" title ("worsening low mood" F32.A and
    /// "major depressive disorder, single episode, severe" F32.2): the specific code stands,
    /// since "unspecified" is for when the text gives nothing more. Injuries (S, T) are left
    /// alone: two injuries of one category are two sites.
    fn drop_unspecified_twins(&self, problems: &mut Vec<Problem>) {
        let unspecified = |p: &Problem| {
            let t = &self.nodes[p.node].title;
            t.contains("unspecified")
                || t.starts_with("Unspecified")
                || t.ends_with("without complications")
        };
        // "Other insomnia" (G47.09) is a residual code, not a more specific one.
        let specific: HashSet<String> = problems
            .iter()
            .filter(|p| !unspecified(p) && !self.nodes[p.node].title.starts_with("Other "))
            .filter_map(|p| self.nodes[p.node].code.get(..3).map(str::to_string))
            .collect();
        problems.retain(|p| {
            let code = &self.nodes[p.node].code;
            code.starts_with('S')
                || code.starts_with('T')
                || !unspecified(p)
                || !code.get(..3).is_some_and(|c| specific.contains(c))
        });
    }

    fn excludes(&self, node: usize, other: &str) -> bool {
        let mut cur = Some(node);
        while let Some(n) = cur {
            if self.nodes[n].level == IcdLevel::Chapter {
                break;
            }
            for r in &self.nodes[n].excludes1 {
                if ref_covers(r, other) {
                    return true;
                }
            }
            cur = self.nodes[n].parent;
        }
        false
    }
}

/// Words that say a drug did harm (or was taken wrongly): a T36-T50 code needs one.
const DRUG_EVENT_WORDS: &[&str] = &[
    "poisoning",
    "poisoned",
    "poison",
    "overdose",
    "overdosed",
    "toxicity",
    "toxic",
    "intoxication",
    "adverse",
    "reaction",
    "effect",
    "underdosing",
    "underdosed",
    "underdose",
    "ingestion",
    "ingested",
    "swallowed",
    "allergic",
    "allergy",
    "induced",
    "missed",
    "skipped",
    "stopped",
    "forgot",
];

/// Symptom codes outside chapter 18: joint pain, limb pain, breast lump and pain, eye pain,
/// ear pain, itching, sleeplessness, blood in the stool.
const SYMPTOMS_ELSEWHERE: &[&str] = &[
    "M25.5", "M79.6", "N63", "N64.4", "H57.1", "H92.0", "L29", "G47.00", "G47.09", "F51.0",
    "F51.9", "K92.1", "K62.5",
];

/// Words that say the patient is an infant.
const INFANT_WORDS: &[&str] = &[
    "infant",
    "infantile",
    "baby",
    "newborn",
    "neonate",
    "neonatal",
];

/// Words that say the encounter follows the active treatment of an injury (7th character D):
/// "follow-up visit for", "healing as expected", "cast check".
const SUBSEQUENT_CUES: &[&[&str]] = &[
    &["follow", "up", "visit"],
    &["follow", "up", "of"],
    &["follow", "up", "for"],
    &["followup", "visit"],
    &["followup", "of"],
    &["followup", "for"],
    &["here", "for", "follow"],
    &["healing", "as", "expected"],
    &["healing", "well"],
    &["routine", "healing"],
    &["cast", "check"],
    &["recheck"],
];

/// Headings of a medication list, before a colon.
const MEDICATION_HEADINGS: &[&str] = &["medication", "meds", "med", "medicine", "rx"];

/// Whether the words from `i` on are the phrase `pat` (normalised words).
fn phrase_at(words: &[Word], i: usize, pat: &[&str]) -> bool {
    pat.iter()
        .enumerate()
        .all(|(k, p)| words.get(i + k).is_some_and(|w| w.norm == *p))
}

/// The gravida a text says: "G2P1", "G3", "gravida 2", "primigravida" (1), "multigravida" (2).
fn gravida_of(words: &[Word], chars: &[char]) -> Option<u32> {
    for (k, w) in words.iter().enumerate() {
        match w.norm.as_str() {
            "primigravida" | "primip" | "primipara" => return Some(1),
            "multigravida" | "multip" | "multipara" => return Some(2),
            "gravida" => {
                if let Some(n) = words.get(k + 1).and_then(|n| n.norm.parse::<u32>().ok()) {
                    return Some(n);
                }
            }
            _ => {}
        }
        // "G2P1" (one word or two): the letter G written in upper case before the number.
        let surface: String = chars[w.start..w.end].iter().collect();
        if let Some(rest) = surface.strip_prefix('G') {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let after = &rest[digits.len()..];
            // The para follows: "P" and a number ("G6PD" is an enzyme).
            let para =
                |s: &[char]| s.first() == Some(&'P') && s.get(1).is_some_and(char::is_ascii_digit);
            let after_chars: Vec<char> = after.chars().collect();
            let next_p = words
                .get(k + 1)
                .is_some_and(|n| para(chars.get(n.start..).unwrap_or(&[])));
            if !digits.is_empty() && (para(&after_chars) || (after.is_empty() && next_p)) {
                return digits.parse().ok().filter(|g| (1..20).contains(g));
            }
        }
    }
    None
}

/// Words that state a diagnosis for what was said before them (normalised: plurals cut).
const EXPLAINED_BY: &[&[&str]] = &[
    &["said"],
    &["say"],
    &["says"],
    &["told"],
    &["think"],
    &["reckon"],
    &["diagnosed"],
    &["diagnosis"],
    &["assessment"],
    &["impression"],
    &["show"],
    &["showed"],
    &["shown"],
    &["found"],
    &["confirm"],
    &["confirmed"],
    &["reveal"],
    &["revealed"],
    &["consistent", "with"],
    &["meet", "criteria"],
    &["turned", "out"],
    &["called"],
    &["calls"],
];
/// How many sentences before the stating one the symptoms it explains may be.
const EXPLAINED_SENTENCES: u32 = 3;

/// The words that follow "with" in the titles of a category and its descendants (cached).
fn with_words<'a>(
    nodes: &[Node],
    cat: usize,
    cache: &'a mut HashMap<usize, HashSet<String>>,
) -> &'a HashSet<String> {
    cache.entry(cat).or_insert_with(|| {
        let mut out = HashSet::new();
        let mut stack = vec![cat];
        while let Some(n) = stack.pop() {
            let t = nodes[n].title.to_lowercase();
            for (_, rest) in t.match_indices("with ").map(|(i, _)| t.split_at(i + 5)) {
                if let Some(w) = rest.split([' ', ',']).next() {
                    out.insert(w.to_string());
                }
            }
            stack.extend(&nodes[n].children);
        }
        out
    })
}

/// How much lower than the clause's own code an O code of the pregnancy reading may score and
/// still replace it (a condition in a pregnancy belongs to chapter 15 where it has a code there).
const PREGNANCY_MARGIN: f32 = 0.6;

/// A pregnancy the text says the patient has: the weeks of gestation when given, and the span
/// of the words saying it.
struct Pregnancy {
    weeks: Option<u32>,
    /// "first", "second" or "third": from the weeks, or as the text says it ("2nd trimester").
    trimester: Option<&'static str>,
    span: (usize, usize),
}

impl Pregnancy {
    /// The trimester in the tabular's words.
    fn trimester_words(&self) -> Vec<&'static str> {
        self.trimester
            .map_or_else(Vec::new, |t| vec![t, "trimester"])
    }
}

/// The trimester of a week of gestation (guideline I.C.15.a.3: first under 14 weeks, second 14
/// to under 28, third from 28).
fn trimester_of(weeks: u32) -> &'static str {
    match weeks {
        0..=13 => "first",
        14..=27 => "second",
        _ => "third",
    }
}

/// "2nd trimester", "third trimester": the trimester the text names.
fn said_trimester(words: &[Word]) -> Option<&'static str> {
    words.windows(2).find_map(|p| {
        if p[1].norm != "trimester" || p[0].status != Status::Affirmed {
            return None;
        }
        match p[0].norm.as_str() {
            "first" | "1st" => Some("first"),
            "second" | "2nd" => Some("second"),
            "third" | "3rd" => Some("third"),
            _ => None,
        }
    })
}

/// Words that say the patient is pregnant.
const PREGNANT_WORDS: &[&str] = &[
    "pregnant",
    "pregnancy",
    "gestation",
    "gestational",
    "trimester",
    "antepartum",
    "prenatal",
    "antenatal",
    "primigravida",
    "multigravida",
    "iup",
];

/// Words of obstetric conditions: a clause that says one may code to chapter 15 without
/// another word saying the pregnancy ("preeclampsia", "hyperemesis gravidarum").
const OBSTETRIC_WORDS: &[&str] = &[
    "preeclampsia",
    "eclampsia",
    "hellp",
    "hyperemesis",
    "gravidarum",
    "placenta",
    "placental",
    "previa",
    "abruptio",
    "ectopic",
    "miscarriage",
    "abortion",
    "labor",
    "delivery",
    "postpartum",
    "puerperal",
    "puerperium",
    "intrapartum",
    "obstetric",
    "fetal",
    "fetus",
    "amniotic",
    "chorioamnionitis",
    "oligohydramnios",
    "polyhydramnios",
    "hydatidiform",
    "cesarean",
    "childbirth",
    "lactation",
    "lactating",
    "breastfeeding",
    "mastitis",
    "perineal",
    "postnatal",
    "gravid",
    "gestation",
    "gestational",
    "pregnancy",
    "pregnant",
    "trimester",
    "antepartum",
    "prenatal",
    "antenatal",
    "maternal",
    "breech",
    "membranes",
    "intrauterine",
    "stillbirth",
    "macrosomia",
    "malpresentation",
];

/// Words that make the weeks a newborn's gestational age ("preterm infant at 32 weeks").
const BABY_WORDS: &[&str] = &[
    "newborn",
    "neonate",
    "neonatal",
    "infant",
    "baby",
    "nicu",
    "born",
    "delivered",
];

/// The weeks of a gestational age written as one word: "35w2d", "35w".
fn weeks_days(norm: &str) -> Option<u32> {
    let (weeks, rest) = norm.split_once('w')?;
    let n: u32 = weeks.parse().ok()?;
    let days_ok = rest.is_empty()
        || rest
            .strip_suffix('d')
            .is_some_and(|d| d.len() == 1 && d.chars().all(|c| c.is_ascii_digit()));
    ((1..=45).contains(&n) && days_ok).then_some(n)
}

/// "at 22 wks gestation", "34 weeks pregnant", "G1 at 28 weeks": the patient is pregnant, and
/// at which week. `None` when no affirmed word says a pregnancy, or the text is a newborn's.
fn pregnancy_context(words: &[Word]) -> Option<Pregnancy> {
    let affirmed = |w: &Word| w.status == Status::Affirmed;
    if words
        .iter()
        .any(|w| affirmed(w) && BABY_WORDS.contains(&w.norm.as_str()))
    {
        return None;
    }
    // "G1", "G2P1", "g3p2": the obstetric shorthand of a pregnant patient.
    let gravida = |n: &str| {
        let mut cs = n.chars();
        cs.next() == Some('g')
            && cs.next().is_some_and(|c| c.is_ascii_digit())
            && n.chars().skip(1).all(|c| c.is_ascii_alphanumeric())
    };
    let is_week = |n: &str| matches!(n, "week" | "weeks" | "wk" | "wks" | "w");
    // "I'm 30 weeks along": the plain-speech way of saying the weeks of a pregnancy.
    if let Some(k) = (0..words.len().saturating_sub(2)).find(|&k| {
        affirmed(&words[k])
            && words[k]
                .norm
                .parse::<u32>()
                .is_ok_and(|n| (1..=45).contains(&n))
            && is_week(&words[k + 1].norm)
            && words[k + 2].norm == "along"
    }) {
        let n: u32 = words[k].norm.parse().unwrap_or(0);
        return Some(Pregnancy {
            weeks: Some(n),
            trimester: Some(trimester_of(n)),
            span: (words[k].start, words[k + 2].end),
        });
    }
    // "35w2d", "35w": a gestational age in one word.
    if let Some((w, n)) = words
        .iter()
        .filter(|w| affirmed(w))
        .find_map(|w| weeks_days(&w.norm).map(|n| (w, n)))
    {
        return Some(Pregnancy {
            weeks: Some(n),
            trimester: Some(trimester_of(n)),
            span: (w.start, w.end),
        });
    }
    let said = words
        .iter()
        .find(|w| affirmed(w) && (PREGNANT_WORDS.contains(&w.norm.as_str()) || gravida(&w.norm)))?;
    for (k, w) in words.iter().enumerate() {
        let Ok(n) = w.norm.parse::<u32>() else {
            continue;
        };
        if !affirmed(w) || !(1..=45).contains(&n) {
            continue;
        }
        let Some(next) = words.get(k + 1).filter(|x| is_week(&x.norm)) else {
            continue;
        };
        // The weeks are the pregnancy's when a pregnancy word follows ("22 wks gestation") or
        // precedes them in the sentence ("G1 at 34 weeks").
        let after = words
            .get(k + 2)
            .filter(|x| PREGNANT_WORDS.contains(&x.norm.as_str()) || x.norm == "ga");
        let before = words[..k].iter().any(|x| {
            x.sentence == w.sentence
                && affirmed(x)
                && (PREGNANT_WORDS.contains(&x.norm.as_str()) || gravida(&x.norm))
        });
        if after.is_some() || before || words.len() <= 12 {
            let end = after.map_or(next.end, |a| a.end);
            return Some(Pregnancy {
                weeks: Some(n),
                trimester: Some(trimester_of(n)),
                span: (w.start, end),
            });
        }
    }
    Some(Pregnancy {
        weeks: None,
        trimester: said_trimester(words),
        span: (said.start, said.end),
    })
}

/// Words that name a malignancy in a clause.
const MALIGNANCY: &[&str] = &["cancer", "carcinoma", "malignancy", "malignant", "tumor"];

/// "hx of breast cancer", "h/o DVT", "history of colon polyps": the clause read with "personal
/// history" (on the trigger's span, the last words) added, and whether it names a malignancy. A
/// malignancy said to be history is always a personal-history code (Z85.-), not the active
/// neoplasm; for other conditions the caller keeps the reading only when it lands on a
/// personal-history code naming the condition. `None` when the clause has no history trigger.
/// Time units of a duration ("2 mo hx of").
const DURATION_UNITS: &[&str] = &[
    "day", "days", "d", "week", "weeks", "wk", "wks", "month", "months", "mo", "mos", "year",
    "years", "yr", "yrs", "y",
];
/// Numbers in words, for durations ("two week history of").
const NUMBER_WORDS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "several", "few",
];

fn personal_history_reading(cw: &[Word]) -> Option<(Vec<Word>, bool)> {
    let affirmed = |w: &&Word| w.status == Status::Affirmed;
    let trigger = cw.iter().enumerate().find(|(i, w)| {
        affirmed(w)
            && (w.norm == "hx"
                || (w.norm == "h" && cw.get(i + 1).is_some_and(|n| n.norm == "o"))
                || (w.norm == "history"
                    && !i
                        .checked_sub(1)
                        .and_then(|p| cw.get(p))
                        .is_some_and(|p| p.norm == "family" || p.norm == "personal")))
    })?;
    let malignancy = cw
        .iter()
        .filter(affirmed)
        .any(|w| MALIGNANCY.contains(&w.norm.as_str()));
    // "2 mo hx of fatigue", "3-day history of cough": how long, not a past condition.
    let before = |k: usize| trigger.0.checked_sub(k).and_then(|p| cw.get(p));
    if before(1).is_some_and(|w| DURATION_UNITS.contains(&w.norm.as_str()))
        && before(2).is_some_and(|w| {
            w.norm.chars().all(|c| c.is_ascii_digit()) || NUMBER_WORDS.contains(&w.norm.as_str())
        })
    {
        return None;
    }
    let t = trigger.1;
    let mut out: Vec<Word> = cw.to_vec();
    for norm in ["personal", "history"] {
        if norm == "history" && t.norm == "history" {
            continue;
        }
        out.push(Word {
            norm: norm.into(),
            rewritten: true,
            upper: false,
            ..t.clone()
        });
    }
    Some((out, malignancy))
}

/// The span of a clause's affirmed words (the evidence of a code found by embedding
/// similarity, which matched the clause as a whole).
fn clause_evidence(cw: &[Word], chars: &[char]) -> Vec<Evidence> {
    let affirmed = || cw.iter().filter(|w| w.status == Status::Affirmed);
    let (Some(s), Some(e)) = (
        affirmed().map(|w| w.start).min(),
        affirmed().map(|w| w.end).max(),
    ) else {
        return Vec::new();
    };
    match chars.get(s..e) {
        Some(span) if s < e => vec![Evidence {
            start: s,
            end: e,
            text: span.iter().collect(),
        }],
        _ => Vec::new(),
    }
}

fn clause_text(cw: &[Word], chars: &[char]) -> String {
    match (cw.first(), cw.last()) {
        (Some(a), Some(b)) if a.start <= b.end && b.end <= chars.len() => {
            chars[a.start..b.end].iter().collect()
        }
        _ => String::new(),
    }
}

/// Whether an excludes1 reference ("E11.2", "I10-I16", "N18") covers `code`.
fn ref_covers(r: &str, code: &str) -> bool {
    if let Some((a, b)) = r.split_once('-') {
        let cat = code.get(..3).unwrap_or(code);
        return a.len() >= 3 && b.len() >= 3 && cat >= &a[..3] && cat <= &b[..3];
    }
    code.starts_with(r)
}

fn note_refs(note: &str) -> Vec<String> {
    let mut out = Vec::new();
    for group in note.split('(').skip(1) {
        let Some(inner) = group.split(')').next() else {
            continue;
        };
        for part in inner.split(',') {
            let p = part
                .trim()
                .trim_end_matches(".-")
                .trim_end_matches('-')
                .trim_end_matches('.')
                .to_string();
            let shape = |s: &str| {
                s.len() >= 3
                    && s.as_bytes()[0].is_ascii_uppercase()
                    && s.as_bytes()[1].is_ascii_digit()
            };
            if let Some((a, b)) = p.split_once('-') {
                if shape(a.trim()) && shape(b.trim()) {
                    out.push(format!("{}-{}", a.trim(), b.trim().trim_end_matches('.')));
                }
            } else if shape(&p) {
                out.push(p);
            }
        }
    }
    out
}

fn notes_of(c: &IcdCode) -> Vec<String> {
    let mut out = Vec::new();
    for n in &c.notes.code_first {
        out.push(format!("code first: {n}"));
    }
    for n in &c.notes.use_additional_code {
        out.push(format!("use additional code: {n}"));
    }
    for n in &c.notes.code_also {
        out.push(format!("code also: {n}"));
    }
    out
}

/// "e11.22" / "E1122" -> "E11.22".
pub(crate) fn normalise_code(code: &str) -> String {
    let c: String = code
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect::<String>()
        .to_ascii_uppercase();
    if c.len() <= 3 {
        c
    } else {
        format!("{}.{}", &c[..3], &c[3..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_forms_of_participles_and_adjectives() {
        for (word, form) in [
            ("perforated", "perforation"),
            ("ulcerated", "ulceration"),
            ("infected", "infection"),
            ("fractured", "fracture"),
            ("anemic", "anemia"),
            ("gangrenous", "gangrene"),
            ("bitten", "bite"),
            ("torn", "tear"),
        ] {
            assert!(
                word_forms(word).iter().any(|f| f == form),
                "{word}: {:?}",
                word_forms(word)
            );
        }
        // Short words and words with digits or capitals have none.
        assert!(word_forms("red").is_empty());
        assert!(word_forms("covid19ed").is_empty());
    }

    #[test]
    fn gravida_from_obstetric_shorthand() {
        let g = |t: &str| {
            let chars: Vec<char> = t.chars().collect();
            gravida_of(&analyse_with(t, false), &chars)
        };
        assert_eq!(g("32-year-old G2P1 at 24 weeks"), Some(2));
        assert_eq!(g("G1 P0, 12 weeks"), Some(1));
        assert_eq!(g("primigravida at 30 weeks"), Some(1));
        assert_eq!(g("gravida 3 para 2"), Some(3));
        // A lower-case g, or a G without a para, is not the gravida ("G6PD deficiency").
        assert_eq!(g("g2p1"), None);
        assert_eq!(g("G6PD deficiency"), None);
        assert_eq!(g("no pregnancy"), None);
    }

    #[test]
    fn closing_brackets_that_name_the_condition() {
        assert_eq!(
            closing_bracket_synonym("Acute obstructive laryngitis [croup]"),
            Some("croup")
        );
        assert_eq!(
            closing_bracket_synonym("Thromboangiitis obliterans [Buerger's disease]"),
            Some("Buerger's disease")
        );
        for title in [
            "Eosinophilic cellulitis [Wells]",
            "Acute lymphoblastic leukemia [ALL]",
            "Corrosion of third degree of right ear [any part, except ear drum]",
            "Sixth [abducent] nerve palsy, right eye",
        ] {
            assert_eq!(closing_bracket_synonym(title), None, "{title}");
        }
    }
}
