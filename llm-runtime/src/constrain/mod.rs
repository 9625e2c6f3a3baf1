//! Constrained decoding: a token trie for "choose one of these strings" and a byte-level JSON
//! automaton for "produce JSON matching this schema"; both decide which tokens may come next.

pub(crate) mod json;
pub(crate) mod trie;

pub use json::JsonGrammar;
