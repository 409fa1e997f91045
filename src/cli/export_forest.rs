//! `credrisk export-forest`: writes a model's forest as `credrisk-forest/1` JSON, the interchange
//! format the shap oracle and other independent tools read.

use super::model_args::ModelArgs;
use crate::error::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Output JSON file.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let (model, _) = args.model.load()?;
    model.forest.write_dump(model.encoder.feature_names(), &args.out)?;
    eprintln!("wrote {} trees to {}", model.forest.trees.len(), args.out.display());
    Ok(())
}
