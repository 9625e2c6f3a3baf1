//! Quantized GGUF llama-architecture models through `candle_transformers::models::quantized_llama`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::{MAX_SEQ_LEN, ModelWeights};

use super::{Loaded, Network, Requantize};
use crate::error::{LlmError, Result};
use crate::template::{ChatTemplate, TemplateSource};
use crate::tokenizer::TextTokenizer;

struct GgufNet {
    weights: ModelWeights,
    device: Device,
    context: usize,
}

impl Network for GgufNet {
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>> {
        let x = Tensor::new(tokens, &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(LlmError::compute)?;
        let logits = self.weights.forward(&x, pos).map_err(LlmError::compute)?;
        logits
            .squeeze(0)
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(LlmError::compute)
    }

    fn reset(&mut self) {
        self.weights.clear_kv_cache();
    }

    fn context_length(&self) -> usize {
        self.context
    }
}

fn md_u64(md: &HashMap<String, gguf_file::Value>, key: &str) -> Option<u64> {
    let v = md.get(key)?;
    v.to_u64().ok().or_else(|| v.to_u32().ok().map(u64::from))
}

/// Quantization types that candle 0.11 multiplies with scalar code on x86 (no SIMD kernel).
fn slow_on_cpu(t: GgmlDType) -> bool {
    matches!(t, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

/// Rewrites the model in memory with slow-kernel tensors converted to `target` (a type with AVX kernels).
fn requantized<R: Read + Seek>(
    content: gguf_file::Content,
    reader: &mut R,
    target: GgmlDType,
) -> candle_core::Result<Cursor<Vec<u8>>> {
    let cpu = Device::Cpu;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let t = content.tensor(reader, name, &cpu)?;
        let t = if slow_on_cpu(t.dtype()) && t.shape().dims().last().is_some_and(|d| d % 32 == 0) {
            QTensor::quantize(&t.dequantize(&cpu)?, target)?
        } else {
            t
        };
        tensors.push((name.clone(), t));
    }
    let md: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut buf = Cursor::new(Vec::new());
    gguf_file::write(&mut buf, &md, &refs)?;
    buf.set_position(0);
    Ok(buf)
}

/// Whether the metadata sets `general.alignment` to zero. candle 0.11 divides by it without a
/// check (a panic), so the metadata is walked here first; any other problem is left to candle,
/// which reports it. Reads at most the file once, through `reader`'s buffer.
fn zero_alignment<R: Read + Seek>(reader: &mut R) -> std::io::Result<bool> {
    let start = reader.stream_position()?;
    let found = scan_alignment(reader).unwrap_or(false);
    reader.seek(SeekFrom::Start(start))?;
    Ok(found)
}

fn scan_alignment<R: Read>(r: &mut R) -> std::io::Result<bool> {
    fn u32_of<R: Read>(r: &mut R) -> std::io::Result<u32> {
        let mut b = [0u8; 4];
        r.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn len_of<R: Read>(r: &mut R, wide: bool) -> std::io::Result<u64> {
        if wide {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            Ok(u64::from_le_bytes(b))
        } else {
            u32_of(r).map(u64::from)
        }
    }
    fn skip<R: Read>(r: &mut R, n: u64) -> std::io::Result<()> {
        if std::io::copy(&mut r.by_ref().take(n), &mut std::io::sink())? < n {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
    fn bad() -> std::io::Error {
        std::io::ErrorKind::InvalidData.into()
    }
    /// Bytes of one value of a fixed-size GGUF type.
    fn fixed(ty: u32) -> Option<u64> {
        match ty {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        }
    }
    fn skip_value<R: Read>(r: &mut R, ty: u32, wide: bool, depth: u8) -> std::io::Result<()> {
        if let Some(n) = fixed(ty) {
            return skip(r, n);
        }
        match ty {
            8 => {
                let n = len_of(r, wide)?;
                skip(r, n)
            }
            9 if depth < 4 => {
                let elem = u32_of(r)?;
                let n = len_of(r, wide)?;
                if let Some(size) = fixed(elem) {
                    return skip(r, n.checked_mul(size).ok_or_else(bad)?);
                }
                for _ in 0..n {
                    skip_value(r, elem, wide, depth + 1)?;
                }
                Ok(())
            }
            _ => Err(bad()),
        }
    }
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)?;
    if &magic != b"GGUF" {
        return Ok(false);
    }
    let wide = u32_of(r)? >= 2;
    let _tensors = len_of(r, wide)?;
    let kvs = len_of(r, wide)?;
    let mut zero = false;
    for _ in 0..kvs {
        let key_len = len_of(r, wide)?;
        let is_alignment = if key_len == 17 {
            let mut key = [0u8; 17];
            r.read_exact(&mut key)?;
            &key == b"general.alignment"
        } else {
            skip(r, key_len)?;
            false
        };
        let ty = u32_of(r)?;
        if !is_alignment {
            skip_value(r, ty, wide, 0)?;
            continue;
        }
        // The types candle reads the alignment from (others fall back to 32); the last wins.
        let mut b = [0u8; 4];
        let value = match ty {
            0 | 1 => r.read_exact(&mut b[..1]).map(|()| u32::from(b[0]))?,
            2 | 3 => r
                .read_exact(&mut b[..2])
                .map(|()| u32::from(u16::from_le_bytes([b[0], b[1]])))?,
            4 | 5 => u32_of(r)?,
            _ => {
                skip_value(r, ty, wide, 0)?;
                continue;
            }
        };
        zero = value == 0;
    }
    Ok(zero)
}

/// What [`read_header`] checked: everything but the tensor data.
pub(crate) struct Header {
    pub(crate) content: gguf_file::Content,
    pub(crate) context: usize,
    pub(crate) tokenizer: TextTokenizer,
    pub(crate) template: ChatTemplate,
}

/// Reads and checks a GGUF header from `reader` (`file_len` bytes long, named `path` in errors):
/// the architecture, the metadata the model needs, every tensor's extent, the tokenizer
/// (`tokenizer_json` when given, else the GGUF vocabulary) and the chat template.
pub(crate) fn read_header<R: Read + Seek>(
    reader: &mut R,
    file_len: u64,
    path: &Path,
    tokenizer_json: Option<&Path>,
) -> Result<Header> {
    let fmt = |reason: String| LlmError::ModelFormat {
        path: path.to_path_buf(),
        reason,
    };
    if zero_alignment(reader).map_err(|e| fmt(format!("cannot read: {e}")))? {
        return Err(fmt("metadata general.alignment is 0".into()));
    }
    let content = gguf_file::Content::read(reader)
        .map_err(|e| fmt(format!("not a readable GGUF file: {e}")))?;
    let md = &content.metadata;
    let arch = md
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_else(|| "<missing>".into());
    if arch != "llama" {
        return Err(LlmError::UnsupportedArchitecture {
            path: path.to_path_buf(),
            arch,
        });
    }
    for key in [
        "llama.attention.head_count",
        "llama.attention.head_count_kv",
        "llama.block_count",
        "llama.embedding_length",
        "llama.rope.dimension_count",
    ] {
        if md_u64(md, key).is_none_or(|v| v == 0) {
            return Err(fmt(format!("metadata {key} is missing or zero")));
        }
    }
    if md
        .get("llama.attention.layer_norm_rms_epsilon")
        .and_then(|v| v.to_f32().ok())
        .is_none()
    {
        return Err(fmt(
            "metadata llama.attention.layer_norm_rms_epsilon is missing".into(),
        ));
    }
    for (name, info) in &content.tensor_infos {
        // Checked: the dimensions come from the file, and their product can overflow.
        let elems = info
            .shape
            .dims()
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        let block = info.ggml_dtype.block_size().max(1);
        let bytes = elems.and_then(|n| {
            u64::try_from(n / block)
                .ok()?
                .checked_mul(info.ggml_dtype.type_size() as u64)
        });
        let (Some(elems), Some(bytes)) = (elems, bytes) else {
            return Err(fmt(format!(
                "tensor {name} has more elements than can be addressed"
            )));
        };
        let end = content
            .tensor_data_offset
            .saturating_add(info.offset)
            .saturating_add(bytes);
        if elems % block != 0 || end > file_len {
            return Err(fmt(format!(
                "tensor {name} extends past the end of the file (truncated?)"
            )));
        }
    }
    let ctx_len = md_u64(md, "llama.context_length").unwrap_or(MAX_SEQ_LEN as u64) as usize;
    let context = ctx_len.min(MAX_SEQ_LEN);
    let tokenizer = if let Some(tokenizer_json) = tokenizer_json {
        let bos = md_u64(md, "tokenizer.ggml.bos_token_id").map(|v| v as u32);
        let eos: Vec<u32> = md_u64(md, "tokenizer.ggml.eos_token_id")
            .map(|v| v as u32)
            .into_iter()
            .collect();
        TextTokenizer::from_file(tokenizer_json, bos, &eos, false)?
    } else {
        TextTokenizer::from_gguf_metadata(md)?
    };
    let template_src = md
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
        .cloned();
    let fallback = if tokenizer.token_id("<|start_header_id|>").is_some() {
        TemplateSource::Llama3
    } else {
        TemplateSource::ChatMl
    };
    let template = ChatTemplate::new(
        template_src,
        fallback,
        tokenizer.bos_text(),
        tokenizer.eos_text(),
    )?;
    Ok(Header {
        content,
        context,
        tokenizer,
        template,
    })
}

/// Reads a GGUF file: checks the header, the architecture and every tensor's extent before loading.
pub(super) fn load(path: &Path, device: &Device, requantize: Requantize) -> Result<Loaded> {
    let fmt = |reason: String| LlmError::ModelFormat {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|source| LlmError::ModelIo {
        path: path.to_path_buf(),
        source,
    })?;
    let file_len = file
        .metadata()
        .map_err(|source| LlmError::ModelIo {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let mut reader = BufReader::new(file);
    let tokenizer_json = path.with_file_name("tokenizer.json");
    let Header {
        content,
        context,
        tokenizer,
        template,
    } = read_header(
        &mut reader,
        file_len,
        path,
        tokenizer_json.is_file().then_some(tokenizer_json.as_path()),
    )?;
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|source| LlmError::ModelIo {
            path: path.to_path_buf(),
            source,
        })?;
    let target = match requantize {
        Requantize::Off => None,
        Requantize::Q8_0 => Some(GgmlDType::Q8_0),
        Requantize::Q4_0 => Some(GgmlDType::Q4_0),
    };
    let requant = target.filter(|_| {
        device.is_cpu()
            && content
                .tensor_infos
                .values()
                .any(|i| slow_on_cpu(i.ggml_dtype))
    });
    // candle asserts in places; a malformed file must not take the process down.
    let weights = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Some(target) = requant {
            let mut buf = requantized(content, &mut reader, target)?;
            let content = gguf_file::Content::read(&mut buf)?;
            ModelWeights::from_gguf(content, &mut buf, device)
        } else {
            ModelWeights::from_gguf(content, &mut reader, device)
        }
    }))
    .map_err(|_| fmt("the loader panicked on this file".into()))?
    .map_err(|e| fmt(format!("cannot load tensors: {e}")))?;
    if let Some(t) = requant {
        tracing::info!("converted Q4_1/Q5 tensors to {t:?} for the CPU kernels");
    }
    Ok(Loaded {
        net: Box::new(GgufNet {
            weights,
            device: device.clone(),
            context,
        }),
        tokenizer,
        template,
        backend: "candle-gguf",
    })
}
