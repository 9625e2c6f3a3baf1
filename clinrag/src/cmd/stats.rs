//! `clinrag stats`: documents, chunks and index sizes; `clinrag check [--repair]`: the catalog,
//! the keyword index, the vector index and the concept-graph snapshot agree, or are made to;
//! `clinrag rm ID...`: remove documents everywhere.
//!
//! `check` compares every index with the catalog, the source of truth: the keyword index
//! document by document (chunk counts too); the vector index chunk by chunk (flat index; other
//! kinds document by document): every vector's chunk exists in the catalog, every catalog chunk
//! has one vector, documents were embedded from the catalog's content, and `meta.json` names
//! the configured embedder and dimension; the graph snapshot loads (magic, format version,
//! checksum), is not older than the vocabularies, and holds every concept id stored in the
//! catalog's `chunks.concepts`. `--repair` re-derives what is derivable from the catalog.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clinrag_ingest::{CheckReport, Ingestor, RecoveryReport};
use clinrag_kg::{VocabPaths, snapshot};
use clinrag_retrieval::vector::{FlatIndex, VectorIndex, VectorMeta, sync_from_catalog};
use clinrag_retrieval::{Catalog, Embedder};
use serde::Serialize;

use crate::Global;
use crate::store::VECTOR_DIR;

/// Runs `clinrag stats`.
pub async fn stats(g: &Global) -> anyhow::Result<ExitCode> {
    let catalog = crate::store::catalog(g).await?;
    let cs = catalog.stats().await?;
    let ks = crate::store::keyword(g)?.stats()?;
    let catalog_bytes = ["catalog.db", "catalog.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(g.path(f)).ok())
        .map(|m| m.len())
        .sum::<u64>();
    if g.json {
        println!(
            "{}",
            serde_json::json!({"catalog": cs, "catalog_backend": catalog.backend_name(),
                "catalog_bytes": catalog_bytes, "keyword_index": ks, "home": g.home})
        );
    } else {
        println!("home: {}", g.home.display());
        println!(
            "catalog ({}): {} documents, {} chunks, {} ingest runs, {} failures recorded, {:.1} MB",
            catalog.backend_name(),
            cs.documents,
            cs.chunks,
            cs.runs,
            cs.failures,
            catalog_bytes as f64 / 1e6
        );
        let mut by: Vec<_> = cs.by_source.iter().collect();
        by.sort();
        for (s, n) in by {
            println!("  {s}: {n}");
        }
        if cs.pending_index > 0 {
            println!(
                "  {} documents wait for the keyword index (interrupted run; the next ingest finishes it)",
                cs.pending_index
            );
        }
        println!(
            "keyword index: {} chunks in {} segments, {:.1} MB",
            ks.chunks,
            ks.segments,
            ks.bytes as f64 / 1e6
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `clinrag check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Repair what disagrees: re-derive the keyword index from the catalog, drop vectors whose
    /// chunk is gone (and embed what lacks one when an embedder is configured), rebuild a
    /// corrupt or stale graph snapshot from the vocabularies.
    #[arg(long)]
    repair: bool,
}

/// At most this many example ids per finding in the output.
const EXAMPLES: usize = 10;

/// A count of findings with the first few ids.
#[derive(Debug, Clone, Default, Serialize)]
struct Found {
    count: u64,
    examples: Vec<String>,
}

impl Found {
    fn add(&mut self, id: &str) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(id.to_owned());
        }
    }
    fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// What the catalog holds, as the vector and graph checks need it.
#[derive(Default)]
struct CatalogView {
    /// Content hash of every live document.
    hashes: HashMap<String, String>,
    /// Chunk ids of every live document.
    chunks: HashMap<String, HashSet<String>>,
    /// Every concept id stored in `chunks.concepts`.
    concepts: BTreeSet<String>,
    chunk_total: u64,
}

async fn catalog_view(catalog: &Catalog) -> anyhow::Result<CatalogView> {
    let ids = catalog.document_ids().await?;
    let mut v = CatalogView::default();
    for part in ids.chunks(500) {
        let refs: Vec<&str> = part.iter().map(String::as_str).collect();
        v.hashes.extend(catalog.content_hashes(&refs).await?);
        for id in part {
            v.chunks.insert(id.clone(), HashSet::new());
        }
        for (doc, chunk, concepts) in catalog.chunk_concepts(&refs).await? {
            v.concepts.extend(concepts);
            if let Some(set) = v.chunks.get_mut(&doc)
                && set.insert(chunk)
            {
                v.chunk_total += 1;
            }
        }
    }
    Ok(v)
}

/// The vector index compared with the catalog.
#[derive(Debug, Clone, Default, Serialize)]
struct VectorCheck {
    path: String,
    /// Index implementation and the embedder it was built with (`meta.json`).
    kind: String,
    embedder: String,
    dim: usize,
    /// The embedder configured now (`null` when none is: no model installed, no endpoint set).
    configured_embedder: Option<String>,
    configured_dim: Option<usize>,
    /// Why the configured embedder could not be loaded, if it could not.
    embedder_error: Option<String>,
    /// `chunk` (every vector's chunk id checked, flat index) or `document` (other kinds).
    level: String,
    /// The index does not open or decode (corrupt file, unreadable folder).
    error: Option<String>,
    vectors: u64,
    documents: u64,
    /// Chunks of the catalog's live documents (each should have one vector).
    catalog_chunks: u64,
    /// Vectors of documents the catalog does not have.
    orphan_documents: Found,
    /// Vectors whose chunk id the catalog does not have (the document is there).
    orphan_chunks: Found,
    /// Chunk ids with more than one vector.
    duplicate_chunks: Found,
    /// Vectors with a non-finite component.
    bad_vectors: Found,
    /// Documents embedded from other content than the catalog's now.
    stale_documents: Found,
    /// Catalog chunks without a vector (chunk ids; at document level, documents).
    missing: Found,
}

impl VectorCheck {
    fn embedder_mismatch(&self) -> bool {
        self.configured_embedder
            .as_deref()
            .is_some_and(|e| e != self.embedder)
            || self.configured_dim.is_some_and(|d| d != self.dim)
    }

    fn is_consistent(&self) -> bool {
        self.error.is_none()
            && !self.embedder_mismatch()
            && self.orphan_documents.is_empty()
            && self.orphan_chunks.is_empty()
            && self.duplicate_chunks.is_empty()
            && self.bad_vectors.is_empty()
            && self.stale_documents.is_empty()
            && self.missing.is_empty()
    }
}

/// Documents whose vectors come from content the catalog no longer has (document gone or
/// changed): they are dropped (and embedded again).
fn gone_or_stale(idx: &dyn VectorIndex, view: &CatalogView) -> anyhow::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for (doc, hash) in idx.doc_hashes()? {
        if view.hashes.get(&doc) != Some(&hash) {
            out.insert(doc);
        }
    }
    Ok(out)
}

/// What `check --repair` did to the vector index.
#[derive(Debug, Clone, Default, Serialize)]
struct VectorRepair {
    /// Documents whose vectors were dropped (gone from the catalog, stale, or partial).
    dropped_documents: u64,
    /// The index file was corrupt and was started afresh.
    reset: bool,
    embedded_documents: u64,
    embedded_chunks: u64,
    /// What is left to do and the command that does it, when it could not be done here.
    todo: Option<String>,
}

/// The configured embedder, or why there is none.
fn configured_embedder(g: &Global) -> (Option<Arc<dyn Embedder>>, Option<String>) {
    match crate::store::embedder(g) {
        Ok(e) => (e, None),
        Err(e) => (None, Some(format!("{e:#}"))),
    }
}

fn read_vector_meta(dir: &Path) -> Result<VectorMeta, String> {
    let p = dir.join("meta.json");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{} is corrupt ({e}): remove the folder and run `clinrag ingest --embed` to rebuild it from the catalog", p.display()))
}

fn check_vectors(
    g: &Global,
    view: &CatalogView,
    embedder: Option<&dyn Embedder>,
    embedder_error: Option<&str>,
) -> VectorCheck {
    let dir = g.path(VECTOR_DIR);
    let mut r = VectorCheck {
        path: dir.display().to_string(),
        configured_embedder: embedder.map(|e| e.name().to_owned()),
        configured_dim: embedder.map(Embedder::dim),
        embedder_error: embedder_error.map(ToOwned::to_owned),
        catalog_chunks: view.chunk_total,
        ..Default::default()
    };
    let meta = match read_vector_meta(&dir) {
        Ok(m) => m,
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    r.kind = meta.kind.clone();
    r.embedder = meta.embedder.clone();
    r.dim = meta.dim;
    if meta.kind == "flat" {
        r.level = "chunk".into();
        match FlatIndex::open(&dir, &meta.embedder, meta.dim) {
            Ok(idx) => check_flat(&idx, view, &mut r),
            Err(e) => r.error = Some(e.to_string()),
        }
        return r;
    }
    r.level = "document".into();
    let Some(e) = embedder else {
        r.error = Some(format!(
            "a {} index is opened through its embedder, and none is configured (install the model with `clinrag setup` or set CLINRAG_EMBED_BASE_URL)",
            meta.kind
        ));
        return r;
    };
    if r.embedder_mismatch() {
        return r;
    }
    match crate::store::vector_index(g, e, crate::store::qdrant_url_from_env().as_deref()) {
        Ok(idx) => {
            if let Err(e) = check_by_document(idx.as_ref(), view, &mut r) {
                r.error = Some(format!("{e:#}"));
            }
        }
        Err(e) => r.error = Some(format!("{e:#}")),
    }
    r
}

fn check_flat(idx: &FlatIndex, view: &CatalogView, r: &mut VectorCheck) {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut docs: HashSet<&str> = HashSet::new();
    let mut stale: BTreeSet<&str> = BTreeSet::new();
    let mut orphan_docs: BTreeSet<&str> = BTreeSet::new();
    for (p, v) in idx.iter() {
        r.vectors += 1;
        docs.insert(&p.doc_id);
        if !seen.insert(&p.chunk_id) {
            r.duplicate_chunks.add(&p.chunk_id);
        }
        if v.iter().any(|x| !x.is_finite()) {
            r.bad_vectors.add(&p.chunk_id);
        }
        match (view.hashes.get(&p.doc_id), view.chunks.get(&p.doc_id)) {
            (Some(h), Some(chunks)) => {
                if *h != p.doc_hash {
                    stale.insert(&p.doc_id);
                } else if !chunks.contains(&p.chunk_id) {
                    r.orphan_chunks.add(&p.chunk_id);
                }
            }
            _ => {
                orphan_docs.insert(&p.doc_id);
            }
        }
    }
    r.documents = docs.len() as u64;
    for d in orphan_docs {
        r.orphan_documents.add(d);
    }
    for d in stale {
        r.stale_documents.add(d);
    }
    let mut ids: Vec<&String> = view.chunks.keys().collect();
    ids.sort();
    for doc in ids {
        let mut chunks: Vec<&String> = view.chunks[doc].iter().collect();
        chunks.sort();
        for c in chunks {
            if !seen.contains(c.as_str()) {
                r.missing.add(c);
            }
        }
    }
}

fn check_by_document(
    idx: &dyn VectorIndex,
    view: &CatalogView,
    r: &mut VectorCheck,
) -> anyhow::Result<()> {
    let have = idx.doc_hashes()?;
    r.vectors = idx.len() as u64;
    r.documents = have.len() as u64;
    let mut sorted: Vec<(&String, &String)> = have.iter().collect();
    sorted.sort();
    for (doc, hash) in sorted {
        match view.hashes.get(doc) {
            None => r.orphan_documents.add(doc),
            Some(h) if h != hash => r.stale_documents.add(doc),
            Some(_) => {}
        }
    }
    let mut ids: Vec<&String> = view.chunks.keys().collect();
    ids.sort();
    for doc in ids {
        if !view.chunks[doc].is_empty() && !have.contains_key(doc) {
            r.missing.add(doc);
        }
    }
    Ok(())
}

/// Brings the vector index in line with the catalog as far as possible without the model, then
/// embeds what is missing when an embedder matching the index is configured.
async fn repair_vectors(
    g: &Global,
    catalog: &Catalog,
    view: &CatalogView,
    found: &VectorCheck,
    embedder: Option<Arc<dyn Embedder>>,
) -> anyhow::Result<VectorRepair> {
    let dir = g.path(VECTOR_DIR);
    let mut rep = VectorRepair::default();
    let how = "install the embedding model (`clinrag setup`) or set CLINRAG_EMBED_BASE_URL to the endpoint the index was built with, then run `clinrag check --repair` again";
    if found.embedder_mismatch() {
        rep.todo = Some(format!(
            "the index was built with {} (dimension {}), the configured embedder is {} (dimension {}): configure {} again, or remove {} and run `clinrag check --repair` to embed every chunk anew",
            found.embedder,
            found.dim,
            found.configured_embedder.as_deref().unwrap_or("?"),
            found.configured_dim.unwrap_or(0),
            found.embedder,
            dir.display()
        ));
        return Ok(rep);
    }
    if found.kind != "flat" {
        // Other kinds open only through the embedder; sync does the whole repair.
        let Some(e) = embedder else {
            rep.todo = Some(how.into());
            return Ok(rep);
        };
        let mut idx = crate::store::vector_index(
            g,
            e.as_ref(),
            crate::store::qdrant_url_from_env().as_deref(),
        )?;
        rep.dropped_documents = found.orphan_documents.count + found.stale_documents.count;
        let s = sync_from_catalog(catalog, e, &mut *idx, 256, &|_, _| {}).await?;
        rep.embedded_documents = s.embedded_documents;
        rep.embedded_chunks = s.embedded_chunks;
        return Ok(rep);
    }
    let mut idx = match FlatIndex::open(&dir, &found.embedder, found.dim) {
        Ok(i) => i,
        Err(clinrag_retrieval::VectorError::Corrupt { path, detail }) => {
            if embedder.is_none() {
                rep.todo = Some(format!(
                    "{} is corrupt ({detail}); to rebuild it from the catalog, {how}",
                    path.display()
                ));
                return Ok(rep);
            }
            // Derived data: start the index afresh and embed everything below.
            std::fs::remove_file(dir.join("flat.bin"))
                .or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .with_context(|| format!("cannot remove the corrupt {}", path.display()))?;
            rep.reset = true;
            FlatIndex::open(&dir, &found.embedder, found.dim)?
        }
        Err(e) => return Err(e.into()),
    };
    // Documents with a vector whose chunk is gone, a duplicate, a bad value, or a missing chunk
    // are dropped whole: sync embeds documents, not single chunks.
    let mut doomed = gone_or_stale(&idx, view)?;
    let mut rows: HashMap<&str, Vec<&str>> = HashMap::new();
    for (p, v) in idx.iter() {
        if v.iter().any(|x| !x.is_finite()) {
            doomed.insert(p.doc_id.clone());
        }
        rows.entry(p.doc_id.as_str())
            .or_default()
            .push(p.chunk_id.as_str());
    }
    for (doc, got) in &rows {
        let Some(want) = view.chunks.get(*doc) else {
            continue;
        };
        let uniq: HashSet<&str> = got.iter().copied().collect();
        if uniq.len() != got.len()
            || uniq.len() != want.len()
            || !uniq.iter().all(|c| want.contains(*c))
        {
            doomed.insert((*doc).to_owned());
        }
    }
    drop(rows);
    for d in &doomed {
        idx.delete_document(d)?;
    }
    rep.dropped_documents = doomed.len() as u64;
    if !doomed.is_empty() || rep.reset {
        idx.commit()?;
    }
    match embedder {
        Some(e) => {
            let s = sync_from_catalog(catalog, e, &mut idx, 256, &|_, _| {}).await?;
            rep.embedded_documents = s.embedded_documents;
            rep.embedded_chunks = s.embedded_chunks;
        }
        None => {
            let have: HashSet<String> = idx.doc_ids()?.into_iter().collect();
            let (docs, chunks) = view
                .chunks
                .iter()
                .filter(|(d, c)| !c.is_empty() && !have.contains(*d))
                .fold((0u64, 0u64), |(d, c), (_, cs)| (d + 1, c + cs.len() as u64));
            if docs > 0 {
                rep.todo = Some(format!(
                    "{docs} documents ({chunks} chunks) need embedding: {how}"
                ));
            }
        }
    }
    Ok(rep)
}

/// The concept-graph snapshot: it loads, its format is this build's, it is not older than the
/// vocabularies, and every concept id linked into the catalog's chunks is in it.
#[derive(Debug, Clone, Default, Serialize)]
struct GraphCheck {
    path: String,
    /// The snapshot format this build reads.
    format_version: u32,
    /// Why it does not load (corrupt, truncated, another format version).
    error: Option<String>,
    nodes: usize,
    load_ms: u64,
    /// Vocabulary files changed after the snapshot was written.
    stale_sources: Vec<String>,
    /// Distinct concept ids in the catalog's chunks, and those the graph does not have.
    catalog_concepts: u64,
    unknown_concepts: Found,
    check_ms: u64,
}

impl GraphCheck {
    fn is_consistent(&self) -> bool {
        self.error.is_none() && self.stale_sources.is_empty() && self.unknown_concepts.is_empty()
    }
}

/// What `check --repair` did to the graph snapshot.
#[derive(Debug, Clone, Default, Serialize)]
struct GraphRepair {
    rebuilt: bool,
    seconds: f64,
    todo: Option<String>,
}

fn vocab_files(home: &Path) -> Vec<PathBuf> {
    let v = VocabPaths::from_home(home);
    [
        v.icd10cm_tabular,
        v.icd10cm_code_list,
        v.atc,
        v.mesh,
        v.drug_ner,
        v.drug_synonyms,
        v.ndc_products,
        v.hpo_obo,
        v.hpoa,
    ]
    .into_iter()
    .filter(|p| p.is_file())
    .collect()
}

fn check_graph(g: &Global, view: &CatalogView) -> GraphCheck {
    let path = g.path(clinrag_kg::SNAPSHOT_PATH);
    let mut r = GraphCheck {
        path: path.display().to_string(),
        format_version: snapshot::FORMAT_VERSION,
        catalog_concepts: view.concepts.len() as u64,
        ..Default::default()
    };
    let t = Instant::now();
    let graph = match snapshot::load(&path) {
        Ok(graph) => graph,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    r.load_ms = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
    r.nodes = graph.node_count();
    let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    for f in vocab_files(&g.home) {
        let changed = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
        if let (Some(w), Some(c)) = (written, changed)
            && c > w
        {
            r.stale_sources.push(f.display().to_string());
        }
    }
    let t = Instant::now();
    for id in &view.concepts {
        if !graph.lookup(id).is_ok_and(|v| !v.is_empty()) {
            r.unknown_concepts.add(id);
        }
    }
    r.check_ms = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
    r
}

fn repair_graph(g: &Global, found: &GraphCheck) -> anyhow::Result<GraphRepair> {
    let mut rep = GraphRepair::default();
    if found.error.is_none() && found.stale_sources.is_empty() {
        if !found.unknown_concepts.is_empty() {
            rep.todo = Some(format!(
                "{} concept ids in the catalog's chunks are not in the graph (documents linked against other vocabularies): install the vocabularies they were linked with (`clinrag setup`, then `clinrag kg build`), or re-ingest those documents to link them again",
                found.unknown_concepts.count
            ));
        }
        return Ok(rep);
    }
    if vocab_files(&g.home).is_empty() {
        rep.todo = Some(format!(
            "no vocabulary under {} to rebuild {} from: run `clinrag setup`, then `clinrag kg build`",
            g.path("vocab").display(),
            found.path
        ));
        return Ok(rep);
    }
    let t = Instant::now();
    let graph = clinrag_kg::build_graph(&VocabPaths::from_home(&g.home))
        .context("rebuilding the concept graph from the vocabularies")?;
    snapshot::save(&graph, &g.path(clinrag_kg::SNAPSHOT_PATH))?;
    rep.rebuilt = true;
    rep.seconds = t.elapsed().as_secs_f64();
    Ok(rep)
}

/// Runs `clinrag check`.
pub async fn check(g: &Global, args: CheckArgs) -> anyhow::Result<ExitCode> {
    if args.repair {
        crate::store::ensure_writable(g)?;
    }
    let catalog = crate::store::catalog(g).await?;
    // No derived index attached: the vectors are checked and repaired below, on their own.
    let ing = Ingestor::new(
        catalog.clone(),
        crate::store::keyword(g)?,
        Default::default(),
    );
    let mut report = ing.check().await?;
    let mut repaired = None;
    if args.repair && !report.is_consistent() {
        repaired = Some(ing.rebuild_index().await?);
        report = ing.check().await?;
    }

    let has_vectors = g.path(VECTOR_DIR).join("meta.json").exists();
    let has_graph = g.path(clinrag_kg::SNAPSHOT_PATH).exists();
    let view = if has_vectors || has_graph {
        catalog_view(&catalog).await?
    } else {
        CatalogView::default()
    };

    let mut vectors = None;
    let mut vectors_repaired = None;
    if has_vectors {
        let (embedder, embedder_error) = configured_embedder(g);
        let mut v = check_vectors(g, &view, embedder.as_deref(), embedder_error.as_deref());
        if args.repair && !v.is_consistent() {
            vectors_repaired =
                Some(repair_vectors(g, &catalog, &view, &v, embedder.clone()).await?);
            v = check_vectors(g, &view, embedder.as_deref(), embedder_error.as_deref());
        }
        vectors = Some(v);
    }

    let mut graph = None;
    let mut graph_repaired = None;
    if has_graph {
        let mut k = check_graph(g, &view);
        if args.repair && !k.is_consistent() {
            let rep = repair_graph(g, &k)?;
            if rep.rebuilt {
                k = check_graph(g, &view);
            }
            graph_repaired = Some(rep);
        }
        graph = Some(k);
    }

    let consistent = report.is_consistent()
        && vectors.as_ref().is_none_or(VectorCheck::is_consistent)
        && graph.as_ref().is_none_or(GraphCheck::is_consistent);
    if g.json {
        println!(
            "{}",
            serde_json::json!({"consistent": consistent, "report": report, "repaired": repaired,
                "vectors": vectors, "vectors_repaired": vectors_repaired,
                "graph": graph, "graph_repaired": graph_repaired})
        );
    } else {
        print_check(
            &report,
            repaired.as_ref(),
            vectors.as_ref(),
            vectors_repaired.as_ref(),
            graph.as_ref(),
            graph_repaired.as_ref(),
        );
        println!(
            "{}",
            if consistent {
                "consistent"
            } else {
                "INCONSISTENT"
            }
        );
    }
    Ok(if consistent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_found(what: &str, f: &Found) {
    if let Some(e) = f.examples.first() {
        println!("  {} {what} (e.g. {e})", f.count);
    }
}

fn print_check(
    report: &CheckReport,
    repaired: Option<&RecoveryReport>,
    vectors: Option<&VectorCheck>,
    vectors_repaired: Option<&VectorRepair>,
    graph: Option<&GraphCheck>,
    graph_repaired: Option<&GraphRepair>,
) {
    println!(
        "catalog {} documents, keyword index {} documents: {}",
        report.catalog_documents,
        report.index_documents,
        if report.is_consistent() {
            "consistent"
        } else {
            "INCONSISTENT"
        }
    );
    for (what, v) in [
        ("missing from the index", &report.missing_from_index),
        ("in the index only", &report.orphans_in_index),
        ("chunk counts differ", &report.chunk_mismatches),
    ] {
        if !v.is_empty() {
            println!("  {} {what} (e.g. {})", v.len(), v[0]);
        }
    }
    if report.pending > 0 {
        println!(
            "  {} documents wait for the keyword index (interrupted run)",
            report.pending
        );
    }
    if let Some(r) = repaired {
        println!("repaired: {} documents re-indexed", r.reindexed);
    }
    if let Some(v) = vectors {
        println!(
            "vector index ({}, {} dimension {}, checked per {}): {} vectors of {} documents: {}",
            v.kind,
            v.embedder,
            v.dim,
            v.level,
            v.vectors,
            v.documents,
            if v.is_consistent() {
                "consistent"
            } else {
                "INCONSISTENT"
            }
        );
        if let Some(e) = &v.error {
            println!("  {e}");
        }
        if v.embedder_mismatch() {
            println!(
                "  the configured embedder is {} (dimension {})",
                v.configured_embedder.as_deref().unwrap_or("?"),
                v.configured_dim.unwrap_or(0)
            );
        }
        if let Some(e) = &v.embedder_error {
            println!("  no embedder: {e}");
        }
        print_found("documents not in the catalog", &v.orphan_documents);
        print_found("chunks not in the catalog", &v.orphan_chunks);
        print_found("chunks with more than one vector", &v.duplicate_chunks);
        print_found("vectors with a non-finite value", &v.bad_vectors);
        print_found("documents embedded from older content", &v.stale_documents);
        print_found(
            if v.level == "chunk" {
                "catalog chunks without a vector"
            } else {
                "catalog documents without vectors"
            },
            &v.missing,
        );
    }
    if let Some(r) = vectors_repaired {
        println!(
            "repaired vectors: {} documents dropped, {} documents ({} chunks) embedded{}",
            r.dropped_documents,
            r.embedded_documents,
            r.embedded_chunks,
            if r.reset {
                ", corrupt index file started afresh"
            } else {
                ""
            }
        );
        if let Some(t) = &r.todo {
            println!("  not repaired: {t}");
        }
    }
    if let Some(k) = graph {
        println!(
            "concept graph {}: {} nodes (loaded in {} ms), {} concept ids in the catalog: {}",
            k.path,
            k.nodes,
            k.load_ms,
            k.catalog_concepts,
            if k.is_consistent() {
                "consistent"
            } else {
                "INCONSISTENT"
            }
        );
        if let Some(e) = &k.error {
            println!("  {e}");
        }
        if let Some(f) = k.stale_sources.first() {
            println!(
                "  {} vocabulary files changed after the snapshot was written (e.g. {f}): rebuild it with `clinrag kg build`",
                k.stale_sources.len()
            );
        }
        print_found(
            "concept ids in the catalog not in the graph",
            &k.unknown_concepts,
        );
    }
    if let Some(r) = graph_repaired {
        if r.rebuilt {
            println!(
                "repaired graph: snapshot rebuilt from the vocabularies in {:.1} s",
                r.seconds
            );
        }
        if let Some(t) = &r.todo {
            println!("  not repaired: {t}");
        }
    }
}

/// Arguments of `clinrag rm`.
#[derive(clap::Args)]
pub struct RmArgs {
    /// Document ids.
    #[arg(required = true)]
    ids: Vec<String>,
}

/// Runs `clinrag rm`.
pub async fn rm(g: &Global, args: RmArgs) -> anyhow::Result<ExitCode> {
    let ing = crate::store::ingestor(g, Default::default(), false).await?;
    let mut removed = Vec::new();
    let mut missing = Vec::new();
    for id in &args.ids {
        if ing.remove(id).await? {
            removed.push(id.clone());
        } else {
            missing.push(id.clone());
        }
    }
    if g.json {
        println!(
            "{}",
            serde_json::json!({"removed": removed, "not_found": missing})
        );
    } else {
        for id in &removed {
            println!("removed {id}");
        }
        for id in &missing {
            eprintln!("no such document: {id}");
        }
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
