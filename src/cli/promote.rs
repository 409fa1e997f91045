//! `credrisk promote`: flags → a [`PromoteConfig`] (or a rollback, or the printed default policy)
//! → the gate; exit 0 promoted (or would be), 1 refused, 2 bad input (nothing written).

use crate::error::{Error, Result};
use crate::explain::Lang;
use crate::promote::{self, DEFAULT_POLICY, Policy, PromoteConfig};
use crate::tracking;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The candidate: a registered version, models:/<name>/<version> (with --rollback:
    /// models:/<name>, or the version that holds the alias now).
    #[arg(long, required_unless_present = "print_policy")]
    model: Option<String>,
    /// The alias the candidate is to take; its holder is the champion it is compared with.
    #[arg(long, default_value = "champion")]
    alias: String,
    /// The labelled evaluation batch (Parquet or CSV), ideally out of time.
    #[arg(long, required_unless_present_any = ["print_policy", "rollback"])]
    data: Option<PathBuf>,
    /// The policy (TOML); default: the built-in one (see --print-policy).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print the built-in policy, with a comment on every rule, and exit.
    #[arg(long, exclusive = true)]
    print_policy: bool,
    /// Evaluate and report only: no tag, no artifact, no alias moves.
    #[arg(long, conflicts_with = "rollback")]
    dry_run: bool,
    /// Move the alias back to the version that holds previous-<alias>.
    #[arg(long, conflicts_with_all = ["data", "policy"])]
    rollback: bool,
    /// MLflow tracking URI: a path or file:///abs/mlruns, or http://host:port.
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URI")]
    tracking_uri: Option<String>,
    /// Language of the report: es or en.
    #[arg(long, default_value = "es")]
    lang: String,
}

pub fn run(args: Args) -> Result<i32> {
    if args.print_policy {
        print!("{DEFAULT_POLICY}");
        return Ok(0);
    }
    let lang: Lang = args.lang.parse().map_err(Error::Usage)?;
    let uri = args.model.as_deref().ok_or_else(|| Error::Usage("--model is required".into()))?;
    let (name, version) = promote::parse_model_uri(uri)?;
    if args.rollback {
        let store = tracking::open_existing(args.tracking_uri.as_deref())?;
        let done = promote::rollback(store.as_ref(), &name, &args.alias, version)?;
        print!("{}", promote::render_rollback(&done, lang));
        return Ok(0);
    }
    let version = version.ok_or_else(|| {
        Error::Usage(format!("--model {uri}: name the candidate version, models:/{name}/<version>"))
    })?;
    let policy = match &args.policy {
        Some(path) => Policy::read(path)?,
        None => Policy::default(),
    };
    let config = PromoteConfig {
        name,
        version,
        alias: args.alias,
        data: args.data.ok_or_else(|| Error::Usage("--data is required".into()))?,
        policy,
        dry_run: args.dry_run,
        tracking_uri: args.tracking_uri,
    };
    let report = promote::promote(&config)?;
    print!("{}", promote::render(&report, lang));
    Ok(i32::from(!report.passed))
}
