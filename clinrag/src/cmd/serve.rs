//! `clinrag serve`: the HTTP API and the web page (see `crate::serve`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use crate::Global;
use crate::serve::Config;

/// Arguments of `clinrag serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on. Beyond loopback every request except /healthz and the static page
    /// needs a bearer token (`clinrag token create NAME`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Require a bearer token on loopback too.
    #[arg(long)]
    pub require_token: bool,
    /// Allow cross-origin requests from this origin (repeatable; `*` for any). CORS is off
    /// unless given.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// Requests per second per token (per client address without one); 0 turns limits off.
    #[arg(long, default_value_t = 20.0)]
    pub rate_limit: f64,
    /// Requests a token may make at once above the rate.
    #[arg(long, default_value_t = 40)]
    pub burst: u32,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// Longest query string in bytes.
    #[arg(long, default_value_t = 4096)]
    pub max_query: usize,
    /// Deadline for a request head (slow clients get 408), e.g. `10s`, `500ms`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Deadline for a request body.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// Deadline for an answer to start (streams then run on).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Connections served at once.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Load coders, HPO data and the agent on first use instead of at start.
    #[arg(long)]
    pub lazy: bool,
    /// Agent runs (/v1/ask, /v1/summarize, /v1/chat/completions) at once; more wait in a queue.
    #[arg(long, default_value_t = 2)]
    pub agent_concurrency: usize,
    /// Answer without a chat model (extractive answers, lead sentence by relevance).
    #[arg(long)]
    pub no_model: bool,
    #[command(flatten)]
    pub model: super::chat::ModelArgs,
}

/// `10s`, `500ms`, `2m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 10s, 500ms, 2m)"))?;
    if !(v > 0.0 && v.is_finite()) {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// Runs `clinrag serve`.
pub async fn run(g: &Global, a: Args) -> anyhow::Result<ExitCode> {
    if a.rate_limit < 0.0 || !a.rate_limit.is_finite() {
        anyhow::bail!("--rate-limit must be 0 (off) or a positive number");
    }
    let cfg = Config {
        addr: a.addr,
        require_token: a.require_token,
        cors_origins: a.cors_origins,
        rate_per_s: a.rate_limit,
        burst: f64::from(a.burst.max(1)),
        max_body: a.max_body,
        max_query: a.max_query,
        header_timeout: a.header_timeout,
        body_timeout: a.body_timeout,
        request_timeout: a.request_timeout,
        max_connections: a.max_connections,
        preload: !a.lazy,
        model: (!a.no_model).then_some(a.model),
        agent_concurrency: a.agent_concurrency,
    };
    crate::serve::run(g, cfg).await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
