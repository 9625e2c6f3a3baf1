//! The concept graph: typed nodes (concepts, diseases, documents) and typed edges in a
//! petgraph `DiGraph`, with lookups by code, text search, neighbourhoods and shortest paths.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::OnceLock;

use petgraph::Direction;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};

use crate::error::{KgError, Result};
use crate::icd10cm::{IcdLevel, IcdNotes, dotted};
use crate::report::LoadReport;
use crate::text::{normalize_term, tokenize};

/// The vocabulary a node comes from; its prefix forms the concept id ("ICD10CM:I21.4").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Vocab {
    /// ICD-10-CM (CDC tabular).
    Icd10cm,
    /// WHO ATC.
    Atc,
    /// Human Phenotype Ontology.
    Hpo,
    /// MeSH descriptors.
    Mesh,
    /// Drug substances and combinations (code: DrugBank id, else normalised name).
    Drug,
    /// Drug brand names (code: upper-case normalised name).
    Brand,
    /// OMIM diseases.
    Omim,
    /// Orphanet diseases.
    Orpha,
    /// Documents of the literature (code: the document id).
    Document,
}

impl Vocab {
    /// All vocabularies.
    pub const ALL: [Vocab; 9] = [
        Vocab::Icd10cm,
        Vocab::Atc,
        Vocab::Hpo,
        Vocab::Mesh,
        Vocab::Drug,
        Vocab::Brand,
        Vocab::Omim,
        Vocab::Orpha,
        Vocab::Document,
    ];

    /// The id prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Vocab::Icd10cm => "ICD10CM",
            Vocab::Atc => "ATC",
            Vocab::Hpo => "HP",
            Vocab::Mesh => "MESH",
            Vocab::Drug => "DRUG",
            Vocab::Brand => "BRAND",
            Vocab::Omim => "OMIM",
            Vocab::Orpha => "ORPHA",
            Vocab::Document => "DOC",
        }
    }

    /// The vocabulary of a prefix (case-insensitive; "ICD10", "ORPHANET" accepted).
    pub fn from_prefix(p: &str) -> Option<Vocab> {
        let p = p.to_ascii_uppercase();
        match p.as_str() {
            "ICD10CM" | "ICD10" | "ICD-10-CM" => Some(Vocab::Icd10cm),
            "ORPHANET" => Some(Vocab::Orpha),
            _ => Vocab::ALL.into_iter().find(|v| v.prefix() == p),
        }
    }
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeKind {
    /// A vocabulary concept.
    Concept,
    /// A disease with phenotype annotations (OMIM, ORPHA).
    Disease,
    /// A document of the literature.
    Document,
}

/// Vocabulary-specific facts about a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Detail {
    /// Nothing more.
    None,
    /// ICD-10-CM level, billability and tabular notes.
    Icd {
        /// Hierarchy level.
        level: IcdLevel,
        /// Billable leaf.
        billable: bool,
        /// Notes.
        notes: IcdNotes,
    },
    /// ATC level (1..=5).
    Atc {
        /// Level.
        level: u8,
    },
    /// HPO obsolescence.
    Hpo {
        /// Obsolete term.
        obsolete: bool,
        /// Its replacement.
        replaced_by: Option<String>,
    },
    /// Drug ids and components.
    Drug {
        /// DrugBank id.
        drugbank: Option<String>,
        /// MeSH id.
        mesh: Option<String>,
        /// Normalised component names (more than one for a combination).
        components: Vec<String>,
    },
}

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Kind.
    pub kind: NodeKind,
    /// Vocabulary.
    pub vocab: Vocab,
    /// Code within the vocabulary ("I21.4", "0001166", "N02BE01"; HPO codes keep "HP:" off).
    pub code: String,
    /// Preferred label.
    pub label: String,
    /// Synonyms used for linking.
    pub synonyms: Vec<String>,
    /// Vocabulary-specific detail.
    pub detail: Detail,
}

impl Node {
    /// The concept id: `PREFIX:code` ("ICD10CM:I21.4", "HP:0001166").
    pub fn id(&self) -> String {
        format!("{}:{}", self.vocab.prefix(), self.code)
    }
}

/// Edge types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EdgeKind {
    /// child -> parent.
    IsA,
    /// disease -> phenotype (with frequency).
    HasPhenotype,
    /// code -> code it excludes (Excludes1: never together).
    Excludes1,
    /// code -> code it excludes (Excludes2: not included here).
    Excludes2,
    /// brand -> drug.
    BrandOf,
    /// drug -> ATC code (or any concept -> equivalent concept).
    MapsTo,
    /// document -> concept (with count).
    Mentions,
}

impl EdgeKind {
    /// All edge kinds.
    pub const ALL: [EdgeKind; 7] = [
        EdgeKind::IsA,
        EdgeKind::HasPhenotype,
        EdgeKind::Excludes1,
        EdgeKind::Excludes2,
        EdgeKind::BrandOf,
        EdgeKind::MapsTo,
        EdgeKind::Mentions,
    ];

    /// snake_case name ("is_a").
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::IsA => "is_a",
            EdgeKind::HasPhenotype => "has_phenotype",
            EdgeKind::Excludes1 => "excludes1",
            EdgeKind::Excludes2 => "excludes2",
            EdgeKind::BrandOf => "brand_of",
            EdgeKind::MapsTo => "maps_to",
            EdgeKind::Mentions => "mentions",
        }
    }

    /// Parses a snake_case name ("excludes" means both excludes kinds is not supported here: name one).
    pub fn parse(s: &str) -> Option<EdgeKind> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        EdgeKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// An edge with its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Type.
    pub kind: EdgeKind,
    /// Frequency in 0..=1 (has_phenotype), if known.
    pub frequency: Option<f32>,
    /// Mention count (mentions), else 0.
    pub count: u32,
    /// A qualifier (onset term for has_phenotype), if any.
    pub qualifier: Option<String>,
}

impl Edge {
    /// A plain edge of `kind`.
    pub fn new(kind: EdgeKind) -> Self {
        Edge {
            kind,
            frequency: None,
            count: 0,
            qualifier: None,
        }
    }
}

/// Direction of a neighbour relative to the start node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// Start --edge--> neighbour.
    Out,
    /// Neighbour --edge--> start.
    In,
}

/// One node reached by [`ConceptGraph::neighbors`].
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbor {
    /// The node.
    pub node: NodeIndex,
    /// Hops from the start.
    pub depth: usize,
    /// The node it was reached from.
    pub from: NodeIndex,
    /// The edge type of the last hop.
    pub edge: EdgeKind,
    /// Direction of the last hop.
    pub dir: Dir,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathStep {
    /// The node.
    pub node: NodeIndex,
    /// The edge into this node (none for the first) and its direction.
    pub via: Option<(EdgeKind, Dir)>,
}

/// A text search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The node.
    pub node: NodeIndex,
    /// Score in 0..=1.
    pub score: f32,
    /// The label or synonym that matched.
    pub matched: String,
}

/// Node counts per vocabulary and edge counts per type.
pub type GraphStats = (Vec<(Vocab, usize)>, Vec<(EdgeKind, usize)>);

/// The concept graph.
#[derive(Debug, Default)]
pub struct ConceptGraph {
    graph: DiGraph<Node, Edge>,
    index: HashMap<(Vocab, String), NodeIndex>,
    reports: Vec<LoadReport>,
    words: OnceLock<HashMap<String, Vec<(u32, u16)>>>,
}

impl ConceptGraph {
    /// An empty graph.
    pub fn new() -> Self {
        ConceptGraph::default()
    }

    /// Rebuilds the graph from its parts (used by the snapshot reader).
    pub(crate) fn from_parts(graph: DiGraph<Node, Edge>, reports: Vec<LoadReport>) -> Self {
        let index = graph
            .node_indices()
            .map(|i| ((graph[i].vocab, graph[i].code.clone()), i))
            .collect();
        ConceptGraph {
            graph,
            index,
            reports,
            words: OnceLock::new(),
        }
    }

    pub(crate) fn parts(&self) -> (&DiGraph<Node, Edge>, &[LoadReport]) {
        (&self.graph, &self.reports)
    }

    /// The underlying petgraph graph.
    pub fn graph(&self) -> &DiGraph<Node, Edge> {
        &self.graph
    }

    /// The loader reports the graph was built from.
    pub fn reports(&self) -> &[LoadReport] {
        &self.reports
    }

    /// Appends a loader report.
    pub fn add_report(&mut self, r: LoadReport) {
        self.reports.push(r);
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Adds a node, or returns the existing node with the same vocabulary and code
    /// (then its synonyms are merged in).
    pub fn add_node(&mut self, node: Node) -> NodeIndex {
        let key = (node.vocab, node.code.clone());
        if let Some(&i) = self.index.get(&key) {
            let existing = &mut self.graph[i];
            for s in node.synonyms {
                if !existing.synonyms.contains(&s) && s != existing.label {
                    existing.synonyms.push(s);
                }
            }
            return i;
        }
        let i = self.graph.add_node(node);
        self.index.insert(key, i);
        self.words = OnceLock::new();
        i
    }

    /// Adds an edge unless one of the same kind already joins the two nodes.
    pub fn add_edge(&mut self, from: NodeIndex, to: NodeIndex, edge: Edge) -> EdgeIndex {
        if let Some(e) = self
            .graph
            .edges_connecting(from, to)
            .find(|e| e.weight().kind == edge.kind)
            .map(|e| e.id())
        {
            return e;
        }
        self.graph.add_edge(from, to, edge)
    }

    /// The node at `i`.
    pub fn node(&self, i: NodeIndex) -> Option<&Node> {
        self.graph.node_weight(i)
    }

    /// The node with this vocabulary and exact code.
    pub fn find(&self, vocab: Vocab, code: &str) -> Option<NodeIndex> {
        self.index.get(&(vocab, code.to_string())).copied()
    }

    /// Looks a code up: `PREFIX:code` ("ICD10CM:I21.4", "HP:0001166", "ATC:N02BE01",
    /// "OMIM:154700") or a bare code ("I21.4", "I214", "N02BE01", "D003924"), which may name
    /// concepts of more than one vocabulary ("A01" is an ICD-10-CM category and an ATC group).
    /// Unknown codes give [`KgError::NoSuchCode`], never a nearby guess.
    pub fn lookup(&self, code: &str) -> Result<Vec<NodeIndex>> {
        let code = code.trim();
        let mut out = Vec::new();
        if let Some((prefix, rest)) = code.split_once(':')
            && let Some(v) = Vocab::from_prefix(prefix)
        {
            for cand in code_forms(v, rest) {
                if let Some(i) = self.find(v, &cand) {
                    out.push(i);
                    break;
                }
            }
            return if out.is_empty() {
                Err(KgError::NoSuchCode(code.to_string()))
            } else {
                Ok(out)
            };
        }
        for v in Vocab::ALL {
            for cand in code_forms(v, code) {
                if let Some(i) = self.find(v, &cand) {
                    if !out.contains(&i) {
                        out.push(i);
                    }
                    break;
                }
            }
        }
        if out.is_empty() {
            Err(KgError::NoSuchCode(code.to_string()))
        } else {
            Ok(out)
        }
    }

    fn word_index(&self) -> &HashMap<String, Vec<(u32, u16)>> {
        self.words.get_or_init(|| {
            let mut m: HashMap<String, Vec<(u32, u16)>> = HashMap::new();
            for i in self.graph.node_indices() {
                let n = &self.graph[i];
                if n.kind == NodeKind::Document {
                    continue;
                }
                let names = std::iter::once(&n.label).chain(n.synonyms.iter());
                for (k, name) in names.enumerate().take(usize::from(u16::MAX)) {
                    let mut seen = HashSet::new();
                    for t in tokenize(name) {
                        if seen.insert(t.norm.clone()) {
                            let idx = u32::try_from(i.index()).unwrap_or(u32::MAX);
                            m.entry(t.norm)
                                .or_default()
                                .push((idx, u16::try_from(k).unwrap_or(u16::MAX)));
                        }
                    }
                }
            }
            m
        })
    }

    /// Text search over labels and synonyms: names containing every query word, best first
    /// (exact name, then label over synonym, then shorter names).
    pub fn search(&self, query: &str, limit: usize) -> Vec<SearchHit> {
        let q = tokenize(query);
        if q.is_empty() {
            return Vec::new();
        }
        let index = self.word_index();
        let mut lists: Vec<&Vec<(u32, u16)>> = Vec::new();
        for t in &q {
            match index.get(&t.norm) {
                Some(l) => lists.push(l),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|l| l.len());
        let mut candidates: HashSet<(u32, u16)> = lists[0].iter().copied().collect();
        for l in &lists[1..] {
            let s: HashSet<(u32, u16)> = l.iter().copied().collect();
            candidates.retain(|c| s.contains(c));
        }
        let qnorm = normalize_term(query);
        let qlen = q.len();
        let mut best: HashMap<u32, SearchHit> = HashMap::new();
        for (n, k) in candidates {
            let idx = NodeIndex::new(n as usize);
            let Some(node) = self.graph.node_weight(idx) else {
                continue;
            };
            let name = if k == 0 {
                &node.label
            } else {
                match node.synonyms.get(usize::from(k) - 1) {
                    Some(s) => s,
                    None => continue,
                }
            };
            let nnorm = normalize_term(name);
            let nlen = nnorm.split(' ').count().max(1);
            let coverage = qlen as f32 / nlen.max(qlen) as f32;
            let mut score = 0.6 * coverage
                + if nnorm == qnorm { 0.3 } else { 0.0 }
                + if k == 0 { 0.1 } else { 0.05 };
            if let Detail::Hpo { obsolete: true, .. } = node.detail {
                score *= 0.5;
            }
            let hit = SearchHit {
                node: idx,
                score,
                matched: name.clone(),
            };
            match best.get(&n) {
                Some(h) if h.score >= score => {}
                _ => {
                    best.insert(n, hit);
                }
            }
        }
        let mut hits: Vec<SearchHit> = best.into_values().collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.node.index().cmp(&b.node.index()))
        });
        hits.truncate(limit);
        hits
    }

    /// Nodes within `depth` hops of `start`, following edges both ways, optionally only of
    /// one type; breadth first, each node once, the start excluded.
    pub fn neighbors(
        &self,
        start: NodeIndex,
        depth: usize,
        kind: Option<EdgeKind>,
    ) -> Vec<Neighbor> {
        let mut seen: HashSet<NodeIndex> = HashSet::from([start]);
        let mut queue: VecDeque<(NodeIndex, usize)> = VecDeque::from([(start, 0)]);
        let mut out = Vec::new();
        while let Some((n, d)) = queue.pop_front() {
            if d >= depth {
                continue;
            }
            for (dir, pd) in [
                (Dir::Out, Direction::Outgoing),
                (Dir::In, Direction::Incoming),
            ] {
                for e in self.graph.edges_directed(n, pd) {
                    if kind.is_some_and(|k| k != e.weight().kind) {
                        continue;
                    }
                    let other = if pd == Direction::Outgoing {
                        e.target()
                    } else {
                        e.source()
                    };
                    if seen.insert(other) {
                        out.push(Neighbor {
                            node: other,
                            depth: d + 1,
                            from: n,
                            edge: e.weight().kind,
                            dir,
                        });
                        queue.push_back((other, d + 1));
                    }
                }
            }
        }
        out
    }

    /// The edges out of and into `n`.
    pub fn edges_of(&self, n: NodeIndex) -> Vec<(Dir, NodeIndex, &Edge)> {
        let mut out: Vec<(Dir, NodeIndex, &Edge)> = self
            .graph
            .edges_directed(n, Direction::Outgoing)
            .map(|e| (Dir::Out, e.target(), e.weight()))
            .collect();
        out.extend(
            self.graph
                .edges_directed(n, Direction::Incoming)
                .map(|e| (Dir::In, e.source(), e.weight())),
        );
        out
    }

    /// A shortest path between two nodes, edges followed in either direction (breadth first,
    /// so it has the fewest hops); `None` when they are not connected.
    pub fn shortest_path(&self, a: NodeIndex, b: NodeIndex) -> Option<Vec<PathStep>> {
        if self.graph.node_weight(a).is_none() || self.graph.node_weight(b).is_none() {
            return None;
        }
        let mut prev: HashMap<NodeIndex, (NodeIndex, EdgeKind, Dir)> = HashMap::new();
        let mut seen: HashSet<NodeIndex> = HashSet::from([a]);
        let mut queue = VecDeque::from([a]);
        while let Some(n) = queue.pop_front() {
            if n == b {
                break;
            }
            for (dir, pd) in [
                (Dir::Out, Direction::Outgoing),
                (Dir::In, Direction::Incoming),
            ] {
                for e in self.graph.edges_directed(n, pd) {
                    // Never walk through documents: a shared citation is not a relation.
                    let other = if pd == Direction::Outgoing {
                        e.target()
                    } else {
                        e.source()
                    };
                    if other != b && self.graph[other].kind == NodeKind::Document {
                        continue;
                    }
                    if seen.insert(other) {
                        prev.insert(other, (n, e.weight().kind, dir));
                        queue.push_back(other);
                    }
                }
            }
        }
        if a != b && !prev.contains_key(&b) {
            return None;
        }
        let mut steps = Vec::new();
        let mut cur = b;
        while cur != a {
            let (p, k, d) = prev.get(&cur).copied()?;
            steps.push(PathStep {
                node: cur,
                via: Some((k, d)),
            });
            cur = p;
        }
        steps.push(PathStep { node: a, via: None });
        steps.reverse();
        Some(steps)
    }

    /// Adds (or finds) the node of a document.
    pub fn add_document(&mut self, doc_id: &str, title: &str) -> NodeIndex {
        self.add_node(Node {
            kind: NodeKind::Document,
            vocab: Vocab::Document,
            code: doc_id.to_string(),
            label: title.to_string(),
            synonyms: Vec::new(),
            detail: Detail::None,
        })
    }

    /// Records that `doc` mentions `concept` `count` more times.
    pub fn add_mentions(&mut self, doc: NodeIndex, concept: NodeIndex, count: u32) {
        if let Some(e) = self.graph.find_edge(doc, concept)
            && let Some(w) = self.graph.edge_weight_mut(e)
            && w.kind == EdgeKind::Mentions
        {
            w.count = w.count.saturating_add(count);
            return;
        }
        let mut e = Edge::new(EdgeKind::Mentions);
        e.count = count;
        self.graph.add_edge(doc, concept, e);
    }

    /// Node counts per vocabulary and edge counts per type.
    pub fn stats(&self) -> GraphStats {
        let mut nv: HashMap<Vocab, usize> = HashMap::new();
        for n in self.graph.node_weights() {
            *nv.entry(n.vocab).or_default() += 1;
        }
        let mut ne: HashMap<EdgeKind, usize> = HashMap::new();
        for e in self.graph.edge_weights() {
            *ne.entry(e.kind).or_default() += 1;
        }
        let nodes = Vocab::ALL
            .into_iter()
            .filter_map(|v| nv.get(&v).map(|c| (v, *c)))
            .collect();
        let edges = EdgeKind::ALL
            .into_iter()
            .filter_map(|k| ne.get(&k).map(|c| (k, *c)))
            .collect();
        (nodes, edges)
    }
}

/// The spellings of a code to try in vocabulary `v` (format normalisation only).
fn code_forms(v: Vocab, code: &str) -> Vec<String> {
    let c = code.trim();
    match v {
        Vocab::Icd10cm => {
            let up = c.to_ascii_uppercase();
            vec![up.clone(), dotted(&up)]
        }
        Vocab::Atc | Vocab::Mesh | Vocab::Brand => vec![c.to_ascii_uppercase()],
        Vocab::Hpo => {
            let digits = c
                .strip_prefix("HP:")
                .or_else(|| c.strip_prefix("hp:"))
                .unwrap_or(c);
            if !digits.is_empty() && digits.len() <= 7 && digits.bytes().all(|b| b.is_ascii_digit())
            {
                vec![format!("{digits:0>7}")]
            } else {
                Vec::new()
            }
        }
        Vocab::Omim | Vocab::Orpha => {
            if c.bytes().all(|b| b.is_ascii_digit()) && !c.is_empty() {
                vec![c.trim_start_matches('0').to_string(), c.to_string()]
            } else {
                Vec::new()
            }
        }
        Vocab::Drug => vec![c.to_string(), c.to_ascii_uppercase(), normalize_term(c)],
        Vocab::Document => vec![c.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concept(vocab: Vocab, code: &str, label: &str) -> Node {
        Node {
            kind: NodeKind::Concept,
            vocab,
            code: code.into(),
            label: label.into(),
            synonyms: vec![],
            detail: Detail::None,
        }
    }

    fn small() -> (ConceptGraph, Vec<NodeIndex>) {
        let mut g = ConceptGraph::new();
        let a = g.add_node(concept(
            Vocab::Icd10cm,
            "I21",
            "Acute myocardial infarction",
        ));
        let b = g.add_node(concept(
            Vocab::Icd10cm,
            "I21.4",
            "Non-ST elevation (NSTEMI) myocardial infarction",
        ));
        let c = g.add_node(concept(
            Vocab::Icd10cm,
            "I20-I25",
            "Ischemic heart diseases",
        ));
        let d = g.add_node(concept(Vocab::Atc, "A01", "Stomatological preparations"));
        let e = g.add_node(concept(
            Vocab::Icd10cm,
            "A01",
            "Typhoid and paratyphoid fevers",
        ));
        g.add_edge(b, a, Edge::new(EdgeKind::IsA));
        g.add_edge(a, c, Edge::new(EdgeKind::IsA));
        (g, vec![a, b, c, d, e])
    }

    #[test]
    fn lookup_forms_and_unknown_codes() {
        let (g, n) = small();
        assert_eq!(g.lookup("I21.4").unwrap(), vec![n[1]]);
        assert_eq!(g.lookup("i214").unwrap(), vec![n[1]]);
        assert_eq!(g.lookup("ICD10CM:I21.4").unwrap(), vec![n[1]]);
        assert_eq!(g.lookup("A01").unwrap().len(), 2);
        assert_eq!(g.lookup("ATC:A01").unwrap(), vec![n[3]]);
        for bad in ["I21.9", "ICD10CM:Z99.99", "nonsense", "HP:0000001"] {
            let err = g.lookup(bad).unwrap_err();
            assert!(matches!(err, KgError::NoSuchCode(_)), "{bad}");
            assert_eq!(err.to_string(), format!("no such code: {bad}"));
        }
    }

    #[test]
    fn neighbors_paths_and_search() {
        let (g, n) = small();
        let nb = g.neighbors(n[1], 1, None);
        assert_eq!(nb.len(), 1);
        assert_eq!(
            (nb[0].node, nb[0].edge, nb[0].dir),
            (n[0], EdgeKind::IsA, Dir::Out)
        );
        assert_eq!(g.neighbors(n[1], 2, None).len(), 2);
        assert!(g.neighbors(n[1], 2, Some(EdgeKind::Excludes1)).is_empty());
        let p = g.shortest_path(n[1], n[2]).unwrap();
        assert_eq!(
            p.iter().map(|s| s.node).collect::<Vec<_>>(),
            vec![n[1], n[0], n[2]]
        );
        assert!(g.shortest_path(n[1], n[3]).is_none());
        let hits = g.search("myocardial infarction", 5);
        assert_eq!(hits[0].node, n[0]);
        assert_eq!(hits.len(), 2);
        assert!(g.search("zzz", 5).is_empty());
    }

    #[test]
    fn mentions_accumulate() {
        let (mut g, n) = small();
        let d = g.add_document("PMID:1", "A title");
        g.add_mentions(d, n[0], 2);
        g.add_mentions(d, n[0], 3);
        let e = g.graph().find_edge(d, n[0]).unwrap();
        assert_eq!(g.graph()[e].count, 5);
    }
}
