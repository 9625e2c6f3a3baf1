//! Sentence embedders: the [`Embedder`] trait and a candle BERT implementation
//! ([`BertEmbedder`], all-MiniLM-L6-v2 by default) that runs on a dedicated thread.
//!
//! The BERT embedder tokenizes, groups the inputs into batches under a token budget, runs the
//! packed CPU encoder of [`crate::bert_cpu`] (no padding: each input attends to its own tokens),
//! mean-pools each input's token vectors and L2-normalises the result: the same vectors as
//! sentence-transformers' `encode` with `normalize_embeddings=True`. Inputs longer than the
//! model's maximum are truncated (the first tokens are kept) and counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

#[cfg(test)]
use candle_core::Device;
use candle_core::{DType, Tensor};
use tokenizers::Tokenizer;

use crate::bert_cpu::{BertConfig, Encoder};

/// Errors of an embedder.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A file the model folder must hold is missing (the operator's fault: run `clinrag setup`).
    #[error(
        "model folder {dir}: missing {file} (run `clinrag setup` or point to a complete folder)"
    )]
    MissingFile {
        /// Model folder.
        dir: PathBuf,
        /// Missing file name.
        file: String,
    },
    /// A model file does not parse or does not fit the architecture (corrupt or wrong model).
    #[error("model file {path}: {detail}")]
    Corrupt {
        /// Offending file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Tokenization failed for an input.
    #[error("tokenizer: {0}")]
    Tokenize(String),
    /// The encoder forward pass failed (a bug, or out of memory).
    #[error("encoder forward pass: {0}")]
    Forward(String),
    /// The embedding thread is gone (it panicked or was shut down); not retryable.
    #[error("the embedding thread has stopped")]
    Stopped,
    /// A remote embedding service failed.
    #[error("embedding service: {0}")]
    Remote(String),
}

/// Result alias of the embedders.
pub type EmbedResult<T> = std::result::Result<T, EmbedError>;

/// Turns texts into unit-length vectors of a fixed dimension. Calls block the calling thread
/// until the vectors are ready: call them from `spawn_blocking` or a plain thread in async code
/// (or use [`BertEmbedder::embed_async`]).
pub trait Embedder: Send + Sync {
    /// Stable name of the model (stored next to the vectors to detect a change of model).
    fn name(&self) -> &str;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// One unit-length vector per text, in input order.
    fn embed(&self, texts: &[String]) -> EmbedResult<Vec<Vec<f32>>>;
    /// Texts cut at the model's maximum length since the embedder was made (their first
    /// tokens were embedded); 0 when the embedder does not cut or does not know.
    fn truncated(&self) -> u64 {
        0
    }
}

/// Counters of a [`BertEmbedder`].
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct EmbedStats {
    /// Texts embedded.
    pub texts: u64,
    /// Tokens fed to the encoder (inputs are packed: no padding is computed).
    pub tokens: u64,
    /// Forward passes (batches) run.
    pub batches: u64,
    /// Texts cut at the model's maximum length.
    pub truncated: u64,
}

/// Options of a [`BertEmbedder`].
#[derive(Debug, Clone)]
pub struct BertOptions {
    /// Most texts per forward pass.
    pub batch_size: usize,
    /// Most tokens per forward pass: batches of short texts grow up to `batch_size`, batches
    /// of long texts shrink, so every pass does a similar amount of work (a text longer than
    /// the budget goes alone). 0: no token budget (fixed `batch_size`).
    pub batch_tokens: usize,
    /// Maximum tokens per text (special tokens included); `None` reads
    /// `sentence_bert_config.json` (`max_seq_length`), else the model's position limit.
    pub max_len: Option<usize>,
}

impl Default for BertOptions {
    fn default() -> Self {
        Self {
            batch_size: 256,
            batch_tokens: 4096,
            max_len: None,
        }
    }
}

type Job = (Vec<String>, mpsc::Sender<EmbedResult<Vec<Vec<f32>>>>);

#[derive(Default)]
struct Counters {
    texts: AtomicU64,
    tokens: AtomicU64,
    batches: AtomicU64,
    truncated: AtomicU64,
}

/// A BERT sentence embedder (CPU, f32) owned by one dedicated thread fed by a channel; the
/// thread's matrix products and row passes use rayon's pool.
pub struct BertEmbedder {
    name: String,
    dim: usize,
    max_len: usize,
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for BertEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEmbedder")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .finish()
    }
}

struct Worker {
    model: Encoder,
    tokenizer: Tokenizer,
    max_len: usize,
    batch_size: usize,
    batch_tokens: usize,
    pad_id: u32,
    counters: Arc<Counters>,
}

fn need(dir: &Path, file: &str) -> EmbedResult<PathBuf> {
    let p = dir.join(file);
    if p.is_file() {
        Ok(p)
    } else {
        Err(EmbedError::MissingFile {
            dir: dir.to_path_buf(),
            file: file.to_owned(),
        })
    }
}

fn corrupt(path: &Path, detail: impl std::fmt::Display) -> EmbedError {
    EmbedError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

impl BertEmbedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir` and starts the
    /// embedding thread. The model name is the folder name.
    pub fn load(dir: &Path, opts: BertOptions) -> EmbedResult<Self> {
        let config_path = need(dir, "config.json")?;
        let tok_path = need(dir, "tokenizer.json")?;
        let weights_path = need(dir, "model.safetensors")?;
        let config_text =
            std::fs::read_to_string(&config_path).map_err(|e| corrupt(&config_path, e))?;
        let config: BertConfig =
            serde_json::from_str(&config_text).map_err(|e| corrupt(&config_path, e))?;
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| corrupt(&tok_path, e))?;
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| tokenizer.token_to_id("[PAD]"))
            .unwrap_or(0);
        // Padding and truncation are done here, per batch, not by the tokenizer's settings.
        tokenizer
            .with_truncation(None)
            .map_err(|e| corrupt(&tok_path, e))?;
        tokenizer.with_padding(None);
        let max_len = match opts.max_len {
            Some(n) => n,
            None => {
                let st = dir.join("sentence_bert_config.json");
                std::fs::read_to_string(&st)
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .and_then(|v| v.get("max_seq_length").and_then(|m| m.as_u64()))
                    .and_then(|m| usize::try_from(m).ok())
                    .unwrap_or(config.max_position_embeddings)
            }
        }
        .min(config.max_position_embeddings)
        .max(2);
        let bytes = std::fs::read(&weights_path).map_err(|e| corrupt(&weights_path, e))?;
        let model = Encoder::load(&config, &bytes).map_err(|e| corrupt(&weights_path, e))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bert".into());
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            model,
            tokenizer,
            max_len,
            batch_size: opts.batch_size.max(1),
            batch_tokens: opts.batch_tokens,
            pad_id,
            counters: counters.clone(),
        };
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("clinrag-embed".into())
            .spawn(move || {
                while let Ok((texts, reply)) = rx.recv() {
                    // The caller may have gone; nothing to do then.
                    let _ = reply.send(worker.embed(&texts));
                }
            })
            .map_err(|e| EmbedError::Forward(format!("cannot start the embedding thread: {e}")))?;
        Ok(Self {
            name,
            dim: config.hidden_size,
            max_len,
            tx,
            counters,
        })
    }

    /// Maximum tokens per text (special tokens included).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Counters since load.
    pub fn stats(&self) -> EmbedStats {
        let c = &self.counters;
        EmbedStats {
            texts: c.texts.load(Ordering::Relaxed),
            tokens: c.tokens.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
        }
    }

    fn submit(
        &self,
        texts: Vec<String>,
    ) -> EmbedResult<mpsc::Receiver<EmbedResult<Vec<Vec<f32>>>>> {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .send((texts, rtx))
            .map_err(|_| EmbedError::Stopped)?;
        Ok(rrx)
    }

    /// [`Embedder::embed`] for async callers: waits for the embedding thread without blocking
    /// an async worker.
    pub async fn embed_async(&self, texts: Vec<String>) -> EmbedResult<Vec<Vec<f32>>> {
        let rx = self.submit(texts)?;
        tokio::task::spawn_blocking(move || rx.recv().map_err(|_| EmbedError::Stopped)?)
            .await
            .map_err(|_| EmbedError::Stopped)?
    }
}

impl Embedder for BertEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[String]) -> EmbedResult<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let rx = self.submit(texts.to_vec())?;
        rx.recv().map_err(|_| EmbedError::Stopped)?
    }

    fn truncated(&self) -> u64 {
        self.counters.truncated.load(Ordering::Relaxed)
    }
}

impl Worker {
    /// Token ids of one text, cut to `max_len` keeping the closing special token.
    fn tokenize(&self, text: &str) -> EmbedResult<(Vec<u32>, bool)> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let mut ids = enc.get_ids().to_vec();
        if ids.is_empty() {
            // A tokenizer without special tokens gives nothing for an empty text: embed a pad.
            ids.push(self.pad_id);
        }
        let truncated = ids.len() > self.max_len;
        if truncated {
            let special_last = enc.get_special_tokens_mask().last() == Some(&1);
            let last = ids.last().copied().unwrap_or(self.pad_id);
            if special_last {
                ids.truncate(self.max_len - 1);
                ids.push(last);
            } else {
                ids.truncate(self.max_len);
            }
        }
        Ok((ids, truncated))
    }

    fn embed(&self, texts: &[String]) -> EmbedResult<Vec<Vec<f32>>> {
        let mut toks = Vec::with_capacity(texts.len());
        for t in texts {
            let (ids, cut) = self.tokenize(t)?;
            if cut {
                self.counters.truncated.fetch_add(1, Ordering::Relaxed);
            }
            toks.push(ids);
        }
        // Longest first: the texts of a batch have similar lengths, so the attention of each
        // batch is evenly spread over the threads.
        let mut order: Vec<usize> = (0..toks.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(toks[i].len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); toks.len()];
        let mut rest = order.as_slice();
        while !rest.is_empty() {
            let mut n = 0;
            let mut tokens = 0;
            while n < rest.len() && n < self.batch_size {
                let len = toks[rest[n]].len();
                if n > 0 && self.batch_tokens > 0 && tokens + len > self.batch_tokens {
                    break;
                }
                tokens += len;
                n += 1;
            }
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| toks[i].as_slice()).collect();
            let vecs = self.model.embed(&seqs).map_err(EmbedError::Forward)?;
            self.counters
                .tokens
                .fetch_add(tokens as u64, Ordering::Relaxed);
            self.counters.batches.fetch_add(1, Ordering::Relaxed);
            for (&i, v) in batch.iter().zip(vecs) {
                out[i] = v;
            }
        }
        self.counters
            .texts
            .fetch_add(texts.len() as u64, Ordering::Relaxed);
        Ok(out)
    }
}

/// Mean of the token vectors of `hidden` (`[n, len, dim]`) where `mask` (`[n, len]`, 0/1) is
/// set, then scaled to unit length: `[n, dim]`.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&m)?.sum(1)?;
    let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norm = mean
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norm)
}

/// Cosine similarity of two vectors (dot product over the norms; 0 for a zero vector).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_masked_tokens_and_normalises() {
        let dev = Device::Cpu;
        // One sequence of two real tokens and one pad with a huge value that must not count.
        let h =
            Tensor::from_vec(vec![1.0f32, 0.0, 3.0, 4.0, 1000.0, 1000.0], (1, 3, 2), &dev).unwrap();
        let m = Tensor::from_vec(vec![1u32, 1, 0], (1, 3), &dev).unwrap();
        let v = mean_pool(&h, &m).unwrap().to_vec2::<f32>().unwrap();
        // mean = (2, 2) -> unit = (0.7071, 0.7071)
        assert!((v[0][0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!((v[0][1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
