//! Clinical abbreviations and lay terms rewritten into the wording of the ICD-10-CM tabular
//! before scoring ("heart attack" -> "myocardial infarction", "afib" -> "atrial fibrillation").
//! Patterns and text are compared after the same normalisation (`clinrag_kg::normalize_term`).

/// (pattern, replacement, pattern must be upper case in the text).
pub(crate) const LEXICON: &[(&str, &str, bool)] = &[
    ("heart attack", "myocardial infarction", false),
    ("MI", "myocardial infarction", true),
    ("AMI", "acute myocardial infarction", true),
    ("STEMI", "st elevation myocardial infarction", false),
    ("NSTEMI", "non st elevation myocardial infarction", false),
    (
        "anterior wall STEMI",
        "st elevation myocardial infarction of anterior wall",
        false,
    ),
    (
        "inferior STEMI",
        "st elevation myocardial infarction of inferior wall",
        false,
    ),
    (
        "inferior wall STEMI",
        "st elevation myocardial infarction of inferior wall",
        false,
    ),
    ("h/o MI", "old myocardial infarction", false),
    ("history of MI", "old myocardial infarction", false),
    ("prior MI", "old myocardial infarction", false),
    ("old MI", "old myocardial infarction", false),
    ("T2DM", "type 2 diabetes mellitus", false),
    ("T2D", "type 2 diabetes mellitus", false),
    ("DM2", "type 2 diabetes mellitus", false),
    ("DMII", "type 2 diabetes mellitus", false),
    ("DM II", "type 2 diabetes mellitus", false),
    ("DM type 2", "type 2 diabetes mellitus", false),
    ("NIDDM", "type 2 diabetes mellitus", false),
    ("type II diabetes", "type 2 diabetes mellitus", false),
    ("type 2 diabetic", "type 2 diabetes mellitus", false),
    ("adult onset diabetes", "type 2 diabetes mellitus", false),
    ("T1DM", "type 1 diabetes mellitus", false),
    ("DM1", "type 1 diabetes mellitus", false),
    ("IDDM", "type 1 diabetes mellitus", false),
    ("type I diabetes", "type 1 diabetes mellitus", false),
    ("juvenile diabetes", "type 1 diabetes mellitus", false),
    ("DM", "type 2 diabetes mellitus", true),
    ("sugar diabetes", "type 2 diabetes mellitus", false),
    ("diabetes", "type 2 diabetes mellitus", false),
    ("type 1 diabetes", "type 1 diabetes mellitus", false),
    ("type 2 diabetes", "type 2 diabetes mellitus", false),
    (
        "type 1 diabetes mellitus",
        "type 1 diabetes mellitus",
        false,
    ),
    (
        "type 2 diabetes mellitus",
        "type 2 diabetes mellitus",
        false,
    ),
    ("diabetes insipidus", "diabetes insipidus", false),
    (
        "drug induced diabetes",
        "drug or chemical induced diabetes mellitus",
        false,
    ),
    ("diabetes mellitus", "type 2 diabetes mellitus", false),
    (
        "gestational diabetes",
        "gestational diabetes mellitus",
        false,
    ),
    ("DKA", "diabetes mellitus with ketoacidosis", false),
    ("CKD", "chronic kidney disease", false),
    ("CKD 3", "chronic kidney disease stage 3", false),
    ("CKD 4", "chronic kidney disease stage 4", false),
    ("CKD 5", "chronic kidney disease stage 5", false),
    ("CKD 3a", "chronic kidney disease stage 3a", false),
    ("CKD 3b", "chronic kidney disease stage 3b", false),
    ("ESRD", "end stage renal disease", false),
    ("ESKD", "end stage renal disease", false),
    ("AKI", "acute kidney failure", false),
    ("acute kidney injury", "acute kidney failure", false),
    ("ARF", "acute kidney failure", true),
    ("HTN", "hypertension", false),
    ("high blood pressure", "hypertension", false),
    ("elevated blood pressure", "hypertension", false),
    // A reading is not a diagnosis: "Elevated blood-pressure reading, without diagnosis of
    // hypertension" (R03.0).
    (
        "elevated blood pressure reading",
        "elevated blood pressure reading",
        false,
    ),
    (
        "elevated BP reading",
        "elevated blood pressure reading",
        false,
    ),
    ("HLD", "hyperlipidemia", false),
    ("high cholesterol", "hypercholesterolemia", false),
    ("elevated cholesterol", "hypercholesterolemia", false),
    ("dyslipidemia", "hyperlipidemia", false),
    ("AF", "atrial fibrillation", true),
    ("afib", "atrial fibrillation", false),
    ("a fib", "atrial fibrillation", false),
    ("paroxysmal afib", "paroxysmal atrial fibrillation", false),
    ("aflutter", "atrial flutter", false),
    ("a flutter", "atrial flutter", false),
    ("SVT", "supraventricular tachycardia", false),
    ("VT", "ventricular tachycardia", true),
    ("COPD", "chronic obstructive pulmonary disease", false),
    (
        "COPD exacerbation",
        "chronic obstructive pulmonary disease with exacerbation",
        false,
    ),
    (
        "AECOPD",
        "chronic obstructive pulmonary disease with exacerbation",
        false,
    ),
    ("emphysema", "emphysema", false),
    ("CHF", "congestive heart failure", false),
    ("HF", "heart failure", true),
    ("HFrEF", "systolic heart failure", false),
    ("HFpEF", "diastolic heart failure", false),
    ("CAD", "coronary artery disease", false),
    ("ASCVD", "atherosclerotic cardiovascular disease", false),
    ("DVT", "deep vein thrombosis", false),
    ("deep venous thrombosis", "deep vein thrombosis", false),
    (
        "blood clot in the leg",
        "deep vein thrombosis of lower extremity",
        false,
    ),
    ("PE", "pulmonary embolism", true),
    ("UTI", "urinary tract infection", false),
    ("bladder infection", "cystitis", false),
    ("URI", "acute upper respiratory infection", false),
    ("common cold", "acute nasopharyngitis", false),
    ("head cold", "acute nasopharyngitis", false),
    ("flu", "influenza", false),
    ("strep throat", "streptococcal pharyngitis", false),
    ("sore throat", "pharyngitis", false),
    ("pink eye", "conjunctivitis", false),
    ("SOB", "shortness of breath", true),
    ("DOE", "dyspnea", true),
    ("GERD", "gastro esophageal reflux disease", false),
    ("acid reflux", "gastro esophageal reflux disease", false),
    ("heartburn", "heartburn", false),
    ("CVA", "cerebral infarction", true),
    ("stroke", "cerebral infarction", false),
    ("ischemic stroke", "cerebral infarction", false),
    ("TIA", "transient cerebral ischemic attack", false),
    ("mini stroke", "transient cerebral ischemic attack", false),
    ("OSA", "obstructive sleep apnea", false),
    ("RA", "rheumatoid arthritis", true),
    ("OA", "osteoarthritis", true),
    ("DJD", "osteoarthritis", false),
    ("degenerative joint disease", "osteoarthritis", false),
    ("wear and tear arthritis", "osteoarthritis", false),
    ("SLE", "systemic lupus erythematosus", false),
    ("lupus", "systemic lupus erythematosus", false),
    ("MS", "multiple sclerosis", true),
    ("ARDS", "acute respiratory distress syndrome", false),
    ("BPH", "benign prostatic hyperplasia", false),
    ("enlarged prostate", "benign prostatic hyperplasia", false),
    ("IBS", "irritable bowel syndrome", false),
    ("ADHD", "attention deficit hyperactivity disorder", false),
    ("PTSD", "post traumatic stress disorder", false),
    ("MDD", "major depressive disorder single episode", false),
    (
        "major depression",
        "major depressive disorder single episode",
        false,
    ),
    ("GAD", "generalized anxiety disorder", false),
    ("anxiety", "anxiety disorder", false),
    ("TB", "tuberculosis", true),
    ("PAD", "peripheral vascular disease", true),
    ("PVD", "peripheral vascular disease", false),
    ("AAA", "abdominal aortic aneurysm", true),
    ("CAP", "pneumonia", true),
    ("PNA", "pneumonia", false),
    ("N/V", "nausea with vomiting", false),
    ("nausea and vomiting", "nausea with vomiting", false),
    ("nausea vomiting", "nausea with vomiting", false),
    ("N/V/D", "nausea with vomiting diarrhea", false),
    ("HA", "headache", true),
    ("migraines", "migraine", false),
    ("LBP", "low back pain", false),
    ("lower back pain", "low back pain", false),
    ("back pain", "dorsalgia", false),
    ("low back pain", "low back pain", false),
    ("RLQ", "right lower quadrant", false),
    ("LLQ", "left lower quadrant", false),
    ("RUQ", "right upper quadrant", false),
    ("LUQ", "left upper quadrant", false),
    ("HIV", "human immunodeficiency virus", false),
    // Isolated high triglycerides: the index's "Hypertriglyceridemia, essential" (E78.1).
    ("hypertriglyceridemia", "pure hyperglyceridemia", false),
    ("high triglycerides", "pure hyperglyceridemia", false),
    ("cancer", "malignant neoplasm", false),
    // The tabular files the hiatus hernia under "Diaphragmatic hernia" (K44).
    ("hiatal hernia", "diaphragmatic hernia", false),
    ("hiatus hernia", "diaphragmatic hernia", false),
    // "Carcinoma" alone is malignant: the tabular's "Carcinoma in situ" (D00-D09) needs the text
    // to say "in situ", and the histologies its titles name keep their own words.
    ("carcinoma", "malignant neoplasm", false),
    ("adenocarcinoma", "malignant neoplasm", false),
    ("carcinoma in situ", "carcinoma in situ", false),
    ("basal cell carcinoma", "basal cell carcinoma", false),
    ("squamous cell carcinoma", "squamous cell carcinoma", false),
    ("merkel cell carcinoma", "merkel cell carcinoma", false),
    ("hepatocellular carcinoma", "liver cell carcinoma", false),
    (
        "renal cell carcinoma",
        "malignant neoplasm of kidney",
        false,
    ),
    // Spread to a site: the tabular's "Secondary malignant neoplasm of" the site (C77-C79).
    (
        "metastatic carcinoma",
        "secondary malignant neoplasm",
        false,
    ),
    ("metastatic cancer", "secondary malignant neoplasm", false),
    ("metastases", "secondary malignant neoplasm", false),
    ("metastasis", "secondary malignant neoplasm", false),
    ("mets", "secondary malignant neoplasm", false),
    (
        "community acquired pneumonia",
        "pneumonia unspecified organism",
        false,
    ),
    ("year old", "", false),
    ("y/o", "", false),
    ("c/o", "", false),
    ("s/p", "", false),
    ("bellyache", "abdominal pain", false),
    ("belly pain", "abdominal pain", false),
    ("stomach ache", "abdominal pain", false),
    ("tummy ache", "abdominal pain", false),
    ("BMI", "body mass index", false),
    ("obesity", "obesity", false),
    (
        "morbid obesity",
        "morbid severe obesity due to excess calories",
        false,
    ),
    ("hypothyroid", "hypothyroidism", false),
    ("hyperthyroid", "hyperthyroidism", false),
    ("underactive thyroid", "hypothyroidism", false),
    ("overactive thyroid", "hyperthyroidism", false),
    ("low potassium", "hypokalemia", false),
    ("high potassium", "hyperkalemia", false),
    ("low sodium", "hyponatremia", false),
    ("low blood sugar", "hypoglycemia", false),
    ("high blood sugar", "hyperglycemia", false),
    ("iron deficiency anemia", "iron deficiency anemia", false),
    ("IDA", "iron deficiency anemia", false),
    ("shingles", "zoster", false),
    ("shingles rash", "zoster", false),
    ("type 1 diabetic", "type 1 diabetes mellitus", false),
    ("type I diabetic", "type 1 diabetes mellitus", false),
    // The tabular's wording for stones with inflammation, and for fragility fractures.
    (
        "calculous cholecystitis",
        "calculus of gallbladder with cholecystitis",
        false,
    ),
    (
        "gallstone pancreatitis",
        "biliary acute pancreatitis",
        false,
    ),
    (
        "osteoporotic fracture",
        "age related osteoporosis with current pathological fracture",
        false,
    ),
    (
        "osteoporotic compression fracture",
        "age related osteoporosis with current pathological fracture",
        false,
    ),
    (
        "well child check",
        "encounter for routine child health examination",
        false,
    ),
    (
        "well child exam",
        "encounter for routine child health examination",
        false,
    ),
    ("vaccines given", "encounter for immunization", false),
    ("immunizations given", "encounter for immunization", false),
    ("cold sore", "herpesviral vesicular dermatitis", false),
    ("chickenpox", "varicella", false),
    ("pinworms", "enterobiasis", false),
    ("athlete foot", "tinea pedis", false),
    ("ringworm", "dermatophytosis", false),
    ("hay fever", "allergic rhinitis due to pollen", false),
    ("kidney stone", "calculus of kidney", false),
    ("nephrolithiasis", "calculus of kidney", false),
    ("gallstone", "calculus of gallbladder", false),
    ("cholelithiasis", "calculus of gallbladder", false),
    ("pinkeye", "conjunctivitis", false),
    ("covid", "covid 19", false),
    ("covid19", "covid 19", false),
    ("sars cov 2 infection", "covid 19", false),
    ("broken", "fracture", false),
    ("broke", "fracture", false),
    ("fx", "fracture", false),
    ("hip fracture", "fracture of femur", false),
    ("ankle sprain", "sprain of ankle", false),
    ("sprained ankle", "sprain of ankle", false),
    ("twisted ankle", "sprain of ankle", false),
    ("bee sting", "toxic effect of venom of bees", false),
    ("asthma", "asthma", false),
    ("asthma exacerbation", "asthma with exacerbation", false),
    ("asthma attack", "asthma with exacerbation", false),
    ("alcoholism", "alcohol dependence", false),
    ("alcohol use disorder", "alcohol dependence", false),
    ("smoker", "nicotine dependence cigarettes", false),
    ("smokes cigarettes", "nicotine dependence cigarettes", false),
    ("tobacco use", "tobacco use", false),
    ("dementia", "unspecified dementia", false),
    ("alzheimer", "alzheimer disease", false),
    ("parkinson", "parkinson disease", false),
    ("seizure disorder", "epilepsy", false),
    ("epilepsy", "epilepsy", false),
    ("pinched nerve", "radiculopathy", false),
    ("sciatica", "sciatica", false),
    ("pregnant", "pregnant state", false),
    ("vitamin d deficiency", "vitamin d deficiency", false),
    ("anemia", "anemia", false),
    ("hypokalaemia", "hypokalemia", false),
    ("constipation", "constipation", false),
    ("cellulitis", "cellulitis", false),
    ("appendicitis", "acute appendicitis", false),
    ("chest pain", "chest pain", false),
    ("fever", "fever", false),
    ("cough", "cough", false),
    ("dizziness", "dizziness", false),
    ("insomnia", "insomnia", false),
    // Round 3: common chart abbreviations, written from clinical usage (upper case required
    // where the letters are also a word or another abbreviation).
    ("PCOS", "polycystic ovarian syndrome", false),
    ("GI bleed", "gastrointestinal hemorrhage", false),
    ("GIB", "gastrointestinal hemorrhage", true),
    ("NAFLD", "nonalcoholic fatty liver disease", false),
    ("NASH", "nonalcoholic steatohepatitis", true),
    ("RLS", "restless legs syndrome", true),
    ("BPPV", "benign paroxysmal vertigo", false),
    ("LUTS", "lower urinary tract symptoms", false),
    ("OCD", "obsessive compulsive disorder", true),
    ("SAH", "nontraumatic subarachnoid hemorrhage", true),
    ("ICH", "nontraumatic intracerebral hemorrhage", true),
    ("UC", "ulcerative colitis", true),
    ("PUD", "peptic ulcer", true),
    ("HCV", "chronic viral hepatitis c", true),
    ("OAB", "overactive bladder", true),
    (
        "SIADH",
        "syndrome of inappropriate secretion of antidiuretic hormone",
        false,
    ),
    ("CTS", "carpal tunnel syndrome", true),
    ("MVP", "mitral valve prolapse", true),
    ("PAF", "paroxysmal atrial fibrillation", true),
    ("SSS", "sick sinus syndrome", true),
    ("HOCM", "obstructive hypertrophic cardiomyopathy", false),
    ("ILD", "interstitial pulmonary disease", true),
    ("IPF", "idiopathic pulmonary fibrosis", true),
    ("ALS", "amyotrophic lateral sclerosis", true),
    ("LBBB", "left bundle branch block", false),
    ("RBBB", "right bundle branch block", false),
    ("AMS", "altered mental status", true),
    ("sided", "side", false),
    // "Both" paired organs or limbs: the tabular says "bilateral" (ear and eye titles say only
    // that: "Unspecified hearing loss, bilateral"; limb titles keep the part).
    ("both ears", "bilateral", false),
    ("both eyes", "bilateral", false),
    ("both sides", "bilateral", false),
    ("both knees", "bilateral knee", false),
    ("both hips", "bilateral hip", false),
    ("both shoulders", "bilateral shoulder", false),
    ("both wrists", "bilateral wrist", false),
    ("both hands", "bilateral hand", false),
    ("both feet", "bilateral foot", false),
    ("both ankles", "bilateral ankle", false),
    ("both legs", "bilateral leg", false),
    ("both arms", "bilateral arm", false),
];

/// Lay terms, one per line (`pattern<TAB>replacement`), kept as data so that clinicians and
/// coders can extend them without touching code.
const LAY_TERMS_TSV: &str = include_str!("../data/lay_terms.tsv");
/// Chart abbreviations, same format; a third column `upper` means the pattern must be upper
/// case in the text (for letters that are also an English word: "PE", "MS").
const ABBREVIATIONS_TSV: &str = include_str!("../data/abbreviations.tsv");

/// One lexicon line of a data file: (pattern, replacement, must be upper case), or why it is not.
fn parse_line(line: &str) -> Result<Option<(&str, &str, bool)>, String> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
    let upper = match cols.get(2).copied() {
        None | Some("") => false,
        Some("upper") => true,
        Some(other) => return Err(format!("third column must be `upper`, found {other:?}")),
    };
    match cols.as_slice() {
        [pat, rep, ..] if cols.len() <= 3 && !pat.is_empty() && !rep.is_empty() => {
            Ok(Some((pat, rep, upper)))
        }
        _ => Err("expected `pattern<TAB>replacement[<TAB>upper]`".to_string()),
    }
}

/// Environment variable naming a folder whose `lay_terms.tsv` and `abbreviations.tsv` replace the
/// built-in copies, so the lexicon can be edited and re-evaluated without a rebuild.
pub const LEXICON_DIR_ENV: &str = "CODING_LEXICON_DIR";

/// Long-term drug therapy, one drug a line (`drug<TAB>wording of its Z79 code`): "on warfarin",
/// "takes metformin" and the other [`THERAPY_PREFIXES`] become their own clause in the wording
/// of the tabular's "Long term (current) use of ..." (the "use additional code" notes of E11,
/// I48, I82 ... ask for them).
const DRUG_THERAPY_TSV: &str = include_str!("../data/drug_therapy.tsv");

/// Words before a drug name that say it is taken now.
const THERAPY_PREFIXES: &[&str] = &[
    "on",
    "takes",
    "taking",
    "uses",
    "using",
    "maintained on",
    "chronic",
    "long term",
];

/// A lexicon entry: the pattern, its replacement, whether the pattern must be upper case in the
/// text, and whether the replacement is a clause of its own.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub pattern: String,
    pub replacement: String,
    pub upper: bool,
    pub own_clause: bool,
}

/// The data files' texts: the built-in copies, or those of `CODING_LEXICON_DIR` (read once per
/// process; an unreadable file is reported on stderr and the built-in copy is used).
fn data_files() -> Vec<(&'static str, String)> {
    let builtin = [
        ("lay_terms.tsv", LAY_TERMS_TSV),
        ("abbreviations.tsv", ABBREVIATIONS_TSV),
        ("drug_therapy.tsv", DRUG_THERAPY_TSV),
    ];
    let dir = std::env::var_os(LEXICON_DIR_ENV).map(std::path::PathBuf::from);
    builtin
        .into_iter()
        .map(|(name, text)| {
            let Some(dir) = &dir else {
                return (name, text.to_string());
            };
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(t) => (name, t),
                Err(e) => {
                    eprintln!(
                        "warning: {}: {e}; using the built-in {name}",
                        path.display()
                    );
                    (name, text.to_string())
                }
            }
        })
        .collect()
}

/// Every lexicon entry: the built-in table, then the data files' lines (the drug-therapy file's
/// drugs once per prefix). A malformed data line is skipped with a warning naming the file and
/// line (a unit test keeps the shipped files free of them).
pub(crate) fn entries() -> Vec<Entry> {
    let entry = |pattern: &str, replacement: &str, upper: bool, own_clause: bool| Entry {
        pattern: pattern.to_string(),
        replacement: replacement.to_string(),
        upper,
        own_clause,
    };
    let mut out: Vec<Entry> = LEXICON
        .iter()
        .map(|(p, r, u)| entry(p, r, *u, false))
        .collect();
    for (name, text) in data_files() {
        let therapy = name == "drug_therapy.tsv";
        for (i, line) in text.lines().enumerate() {
            match parse_line(line) {
                Ok(Some((p, r, u))) if therapy => {
                    for prefix in THERAPY_PREFIXES {
                        out.push(entry(&format!("{prefix} {p}"), r, u, true));
                    }
                }
                Ok(Some((p, r, u))) => out.push(entry(p, r, u, false)),
                Ok(None) => {}
                Err(e) => eprintln!("warning: {name}:{}: {e}; line skipped", i + 1),
            }
        }
    }
    out
}

/// Words after which the laterality words are implied ("left knee" -> also "unilateral").
pub(crate) const LATERAL: &[&str] = &["left", "right"];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn data_files_parse_and_patterns_are_unique() {
        for (name, file) in [
            ("lay_terms.tsv", LAY_TERMS_TSV),
            ("abbreviations.tsv", ABBREVIATIONS_TSV),
            ("drug_therapy.tsv", DRUG_THERAPY_TSV),
        ] {
            for (i, line) in file.lines().enumerate() {
                if let Err(e) = parse_line(line) {
                    panic!("coding/data/{name}:{}: {e}", i + 1);
                }
            }
        }
        let mut seen: HashMap<(String, bool), String> = HashMap::new();
        let mut twice = Vec::new();
        for Entry {
            pattern: pat,
            replacement: rep,
            upper,
            ..
        } in entries()
        {
            // As the matcher sees it: skippable words after the first do not count.
            let norm = clinrag_kg::normalize_term(&pat);
            let words: Vec<&str> = norm
                .split_whitespace()
                .enumerate()
                .filter(|(k, w)| *k == 0 || !crate::context::LEXICON_SKIPPABLE.contains(w))
                .map(|(_, w)| w)
                .collect();
            let key = (words.join(" "), upper);
            if let Some(prev) = seen.insert(key, rep.clone()) {
                twice.push(format!("{pat:?} ({prev:?} and {rep:?})"));
            }
        }
        assert!(twice.is_empty(), "patterns listed twice: {twice:#?}");
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert_eq!(parse_line("# note"), Ok(None));
        assert_eq!(parse_line("   "), Ok(None));
        assert_eq!(
            parse_line("pink eye\tconjunctivitis"),
            Ok(Some(("pink eye", "conjunctivitis", false)))
        );
        assert_eq!(
            parse_line("PE\tpulmonary embolism\tupper"),
            Ok(Some(("PE", "pulmonary embolism", true)))
        );
        assert!(parse_line("pink eye").is_err());
        assert!(parse_line("pink eye\t").is_err());
        assert!(parse_line("a\tb\tlower").is_err());
        assert!(parse_line("a\tb\tupper\textra").is_err());
    }
}
