//! The BERT embedder loaded through its real loader from a random-weight tiny model the test
//! writes (safetensors, config.json, tokenizer.json); pooling, padding, truncation and bad model
//! folders. With `CLINRAG_TEST_DATA` (a home folder with models/all-minilm-l6-v2) and
//! `CLINRAG_TEST_ST_REF` (JSON from tests/fixtures/st_reference.py) it also checks the real
//! model against sentence-transformers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::{BertModel, Config};
use clinrag_retrieval::embed::{BertEmbedder, BertOptions, EmbedError, Embedder, cosine};

const WORDS: [&str; 12] = [
    "the", "patient", "has", "fever", "and", "cough", "heart", "failure", "drug", "dose", "renal",
    "liver",
];

fn config_json() -> serde_json::Value {
    serde_json::json!({
        "vocab_size": 4 + WORDS.len(),
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "model_type": "bert"
    })
}

fn tokenizer_json() -> serde_json::Value {
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .iter()
        .chain(WORDS.iter())
        .enumerate()
    {
        vocab.insert((*t).to_string(), serde_json::json!(i));
    }
    serde_json::json!({
        "version": "1.0",
        "truncation": {"max_length": 3, "strategy": "LongestFirst", "stride": 0},
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    })
}

/// Writes a random-weight tiny BERT model folder.
fn write_tiny_model(dir: &Path) {
    write_model(dir, &config_json());
}

/// Writes a random-weight BERT model folder of the given configuration.
fn write_model(dir: &Path, cfg: &serde_json::Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json().to_string()).unwrap();
    let mut cfg = cfg.clone();
    if cfg["hidden_act"] == "gelu_new" {
        cfg["hidden_act"] = serde_json::json!("geluapproximate");
    }
    let config: Config = serde_json::from_value(cfg).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    BertModel::load(vb, &config).unwrap();
    varmap.save(dir.join("model.safetensors")).unwrap();
}

fn tiny(dir: &Path, max_len: Option<usize>) -> BertEmbedder {
    BertEmbedder::load(
        dir,
        BertOptions {
            batch_size: 2,
            max_len,
            ..Default::default()
        },
    )
    .unwrap()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn tiny_model_gives_unit_vectors_independent_of_batching() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny-bert");
    write_tiny_model(&dir);
    let e = tiny(&dir, None);
    assert_eq!(e.dim(), 16);
    assert_eq!(e.name(), "tiny-bert");
    assert_eq!(
        e.max_len(),
        64,
        "no sentence_bert_config.json: the position limit"
    );
    let texts: Vec<String> = [
        "the patient has fever and cough",
        "heart failure",
        "drug dose renal liver the patient has fever",
        "cough",
        "liver",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let all = e.embed(&texts).unwrap();
    assert_eq!(all.len(), texts.len());
    for v in &all {
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "norm {n}");
    }
    // Each text alone gives the same vector as inside a packed, sorted batch.
    for (t, v) in texts.iter().zip(&all) {
        let alone = e.embed(std::slice::from_ref(t)).unwrap();
        assert!(close(&alone[0], v, 1e-5), "{t}");
    }
    // Different texts give different vectors.
    assert!(cosine(&all[0], &all[1]) < 0.9999);
    let st = e.stats();
    assert_eq!(st.texts, 10);
    assert_eq!(st.truncated, 0);
    assert_eq!(
        st.batches,
        3 + 5,
        "batches of two for the five, then one per text"
    );
    assert!(e.embed(&[]).unwrap().is_empty());
    // A token budget changes the batches (short texts together, long ones alone), never the
    // vectors; a budget below one text still makes progress.
    for budget in [1usize, 12, 1000] {
        let b = BertEmbedder::load(
            &dir,
            BertOptions {
                batch_size: 4,
                batch_tokens: budget,
                max_len: None,
            },
        )
        .unwrap();
        let v = b.embed(&texts).unwrap();
        for ((t, x), y) in texts.iter().zip(&v).zip(&all) {
            assert!(close(x, y, 1e-5), "budget {budget}: {t}");
        }
        let st = b.stats();
        if budget == 1 {
            assert_eq!(st.batches, 5, "a budget below one text: one text per pass");
        }
    }
}

/// candle's general `BertModel` on a padded, masked batch, mean-pooled under the mask: the
/// reference the packed encoder must reproduce.
fn reference_vectors(
    dir: &Path,
    mut config: serde_json::Value,
    seqs: &[Vec<u32>],
) -> Vec<Vec<f32>> {
    // candle spells Hugging Face's tanh-approximated GELU its own way.
    if config["hidden_act"] == "gelu_new" {
        config["hidden_act"] = serde_json::json!("geluapproximate");
    }
    let config: Config = serde_json::from_value(config).unwrap();
    let vb = VarBuilder::from_buffered_safetensors(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let model = BertModel::load(vb, &config).unwrap();
    let len = seqs.iter().map(Vec::len).max().unwrap();
    let mut ids = Vec::new();
    let mut mask = Vec::new();
    for s in seqs {
        ids.extend(s.iter().copied().chain(std::iter::repeat(0u32)).take(len));
        mask.extend((0..len).map(|i| u32::from(i < s.len())));
    }
    let ids = Tensor::from_vec(ids, (seqs.len(), len), &Device::Cpu).unwrap();
    let mask = Tensor::from_vec(mask, (seqs.len(), len), &Device::Cpu).unwrap();
    let h = model
        .forward(&ids, &ids.zeros_like().unwrap(), Some(&mask))
        .unwrap();
    clinrag_retrieval::embed::mean_pool(&h, &mask)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap()
}

#[test]
fn packed_encoder_matches_candle_bert_on_padded_batches() {
    let texts: Vec<String> = [
        "heart failure and cough",
        "the patient has fever and cough the drug dose renal liver heart",
        "liver",
        "drug dose renal",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Ids as the tiny tokenizer gives them: [CLS] words [SEP].
    let seqs: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| {
            let mut v = vec![2u32];
            v.extend(
                t.split(' ')
                    .map(|w| 4 + WORDS.iter().position(|x| *x == w).unwrap() as u32),
            );
            v.push(3);
            v
        })
        .collect();
    // The default shape, a wider one with more heads, and the other activations.
    let variants = [
        serde_json::json!({}),
        serde_json::json!({"hidden_size": 48, "num_attention_heads": 4, "intermediate_size": 96, "num_hidden_layers": 3}),
        serde_json::json!({"hidden_act": "gelu_new"}),
        serde_json::json!({"hidden_act": "relu"}),
    ];
    for (i, v) in variants.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(format!("m{i}"));
        let mut cfg = config_json();
        for (k, x) in v.as_object().unwrap() {
            cfg[k] = x.clone();
        }
        write_model(&dir, &cfg);
        let e = tiny(&dir, None);
        let got = e.embed(&texts).unwrap();
        let want = reference_vectors(&dir, cfg.clone(), &seqs);
        for ((t, g), w) in texts.iter().zip(&got).zip(&want) {
            assert!(
                cosine(g, w) > 0.99999 && close(g, w, 2e-5),
                "variant {v}: {t}: {g:?} vs {w:?}"
            );
        }
    }
}

#[test]
fn long_inputs_are_truncated_keeping_the_first_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    write_tiny_model(&dir);
    // max 4 tokens: [CLS] w1 w2 [SEP]
    let e = tiny(&dir, Some(4));
    let long = e
        .embed(&["heart failure and cough the drug".to_string()])
        .unwrap();
    let short = e.embed(&["heart failure".to_string()]).unwrap();
    assert!(close(&long[0], &short[0], 1e-5));
    assert_eq!(e.stats().truncated, 1);
    assert_eq!(
        Embedder::truncated(&e),
        1,
        "the trait reports the same count"
    );
    // sentence_bert_config.json sets the default maximum.
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 5}"#,
    )
    .unwrap();
    assert_eq!(tiny(&dir, None).max_len(), 5);
}

#[test]
fn bad_model_folders_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    write_tiny_model(&dir);
    let load = |d: &Path| BertEmbedder::load(d, BertOptions::default());

    let missing = tmp.path().join("missing");
    std::fs::create_dir_all(&missing).unwrap();
    std::fs::copy(dir.join("config.json"), missing.join("config.json")).unwrap();
    std::fs::copy(
        dir.join("model.safetensors"),
        missing.join("model.safetensors"),
    )
    .unwrap();
    match load(&missing) {
        Err(EmbedError::MissingFile { file, .. }) => assert_eq!(file, "tokenizer.json"),
        other => panic!("expected MissingFile, got {other:?}"),
    }

    let corrupt_weights = tmp.path().join("cw");
    std::fs::create_dir_all(&corrupt_weights).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(dir.join(f), corrupt_weights.join(f)).unwrap();
    }
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(
        corrupt_weights.join("model.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    match load(&corrupt_weights) {
        Err(EmbedError::Corrupt { path, .. }) => assert!(path.ends_with("model.safetensors")),
        other => panic!("expected Corrupt weights, got {other:?}"),
    }

    // Weights of another shape (hidden 16 vs a config saying 32).
    let wrong = tmp.path().join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    for f in ["tokenizer.json", "model.safetensors"] {
        std::fs::copy(dir.join(f), wrong.join(f)).unwrap();
    }
    let mut cfg = config_json();
    cfg["hidden_size"] = serde_json::json!(32);
    std::fs::write(wrong.join("config.json"), cfg.to_string()).unwrap();
    assert!(matches!(load(&wrong), Err(EmbedError::Corrupt { .. })));

    std::fs::write(wrong.join("config.json"), "{not json").unwrap();
    match load(&wrong) {
        Err(EmbedError::Corrupt { path, .. }) => assert!(path.ends_with("config.json")),
        other => panic!("expected Corrupt config, got {other:?}"),
    }
    std::fs::write(dir.join("tokenizer.json"), "[]").unwrap();
    assert!(matches!(load(&dir), Err(EmbedError::Corrupt { .. })));
}

/// The real all-MiniLM-L6-v2 against sentence-transformers' vectors (gated).
#[test]
fn real_model_matches_sentence_transformers() {
    let (Ok(home), Ok(reference)) = (
        std::env::var("CLINRAG_TEST_DATA"),
        std::env::var("CLINRAG_TEST_ST_REF"),
    ) else {
        eprintln!(
            "skipped: set CLINRAG_TEST_DATA and CLINRAG_TEST_ST_REF to compare with sentence-transformers"
        );
        return;
    };
    let dir = Path::new(&home).join("models/all-minilm-l6-v2");
    let e = BertEmbedder::load(&dir, BertOptions::default()).unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    let texts: Vec<String> = r["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let want: Vec<Vec<f32>> = serde_json::from_value(r["embeddings"].clone()).unwrap();
    let got = e.embed(&texts).unwrap();
    for ((t, g), w) in texts.iter().zip(&got).zip(&want) {
        let c = cosine(g, w);
        eprintln!("cosine {c:.6} for {:.40}", t);
        assert!(c > 0.999, "cosine {c} for {t}");
    }
}
