//! `credrisk serve`: options of the HTTP service, validated into a [`ServeConfig`] before anything
//! binds or loads.

use super::model_args::{CompareArgs, ModelArgs};
use crate::error::{Error, Result};
use crate::serve::{self, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, KeyRing, ServeConfig, WatchConfig};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The smallest and largest body limit that make sense (one customer ≈ 400 bytes).
const MIN_BODY_LIMIT: usize = 1024;
const MAX_BODY_LIMIT: usize = 64 * 1024 * 1024;
const MAX_WORKERS: usize = 256;
const MAX_BODY_TIMEOUT_SECONDS: u64 = 600;
const MAX_CONNECTIONS: usize = 1_000_000;
/// The shortest and longest poll interval of a watched alias.
const MIN_WATCH: Duration = Duration::from_secs(1);
const MAX_WATCH: Duration = Duration::from_secs(24 * 3600);
/// An unreachable registry is tolerated this many poll intervals by default (at least 30 s)
/// before the replica reports not-ready: a registry restart should not empty the pool.
const GRACE_INTERVALS: u32 = 4;
const MIN_DEFAULT_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    compare: CompareArgs,
    /// Address to bind (127.0.0.1: reachable from this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind (0: any free port, logged at startup).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Worker threads; default: one per core.
    #[arg(long)]
    workers: Option<usize>,
    /// Append a JSON Lines decision record per answered decision to this regular file (a decision
    /// that cannot be recorded is not given: 503); SIGHUP reopens it after rotation.
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Largest request body in bytes (larger ones get 413).
    #[arg(long, default_value_t = DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// Seconds a request body may take to arrive (a stalled client gets 408).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_BODY_TIMEOUT.as_secs())]
    body_timeout: u64,
    /// Open connections over all workers (more wait to be accepted); default: 1024, lowered to
    /// fit the open-file limit (ulimit -n).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Customers for the page's review queue (JSON like `explain --customer`, Parquet or CSV):
    /// the denied ones are listed after the latest denials the service answered.
    #[arg(long, value_name = "FILE")]
    review: Option<PathBuf>,
    /// Follow the alias of --model (models:/NAME@ALIAS): poll it this often (e.g. 15s, 2m) and
    /// swap in the version it points at without a restart.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    watch: Option<Duration>,
    /// How long the registry may be unreachable before /health/ready fails (the model in hand
    /// keeps answering meanwhile); default: 4 watch intervals, at least 30s.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval, requires = "watch")]
    registry_grace: Option<Duration>,
    /// Key file (`credrisk keys add`): every endpoint but /health* and /metrics then needs
    /// `Authorization: Bearer KEY`.
    #[arg(long, value_name = "FILE", env = "CREDRISK_API_KEYS")]
    api_keys: Option<PathBuf>,
    /// Allow binding beyond loopback without --api-keys (a warning is logged): decisions and
    /// explanations are then open to anyone who reaches the port.
    #[arg(long)]
    insecure_no_auth: bool,
}

/// `15s`, `2m`, `1h`, `500ms` or bare seconds.
fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 =
        digits.parse().map_err(|_| format!("{text:?}: expected a number and a unit (15s, 2m, 1h)"))?;
    let scale = match unit {
        "" | "s" => 1000,
        "ms" => 1,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    Ok(Duration::from_millis(n.saturating_mul(scale)))
}

/// Whether `host` can only be reached from this machine.
fn is_loopback(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The alias to follow, when --watch is given.
fn watch_config(args: &Args) -> Result<Option<WatchConfig>> {
    let Some(interval) = args.watch else { return Ok(None) };
    if !(MIN_WATCH..=MAX_WATCH).contains(&interval) {
        return Err(Error::Usage(format!(
            "--watch must be {}s..={}h, got {} ms",
            MIN_WATCH.as_secs(),
            MAX_WATCH.as_secs() / 3600,
            interval.as_millis()
        )));
    }
    let uri = args.model.model.as_deref().unwrap_or_default();
    let Some((name, alias)) = serve::alias_of(uri) else {
        return Err(Error::Usage(format!(
            "--watch follows a registry alias: --model must be models:/NAME@ALIAS, got {uri:?}"
        )));
    };
    let grace = args.registry_grace.unwrap_or((interval * GRACE_INTERVALS).max(MIN_DEFAULT_GRACE));
    Ok(Some(WatchConfig { tracking_uri: args.model.tracking_uri.clone(), name, alias, interval, grace }))
}

pub fn run(args: Args) -> Result<()> {
    serve::serve(config(args)?)
}

fn config(args: Args) -> Result<ServeConfig> {
    let workers = match args.workers {
        Some(n) if n == 0 || n > MAX_WORKERS => {
            return Err(Error::Usage(format!("--workers must be 1..={MAX_WORKERS}, got {n}")));
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    if !(MIN_BODY_LIMIT..=MAX_BODY_LIMIT).contains(&args.body_limit) {
        return Err(Error::Usage(format!(
            "--body-limit must be {MIN_BODY_LIMIT}..={MAX_BODY_LIMIT} bytes, got {}",
            args.body_limit
        )));
    }
    if !(1..=MAX_BODY_TIMEOUT_SECONDS).contains(&args.body_timeout) {
        return Err(Error::Usage(format!(
            "--body-timeout must be 1..={MAX_BODY_TIMEOUT_SECONDS} seconds, got {}",
            args.body_timeout
        )));
    }
    if let Some(n) = args.max_connections.filter(|n| !(1..=MAX_CONNECTIONS).contains(n)) {
        return Err(Error::Usage(format!("--max-connections must be 1..={MAX_CONNECTIONS}, got {n}")));
    }
    if args.host.trim().is_empty() {
        return Err(Error::Usage("--host must not be empty".into()));
    }
    let compare = args.compare.validated()?;
    if let Some(path) = args.review.as_ref().filter(|p| !p.is_file()) {
        return Err(Error::Usage(format!("--review {}: no such file", path.display())));
    }
    let watch = watch_config(&args)?;
    let keys = args.api_keys.as_deref().map(KeyRing::load).transpose()?;
    let open_beyond_loopback = keys.is_none() && !is_loopback(&args.host);
    if open_beyond_loopback && !args.insecure_no_auth {
        return Err(Error::Usage(format!(
            "--host {} is reachable beyond this machine: give --api-keys FILE (create one with \
             `credrisk keys add NAME --file FILE`), or --insecure-no-auth to serve it open",
            args.host
        )));
    }
    Ok(ServeConfig {
        model_uri: args.model.model,
        tracking_uri: args.model.tracking_uri,
        compare,
        host: args.host,
        port: args.port,
        workers,
        audit_log: args.audit_log,
        body_limit: args.body_limit,
        body_timeout: Duration::from_secs(args.body_timeout),
        max_connections: args.max_connections,
        review: args.review,
        watch,
        keys,
        insecure_no_auth: open_beyond_loopback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_with_their_unit() {
        for (text, ms) in [("15s", 15_000), ("2m", 120_000), ("1h", 3_600_000), ("500ms", 500), ("7", 7_000)]
        {
            assert_eq!(parse_interval(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        for bad in ["", "s", "15x", "1.5s", "-1s"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_loopback_is_open_without_keys() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "10.0.0.5", "example.org"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
