//! Tokenizer: built from the GGUF vocabulary and merges or loaded from tokenizer.json, with the raw
//! bytes of every token (for incremental detokenization and constrained decoding).

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use crate::error::{LlmError, Result};

/// The Llama 3 pre-tokenizer split pattern (as in llama.cpp's `llama-bpe`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token strings that end a turn in the chat formats we know.
const END_OF_TURN: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "</s>",
];

/// A tokenizer plus the byte sequence of each token id.
pub struct TextTokenizer {
    inner: Tokenizer,
    pieces: Vec<Vec<u8>>,
    special: Vec<bool>,
    bos: Option<u32>,
    stop_ids: Vec<u32>,
    add_bos: bool,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab", &self.pieces.len())
            .field("bos", &self.bos)
            .field("stop_ids", &self.stop_ids)
            .finish()
    }
}

fn tok_err(e: impl std::fmt::Display) -> LlmError {
    LlmError::Tokenizer(e.to_string())
}

fn md_strings(md: &HashMap<String, gguf_file::Value>, key: &str) -> Result<Option<Vec<String>>> {
    let Some(v) = md.get(key) else {
        return Ok(None);
    };
    let arr = v.to_vec().map_err(|e| tok_err(format!("{key}: {e}")))?;
    arr.iter()
        .map(|x| {
            x.to_string()
                .cloned()
                .map_err(|e| tok_err(format!("{key}: {e}")))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn md_u32(md: &HashMap<String, gguf_file::Value>, key: &str) -> Option<u32> {
    let v = md.get(key)?;
    v.to_u32()
        .ok()
        .or_else(|| v.to_i32().ok().and_then(|x| u32::try_from(x).ok()))
}

/// GPT-2's byte <-> printable-char table, inverted: char -> byte.
fn byte_level_inverse() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut n = 0u32;
    for b in 0u32..256 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            n += 1;
            255 + n
        };
        if let Some(ch) = char::from_u32(c) {
            map.insert(ch, b as u8);
        }
    }
    map
}

/// Raw bytes of a byte-level BPE token string.
fn byte_level_bytes(inv: &HashMap<char, u8>, token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    for ch in token.chars() {
        match inv.get(&ch) {
            Some(b) => out.push(*b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

/// Raw bytes of a SentencePiece-style token (`▁` for space, `<0xNN>` byte tokens).
fn sentencepiece_bytes(token: &str) -> Vec<u8> {
    if token.len() == 6
        && token.starts_with("<0x")
        && token.ends_with('>')
        && let Ok(b) = u8::from_str_radix(&token[3..5], 16)
    {
        return vec![b];
    }
    token.replace('\u{2581}', " ").into_bytes()
}

impl TextTokenizer {
    /// Rebuilds a byte-level BPE tokenizer from GGUF metadata (`tokenizer.ggml.*`).
    pub fn from_gguf_metadata(md: &HashMap<String, gguf_file::Value>) -> Result<Self> {
        let model = md
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if model != "gpt2" {
            return Err(LlmError::Tokenizer(format!(
                "GGUF tokenizer model {model:?} cannot be rebuilt (only byte-level BPE \"gpt2\"); put a tokenizer.json beside the model"
            )));
        }
        let tokens = md_strings(md, "tokenizer.ggml.tokens")?
            .ok_or_else(|| tok_err("GGUF metadata lacks tokenizer.ggml.tokens"))?;
        let merges = md_strings(md, "tokenizer.ggml.merges")?.unwrap_or_default();
        let types: Vec<i64> = match md.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(tok_err)?
                .iter()
                .map(|x| {
                    x.to_i32()
                        .map(i64::from)
                        .or_else(|_| x.to_u32().map(i64::from))
                        .unwrap_or(1)
                })
                .collect(),
            None => vec![1; tokens.len()],
        };
        let vocab: ahash::AHashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let merges: Vec<(String, String)> = merges
            .iter()
            .enumerate()
            .map(|(i, m)| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| {
                        tok_err(format!("tokenizer.ggml.merges[{i}] has no space: {m:?}"))
                    })
            })
            .collect::<Result<_>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(tok_err)?;
        let mut inner = Tokenizer::new(bpe);
        let pre = md
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let byte_level = ByteLevel::new(false, true, true);
        let pre_tok: PreTokenizerWrapper = match pre.as_str() {
            "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into(),
            "llama-bpe" | "llama3" | "smaug-bpe" => {
                let split = Split::new(
                    SplitPattern::Regex(LLAMA3_SPLIT.into()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(tok_err)?;
                Sequence::new(vec![
                    split.into(),
                    ByteLevel::new(false, true, false).into(),
                ])
                .into()
            }
            _ => byte_level.into(),
        };
        inner.with_pre_tokenizer(Some(pre_tok));
        inner.with_decoder(Some(ByteLevel::default()));
        // Control (3) and user-defined (4) tokens are matched before BPE, as whole tokens.
        let specials: Vec<AddedToken> = tokens
            .iter()
            .zip(types.iter().chain(std::iter::repeat(&1)))
            .filter(|(_, t)| **t == 3 || **t == 4)
            .map(|(tok, _)| AddedToken::from(tok.clone(), true))
            .collect();
        inner.add_special_tokens(specials).map_err(tok_err)?;
        let inv = byte_level_inverse();
        let pieces = tokens.iter().map(|t| byte_level_bytes(&inv, t)).collect();
        let special = tokens
            .iter()
            .zip(types.iter().chain(std::iter::repeat(&1)))
            .map(|(_, t)| *t == 3)
            .collect();
        let bos = md_u32(md, "tokenizer.ggml.bos_token_id");
        let mut stop_ids: Vec<u32> = [
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
        ]
        .iter()
        .filter_map(|k| md_u32(md, k))
        .collect();
        let add_bos = md
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        let mut tt = Self {
            inner,
            pieces,
            special,
            bos,
            stop_ids: Vec::new(),
            add_bos,
        };
        stop_ids.extend(END_OF_TURN.iter().filter_map(|t| tt.inner.token_to_id(t)));
        stop_ids.sort_unstable();
        stop_ids.dedup();
        tt.stop_ids = stop_ids;
        Ok(tt)
    }

    /// Loads tokenizer.json; `bos`/`eos` come from the model's config.json.
    pub fn from_file(path: &Path, bos: Option<u32>, eos: &[u32], add_bos: bool) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LlmError::Tokenizer(format!("cannot read {}: {e}", path.display())))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| LlmError::Tokenizer(format!("{}: not JSON: {e}", path.display())))?;
        let inner = Tokenizer::from_file(path)
            .map_err(|e| LlmError::Tokenizer(format!("{}: {e}", path.display())))?;
        let byte_level = json["decoder"].to_string().contains("\"ByteLevel\"")
            || json["pre_tokenizer"].to_string().contains("\"ByteLevel\"");
        let n = inner.get_vocab_size(true);
        let vocab = inner.get_vocab(true);
        let mut names: Vec<String> = vec![String::new(); n];
        for (tok, id) in vocab {
            if let Some(slot) = names.get_mut(id as usize) {
                *slot = tok;
            }
        }
        let added = inner.get_added_tokens_decoder();
        let inv = byte_level_inverse();
        let mut pieces = Vec::with_capacity(n);
        let mut special = Vec::with_capacity(n);
        for (id, name) in names.iter().enumerate() {
            match added.get(&(id as u32)) {
                Some(a) => {
                    pieces.push(a.content.as_bytes().to_vec());
                    special.push(a.special);
                }
                None => {
                    pieces.push(if byte_level {
                        byte_level_bytes(&inv, name)
                    } else {
                        sentencepiece_bytes(name)
                    });
                    special.push(false);
                }
            }
        }
        let mut tt = Self {
            inner,
            pieces,
            special,
            bos,
            stop_ids: eos.to_vec(),
            add_bos,
        };
        let extra: Vec<u32> = END_OF_TURN
            .iter()
            .filter_map(|t| tt.inner.token_to_id(t))
            .collect();
        tt.stop_ids.extend(extra);
        tt.stop_ids.sort_unstable();
        tt.stop_ids.dedup();
        Ok(tt)
    }

    /// Encodes text; special-token strings in it become their special ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(tok_err)?;
        let mut ids = enc.get_ids().to_vec();
        if self.add_bos
            && let Some(b) = self.bos
            && ids.first() != Some(&b)
        {
            ids.insert(0, b);
        }
        Ok(ids)
    }

    /// Encodes a fragment that continues a prompt (no BOS).
    pub fn encode_fragment(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(tok_err)?
            .get_ids()
            .to_vec())
    }

    /// The raw bytes of token `id` (empty for unknown ids).
    pub fn piece(&self, id: u32) -> &[u8] {
        self.pieces
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether `id` is a control token that never appears as text.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// Ids that end generation (EOS, end-of-turn).
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// The id of a token string, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The BOS token text (for chat templates).
    pub fn bos_text(&self) -> String {
        self.bos
            .and_then(|b| self.inner.id_to_token(b))
            .unwrap_or_default()
    }

    /// The first stop token's text (for chat templates).
    pub fn eos_text(&self) -> String {
        self.stop_ids
            .first()
            .and_then(|&e| self.inner.id_to_token(e))
            .unwrap_or_default()
    }
}

/// Turns a token stream into text, holding back incomplete UTF-8 sequences until they complete.
#[derive(Debug, Default)]
pub struct Detokenizer {
    buf: Vec<u8>,
}

impl Detokenizer {
    /// Adds a token; returns the text that became complete (possibly empty).
    pub fn push(&mut self, tok: &TextTokenizer, id: u32) -> String {
        if tok.is_special(id) {
            return String::new();
        }
        self.push_bytes(tok.piece(id))
    }

    /// Adds raw bytes; returns the text that became complete.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> String {
        self.buf.extend_from_slice(bytes);
        self.drain(false)
    }

    /// Flushes what is left; an incomplete sequence becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        self.drain(true)
    }

    fn drain(&mut self, flush: bool) -> String {
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.buf) {
                Ok(s) => {
                    out.push_str(s);
                    self.buf.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.buf[..valid]));
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.buf.drain(..valid + bad);
                        }
                        None => {
                            self.buf.drain(..valid);
                            if flush {
                                out.push('\u{FFFD}');
                                self.buf.clear();
                            }
                            return out;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_is_a_bijection() {
        let inv = byte_level_inverse();
        assert_eq!(inv.len(), 256);
        let bytes: std::collections::BTreeSet<u8> = inv.values().copied().collect();
        assert_eq!(bytes.len(), 256);
        assert_eq!(byte_level_bytes(&inv, "\u{120}hello"), b" hello");
        assert_eq!(byte_level_bytes(&inv, "\u{10A}"), b"\n");
    }

    #[test]
    fn detokenizer_holds_back_split_characters_and_replaces_invalid_bytes() {
        // (input chunks, expected outputs per push, expected flush)
        type Case<'a> = (Vec<&'a [u8]>, Vec<&'a str>, &'a str);
        let cases: Vec<Case> = vec![
            (vec![b"ab", b"c"], vec!["ab", "c"], ""),
            // U+00E9 (C3 A9) split across two tokens
            (vec![b"caf\xC3", b"\xA9!"], vec!["caf", "\u{e9}!"], ""),
            // 4-byte emoji in three pieces
            (
                vec![b"\xF0\x9F", b"\x98", b"\x80"],
                vec!["", "", "\u{1F600}"],
                "",
            ),
            // invalid continuation byte: replaced, text goes on
            (vec![b"a\xFFb"], vec!["a\u{FFFD}b"], ""),
            // dangling lead byte at the end
            (vec![b"x\xE2\x82"], vec!["x"], "\u{FFFD}"),
        ];
        for (chunks, outs, flush) in cases {
            let mut d = Detokenizer::default();
            let got: Vec<String> = chunks.iter().map(|c| d.push_bytes(c)).collect();
            assert_eq!(got, outs);
            assert_eq!(d.finish(), flush);
        }
    }

    #[test]
    fn sentencepiece_pieces() {
        assert_eq!(sentencepiece_bytes("\u{2581}the"), b" the");
        assert_eq!(sentencepiece_bytes("<0x0A>"), b"\n");
        assert_eq!(sentencepiece_bytes("<0xZZ>"), b"<0xZZ>");
    }
}
