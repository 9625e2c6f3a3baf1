//! Vocabularies (ICD-10-CM, ATC, HPO, MeSH, drug names), the concept graph built from them,
//! and the entity linker with NegEx-style context that maps clinical text to concepts.
//!
//! * Loaders: [`load_icd10cm`], [`load_atc`], [`load_mesh`], drug names in [`drugs`]; HPO comes
//!   from `clinrag-phenotype`. Each returns a [`LoadReport`] of what it skipped and why.
//! * [`ConceptGraph`]: typed nodes and edges in petgraph, with a versioned snapshot
//!   ([`snapshot::save`], [`snapshot::load`]) built by [`build_graph`].
//! * [`Linker`]: dictionary matching (a trie over word ids) with negation, certainty, experiencer
//!   and temporality; [`Linker::expand`] for graph-expanded retrieval.

mod assemble;
mod atc;
mod context;
pub mod drugs;
mod error;
mod expand;
mod graph;
mod icd10cm;
mod linker;
mod mesh;
pub mod pickle;
mod report;
pub mod snapshot;
mod text;

pub use assemble::{VocabPaths, add_atc, add_diseases, add_hpo, add_icd10cm, build_graph};
pub use atc::{Atc, AtcCode, atc_level, load_atc, parse_atc};
pub use context::{Certainty, Experiencer, Temporality};
pub use error::{KgError, Result};
pub use expand::{ExpandOptions, Expansion, ExpansionTerm};
pub use graph::{
    ConceptGraph, Detail, Dir, Edge, EdgeKind, GraphStats, Neighbor, Node, NodeKind, PathStep,
    SearchHit, Vocab,
};
pub use icd10cm::{Icd10cm, IcdCode, IcdLevel, IcdNotes, load_icd10cm, parse_icd10cm};
pub use linker::{ConceptRef, Linker, Mention};
pub use mesh::{Mesh, MeshDescriptor, load_mesh, parse_mesh};
pub use report::{LoadReport, SkipExample};
pub use text::{
    Respelt, Token, fold_text, is_invisible, latin_lookalike, normalize_term, respelt, tokenize,
};

/// Index of a node in the [`ConceptGraph`] (petgraph's `NodeIndex`).
pub use petgraph::graph::NodeIndex as NodeIx;

/// Where the snapshot lives relative to the home folder.
pub const SNAPSHOT_PATH: &str = "kg/graph.bin";

/// Where the linker's dictionary cache lives relative to the home folder.
pub const LINKER_CACHE_PATH: &str = "kg/linker.bin";

/// The linker for a graph loaded from the home folder's snapshot: its dictionary comes from
/// `kg/linker.bin` when that was built from the same snapshot, else it is built (seconds) and
/// the cache written. Without a snapshot file, the linker is simply built.
pub fn open_linker(home: &std::path::Path, graph: std::sync::Arc<ConceptGraph>) -> Result<Linker> {
    let snap = home.join(SNAPSHOT_PATH);
    match snapshot::fingerprint(&snap) {
        Ok(key) => Linker::open_cached(graph, &home.join(LINKER_CACHE_PATH), key),
        Err(_) => Linker::new(graph),
    }
}

/// Loads the graph snapshot of a clinrag home folder; when there is none yet, builds the graph
/// from the home's vocabulary files and saves the snapshot first. Fails when neither exists.
pub fn open_or_build(home: &std::path::Path) -> Result<ConceptGraph> {
    let path = home.join(SNAPSHOT_PATH);
    if path.exists() {
        return snapshot::load(&path);
    }
    tracing::warn!(
        "{} is missing: building it from {}",
        path.display(),
        home.join("vocab").display()
    );
    let graph = build_graph(&VocabPaths::from_home(home))?;
    if graph.node_count() == 0 {
        return Err(KgError::Snapshot {
            path,
            message: format!(
                "not found, and no vocabulary under {} to build it from; run `clinrag setup` first",
                home.join("vocab").display()
            ),
        });
    }
    snapshot::save(&graph, &path)?;
    Ok(graph)
}
