//! `credrisk register`: registers a finished run's model as a new version of a registered
//! model (optionally pointing an alias at it), in the file store or on a tracking server.

use crate::error::Result;
use crate::tracking;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run whose `model/` artifact directory to register.
    #[arg(long = "run", value_name = "RUN_ID")]
    run: String,
    /// The registered model name.
    #[arg(long, default_value = "credrisk-model")]
    name: String,
    /// An alias to point at the new version (e.g. champion).
    #[arg(long)]
    alias: Option<String>,
    /// MLflow tracking URI: a path or file:///abs/mlruns, or http://host:port.
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URI")]
    tracking_uri: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let (name, version) =
        tracking::register_model(args.tracking_uri.as_deref(), &args.run, &args.name, args.alias.as_deref())?;
    println!("Registered {name} version {version} from run {} (models:/{name}/{version})", args.run);
    if let Some(alias) = &args.alias {
        println!("Alias {alias} -> version {version} (models:/{name}@{alias})");
    }
    Ok(())
}
