//! `credrisk serve`: options of the HTTP service, validated into a [`ServeConfig`] before anything
//! binds or loads.

use super::model_args::{BackgroundArgs, ModelArgs};
use crate::error::{Error, Result};
use crate::serve::{self, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, ServeConfig};
use std::path::PathBuf;
use std::time::Duration;

/// The smallest and largest body limit that make sense (one customer ≈ 400 bytes).
const MIN_BODY_LIMIT: usize = 1024;
const MAX_BODY_LIMIT: usize = 64 * 1024 * 1024;
const MAX_WORKERS: usize = 256;
const MAX_BODY_TIMEOUT_SECONDS: u64 = 600;
const MAX_CONNECTIONS: usize = 1_000_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    background: BackgroundArgs,
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
    let background = args.background.validated()?;
    if let Some(path) = args.review.as_ref().filter(|p| !p.is_file()) {
        return Err(Error::Usage(format!("--review {}: no such file", path.display())));
    }
    Ok(ServeConfig {
        model_uri: args.model.model,
        tracking_uri: args.model.tracking_uri,
        background,
        host: args.host,
        port: args.port,
        workers,
        audit_log: args.audit_log,
        body_limit: args.body_limit,
        body_timeout: Duration::from_secs(args.body_timeout),
        max_connections: args.max_connections,
        review: args.review,
    })
}
