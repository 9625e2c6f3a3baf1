//! Bad model files: typed errors, never a panic.

use clinrag_llm_runtime::{
    ChatModel, ChatRequest, LlmError, LocalConfig, LocalModel, Message, SamplingParams,
};

use crate::fixtures::{self, GgufOptions};

fn load(path: &std::path::Path) -> Result<LocalModel, LlmError> {
    LocalModel::load(
        path,
        &LocalConfig {
            threads: Some(1),
            ..LocalConfig::default()
        },
    )
}

#[test]
fn broken_gguf_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = fixtures::write_gguf(
        dir.path(),
        3,
        &GgufOptions {
            quantize: true,
            ..GgufOptions::default()
        },
    );
    let bytes = std::fs::read(&good).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text.gguf", b"this is not a model".to_vec()),
        ("empty.gguf", Vec::new()),
        ("header-only.gguf", bytes[..64].to_vec()),
        ("half.gguf", bytes[..bytes.len() / 2].to_vec()),
        ("last-byte-missing.gguf", bytes[..bytes.len() - 40].to_vec()),
    ];
    for (name, data) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        match load(&p) {
            Err(LlmError::ModelFormat { path, reason }) => {
                assert_eq!(path, p);
                assert!(!reason.is_empty());
            }
            other => panic!("{name}: expected ModelFormat, got {other:?}"),
        }
    }
    assert!(matches!(
        load(&dir.path().join("missing.gguf")),
        Err(LlmError::ModelIo { .. })
    ));
}

/// A GGUF v3 file by hand: metadata `(key, value type, value bytes)` and tensor infos
/// `(name, dims, ggml type, offset)`, without tensor data.
fn gguf_bytes(kvs: &[(&str, u32, Vec<u8>)], tensors: &[(&str, &[u64], u32, u64)]) -> Vec<u8> {
    let s = |x: &str| [&(x.len() as u64).to_le_bytes()[..], x.as_bytes()].concat();
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((kvs.len() as u64).to_le_bytes());
    for (k, ty, v) in kvs {
        b.extend(s(k));
        b.extend(ty.to_le_bytes());
        b.extend(v);
    }
    for (name, dims, ty, off) in tensors {
        b.extend(s(name));
        b.extend((dims.len() as u32).to_le_bytes());
        for d in *dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(ty.to_le_bytes());
        b.extend(off.to_le_bytes());
    }
    b
}

/// Headers the `gguf` fuzz target found panicking in candle's reader or in the extent check.
#[test]
fn fuzzed_gguf_headers_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let u32v = |v: u32| (4u32, v.to_le_bytes().to_vec());
    let string = |v: &str| {
        (
            8u32,
            [&(v.len() as u64).to_le_bytes()[..], v.as_bytes()].concat(),
        )
    };
    let llama = |extra: Vec<(&'static str, (u32, Vec<u8>))>| {
        let mut kv = vec![
            ("general.architecture", string("llama")),
            ("llama.attention.head_count", u32v(1)),
            ("llama.attention.head_count_kv", u32v(1)),
            ("llama.block_count", u32v(1)),
            ("llama.embedding_length", u32v(4)),
            ("llama.rope.dimension_count", u32v(4)),
            (
                "llama.attention.layer_norm_rms_epsilon",
                (6, 1e-5f32.to_le_bytes().to_vec()),
            ),
        ];
        kv.extend(extra);
        kv.into_iter()
            .map(|(k, (t, v))| (k, t, v))
            .collect::<Vec<_>>()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            // candle divides by the alignment: a zero panicked ("attempt to divide by zero").
            "zero-alignment.gguf",
            gguf_bytes(&llama(vec![("general.alignment", u32v(0))]), &[]),
            "general.alignment is 0",
        ),
        (
            // The element count of a tensor overflowed usize (a panic with overflow checks,
            // a wrapped, too small extent without).
            "huge-tensor.gguf",
            gguf_bytes(
                &llama(vec![]),
                &[("token_embd.weight", &[1 << 32, 1 << 32, 2], 0, 0)],
            ),
            "more elements than can be addressed",
        ),
        (
            "huge-bytes.gguf",
            gguf_bytes(
                &llama(vec![]),
                &[("token_embd.weight", &[1 << 62, 2], 0, 0)],
            ),
            "more elements than can be addressed",
        ),
    ];
    for (name, data, want) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        match load(&p) {
            Err(LlmError::ModelFormat { path, reason }) => {
                assert_eq!(path, p);
                assert!(reason.contains(want), "{name}: {reason}");
            }
            other => panic!("{name}: expected ModelFormat, got {other:?}"),
        }
    }
}

#[test]
fn unsupported_architectures_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = fixtures::write_gguf(
        dir.path(),
        3,
        &GgufOptions {
            arch: "gpt2",
            ..GgufOptions::default()
        },
    );
    match load(&p) {
        Err(LlmError::UnsupportedArchitecture { arch, .. }) => assert_eq!(arch, "gpt2"),
        other => panic!("expected UnsupportedArchitecture, got {other:?}"),
    }
    let st = dir.path().join("st");
    std::fs::create_dir(&st).unwrap();
    fixtures::write_safetensors(&st, 3);
    let cfg = std::fs::read_to_string(st.join("config.json"))
        .unwrap()
        .replace("\"llama\"", "\"mistral\"");
    std::fs::write(st.join("config.json"), cfg).unwrap();
    assert!(matches!(
        load(&st),
        Err(LlmError::UnsupportedArchitecture { .. })
    ));
}

#[test]
fn malformed_safetensors_checkpoints_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    // Missing tensor.
    let a = dir.path().join("missing");
    std::fs::create_dir(&a).unwrap();
    fixtures::write_safetensors(&a, 3);
    let mut w: std::collections::HashMap<String, candle_core::Tensor> =
        fixtures::hf_weights(3).into_iter().collect();
    w.remove("model.layers.1.mlp.up_proj.weight");
    candle_core::safetensors::save(&w, a.join("model.safetensors")).unwrap();
    match load(&a) {
        Err(LlmError::ModelFormat { reason, .. }) => {
            assert!(reason.contains("up_proj"), "{reason}")
        }
        other => panic!("expected ModelFormat, got {other:?}"),
    }
    // Wrong shape.
    let b = dir.path().join("shape");
    std::fs::create_dir(&b).unwrap();
    fixtures::write_safetensors(&b, 3);
    let mut w: std::collections::HashMap<String, candle_core::Tensor> =
        fixtures::hf_weights(3).into_iter().collect();
    w.insert(
        "model.norm.weight".into(),
        candle_core::Tensor::zeros(7, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&w, b.join("model.safetensors")).unwrap();
    assert!(matches!(load(&b), Err(LlmError::ModelFormat { .. })));
    // Truncated safetensors file.
    let c = dir.path().join("trunc");
    std::fs::create_dir(&c).unwrap();
    fixtures::write_safetensors(&c, 3);
    let bytes = std::fs::read(c.join("model.safetensors")).unwrap();
    std::fs::write(c.join("model.safetensors"), &bytes[..bytes.len() / 3]).unwrap();
    assert!(matches!(load(&c), Err(LlmError::ModelFormat { .. })));
    // Garbage config.
    std::fs::write(c.join("config.json"), "{").unwrap();
    assert!(matches!(load(&c), Err(LlmError::ModelFormat { .. })));
}

#[test]
fn gguf_without_template_falls_back_to_chatml() {
    let dir = tempfile::tempdir().unwrap();
    let p = fixtures::write_gguf(
        dir.path(),
        3,
        &GgufOptions {
            with_template: false,
            ..GgufOptions::default()
        },
    );
    let m = load(&p).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = rt
        .block_on(m.complete(ChatRequest::new(
            vec![Message::user("hi")],
            SamplingParams::greedy(2),
        )))
        .unwrap();
    // Special tokens are matched whole, before BPE.
    let voc = fixtures::vocab();
    let ids = rt
        .block_on(m.tokenize("<|im_start|>the<|im_end|>"))
        .unwrap();
    assert_eq!(ids.first(), Some(&(voc.bos + 1)));
    assert_eq!(ids.last(), Some(&voc.eos));
    assert!(ids.len() <= 4, "{ids:?}");
    let sub = dir.path().join("t");
    std::fs::create_dir(&sub).unwrap();
    let with_template = fixtures::write_gguf(&sub, 3, &GgufOptions::default());
    let m2 = load(&with_template).unwrap();
    let c2 = rt
        .block_on(m2.complete(ChatRequest::new(
            vec![Message::user("hi")],
            SamplingParams::greedy(2),
        )))
        .unwrap();
    assert_eq!(c.usage.prompt_tokens, c2.usage.prompt_tokens);
    assert_eq!(c.text, c2.text);
}
