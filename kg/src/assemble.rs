//! Builds the concept graph from the vocabulary files of a clinrag home folder.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use clinrag_phenotype::{Annotations, DiseaseId, Ontology};

use crate::atc::{Atc, load_atc};
use crate::drugs::{load_ndc_products, load_ner_dictionary, load_synonyms_dat, merge_drug_names};
use crate::error::{KgError, Result};
use crate::graph::{ConceptGraph, Detail, Edge, EdgeKind, Node, NodeKind, Vocab};
use crate::icd10cm::{Icd10cm, IcdLevel, load_icd10cm, note_references, resolve_reference};
use crate::mesh::load_mesh;
use crate::report::LoadReport;
use crate::text::normalize_term;

/// Where the vocabulary files are (relative to the home folder by default).
#[derive(Debug, Clone)]
pub struct VocabPaths {
    /// CDC ICD-10-CM tabular XML.
    pub icd10cm_tabular: PathBuf,
    /// CDC ICD-10-CM code list (cross-check).
    pub icd10cm_code_list: PathBuf,
    /// ATC CSV.
    pub atc: PathBuf,
    /// MeSH descriptor CSV.
    pub mesh: PathBuf,
    /// Drug NER dictionary (bz2 pickle).
    pub drug_ner: PathBuf,
    /// drugstandards synonyms pickle.
    pub drug_synonyms: PathBuf,
    /// FDA NDC product file.
    pub ndc_products: PathBuf,
    /// HPO ontology.
    pub hpo_obo: PathBuf,
    /// HPO disease annotations.
    pub hpoa: PathBuf,
}

impl VocabPaths {
    /// The standard layout under `home` (see DATA.md).
    pub fn from_home(home: &Path) -> Self {
        let v = home.join("vocab");
        VocabPaths {
            icd10cm_tabular: v.join("icd10cm/icd10c-tabular-April-1-2026.xml"),
            icd10cm_code_list: v.join("icd10cm/code-list-April-2026.txt"),
            atc: v.join("atc/atc_only-utf8.csv"),
            mesh: v.join("mesh/subjects_mesh.csv"),
            drug_ner: v.join("drugs/drug_ner_dictionary.pkl.bz2"),
            drug_synonyms: v.join("drugs/synonyms.dat"),
            ndc_products: v.join("drugs/product.txt"),
            hpo_obo: v.join("hpo/hp.obo"),
            hpoa: v.join("hpo/phenotype.hpoa"),
        }
    }
}

fn missing(path: &Path) -> LoadReport {
    let mut r = LoadReport::new(
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    r.note(format!("{} is missing: source not loaded", path.display()));
    r
}

fn concept(
    vocab: Vocab,
    code: String,
    label: String,
    synonyms: Vec<String>,
    detail: Detail,
) -> Node {
    Node {
        kind: NodeKind::Concept,
        vocab,
        code,
        label,
        synonyms,
        detail,
    }
}

/// Adds ICD-10-CM entries, their hierarchy and excludes edges.
pub fn add_icd10cm(g: &mut ConceptGraph, icd: Icd10cm) {
    let mut report = icd.report;
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut nodes = Vec::with_capacity(icd.codes.len());
    for (k, c) in icd.codes.iter().enumerate() {
        at.insert(c.code.clone(), k);
        let n = g.add_node(concept(
            Vocab::Icd10cm,
            c.code.clone(),
            c.label.clone(),
            c.notes.inclusion_terms.clone(),
            Detail::Icd {
                level: c.level,
                billable: c.billable,
                notes: c.notes.clone(),
            },
        ));
        nodes.push(n);
    }
    let (mut unresolved, mut excl) = (0usize, 0usize);
    for (k, c) in icd.codes.iter().enumerate() {
        if let Some(p) = c.parent.as_ref().and_then(|p| at.get(p)) {
            g.add_edge(nodes[k], nodes[*p], Edge::new(EdgeKind::IsA));
        }
        for (kind, notes) in [
            (EdgeKind::Excludes1, &c.notes.excludes1),
            (EdgeKind::Excludes2, &c.notes.excludes2),
        ] {
            for note in notes {
                for r in note_references(note) {
                    match resolve_reference(&r, &at) {
                        Some(t) if t != c.code => {
                            if let Some(&ti) = at.get(&t) {
                                g.add_edge(nodes[k], nodes[ti], Edge::new(kind));
                                excl += 1;
                            }
                        }
                        Some(_) => {}
                        None => {
                            unresolved += 1;
                            if unresolved <= 3 {
                                report.note(format!(
                                    "line {}: {} note refers to unknown code {r}",
                                    c.line,
                                    kind.name()
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    report.note(format!("{excl} excludes edges from note references; {unresolved} references to codes not in the tabular"));
    let _ = IcdLevel::Chapter;
    g.add_report(report);
}

/// Adds ATC entries and their hierarchy.
pub fn add_atc(g: &mut ConceptGraph, atc: &Atc) {
    let mut idx = HashMap::new();
    for c in &atc.codes {
        let n = g.add_node(concept(
            Vocab::Atc,
            c.code.clone(),
            c.label.clone(),
            Vec::new(),
            Detail::Atc { level: c.level },
        ));
        idx.insert(c.code.clone(), n);
    }
    for c in &atc.codes {
        if let (Some(a), Some(p)) = (idx.get(&c.code), c.parent.as_ref().and_then(|p| idx.get(p))) {
            g.add_edge(*a, *p, Edge::new(EdgeKind::IsA));
        }
    }
    g.add_report(atc.report.clone());
}

/// Adds HPO terms (obsolete ones too, with `maps_to` to their replacement) and their hierarchy.
pub fn add_hpo(g: &mut ConceptGraph, ont: &Ontology) {
    let mut report = LoadReport::new(
        ont.source()
            .rsplit('/')
            .next()
            .unwrap_or("hp.obo")
            .to_string(),
    );
    for w in ont.warnings() {
        report.skip(w.line, w.message.clone());
    }
    let code = |id: clinrag_phenotype::HpoId| format!("{:07}", id.number());
    let mut idx = HashMap::new();
    for t in ont.all_terms() {
        let synonyms = t
            .synonyms
            .iter()
            .filter(|s| s.scope == clinrag_phenotype::SynonymScope::Exact)
            .map(|s| s.text.clone())
            .collect();
        let n = g.add_node(concept(
            Vocab::Hpo,
            code(t.id),
            t.name.clone(),
            synonyms,
            Detail::Hpo {
                obsolete: t.obsolete,
                replaced_by: t.replaced_by.map(|r| r.to_string()),
            },
        ));
        idx.insert(t.id, n);
        report.loaded += 1;
    }
    for t in ont.all_terms() {
        let Some(&n) = idx.get(&t.id) else { continue };
        for p in &t.parents {
            if let Some(&pn) = idx.get(p) {
                g.add_edge(n, pn, Edge::new(EdgeKind::IsA));
            }
        }
        if let Some(r) = t.replaced_by.and_then(|r| idx.get(&r)) {
            g.add_edge(n, *r, Edge::new(EdgeKind::MapsTo));
        }
    }
    if let Some(v) = ont.data_version() {
        report.note(format!("data-version {v}"));
    }
    g.add_report(report);
}

/// Adds OMIM and ORPHA diseases with `has_phenotype` edges (frequency, onset).
pub fn add_diseases(g: &mut ConceptGraph, ann: &Annotations) {
    let mut report = LoadReport::new("phenotype.hpoa");
    let r = ann.report();
    for p in &r.problems {
        report.skip(p.line, p.message.clone());
    }
    report.skipped = r.malformed_rows + r.unknown_ids;
    report.note(format!(
        "{} OMIM and {} ORPHA diseases, {} phenotype rows, {} NOT rows, {} rows with mapped ids, skipped by database {:?}",
        r.omim_diseases, r.orpha_diseases, r.phenotype_rows, r.not_rows, r.mapped_ids, r.skipped_database_rows
    ));
    let mut missing_terms = 0usize;
    for d in ann.diseases() {
        let (vocab, code) = match d.id {
            DiseaseId::Omim(n) => (Vocab::Omim, n.to_string()),
            DiseaseId::Orpha(n) => (Vocab::Orpha, n.to_string()),
        };
        let dn = g.add_node(Node {
            kind: NodeKind::Disease,
            vocab,
            code,
            label: d.name.clone(),
            synonyms: Vec::new(),
            detail: Detail::None,
        });
        report.loaded += 1;
        for p in &d.phenotypes {
            let Some(pn) = g.find(Vocab::Hpo, &format!("{:07}", p.term.number())) else {
                missing_terms += 1;
                continue;
            };
            let mut e = Edge::new(EdgeKind::HasPhenotype);
            e.frequency = p.frequency.value().map(|v| v as f32);
            e.qualifier = p.onset.map(|o| o.to_string());
            g.add_edge(dn, pn, e);
        }
    }
    if missing_terms > 0 {
        report.note(format!(
            "{missing_terms} annotations to HPO terms not in the graph"
        ));
    }
    g.add_report(report);
}

/// Builds the whole graph from the files at `paths`. Missing files are reported and left
/// out; malformed files are errors naming file and line.
pub fn build_graph(paths: &VocabPaths) -> Result<ConceptGraph> {
    let mut g = ConceptGraph::new();
    if paths.icd10cm_tabular.exists() {
        let list = paths
            .icd10cm_code_list
            .exists()
            .then_some(paths.icd10cm_code_list.as_path());
        add_icd10cm(&mut g, load_icd10cm(&paths.icd10cm_tabular, list)?);
    } else {
        g.add_report(missing(&paths.icd10cm_tabular));
    }
    let atc = if paths.atc.exists() {
        let atc = load_atc(&paths.atc)?;
        add_atc(&mut g, &atc);
        atc
    } else {
        g.add_report(missing(&paths.atc));
        Atc {
            codes: Vec::new(),
            report: LoadReport::default(),
        }
    };
    if paths.mesh.exists() {
        let mesh = load_mesh(&paths.mesh)?;
        for d in &mesh.descriptors {
            g.add_node(concept(
                Vocab::Mesh,
                d.id.clone(),
                d.name.clone(),
                Vec::new(),
                Detail::None,
            ));
        }
        g.add_report(mesh.report);
    } else {
        g.add_report(missing(&paths.mesh));
    }
    if paths.hpo_obo.exists() {
        let ont = Ontology::load(&paths.hpo_obo).map_err(|e| KgError::Phenotype(e.to_string()))?;
        add_hpo(&mut g, &ont);
        if paths.hpoa.exists() {
            let ann = Annotations::load(&paths.hpoa, &ont)
                .map_err(|e| KgError::Phenotype(e.to_string()))?;
            add_diseases(&mut g, &ann);
        } else {
            g.add_report(missing(&paths.hpoa));
        }
    } else {
        g.add_report(missing(&paths.hpo_obo));
    }
    add_drugs(&mut g, paths, &atc)?;
    add_label_equivalences(&mut g);
    Ok(g)
}

/// Normalised labels (and synonyms) of the clinical vocabularies: a "brand" with one of these
/// names (homeopathic products called "Hypertension" or "Edema") is not linked as a brand.
fn clinical_names(g: &ConceptGraph) -> HashSet<String> {
    let mut out = HashSet::new();
    for n in g.graph().node_weights() {
        if matches!(
            n.vocab,
            Vocab::Hpo | Vocab::Icd10cm | Vocab::Mesh | Vocab::Omim | Vocab::Orpha
        ) {
            out.insert(normalize_term(&n.label));
            for s in &n.synonyms {
                out.insert(normalize_term(s));
            }
        }
    }
    out
}

/// `maps_to` edges between HPO, ICD-10-CM and MeSH concepts whose preferred labels are equal
/// after normalisation (ICD-10-CM labels also without a trailing "unspecified").
pub fn add_label_equivalences(g: &mut ConceptGraph) {
    let mut groups: HashMap<String, Vec<(Vocab, crate::NodeIx)>> = HashMap::new();
    for i in g.graph().node_indices() {
        let n = &g.graph()[i];
        let ok = match (&n.vocab, &n.detail) {
            (Vocab::Icd10cm, Detail::Icd { level, .. }) => {
                matches!(level, IcdLevel::Category | IcdLevel::Subcategory)
            }
            (Vocab::Hpo, Detail::Hpo { obsolete, .. }) => !obsolete,
            (Vocab::Mesh, _) => true,
            _ => false,
        };
        if !ok {
            continue;
        }
        let mut key = normalize_term(&n.label);
        if n.vocab == Vocab::Icd10cm
            && let Some(k) = key.strip_suffix(" unspecified")
        {
            key = k.to_string();
        }
        groups.entry(key).or_default().push((n.vocab, i));
    }
    let mut added = 0usize;
    let mut keys: Vec<&String> = groups.keys().collect();
    keys.sort();
    let mut edges = Vec::new();
    for k in keys {
        let members = &groups[k];
        for (a, ia) in members {
            for (b, ib) in members {
                // One edge per pair of vocabularies, HPO -> ICD-10-CM -> MeSH.
                if a < b
                    && !(*a == Vocab::Icd10cm
                        && members.iter().filter(|(v, _)| *v == Vocab::Icd10cm).count() > 2)
                {
                    edges.push((*ia, *ib));
                }
            }
        }
    }
    for (a, b) in edges {
        g.add_edge(a, b, Edge::new(EdgeKind::MapsTo));
        added += 1;
    }
    let mut r = LoadReport::new("label equivalences");
    r.loaded = added;
    r.note(format!("{added} maps_to edges between HPO, ICD-10-CM and MeSH concepts with the same normalised label"));
    g.add_report(r);
}

fn add_drugs(g: &mut ConceptGraph, paths: &VocabPaths, atc: &Atc) -> Result<()> {
    let ner = if paths.drug_ner.exists() {
        Some(load_ner_dictionary(&paths.drug_ner)?)
    } else {
        None
    };
    let syn = if paths.drug_synonyms.exists() {
        Some(load_synonyms_dat(&paths.drug_synonyms)?)
    } else {
        None
    };
    let ndc = if paths.ndc_products.exists() {
        Some(load_ndc_products(&paths.ndc_products)?)
    } else {
        None
    };
    for (present, p) in [
        (ner.is_some(), &paths.drug_ner),
        (syn.is_some(), &paths.drug_synonyms),
        (ndc.is_some(), &paths.ndc_products),
    ] {
        if !present {
            g.add_report(missing(p));
        }
    }
    let names = merge_drug_names(
        ner.as_ref().map(|n| (n, paths.drug_ner.as_path())),
        syn.as_ref().map(|s| (s, paths.drug_synonyms.as_path())),
        ndc.as_ref().map(|(p, r)| (p.as_slice(), r.clone())),
        atc,
    );
    let mut drug_nodes = Vec::with_capacity(names.drugs.len());
    for d in &names.drugs {
        let code = d.drugbank.clone().unwrap_or_else(|| d.key.clone());
        let n = g.add_node(concept(
            Vocab::Drug,
            code,
            d.name.clone(),
            d.synonyms.clone(),
            Detail::Drug {
                drugbank: d.drugbank.clone(),
                mesh: d.mesh.clone(),
                components: d.components.clone(),
            },
        ));
        for a in &d.atc {
            if let Some(an) = g.find(Vocab::Atc, a) {
                g.add_edge(n, an, Edge::new(EdgeKind::MapsTo));
            }
        }
        if let Some(mn) = d.mesh.as_ref().and_then(|m| g.find(Vocab::Mesh, m)) {
            g.add_edge(n, mn, Edge::new(EdgeKind::MapsTo));
        }
        drug_nodes.push(n);
    }
    let clinical = clinical_names(g);
    let mut clinical_brands = Vec::new();
    for b in &names.brands {
        if clinical.contains(&normalize_term(&b.name)) {
            if clinical_brands.len() < 5 {
                clinical_brands.push(b.name.clone());
            }
            continue;
        }
        let bn = g.add_node(concept(
            Vocab::Brand,
            normalize_term(&b.name).to_uppercase(),
            b.name.clone(),
            Vec::new(),
            Detail::None,
        ));
        for &d in &b.drugs {
            if let Some(&dn) = drug_nodes.get(d) {
                g.add_edge(bn, dn, Edge::new(EdgeKind::BrandOf));
            }
        }
    }
    let dropped = names
        .brands
        .iter()
        .filter(|b| clinical.contains(&normalize_term(&b.name)))
        .count();
    for mut r in names.reports {
        if r.source == "drug names -> ATC" {
            r.note(format!("{dropped} \"brand\" names equal to a disease, phenotype or MeSH name left out (homeopathic products named after a condition, chemical synonyms), e.g. {clinical_brands:?}"));
        }
        g.add_report(r);
    }
    Ok(())
}
