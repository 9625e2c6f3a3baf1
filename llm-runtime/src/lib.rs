//! Chat models for clinrag: a local candle runtime for Llama-family models (GGUF and
//! safetensors, CPU and CUDA) and an OpenAI-compatible server backend, behind one [`ChatModel`] trait.
//!
//! Both backends stream tokens, take the same sampling parameters, and support constrained
//! output: [`ChatModel::choose`] (one of a fixed set of strings) and [`ChatModel::generate_json`]
//! (JSON matching a schema subset).

pub mod bench;
mod constrain;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod local;
mod model;
mod openai;
mod sampling;
mod template;
mod tokenizer;
mod types;

pub use constrain::JsonGrammar;
pub use error::{LlmError, Result};
pub use local::{DeviceKind, LocalConfig, LocalModel, Requantize};
pub use model::{BoxFuture, ChatModel, TokenStream, collect, collect_with};
pub use openai::{OpenAiConfig, OpenAiModel};
pub use types::{
    CancelToken, ChatRequest, Completion, FinishReason, Message, ModelInfo, Role, SamplingParams,
    StreamEvent, Timings, Usage,
};
