//! The versioned binary snapshot of the concept graph: magic, format version, payload length
//! and CRC-32 header, postcard payload; written atomically (temporary file + rename).

use std::io::Write;
use std::path::Path;

use petgraph::graph::DiGraph;
use serde::{Deserialize, Serialize};

use crate::error::{KgError, Result};
use crate::graph::{ConceptGraph, Edge, Node};
use crate::report::LoadReport;

/// File magic.
pub const MAGIC: &[u8; 8] = b"CRAGKG\r\n";
/// Format version; bump on any change of the node/edge types.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 4;

#[derive(Serialize)]
struct BodyRef<'a> {
    graph: &'a DiGraph<Node, Edge>,
    reports: &'a [LoadReport],
}

#[derive(Deserialize)]
struct Body {
    graph: DiGraph<Node, Edge>,
    reports: Vec<LoadReport>,
}

fn snap_err(path: &Path, message: impl Into<String>) -> KgError {
    KgError::Snapshot {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Serialises the graph into snapshot bytes.
pub fn to_bytes(g: &ConceptGraph) -> Result<Vec<u8>> {
    let (graph, reports) = g.parts();
    let payload = postcard::to_allocvec(&BodyRef { graph, reports })
        .map_err(|e| snap_err(Path::new("<memory>"), format!("cannot encode: {e}")))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Reads a graph from snapshot bytes; `path` names the source in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<ConceptGraph> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(snap_err(
            path,
            "not a clinrag graph snapshot (bad magic); rebuild it with `clinrag kg build`",
        ));
    }
    let word = |r: std::ops::Range<usize>| bytes.get(r).unwrap_or_default();
    let version = u32::from_le_bytes(
        word(8..12)
            .try_into()
            .map_err(|_| snap_err(path, "short header"))?,
    );
    if version != FORMAT_VERSION {
        return Err(snap_err(
            path,
            format!(
                "format version {version}, this build reads {FORMAT_VERSION}; rebuild it with `clinrag kg build`"
            ),
        ));
    }
    let len = u64::from_le_bytes(
        word(12..20)
            .try_into()
            .map_err(|_| snap_err(path, "short header"))?,
    );
    let crc = u32::from_le_bytes(
        word(20..24)
            .try_into()
            .map_err(|_| snap_err(path, "short header"))?,
    );
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(snap_err(
            path,
            format!(
                "truncated: header says {len} payload bytes, file has {}",
                payload.len()
            ),
        ));
    }
    if crc32fast::hash(payload) != crc {
        return Err(snap_err(
            path,
            "checksum mismatch (corrupt file); rebuild it with `clinrag kg build`",
        ));
    }
    let body: Body =
        postcard::from_bytes(payload).map_err(|e| snap_err(path, format!("cannot decode: {e}")))?;
    Ok(ConceptGraph::from_parts(body.graph, body.reports))
}

/// Writes the snapshot to `path` atomically (a temporary file in the same folder, then rename).
pub fn save(g: &ConceptGraph, path: &Path) -> Result<()> {
    let bytes = to_bytes(g)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "graph.bin".into());
    write_atomic(path, &bytes, &format!(".{name}.tmp")).map_err(|e| KgError::Write {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Replaces `path` with `bytes` so that a reader sees the old file or the new one, never a part:
/// creates the folder, writes `<folder>/<tmp_prefix><pid>`, syncs it and renames it over `path`
/// (removing it on failure). Temporaries of killed writers with the same prefix are removed
/// first ([`remove_stale_temporaries`]). Used by every snapshot and cache writer.
pub fn write_atomic(path: &Path, bytes: &[u8], tmp_prefix: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    remove_stale_temporaries(dir, tmp_prefix);
    let tmp = dir.join(format!("{tmp_prefix}{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes the files named `PREFIX<pid>` in `dir` that writers killed before their rename left
/// behind (each can be as large as the file it was to replace). Only files whose writing process
/// no longer exists are removed (Linux: `/proc/PID`); elsewhere nothing is removed. Used by every
/// writer of the temporary-file-then-rename kind (graph snapshot, linker cache, coding snapshot).
pub fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(prefix)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            tracing::info!(file = %e.path().display(), "removing a temporary file left by a killed writer");
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A key that changes whenever the snapshot's content does (its payload length and CRC-32,
/// read from the header): caches derived from the graph, such as the linker's dictionary, are
/// valid only for the key they were written with.
pub fn fingerprint(path: &Path) -> Result<u64> {
    use std::io::Read;
    let mut header = [0u8; HEADER_LEN];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| KgError::io(path, e))?;
    if &header[..8] != MAGIC {
        return Err(snap_err(path, "not a clinrag graph snapshot (bad magic)"));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[12..20]);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&header[20..24]);
    Ok(u64::from_le_bytes(len).rotate_left(32) ^ u64::from(u32::from_le_bytes(crc)))
}

/// Loads the snapshot at `path`.
pub fn load(path: &Path) -> Result<ConceptGraph> {
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            snap_err(path, "not found; build it with `clinrag kg build`")
        } else {
            KgError::io(path, e)
        }
    })?;
    from_bytes(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Detail, EdgeKind, NodeKind, Vocab};

    #[test]
    fn temporaries_of_dead_writers_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let dead = dir.path().join(format!("linker.tmp{}", gone.id()));
        let live = dir.path().join(format!("linker.tmp{}", std::process::id()));
        let other = dir.path().join(format!("graph.tmp{}", gone.id()));
        let not_a_pid = dir.path().join("linker.tmpold");
        for p in [&dead, &live, &other, &not_a_pid] {
            std::fs::write(p, b"x").unwrap();
        }
        remove_stale_temporaries(dir.path(), "linker.tmp");
        assert!(!dead.exists(), "a dead writer's file is removed");
        assert!(live.exists(), "a live writer's file is kept");
        assert!(other.exists() && not_a_pid.exists(), "other names are kept");
    }

    fn graph() -> ConceptGraph {
        let mut g = ConceptGraph::new();
        let a = g.add_node(Node {
            kind: NodeKind::Concept,
            vocab: Vocab::Hpo,
            code: "0001166".into(),
            label: "Arachnodactyly".into(),
            synonyms: vec!["Spider fingers".into()],
            detail: Detail::Hpo {
                obsolete: false,
                replaced_by: None,
            },
        });
        let b = g.add_node(Node {
            kind: NodeKind::Disease,
            vocab: Vocab::Omim,
            code: "154700".into(),
            label: "Marfan syndrome".into(),
            synonyms: vec![],
            detail: Detail::None,
        });
        let mut e = Edge::new(EdgeKind::HasPhenotype);
        e.frequency = Some(0.9);
        g.add_edge(b, a, e);
        g.add_report(LoadReport::new("hp.obo"));
        g
    }

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kg/graph.bin");
        let g = graph();
        save(&g, &path).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(back.node_count(), 2);
        assert_eq!(back.lookup("HP:0001166").unwrap().len(), 1);
        assert_eq!(back.reports().len(), 1);
        let e = back.graph().edge_weights().next().unwrap();
        assert_eq!(e.frequency, Some(0.9));

        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let err = from_bytes(&bytes, &path).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        let err = from_bytes(&bytes[..bytes.len() - 3], &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
        bytes[8] = 99;
        let err = from_bytes(&bytes, &path).unwrap_err().to_string();
        assert!(err.contains("format version 99"), "{err}");
        let err = load(&dir.path().join("missing.bin"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("clinrag kg build"), "{err}");
    }
}
