//! Options every command shares (home folder, catalog URL, output mode) and logging set-up.

use std::path::PathBuf;

use clap::Args;

/// Options shared by all subcommands.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Folder holding data, indexes and models.
    #[arg(long, global = true, env = "CLINRAG_HOME")]
    home: Option<PathBuf>,
    /// Catalog database URL (`sqlite://...` or `postgres://...`); default: SQLite in the home folder.
    #[arg(long, global = true, env = "CLINRAG_DATABASE_URL")]
    database_url: Option<String>,
    /// Print one JSON object on stdout and nothing else.
    #[arg(long, global = true)]
    json: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Resolved shared options.
#[derive(Debug, Clone)]
pub struct Global {
    /// The clinrag home folder (`CLINRAG_HOME`, `--home`, default `./.clinrag`).
    pub home: PathBuf,
    /// Explicit catalog URL, if any.
    pub database_url: Option<String>,
    /// JSON output mode.
    pub json: bool,
    /// Verbosity level.
    pub verbose: u8,
}

impl GlobalArgs {
    /// Resolves defaults.
    pub fn resolve(self) -> anyhow::Result<Global> {
        let home = self.home.unwrap_or_else(|| PathBuf::from(".clinrag"));
        Ok(Global {
            home,
            database_url: self.database_url,
            json: self.json,
            verbose: self.verbose,
        })
    }
}

/// Logs go to stderr, never stdout (stdout carries JSON in `--json` mode).
pub fn init_logging(g: &Global) {
    let level = match g.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLINRAG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

impl Global {
    /// Path of a file or folder inside the home folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.join(rel)
    }
}
