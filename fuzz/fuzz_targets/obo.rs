#![no_main]
//! HPO OBO parser (`clinrag_phenotype::Ontology::parse_str`), then graph walks (ancestors,
//! descendants, resolution), an index over it, and kg's HPO loader (`clinrag_kg::add_hpo`).
//! Cycles and dangling parents in the input must not hang or panic.

use libfuzzer_sys::fuzz_target;

use clinrag_phenotype::{Annotations, IndexConfig, Ontology, RareIndex};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let ont = Ontology::parse_str(s, "fuzz.obo");
    for t in ont.all_terms().iter().take(64) {
        let anc = ont.ancestors(t.id);
        let _ = ont.descendants(t.id);
        let _ = ont.resolve(t.id);
        let _ = ont.resolve_str(&t.id.to_string());
        for a in anc.iter().take(8) {
            assert!(
                ont.is_ancestor_or_self(*a, t.id),
                "ancestors() and is_ancestor_or_self disagree"
            );
        }
    }
    let mut g = clinrag_kg::ConceptGraph::new();
    clinrag_kg::add_hpo(&mut g, &ont);
    let ann = Annotations::parse_str("", "empty.hpoa", &ont);
    let _ = RareIndex::build(ont, &ann, IndexConfig::default());
});
