//! Storage faults and repairs of the `clinrag` binary with real child processes: a full disk (a
//! small tmpfs as the home folder or the backup folder), a read-only home, `check` over the
//! vector index and the concept-graph snapshot with `--repair`, and SIGKILLs of the writers
//! other than ingest (`rm`, `check --repair`, `restore`) at seeded points.
//!
//! The tmpfs tests need root (mount); without it they print "skipped: needs root for tmpfs".
//! `CLINRAG_KILL_SEED` sets the seed of the kill loops (default 20261127).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Rng, assert_consistent, bin, clinrag, clinrag_embed, copy_dir, corpus_range, embeddings_server,
    json,
};
use serde_json::Value;

fn seed() -> u64 {
    std::env::var("CLINRAG_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_261_127)
}

/// A tmpfs mounted on a folder for the life of the value (unmounted on drop, also when the
/// test fails).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`) on `dir`; `None` (with the skip note) when
    /// this process may not mount.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: needs root for tmpfs");
            return None;
        }
        Some(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// `mount -o remount,OPTS`: a new size, `ro` or `rw`.
    fn remount(&self, opts: &str) {
        let s = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(s.success(), "remount {opts} of {}", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error of a failed `--json` command: exit code 2, one `{"error"}` line, no panic.
fn json_error(o: &Output, ctx: &str) -> String {
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{ctx}: a panic: {err}"
    );
    assert_eq!(o.status.code(), Some(2), "{ctx}: {err}");
    json(o)["error"].as_str().unwrap().to_owned()
}

fn ingest(home: &Path, src: &Path) -> Output {
    clinrag(
        home,
        &["ingest", "--json", "--no-link", src.to_str().unwrap()],
    )
}

fn du(dir: &Path) -> u64 {
    walk(dir)
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A home folder on a tmpfs too small for the corpus: ingest fails with a clear "disk is full"
/// naming the path, no panic; after the tmpfs grows, ingest completes and nothing is lost or
/// doubled.
#[test]
fn full_disk_ingest_fails_cleanly_and_the_next_run_completes() {
    let t = tempfile::tempdir().unwrap();
    let n = 3_000;
    let src = corpus_range(t.path(), "corpus.jsonl", 0, n);
    // How much a complete home takes, measured on the normal disk.
    let probe = t.path().join("probe");
    assert!(ingest(&probe, &src).status.success());
    let need = du(&probe);
    let home = t.path().join("home");
    let Some(fs) = Tmpfs::mount(&home, &format!("{}k", need * 30 / 100 / 1024)) else {
        return;
    };
    let o = ingest(&home, &src);
    let err = json_error(&o, "ingest on a full disk");
    assert!(
        err.contains("disk is full") && err.contains("no space left on device"),
        "{err}"
    );
    assert!(
        err.contains(home.to_str().unwrap()),
        "names the home: {err}"
    );
    // Part of the corpus may be committed; the catalog still opens and says so.
    let s = clinrag(&home, &["stats", "--json"]);
    eprintln!(
        "needed {need} bytes, tmpfs {} bytes; after the failed run: {}",
        need * 30 / 100,
        String::from_utf8_lossy(&s.stdout).trim()
    );

    fs.remount(&format!("size={}k", need * 4 / 1024 + 4096));
    let o = ingest(&home, &src);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_consistent(&home, n, "after the disk grew");

    // The keyword index on a file system of its own, too small for its segment: the catalog
    // is written, the index commit fails, naming the index folder.
    let home2 = t.path().join("home2");
    let kw = home2.join("index/keyword");
    let Some(kfs) = Tmpfs::mount(&kw, "160k") else {
        return;
    };
    let o = ingest(&home2, &src);
    let err = json_error(&o, "index commit on a full disk");
    assert!(
        err.contains("disk is full") && err.contains(kw.to_str().unwrap()),
        "{err}"
    );
    let s = json(&clinrag(&home2, &["stats", "--json"]));
    assert_eq!(s["catalog"]["pending_index"], n, "{s}");
    kfs.remount("size=64m");
    let o = ingest(&home2, &src);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["recovered"]["reindexed"], n);
    assert_consistent(&home2, n, "after the index disk grew");
    let r = json(&ingest(&home, &src));
    assert_eq!(r["documents_ingested"], 0, "{r}");
    for id in ["DOC-0", "DOC-1499", "DOC-2999"] {
        assert!(
            clinrag(&home, &["docs", "show", id, "--json"])
                .status
                .success(),
            "{id}"
        );
    }
}

/// `backup` into a full tmpfs fails clearly and leaves nothing that `restore` accepts.
#[test]
fn backup_into_a_full_disk_fails_and_leaves_no_restorable_half() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = corpus_range(t.path(), "corpus.jsonl", 0, 1_500);
    assert!(ingest(&home, &src).status.success());
    // How much a backup takes, measured on the normal disk; the tmpfs holds a third of it.
    let probe = t.path().join("probe-bk");
    assert!(
        clinrag(&home, &["backup", probe.to_str().unwrap()])
            .status
            .success()
    );
    let need = du(&probe);
    let mnt = t.path().join("mnt");
    let Some(fs) = Tmpfs::mount(&mnt, &format!("{}k", need / 3 / 1024)) else {
        return;
    };
    let bk = mnt.join("bk");
    let o = clinrag(&home, &["backup", "--json", bk.to_str().unwrap()]);
    let err = json_error(&o, "backup on a full disk");
    assert!(err.contains("disk is full"), "{err}");
    assert!(
        err.contains(bk.to_str().unwrap()),
        "names the backup folder: {err}"
    );
    assert!(!bk.exists(), "the partial backup was left behind");
    let home2 = t.path().join("home2");
    let o = clinrag(&home2, &["restore", "--json", bk.to_str().unwrap()]);
    let err = json_error(&o, "restore of a failed backup");
    assert!(err.contains("not a clinrag backup"), "{err}");
    assert!(!home2.join("catalog.db").exists(), "home touched");
    // The source home is untouched and consistent.
    assert_consistent(&home, 1_500, "the backed-up home");

    // Restore into a home on the full tmpfs: fails naming the file, and the half-restored
    // home is refused by every command until a restore completes.
    let home3 = mnt.join("home3");
    let o = clinrag(&home3, &["restore", "--json", probe.to_str().unwrap()]);
    let err = json_error(&o, "restore onto a full disk");
    assert!(
        err.contains("disk is full") && err.contains("cannot write"),
        "{err}"
    );
    for args in [["stats", "--json"], ["check", "--json"]] {
        let err = json_error(&clinrag(&home3, &args), args[0]);
        assert!(
            err.contains("interrupted restore") && err.contains("restore --force"),
            "{err}"
        );
    }
    fs.remount(&format!("size={}k", need * 3 / 1024 + 1024));
    let o = clinrag(
        &home3,
        &["restore", "--force", "--json", probe.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_consistent(&home3, 1_500, "restored after the disk grew");
}

/// A home on a read-only mount: ingest, rm and check --repair fail with a clear
/// "read-only" error naming the home; reads (search, docs show, stats, check) work; after a
/// read-write remount ingest completes and the state is consistent.
#[test]
fn read_only_home_refuses_writes_clearly_and_serves_reads() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let Some(fs) = Tmpfs::mount(&home, "64m") else {
        return;
    };
    let a = corpus_range(t.path(), "a.jsonl", 0, 200);
    let b = corpus_range(t.path(), "b.jsonl", 200, 400);
    assert!(ingest(&home, &a).status.success());
    fs.remount("ro");
    for args in [
        vec!["ingest", "--json", "--no-link", b.to_str().unwrap()],
        vec!["rm", "--json", "DOC-3"],
        vec!["check", "--json", "--repair"],
    ] {
        let o = clinrag(&home, &args);
        let err = json_error(&o, args[0]);
        assert!(err.contains("read-only"), "{}: {err}", args[0]);
        assert!(err.contains(home.to_str().unwrap()), "{}: {err}", args[0]);
    }
    // Reads work on the read-only home.
    let o = clinrag(
        &home,
        &["search", "--json", "--k", "3", "Patient 17 lobe 2"],
    );
    assert!(o.status.success(), "search: {}", stderr(&o));
    assert_eq!(json(&o)["hits"][0]["doc_id"], "DOC-17");
    let o = clinrag(&home, &["docs", "show", "DOC-17", "--json"]);
    assert!(o.status.success(), "docs show: {}", stderr(&o));
    let s = json(&clinrag(&home, &["stats", "--json"]));
    assert_eq!(s["catalog"]["documents"], 200, "{s}");
    let c = json(&clinrag(&home, &["check", "--json"]));
    assert_eq!(c["consistent"], true, "{c}");

    fs.remount("rw");
    let o = ingest(&home, &b);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(clinrag(&home, &["rm", "DOC-3"]).status.success());
    assert_consistent(&home, 399, "after the read-write remount");

    // A writer killed mid-run leaves its committed transactions in the write-ahead log
    // (`catalog.db-wal`); read-only, they are read from there, as read-write.
    let c = corpus_range(t.path(), "c.jsonl", 400, 6_400);
    kill_after(
        &home,
        &["ingest", "--no-link", c.to_str().unwrap()],
        Duration::from_millis(700),
    );
    let wal = std::fs::metadata(home.join("catalog.db-wal")).map_or(0, |m| m.len());
    fs.remount("ro");
    let ro = json(&clinrag(&home, &["stats", "--json"]));
    fs.remount("rw");
    let rw = json(&clinrag(&home, &["stats", "--json"]));
    eprintln!(
        "after a killed ingest: {wal} bytes of write-ahead log, {} documents read read-only",
        ro["catalog"]["documents"]
    );
    assert_eq!(
        ro["catalog"], rw["catalog"],
        "read-only sees what read-write sees"
    );
    let o = ingest(&home, &c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_consistent(&home, 6_399, "after the killed ingest");
}

/// The flat index file: dimension, vectors and payloads (format of retrieval/src/vector.rs).
struct Flat {
    dim: usize,
    vectors: Vec<Vec<f32>>,
    payloads: Vec<Value>,
}

impl Flat {
    fn read(p: &Path) -> Self {
        let b = std::fs::read(p).unwrap();
        assert_eq!(&b[..8], b"CLRFLAT1");
        let word = |at: usize| {
            usize::try_from(u64::from_le_bytes(b[at..at + 8].try_into().unwrap())).unwrap()
        };
        let (dim, n) = (word(8), word(16));
        let body = &b[24..];
        let vectors = body[..n * dim * 4]
            .chunks_exact(dim * 4)
            .map(|v| {
                v.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect()
            })
            .collect();
        let payloads: Vec<Value> = serde_json::from_slice(&body[n * dim * 4..]).unwrap();
        assert_eq!(payloads.len(), n);
        Self {
            dim,
            vectors,
            payloads,
        }
    }

    fn write(&self, p: &Path) {
        let mut b = b"CLRFLAT1".to_vec();
        b.extend_from_slice(&(self.dim as u64).to_le_bytes());
        b.extend_from_slice(&(self.vectors.len() as u64).to_le_bytes());
        for v in &self.vectors {
            for x in v {
                b.extend_from_slice(&x.to_le_bytes());
            }
        }
        b.extend_from_slice(&serde_json::to_vec(&self.payloads).unwrap());
        std::fs::write(p, b).unwrap();
    }
}

/// `check` over the vector index: an orphan document (removed while no embedder was
/// configured), an orphan chunk and a deleted vector are found; `--repair` without an embedder
/// drops what is wrong and names what needs embedding; with the embedder it re-embeds; a
/// corrupt index file and another embedder are reported.
#[test]
fn check_finds_and_repairs_vector_index_faults() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let n = 300;
    let src = corpus_range(t.path(), "corpus.jsonl", 0, n);
    let base = embeddings_server();
    let emb = Some((base.as_str(), "hash-16"));
    let o = clinrag_embed(
        &home,
        emb,
        &[
            "ingest",
            "--json",
            "--no-link",
            "--embed",
            src.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let check = |embed: Option<(&str, &str)>, repair: bool| {
        let mut args = vec!["check", "--json"];
        if repair {
            args.push("--repair");
        }
        let o = clinrag_embed(&home, embed, &args);
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        let v = json(&o);
        assert_eq!(
            o.status.code(),
            Some(if v["consistent"] == true { 0 } else { 1 }),
            "{v}"
        );
        v
    };
    let c = check(emb, false);
    assert_eq!(c["consistent"], true, "{c}");
    let v = &c["vectors"];
    assert_eq!(v["level"], "chunk", "{c}");
    assert_eq!(v["embedder"], "openai:hash-16", "{c}");
    assert_eq!(v["configured_embedder"], "openai:hash-16", "{c}");
    assert_eq!(v["documents"], n, "{c}");
    let chunks = v["vectors"].as_u64().unwrap();
    assert!(chunks >= n as u64, "{c}");
    assert_eq!(v["catalog_chunks"], chunks, "{c}");
    assert_eq!(c["graph"], Value::Null, "no graph snapshot: {c}");

    // Faults: rm without an embedder leaves DOC-7's vectors behind; DOC-5 loses its vector;
    // one vector of DOC-9 names a chunk the catalog does not have.
    assert!(
        clinrag_embed(&home, None, &["rm", "DOC-7"])
            .status
            .success()
    );
    let flat_path = home.join("index/vectors/flat.bin");
    let mut flat = Flat::read(&flat_path);
    let i5 = flat
        .payloads
        .iter()
        .position(|p| p["doc_id"] == "DOC-5")
        .unwrap();
    flat.payloads.remove(i5);
    flat.vectors.remove(i5);
    let i9 = flat
        .payloads
        .iter()
        .position(|p| p["doc_id"] == "DOC-9")
        .unwrap();
    flat.payloads[i9]["chunk_id"] = Value::from("DOC-9#ghost");
    flat.write(&flat_path);

    let c = check(emb, false);
    assert_eq!(c["consistent"], false, "{c}");
    assert_eq!(c["report"]["catalog_documents"], n - 1, "{c}");
    let v = &c["vectors"];
    assert_eq!(v["orphan_documents"]["examples"][0], "DOC-7", "{c}");
    assert_eq!(v["orphan_documents"]["count"], 1, "{c}");
    assert_eq!(v["orphan_chunks"]["examples"][0], "DOC-9#ghost", "{c}");
    assert_eq!(
        v["missing"]["count"], 2,
        "DOC-5's chunk and DOC-9's real chunk: {c}"
    );
    let o = clinrag_embed(&home, None, &["check"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("1 documents not in the catalog (e.g. DOC-7)"),
        "{text}"
    );

    // Repair without an embedder: the wrong vectors go, what needs embedding is named.
    let c = check(None, true);
    assert_eq!(c["consistent"], false, "{c}");
    let r = &c["vectors_repaired"];
    assert_eq!(
        r["dropped_documents"], 2,
        "DOC-7 (gone), DOC-9 (a wrong chunk): {c}"
    );
    let todo = r["todo"].as_str().unwrap();
    assert!(
        todo.contains("2 documents") && todo.contains("clinrag check --repair"),
        "{todo}"
    );
    assert_eq!(c["vectors"]["orphan_documents"]["count"], 0, "{c}");
    assert_eq!(c["vectors"]["orphan_chunks"]["count"], 0, "{c}");
    // With the embedder: embedded again, consistent.
    let c = check(emb, true);
    assert_eq!(c["consistent"], true, "{c}");
    assert_eq!(c["vectors_repaired"]["embedded_documents"], 2, "{c}");
    assert_eq!(c["vectors"]["vectors"], chunks - 1, "{c}");

    // A truncated index file: reported without an embedder, rebuilt with one.
    let bytes = std::fs::read(&flat_path).unwrap();
    std::fs::write(&flat_path, &bytes[..bytes.len() / 2]).unwrap();
    let c = check(None, true);
    assert_eq!(c["consistent"], false, "{c}");
    let err = c["vectors"]["error"].as_str().unwrap();
    assert!(err.contains("corrupt") && err.contains("flat.bin"), "{err}");
    assert!(
        c["vectors_repaired"]["todo"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{c}"
    );
    let c = check(emb, true);
    assert_eq!(c["consistent"], true, "{c}");
    assert_eq!(c["vectors_repaired"]["reset"], true, "{c}");
    assert_eq!(c["vectors_repaired"]["embedded_documents"], n - 1, "{c}");

    // Another embedder than the index was built with: reported, nothing rewritten.
    let before = std::fs::read(&flat_path).unwrap();
    let c = check(Some((base.as_str(), "other-model")), true);
    assert_eq!(c["consistent"], false, "{c}");
    assert_eq!(
        c["vectors"]["configured_embedder"], "openai:other-model",
        "{c}"
    );
    assert!(
        c["vectors_repaired"]["todo"]
            .as_str()
            .unwrap()
            .contains("openai:hash-16"),
        "{c}"
    );
    assert_eq!(std::fs::read(&flat_path).unwrap(), before);
}

/// `check` over the concept graph: a corrupt snapshot and one older than the vocabularies are
/// found and rebuilt by `--repair`; concept ids linked into the catalog that the graph lacks
/// are found and reported with what to do.
#[test]
fn check_finds_and_repairs_graph_snapshot_faults() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kg/tests/fixtures/home/vocab");
    copy_dir(&fixture, &home.join("vocab"));
    let corpus = t.path().join("corpus.jsonl");
    let mut s = String::new();
    for (id, title, text) in [
        (
            "PMID:1",
            "Marfan syndrome",
            "Marfan syndrome is a connective tissue disorder with arachnodactyly.",
        ),
        (
            "PMID:2",
            "Hand findings",
            "Spider fingers were seen in two siblings.",
        ),
    ] {
        s.push_str(&serde_json::json!({"id": id, "title": title, "text": text}).to_string());
        s.push('\n');
    }
    std::fs::write(&corpus, s).unwrap();
    let o = clinrag(&home, &["ingest", "--json", corpus.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let snap = home.join("kg/graph.bin");
    assert!(snap.is_file());
    let check = |repair: bool| {
        let mut args = vec!["check", "--json"];
        if repair {
            args.push("--repair");
        }
        let o = clinrag(&home, &args);
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        json(&o)
    };
    let c = check(false);
    assert_eq!(c["consistent"], true, "{c}");
    let gr = &c["graph"];
    assert!(gr["nodes"].as_u64().unwrap() > 0, "{c}");
    assert!(gr["catalog_concepts"].as_u64().unwrap() >= 1, "{c}");
    assert_eq!(gr["unknown_concepts"]["count"], 0, "{c}");
    assert_eq!(c["vectors"], Value::Null, "no vector index: {c}");

    // A flipped byte: the checksum fails; --repair rebuilds from the vocabularies.
    let mut bytes = std::fs::read(&snap).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&snap, &bytes).unwrap();
    let c = check(false);
    assert_eq!(c["consistent"], false, "{c}");
    let err = c["graph"]["error"].as_str().unwrap();
    assert!(
        err.contains("checksum") && err.contains("clinrag kg build"),
        "{err}"
    );
    let c = check(true);
    assert_eq!(c["graph_repaired"]["rebuilt"], true, "{c}");
    assert_eq!(c["consistent"], true, "{c}");

    // Older than a vocabulary file: stale, rebuilt.
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&snap)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let c = check(false);
    assert_eq!(c["consistent"], false, "{c}");
    assert!(
        c["graph"]["stale_sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().ends_with("hp.obo")),
        "{c}"
    );
    let c = check(true);
    assert_eq!(c["consistent"], true, "{c}");

    // A graph built without the HPO files lacks concepts linked into the catalog.
    let hpo = home.join("vocab/hpo");
    std::fs::rename(&hpo, t.path().join("hpo-aside")).unwrap();
    let o = clinrag(&home, &["kg", "build", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = check(true);
    assert_eq!(c["consistent"], false, "{c}");
    let unknown = &c["graph"]["unknown_concepts"];
    assert!(unknown["count"].as_u64().unwrap() >= 1, "{c}");
    // HPO terms and the diseases of its annotation file (OMIM, ORPHA).
    assert!(
        unknown["examples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id == "HP:0001166"),
        "{c}"
    );
    assert!(
        c["graph_repaired"]["todo"]
            .as_str()
            .unwrap()
            .contains("clinrag kg build"),
        "{c}"
    );
    std::fs::rename(t.path().join("hpo-aside"), &hpo).unwrap();
    assert!(clinrag(&home, &["kg", "build"]).status.success());
    assert_eq!(check(false)["consistent"], true);
}

/// Spawns `clinrag ARGS` on `home` and SIGKILLs it after `delay`; whether it was still running.
fn kill_after(home: &Path, args: &[&str], delay: Duration) -> bool {
    let mut child = Command::new(bin())
        .env("CLINRAG_HOME", home)
        .env_remove("CLINRAG_DATABASE_URL")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    running
}

/// Milliseconds `clinrag ARGS` takes to finish on `home` (the kill window of a loop).
fn time_ms(home: &Path, args: &[&str]) -> u64 {
    let t0 = Instant::now();
    let o = clinrag(home, args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    u64::try_from(t0.elapsed().as_millis()).unwrap().max(20)
}

/// SIGKILL `check --repair` (re-deriving the whole keyword index of 1,500 documents) and `rm` (many ids, one
/// index commit each) at seeded points; the next writer (an ingest or `check --repair` after a
/// killed repair, the same `rm` after a killed `rm`) leaves a consistent store, with every
/// removed document gone from the catalog and the index.
#[test]
fn killed_rm_and_check_repair_leave_a_consistent_store() {
    let seed = seed();
    let mut rng = Rng(seed);
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let n = 1_500;
    let src = corpus_range(t.path(), "corpus.jsonl", 0, n);
    assert!(ingest(&home, &src).status.success());
    let mut interrupted = 0;
    // check --repair from an empty keyword index; the next writer alternates.
    let repair = ["check", "--repair", "--json"];
    std::fs::remove_dir_all(home.join("index/keyword")).unwrap();
    let window = time_ms(&home, &repair);
    for i in 0..4 {
        std::fs::remove_dir_all(home.join("index/keyword")).unwrap();
        let delay = rng.range(20, window);
        let ctx = format!("seed {seed}, check --repair {i}, kill after {delay} ms");
        if kill_after(&home, &repair, Duration::from_millis(delay)) {
            interrupted += 1;
        }
        if i % 2 == 0 {
            // The corpus file is unchanged: the ingest only recovers.
            let o = ingest(&home, &src);
            assert!(o.status.success(), "{ctx}: {}", stderr(&o));
            assert_eq!(json(&o)["documents_ingested"], 0, "{ctx}");
        } else {
            let o = clinrag(&home, &repair);
            assert!(
                o.status.success(),
                "{ctx}: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
        assert_consistent(&home, n, &ctx);
    }
    // rm of 40 ids per round; the first round (not killed) sets the kill window.
    let rm_args = |round: usize| -> Vec<String> {
        let mut a = vec!["rm".to_owned(), "--json".to_owned()];
        a.extend((0..40).map(|i| format!("DOC-{}", round * 40 + i)));
        a
    };
    let first = rm_args(0);
    let window = time_ms(&home, &first.iter().map(String::as_str).collect::<Vec<_>>());
    let mut removed = 40;
    assert_consistent(&home, n - removed, "rm round 0");
    for round in 1..4 {
        let a = rm_args(round);
        let args: Vec<&str> = a.iter().map(String::as_str).collect();
        let delay = rng.range(20, window);
        let ctx = format!("seed {seed}, rm round {round}, kill after {delay} ms");
        if kill_after(&home, &args, Duration::from_millis(delay)) {
            interrupted += 1;
        }
        let r = json(&clinrag(&home, &args));
        assert!(r.get("error").is_none(), "{ctx}: {r}");
        let done =
            r["removed"].as_array().unwrap().len() + r["not_found"].as_array().unwrap().len();
        assert_eq!(done, 40, "{ctx}: {r}");
        removed += 40;
        assert_consistent(&home, n - removed, &ctx);
        // `check` found no orphan in the index; a sample also by search and docs show.
        for id in [args[2], args[21], args[41]] {
            assert!(
                !clinrag(&home, &["docs", "show", id, "--json"])
                    .status
                    .success(),
                "{ctx}: {id} still there"
            );
            let hits = json(&clinrag(&home, &["search", "--json", "--k", "20", id]));
            assert!(
                hits["hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|h| h["doc_id"] != id),
                "{ctx}: {id} still in the keyword index"
            );
        }
    }
    eprintln!("seed {seed}: {interrupted} of 7 kills interrupted a run");
    assert!(interrupted >= 2, "kills did not land inside the runs");
}

/// SIGKILL `restore --force` at seeded points: the half-restored home is refused by every
/// command with the way out, and the next `restore --force` gives the backup's state.
#[test]
fn killed_restore_is_refused_until_restored_again() {
    let seed = seed();
    let mut rng = Rng(seed ^ 0x5EED);
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let n = 1_500;
    let src = corpus_range(t.path(), "corpus.jsonl", 0, n);
    assert!(ingest(&home, &src).status.success());
    let bk = t.path().join("bk");
    let o = clinrag(&home, &["backup", "--json", bk.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let more = corpus_range(t.path(), "more.jsonl", n, n + 300);
    let target = t.path().join("target");
    let args = ["restore", "--force", "--json", bk.to_str().unwrap()];
    let window = {
        assert!(clinrag(&target, &args).status.success());
        time_ms(&target, &args)
    };
    let mut interrupted = 0;
    let mut refused = 0;
    for i in 0..5 {
        // The target has moved on since the backup.
        assert!(ingest(&target, &more).status.success());
        let delay = rng.range(5, window);
        let ctx = format!("seed {seed}, restore {i}, kill after {delay} ms");
        if kill_after(&target, &args, Duration::from_millis(delay)) {
            interrupted += 1;
        }
        let o = clinrag(&target, &["stats", "--json"]);
        if !o.status.success() {
            let err = json_error(&o, &ctx);
            assert!(
                err.contains("interrupted restore") && err.contains("restore --force"),
                "{ctx}: {err}"
            );
            refused += 1;
        }
        let o = clinrag(&target, &args);
        assert!(
            o.status.success(),
            "{ctx}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert_eq!(json(&o)["documents"], n, "{ctx}");
        assert_consistent(&target, n, &ctx);
    }
    eprintln!(
        "seed {seed}: {interrupted} of 5 restore kills interrupted it, {refused} left a home refused until restored"
    );
    assert!(interrupted >= 1, "no kill landed inside a restore");
}

/// SIGKILL of `clinrag kg build` at seeded points: the snapshot is written to a temporary file
/// and renamed, so the last complete snapshot stays loadable after every kill, and the next
/// complete build removes the temporary files killed writers left behind.
#[test]
fn killed_kg_build_keeps_a_loadable_snapshot_and_no_leftovers() {
    let seed = seed();
    let mut rng = Rng(seed);
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kg/tests/fixtures/home/vocab");
    copy_dir(&fixture, &home.join("vocab"));
    let window = time_ms(&home, &["kg", "build"]);
    let graph_ok = |ctx: &str| {
        let o = clinrag(&home, &["check", "--json"]);
        assert!(!stderr(&o).contains("panicked"), "{ctx}: {}", stderr(&o));
        let c = json(&o);
        assert_eq!(c["graph"]["error"], Value::Null, "{ctx}: {c}");
        assert!(c["graph"]["nodes"].as_u64().unwrap() > 0, "{ctx}: {c}");
        assert_eq!(c["consistent"], true, "{ctx}: {c}");
    };
    graph_ok("after the first build");
    let mut interrupted = 0;
    for i in 0..6 {
        let delay = rng.range(5, window);
        let ctx = format!("seed {seed}, kg build {i}, kill after {delay} ms");
        if kill_after(&home, &["kg", "build"], Duration::from_millis(delay)) {
            interrupted += 1;
        }
        graph_ok(&ctx);
    }
    eprintln!("{interrupted} of 6 kg build kills landed inside a build (window {window} ms)");
    // What a writer killed between writing and renaming leaves: a temporary file named after
    // its (now gone) process; and one of a writer still running, which must be kept.
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let dead = home.join(format!("kg/.graph.bin.tmp{}", gone.id()));
    std::fs::write(&dead, b"half a snapshot").unwrap();
    let live = home.join(format!("kg/.graph.bin.tmp{}", std::process::id()));
    std::fs::write(&live, b"a snapshot being written").unwrap();
    let o = clinrag(&home, &["kg", "build"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let leftovers: Vec<String> = std::fs::read_dir(home.join("kg"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    let live_name = live.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        leftovers,
        vec![live_name],
        "only the live writer's file stays"
    );
    std::fs::remove_file(&live).unwrap();
    graph_ok("after a complete build");
}
