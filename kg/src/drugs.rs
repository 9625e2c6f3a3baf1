//! Drug name sources (drug-NER dictionary pickle, drugstandards `synonyms.dat`, FDA NDC
//! `product.txt`) merged into substances, brands and combinations, with substances mapped
//! to ATC level-5 codes by normalised name (US and INN names, salts stripped).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufReader, Read};
use std::path::Path;

use crate::atc::Atc;
use crate::error::{KgError, Result};
use crate::pickle;
use crate::report::LoadReport;
use crate::text::normalize_term;

/// A substance or a fixed combination of substances.
#[derive(Debug, Clone, PartialEq)]
pub struct Drug {
    /// Normalised name, the merge key ("metoprolol", "acetaminophen / hydrocodone").
    pub key: String,
    /// Display name.
    pub name: String,
    /// Other names that are not brands (INN/US variants, salt forms).
    pub synonyms: Vec<String>,
    /// DrugBank id, if known.
    pub drugbank: Option<String>,
    /// MeSH id, if known.
    pub mesh: Option<String>,
    /// Normalised component names; more than one for a combination.
    pub components: Vec<String>,
    /// ATC level-5 codes this drug maps to (for a combination: its own code if the ATC names
    /// it, else the codes of its components).
    pub atc: Vec<String>,
}

/// A brand (proprietary) name and the drugs it contains.
#[derive(Debug, Clone, PartialEq)]
pub struct Brand {
    /// The brand name as first seen.
    pub name: String,
    /// Indices into [`DrugNames::drugs`].
    pub drugs: Vec<usize>,
}

/// All drug names, merged.
#[derive(Debug, Clone, Default)]
pub struct DrugNames {
    /// Substances and combinations.
    pub drugs: Vec<Drug>,
    /// Brand names.
    pub brands: Vec<Brand>,
    /// One report per source, plus one for the ATC mapping.
    pub reports: Vec<LoadReport>,
}

/// The plain-dict layout of `drug_ner_dictionary.pkl.bz2`.
#[derive(Debug, Default)]
pub struct NerDictionary {
    /// variant (lower case) -> canonical names.
    pub drug_variant_to_canonical: HashMap<String, Vec<String>>,
    /// canonical -> data.
    pub drug_canonical_to_data: HashMap<String, NerCanonical>,
    /// variant -> flags.
    pub drug_variant_to_variant_data: HashMap<String, NerVariant>,
}

/// Data about one canonical drug of the NER dictionary.
#[derive(Debug, Default)]
pub struct NerCanonical {
    /// Display name.
    pub name: Option<String>,
    /// DrugBank id.
    pub drugbank_id: Option<String>,
    /// MeSH id.
    pub mesh_id: Option<String>,
}

/// Flags of one variant.
#[derive(Debug, Default)]
pub struct NerVariant {
    /// Whether the variant is a brand name.
    pub is_brand: Option<bool>,
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads the bz2-compressed pickle of the drug NER dictionary.
pub fn load_ner_dictionary(path: &Path) -> Result<NerDictionary> {
    let file = std::fs::File::open(path).map_err(|e| KgError::io(path, e))?;
    let mut bytes = Vec::new();
    bzip2::read::BzDecoder::new(BufReader::new(file))
        .read_to_end(&mut bytes)
        .map_err(|e| KgError::parse(path, 0, format!("not bzip2 data: {e}")))?;
    let v = pickle::from_slice(&bytes)
        .map_err(|e| KgError::parse(path, 0, format!("bad pickle at {e}")))?;
    ner_from_value(&v).map_err(|m| KgError::parse(path, 0, m))
}

fn str_list(v: &pickle::Value) -> Vec<String> {
    v.items()
        .unwrap_or_default()
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// Converts the decoded pickle into the typed dictionary.
pub fn ner_from_value(v: &pickle::Value) -> std::result::Result<NerDictionary, String> {
    let section = |name: &str| {
        v.get(name)
            .ok_or_else(|| format!("the pickle has no {name:?} dict"))
    };
    let mut out = NerDictionary::default();
    let vc = section("drug_variant_to_canonical")?;
    for (k, val) in vc
        .dict()
        .ok_or("drug_variant_to_canonical is not a dict")?
        .iter()
    {
        if let Some(k) = k.as_str() {
            out.drug_variant_to_canonical
                .insert(k.to_string(), str_list(val));
        }
    }
    let cd = section("drug_canonical_to_data")?;
    for (k, val) in cd
        .dict()
        .ok_or("drug_canonical_to_data is not a dict")?
        .iter()
    {
        if let Some(k) = k.as_str() {
            let field = |f: &str| val.get(f).and_then(|x| x.as_str().map(str::to_string));
            out.drug_canonical_to_data.insert(
                k.to_string(),
                NerCanonical {
                    name: field("name"),
                    drugbank_id: field("drugbank_id"),
                    mesh_id: field("mesh_id"),
                },
            );
        }
    }
    if let Some(vd) = v.get("drug_variant_to_variant_data") {
        for (k, val) in vd
            .dict()
            .ok_or("drug_variant_to_variant_data is not a dict")?
            .iter()
        {
            if let Some(k) = k.as_str() {
                let is_brand = match val.get("is_brand") {
                    Some(pickle::Value::Bool(b)) => Some(b),
                    _ => None,
                };
                out.drug_variant_to_variant_data
                    .insert(k.to_string(), NerVariant { is_brand });
            }
        }
    }
    Ok(out)
}

/// Reads `synonyms.dat` (a protocol-0 pickle of one dict: brand or synonym -> generic).
pub fn load_synonyms_dat(path: &Path) -> Result<HashMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|e| KgError::io(path, e))?;
    let v = pickle::from_slice(&bytes).map_err(|e| {
        let line = bytes
            .get(..e.offset)
            .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count() + 1);
        KgError::parse(path, line, format!("bad pickle at {e}"))
    })?;
    let d = v
        .dict()
        .ok_or_else(|| KgError::parse(path, 1, "the pickle is not a dict"))?;
    Ok(d.iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect())
}

/// One NDC product row that matters here.
#[derive(Debug, Clone, PartialEq)]
pub struct NdcProduct {
    /// Proprietary (brand) name.
    pub proprietary: String,
    /// Non-proprietary name.
    pub nonproprietary: String,
    /// Active substances.
    pub substances: Vec<String>,
    /// Line in the file.
    pub line: usize,
}

/// Reads the FDA NDC `product.txt` (tab-separated, header row); keeps human drugs.
pub fn load_ndc_products(path: &Path) -> Result<(Vec<NdcProduct>, LoadReport)> {
    let bytes = std::fs::read(path).map_err(|e| KgError::io(path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    parse_ndc_products(&text, path)
}

/// Parses NDC product text.
pub fn parse_ndc_products(text: &str, path: &Path) -> Result<(Vec<NdcProduct>, LoadReport)> {
    let mut report = LoadReport::new(file_name(path));
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(KgError::parse(path, 1, "empty file: expected a header row"));
    };
    let cols: Vec<&str> = header.trim_end_matches('\r').split('\t').collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| KgError::parse(path, 1, format!("header has no {name} column")))
    };
    let (c_type, c_prop, c_nonprop, c_subst) = (
        col("PRODUCTTYPENAME")?,
        col("PROPRIETARYNAME")?,
        col("NONPROPRIETARYNAME")?,
        col("SUBSTANCENAME")?,
    );
    let mut out = Vec::new();
    let mut other_types = 0usize;
    for (i, line) in lines {
        let lineno = i + 1;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < cols.len() {
            report.skip(
                lineno,
                format!(
                    "expected {} tab-separated fields, found {}",
                    cols.len(),
                    f.len()
                ),
            );
            continue;
        }
        let kind = f[c_type];
        if !(kind == "HUMAN PRESCRIPTION DRUG" || kind == "HUMAN OTC DRUG") {
            other_types += 1;
            report.skipped += 1;
            continue;
        }
        let substances: Vec<String> = f[c_subst]
            .split(';')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if f[c_prop].trim().is_empty() || substances.is_empty() {
            report.skip(lineno, "no proprietary name or no substance");
            continue;
        }
        out.push(NdcProduct {
            proprietary: f[c_prop].trim().to_string(),
            nonproprietary: f[c_nonprop].trim().to_string(),
            substances,
            line: lineno,
        });
    }
    if other_types > 0 {
        report.note(format!("{other_types} rows of other product types (allergenics, vaccines, cellular therapy, plasma derivatives) not used"));
    }
    report.loaded = out.len();
    Ok((out, report))
}

/// Salt, ester and hydrate words stripped from the end of a substance name.
const SALTS: &[&str] = &[
    "hydrochloride",
    "hcl",
    "dihydrochloride",
    "hydrobromide",
    "sodium",
    "disodium",
    "potassium",
    "calcium",
    "magnesium",
    "succinate",
    "tartrate",
    "bitartrate",
    "maleate",
    "mesylate",
    "mesilate",
    "besylate",
    "besilate",
    "citrate",
    "sulfate",
    "phosphate",
    "acetate",
    "fumarate",
    "bromide",
    "hyclate",
    "lactate",
    "gluconate",
    "dipropionate",
    "propionate",
    "valerate",
    "furoate",
    "decanoate",
    "enanthate",
    "cypionate",
    "palmitate",
    "pamoate",
    "xinafoate",
    "tromethamine",
    "trometamol",
    "nitrate",
    "oxalate",
    "malate",
    "embonate",
    "napsylate",
    "camsylate",
    "benzoate",
    "stearate",
    "estolate",
    "ethylsuccinate",
    "monohydrate",
    "dihydrate",
    "trihydrate",
    "hemihydrate",
    "anhydrous",
    "hydrate",
    "tosylate",
    "edisylate",
    "mandelate",
    "lysine",
    "meglumine",
    "sesquihydrate",
    "pivoxil",
    "axetil",
    "monosodium",
    "trisodium",
    "chloride",
    "bisulfate",
    "hemifumarate",
    "hydroxide",
];

/// United States names and their international (INN/ATC) counterparts.
const US_INN: &[(&str, &str)] = &[
    ("acetaminophen", "paracetamol"),
    ("albuterol", "salbutamol"),
    ("levalbuterol", "levosalbutamol"),
    ("epinephrine", "adrenaline"),
    ("norepinephrine", "noradrenaline"),
    ("furosemide", "frusemide"),
    ("lidocaine", "lignocaine"),
    ("glyburide", "glibenclamide"),
    ("meperidine", "pethidine"),
    ("cyclosporine", "ciclosporin"),
    ("rifampin", "rifampicin"),
    ("aspirin", "acetylsalicylic acid"),
    ("isoproterenol", "isoprenaline"),
    ("mesalamine", "mesalazine"),
    ("dextroamphetamine", "dexamfetamine"),
    ("amphetamine", "amfetamine"),
    ("methamphetamine", "metamfetamine"),
    ("cromolyn", "cromoglicic acid"),
    ("divalproex", "valproic acid"),
    ("valproate", "valproic acid"),
    ("nitroglycerin", "glyceryl trinitrate"),
    ("torsemide", "torasemide"),
    ("cephalexin", "cefalexin"),
    ("cephalothin", "cefalotin"),
    ("penicillin g", "benzylpenicillin"),
    ("penicillin v", "phenoxymethylpenicillin"),
    ("niacin", "nicotinic acid"),
    ("simethicone", "simeticone"),
    ("dimethicone", "dimeticone"),
    ("beclomethasone", "beclometasone"),
    ("flumethasone", "flumetasone"),
    ("hydroxyurea", "hydroxycarbamide"),
    ("clomiphene", "clomifene"),
    ("chlorpheniramine", "chlorphenamine"),
    ("dicyclomine", "dicycloverine"),
    ("methotrimeprazine", "levomepromazine"),
    ("meclizine", "meclozine"),
    ("benztropine", "benzatropine"),
    ("propoxyphene", "dextropropoxyphene"),
    ("vitamin b12", "cyanocobalamin"),
    ("thiamine", "thiamine"),
    ("guaifenesin", "guaifenesin"),
    ("levothyroxine", "levothyroxine sodium"),
    ("estradiol", "estradiol"),
    ("cyanocobalamin", "cyanocobalamin"),
    ("phenobarbital", "phenobarbital"),
    ("acetylcysteine", "acetylcysteine"),
    (
        "sulfamethoxazole trimethoprim",
        "sulfamethoxazole and trimethoprim",
    ),
    ("oxtriphylline", "choline theophyllinate"),
    ("colistimethate", "colistin"),
    ("metaproterenol", "orciprenaline"),
    ("terbutaline", "terbutaline"),
    ("ethacrynic acid", "etacrynic acid"),
    ("tretinoin", "tretinoin"),
    ("busulfan", "busulfan"),
    ("cyclobenzaprine", "cyclobenzaprine"),
    ("pentobarbital", "pentobarbital"),
    ("sulfisoxazole", "sulfafurazole"),
    ("trimethobenzamide", "trimethobenzamide"),
    ("tamsulosin", "tamsulosin"),
    ("mitomycin", "mitomycin"),
    ("dihydroergotamine", "dihydroergotamine"),
    ("ergonovine", "ergometrine"),
    ("methylergonovine", "methylergometrine"),
    ("bupivacaine", "bupivacaine"),
    ("salmeterol", "salmeterol"),
];

/// Splits a combination name ("A and B", "A/B", "A, B, and C", "A; B") into normalised components.
pub fn split_combination(name: &str) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut parts = vec![lower];
    for sep in [";", "/", ", and ", " and ", ","] {
        parts = parts
            .iter()
            .flat_map(|p| p.split(sep).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    let mut out: Vec<String> = parts
        .iter()
        .map(|p| normalize_term(p))
        .filter(|p| !p.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Drops trailing salt/ester/hydrate words ("metoprolol succinate" -> "metoprolol"); never strips
/// a name down to nothing.
pub fn strip_salts(norm: &str) -> String {
    let mut words: Vec<&str> = norm.split(' ').collect();
    while words.len() > 1 {
        let Some(last) = words.last() else { break };
        // Words are normalised (plural "s" removed), so compare both forms.
        if SALTS
            .iter()
            .any(|s| *s == *last || s.strip_suffix('s') == Some(last))
        {
            words.pop();
        } else {
            break;
        }
    }
    words.join(" ")
}

/// Maps normalised substance names to ATC level-5 codes.
pub struct AtcNameIndex {
    by_name: HashMap<String, Vec<String>>,
    us_inn: HashMap<String, Vec<String>>,
}

impl AtcNameIndex {
    /// Indexes the level-5 names of `atc`, skipping generic "combinations" entries.
    pub fn new(atc: &Atc) -> Self {
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        for c in atc.codes.iter().filter(|c| c.level == 5) {
            let lower = c.label.to_lowercase();
            if lower.contains("combination")
                || lower.starts_with("various")
                || lower.contains("other ")
            {
                continue;
            }
            by_name
                .entry(normalize_term(&c.label))
                .or_default()
                .push(c.code.clone());
        }
        let mut us_inn: HashMap<String, Vec<String>> = HashMap::new();
        for (us, inn) in US_INN {
            let (us, inn) = (normalize_term(us), normalize_term(inn));
            us_inn.entry(us.clone()).or_default().push(inn.clone());
            us_inn.entry(inn).or_default().push(us);
        }
        AtcNameIndex { by_name, us_inn }
    }

    /// ATC codes for a normalised single-substance name: the name itself, the name without
    /// salts, then their US/INN counterparts, then `extra` synonyms; first hit wins.
    pub fn lookup(&self, norm: &str, extra: &[String]) -> Vec<String> {
        let stripped = strip_salts(norm);
        let mut candidates: Vec<String> = vec![norm.to_string(), stripped.clone()];
        for c in [norm, stripped.as_str()] {
            if let Some(v) = self.us_inn.get(c) {
                candidates.extend(v.iter().cloned());
            }
        }
        for e in extra {
            candidates.push(e.clone());
            candidates.push(strip_salts(e));
        }
        for c in &candidates {
            if let Some(codes) = self.by_name.get(c) {
                return codes.clone();
            }
        }
        Vec::new()
    }

    /// Whether a normalised name is an ATC substance name (directly or via US/INN).
    pub fn is_substance_name(&self, norm: &str) -> bool {
        self.by_name.contains_key(norm)
            || self
                .us_inn
                .get(norm)
                .is_some_and(|v| v.iter().any(|n| self.by_name.contains_key(n)))
    }
}

#[derive(Default)]
struct Merger {
    drugs: Vec<Drug>,
    by_key: HashMap<String, usize>,
    brands: Vec<Brand>,
    brand_by_key: HashMap<String, usize>,
}

impl Merger {
    fn drug(&mut self, name: &str) -> Option<usize> {
        let comps = split_combination(name);
        let single = normalize_term(name);
        if single.is_empty() {
            return None;
        }
        let key = if comps.len() > 1 {
            comps
                .iter()
                .map(|c| strip_salts(c))
                .collect::<Vec<_>>()
                .join(" / ")
        } else {
            strip_salts(&single)
        };
        if let Some(&i) = self.by_key.get(&key) {
            if let Some(d) = self.drugs.get_mut(i)
                && !d.name.eq_ignore_ascii_case(name)
                && !d.synonyms.iter().any(|s| s.eq_ignore_ascii_case(name))
            {
                d.synonyms.push(name.to_string());
            }
            return Some(i);
        }
        let i = self.drugs.len();
        self.drugs.push(Drug {
            key: key.clone(),
            name: name.to_string(),
            synonyms: Vec::new(),
            drugbank: None,
            mesh: None,
            components: if comps.len() > 1 { comps } else { vec![single] },
            atc: Vec::new(),
        });
        self.by_key.insert(key, i);
        Some(i)
    }

    fn brand(&mut self, name: &str, drug: usize) {
        let key = normalize_term(name);
        if key.is_empty() {
            return;
        }
        if self.by_key.get(&strip_salts(&key)) == Some(&drug) {
            // The "brand" is the generic name itself.
            return;
        }
        let i = *self.brand_by_key.entry(key).or_insert_with(|| {
            self.brands.push(Brand {
                name: name.to_string(),
                drugs: Vec::new(),
            });
            self.brands.len() - 1
        });
        if let Some(b) = self.brands.get_mut(i)
            && !b.drugs.contains(&drug)
        {
            b.drugs.push(drug);
        }
    }
}

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let lower = w.to_lowercase();
            let mut c = lower.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Merges the three drug name sources and maps substances to ATC. Any source may be absent.
pub fn merge_drug_names(
    ner: Option<(&NerDictionary, &Path)>,
    synonyms: Option<(&HashMap<String, String>, &Path)>,
    ndc: Option<(&[NdcProduct], LoadReport)>,
    atc: &Atc,
) -> DrugNames {
    let index = AtcNameIndex::new(atc);
    let mut m = Merger::default();
    let mut reports = Vec::new();

    if let Some((ner, path)) = ner {
        let mut rep = LoadReport::new(file_name(path));
        let mut canon: Vec<(&String, &NerCanonical)> = ner.drug_canonical_to_data.iter().collect();
        canon.sort_by(|a, b| a.0.cmp(b.0));
        for (key, data) in canon {
            let name = data.name.clone().unwrap_or_else(|| key.clone());
            if let Some(i) = m.drug(&name) {
                if let Some(d) = m.drugs.get_mut(i) {
                    d.drugbank = d.drugbank.take().or_else(|| data.drugbank_id.clone());
                    d.mesh = d.mesh.take().or_else(|| data.mesh_id.clone());
                }
                rep.loaded += 1;
            }
        }
        let mut variants: Vec<(&String, &Vec<String>)> =
            ner.drug_variant_to_canonical.iter().collect();
        variants.sort_by(|a, b| a.0.cmp(b.0));
        let (mut syn, mut brand) = (0usize, 0usize);
        for (n, (variant, canons)) in variants.into_iter().enumerate() {
            for c in canons {
                let Some(data) = ner.drug_canonical_to_data.get(c) else {
                    rep.skip(
                        n + 1,
                        format!("variant {variant:?} points to unknown canonical {c:?}"),
                    );
                    continue;
                };
                let cname = data.name.clone().unwrap_or_else(|| c.clone());
                let Some(i) = m.drug(&cname) else { continue };
                let vnorm = normalize_term(variant);
                let flagged = ner
                    .drug_variant_to_variant_data
                    .get(variant)
                    .and_then(|v| v.is_brand);
                // Only variants flagged as brands become brands; the rest (INN names, salts,
                // chemical names) are synonyms. Brands also come from synonyms.dat and NDC.
                let is_synonym = flagged != Some(true);
                if is_synonym {
                    if vnorm
                        != m.drugs
                            .get(i)
                            .map(|d| normalize_term(&d.name))
                            .unwrap_or_default()
                    {
                        if let Some(d) = m.drugs.get_mut(i) {
                            d.synonyms.push(variant.clone());
                        }
                        syn += 1;
                    }
                } else {
                    m.brand(&title_case(variant), i);
                    brand += 1;
                }
            }
        }
        rep.note(format!("{syn} synonym variants, {brand} brand variants (entries are positions in the sorted variant list)"));
        reports.push(rep);
    }

    if let Some((syns, path)) = synonyms {
        let mut rep = LoadReport::new(file_name(path));
        let mut pairs: Vec<(&String, &String)> = syns.iter().collect();
        pairs.sort();
        for (n, (name, generic)) in pairs.into_iter().enumerate() {
            if name.trim().is_empty() || generic.trim().is_empty() {
                rep.skip(n + 1, "empty name or generic");
                continue;
            }
            let Some(i) = m.drug(&title_case(generic)) else {
                rep.skip(n + 1, format!("generic {generic:?} has no letters"));
                continue;
            };
            let norm = normalize_term(name);
            if norm == normalize_term(generic) {
                rep.loaded += 1;
                continue;
            }
            if index.is_substance_name(&norm)
                || strip_salts(&norm) == strip_salts(&normalize_term(generic))
            {
                if let Some(d) = m.drugs.get_mut(i)
                    && !d.synonyms.iter().any(|s| normalize_term(s) == norm)
                {
                    d.synonyms.push(name.to_lowercase());
                }
            } else {
                m.brand(&title_case(name), i);
            }
            rep.loaded += 1;
        }
        reports.push(rep);
    }

    if let Some((products, mut rep)) = ndc {
        let mut many = 0usize;
        for p in products {
            // Homeopathic mixtures list dozens of "substances"; they are not combinations a
            // clinician prescribes by name.
            if p.substances.len() > 5 {
                many += 1;
                continue;
            }
            let combined = p.substances.join("; ");
            let Some(i) = m.drug(&title_case(&combined)) else {
                continue;
            };
            if normalize_term(&p.proprietary) != normalize_term(&p.nonproprietary) {
                m.brand(&p.proprietary, i);
            }
        }
        if many > 0 {
            rep.note(format!(
                "{many} products with more than 5 substances (homeopathic mixtures) not used"
            ));
        }
        reports.push(rep_finish(&mut rep));
    }

    // Map every drug to ATC.
    let mut rep = LoadReport::new("drug names -> ATC");
    let (mut singles, mut singles_mapped, mut combos, mut combos_mapped) =
        (0usize, 0usize, 0usize, 0usize);
    let mut unmapped_examples = Vec::new();
    for d in &mut m.drugs {
        let extra: Vec<String> = d.synonyms.iter().map(|s| normalize_term(s)).collect();
        if d.components.len() <= 1 {
            singles += 1;
            d.atc = index.lookup(&d.key, &extra);
            if d.atc.is_empty() {
                if unmapped_examples.len() < 5 {
                    unmapped_examples.push(d.name.clone());
                }
            } else {
                singles_mapped += 1;
            }
        } else {
            combos += 1;
            let whole = index.lookup(&normalize_term(&d.name), &extra);
            if !whole.is_empty() {
                d.atc = whole;
                combos_mapped += 1;
                continue;
            }
            let per: Vec<Vec<String>> = d.components.iter().map(|c| index.lookup(c, &[])).collect();
            if per.iter().all(|v| !v.is_empty()) {
                combos_mapped += 1;
            }
            let mut all: BTreeSet<String> = BTreeSet::new();
            for v in per {
                all.extend(v);
            }
            d.atc = all.into_iter().collect();
        }
    }
    rep.loaded = singles_mapped + combos_mapped;
    rep.skipped = (singles - singles_mapped) + (combos - combos_mapped);
    rep.note(format!(
        "{singles_mapped} of {singles} single substances mapped to ATC level 5; {combos_mapped} of {combos} combinations have every component mapped; unmapped e.g. {unmapped_examples:?}"
    ));
    rep.note(format!("{} brand names", m.brands.len()));
    reports.push(rep);
    DrugNames {
        drugs: m.drugs,
        brands: m.brands,
        reports,
    }
}

fn rep_finish(rep: &mut LoadReport) -> LoadReport {
    std::mem::take(rep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atc::parse_atc;

    fn atc() -> Atc {
        let text = "\"N02BE01\",\"PARACETAMOL\"\n\"C07AB02\",\"METOPROLOL\"\n\"R03AC02\",\"SALBUTAMOL\"\n\"N02AA01\",\"MORPHINE\"\n\"J01EE01\",\"SULFAMETHOXAZOLE AND TRIMETHOPRIM\"\n\"R05CA03\",\"GUAIFENESIN\"\n\"R05DA04\",\"CODEINE\"\n";
        parse_atc(text, Path::new("atc.csv")).unwrap()
    }

    #[test]
    fn salts_and_combinations() {
        assert_eq!(
            strip_salts(&normalize_term("Metoprolol Succinate")),
            "metoprolol"
        );
        assert_eq!(strip_salts(&normalize_term("sodium")), "sodium");
        assert_eq!(
            split_combination("Abacavir, Dolutegravir, and Lamivudine"),
            vec!["abacavir", "dolutegravir", "lamivudine"]
        );
        assert_eq!(
            split_combination("ACETAMINOPHEN/CODEINE"),
            vec!["acetaminophen", "codeine"]
        );
    }

    #[test]
    fn maps_us_names_salts_and_combos() {
        let atc = atc();
        let syns: HashMap<String, String> = [
            ("TYLENOL", "ACETAMINOPHEN"),
            ("PARACETAMOL", "ACETAMINOPHEN"),
            ("LOPRESSOR", "METOPROLOL TARTRATE"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let products = vec![NdcProduct {
            proprietary: "Tylenol with Codeine".into(),
            nonproprietary: "acetaminophen and codeine phosphate".into(),
            substances: vec!["ACETAMINOPHEN".into(), "CODEINE PHOSPHATE".into()],
            line: 2,
        }];
        let names = merge_drug_names(
            None,
            Some((&syns, Path::new("synonyms.dat"))),
            Some((&products, LoadReport::new("product.txt"))),
            &atc,
        );
        let find = |k: &str| names.drugs.iter().find(|d| d.key == k).unwrap();
        assert_eq!(find("acetaminophen").atc, vec!["N02BE01"]);
        assert_eq!(find("metoprolol").atc, vec!["C07AB02"]);
        let combo = find("acetaminophen / codeine");
        assert_eq!(combo.components, vec!["acetaminophen", "codeine phosphate"]);
        assert_eq!(combo.atc, vec!["N02BE01", "R05DA04"]);
        let brand = names.brands.iter().find(|b| b.name == "Tylenol").unwrap();
        assert_eq!(names.drugs[brand.drugs[0]].key, "acetaminophen");
        assert!(
            names.brands.iter().all(|b| b.name != "Paracetamol"),
            "an INN name is a synonym, not a brand"
        );
        let mapping = names.reports.last().unwrap();
        assert!(
            mapping.notes[0].starts_with("2 of 2 single substances"),
            "{:?}",
            mapping.notes
        );
    }
}
