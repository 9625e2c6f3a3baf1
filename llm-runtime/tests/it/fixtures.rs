//! A random-weight tiny Llama written by the tests to GGUF and to safetensors + config.json + tokenizer.json.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};

pub const HIDDEN: usize = 64;
pub const HEADS: usize = 4;
pub const KV_HEADS: usize = 2;
pub const LAYERS: usize = 2;
pub const FFN: usize = 128;
pub const CONTEXT: usize = 256;

const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// GPT-2 byte-to-char table.
fn byte_char(b: u8) -> char {
    let mut n = 0u32;
    for x in 0u32..256 {
        let printable =
            (33..=126).contains(&x) || (161..=172).contains(&x) || (174..=255).contains(&x);
        let c = if printable {
            x
        } else {
            n += 1;
            255 + n
        };
        if x == u32::from(b) {
            return char::from_u32(c).unwrap();
        }
    }
    unreachable!()
}

/// Vocabulary: 256 byte tokens, a few merges, then three special tokens.
pub struct Vocab {
    pub tokens: Vec<String>,
    pub merges: Vec<String>,
    pub types: Vec<i32>,
    pub bos: u32,
    pub eos: u32,
}

pub fn vocab() -> Vocab {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    let sp = byte_char(b' ');
    let merges: Vec<(String, String)> = vec![
        ("h".into(), "e".into()),
        (format!("{sp}"), "t".into()),
        (format!("{sp}t"), "he".into()),
        ("E".into(), "1".into()),
        ("E1".into(), "1".into()),
        (".".into(), "9".into()),
        ("i".into(), "n".into()),
        ("o".into(), "n".into()),
        ("1".into(), "0".into()),
    ];
    for (a, b) in &merges {
        tokens.push(format!("{a}{b}"));
    }
    let mut types = vec![1; tokens.len()];
    for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
        tokens.push(s.into());
        types.push(3);
    }
    let n = tokens.len() as u32;
    Vocab {
        merges: merges.iter().map(|(a, b)| format!("{a} {b}")).collect(),
        tokens,
        types,
        bos: n - 3,
        eos: n - 1,
    }
}

/// Deterministic pseudo-random weights (xorshift), scaled.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn tensor(&mut self, shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.next() * scale).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }
}

/// HF-layout weights (names as in `candle_transformers::models::llama`).
pub fn hf_weights(seed: u64) -> Vec<(String, Tensor)> {
    let v = vocab().tokens.len();
    let hd = HIDDEN / HEADS;
    let mut r = Rng(seed.max(1));
    let mut out = vec![
        (
            "model.embed_tokens.weight".to_string(),
            r.tensor(&[v, HIDDEN], 1.0),
        ),
        ("lm_head.weight".to_string(), r.tensor(&[v, HIDDEN], 0.3)),
        (
            "model.norm.weight".to_string(),
            Tensor::ones(HIDDEN, candle_core::DType::F32, &Device::Cpu).unwrap(),
        ),
    ];
    for l in 0..LAYERS {
        let p = format!("model.layers.{l}");
        out.extend([
            (
                format!("{p}.self_attn.q_proj.weight"),
                r.tensor(&[HEADS * hd, HIDDEN], 0.3),
            ),
            (
                format!("{p}.self_attn.k_proj.weight"),
                r.tensor(&[KV_HEADS * hd, HIDDEN], 0.3),
            ),
            (
                format!("{p}.self_attn.v_proj.weight"),
                r.tensor(&[KV_HEADS * hd, HIDDEN], 0.3),
            ),
            (
                format!("{p}.self_attn.o_proj.weight"),
                r.tensor(&[HIDDEN, HEADS * hd], 0.3),
            ),
            (
                format!("{p}.mlp.gate_proj.weight"),
                r.tensor(&[FFN, HIDDEN], 0.3),
            ),
            (
                format!("{p}.mlp.up_proj.weight"),
                r.tensor(&[FFN, HIDDEN], 0.3),
            ),
            (
                format!("{p}.mlp.down_proj.weight"),
                r.tensor(&[HIDDEN, FFN], 0.3),
            ),
            (
                format!("{p}.input_layernorm.weight"),
                r.tensor(&[HIDDEN], 0.1).affine(1.0, 1.0).unwrap(),
            ),
            (
                format!("{p}.post_attention_layernorm.weight"),
                r.tensor(&[HIDDEN], 0.1).affine(1.0, 1.0).unwrap(),
            ),
        ]);
    }
    out
}

/// llama.cpp's q/k row permutation (HF rotate-half layout -> GGUF interleaved layout).
fn permute(w: &Tensor, n_head: usize) -> Tensor {
    let (rows, cols) = w.dims2().unwrap();
    w.reshape((n_head, 2, rows / n_head / 2, cols))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .reshape((rows, cols))
        .unwrap()
}

fn gguf_name(hf: &str) -> String {
    let map = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("lm_head.weight", "output.weight"),
        ("model.norm.weight", "output_norm.weight"),
    ];
    if let Some((_, g)) = map.iter().find(|(h, _)| *h == hf) {
        return g.to_string();
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (l, name) = rest.split_once('.').unwrap();
    let g = match name {
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        other => panic!("unmapped {other}"),
    };
    format!("blk.{l}.{g}")
}

pub struct GgufOptions {
    pub arch: &'static str,
    /// Quantize the 2-D weights to Q8_0 (else F32, numerically equal to safetensors).
    pub quantize: bool,
    pub with_template: bool,
}

impl Default for GgufOptions {
    fn default() -> Self {
        Self {
            arch: "llama",
            quantize: false,
            with_template: true,
        }
    }
}

/// Writes the tiny model as GGUF; returns the file path.
pub fn write_gguf(dir: &Path, seed: u64, opts: &GgufOptions) -> PathBuf {
    use gguf_file::Value as V;
    let voc = vocab();
    let mut md: Vec<(&str, V)> = vec![
        ("general.architecture", V::String(opts.arch.into())),
        ("llama.attention.head_count", V::U32(HEADS as u32)),
        ("llama.attention.head_count_kv", V::U32(KV_HEADS as u32)),
        ("llama.block_count", V::U32(LAYERS as u32)),
        ("llama.embedding_length", V::U32(HIDDEN as u32)),
        ("llama.feed_forward_length", V::U32(FFN as u32)),
        (
            "llama.rope.dimension_count",
            V::U32((HIDDEN / HEADS) as u32),
        ),
        ("llama.attention.layer_norm_rms_epsilon", V::F32(1e-5)),
        ("llama.context_length", V::U32(CONTEXT as u32)),
        ("tokenizer.ggml.model", V::String("gpt2".into())),
        (
            "tokenizer.ggml.tokens",
            V::Array(voc.tokens.iter().map(|t| V::String(t.clone())).collect()),
        ),
        (
            "tokenizer.ggml.merges",
            V::Array(voc.merges.iter().map(|t| V::String(t.clone())).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            V::Array(voc.types.iter().map(|t| V::I32(*t)).collect()),
        ),
        ("tokenizer.ggml.bos_token_id", V::U32(voc.bos)),
        ("tokenizer.ggml.eos_token_id", V::U32(voc.eos)),
    ];
    if opts.with_template {
        md.push(("tokenizer.chat_template", V::String(CHATML.into())));
    }
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for (name, t) in hf_weights(seed) {
        let t = if name.ends_with("q_proj.weight") {
            permute(&t, HEADS)
        } else if name.ends_with("k_proj.weight") {
            permute(&t, KV_HEADS)
        } else {
            t
        };
        let dtype = if opts.quantize && t.rank() == 2 {
            GgmlDType::Q8_0
        } else {
            GgmlDType::F32
        };
        tensors.push((gguf_name(&name), QTensor::quantize(&t, dtype).unwrap()));
    }
    let path = dir.join("tiny.gguf");
    let mut f = std::fs::File::create(&path).unwrap();
    let md_refs: Vec<(&str, &V)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
    path
}

/// Writes config.json, tokenizer.json, tokenizer_config.json and model.safetensors into `dir`.
pub fn write_safetensors(dir: &Path, seed: u64) {
    let voc = vocab();
    let weights: HashMap<String, Tensor> = hf_weights(seed).into_iter().collect();
    candle_core::safetensors::save(&weights, dir.join("model.safetensors")).unwrap();
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": FFN,
        "vocab_size": voc.tokens.len(),
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "bos_token_id": voc.bos,
        "eos_token_id": voc.eos,
        "max_position_embeddings": CONTEXT,
        "tie_word_embeddings": false
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let n_normal = voc.types.iter().filter(|t| **t == 1).count();
    let vocab_map: serde_json::Map<String, serde_json::Value> = voc
        .tokens
        .iter()
        .take(n_normal)
        .enumerate()
        .map(|(i, t)| (t.clone(), serde_json::json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = voc
        .tokens
        .iter()
        .enumerate()
        .skip(n_normal)
        .map(|(i, t)| {
            serde_json::json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tok = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "vocab": vocab_map, "merges": voc.merges}
    });
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        serde_json::json!({"chat_template": CHATML}).to_string(),
    )
    .unwrap();
}
