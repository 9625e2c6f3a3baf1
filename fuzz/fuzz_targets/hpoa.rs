#![no_main]
//! HPO annotations parser (`clinrag_phenotype::Annotations::parse_str`) against a fixed toy
//! ontology, then an index over the diseases and one ranking.

use libfuzzer_sys::fuzz_target;

use clinrag_phenotype::{Annotations, IndexConfig, Ontology, RankConfig, RareIndex};

const OBO: &str = include_str!("../seeds/obo/toy.obo");

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let ont = Ontology::parse_str(OBO, "toy.obo");
    let ann = Annotations::parse_str(s, "fuzz.hpoa", &ont);
    if ann.is_empty() {
        return;
    }
    let mut g = clinrag_kg::ConceptGraph::new();
    clinrag_kg::add_diseases(&mut g, &ann);
    let idx = RareIndex::build(ont, &ann, IndexConfig::default());
    if let Ok(q) = idx.prepare(&["HP:0001250", "HP:0001249"], &["HP:0000505"]) {
        let r = idx.rank(&q, &RankConfig::default(), 5);
        assert!(r.candidates.len() <= 5, "more candidates than asked for");
    }
});
