//! The Human Phenotype Ontology: an OBO 1.4 parser and an in-memory term graph with id lookups.

use std::collections::VecDeque;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{LookupError, PhenotypeError};
use crate::idhash::IdMap;

/// The root of the HPO (`HP:0000001`, "All").
pub const ROOT: HpoId = HpoId(1);
/// Root of the "Phenotypic abnormality" sub-ontology (`HP:0000118`).
pub const PHENOTYPIC_ABNORMALITY: HpoId = HpoId(118);

/// An HPO term id, `HP:nnnnnnn`, stored as its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HpoId(u32);

impl HpoId {
    /// The id with this number (`HpoId::new(118)` is `HP:0000118`).
    pub const fn new(number: u32) -> Self {
        HpoId(number)
    }

    /// The number of the id.
    pub const fn number(self) -> u32 {
        self.0
    }

    /// Parses `HP:0000118` (also accepts `HP_0000118` and surrounding blanks).
    pub fn parse(s: &str) -> Result<Self, LookupError> {
        let t = s.trim();
        let digits = t
            .strip_prefix("HP:")
            .or_else(|| t.strip_prefix("HP_"))
            .or_else(|| t.strip_prefix("hp:"))
            .ok_or_else(|| LookupError::Malformed(t.to_string()))?;
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LookupError::Malformed(t.to_string()));
        }
        digits
            .parse::<u32>()
            .map(HpoId)
            .map_err(|_| LookupError::Malformed(t.to_string()))
    }
}

impl fmt::Display for HpoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HP:{:07}", self.0)
    }
}

impl FromStr for HpoId {
    type Err = LookupError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HpoId::parse(s)
    }
}

impl Serialize for HpoId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HpoId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HpoId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Scope of a synonym, as in OBO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SynonymScope {
    /// Same meaning as the term name.
    Exact,
    /// Broader than the term.
    Broad,
    /// Narrower than the term.
    Narrow,
    /// Related, neither broader nor narrower.
    Related,
}

/// A synonym of a term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synonym {
    /// The synonym text.
    pub text: String,
    /// Its scope.
    pub scope: SynonymScope,
    /// Its synonym type (`layperson`, `abbreviation`, `obsolete_synonym`, ...), if given.
    pub kind: Option<String>,
}

/// One `[Term]` stanza.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    /// Primary id.
    pub id: HpoId,
    /// Preferred label.
    pub name: String,
    /// Definition text, if any.
    pub def: Option<String>,
    /// Synonyms with scope.
    pub synonyms: Vec<Synonym>,
    /// Direct `is_a` parents that exist in the ontology.
    pub parents: Vec<HpoId>,
    /// Alternative (merged) ids.
    pub alt_ids: Vec<HpoId>,
    /// Whether the term is obsolete.
    pub obsolete: bool,
    /// Replacement of an obsolete term.
    pub replaced_by: Option<HpoId>,
    /// Terms to consider instead of an obsolete term.
    pub consider: Vec<HpoId>,
    /// Line of the `[Term]` header in the source file.
    pub line: usize,
}

/// A problem found while loading a file: the stanza or line was skipped (or the value ignored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoadWarning {
    /// The file (or source name).
    pub source: String,
    /// 1-based line number.
    pub line: usize,
    /// What was wrong and what was done about it.
    pub message: String,
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.message)
    }
}

/// How an id given by a caller was mapped to a current term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Resolution {
    /// The id is a current term.
    Current,
    /// The id is an alternative id of the term.
    AltId {
        /// The id the caller gave.
        from: HpoId,
    },
    /// The id is obsolete; it was mapped through `replaced_by`.
    ReplacedBy {
        /// The obsolete id the caller gave.
        from: HpoId,
    },
}

/// A resolved id: the current term and how it was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// The current (non-obsolete, primary) id.
    pub id: HpoId,
    /// How it was reached.
    pub resolution: Resolution,
}

impl Resolved {
    /// A human-readable note when the id was mapped (alt id or obsolete), `None` when it was current.
    pub fn note(&self) -> Option<String> {
        match self.resolution {
            Resolution::Current => None,
            Resolution::AltId { from } => Some(format!(
                "{from} is an alternative id of {}; used {}",
                self.id, self.id
            )),
            Resolution::ReplacedBy { from } => Some(format!(
                "{from} is obsolete; mapped to its replacement {}",
                self.id
            )),
        }
    }
}

/// Where a label comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LabelKind {
    /// The preferred name.
    Name,
    /// A synonym with this scope.
    Synonym(SynonymScope),
}

/// The loaded ontology. Cheap lookups by id; graph walks over `is_a`.
///
/// Invariants: every id in `Term::parents` exists in the ontology; obsolete
/// terms have no parents and no children; the dense index of a term is its
/// position in [`Ontology::all_terms`] (sorted by id).
#[derive(Debug, Clone)]
pub struct Ontology {
    source: String,
    data_version: Option<String>,
    terms: Vec<Term>,
    by_id: IdMap<u32, u32>,
    alt: IdMap<u32, u32>,
    parents: Vec<Vec<u32>>,
    children: Vec<Vec<u32>>,
    topo: Vec<u32>,
    warnings: Vec<LoadWarning>,
}

impl Ontology {
    /// Loads an OBO file (`hp.obo`). Malformed stanzas are skipped and reported in [`Ontology::warnings`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PhenotypeError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| PhenotypeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let ont = Self::parse_str(&text, &path.display().to_string());
        if ont.terms.is_empty() {
            return Err(PhenotypeError::Format {
                path: path.to_path_buf(),
                problem: "no [Term] stanza found: not an OBO file?".to_string(),
            });
        }
        Ok(ont)
    }

    /// Parses OBO text; `source` names it in warnings. Never fails: bad stanzas become warnings.
    pub fn parse_str(text: &str, source: &str) -> Self {
        let mut warnings = Vec::new();
        let mut raw = Vec::new();
        let mut data_version = None;
        let mut cur: Option<RawStanza> = None;
        let mut in_header = true;
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('!') {
                continue;
            }
            if line.starts_with('[') {
                in_header = false;
                if let Some(s) = cur.take() {
                    raw.push(s);
                }
                if line == "[Term]" {
                    cur = Some(RawStanza::new(lineno));
                } else if !line.ends_with(']') {
                    warnings.push(warn(source, lineno, "malformed stanza header; ignored"));
                }
                continue;
            }
            let Some((tag, value)) = line.split_once(':') else {
                if cur.is_some() || in_header {
                    warnings.push(warn(source, lineno, "line is not 'tag: value'; ignored"));
                }
                continue;
            };
            let value = value.trim();
            if in_header {
                if tag == "data-version" {
                    data_version = Some(value.to_string());
                }
                continue;
            }
            if let Some(s) = cur.as_mut() {
                s.lines.push((lineno, tag.trim(), value));
            }
        }
        if let Some(s) = cur.take() {
            raw.push(s);
        }

        let mut terms: Vec<Term> = Vec::with_capacity(raw.len());
        let mut raw_parents: Vec<Vec<(usize, HpoId)>> = Vec::with_capacity(raw.len());
        let mut seen: IdMap<u32, usize> = IdMap::default();
        for st in raw {
            match build_term(&st, source, &mut warnings) {
                Some((term, parents)) => {
                    if let Some(first) = seen.get(&term.id.0) {
                        warnings.push(warn(
                            source,
                            term.line,
                            &format!(
                                "duplicate stanza for {} (first at line {first}); skipped",
                                term.id
                            ),
                        ));
                        continue;
                    }
                    seen.insert(term.id.0, term.line);
                    terms.push(term);
                    raw_parents.push(parents);
                }
                None => continue,
            }
        }
        // sort by id, keeping parents aligned
        let mut order: Vec<usize> = (0..terms.len()).collect();
        order.sort_by_key(|&i| terms[i].id);
        let mut sorted_terms = Vec::with_capacity(terms.len());
        let mut sorted_parents = Vec::with_capacity(terms.len());
        let mut terms_opt: Vec<Option<Term>> = terms.into_iter().map(Some).collect();
        for &i in &order {
            if let Some(t) = terms_opt[i].take() {
                sorted_terms.push(t);
                sorted_parents.push(std::mem::take(&mut raw_parents[i]));
            }
        }
        let mut terms = sorted_terms;
        let by_id: IdMap<u32, u32> = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.0, i as u32))
            .collect();

        let n = terms.len();
        let mut parents: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (i, ps) in sorted_parents.into_iter().enumerate() {
            if terms[i].obsolete {
                if !ps.is_empty() {
                    warnings.push(warn(
                        source,
                        terms[i].line,
                        &format!("obsolete term {} has is_a parents; ignored", terms[i].id),
                    ));
                }
                continue;
            }
            for (lineno, p) in ps {
                match by_id.get(&p.0) {
                    Some(&pi) if terms[pi as usize].obsolete => warnings.push(warn(
                        source,
                        lineno,
                        &format!("is_a {p} points to an obsolete term; edge ignored"),
                    )),
                    Some(&pi) if pi as usize == i => warnings.push(warn(
                        source,
                        lineno,
                        &format!("{p} is_a itself; edge ignored"),
                    )),
                    Some(&pi) => {
                        if !parents[i].contains(&pi) {
                            parents[i].push(pi);
                            children[pi as usize].push(i as u32);
                        }
                    }
                    None => warnings.push(warn(
                        source,
                        lineno,
                        &format!("is_a {p} names no term in the file; edge ignored"),
                    )),
                }
            }
        }

        // alt ids (pointing to live terms only; a primary id wins over an alt id)
        let mut alt = IdMap::default();
        for (i, t) in terms.iter().enumerate() {
            if t.obsolete {
                continue;
            }
            for a in &t.alt_ids {
                if by_id.contains_key(&a.0) && !terms[by_id[&a.0] as usize].obsolete {
                    warnings.push(warn(
                        source,
                        t.line,
                        &format!(
                            "alt_id {a} of {} is also a current term; alt_id ignored",
                            t.id
                        ),
                    ));
                    continue;
                }
                alt.insert(a.0, i as u32);
            }
        }

        // topological order (parents first); cycles are broken and reported
        let topo = topo_order(&parents, &children, &mut warnings, source, &terms);
        // keep Term::parents consistent with the accepted edges
        let ids: Vec<HpoId> = terms.iter().map(|t| t.id).collect();
        for (i, t) in terms.iter_mut().enumerate() {
            t.parents = parents[i].iter().map(|&p| ids[p as usize]).collect();
        }

        Ontology {
            source: source.to_string(),
            data_version,
            terms,
            by_id,
            alt,
            parents,
            children,
            topo,
            warnings,
        }
    }

    /// Name of the file the ontology was read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The `data-version` header (`hp/releases/2025-01-16`), if present.
    pub fn data_version(&self) -> Option<&str> {
        self.data_version.as_deref()
    }

    /// Problems found while loading (skipped stanzas, ignored values), with file and line.
    pub fn warnings(&self) -> &[LoadWarning] {
        &self.warnings
    }

    /// Number of stanzas kept, obsolete ones included.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// True when no term was loaded.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The term with this primary id (obsolete ones included); alt ids are not followed.
    pub fn term(&self, id: HpoId) -> Option<&Term> {
        self.by_id.get(&id.0).map(|&i| &self.terms[i as usize])
    }

    /// The preferred name of the term with this primary id.
    pub fn name(&self, id: HpoId) -> Option<&str> {
        self.term(id).map(|t| t.name.as_str())
    }

    /// Maps an id to a current term: primary ids as they are, alt ids to their term,
    /// obsolete ids through `replaced_by` (and the resolution says so).
    pub fn resolve(&self, id: HpoId) -> Result<Resolved, LookupError> {
        if let Some(&i) = self.by_id.get(&id.0) {
            let t = &self.terms[i as usize];
            if !t.obsolete {
                return Ok(Resolved {
                    id,
                    resolution: Resolution::Current,
                });
            }
        }
        let alt = self.alt.get(&id.0).map(|&i| Resolved {
            id: self.terms[i as usize].id,
            resolution: Resolution::AltId { from: id },
        });
        let Some(&i) = self.by_id.get(&id.0) else {
            return alt.ok_or_else(|| LookupError::NoSuchTerm(id.to_string()));
        };
        // obsolete: follow replaced_by (chains are short; guard against loops)
        let mut t = &self.terms[i as usize];
        for _ in 0..16 {
            let Some(r) = t.replaced_by else { break };
            if let Some(&j) = self.by_id.get(&r.0) {
                let rt = &self.terms[j as usize];
                if !rt.obsolete {
                    return Ok(Resolved {
                        id: r,
                        resolution: Resolution::ReplacedBy { from: id },
                    });
                }
                t = rt;
            } else if let Some(&j) = self.alt.get(&r.0) {
                return Ok(Resolved {
                    id: self.terms[j as usize].id,
                    resolution: Resolution::ReplacedBy { from: id },
                });
            } else {
                break;
            }
        }
        if let Some(alt) = alt {
            // an obsolete stanza whose id was merged into a live term
            return Ok(Resolved {
                id: alt.id,
                resolution: Resolution::ReplacedBy { from: id },
            });
        }
        Err(LookupError::ObsoleteWithoutReplacement {
            id: id.to_string(),
            consider: self.terms[i as usize]
                .consider
                .iter()
                .map(|c| c.to_string())
                .collect(),
        })
    }

    /// Parses and resolves an id given as text (`"HP:0000118"`).
    pub fn resolve_str(&self, s: &str) -> Result<Resolved, LookupError> {
        self.resolve(HpoId::parse(s)?)
    }

    /// Direct parents of a term (empty for unknown or obsolete ids).
    pub fn parents(&self, id: HpoId) -> Vec<HpoId> {
        self.term(id).map(|t| t.parents.clone()).unwrap_or_default()
    }

    /// Direct children of a term (empty for unknown or obsolete ids).
    pub fn children(&self, id: HpoId) -> Vec<HpoId> {
        match self.by_id.get(&id.0) {
            Some(&i) => self.children[i as usize]
                .iter()
                .map(|&c| self.terms[c as usize].id)
                .collect(),
            None => Vec::new(),
        }
    }

    /// All ancestors of a term over `is_a` (the term itself excluded), sorted by id.
    pub fn ancestors(&self, id: HpoId) -> Vec<HpoId> {
        let Some(&i) = self.by_id.get(&id.0) else {
            return Vec::new();
        };
        let mut out: Vec<HpoId> = self
            .walk(i, &self.parents)
            .into_iter()
            .filter(|&j| j != i)
            .map(|j| self.terms[j as usize].id)
            .collect();
        out.sort();
        out
    }

    /// All descendants of a term over `is_a` (the term itself excluded), sorted by id.
    pub fn descendants(&self, id: HpoId) -> Vec<HpoId> {
        let Some(&i) = self.by_id.get(&id.0) else {
            return Vec::new();
        };
        let mut out: Vec<HpoId> = self
            .walk(i, &self.children)
            .into_iter()
            .filter(|&j| j != i)
            .map(|j| self.terms[j as usize].id)
            .collect();
        out.sort();
        out
    }

    /// True when `ancestor` is `id` itself or one of its ancestors.
    pub fn is_ancestor_or_self(&self, ancestor: HpoId, id: HpoId) -> bool {
        ancestor == id || self.ancestors(id).binary_search(&ancestor).is_ok()
    }

    /// True when the term lies under "Phenotypic abnormality" (HP:0000118), itself included.
    pub fn is_phenotypic_abnormality(&self, id: HpoId) -> bool {
        self.is_ancestor_or_self(PHENOTYPIC_ABNORMALITY, id)
    }

    /// Current (non-obsolete) terms, by id.
    pub fn terms(&self) -> impl Iterator<Item = &Term> + '_ {
        self.terms.iter().filter(|t| !t.obsolete)
    }

    /// All terms, obsolete ones included, by id.
    pub fn all_terms(&self) -> &[Term] {
        &self.terms
    }

    /// Every label of every current term: its name and its synonyms (with scope).
    pub fn labels(&self) -> impl Iterator<Item = (HpoId, &str, LabelKind)> + '_ {
        self.terms().flat_map(|t| {
            std::iter::once((t.id, t.name.as_str(), LabelKind::Name)).chain(
                t.synonyms
                    .iter()
                    .map(move |s| (t.id, s.text.as_str(), LabelKind::Synonym(s.scope))),
            )
        })
    }

    /// Number of terms in the topological order (equals [`Ontology::len`]; exposed for property tests).
    #[doc(hidden)]
    pub fn topo_len_for_tests(&self) -> usize {
        self.topo.len()
    }

    // ---- dense-index API used by the ranking index ----

    pub(crate) fn index_of(&self, id: HpoId) -> Option<u32> {
        self.by_id.get(&id.0).copied()
    }

    pub(crate) fn parent_idx(&self, i: u32) -> &[u32] {
        &self.parents[i as usize]
    }

    pub(crate) fn topo_idx(&self) -> &[u32] {
        &self.topo
    }

    pub(crate) fn walk(&self, start: u32, edges: &[Vec<u32>]) -> Vec<u32> {
        let mut seen = vec![start];
        let mut mark = std::collections::HashSet::from([start]);
        let mut i = 0;
        while i < seen.len() {
            let x = seen[i];
            i += 1;
            for &y in &edges[x as usize] {
                if mark.insert(y) {
                    seen.push(y);
                }
            }
        }
        seen
    }
}

fn warn(source: &str, line: usize, message: &str) -> LoadWarning {
    LoadWarning {
        source: source.to_string(),
        line,
        message: message.to_string(),
    }
}

struct RawStanza<'a> {
    line: usize,
    lines: Vec<(usize, &'a str, &'a str)>,
}

impl RawStanza<'_> {
    fn new(line: usize) -> Self {
        RawStanza {
            line,
            lines: Vec::new(),
        }
    }
}

/// First whitespace-separated token of a value, before any `!` comment.
fn id_token(value: &str) -> &str {
    let v = value.split('!').next().unwrap_or("");
    v.split_whitespace().next().unwrap_or("")
}

/// Parses a leading OBO quoted string; returns the unescaped text and the rest.
fn quoted(value: &str) -> Option<(String, &str)> {
    let rest = value.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, other)) => out.push(other),
                None => return None,
            },
            '"' => return Some((out, rest[i + 1..].trim_start())),
            c => out.push(c),
        }
    }
    None
}

fn build_term(
    st: &RawStanza<'_>,
    source: &str,
    warnings: &mut Vec<LoadWarning>,
) -> Option<(Term, Vec<(usize, HpoId)>)> {
    let mut id: Option<HpoId> = None;
    let mut name: Option<String> = None;
    let mut def = None;
    let mut synonyms = Vec::new();
    let mut parents = Vec::new();
    let mut alt_ids = Vec::new();
    let mut obsolete = false;
    let mut replaced_by = None;
    let mut consider = Vec::new();
    for (lineno, tag, value) in &st.lines {
        let lineno = *lineno;
        let parse_id = |warnings: &mut Vec<LoadWarning>| -> Option<HpoId> {
            match HpoId::parse(id_token(value)) {
                Ok(x) => Some(x),
                Err(_) => {
                    warnings.push(warn(
                        source,
                        lineno,
                        &format!(
                            "{tag}: '{}' is not an HPO id; value ignored",
                            id_token(value)
                        ),
                    ));
                    None
                }
            }
        };
        match *tag {
            "id" => {
                if id.is_some() {
                    warnings.push(warn(source, lineno, "second id in stanza; stanza skipped"));
                    return None;
                }
                match HpoId::parse(id_token(value)) {
                    Ok(x) => id = Some(x),
                    Err(_) => {
                        // Non-HP ids (e.g. cross-ontology stanzas) are not HPO terms.
                        warnings.push(warn(
                            source,
                            st.line,
                            &format!(
                                "stanza id '{}' is not an HPO id; stanza skipped",
                                id_token(value)
                            ),
                        ));
                        return None;
                    }
                }
            }
            "name" => name = Some(value.to_string()),
            "def" => match quoted(value) {
                Some((text, _)) => def = Some(text),
                None => warnings.push(warn(source, lineno, "def is not a quoted string; ignored")),
            },
            "synonym" => match quoted(value) {
                Some((text, rest)) => {
                    let mut parts = rest.split_whitespace();
                    let scope = match parts.next() {
                        Some("EXACT") => Some(SynonymScope::Exact),
                        Some("BROAD") => Some(SynonymScope::Broad),
                        Some("NARROW") => Some(SynonymScope::Narrow),
                        Some("RELATED") => Some(SynonymScope::Related),
                        _ => None,
                    };
                    match scope {
                        Some(scope) => {
                            let kind = parts
                                .next()
                                .filter(|k| !k.starts_with('['))
                                .map(str::to_string);
                            synonyms.push(Synonym { text, scope, kind });
                        }
                        None => warnings.push(warn(
                            source,
                            lineno,
                            "synonym without EXACT/BROAD/NARROW/RELATED scope; ignored",
                        )),
                    }
                }
                None => warnings.push(warn(
                    source,
                    lineno,
                    "synonym is not a quoted string; ignored",
                )),
            },
            "is_a" => {
                if let Some(p) = parse_id(warnings) {
                    parents.push((lineno, p));
                }
            }
            "alt_id" => {
                if let Some(a) = parse_id(warnings) {
                    alt_ids.push(a);
                }
            }
            "is_obsolete" => obsolete = id_token(value) == "true",
            "replaced_by" => replaced_by = parse_id(warnings).or(replaced_by),
            "consider" => {
                if let Some(c) = parse_id(warnings) {
                    consider.push(c);
                }
            }
            _ => {}
        }
    }
    let Some(id) = id else {
        warnings.push(warn(source, st.line, "[Term] stanza without id; skipped"));
        return None;
    };
    let name = match name {
        Some(n) if !n.is_empty() => n,
        _ => {
            warnings.push(warn(
                source,
                st.line,
                &format!("term {id} has no name; skipped"),
            ));
            return None;
        }
    };
    Some((
        Term {
            id,
            name,
            def,
            synonyms,
            parents: Vec::new(),
            alt_ids,
            obsolete,
            replaced_by,
            consider,
            line: st.line,
        },
        parents,
    ))
}

fn topo_order(
    parents: &[Vec<u32>],
    children: &[Vec<u32>],
    warnings: &mut Vec<LoadWarning>,
    source: &str,
    terms: &[Term],
) -> Vec<u32> {
    let n = parents.len();
    let mut indeg: Vec<usize> = parents.iter().map(Vec::len).collect();
    let mut queue: VecDeque<u32> = (0..n as u32).filter(|&i| indeg[i as usize] == 0).collect();
    let mut order = Vec::with_capacity(n);
    let mut done = vec![false; n];
    loop {
        while let Some(x) = queue.pop_front() {
            done[x as usize] = true;
            order.push(x);
            for &c in &children[x as usize] {
                let c = c as usize;
                if done[c] || indeg[c] == 0 {
                    continue; // released earlier to break a cycle
                }
                indeg[c] -= 1;
                if indeg[c] == 0 {
                    queue.push_back(c as u32);
                }
            }
        }
        if order.len() == n {
            break;
        }
        // a cycle: release the smallest remaining term and report it
        if let Some(i) = (0..n).find(|&i| !done[i]) {
            warnings.push(warn(
                source,
                terms[i].line,
                &format!(
                    "is_a cycle through {}; cycle broken for IC propagation",
                    terms[i].id
                ),
            ));
            indeg[i] = 0;
            done[i] = true;
            order.push(i as u32);
            for &c in &children[i] {
                let c = c as usize;
                if !done[c] && indeg[c] > 0 {
                    indeg[c] -= 1;
                    if indeg[c] == 0 {
                        queue.push_back(c as u32);
                    }
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBO: &str = r#"format-version: 1.2
data-version: test/1

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000118
name: Phenotypic abnormality
is_a: HP:0000001 ! All

[Term]
id: HP:0000002
name: Abnormal thing
alt_id: HP:0000900
def: "A \"quoted\" definition." [PMID:1]
synonym: "Thing anomaly" EXACT layperson [ORCID:1]
synonym: "Odd" BROAD []
synonym: "Broken" WEIRD []
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0000003
name: Old thing
is_obsolete: true
replaced_by: HP:0000002

[Term]
id: HP:0000004
name: Forgotten
is_obsolete: true
consider: HP:0000002

[Term]
name: No id here

[Term]
id: XX:12
name: Not HPO

[Term]
id: HP:0000005
name: Child
is_a: HP:0000002
is_a: HP:9999999
is_a: banana
"#;

    #[test]
    fn parses_terms_synonyms_and_warnings() {
        let o = Ontology::parse_str(OBO, "t.obo");
        assert_eq!(o.data_version(), Some("test/1"));
        assert_eq!(o.len(), 6);
        let t = o.term(HpoId::new(2)).unwrap();
        assert_eq!(t.def.as_deref(), Some("A \"quoted\" definition."));
        assert_eq!(t.synonyms.len(), 2);
        assert_eq!(t.synonyms[0].scope, SynonymScope::Exact);
        assert_eq!(t.synonyms[0].kind.as_deref(), Some("layperson"));
        assert_eq!(t.synonyms[1].scope, SynonymScope::Broad);
        let msgs: Vec<String> = o.warnings().iter().map(|w| w.to_string()).collect();
        let expect = [
            "t.obo:20: synonym without EXACT/BROAD/NARROW/RELATED scope; ignored",
            "t.obo:35: [Term] stanza without id; skipped",
            "t.obo:38: stanza id 'XX:12' is not an HPO id; stanza skipped",
            "t.obo:47: is_a: 'banana' is not an HPO id; value ignored",
            "t.obo:46: is_a HP:9999999 names no term in the file; edge ignored",
        ];
        assert_eq!(msgs, expect);
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn resolves_alt_and_obsolete_ids() {
        let o = Ontology::parse_str(OBO, "t.obo");
        let cases: &[(&str, Result<(&str, &str), LookupError>)] = &[
            ("HP:0000002", Ok(("HP:0000002", "current"))),
            ("HP:0000900", Ok(("HP:0000002", "alt"))),
            ("HP:0000003", Ok(("HP:0000002", "replaced"))),
            (
                "HP:0000004",
                Err(LookupError::ObsoleteWithoutReplacement {
                    id: "HP:0000004".into(),
                    consider: vec!["HP:0000002".into()],
                }),
            ),
            (
                "HP:0001234",
                Err(LookupError::NoSuchTerm("HP:0001234".into())),
            ),
            ("HP:12a", Err(LookupError::Malformed("HP:12a".into()))),
            ("fever", Err(LookupError::Malformed("fever".into()))),
        ];
        for (input, want) in cases {
            let got = o.resolve_str(input).map(|r| {
                let how = match r.resolution {
                    Resolution::Current => "current",
                    Resolution::AltId { .. } => "alt",
                    Resolution::ReplacedBy { .. } => "replaced",
                };
                (r.id.to_string(), how)
            });
            let want = want.clone().map(|(a, b)| (a.to_string(), b));
            assert_eq!(got, want, "input {input}");
        }
        let r = o.resolve_str("HP:0000003").unwrap();
        assert!(r.note().unwrap().contains("obsolete"));
    }

    #[test]
    fn graph_walks() {
        let o = Ontology::parse_str(OBO, "t.obo");
        let c = HpoId::new(5);
        assert_eq!(
            o.ancestors(c),
            vec![HpoId::new(1), HpoId::new(2), HpoId::new(118)]
        );
        assert_eq!(o.children(HpoId::new(2)), vec![c]);
        assert_eq!(o.descendants(HpoId::new(118)), vec![HpoId::new(2), c]);
        assert!(o.is_phenotypic_abnormality(c));
        assert!(!o.is_phenotypic_abnormality(ROOT));
        assert_eq!(o.labels().count(), 4 + 2);
        assert_eq!(o.terms().count(), 4);
    }

    #[test]
    fn cycles_are_broken_not_fatal() {
        let obo = "[Term]\nid: HP:0000001\nname: A\nis_a: HP:0000002\n\n[Term]\nid: HP:0000002\nname: B\nis_a: HP:0000001\n";
        let o = Ontology::parse_str(obo, "c.obo");
        assert_eq!(o.topo_idx().len(), 2);
        assert!(o.warnings().iter().any(|w| w.message.contains("cycle")));
        // walks terminate
        assert_eq!(o.ancestors(HpoId::new(1)), vec![HpoId::new(2)]);
    }

    #[test]
    fn id_display_and_parse_roundtrip() {
        for n in [1u32, 118, 40283, 3000000] {
            let id = HpoId::new(n);
            assert_eq!(HpoId::parse(&id.to_string()), Ok(id));
        }
        assert_eq!(HpoId::new(118).to_string(), "HP:0000118");
    }
}
