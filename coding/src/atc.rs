//! The ATC coder: drug mentions (generic, US or INN name, salt forms, brand, combination,
//! misspelling within edit distance 1) mapped to level-5 ATC codes; a substance with several
//! codes gets all of them, ordered by the indication and route words of the text.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use clinrag_kg::drugs::{
    DrugNames, load_ner_dictionary, load_synonyms_dat, merge_drug_names, strip_salts,
};
use clinrag_kg::{Atc, Respelt, load_atc, normalize_term, tokenize};

use crate::context::{Status, analyse_with};
use crate::error::{CodingError, Result};
use crate::{CodeResult, Coding, Evidence, cut_input};

/// Paths under a clinrag home.
pub const ATC_PATH: &str = "vocab/atc/atc_only-utf8.csv";
/// The drug-NER dictionary pickle.
pub const NER_PATH: &str = "vocab/drugs/drug_ner_dictionary.pkl.bz2";
/// The drugstandards synonyms pickle.
pub const SYNONYMS_PATH: &str = "vocab/drugs/synonyms.dat";

/// Tunables of the ATC coder.
#[derive(Debug, Clone)]
pub struct AtcOptions {
    /// How many codes to return at most.
    pub k: usize,
}

impl Default for AtcOptions {
    fn default() -> Self {
        AtcOptions { k: 10 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Generic,
    Synonym,
    Brand,
}

#[derive(Debug, Clone)]
struct Target {
    codes: Vec<String>,
    substance: String,
    via: Via,
}

/// US names missing from the ATC (which uses INN names); the drug sources add many more.
const US_INN: &[(&str, &str)] = &[
    ("aspirin", "acetylsalicylic acid"),
    ("acetaminophen", "paracetamol"),
    ("albuterol", "salbutamol"),
    ("epinephrine", "epinephrine"),
    ("furosemide", "furosemide"),
    ("glyburide", "glibenclamide"),
    ("cyclosporine", "ciclosporin"),
    ("rifampin", "rifampicin"),
    ("mesalamine", "mesalazine"),
    ("nitroglycerin", "glyceryl trinitrate"),
    ("cephalexin", "cefalexin"),
    ("meperidine", "pethidine"),
    ("lidocaine", "lidocaine"),
    ("valproate", "valproic acid"),
    ("divalproex", "valproic acid"),
];

/// Indication and route words that favour an ATC group (prefix of the code).
const INDICATION: &[(&str, &[&str])] = &[
    (
        "B01",
        &[
            "stroke",
            "clot",
            "thrombosis",
            "thromboembolism",
            "antiplatelet",
            "anticoagulation",
            "myocardial",
            "infarction",
            "mi",
            "stent",
            "cad",
            "coronary",
            "fibrillation",
            "prevention",
            "cardioprotection",
            "cardiac",
            "81",
            "secondary",
            "dvt",
            "acs",
            "pci",
        ],
    ),
    (
        "N02",
        &[
            "pain",
            "headache",
            "ache",
            "fever",
            "migraine",
            "analgesia",
            "analgesic",
            "arthritis",
            "toothache",
            "cramp",
            "325",
            "500",
            "650",
            "1000",
            "prn",
        ],
    ),
    (
        "A01",
        &[
            "mouth",
            "mouthwash",
            "dental",
            "gum",
            "gingivitis",
            "lozenge",
            "stomatitis",
        ],
    ),
    (
        "S01",
        &[
            "eye",
            "ophthalmic",
            "drop",
            "glaucoma",
            "conjunctivitis",
            "ocular",
            "intraocular",
        ],
    ),
    ("S02", &["ear", "otic", "otitis"]),
    (
        "D",
        &[
            "cream",
            "ointment",
            "topical",
            "skin",
            "rash",
            "lotion",
            "dermatitis",
            "acne",
            "rosacea",
            "wound",
        ],
    ),
    (
        "G01",
        &[
            "vaginal",
            "vaginosis",
            "pessary",
            "vulvovaginal",
            "trichomoniasis",
        ],
    ),
    (
        "J01",
        &[
            "infection",
            "pneumonia",
            "iv",
            "bacterial",
            "sepsis",
            "uti",
            "abscess",
            "cellulitis",
        ],
    ),
    (
        "P01",
        &[
            "amoebiasis",
            "amebiasis",
            "giardia",
            "giardiasis",
            "protozoal",
            "parasite",
        ],
    ),
    (
        "A07",
        &[
            "diarrhea",
            "colitis",
            "difficile",
            "cdiff",
            "clostridium",
            "clostridioide",
        ],
    ),
    ("R01", &["nasal", "nose", "congestion", "rhinitis"]),
    (
        "R03",
        &[
            "inhaler",
            "inhaled",
            "asthma",
            "copd",
            "nebulizer",
            "nebulised",
            "nebulized",
            "wheezing",
            "puff",
        ],
    ),
    (
        "C07",
        &[
            "hypertension",
            "htn",
            "angina",
            "tachycardia",
            "rate",
            "blood pressure",
        ],
    ),
    ("C01", &["angina", "heart", "cardiac", "arrhythmia"]),
    ("H02", &["prednisone", "systemic", "flare", "oral"]),
    ("M01", &["arthritis", "inflammation", "joint", "gout"]),
    (
        "L01",
        &[
            "cancer",
            "chemotherapy",
            "leukemia",
            "lymphoma",
            "tumor",
            "carcinoma",
        ],
    ),
    (
        "L04",
        &[
            "transplant",
            "rheumatoid",
            "immunosuppression",
            "psoriasis",
            "lupus",
        ],
    ),
    (
        "A02",
        &["ulcer", "reflux", "gerd", "heartburn", "dyspepsia"],
    ),
    ("A03", &["nausea", "vomiting", "spasm"]),
    (
        "N05",
        &["sleep", "insomnia", "anxiety", "agitation", "psychosis"],
    ),
];

/// Groups used on the skin, eye, ear, mouth, nose or vagina: ranked after systemic ones
/// when the text gives no route.
const LOCAL: &[&str] = &["D", "S", "G01", "G02", "A01", "R01", "R02", "C05", "M02"];

/// Words that are never read as a misspelt drug name.
const NOT_DRUGS: &[&str] = &[
    "patient",
    "history",
    "started",
    "taking",
    "daily",
    "tablet",
    "tablets",
    "capsule",
    "morning",
    "evening",
    "bedtime",
    "pressure",
    "diabetes",
    "infection",
    "disease",
    "chronic",
    "acute",
    "allergy",
    "allergic",
    "prescribed",
    "continue",
    "continued",
    "therapy",
    "treatment",
    "medication",
    "medications",
    "presents",
    "denies",
    "reports",
    "symptoms",
    "weekly",
    "monthly",
    "injection",
    "solution",
    "suspension",
    "inhaler",
    "caused",
    "because",
    "without",
    "within",
    "insulin",
];

/// Names of an ATC level-5 label: as written, without parenthesised qualifiers
/// ("methotrexate (oral formulations only)"), and with the ATC's "insuline" spelt "insulin".
fn label_names(label: &str) -> Vec<String> {
    let mut out = vec![normalize_term(label)];
    if let Some(i) = label.find('(') {
        out.push(normalize_term(&label[..i]));
    }
    let more: Vec<String> = out
        .iter()
        .filter(|n| n.contains("insuline"))
        .map(|n| n.replace("insuline", "insulin"))
        .collect();
    out.extend(more);
    out.retain(|n| !n.is_empty());
    out.sort();
    out.dedup();
    out
}

/// The ATC coder. Build once, share (`Send + Sync`).
pub struct AtcCoder {
    titles: HashMap<String, String>,
    names: HashMap<String, Vec<Target>>,
    combos: HashMap<String, Vec<Target>>,
    deletes: HashMap<String, Vec<String>>,
    ancestors_words: HashMap<String, HashSet<String>>,
    max_words: usize,
    /// Tunables.
    pub options: AtcOptions,
}

fn deletions(w: &str) -> Vec<String> {
    let chars: Vec<char> = w.chars().collect();
    (0..chars.len())
        .map(|i| {
            chars
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| c)
                .collect()
        })
        .collect()
}

fn levenshtein_le1(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let (mut i, mut j, mut edits) = (0usize, 0usize, 0u8);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            i += 1;
            j += 1;
            continue;
        }
        edits += 1;
        if edits > 1 {
            return false;
        }
        match a.len().cmp(&b.len()) {
            std::cmp::Ordering::Greater => i += 1,
            std::cmp::Ordering::Less => j += 1,
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    edits as usize + (a.len() - i) + (b.len() - j) <= 1
}

impl AtcCoder {
    /// Loads the ATC CSV and the drug name sources of a clinrag home (missing drug sources
    /// are skipped: generic ATC names still work).
    pub fn load(home: &Path) -> Result<Self> {
        let atc_path = home.join(ATC_PATH);
        let atc = load_atc(&atc_path)?;
        if !atc.codes.iter().any(|c| c.level == 5) {
            return Err(CodingError::Empty {
                path: atc_path,
                message: "no level-5 ATC codes".into(),
            });
        }
        let ner_path = home.join(NER_PATH);
        let syn_path = home.join(SYNONYMS_PATH);
        let ner = if ner_path.exists() {
            Some(load_ner_dictionary(&ner_path)?)
        } else {
            None
        };
        let syn = if syn_path.exists() {
            Some(load_synonyms_dat(&syn_path)?)
        } else {
            None
        };
        let names = merge_drug_names(
            ner.as_ref().map(|n| (n, ner_path.as_path())),
            syn.as_ref().map(|s| (s, syn_path.as_path())),
            None,
            &atc,
        );
        Ok(Self::new(&atc, Some(&names)))
    }

    /// Builds the coder from the ATC classification and, optionally, merged drug names.
    pub fn new(atc: &Atc, drugs: Option<&DrugNames>) -> Self {
        let mut me = AtcCoder {
            titles: HashMap::new(),
            names: HashMap::new(),
            combos: HashMap::new(),
            deletes: HashMap::new(),
            ancestors_words: HashMap::new(),
            max_words: 1,
            options: AtcOptions::default(),
        };
        for c in &atc.codes {
            me.titles.insert(c.code.clone(), c.label.clone());
        }
        let mut by_label: HashMap<String, Vec<String>> = HashMap::new();
        for c in atc.codes.iter().filter(|c| c.level == 5) {
            for name in label_names(&c.label) {
                by_label.entry(name).or_default().push(c.code.clone());
            }
            let mut words = HashSet::new();
            let mut p = c.code.len();
            while p > 1 {
                p = match p {
                    7 => 5,
                    5 => 4,
                    4 => 3,
                    _ => 1,
                };
                if let Some(l) = me.titles.get(&c.code[..p]) {
                    words.extend(tokenize(l).into_iter().map(|t| t.norm));
                }
            }
            me.ancestors_words.insert(c.code.clone(), words);
        }
        for (name, codes) in &by_label {
            let target = Target {
                codes: codes.clone(),
                substance: name.clone(),
                via: Via::Generic,
            };
            me.add(name, target.clone());
            let comps: Vec<&str> = name
                .split(' ')
                .filter(|w| *w != "and" && *w != "with")
                .collect();
            if name.contains(" and ") {
                let mut sorted = comps.clone();
                sorted.sort_unstable();
                me.combos.entry(sorted.join(" ")).or_default().push(target);
            }
        }
        for (us, inn) in US_INN {
            if let Some(codes) = by_label.get(&normalize_term(inn)) {
                me.add(
                    &normalize_term(us),
                    Target {
                        codes: codes.clone(),
                        substance: normalize_term(inn),
                        via: Via::Synonym,
                    },
                );
            }
        }
        if let Some(d) = drugs {
            // Drugs the name index of the drug sources could not map get a second chance
            // through the names above ("insulin glargine" vs the ATC's "insuline glargine").
            let resolve = |drug: &clinrag_kg::drugs::Drug,
                           names: &HashMap<String, Vec<Target>>|
             -> Vec<String> {
                if !drug.atc.is_empty() {
                    return drug.atc.clone();
                }
                let key = normalize_term(&drug.name);
                for k in [key.clone(), strip_salts(&key)] {
                    if let Some(t) = names
                        .get(&k)
                        .and_then(|ts| ts.iter().find(|t| t.via != Via::Brand))
                    {
                        return t.codes.clone();
                    }
                }
                Vec::new()
            };
            let resolved: Vec<Vec<String>> = d
                .drugs
                .iter()
                .map(|drug| resolve(drug, &me.names))
                .collect();
            for (drug, codes) in d.drugs.iter().zip(&resolved).filter(|(_, c)| !c.is_empty()) {
                let target = |via| Target {
                    codes: codes.clone(),
                    substance: drug.name.to_lowercase(),
                    via,
                };
                me.add(&normalize_term(&drug.name), target(Via::Synonym));
                for s in &drug.synonyms {
                    me.add(&normalize_term(s), target(Via::Synonym));
                }
                if drug.components.len() > 1 {
                    let mut comps: Vec<String> =
                        drug.components.iter().map(|c| strip_salts(c)).collect();
                    comps.sort();
                    me.combos
                        .entry(comps.join(" "))
                        .or_default()
                        .push(target(Via::Synonym));
                }
            }
            for b in &d.brands {
                let mut codes: Vec<String> = Vec::new();
                let mut subs: Vec<String> = Vec::new();
                for &i in &b.drugs {
                    if let (Some(drug), Some(rc)) = (d.drugs.get(i), resolved.get(i)) {
                        for c in rc {
                            if !codes.contains(c) {
                                codes.push(c.clone());
                            }
                        }
                        subs.push(drug.name.to_lowercase());
                    }
                }
                if !codes.is_empty() {
                    me.add(
                        &normalize_term(&b.name),
                        Target {
                            codes,
                            substance: subs.join(" / "),
                            via: Via::Brand,
                        },
                    );
                }
            }
        }
        let singles: Vec<String> = me
            .names
            .keys()
            .filter(|k| !k.contains(' ') && k.chars().count() >= 6)
            .cloned()
            .collect();
        for n in singles {
            for d in deletions(&n) {
                me.deletes.entry(d).or_default().push(n.clone());
            }
            me.deletes.entry(n.clone()).or_default().push(n);
        }
        me
    }

    fn add(&mut self, name: &str, target: Target) {
        if name.is_empty() {
            return;
        }
        self.max_words = self.max_words.max(name.split(' ').count().min(6));
        let list = self.names.entry(name.to_string()).or_default();
        // Generic names outrank synonyms outrank brands for the same key.
        if let Some(existing) = list.iter_mut().find(|t| t.codes == target.codes) {
            if (target.via as u8) < (existing.via as u8) {
                *existing = target;
            }
            return;
        }
        list.push(target);
    }

    /// Whether `code` is a level-5 code of the loaded classification.
    pub fn is_code(&self, code: &str) -> bool {
        code.len() == 7 && self.titles.contains_key(code)
    }

    fn fuzzy(&self, w: &str) -> Option<&String> {
        if w.chars().count() < 6
            || NOT_DRUGS.contains(&w)
            || !w.chars().all(|c| c.is_ascii_alphabetic())
        {
            return None;
        }
        let mut keys = deletions(w);
        keys.push(w.to_string());
        let mut found: Vec<&String> = keys
            .iter()
            .filter_map(|k| self.deletes.get(k))
            .flatten()
            .filter(|n| levenshtein_le1(w, n))
            .collect();
        found.sort();
        found.dedup();
        // Ambiguous corrections (names of different substances) are not guessed.
        let codes = |n: &String| {
            self.names.get(n).map(|ts| {
                ts.iter()
                    .flat_map(|t| t.codes.iter().cloned())
                    .collect::<Vec<_>>()
            })
        };
        let first = found.first().copied()?;
        let c0 = codes(first);
        if found.iter().all(|n| codes(n) == c0) {
            Some(first)
        } else {
            None
        }
    }

    /// Codes the drug mentions of `text`.
    pub fn code(&self, text: &str) -> Coding {
        let mut warnings = Vec::new();
        let text = cut_input(text, &mut warnings);
        if text.trim().is_empty() {
            warnings.push("empty text: nothing to code".into());
            return Coding {
                codes: Vec::new(),
                warnings,
            };
        }
        let chars: Vec<char> = text.chars().collect();
        let toks = tokenize(&text);
        // Context only: the diagnosis lexicon's rewrites ("allergic to penicillin" -> "allergy
        // status to penicillin") would hide the drug word's own status.
        let status: HashMap<usize, Status> = analyse_with(&text, false)
            .into_iter()
            .filter(|w| !w.rewritten)
            .map(|w| (w.start, w.status))
            .collect();
        let text_words: HashSet<String> = toks.iter().map(|t| t.norm.clone()).collect();
        let mut results: Vec<CodeResult> = Vec::new();
        let mut i = 0usize;
        while i < toks.len() {
            let mut hit: Option<(usize, Vec<Target>, f32, String)> = None;
            for n in (1..=self.max_words.min(toks.len() - i)).rev() {
                let words: Vec<&str> = toks[i..i + n].iter().map(|t| t.norm.as_str()).collect();
                let key = words.join(" ");
                if let Some(t) = self.names.get(&key) {
                    hit = Some((n, t.clone(), 1.0, String::new()));
                    break;
                }
                if n > 1 {
                    let mut comps: Vec<&str> = words
                        .iter()
                        .copied()
                        .filter(|w| !matches!(*w, "and" | "with" | "plus"))
                        .collect();
                    comps.sort_unstable();
                    if let Some(t) = self.combos.get(&comps.join(" ")) {
                        hit = Some((n, t.clone(), 1.0, String::new()));
                        break;
                    }
                }
            }
            if hit.is_none()
                && let Some(name) = self.fuzzy(&toks[i].norm)
                && let Some(t) = self.names.get(name)
            {
                hit = Some((
                    1,
                    t.clone(),
                    0.85,
                    format!("spelling corrected to {name:?}; "),
                ));
            }
            let Some((n, targets, base, mut note)) = hit else {
                i += 1;
                continue;
            };
            let (s, e) = (toks[i].start, toks[i + n - 1].end);
            // Look-alike letters of another script, fullwidth forms or invisible characters:
            // the name matched only as read by `tokenize`; say so, never code it silently.
            let respelt = toks[i..i + n]
                .iter()
                .fold(Respelt::default(), |r, t| r.merge(t.respelt));
            let base = if respelt.lookalike { base * 0.9 } else { base };
            if respelt.any() {
                let how = respelt.describe();
                note = format!("{note}{how}; ");
                warnings.push(format!(
                    "the drug name at chars {s}..{e} has {how}: check the text"
                ));
            }
            let st = status
                .get(&toks[i].start)
                .copied()
                .unwrap_or(Status::Affirmed);
            i += n;
            if matches!(st, Status::Negated | Status::Family) {
                continue;
            }
            let span: String = chars[s..e].iter().collect();
            for t in targets {
                let base = base * if t.via == Via::Brand { 0.97 } else { 1.0 };
                let mut ranked: Vec<(String, f32, Vec<String>)> = t
                    .codes
                    .iter()
                    .filter(|c| self.is_code(c))
                    .map(|c| {
                        let (bonus, why) = self.indication(c, &text_words);
                        (c.clone(), bonus, why)
                    })
                    .collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                for (rank, (code, _, why)) in ranked.into_iter().enumerate() {
                    let score = (base - 0.05 * rank as f32).max(0.05);
                    let evidence = Evidence {
                        start: s,
                        end: e,
                        text: span.clone(),
                    };
                    if let Some(r) = results.iter_mut().find(|r| r.code == code) {
                        if !r.evidence.contains(&evidence) {
                            r.evidence.push(evidence);
                        }
                        r.score = r.score.max(score);
                        continue;
                    }
                    let via = match t.via {
                        Via::Generic => "generic name",
                        Via::Synonym => "drug name",
                        Via::Brand => "brand name",
                    };
                    let why = if why.is_empty() {
                        String::new()
                    } else {
                        format!("; indication/route words: {}", why.join(", "))
                    };
                    results.push(CodeResult {
                        code: code.clone(),
                        system: "ATC".into(),
                        title: self.titles.get(&code).cloned().unwrap_or_default(),
                        score,
                        evidence: vec![evidence],
                        primary: rank == 0,
                        rationale: format!("{note}{via} {span:?} -> {}{why}", t.substance),
                        notes: Vec::new(),
                    });
                }
            }
        }
        // Mentions in text order, each substance's codes best first.
        results.sort_by(|a, b| {
            let sa = a.evidence.first().map_or(0, |e| e.start);
            let sb = b.evidence.first().map_or(0, |e| e.start);
            sa.cmp(&sb).then(b.score.total_cmp(&a.score))
        });
        let (mut primary, alt): (Vec<CodeResult>, Vec<CodeResult>) =
            results.into_iter().partition(|r| r.primary);
        primary.extend(alt);
        primary.truncate(self.options.k.max(1));
        if primary.is_empty() {
            warnings.push("no drug mention found".into());
        }
        Coding {
            codes: primary,
            warnings,
        }
    }

    fn indication(&self, code: &str, words: &HashSet<String>) -> (f32, Vec<String>) {
        let mut bonus = 0.0f32;
        let mut why = Vec::new();
        for (prefix, kws) in INDICATION {
            if code.starts_with(prefix) {
                for k in *kws {
                    let kn = normalize_term(k);
                    let hit = if kn.contains(' ') {
                        kn.split(' ').all(|w| words.contains(w))
                    } else {
                        words.contains(&kn)
                    };
                    if hit {
                        bonus += 1.0;
                        why.push((*k).to_string());
                    }
                }
            }
        }
        if let Some(aw) = self.ancestors_words.get(code) {
            for w in words {
                if w.len() > 4 && aw.contains(w) {
                    bonus += 0.5;
                    why.push(w.clone());
                }
            }
        }
        if !LOCAL.iter().any(|p| code.starts_with(p)) {
            bonus += 0.3;
        }
        (bonus, why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_one() {
        for (a, b, want) in [
            ("metformin", "metformn", true),
            ("metformin", "metfromin", false),
            ("lisinopril", "lisinoprill", true),
            ("abc", "abd", true),
            ("abc", "xyz", false),
        ] {
            assert_eq!(levenshtein_le1(a, b), want, "{a} {b}");
        }
    }
}
