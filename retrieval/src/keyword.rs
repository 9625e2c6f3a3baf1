//! The keyword index: one tantivy document per chunk, BM25 over title, section, text and MeSH
//! with field boosts and English stemming, and search hits that carry their citation.
//!
//! The index is derived data: the catalog decides what should be in it (`indexed` flags and
//! tombstones), and a lost or stale index is rebuilt from the catalog.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::document::{Chunk, Document, char_slice_from};
use crate::error::{Error, Result};

/// Bumped whenever the schema or the analysis changes; an index of another version is refused.
pub const SCHEMA_VERSION: &str = "clinrag-keyword-1";
const VERSION_FILE: &str = "clinrag-schema-version";
/// Memory budget of the index writer (tantivy needs at least 15 MB per thread).
const WRITER_BUDGET: usize = 96 * 1024 * 1024;

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    doc_id: Field,
    title: Field,
    section: Field,
    text: Field,
    mesh: Field,
    source: Field,
    year: Field,
    start: Field,
    end: Field,
    concepts: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stemmed = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let f = Fields {
        chunk_id: b.add_text_field("chunk_id", STRING | STORED),
        doc_id: b.add_text_field("doc_id", STRING | STORED),
        title: b.add_text_field("title", stemmed.clone()),
        section: b.add_text_field("section", stemmed.clone()),
        text: b.add_text_field("text", stemmed.clone()),
        mesh: b.add_text_field("mesh", stemmed),
        source: b.add_text_field("source", STRING | STORED),
        year: b.add_u64_field("year", INDEXED | FAST | STORED),
        start: b.add_u64_field("start", STORED),
        end: b.add_u64_field("end", STORED),
        concepts: b.add_text_field("concepts", STRING | STORED),
    };
    (b.build(), f)
}

/// Field boosts for BM25: a match in the title or MeSH weighs more than one in the text.
const BOOSTS: [(&str, f32); 4] = [
    ("title", 1.6),
    ("mesh", 1.3),
    ("section", 0.4),
    ("text", 1.0),
];

/// A search result: a chunk with its citation (document id, section, character span, text).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// 1-based rank.
    pub rank: usize,
    /// Retrieval score (BM25 for keyword search).
    pub score: f32,
    /// Canonical document id.
    pub doc_id: String,
    /// Chunk id.
    pub chunk_id: String,
    /// Document title.
    pub title: String,
    /// Section name.
    pub section: String,
    /// First character of the passage in the document body.
    pub start: usize,
    /// End character of the passage (exclusive).
    pub end: usize,
    /// The passage text, exactly the body's `[start, end)`.
    pub text: String,
}

/// Optional restrictions on a search.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    /// Only documents published in or after this year.
    pub year_min: Option<u64>,
    /// Only documents published in or before this year.
    pub year_max: Option<u64>,
    /// Only these source formats (`pubmed`, `pmc`, `markdown`, `text`, `jsonl`).
    pub sources: Vec<String>,
}

/// Sizes for `clinrag stats`.
#[derive(Debug, Clone, Serialize)]
pub struct KeywordStats {
    /// Chunks in the index.
    pub chunks: u64,
    /// Segments.
    pub segments: usize,
    /// Bytes on disk.
    pub bytes: u64,
}

/// The on-disk keyword index. Cheap to clone; searching never blocks writing.
#[derive(Clone)]
pub struct KeywordIndex {
    path: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl std::fmt::Debug for KeywordIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeywordIndex")
            .field("path", &self.path)
            .finish()
    }
}

impl KeywordIndex {
    /// Opens the index in `dir`, creating it if the folder is empty or missing.
    pub fn open_or_create(dir: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let (schema, fields) = schema();
        let version_path = dir.join(VERSION_FILE);
        let exists = dir.join("meta.json").exists();
        if exists {
            let found = std::fs::read_to_string(&version_path).unwrap_or_default();
            if found.trim() != SCHEMA_VERSION {
                return Err(Error::SchemaMismatch {
                    path: dir.to_owned(),
                    found: found.trim().to_owned(),
                    expected: SCHEMA_VERSION.to_owned(),
                });
            }
        }
        let tantivy_err = |source| Error::Index {
            path: dir.to_owned(),
            source,
        };
        let index = if exists && crate::keyword_ro::lock_file_unwritable(dir) {
            // A read-only file system: search without the lock file tantivy cannot create.
            let mmap = tantivy::directory::MmapDirectory::open(dir)
                .map_err(|e| tantivy_err(tantivy::TantivyError::from(e)))?;
            Index::open(crate::keyword_ro::ReadOnlyDir(mmap)).map_err(tantivy_err)?
        } else if exists {
            Index::open_in_dir(dir).map_err(tantivy_err)?
        } else {
            // The version file first: `meta.json` is what makes the folder an index, so a
            // process killed in between leaves a folder that is simply created again.
            std::fs::write(&version_path, SCHEMA_VERSION).map_err(io)?;
            Index::create_in_dir(dir, schema).map_err(tantivy_err)?
        };
        let reader = index
            .reader_builder()
            // Readers in other processes (`clinrag serve`) pick up each commit of a running
            // ingest within about a second; a commit is atomic, so a reader sees whole
            // documents only, and the catalog holds them before the index commit.
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(tantivy_err)?;
        Ok(Self {
            path: dir.to_owned(),
            index,
            reader,
            fields,
        })
    }

    fn err(&self, source: tantivy::TantivyError) -> Error {
        Error::Index {
            path: self.path.clone(),
            source,
        }
    }

    /// Takes the index's single writer lock. Fails with a retryable error if another process
    /// is writing.
    pub fn writer(&self) -> Result<KeywordWriter> {
        let writer: IndexWriter = self
            .index
            .writer_with_num_threads(1, WRITER_BUDGET)
            .map_err(|e| self.err(e))?;
        // A writer killed mid-commit leaves files no commit references, among them a delete
        // file named after the next opstamp, which this writer's commit would then fail to
        // create ("file already exists"): collect them before any change.
        writer
            .garbage_collect_files()
            .wait()
            .map_err(|e| self.err(e))?;
        Ok(KeywordWriter {
            index: self.clone(),
            writer,
        })
    }

    /// Picks up the latest commit.
    pub fn reload(&self) -> Result<()> {
        self.reader.reload().map_err(|e| self.err(e))
    }

    /// BM25 search for `query`; returns at most `k` hits, best first.
    pub fn search(&self, query: &str, k: usize, filter: &SearchFilter) -> Result<Vec<Hit>> {
        let q = validate_query(query)?;
        let f = self.fields;
        let mut parser =
            QueryParser::for_index(&self.index, vec![f.title, f.mesh, f.section, f.text]);
        for (name, boost) in BOOSTS {
            if let Ok(field) = self.index.schema().get_field(name) {
                parser.set_field_boost(field, boost);
            }
        }
        // Query syntax is not exposed: every non-alphanumeric character becomes a separator,
        // so text pasted from a note or a paper never fails to parse.
        let cleaned: String = q
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect();
        let (text_query, _errors) = parser.parse_query_lenient(&cleaned);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_query)];
        clauses.extend(filter_clauses(&f, filter));
        self.collect(&BooleanQuery::new(clauses), k)
    }

    /// Chunks whose linked concepts include `concept_id` (e.g. `OMIM:154700`, `HP:0001166`),
    /// best BM25 match of the concept's `label` first when one is given.
    pub fn chunks_mentioning(
        &self,
        concept_id: &str,
        label: Option<&str>,
        k: usize,
    ) -> Result<Vec<Hit>> {
        let f = self.fields;
        let must: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_text(f.concepts, concept_id),
            IndexRecordOption::Basic,
        ));
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, must)];
        if let Some(l) = label.filter(|l| !l.trim().is_empty()) {
            let parser = QueryParser::for_index(&self.index, vec![f.title, f.text]);
            let cleaned: String = l
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { ' ' })
                .collect();
            let (q, _) = parser.parse_query_lenient(&cleaned);
            clauses.push((Occur::Should, q));
        }
        self.collect(&BooleanQuery::new(clauses), k)
    }

    /// BM25 search for `query` plus extra phrases at their own weights (graph-expanded
    /// retrieval: a chunk matching only an extra phrase is a candidate too). Each hit comes with
    /// the ids among `concepts` that its `concepts` field holds.
    pub fn search_with_terms(
        &self,
        query: &str,
        extra: &[(String, f32)],
        concepts: &[String],
        k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<(Hit, Vec<String>)>> {
        let q = validate_query(query)?;
        let f = self.fields;
        let mut parser =
            QueryParser::for_index(&self.index, vec![f.title, f.mesh, f.section, f.text]);
        for (name, boost) in BOOSTS {
            if let Ok(field) = self.index.schema().get_field(name) {
                parser.set_field_boost(field, boost);
            }
        }
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_alphanumeric() { c } else { ' ' })
                .collect()
        };
        let mut any: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Should, parser.parse_query_lenient(&clean(q)).0)];
        // Every word of an extra phrase must match ("spider fingers", not "spider" alone).
        parser.set_conjunction_by_default();
        for (term, weight) in extra {
            let cleaned = clean(term);
            if cleaned.trim().is_empty() || !weight.is_finite() || *weight <= 0.0 {
                continue;
            }
            let (tq, _) = parser.parse_query_lenient(&cleaned);
            any.push((
                Occur::Should,
                Box::new(tantivy::query::BoostQuery::new(tq, *weight)),
            ));
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, Box::new(BooleanQuery::new(any)))];
        clauses.extend(filter_clauses(&f, filter));
        let hits = self.collect_with_concepts(&BooleanQuery::new(clauses), k)?;
        Ok(hits
            .into_iter()
            .map(|(h, cs)| {
                let keep = cs.into_iter().filter(|c| concepts.contains(c)).collect();
                (h, keep)
            })
            .collect())
    }

    /// The linked concept ids stored with a chunk (empty when the chunk is not in the index).
    pub fn chunk_concepts(&self, chunk_id: &str) -> Result<Vec<String>> {
        let q = TermQuery::new(
            Term::from_field_text(self.fields.chunk_id, chunk_id),
            IndexRecordOption::Basic,
        );
        Ok(self
            .collect_with_concepts(&q, 1)?
            .into_iter()
            .next()
            .map(|(_, c)| c)
            .unwrap_or_default())
    }

    fn collect(&self, query: &dyn Query, k: usize) -> Result<Vec<Hit>> {
        Ok(self
            .collect_with_concepts(query, k)?
            .into_iter()
            .map(|(h, _)| h)
            .collect())
    }

    fn collect_with_concepts(
        &self,
        query: &dyn Query,
        k: usize,
    ) -> Result<Vec<(Hit, Vec<String>)>> {
        let searcher = self.reader.searcher();
        let f = self.fields;
        let top = searcher
            .search(query, &TopDocs::with_limit(k.max(1)).order_by_score())
            .map_err(|e| self.err(e))?;
        let mut hits = Vec::with_capacity(top.len());
        for (i, (score, addr)) in top.into_iter().enumerate() {
            let d: TantivyDocument = searcher.doc(addr).map_err(|e| self.err(e))?;
            let s = |field| {
                d.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let n = |field| {
                d.get_first(field)
                    .and_then(|v| v.as_u64())
                    .and_then(|v| usize::try_from(v).ok())
                    .unwrap_or(0)
            };
            let concepts = d
                .get_all(f.concepts)
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            hits.push((
                Hit {
                    rank: i + 1,
                    score,
                    doc_id: s(f.doc_id),
                    chunk_id: s(f.chunk_id),
                    title: s(f.title),
                    section: s(f.section),
                    start: n(f.start),
                    end: n(f.end),
                    text: s(f.text),
                },
                concepts,
            ));
        }
        Ok(hits)
    }

    /// Every document id present in the committed index (for consistency checks).
    pub fn doc_ids(&self) -> Result<BTreeSet<String>> {
        let searcher = self.reader.searcher();
        let mut out = BTreeSet::new();
        for seg in searcher.segment_readers() {
            let inv = seg
                .inverted_index(self.fields.doc_id)
                .map_err(|e| self.err(e))?;
            let mut terms = inv.terms().stream().map_err(|e| self.err(e.into()))?;
            while terms.advance() {
                // A term stays in the dictionary until merged away even if all its docs are
                // deleted: count only terms with a live posting.
                let term = Term::from_field_text(
                    self.fields.doc_id,
                    std::str::from_utf8(terms.key()).unwrap_or_default(),
                );
                let live = seg.alive_bitset().is_none()
                    || inv
                        .read_postings(&term, IndexRecordOption::Basic)
                        .map_err(|e| self.err(e.into()))?
                        .is_some_and(|mut p| {
                            use tantivy::DocSet;
                            let alive = seg.alive_bitset();
                            let mut doc = p.doc();
                            while doc != tantivy::TERMINATED {
                                if alive.is_none_or(|a| a.is_alive(doc)) {
                                    return true;
                                }
                                doc = p.advance();
                            }
                            false
                        });
                if live {
                    out.insert(String::from_utf8_lossy(terms.key()).into_owned());
                }
            }
        }
        Ok(out)
    }

    /// Number of chunks for one document in the committed index.
    pub fn chunk_count(&self, doc_id: &str) -> Result<usize> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(
            Term::from_field_text(self.fields.doc_id, doc_id),
            IndexRecordOption::Basic,
        );
        searcher
            .search(&q, &tantivy::collector::Count)
            .map_err(|e| self.err(e))
    }

    /// Sizes of the committed index.
    pub fn stats(&self) -> Result<KeywordStats> {
        let searcher = self.reader.searcher();
        Ok(KeywordStats {
            chunks: searcher.num_docs(),
            segments: searcher.segment_readers().len(),
            bytes: dir_size(&self.path),
        })
    }

    /// Folder of the index.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The single writer of a [`KeywordIndex`].
pub struct KeywordWriter {
    index: KeywordIndex,
    writer: IndexWriter,
}

impl KeywordWriter {
    /// Replaces every chunk of `doc` with `chunks` (delete by document id, then add).
    /// `concepts` holds, per chunk, concept ids linked in it (may be empty).
    pub fn replace_document(
        &mut self,
        doc: &Document,
        chunks: &[Chunk],
        concepts: &[Vec<String>],
    ) -> Result<()> {
        let f = self.index.fields;
        self.writer
            .delete_term(Term::from_field_text(f.doc_id, &doc.doc_id));
        let mesh = doc.mesh.join("; ");
        let mut at = (0, 0);
        for (i, c) in chunks.iter().enumerate() {
            let text = char_slice_from(&doc.body, &mut at, c.start, c.end).ok_or_else(|| {
                Error::Corrupt {
                    what: c.chunk_id.clone(),
                    detail: format!("span {}..{} outside the document body", c.start, c.end),
                }
            })?;
            let mut d = TantivyDocument::default();
            d.add_text(f.chunk_id, &c.chunk_id);
            d.add_text(f.doc_id, &doc.doc_id);
            d.add_text(f.title, &doc.title);
            d.add_text(f.section, &c.section);
            d.add_text(f.text, text);
            d.add_text(f.mesh, &mesh);
            d.add_text(f.source, &doc.source);
            if let Some(y) = doc.year.and_then(|y| u64::try_from(y).ok()) {
                d.add_u64(f.year, y);
            }
            d.add_u64(f.start, c.start as u64);
            d.add_u64(f.end, c.end as u64);
            for concept in concepts.get(i).into_iter().flatten() {
                d.add_text(f.concepts, concept);
            }
            self.writer.add_document(d).map_err(|e| self.index.err(e))?;
        }
        Ok(())
    }

    /// Removes every chunk of a document.
    pub fn delete_document(&mut self, doc_id: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.index.fields.doc_id, doc_id));
    }

    /// Removes every chunk of every document.
    pub fn delete_all(&mut self) -> Result<()> {
        self.writer
            .delete_all_documents()
            .map(|_| ())
            .map_err(|e| self.index.err(e))
    }

    /// Makes all changes durable and visible atomically, then reloads the reader.
    pub fn commit(&mut self) -> Result<()> {
        self.writer.commit().map_err(|e| self.index.err(e))?;
        self.index.reload()
    }

    /// Waits for background merges and releases the writer lock.
    pub fn finish(self) -> Result<()> {
        let index = self.index.clone();
        self.writer.wait_merging_threads().map_err(|e| index.err(e))
    }
}

/// Checks a query: not empty, not longer than [`crate::MAX_QUERY_CHARS`].
pub fn validate_query(query: &str) -> Result<&str> {
    let q = query.trim();
    if q.is_empty() {
        return Err(Error::InvalidQuery("the query is empty".into()));
    }
    let n = q.chars().count();
    if n > crate::MAX_QUERY_CHARS {
        return Err(Error::InvalidQuery(format!(
            "the query has {n} characters; the limit is {}",
            crate::MAX_QUERY_CHARS
        )));
    }
    Ok(q)
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The `Must` clauses of a [`SearchFilter`]: a year range and any of the sources.
fn filter_clauses(f: &Fields, filter: &SearchFilter) -> Vec<(Occur, Box<dyn Query>)> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if filter.year_min.is_some() || filter.year_max.is_some() {
        let lo = filter.year_min.map_or(Bound::Unbounded, |y| {
            Bound::Included(Term::from_field_u64(f.year, y))
        });
        let hi = filter.year_max.map_or(Bound::Unbounded, |y| {
            Bound::Included(Term::from_field_u64(f.year, y))
        });
        clauses.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
    }
    if !filter.sources.is_empty() {
        let any: Vec<(Occur, Box<dyn Query>)> = filter
            .sources
            .iter()
            .map(|s| {
                let t =
                    TermQuery::new(Term::from_field_text(f.source, s), IndexRecordOption::Basic);
                (Occur::Should, Box::new(t) as Box<dyn Query>)
            })
            .collect();
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    clauses
}
