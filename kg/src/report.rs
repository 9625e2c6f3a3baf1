//! Load reports: what each loader read, what it skipped and why (count plus first examples).

use serde::{Deserialize, Serialize};

/// How many skip examples a report keeps.
pub const MAX_EXAMPLES: usize = 5;

/// One skipped record, with its place in the source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkipExample {
    /// `file:line` of the skipped record.
    pub location: String,
    /// Why it was skipped.
    pub reason: String,
}

/// What a loader did with one source file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The source (file name).
    pub source: String,
    /// Records loaded.
    pub loaded: usize,
    /// Records skipped.
    pub skipped: usize,
    /// The first few skipped records.
    pub examples: Vec<SkipExample>,
    /// Further facts (cross-checks, mapping rates).
    pub notes: Vec<String>,
}

impl LoadReport {
    /// An empty report for `source`.
    pub fn new(source: impl Into<String>) -> Self {
        LoadReport {
            source: source.into(),
            ..Default::default()
        }
    }

    /// Records one skipped record at `line` (1-based) of the source.
    pub fn skip(&mut self, line: usize, reason: impl Into<String>) {
        self.skipped += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(SkipExample {
                location: format!("{}:{}", self.source, line),
                reason: reason.into(),
            });
        }
    }

    /// Adds a free-form note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} loaded, {} skipped",
            self.source, self.loaded, self.skipped
        )?;
        for ex in &self.examples {
            write!(f, "\n  skipped {}: {}", ex.location, ex.reason)?;
        }
        for n in &self.notes {
            write!(f, "\n  note: {n}")?;
        }
        Ok(())
    }
}
