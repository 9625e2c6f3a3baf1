//! Integration tests of clinrag-llm-runtime: real loaders on a tiny random-weight Llama written
//! by the tests, and the OpenAI backend against a local HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod fixtures;
mod local;
mod openai;
