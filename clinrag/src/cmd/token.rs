//! `clinrag token create|list|revoke NAME`: bearer tokens for `clinrag serve`, stored in the
//! catalog as SHA-256 hashes; a token is shown once, when it is created.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::Global;

/// Arguments of `clinrag token`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Create a token (printed once; only its hash is stored).
    Create {
        /// Name shown in the audit trail (letters, digits, `.`, `_`, `-`; at most 64).
        name: String,
    },
    /// List tokens with their last use and request count (never the tokens).
    List,
    /// Revoke a token; requests with it get 401 from then on.
    Revoke {
        /// Token name.
        name: String,
    },
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        bail!(
            "token name must be 1 to 64 characters of letters, digits, '.', '_' or '-': {name:?}"
        );
    }
    Ok(())
}

/// A new random token: `clinrag_` and 32 bytes from the operating system, hex.
fn new_token() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read random bytes from /dev/urandom")?;
    Ok(format!("clinrag_{}", hex::encode(b)))
}

/// Runs `clinrag token`.
pub async fn run(g: &Global, a: Args) -> anyhow::Result<ExitCode> {
    let catalog = crate::store::catalog(g).await?;
    match a.cmd {
        Cmd::Create { name } => {
            check_name(&name)?;
            let token = new_token()?;
            let hash = crate::serve::token_hash(&token);
            if !catalog.create_token(&name, &hash).await? {
                bail!("a live token named {name:?} exists; revoke it first or pick another name");
            }
            if g.json {
                println!("{}", serde_json::json!({ "name": name, "token": token }));
            } else {
                println!("{token}");
                eprintln!(
                    "token {name:?} created; it is shown only now. Send it as `Authorization: Bearer TOKEN`."
                );
            }
        }
        Cmd::List => {
            let tokens = catalog.list_tokens().await?;
            if g.json {
                println!("{}", serde_json::json!({ "tokens": tokens }));
            } else if tokens.is_empty() {
                println!("no tokens (create one with `clinrag token create NAME`)");
            } else {
                println!(
                    "{:<24} {:<8} {:>9} {:>15} {:>15}",
                    "name", "status", "requests", "created_ms", "last_used_ms"
                );
                for t in tokens {
                    println!(
                        "{:<24} {:<8} {:>9} {:>15} {:>15}",
                        t.name,
                        if t.revoked_ms.is_some() {
                            "revoked"
                        } else {
                            "live"
                        },
                        t.requests,
                        t.created_ms,
                        t.last_used_ms.map(|v| v.to_string()).unwrap_or("-".into())
                    );
                }
            }
        }
        Cmd::Revoke { name } => {
            if !catalog.revoke_token(&name).await? {
                bail!("no live token named {name:?}");
            }
            if g.json {
                println!("{}", serde_json::json!({ "revoked": name }));
            } else {
                println!("token {name:?} revoked");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
