//! `credrisk export-forest`: writes a model's forest as `credrisk-forest/1` JSON, the interchange
//! format the shap oracle and other independent tools read.

use crate::error::Result;
use crate::loader;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a directory, runs:/<id>/model, models:/<name>/<version|@alias>; default latest run.
    #[arg(long, env = "MODEL_URI")]
    model: Option<String>,
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    tracking_uri: Option<String>,
    /// Output JSON file.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let (model, _) = loader::load_model(args.model.as_deref(), args.tracking_uri.as_deref())?;
    model.forest.write_dump(model.encoder.feature_names(), &args.out)?;
    eprintln!("wrote {} trees to {}", model.forest.trees.len(), args.out.display());
    Ok(())
}
