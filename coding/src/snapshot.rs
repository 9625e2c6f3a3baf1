//! The versioned on-disk snapshot of the ICD-10-CM coder's index, so that a process starts
//! without parsing the tabular XML: magic, format version, source key, payload length and
//! CRC-32 header, then a postcard payload; written atomically (temporary file + rename).
//! The source key is a checksum of the source files and of the index-time word lists, so a
//! new tabular, a new `hp.obo` or a changed scorer vocabulary rebuilds the index.

use std::path::Path;

use crate::icd::{Index, IndexRef};

/// Where the snapshot lives under a clinrag home.
pub const ICD_SNAPSHOT_PATH: &str = "coding/icd10cm.bin";
const MAGIC: &[u8; 8] = b"CRAGICD\n";
/// Bump on any change of the index types (`View`, `Node`, `Leaf`, `LayTerms`) or of how words
/// are normalised (2: `clinrag_kg::tokenize` reads look-alike, fullwidth and invisible
/// characters).
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 4;

/// Why a snapshot was not used or not written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Missing or unreadable file.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Another format version, another source key, or damaged bytes.
    #[error("{0}")]
    Stale(String),
}

/// A checksum of the files (a missing file counts as empty) and of `config`; `None` when a
/// file exists but cannot be read.
pub(crate) fn source_key(files: &[&Path], config: &str) -> Option<u64> {
    let mut h = crc32fast::Hasher::new();
    let mut total: u64 = 0;
    for f in files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(_) => return None,
        };
        total = total.wrapping_mul(31).wrapping_add(bytes.len() as u64);
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.update(config.as_bytes());
    Some((u64::from(h.finalize()) << 32) ^ total)
}

/// Encodes the index with its header.
pub(crate) fn to_bytes(index: &IndexRef<'_>, key: u64) -> Result<Vec<u8>, SnapshotError> {
    let payload = postcard::to_allocvec(index)
        .map_err(|e| SnapshotError::Stale(format!("cannot encode the coder index: {e}")))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&key.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The little-endian `u32` at byte `at` of a file header (0 past the end: the caller's length
/// checks then refuse the file).
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The little-endian `u64` at byte `at`, as [`u32_at`].
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Decodes snapshot bytes made for `key`.
pub(crate) fn from_bytes(bytes: &[u8], key: u64) -> Result<Index, SnapshotError> {
    let stale = |m: &str| Err(SnapshotError::Stale(m.to_string()));
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return stale("not a coder snapshot (bad magic)");
    }
    let u32_at = |at| u32_at(bytes, at);
    let u64_at = |at| u64_at(bytes, at);
    if u32_at(8) != FORMAT_VERSION {
        return stale("another snapshot format version");
    }
    if u64_at(12) != key {
        return stale("made from other source files");
    }
    let len = u64_at(20) as usize;
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != len {
        return stale("truncated");
    }
    if crc32fast::hash(payload) != u32_at(28) {
        return stale("checksum mismatch");
    }
    postcard::from_bytes(payload).map_err(|e| SnapshotError::Stale(format!("cannot decode: {e}")))
}

/// Reads the snapshot at `path` if it was made for `key`.
pub(crate) fn read(path: &Path, key: u64) -> Result<Index, SnapshotError> {
    let bytes = std::fs::read(path)?;
    from_bytes(&bytes, key)
}

/// Writes the snapshot atomically (temporary file in the same folder, then rename).
pub(crate) fn write(path: &Path, key: u64, index: &IndexRef<'_>) -> Result<(), SnapshotError> {
    let bytes = to_bytes(index, key)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    clinrag_kg::snapshot::write_atomic(path, &bytes, &format!("{stem}.tmp"))?;
    Ok(())
}
