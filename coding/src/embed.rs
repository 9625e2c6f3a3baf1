//! Embedding similarity as a candidate signal of the ICD-10-CM coder: the [`TextEmbedder`]
//! seam (the binary adapts clinrag-retrieval's MiniLM embedder to it; tests use a
//! deterministic one), the index of code texts (billable leaf titles, inclusion terms, the
//! base titles of 7th-character codes, ancestors' inclusion terms) as int8 unit vectors, an
//! exact cosine scan, and its versioned snapshot `coding/icd10cm.vec` under the home (magic,
//! format version, source key, CRC-32; written atomically, stale temporaries removed).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Turns texts into unit-length vectors of a fixed dimension (the coder's view of a sentence
/// embedder, so that this crate does not depend on a model runtime).
pub trait TextEmbedder: Send + Sync {
    /// Stable name of the model (part of the index's key: another model rebuilds it).
    fn name(&self) -> &str;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// One unit-length vector per text, in input order; the error says what failed.
    fn embed(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, String>;
}

/// Where the code-text vectors live under a clinrag home.
pub const VEC_SNAPSHOT_PATH: &str = "coding/icd10cm.vec";
const MAGIC: &[u8; 8] = b"CRAGVEC\n";
/// Bump on any change of the file layout.
pub const VEC_FORMAT_VERSION: u32 = 1;
/// Bump when the choice of indexed texts changes (part of the source key).
pub(crate) const TEXTS_VERSION: &str = "texts-1";
const HEADER_LEN: usize = 8 + 4 + 8 + 4 + 8 + 8 + 4;

/// How [`crate::IcdCoder::attach_embedder`] got its vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorSource {
    /// Read from the snapshot (`coding/icd10cm.vec`).
    Snapshot,
    /// Embedded now and written to the snapshot.
    BuiltAndSaved,
    /// Embedded now; the snapshot could not be written (the reason).
    BuiltNotSaved(String),
}

#[derive(Serialize, Deserialize)]
struct Meta {
    model: String,
    codes: Vec<String>,
    texts: Vec<String>,
}

/// The code-text vectors: one row per indexed text, the code (node) it stands for, int8
/// components with a per-row scale.
#[derive(Debug, Clone)]
pub(crate) struct CodeVectors {
    pub(crate) model: String,
    pub(crate) dim: usize,
    /// The code of each row.
    pub(crate) codes: Vec<String>,
    /// The text of each row.
    pub(crate) texts: Vec<String>,
    scales: Vec<f32>,
    data: Vec<i8>,
}

/// Int8 components of a vector and the factor that turns them back into floats.
fn quantise(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max <= 0.0 || !max.is_finite() {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    let q = v
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

impl CodeVectors {
    /// Embeds `texts` (each standing for `codes[i]`) in batches.
    pub(crate) fn build(
        embedder: &dyn TextEmbedder,
        texts: &[String],
        codes: Vec<String>,
    ) -> std::result::Result<Self, String> {
        let dim = embedder.dim();
        if dim == 0 {
            return Err(format!("embedder {} has dimension 0", embedder.name()));
        }
        let mut scales = Vec::with_capacity(texts.len());
        let mut data = Vec::with_capacity(texts.len() * dim);
        for chunk in texts.chunks(1024) {
            let vs = embedder.embed(chunk)?;
            if vs.len() != chunk.len() {
                return Err(format!(
                    "embedder {} returned {} vectors for {} texts",
                    embedder.name(),
                    vs.len(),
                    chunk.len()
                ));
            }
            for v in vs {
                if v.len() != dim {
                    return Err(format!(
                        "embedder {} returned a vector of dimension {} (expected {dim})",
                        embedder.name(),
                        v.len()
                    ));
                }
                let (q, s) = quantise(&v);
                data.extend(q);
                scales.push(s);
            }
        }
        Ok(CodeVectors {
            model: embedder.name().to_string(),
            dim,
            codes,
            texts: texts.to_vec(),
            scales,
            data,
        })
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.scales.len()
    }

    /// The `k` rows most similar to the unit vector `q` with cosine at least `floor`, best first.
    pub(crate) fn search(&self, q: &[f32], k: usize, floor: f32) -> Vec<(usize, f32)> {
        if q.len() != self.dim || k == 0 {
            return Vec::new();
        }
        let (qq, qs) = quantise(q);
        let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
        for (row, (v, s)) in self
            .data
            .chunks_exact(self.dim)
            .zip(&self.scales)
            .enumerate()
        {
            let sim = dot_i8(&qq, v) as f32 * qs * s;
            if sim < floor || (best.len() == k && best.last().is_some_and(|b| sim <= b.1)) {
                continue;
            }
            let at = best.partition_point(|b| b.1 >= sim);
            best.insert(at, (row, sim));
            best.truncate(k);
        }
        best
    }

    /// The file bytes for `key`.
    pub(crate) fn to_bytes(&self, key: u64) -> std::result::Result<Vec<u8>, String> {
        let meta = postcard::to_allocvec(&Meta {
            model: self.model.clone(),
            codes: self.codes.clone(),
            texts: self.texts.clone(),
        })
        .map_err(|e| format!("cannot encode the code-vector index: {e}"))?;
        let mut body = Vec::with_capacity(meta.len() + self.scales.len() * 4 + self.data.len());
        body.extend_from_slice(&meta);
        for s in &self.scales {
            body.extend_from_slice(&s.to_le_bytes());
        }
        body.extend(self.data.iter().map(|x| x.to_le_bytes()[0]));
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VEC_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.scales.len() as u64).to_le_bytes());
        out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes file bytes made for `key`; the error says why they are not usable.
    pub(crate) fn from_bytes(bytes: &[u8], key: u64) -> std::result::Result<Self, String> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err("not a code-vector index (bad magic)".into());
        }
        let u32_at = |at| crate::snapshot::u32_at(bytes, at);
        let u64_at = |at| crate::snapshot::u64_at(bytes, at);
        if u32_at(8) != VEC_FORMAT_VERSION {
            return Err("another format version".into());
        }
        if u64_at(12) != key {
            return Err("made from other source files or another embedder".into());
        }
        let dim = u32_at(20) as usize;
        let rows = u64_at(24) as usize;
        let meta_len = u64_at(32) as usize;
        let body = &bytes[HEADER_LEN..];
        if crc32fast::hash(body) != u32_at(40) {
            return Err("checksum mismatch".into());
        }
        let want = rows
            .checked_mul(dim)
            .and_then(|d| d.checked_add(rows.checked_mul(4)?))
            .and_then(|d| d.checked_add(meta_len));
        if dim == 0 || want != Some(body.len()) {
            return Err("truncated or inconsistent sizes".into());
        }
        let meta: Meta = postcard::from_bytes(&body[..meta_len])
            .map_err(|e| format!("cannot decode the code list: {e}"))?;
        if meta.codes.len() != rows || meta.texts.len() != rows {
            return Err("code list and vectors disagree".into());
        }
        let scales = body[meta_len..meta_len + rows * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let data = body[meta_len + rows * 4..]
            .iter()
            .map(|b| i8::from_le_bytes([*b]))
            .collect();
        Ok(CodeVectors {
            model: meta.model,
            dim,
            codes: meta.codes,
            texts: meta.texts,
            scales,
            data,
        })
    }

    /// Writes the index atomically (temporary file in the same folder, then rename), removing
    /// temporaries that killed writers left behind.
    pub(crate) fn write(&self, path: &Path, key: u64) -> std::result::Result<(), String> {
        let bytes = self.to_bytes(key)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        clinrag_kg::snapshot::write_atomic(path, &bytes, &format!("{name}.tmp"))
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn sample() -> CodeVectors {
        let rows = [
            unit(&[1.0, 0.0, 0.0]),
            unit(&[0.7, 0.7, 0.0]),
            unit(&[0.0, 0.0, 1.0]),
        ];
        let mut v = CodeVectors {
            model: "m".into(),
            dim: 3,
            codes: vec!["A".into(), "B".into(), "C".into()],
            texts: vec!["a".into(), "b".into(), "c".into()],
            scales: Vec::new(),
            data: Vec::new(),
        };
        for r in rows {
            let (q, s) = quantise(&r);
            v.data.extend(q);
            v.scales.push(s);
        }
        v
    }

    #[test]
    fn search_ranks_by_cosine_and_respects_the_floor() {
        let v = sample();
        let hits = v.search(&unit(&[1.0, 0.1, 0.0]), 2, 0.5);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![0, 1]);
        assert!((hits[0].1 - 0.995).abs() < 0.02, "{hits:?}");
        assert!(v.search(&unit(&[0.0, -1.0, 0.0]), 3, 0.1).is_empty());
        assert!(v.search(&[1.0, 0.0], 3, 0.0).is_empty(), "wrong dimension");
    }

    #[test]
    fn bytes_round_trip_and_damage_is_refused() {
        let v = sample();
        let b = v.to_bytes(7).unwrap();
        let back = CodeVectors::from_bytes(&b, 7).unwrap();
        assert_eq!(back.codes, v.codes);
        assert_eq!(back.data, v.data);
        assert_eq!(back.scales, v.scales);
        assert!(CodeVectors::from_bytes(&b, 8).is_err(), "other key");
        let mut bad = b.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(CodeVectors::from_bytes(&bad, 7).is_err(), "damaged");
        assert!(
            CodeVectors::from_bytes(&b[..b.len() - 2], 7).is_err(),
            "cut"
        );
        assert!(CodeVectors::from_bytes(b"short", 7).is_err());
    }
}
