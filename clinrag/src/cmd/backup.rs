//! `clinrag backup DIR` and `clinrag restore DIR`: a consistent snapshot of a home folder taken
//! while ingest or serve may run, and its verified restore.
//!
//! What a backup holds, in this order:
//! - the catalog (the source of truth): one SQLite snapshot through `VACUUM INTO`; with a
//!   PostgreSQL catalog nothing is written for it and the manifest says to use `pg_dump`;
//! - the keyword index as of its last commit: `meta.json` is read first and exactly the segment
//!   files it lists are copied (tantivy never changes a segment file once written; when a
//!   concurrent merge removes one before it is copied, the copy starts again from the new
//!   `meta.json`);
//! - the vector index folder, the concept-graph snapshot (`kg/`) and the coding tables
//!   (`coding/`) as files (the last three are derivable: `ingest --embed`, `kg build`, `setup`);
//! - `manifest.json`: versions, document and chunk counts of the snapshot, and the size and
//!   SHA-256 of every file.
//!
//! Because the catalog is taken before the keyword index, the index may hold documents
//! ingested or removed in between; restore runs `check` and, when they disagree, re-derives
//! the index from the catalog (`check --repair`), so the restored home is always consistent
//! with the catalog snapshot.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Global;
use crate::store::{KEYWORD_DIR, RESTORE_MARKER, VECTOR_DIR};

const FORMAT: &str = "clinrag-backup/1";
const MANIFEST: &str = "manifest.json";
const CATALOG_FILE: &str = "catalog.db";
/// Folders copied as plain files (derivable, see the module doc).
const PLAIN_DIRS: [&str; 3] = [VECTOR_DIR, "kg", "coding"];

/// Arguments of `clinrag backup`.
#[derive(clap::Args)]
pub struct BackupArgs {
    /// Folder to write the backup to (created; must be empty or absent).
    dir: PathBuf,
}

/// Arguments of `clinrag restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// Folder of a backup written by `clinrag backup`.
    dir: PathBuf,
    /// Overwrite the catalog and indexes of a home folder that already has some.
    #[arg(long)]
    force: bool,
}

/// One file of a backup.
#[derive(Serialize, Deserialize, Clone)]
struct FileEntry {
    /// Path relative to the backup (and home) folder, `/`-separated.
    path: String,
    bytes: u64,
    sha256: String,
}

/// `manifest.json`.
#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    clinrag_version: String,
    created_unix_ms: u128,
    catalog_backend: String,
    /// Live documents and their chunks in the catalog snapshot (`None` without one).
    documents: Option<i64>,
    chunks: Option<i64>,
    /// Chunks in the keyword-index snapshot.
    keyword_chunks: u64,
    files: Vec<FileEntry>,
    notes: Vec<String>,
}

/// Runs `clinrag backup DIR`.
pub async fn backup(g: &Global, args: BackupArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    if dir.exists() && !is_empty_dir(dir)? {
        bail!(
            "{} exists and is not empty: back up into a new folder",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // A failed backup (a full disk, a read error) leaves no half folder behind.
    backup_into(g, dir).await.map_err(|e| {
        let removed = std::fs::remove_dir_all(dir).is_ok();
        e.context(format!(
            "backup into {} failed{}",
            dir.display(),
            if removed {
                " (the partial backup was removed)"
            } else {
                ""
            }
        ))
    })
}

async fn backup_into(g: &Global, dir: &Path) -> anyhow::Result<ExitCode> {
    let mut notes = Vec::new();

    // 1. The catalog, one consistent snapshot.
    let catalog = crate::store::catalog(g).await?;
    let backend = catalog.backend_name().to_owned();
    let snap = dir.join(CATALOG_FILE);
    let have_catalog = catalog
        .vacuum_into(&snap)
        .await
        .context("cannot snapshot the catalog (VACUUM INTO)")?;
    catalog.close().await;
    let (documents, chunks) = if have_catalog {
        let c = clinrag_retrieval::Catalog::open(&clinrag_retrieval::Catalog::sqlite_url(dir))
            .await
            .context("cannot open the catalog snapshot")?;
        let s = c.stats().await?;
        c.close().await;
        for f in ["catalog.db-wal", "catalog.db-shm"] {
            let p = dir.join(f);
            if p.exists() && std::fs::metadata(&p)?.len() == 0 {
                std::fs::remove_file(&p)?;
            }
        }
        if dir.join("catalog.db-wal").exists() {
            bail!("the catalog snapshot left a write-ahead log; try again");
        }
        (Some(s.documents), Some(s.chunks))
    } else {
        notes.push(
            "the catalog is on PostgreSQL: back it up with pg_dump (pg_dump -Fc \"$CLINRAG_DATABASE_URL\"); this backup holds the keyword index and derived files only"
                .into(),
        );
        (None, None)
    };

    // 2. The keyword index as of its last commit.
    let mut copied = copy_keyword_index(&g.path(KEYWORD_DIR), &dir.join(KEYWORD_DIR))?;
    let keyword_chunks = {
        let k = clinrag_retrieval::KeywordIndex::open_or_create(&dir.join(KEYWORD_DIR))
            .context("the copied keyword index does not open")?;
        k.stats()?.chunks
    };

    // 3. Derivable folders, as files.
    for d in PLAIN_DIRS {
        let src = g.path(d);
        if src.is_dir() {
            copied.extend(copy_tree(&src, &dir.join(d), d)?);
        }
    }
    if g.path("models").is_dir() {
        notes.push("models/ and vocab/ are not backed up: `clinrag setup` installs them".into());
    }

    // 4. Manifest.
    let mut files = Vec::new();
    if have_catalog {
        files.push(entry(dir, CATALOG_FILE)?);
    }
    for rel in copied {
        files.push(entry(dir, &rel)?);
    }
    let m = Manifest {
        format: FORMAT.into(),
        clinrag_version: env!("CARGO_PKG_VERSION").into(),
        created_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        catalog_backend: backend,
        documents,
        chunks,
        keyword_chunks,
        files,
        notes,
    };
    let tmp = dir.join("manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&m)?)?;
    std::fs::rename(&tmp, dir.join(MANIFEST))?;
    let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
    if g.json {
        println!(
            "{}",
            serde_json::json!({"backup": dir, "documents": m.documents, "chunks": m.chunks,
                "keyword_chunks": m.keyword_chunks, "files": m.files.len(), "bytes": bytes,
                "notes": m.notes})
        );
    } else {
        println!(
            "backup in {}: {} documents, {} chunks ({} in the keyword index), {} files, {:.1} MB",
            dir.display(),
            m.documents.map_or("?".into(), |d| d.to_string()),
            m.chunks.map_or("?".into(), |d| d.to_string()),
            m.keyword_chunks,
            m.files.len(),
            bytes as f64 / 1e6
        );
        for n in &m.notes {
            println!("note: {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `clinrag restore DIR`.
pub async fn restore(g: &Global, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    let mpath = dir.join(MANIFEST);
    let raw = std::fs::read(&mpath)
        .with_context(|| format!("cannot read {}: not a clinrag backup?", mpath.display()))?;
    let m: Manifest = serde_json::from_slice(&raw)
        .with_context(|| format!("{} is not a valid backup manifest", mpath.display()))?;
    if m.format != FORMAT {
        bail!(
            "{}: backup format {:?}, this build reads {FORMAT}",
            mpath.display(),
            m.format
        );
    }
    if m.documents.is_none() || !m.files.iter().any(|f| f.path == CATALOG_FILE) {
        bail!(
            "this backup has no catalog (it was taken from a PostgreSQL catalog): restore the database with pg_restore, then run `clinrag check --repair`"
        );
    }
    if g.database_url.is_some() {
        bail!(
            "restore writes an SQLite catalog into the home folder; unset CLINRAG_DATABASE_URL (--database-url) to restore"
        );
    }
    // Verify every file before touching the home folder.
    for f in &m.files {
        let rel = safe_rel(&f.path)?;
        let p = dir.join(&rel);
        let (bytes, sha) = hash_file(&p)
            .with_context(|| format!("backup file {} is missing or unreadable", p.display()))?;
        if bytes != f.bytes || sha != f.sha256 {
            bail!(
                "backup file {} is corrupt: {} bytes, SHA-256 {}, the manifest says {} bytes, {}",
                p.display(),
                bytes,
                sha,
                f.bytes,
                f.sha256
            );
        }
    }
    // The home must not hold a catalog or indexes already, unless --force.
    let targets: Vec<PathBuf> = ["catalog.db", "catalog.db-wal", "catalog.db-shm"]
        .iter()
        .map(|f| g.path(f))
        .chain(
            [KEYWORD_DIR]
                .into_iter()
                .chain(PLAIN_DIRS)
                .map(|d| g.path(d)),
        )
        .collect();
    let occupied: Vec<&PathBuf> = targets
        .iter()
        .filter(|p| p.is_file() || (p.is_dir() && !is_empty_dir(p).unwrap_or(false)))
        .collect();
    if !occupied.is_empty() && !args.force {
        bail!(
            "{} is not empty (it has {}): restore into a new home or pass --force to replace its catalog and indexes",
            g.home.display(),
            occupied[0].display()
        );
    }
    // Until every file is in place the home is marked: other commands refuse it and say to
    // run this restore again (a restore killed half-way leaves a catalog and an index that
    // need not agree, or a truncated catalog file).
    std::fs::create_dir_all(&g.home)
        .with_context(|| format!("cannot create the home folder {}", g.home.display()))?;
    let marker = g.path(RESTORE_MARKER);
    std::fs::write(&marker, dir.display().to_string())
        .with_context(|| format!("cannot write {}", marker.display()))?;
    for p in occupied {
        if p.is_dir() {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        }
        .with_context(|| format!("cannot remove {}", p.display()))?;
    }
    for f in &m.files {
        let rel = safe_rel(&f.path)?;
        let to = g.home.join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(dir.join(&rel), &to)
            .with_context(|| format!("cannot write {}", to.display()))?;
    }
    std::fs::remove_file(&marker).with_context(|| format!("cannot remove {}", marker.display()))?;
    // The keyword index must agree with the catalog snapshot; re-derive it when not.
    let ing = crate::store::ingestor(g, Default::default(), false).await?;
    let mut report = ing.check().await?;
    let mut reindexed = None;
    if !report.is_consistent() {
        reindexed = Some(ing.rebuild_index().await?.reindexed);
        report = ing.check().await?;
    }
    let ok = report.is_consistent() && m.documents == Some(report.catalog_documents as i64);
    if g.json {
        println!(
            "{}",
            serde_json::json!({"restored": dir, "home": g.home, "documents": report.catalog_documents,
                "index_documents": report.index_documents, "consistent": report.is_consistent(),
                "reindexed": reindexed, "files": m.files.len()})
        );
    } else {
        println!(
            "restored {} files into {}: catalog {} documents, keyword index {} documents: {}",
            m.files.len(),
            g.home.display(),
            report.catalog_documents,
            report.index_documents,
            if ok { "consistent" } else { "INCONSISTENT" }
        );
        if let Some(n) = reindexed {
            println!("the keyword index was re-derived from the catalog ({n} documents)");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Copies the files of the keyword index's last commit; returns their backup-relative paths.
fn copy_keyword_index(src: &Path, dst: &Path) -> anyhow::Result<Vec<String>> {
    let mut last_err = None;
    for _ in 0..20 {
        if dst.exists() {
            std::fs::remove_dir_all(dst)?;
        }
        std::fs::create_dir_all(dst)?;
        match try_copy_keyword(src, dst) {
            Ok(v) => return Ok(v),
            Err(e) => {
                last_err = Some(e);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    let e = last_err.unwrap_or_else(|| anyhow::anyhow!("no attempt made"));
    Err(e.context("cannot copy a stable commit of the keyword index (it changed under every try)"))
}

fn try_copy_keyword(src: &Path, dst: &Path) -> anyhow::Result<Vec<String>> {
    let meta_raw = std::fs::read(src.join("meta.json"))
        .with_context(|| format!("cannot read {}", src.join("meta.json").display()))?;
    let meta: serde_json::Value = serde_json::from_slice(&meta_raw)
        .with_context(|| format!("{} is not valid JSON", src.join("meta.json").display()))?;
    // Which files belong to this commit: per segment, its uuid-named files and its delete file.
    let mut wanted: Vec<(String, Option<String>)> = Vec::new();
    for s in meta["segments"].as_array().into_iter().flatten() {
        let Some(id) = s["segment_id"].as_str() else {
            bail!("keyword index meta.json: a segment without an id");
        };
        let del = s["deletes"]["opstamp"].as_u64().map(|o| format!("{o}.del"));
        wanted.push((id.replace('-', ""), del));
    }
    let mut out = Vec::new();
    let names: Vec<String> = std::fs::read_dir(src)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for (seg, del) in &wanted {
        let mut n = 0;
        for name in &names {
            let Some(rest) = name
                .strip_prefix(seg.as_str())
                .and_then(|r| r.strip_prefix('.'))
            else {
                continue;
            };
            let is_del = rest.ends_with(".del");
            if is_del && Some(rest) != del.as_deref() {
                continue;
            }
            std::fs::copy(src.join(name), dst.join(name))
                .with_context(|| format!("segment file {name} vanished"))?;
            out.push(format!("{KEYWORD_DIR}/{name}"));
            n += 1;
        }
        if n == 0 {
            bail!("segment {seg} has no files (merged away)");
        }
        if let Some(d) = del
            && !out.iter().any(|p| p.ends_with(&format!("{seg}.{d}")))
        {
            bail!("delete file {seg}.{d} is missing");
        }
    }
    for extra in ["clinrag-schema-version"] {
        if src.join(extra).is_file() {
            std::fs::copy(src.join(extra), dst.join(extra))?;
            out.push(format!("{KEYWORD_DIR}/{extra}"));
        }
    }
    // meta.json last, exactly the bytes read above.
    std::fs::write(dst.join("meta.json"), &meta_raw)?;
    out.push(format!("{KEYWORD_DIR}/meta.json"));
    Ok(out)
}

/// Copies a folder's regular files (recursively); returns backup-relative paths.
fn copy_tree(src: &Path, dst: &Path, rel: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(src).sort_by_file_name() {
        let e = e?;
        if !e.file_type().is_file() {
            continue;
        }
        let sub = e.path().strip_prefix(src)?;
        let name = e.file_name().to_string_lossy();
        if name.ends_with(".lock") || name.starts_with(".tmp") {
            continue;
        }
        let to = dst.join(sub);
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::copy(e.path(), &to)
            .with_context(|| format!("cannot copy {}", e.path().display()))?;
        let parts: Vec<String> = sub
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        out.push(format!("{rel}/{}", parts.join("/")));
    }
    Ok(out)
}

fn entry(dir: &Path, rel: &str) -> anyhow::Result<FileEntry> {
    let (bytes, sha256) = hash_file(&dir.join(rel))?;
    Ok(FileEntry {
        path: rel.to_owned(),
        bytes,
        sha256,
    })
}

fn hash_file(p: &Path) -> anyhow::Result<(u64, String)> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((n, hex::encode(h.finalize())))
}

/// A manifest path that stays inside the backup folder.
fn safe_rel(p: &str) -> anyhow::Result<PathBuf> {
    let rel = PathBuf::from(p);
    if p.is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        bail!("backup manifest names an unsafe path: {p:?}");
    }
    Ok(rel)
}

fn is_empty_dir(p: &Path) -> anyhow::Result<bool> {
    Ok(std::fs::read_dir(p)
        .with_context(|| format!("cannot read {}", p.display()))?
        .next()
        .is_none())
}
