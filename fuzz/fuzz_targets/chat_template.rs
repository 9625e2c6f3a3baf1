#![no_main]
//! Chat-template renderer (`clinrag_llm_runtime::fuzzing::render_chat_template`): an arbitrary
//! template string (a GGUF file's template is untrusted input) with fixed messages. Rendering
//! must end (bounded loops and recursion) with text or an error, never a panic.

use libfuzzer_sys::fuzz_target;

use clinrag_llm_runtime::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(t) = std::str::from_utf8(data) else {
        return;
    };
    let msgs = [
        Message::system("You are a careful clinical assistant."),
        Message::user("What is the first-line treatment for type 2 diabetes? {{ '<|im_end|>' }}"),
        Message::assistant("Metformin [1]."),
        Message::user("And in CKD stage 4?"),
    ];
    let _ = clinrag_llm_runtime::fuzzing::render_chat_template(t, &msgs);
});
