//! Property tests: scores are finite, ranking is deterministic, posteriors form a distribution.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;

use clinrag_phenotype::{IndexConfig, RankConfig, RareIndex, Scheme};
use proptest::prelude::*;

const TERMS: [&str; 12] = [
    "HP:0000118",
    "HP:0000707",
    "HP:0001250",
    "HP:0007359",
    "HP:0001249",
    "HP:0000478",
    "HP:0000505",
    "HP:0000518",
    "HP:0001626",
    "HP:0001631",
    "HP:0000999",
    "HP:0000006",
];

fn index() -> &'static RareIndex {
    static IDX: OnceLock<RareIndex> = OnceLock::new();
    IDX.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        RareIndex::load(
            &dir.join("toy.obo"),
            &dir.join("toy.hpoa"),
            IndexConfig::default(),
        )
        .unwrap()
    })
}

proptest! {
    #[test]
    fn scores_finite_and_ranking_deterministic(
        present in proptest::collection::vec(0usize..TERMS.len(), 0..8),
        excluded in proptest::collection::vec(0usize..TERMS.len(), 0..4),
        bma in any::<bool>(),
        noise in 0.0f32..0.5,
    ) {
        let idx = index();
        let p: Vec<&str> = present.iter().map(|&i| TERMS[i]).collect();
        let x: Vec<&str> = excluded.iter().map(|&i| TERMS[i]).collect();
        let cfg = RankConfig {
            scheme: if bma { Scheme::BestMatchAverage } else { Scheme::LikelihoodRatio },
            noise,
            ..RankConfig::default()
        };
        match idx.prepare(&p, &x) {
            Err(e) => prop_assert!(e.is_caller_fault()),
            Ok(q) => {
                let s = idx.score(&q, &cfg);
                prop_assert!(s.values.iter().all(|v| v.is_finite()));
                let a = idx.rank(&q, &cfg, 10);
                let b = idx.rank(&q, &cfg, 10);
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(a.candidates.len(), idx.len());
                for (i, c) in a.candidates.iter().enumerate() {
                    prop_assert_eq!(c.rank, i + 1);
                    prop_assert!(c.score.is_finite());
                    prop_assert!((s.rank_of(idx.disease_index(c.id).unwrap()) - (i + 1) as f64).abs() <= idx.len() as f64);
                }
                if let Some(post) = s.posteriors() {
                    let sum: f64 = post.iter().sum();
                    prop_assert!((sum - 1.0).abs() < 1e-9);
                }
            }
        }
    }
}

/// OBO-ish fragments, so random documents hit the parser's branches rather than only the "not tag: value" path.
const OBO_BITS: [&str; 16] = [
    "[Term]\n",
    "[Typedef]\n",
    "[Term\n",
    "id: HP:0000001\n",
    "id: HP:00000x2\n",
    "id: HP:0000118\n",
    "name: Thing\n",
    "name:\n",
    "is_a: HP:0000001 ! All\n",
    "is_a: HP:0000118\n",
    "is_a: nonsense\n",
    "alt_id: HP:0000002\n",
    "synonym: \"A \\\"b\\\" c\" EXACT []\n",
    "synonym: \"unterminated\n",
    "is_obsolete: true\nreplaced_by: HP:0000118\n",
    "def: \"x\\",
];

proptest! {
    #[test]
    fn obo_and_hpoa_parsers_never_panic(
        bits in proptest::collection::vec(0usize..OBO_BITS.len(), 0..40),
        rows in proptest::collection::vec(
            proptest::collection::vec("[A-Z:0-9/% ]{0,12}", 0..14),
            0..20,
        ),
    ) {
        let text: String = bits.iter().map(|&i| OBO_BITS[i]).collect();
        let ont = clinrag_phenotype::Ontology::parse_str(&text, "random.obo");
        prop_assert_eq!(ont.topo_len_for_tests(), ont.len());
        for t in ont.all_terms() {
            let _ = ont.ancestors(t.id);
            let _ = ont.resolve(t.id);
        }
        let hpoa: String = rows.iter().map(|r| r.join("\t") + "\n").collect();
        let ann = clinrag_phenotype::Annotations::parse_str(&hpoa, "random.hpoa", &ont);
        let r = ann.report();
        // every data line lands in at most one of these
        prop_assert!(r.malformed_rows + r.phenotype_rows + r.not_rows <= r.lines);
        let idx = RareIndex::build(ont, &ann, IndexConfig::default());
        prop_assert_eq!(idx.len(), ann.len());
    }
}
