//! Entry points for the fuzz targets in `fuzz/` (not part of the supported API): the untrusted
//! inputs of this crate reached from bytes, without a model file on disk.

use std::io::Cursor;
use std::path::Path;

use crate::error::Result;
use crate::template::{ChatTemplate, TemplateSource};
use crate::types::Message;

/// Reads and checks a GGUF header held in memory, as [`crate::LocalModel::load`] does before
/// loading tensors: architecture, metadata, tensor extents, the GGUF vocabulary and the chat
/// template. Returns the model's context length.
pub fn check_gguf_header(bytes: &[u8]) -> Result<usize> {
    let mut r = Cursor::new(bytes);
    let h =
        crate::local::gguf::read_header(&mut r, bytes.len() as u64, Path::new("fuzz.gguf"), None)?;
    Ok(h.context)
}

/// Compiles `template` as a model's chat template and renders `messages` with it.
pub fn render_chat_template(template: &str, messages: &[Message]) -> Result<String> {
    ChatTemplate::new(
        Some(template.to_owned()),
        TemplateSource::ChatMl,
        "<s>".into(),
        "</s>".into(),
    )?
    .render(messages, true)
}
