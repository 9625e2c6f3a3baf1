//! Disease-phenotype annotations from `phenotype.hpoa` (OMIM and ORPHA diseases).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::PhenotypeError;
use crate::idhash::IdMap;
use crate::ontology::{HpoId, LoadWarning, Ontology, Resolution};

/// A disease id: `OMIM:n` or `ORPHA:n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiseaseId {
    /// An OMIM entry.
    Omim(u32),
    /// An Orphanet entry.
    Orpha(u32),
}

impl DiseaseId {
    /// Parses `OMIM:123456` or `ORPHA:558` (`ORPHANET:` accepted too).
    pub fn parse(s: &str) -> Option<Self> {
        let (db, num) = s.trim().split_once(':')?;
        let n: u32 = num.trim().parse().ok()?;
        match db.to_ascii_uppercase().as_str() {
            "OMIM" => Some(DiseaseId::Omim(n)),
            "ORPHA" | "ORPHANET" => Some(DiseaseId::Orpha(n)),
            _ => None,
        }
    }
}

impl fmt::Display for DiseaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiseaseId::Omim(n) => write!(f, "OMIM:{n}"),
            DiseaseId::Orpha(n) => write!(f, "ORPHA:{n}"),
        }
    }
}

impl Serialize for DiseaseId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DiseaseId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DiseaseId::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not OMIM:n or ORPHA:n")))
    }
}

/// HPO frequency terms (`HP:00402xx`) and the point estimate used for each.
pub const FREQUENCY_TERMS: [(HpoId, &str, f64); 6] = [
    (HpoId::new(40280), "Obligate", 1.0),
    (HpoId::new(40281), "Very frequent", 0.90),
    (HpoId::new(40282), "Frequent", 0.55),
    (HpoId::new(40283), "Occasional", 0.17),
    (HpoId::new(40284), "Very rare", 0.025),
    (HpoId::new(40285), "Excluded", 0.0),
];

/// How often a disease shows a phenotype, as the HPOA gives it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Frequency {
    /// No frequency given.
    Unspecified,
    /// One of the HPO frequency terms (`HP:0040280`..`HP:0040285`).
    Term {
        /// The frequency term.
        term: HpoId,
    },
    /// `n/m` patients.
    Ratio {
        /// Patients with the phenotype.
        n: u32,
        /// Patients examined.
        m: u32,
    },
    /// A percentage, 0..=100.
    Percent {
        /// The percentage.
        percent: f64,
    },
}

impl Frequency {
    /// Parses the HPOA frequency column; `None` when it is not understood.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Some(Frequency::Unspecified);
        }
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p.trim().parse().ok()?;
            return (v.is_finite() && (0.0..=100.0).contains(&v))
                .then_some(Frequency::Percent { percent: v });
        }
        if let Some((n, m)) = s.split_once('/') {
            let n: u32 = n.trim().parse().ok()?;
            let m: u32 = m.trim().parse().ok()?;
            return (m > 0 && n <= m).then_some(Frequency::Ratio { n, m });
        }
        let id = HpoId::parse(s).ok()?;
        FREQUENCY_TERMS
            .iter()
            .any(|(t, _, _)| *t == id)
            .then_some(Frequency::Term { term: id })
    }

    /// Point estimate in 0..=1; `None` when unspecified.
    pub fn value(&self) -> Option<f64> {
        match *self {
            Frequency::Unspecified => None,
            Frequency::Term { term } => FREQUENCY_TERMS
                .iter()
                .find(|(t, _, _)| *t == term)
                .map(|(_, _, v)| *v),
            Frequency::Ratio { n, m } => Some(f64::from(n) / f64::from(m)),
            Frequency::Percent { percent } => Some(percent / 100.0),
        }
    }

    /// Combines two rows for the same disease and phenotype: ratios are pooled, otherwise the higher estimate wins.
    fn merge(self, other: Frequency) -> Frequency {
        match (self, other) {
            (Frequency::Ratio { n: a, m: b }, Frequency::Ratio { n: c, m: d }) => {
                Frequency::Ratio {
                    n: a.saturating_add(c),
                    m: b.saturating_add(d),
                }
            }
            (x, Frequency::Unspecified) => x,
            (Frequency::Unspecified, y) => y,
            (x, y) => {
                if y.value().unwrap_or(0.0) > x.value().unwrap_or(0.0) {
                    y
                } else {
                    x
                }
            }
        }
    }
}

/// One phenotype of a disease (aspect P), rows for the same term merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhenotypeAnnotation {
    /// The phenotype (current id; obsolete ids in the file are mapped).
    pub term: HpoId,
    /// Frequency, pooled over rows.
    pub frequency: Frequency,
    /// Onset qualifier, if any row gave one.
    pub onset: Option<HpoId>,
    /// Sex restriction (`MALE`/`FEMALE`), if any.
    pub sex: Option<String>,
    /// Modifier terms.
    pub modifiers: Vec<HpoId>,
    /// References (PMID:, OMIM:, ...).
    pub references: Vec<String>,
}

/// A disease and its annotations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Disease {
    /// `OMIM:n` or `ORPHA:n`.
    pub id: DiseaseId,
    /// Name as in the HPOA.
    pub name: String,
    /// Phenotypes (aspect P), one per term.
    pub phenotypes: Vec<PhenotypeAnnotation>,
    /// Phenotypes the disease is known NOT to have (qualifier NOT, or frequency "Excluded"/0%).
    pub excluded: Vec<HpoId>,
    /// Modes of inheritance (aspect I).
    pub inheritance: Vec<HpoId>,
    /// Clinical course terms, onset included (aspect C).
    pub clinical_course: Vec<HpoId>,
}

/// What the loader kept, skipped and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AnnotationReport {
    /// Data lines read (comments and header excluded).
    pub lines: usize,
    /// OMIM diseases kept.
    pub omim_diseases: usize,
    /// ORPHA diseases kept.
    pub orpha_diseases: usize,
    /// Rows kept as phenotypes (aspect P, not negated).
    pub phenotype_rows: usize,
    /// Rows kept as excluded phenotypes (qualifier NOT, or frequency Excluded/0).
    pub not_rows: usize,
    /// Rows of other databases skipped (e.g. DECIPHER), by database.
    pub skipped_database_rows: BTreeMap<String, usize>,
    /// Distinct diseases of other databases skipped, by database.
    pub skipped_database_diseases: BTreeMap<String, usize>,
    /// Rows by aspect (P, I, C, M, H), all databases kept.
    pub aspect_rows: BTreeMap<String, usize>,
    /// Rows of aspects M and H (and unknown aspects), not used.
    pub skipped_aspect_rows: usize,
    /// Rows whose HPO id was an alt id or obsolete and was mapped to a current term.
    pub mapped_ids: usize,
    /// Rows skipped because the HPO id is unknown or obsolete without replacement.
    pub unknown_ids: usize,
    /// Rows with a frequency that could not be parsed (kept as unspecified).
    pub bad_frequency: usize,
    /// Malformed rows skipped.
    pub malformed_rows: usize,
    /// The first problems with file and line (at most 50).
    pub problems: Vec<LoadWarning>,
}

/// All disease annotations of one HPOA file.
#[derive(Clone, Debug)]
pub struct Annotations {
    diseases: Vec<Disease>,
    by_id: IdMap<DiseaseId, u32>,
    version: Option<String>,
    report: AnnotationReport,
}

const MAX_PROBLEMS: usize = 50;

impl Annotations {
    /// Loads `phenotype.hpoa`, resolving its HPO ids against `ontology`.
    pub fn load(path: impl AsRef<Path>, ontology: &Ontology) -> Result<Self, PhenotypeError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| PhenotypeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let a = Self::parse_str(&text, &path.display().to_string(), ontology);
        if a.diseases.is_empty() {
            return Err(PhenotypeError::Format {
                path: path.to_path_buf(),
                problem: format!(
                    "no OMIM or ORPHA annotation found ({} data lines, {} malformed): not a phenotype.hpoa file?",
                    a.report.lines, a.report.malformed_rows
                ),
            });
        }
        Ok(a)
    }

    /// Parses HPOA text; `source` names it in problems. Never fails: bad rows are counted and skipped.
    pub fn parse_str(text: &str, source: &str, ontology: &Ontology) -> Self {
        let mut report = AnnotationReport::default();
        let mut version = None;
        let mut diseases: Vec<Disease> = Vec::new();
        let mut by_id: IdMap<DiseaseId, u32> = IdMap::default();
        let mut term_pos: IdMap<(u32, HpoId), usize> = IdMap::default();
        let mut other_db: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
        let problem = |report: &mut AnnotationReport, line: usize, msg: String| {
            if report.problems.len() < MAX_PROBLEMS {
                report.problems.push(LoadWarning {
                    source: source.to_string(),
                    line,
                    message: msg,
                });
            }
        };
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            if let Some(c) = line.strip_prefix('#') {
                if let Some(v) = c.strip_prefix("version:") {
                    version = Some(v.trim().to_string());
                }
                continue;
            }
            if line.trim().is_empty() || line.starts_with("database_id\t") {
                continue;
            }
            report.lines += 1;
            let mut cols = [""; 12];
            let mut ncols = 0;
            for (k, c) in line.split('\t').enumerate() {
                if k < cols.len() {
                    cols[k] = c;
                }
                ncols = k + 1;
            }
            if ncols < 11 {
                report.malformed_rows += 1;
                problem(
                    &mut report,
                    lineno,
                    format!("{ncols} tab-separated columns, expected 12; row skipped"),
                );
                continue;
            }
            let (db_id, name, qualifier, hpo, reference) =
                (cols[0], cols[1], cols[2], cols[3], cols[4]);
            let (onset, freq, sex, modifier, aspect) =
                (cols[6], cols[7], cols[8], cols[9], cols[10]);
            let Some(did) = DiseaseId::parse(db_id) else {
                match db_id.split_once(':') {
                    Some((db, _)) if !db.is_empty() => {
                        *report
                            .skipped_database_rows
                            .entry(db.to_string())
                            .or_default() += 1;
                        other_db
                            .entry(db.to_string())
                            .or_default()
                            .insert(db_id.to_string());
                    }
                    _ => {
                        report.malformed_rows += 1;
                        problem(
                            &mut report,
                            lineno,
                            format!("'{db_id}' is not a disease id; row skipped"),
                        );
                    }
                }
                continue;
            };
            let term = match ontology.resolve_str(hpo) {
                Ok(r) => {
                    if r.resolution != Resolution::Current {
                        report.mapped_ids += 1;
                    }
                    r.id
                }
                Err(e) => {
                    report.unknown_ids += 1;
                    problem(&mut report, lineno, format!("{e}; row skipped"));
                    continue;
                }
            };
            match report.aspect_rows.get_mut(aspect.trim()) {
                Some(n) => *n += 1,
                None => {
                    report.aspect_rows.insert(aspect.trim().to_string(), 1);
                }
            }
            let di = *by_id.entry(did).or_insert_with(|| {
                diseases.push(Disease {
                    id: did,
                    name: name.trim().to_string(),
                    phenotypes: Vec::new(),
                    excluded: Vec::new(),
                    inheritance: Vec::new(),
                    clinical_course: Vec::new(),
                });
                (diseases.len() - 1) as u32
            });
            let d = &mut diseases[di as usize];
            match aspect.trim() {
                "P" => {}
                "I" => {
                    if !d.inheritance.contains(&term) {
                        d.inheritance.push(term);
                    }
                    continue;
                }
                "C" => {
                    if !d.clinical_course.contains(&term) {
                        d.clinical_course.push(term);
                    }
                    continue;
                }
                _ => {
                    report.skipped_aspect_rows += 1;
                    continue;
                }
            }
            let frequency = match Frequency::parse(freq) {
                Some(f) => f,
                None => {
                    report.bad_frequency += 1;
                    problem(
                        &mut report,
                        lineno,
                        format!("frequency '{freq}' not understood; kept as unspecified"),
                    );
                    Frequency::Unspecified
                }
            };
            let negated =
                qualifier.trim().eq_ignore_ascii_case("NOT") || frequency.value() == Some(0.0);
            if negated {
                report.not_rows += 1;
                if !d.excluded.contains(&term) {
                    d.excluded.push(term);
                }
                continue;
            }
            report.phenotype_rows += 1;
            let onset = HpoId::parse(onset).ok();
            let modifiers: Vec<HpoId> = modifier
                .split(';')
                .filter_map(|m| HpoId::parse(m).ok())
                .collect();
            let sex = Some(sex.trim())
                .filter(|s| !s.is_empty())
                .map(str::to_ascii_uppercase);
            match term_pos.get(&(di, term)) {
                Some(&p) => {
                    let a = &mut d.phenotypes[p];
                    a.frequency = a.frequency.merge(frequency);
                    a.onset = a.onset.or(onset);
                    for m in modifiers {
                        if !a.modifiers.contains(&m) {
                            a.modifiers.push(m);
                        }
                    }
                    if !reference.is_empty() && !a.references.iter().any(|r| r == reference) {
                        a.references.push(reference.to_string());
                    }
                }
                None => {
                    term_pos.insert((di, term), d.phenotypes.len());
                    d.phenotypes.push(PhenotypeAnnotation {
                        term,
                        frequency,
                        onset,
                        sex,
                        modifiers,
                        references: reference
                            .split(';')
                            .filter(|r| !r.is_empty())
                            .map(str::to_string)
                            .collect(),
                    });
                }
            }
        }
        // a term both annotated and negated (different sources): keep the positive annotation
        for d in &mut diseases {
            let pos: std::collections::HashSet<HpoId> =
                d.phenotypes.iter().map(|p| p.term).collect();
            d.excluded.retain(|t| !pos.contains(t));
        }
        report.omim_diseases = diseases
            .iter()
            .filter(|d| matches!(d.id, DiseaseId::Omim(_)))
            .count();
        report.orpha_diseases = diseases.len() - report.omim_diseases;
        report.skipped_database_diseases =
            other_db.into_iter().map(|(k, v)| (k, v.len())).collect();
        Annotations {
            diseases,
            by_id,
            version,
            report,
        }
    }

    /// All diseases kept (OMIM and ORPHA), in file order.
    pub fn diseases(&self) -> &[Disease] {
        &self.diseases
    }

    /// A disease by id.
    pub fn disease(&self, id: DiseaseId) -> Option<&Disease> {
        self.by_id.get(&id).map(|&i| &self.diseases[i as usize])
    }

    /// Number of diseases kept.
    pub fn len(&self) -> usize {
        self.diseases.len()
    }

    /// True when no disease was kept.
    pub fn is_empty(&self) -> bool {
        self.diseases.is_empty()
    }

    /// The `#version:` header, if any.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// What was kept and skipped, and why.
    pub fn report(&self) -> &AnnotationReport {
        &self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_parsing() {
        let cases: &[(&str, Option<f64>)] = &[
            ("", None),
            ("HP:0040280", Some(1.0)),
            ("HP:0040283", Some(0.17)),
            ("3/4", Some(0.75)),
            ("25%", Some(0.25)),
            ("12.5%", Some(0.125)),
        ];
        for (s, want) in cases {
            assert_eq!(Frequency::parse(s).and_then(|f| f.value()), *want, "{s}");
        }
        for bad in ["5/0", "6/5", "HP:0000118", "150%", "often"] {
            assert_eq!(Frequency::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn merge_pools_ratios() {
        let a = Frequency::Ratio { n: 1, m: 2 };
        let b = Frequency::Ratio { n: 3, m: 4 };
        assert_eq!(a.merge(b), Frequency::Ratio { n: 4, m: 6 });
        let t = Frequency::Term {
            term: HpoId::new(40281),
        };
        assert_eq!(a.merge(t), t);
        assert_eq!(Frequency::Unspecified.merge(a), a);
    }

    #[test]
    fn disease_id_roundtrip() {
        for s in ["OMIM:619340", "ORPHA:558"] {
            assert_eq!(
                DiseaseId::parse(s).map(|d| d.to_string()).as_deref(),
                Some(s)
            );
        }
        assert_eq!(DiseaseId::parse("ORPHANET:5"), Some(DiseaseId::Orpha(5)));
        assert_eq!(DiseaseId::parse("DECIPHER:1"), None);
        assert_eq!(DiseaseId::parse("OMIM:x"), None);
    }
}
