//! The model and comparison (reference, background) flags shared by `explain`, `score`, `serve`
//! and the expert tools: defined once, so their names, environment variables and checks cannot
//! drift apart.

use crate::error::{Error, Result};
use crate::explain::{Explainer, ModelRef, Reference};
use crate::loader::{self, Background, Compare, DEFAULT_BACKGROUND_ROWS, MAX_BACKGROUND_ROWS};
use crate::model::Model;
use std::path::PathBuf;
use std::sync::Arc;

/// Which model to load.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// Model: a directory, runs:/<id>/model, models:/<name>/<version>, models:/<name>@<alias>;
    /// default: the latest FINISHED run of experiment `credrisk`.
    #[arg(long, visible_alias = "model-uri", env = "MODEL_URI")]
    pub model: Option<String>,
    /// MLflow tracking URI (file store path/URI or http://host:port); default ./mlruns.
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
}

impl ModelArgs {
    pub fn load(&self) -> Result<(Arc<Model>, ModelRef)> {
        loader::load_model(self.model.as_deref(), self.tracking_uri.as_deref())
    }
}

/// What explanations compare with: a reference the model keeps, or a background file.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// What reasons compare the applicant with: path (path-dependent TreeSHAP over the training
    /// population), approved (the model's sample of approved applicants) or cutoff (those approved
    /// just above the cut-off); both samples are kept by `train`. Default: path, or the
    /// background file when one is given.
    #[arg(long, value_enum, conflicts_with = "background")]
    pub reference: Option<ReferenceArg>,
    /// Applicant Parquet/CSV for interventional SHAP (a seeded sample of it is the background).
    #[arg(long, env = "BACKGROUND_DATA_PATH")]
    pub background: Option<PathBuf>,
    /// Background sample size (at most 5000).
    #[arg(long, default_value_t = DEFAULT_BACKGROUND_ROWS)]
    pub background_rows: usize,
    /// Seed of the background sample.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The references a user names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReferenceArg {
    Path,
    Approved,
    Cutoff,
}

impl From<ReferenceArg> for Reference {
    fn from(r: ReferenceArg) -> Reference {
        match r {
            ReferenceArg::Path => Reference::Path,
            ReferenceArg::Approved => Reference::Approved,
            ReferenceArg::Cutoff => Reference::Cutoff,
        }
    }
}

impl CompareArgs {
    /// What to compare with, the background checked before anything is loaded or bound.
    pub fn validated(&self) -> Result<Compare> {
        Ok(Compare { reference: self.reference.map(Reference::from), background: self.background()? })
    }

    fn background(&self) -> Result<Option<Background>> {
        let Some(path) = &self.background else { return Ok(None) };
        if self.background_rows == 0 || self.background_rows > MAX_BACKGROUND_ROWS {
            return Err(Error::Usage(format!(
                "--background-rows must be 1..={MAX_BACKGROUND_ROWS}, got {}",
                self.background_rows
            )));
        }
        if !path.is_file() {
            return Err(Error::Usage(format!("--background {}: no such file", path.display())));
        }
        Ok(Some(Background { path: path.clone(), rows: self.background_rows, seed: self.seed }))
    }
}

/// The explainer of `model` comparing as `compare` says (checked first).
pub fn load_explainer(model: &ModelArgs, compare: &CompareArgs) -> Result<Explainer> {
    let compare = compare.validated()?;
    loader::load_explainer(model.model.as_deref(), model.tracking_uri.as_deref(), &compare)
}
