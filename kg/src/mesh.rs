//! Loader for MeSH descriptor names (`id,scheme,subject` CSV with NLM URIs as ids).

use std::collections::HashSet;
use std::path::Path;

use crate::error::{KgError, Result};
use crate::report::LoadReport;
use crate::text::split_csv_line;

/// One MeSH descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshDescriptor {
    /// Descriptor id ("D000001").
    pub id: String,
    /// Preferred name.
    pub name: String,
}

/// The loaded descriptors.
#[derive(Debug, Clone)]
pub struct Mesh {
    /// Descriptors in file order.
    pub descriptors: Vec<MeshDescriptor>,
    /// What was loaded and skipped.
    pub report: LoadReport,
}

/// Reads the MeSH CSV at `path`.
pub fn load_mesh(path: &Path) -> Result<Mesh> {
    let text = std::fs::read_to_string(path).map_err(|e| KgError::io(path, e))?;
    parse_mesh(&text, path)
}

/// Parses MeSH CSV text; `path` names the source in errors and the report.
pub fn parse_mesh(text: &str, path: &Path) -> Result<Mesh> {
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = LoadReport::new(source);
    let mut descriptors = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || (lineno == 1 && line.starts_with("id,")) {
            continue;
        }
        let Some(fields) = split_csv_line(line) else {
            report.skip(lineno, "unterminated quoted field");
            continue;
        };
        if fields.len() != 3 {
            report.skip(lineno, format!("expected 3 fields, found {}", fields.len()));
            continue;
        }
        let id = fields[0]
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let valid = id.len() >= 7
            && (id.starts_with('D') || id.starts_with('C'))
            && id[1..].bytes().all(|b| b.is_ascii_digit());
        if !valid {
            report.skip(
                lineno,
                format!("{:?} is not a MeSH descriptor id", fields[0]),
            );
            continue;
        }
        let name = fields[2].trim().to_string();
        if name.is_empty() {
            report.skip(lineno, format!("{id}: empty name"));
            continue;
        }
        if !seen.insert(id.clone()) {
            report.skip(lineno, format!("{id}: duplicate id"));
            continue;
        }
        descriptors.push(MeshDescriptor { id, name });
    }
    report.loaded = descriptors.len();
    Ok(Mesh {
        descriptors,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let text = "id,scheme,subject\nhttps://id.nlm.nih.gov/mesh/D000001,MeSH,Calcimycin\nhttps://id.nlm.nih.gov/mesh/D003924,MeSH,\"Diabetes Mellitus, Type 2\"\nbroken,MeSH,X\n";
        let m = parse_mesh(text, Path::new("mesh.csv")).unwrap();
        assert_eq!(m.descriptors.len(), 2);
        assert_eq!(m.descriptors[1].name, "Diabetes Mellitus, Type 2");
        assert_eq!(m.report.skipped, 1);
        assert_eq!(m.report.examples[0].location, "mesh.csv:4");
    }
}
