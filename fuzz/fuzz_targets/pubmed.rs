#![no_main]
//! Pubmed parser (`clinrag_ingest::parse::parse_bytes`) and the chunker on what it emits.

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    common::parse_and_check(data, "fuzz.xml", clinrag_ingest::Format::Pubmed, 16384);
});
