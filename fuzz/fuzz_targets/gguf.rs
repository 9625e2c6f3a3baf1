#![no_main]
//! GGUF header reader (`clinrag_llm_runtime::fuzzing::check_gguf_header`): header, metadata,
//! tensor extents, the GGUF vocabulary and the embedded chat template, from bytes in memory.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ctx) = clinrag_llm_runtime::fuzzing::check_gguf_header(data) {
        assert!(ctx > 0, "a checked header with a zero context length");
    }
});
