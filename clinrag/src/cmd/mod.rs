//! One module per subcommand.

pub mod ask;
pub mod backup;
pub mod bench_llm;
pub mod bench_rare;
pub mod chat;
pub mod code;
pub mod diagnose;
pub mod docs;
pub mod eval;
pub mod eval_qa;
pub mod eval_rare;
pub mod ingest;
pub mod kg;
pub mod link;
pub mod rare;
pub mod search;
pub mod serve;
pub mod setup;
pub mod stats;
pub mod summarize;
pub mod token;
