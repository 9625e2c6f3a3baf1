//! Error type of the phenotype crate: what failed, whose fault it was, and whether a retry can help.

use std::path::PathBuf;

/// Errors returned by the phenotype crate.
///
/// None of these is worth retrying unchanged: they are either missing or
/// malformed data files (fix the installation, e.g. run `clinrag setup`) or
/// bad input from the caller (fix the request).
#[derive(Debug, thiserror::Error)]
pub enum PhenotypeError {
    /// A data file could not be read (installation problem).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A data file is not in the expected format at all (installation problem).
    #[error("{path}: {problem}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line number where it applies.
        problem: String,
    },
    /// The caller's request is unusable (caller's fault).
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl PhenotypeError {
    /// True when the error is the caller's fault (bad request), false when it is the data's.
    pub fn is_caller_fault(&self) -> bool {
        matches!(self, PhenotypeError::BadRequest(_))
    }
}

/// Why an HPO id could not be resolved to a current term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The text is not of the form `HP:nnnnnnn`.
    #[error("'{0}' is not an HPO id (expected HP:nnnnnnn)")]
    Malformed(String),
    /// No term, alternative id or obsolete term has this id.
    #[error("no such HPO term: {0}")]
    NoSuchTerm(String),
    /// The term is obsolete and names no replacement.
    #[error("HPO term {id} is obsolete and has no replacement{}", consider_note(.consider))]
    ObsoleteWithoutReplacement {
        /// The obsolete id.
        id: String,
        /// Terms the ontology suggests considering instead.
        consider: Vec<String>,
    },
}

fn consider_note(consider: &[String]) -> String {
    if consider.is_empty() {
        String::new()
    } else {
        format!(" (consider {})", consider.join(", "))
    }
}
