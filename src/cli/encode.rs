//! `credrisk encode`: writes applicants' feature vectors exactly as the forest sees them (CSV,
//! header = the forest dump's `feature_names`), so another tool can check our model on them.

use super::model_args::ModelArgs;
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Applicants (Parquet, CSV or JSON customer file).
    #[arg(long)]
    data: PathBuf,
    /// Output CSV.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let (model, _) = args.model.load()?;
    let customers = super::explain::read_customers(&args.data, model.schema())?;
    let applicants = customers.block(0..customers.len());
    let rows: Vec<f64> = applicants.iter().flat_map(|a| model.encoder.encode(a.values())).collect();
    let mut file = AtomicFile::create(&args.out)?;
    let io = |e| Error::io(&args.out, e);
    // A one-hot column's name holds its category, which may hold a comma (German credit's
    // "car or other, not in attribute Savings account/bonds"): quoted as RFC 4180 says.
    let header: Vec<_> = model.encoder.feature_names().iter().map(|n| crate::data::csv::cell(n)).collect();
    writeln!(file, "{}", header.join(",")).map_err(io)?;
    for row in rows.chunks(model.encoder.n_features()) {
        // `{}` prints the shortest representation that parses back to the same f64; a missing
        // value is an empty cell (NaN to pandas and numpy).
        let line: Vec<String> =
            row.iter().map(|v| if v.is_nan() { String::new() } else { v.to_string() }).collect();
        writeln!(file, "{}", line.join(",")).map_err(io)?;
    }
    file.commit()?;
    eprintln!(
        "wrote {} rows × {} features to {}",
        applicants.len(),
        model.encoder.n_features(),
        args.out.display()
    );
    Ok(())
}
