//! `credrisk report`: flags → validated inputs → one call to [`crate::report::write`]; prints
//! where the report went, its size and how long it took.

use super::explain::read_customers;
use super::model_args::{ModelArgs, ReferenceArg};
use crate::error::{Error, Result};
use crate::explain::Lang;
use crate::loader::{self, Compare};
use crate::report::{self, Format, Inputs};
use std::path::PathBuf;

/// The largest SHAP sample (TreeSHAP of 20 000 rows takes about a minute on two cores).
const MAX_SHAP_ROWS: usize = 20_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Applicants with outcomes (Parquet or CSV). The training file gives the run's own held-out
    /// numbers (its split is redone); any other labelled file is judged on every row.
    #[arg(long)]
    data: PathBuf,
    /// Where to write the report (.html, or .md with --format md).
    #[arg(long)]
    out: PathBuf,
    /// Language of the report: es or en.
    #[arg(long, default_value = "es")]
    lang: String,
    /// html: one self-contained page (inline SVG, JSON twin); md: Markdown with PNG charts in
    /// `<stem>_files/` and the JSON twin in `<stem>.json`.
    #[arg(long, default_value = "html")]
    format: String,
    /// The walk-through customer (JSON, as for `credrisk explain`); default: the first denied
    /// applicant from Maule in the evaluated rows.
    #[arg(long)]
    customer: Option<PathBuf>,
    /// Rows explained for the global SHAP picture and reason coverage (a seeded sample beyond).
    #[arg(long, default_value_t = report::DEFAULT_SHAP_ROWS)]
    shap_rows: usize,
    /// Seed of the SHAP sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// What the SHAP values and reasons compare applicants with: path (the training population,
    /// path-dependent TreeSHAP), approved or cutoff (the model's samples; see `explain --help`).
    #[arg(long, value_enum, default_value = "path")]
    reference: ReferenceArg,
}

pub fn run(args: Args) -> Result<()> {
    let lang: Lang = args.lang.parse().map_err(Error::Usage)?;
    let format: Format = args.format.parse().map_err(Error::Usage)?;
    if args.shap_rows == 0 || args.shap_rows > MAX_SHAP_ROWS {
        return Err(Error::Usage(format!("--shap-rows must be 1..={MAX_SHAP_ROWS}, got {}", args.shap_rows)));
    }
    if !args.data.is_file() {
        return Err(Error::Usage(format!("--data {}: no such file", args.data.display())));
    }
    if args.out.is_dir() {
        return Err(Error::Usage(format!("--out {}: is a directory; give a file name", args.out.display())));
    }
    if format == Format::Markdown && args.out.extension().is_some_and(|e| e == "json") {
        // The JSON twin is written beside the Markdown as <stem>.json: it would be overwritten.
        return Err(Error::Usage(format!(
            "--out {}: with --format md the JSON twin goes to <stem>.json; give a .md name",
            args.out.display()
        )));
    }
    let found = loader::find_model(args.model.model.as_deref(), args.model.tracking_uri.as_deref())?;
    let dir = found.dir().to_path_buf();
    let (model, model_ref) = loader::load_found(found)?;
    let customer = match &args.customer {
        None => None,
        Some(path) => {
            let customers = read_customers(path, model.schema())?;
            if customers.len() != 1 {
                return Err(Error::bad_file(
                    path,
                    format!("holds {} customers; the walk-through needs one", customers.len()),
                ));
            }
            customers.block(0..1).pop()
        }
    };
    let compare = Compare { reference: Some(args.reference.into()), background: None };
    let explainer = loader::explainer_for(model, model_ref, &dir, &compare)?;
    let mut inputs = Inputs::load(explainer, Some(&dir), &args.data, lang)?;
    inputs.customer = customer;
    inputs.shap_rows = args.shap_rows;
    inputs.seed = args.seed;
    let written = report::write(&inputs, &args.out, format)?;
    println!("{} ({:.0} kB) in {:.1} s", written.path.display(), written.bytes as f64 / 1e3, written.seconds);
    for asset in &written.assets {
        println!("  {}", asset.display());
    }
    Ok(())
}
