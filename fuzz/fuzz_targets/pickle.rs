#![no_main]
//! Python pickle reader (`clinrag_kg::pickle::from_slice`, the drug NER dictionary) and the
//! dictionary built from its value.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = clinrag_kg::pickle::from_slice(data) {
        let _ = clinrag_kg::drugs::ner_from_value(&v);
    }
});
