#![no_main]
//! Jats parser (`clinrag_ingest::parse::parse_bytes`) and the chunker on what it emits.

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    common::parse_and_check(data, "fuzz.nxml", clinrag_ingest::Format::Jats, 16384);
});
