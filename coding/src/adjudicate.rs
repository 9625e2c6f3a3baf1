//! The adjudication hook: something (an LLM with constrained choice) that picks one of a
//! listed set of candidates. The coder only ever uses the answer as an index into the list,
//! so an adjudicator can never introduce a code that was not offered.

use serde::{Deserialize, Serialize};

/// One option offered to an [`Adjudicator`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The code (dotted ICD-10-CM, or ATC), always an existing code.
    pub code: String,
    /// Its title.
    pub title: String,
    /// The deterministic score.
    pub score: f32,
}

/// Chooses between candidates given the text; `None` leaves the choice to the deterministic
/// scorer. An index out of range is ignored.
pub trait Adjudicator: Send + Sync {
    /// Returns the index of the chosen option in `options`.
    fn choose(&self, context: &str, options: &[Candidate]) -> Option<usize>;
}

/// An adjudicator that always answers the same index (for tests and ablations).
#[derive(Debug, Clone, Copy)]
pub struct FixedChoice(pub usize);

impl Adjudicator for FixedChoice {
    fn choose(&self, _context: &str, _options: &[Candidate]) -> Option<usize> {
        Some(self.0)
    }
}
