//! ICD-10-CM and ATC code assignment from free text: a deterministic lexical coder that walks
//! the ICD-10-CM hierarchy down to billable leaves, an ATC coder over drug names, evidence
//! spans in char offsets of the input, and an optional [`Adjudicator`] hook for an LLM.
//!
//! * [`IcdCoder`]: clause segmentation with negation / family-history context, a lexicon of
//!   clinical abbreviations and lay terms, a token-overlap scorer over titles and inclusion
//!   terms, a hierarchy walk (chapter, block, category, subcategory, leaf), tabular rules
//!   (excludes1, code-first / use-additional notes, combination codes); HPO lay terms and
//!   abbreviations as a second reading of each clause; the built index cached in a versioned
//!   snapshot (`coding/icd10cm.bin` under the home, [`IcdCoder::load_cached`]); optionally
//!   embedding similarity of each clause to the code texts as a further candidate signal
//!   ([`IcdCoder::attach_embedder`] with any [`TextEmbedder`]; vectors cached in
//!   `coding/icd10cm.vec`).
//! * [`AtcCoder`]: drug mentions (generic, brand, US/INN, salts, edit distance 1) to level-5
//!   ATC codes, several codes of one substance ordered by the indication in the text.
//! * [`eval`]: exact top-1, top-5 and category accuracy over `{"text","gold"}` JSONL cases.

mod adjudicate;
mod atc;
mod context;
mod embed;
mod error;
pub mod eval;
mod icd;
mod lay;
mod lexicon;
mod snapshot;

pub use adjudicate::{Adjudicator, Candidate, FixedChoice};
pub use atc::{AtcCoder, AtcOptions};
pub use context::{Status, Word, analyse, analyse_with};
pub use embed::{TextEmbedder, VEC_FORMAT_VERSION, VEC_SNAPSHOT_PATH, VectorSource};
pub use error::{CodingError, Result};
pub use icd::{IcdCoder, IcdOptions, IndexSource};
pub use lay::HPO_PATH;
pub use lexicon::LEXICON_DIR_ENV;
pub use snapshot::{FORMAT_VERSION as SNAPSHOT_FORMAT_VERSION, ICD_SNAPSHOT_PATH};

use serde::{Deserialize, Serialize};

/// A span of the input text supporting a code (char offsets, end exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Start, in chars (Unicode scalar values) of the input.
    pub start: usize,
    /// End (exclusive), in chars.
    pub end: usize,
    /// The input text of the span.
    pub text: String,
}

/// One assigned code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeResult {
    /// The code in official dotted form (`I21.4`, `N02BE01`).
    pub code: String,
    /// `ICD-10-CM` or `ATC`.
    pub system: String,
    /// The official title.
    pub title: String,
    /// Score in 0..=1, higher is better.
    pub score: f32,
    /// Supporting spans of the input.
    pub evidence: Vec<Evidence>,
    /// Whether the code answers a problem of the text (`true`) or is an alternative.
    pub primary: bool,
    /// Why this code.
    pub rationale: String,
    /// Tabular notes that apply ("code first ...", "use additional code ..."), prefixed by kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The answer of a coder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coding {
    /// Codes, best first (problems of the text first, in text order; then alternatives).
    pub codes: Vec<CodeResult>,
    /// Remarks about the input (ignored hints, truncation, no codable content).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Largest input accepted, in bytes; longer text is cut at a char boundary with a warning.
pub const MAX_INPUT_BYTES: usize = 2 * 1024 * 1024;

pub(crate) fn cut_input(text: &str, warnings: &mut Vec<String>) -> String {
    if text.len() <= MAX_INPUT_BYTES {
        return text.to_string();
    }
    let mut end = MAX_INPUT_BYTES;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    warnings.push(format!(
        "input is {} bytes; only the first {end} bytes were coded",
        text.len()
    ));
    text[..end].to_string()
}
