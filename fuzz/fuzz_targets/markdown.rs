#![no_main]
//! Markdown and plain-text parsers (`clinrag_ingest::parse::parse_bytes`) and the chunker on
//! what they emit.

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    common::parse_and_check(data, "fuzz.md", clinrag_ingest::Format::Markdown, 1 << 20);
    common::parse_and_check(data, "fuzz.txt", clinrag_ingest::Format::Text, 1 << 20);
});
