#![no_main]
//! ATC CSV (`clinrag_kg::parse_atc`), then the codes into a concept graph.

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(atc) = clinrag_kg::parse_atc(s, Path::new("fuzz-atc.csv")) else {
        return;
    };
    for c in &atc.codes {
        assert_eq!(
            clinrag_kg::atc_level(&c.code),
            Some(c.level),
            "loaded code {:?} with a wrong level",
            c.code
        );
    }
    let mut g = clinrag_kg::ConceptGraph::new();
    clinrag_kg::add_atc(&mut g, &atc);
});
