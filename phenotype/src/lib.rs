//! HPO ontology, disease annotations and phenotype-driven rare-disease ranking.
//!
//! * [`Ontology`]: `hp.obo` (OBO 1.4) with id lookups (alt ids, obsolete -> replaced_by) and graph walks.
//! * [`Annotations`]: `phenotype.hpoa` (OMIM and ORPHA diseases, frequencies, NOT annotations).
//! * [`RareIndex`]: information content, ancestor lists and a per-disease term index, built once;
//!   ranks all diseases for a patient's present and excluded phenotypes.

mod annotations;
mod error;
mod eval;
mod idhash;
mod index;
mod ontology;
mod rank;
mod simulate;
mod text;

pub use annotations::{
    AnnotationReport, Annotations, Disease, DiseaseId, FREQUENCY_TERMS, Frequency,
    PhenotypeAnnotation,
};
pub use error::{LookupError, PhenotypeError};
pub use eval::{CalibrationBin, CaseResult, EvalReport, case_ranks, evaluate};
pub use index::{IndexConfig, IndexStats, RareIndex};
pub use ontology::{
    HpoId, LabelKind, LoadWarning, Ontology, PHENOTYPIC_ABNORMALITY, ROOT, Resolution, Resolved,
    Synonym, SynonymScope, Term,
};
pub use rank::{
    Candidate, DiseasePhenotype, MAX_QUERY_TERMS, MatchedPair, PreparedQuery, RankConfig, Ranking,
    Scheme, Scores, TermRef,
};
pub use simulate::{Case, SimConfig, SplitMix64, simulate};
pub use text::{PhenotypeMatcher, TextMention};
