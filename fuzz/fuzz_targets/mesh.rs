#![no_main]
//! MeSH descriptor CSV (`clinrag_kg::parse_mesh`).

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = clinrag_kg::parse_mesh(s, Path::new("fuzz-mesh.csv")) {
        for d in &m.descriptors {
            assert!(!d.id.is_empty(), "descriptor without id");
        }
    }
});
