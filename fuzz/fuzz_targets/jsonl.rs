#![no_main]
//! Jsonl parser (`clinrag_ingest::parse::parse_bytes`) and the chunker on what it emits.

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    common::parse_and_check(data, "fuzz.jsonl", clinrag_ingest::Format::Jsonl, 16384);
});
