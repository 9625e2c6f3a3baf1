//! Safetensors Llama checkpoints (config.json + tokenizer.json + *.safetensors) through
//! `candle_transformers::models::llama`, with tensor names and shapes validated first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama::{Cache, Config, Llama, LlamaConfig, LlamaEosToks};

use super::{Loaded, Network};
use crate::error::{LlmError, Result};
use crate::template::{ChatTemplate, TemplateSource};
use crate::tokenizer::TextTokenizer;

struct SafetensorsNet {
    model: Llama,
    config: Config,
    cache: Cache,
    device: Device,
    dtype: DType,
}

impl Network for SafetensorsNet {
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>> {
        if pos == 0 {
            self.reset();
        }
        let x = Tensor::new(tokens, &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(LlmError::compute)?;
        let logits = self
            .model
            .forward(&x, pos, &mut self.cache)
            .map_err(LlmError::compute)?;
        logits
            .squeeze(0)
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(LlmError::compute)
    }

    fn reset(&mut self) {
        // A Cache has no reset: build a fresh one (cannot fail for a config that loaded once).
        if let Ok(c) = Cache::new(true, self.dtype, &self.config, &self.device) {
            self.cache = c;
        }
    }

    fn context_length(&self) -> usize {
        self.config.max_position_embeddings
    }
}

fn expected_shapes(c: &Config) -> Vec<(String, Vec<usize>)> {
    let (h, i, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
    let hd = h / c.num_attention_heads;
    let (q, kv) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
    let mut out = vec![
        ("model.embed_tokens.weight".to_string(), vec![v, h]),
        ("model.norm.weight".to_string(), vec![h]),
    ];
    if !c.tie_word_embeddings {
        out.push(("lm_head.weight".into(), vec![v, h]));
    }
    for l in 0..c.num_hidden_layers {
        let p = format!("model.layers.{l}");
        out.extend([
            (format!("{p}.self_attn.q_proj.weight"), vec![q, h]),
            (format!("{p}.self_attn.k_proj.weight"), vec![kv, h]),
            (format!("{p}.self_attn.v_proj.weight"), vec![kv, h]),
            (format!("{p}.self_attn.o_proj.weight"), vec![h, q]),
            (format!("{p}.mlp.gate_proj.weight"), vec![i, h]),
            (format!("{p}.mlp.up_proj.weight"), vec![i, h]),
            (format!("{p}.mlp.down_proj.weight"), vec![h, i]),
            (format!("{p}.input_layernorm.weight"), vec![h]),
            (format!("{p}.post_attention_layernorm.weight"), vec![h]),
        ]);
    }
    out
}

fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| LlmError::ModelIo {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    Ok(files)
}

/// Loads a safetensors Llama from a directory.
pub(super) fn load(dir: &Path, device: &Device) -> Result<Loaded> {
    let fmt = |path: &Path, reason: String| LlmError::ModelFormat {
        path: path.to_path_buf(),
        reason,
    };
    let cfg_path = dir.join("config.json");
    let cfg_text = std::fs::read_to_string(&cfg_path).map_err(|source| LlmError::ModelIo {
        path: cfg_path.clone(),
        source,
    })?;
    let raw: serde_json::Value =
        serde_json::from_str(&cfg_text).map_err(|e| fmt(&cfg_path, format!("not JSON: {e}")))?;
    let arch_ok = raw["model_type"].as_str().is_none_or(|t| t == "llama")
        && raw["architectures"]
            .as_array()
            .is_none_or(|a| a.iter().any(|x| x == "LlamaForCausalLM"));
    if !arch_ok {
        let arch = raw["model_type"].as_str().unwrap_or("unknown").to_string();
        return Err(LlmError::UnsupportedArchitecture {
            path: cfg_path,
            arch,
        });
    }
    let lc: LlamaConfig = serde_json::from_value(raw)
        .map_err(|e| fmt(&cfg_path, format!("bad llama config: {e}")))?;
    let config = lc.into_config(false);
    if config.num_attention_heads == 0
        || config.num_key_value_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        || !config
            .num_attention_heads
            .is_multiple_of(config.num_key_value_heads)
    {
        return Err(fmt(&cfg_path, "inconsistent head counts".into()));
    }
    let files = safetensors_files(dir)?;
    if files.is_empty() {
        return Err(fmt(
            dir,
            "no .safetensors file in the model directory".into(),
        ));
    }
    let dtype = DType::F32;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for f in &files {
        let t = candle_core::safetensors::load(f, device)
            .map_err(|e| fmt(f, format!("cannot read safetensors: {e}")))?;
        tensors.extend(t);
    }
    for (name, shape) in expected_shapes(&config) {
        match tensors.get(&name) {
            None => return Err(fmt(dir, format!("missing tensor {name}"))),
            Some(t) if t.dims() != shape.as_slice() => {
                return Err(fmt(
                    dir,
                    format!("tensor {name} has shape {:?}, expected {shape:?}", t.dims()),
                ));
            }
            Some(_) => {}
        }
    }
    let vb = VarBuilder::from_tensors(tensors, dtype, device);
    let model = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Llama::load(vb, &config)))
        .map_err(|_| fmt(dir, "the loader panicked on this checkpoint".into()))?
        .map_err(|e| fmt(dir, format!("cannot build the model: {e}")))?;
    let cache = Cache::new(true, dtype, &config, device).map_err(LlmError::compute)?;
    let eos: Vec<u32> = match &config.eos_token_id {
        Some(LlamaEosToks::Single(e)) => vec![*e],
        Some(LlamaEosToks::Multiple(v)) => v.clone(),
        None => Vec::new(),
    };
    let tok_path = dir.join("tokenizer.json");
    let tok_cfg: serde_json::Value = std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let add_bos = tok_cfg["add_bos_token"].as_bool().unwrap_or(false);
    let tokenizer = TextTokenizer::from_file(&tok_path, config.bos_token_id, &eos, add_bos)?;
    let template_src = match &tok_cfg["chat_template"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => list
            .iter()
            .find(|t| t["name"] == "default")
            .and_then(|t| t["template"].as_str())
            .map(str::to_string),
        _ => None,
    };
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
    Ok(Loaded {
        net: Box::new(SafetensorsNet {
            model,
            config,
            cache,
            device: device.clone(),
            dtype,
        }),
        tokenizer,
        template,
        backend: "candle-safetensors",
    })
}
