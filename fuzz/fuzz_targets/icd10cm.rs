#![no_main]
//! ICD-10-CM tabular XML (`clinrag_kg::parse_icd10cm`), then the codes into a concept graph.

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(icd) = clinrag_kg::parse_icd10cm(s, Path::new("fuzz-tabular.xml")) else {
        return;
    };
    for c in &icd.codes {
        assert!(!c.code.is_empty(), "empty code loaded");
        if let Some(p) = &c.parent {
            assert_ne!(p, &c.code, "code {:?} is its own parent", c.code);
        }
    }
    let mut g = clinrag_kg::ConceptGraph::new();
    clinrag_kg::add_icd10cm(&mut g, icd);
});
