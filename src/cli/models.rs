//! `credrisk models [NAME]`: the registered models, their versions, aliases and gate verdicts.

use crate::error::{Error, Result};
use crate::explain::Lang;
use crate::promote;
use crate::tracking;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this registered model.
    name: Option<String>,
    /// MLflow tracking URI: a path or file:///abs/mlruns, or http://host:port.
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URI")]
    tracking_uri: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Language of the table: es or en.
    #[arg(long, default_value = "es")]
    lang: String,
}

pub fn run(args: Args) -> Result<()> {
    let lang: Lang = args.lang.parse().map_err(Error::Usage)?;
    let store = tracking::open_existing(args.tracking_uri.as_deref())?;
    let models = promote::list_models(store.as_ref(), args.name.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&models).map_err(|e| Error::Internal(e.to_string()))?);
    } else {
        print!("{}", promote::render_models(&models, lang));
    }
    Ok(())
}
