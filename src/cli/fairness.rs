//! `credrisk fairness`: judges a model's decisions on a batch by group (the schema's protected and
//! proxy fields, or `--by`) and prints a table (es/en) or JSON, optionally a PNG; exit 0 within
//! the thresholds, 1 on an alert, 2 on bad input.

use super::model_args::ModelArgs;
use crate::data;
use crate::error::{Error, Result};
use crate::explain::Lang;
use crate::fairness::{self, FairnessConfig, Thresholds};
use std::path::PathBuf;

/// At most this many bootstrap replicates (each one is a pass over the batch).
pub(super) const MAX_BOOT: usize = 100_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The batch: applicants (Parquet or CSV), with the label column when outcomes are known.
    #[arg(long)]
    data: PathBuf,
    /// Groupings: fields, or intersections `gender*region`; repeat or separate with commas.
    /// Default: the schema's protected and proxy fields.
    #[arg(long, value_delimiter = ',')]
    by: Vec<String>,
    /// Band edges of a numeric field, `age=18,26,36,46,56,66` (repeat for several fields).
    /// Default: the field's `bands` in the schema (age: 18,26,36,46,56,66), else quintiles of the batch.
    #[arg(long)]
    bands: Vec<String>,
    /// Groups with fewer rows are listed and flagged, never judged.
    #[arg(long, default_value_t = 50)]
    min_group: u64,
    /// Bootstrap replicates for the 95% intervals (0: none).
    #[arg(long, default_value_t = 200)]
    n_boot: usize,
    /// Seed of the bootstrap (the intervals are the same whatever the thread count).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Alert when a difference (demographic parity, equal opportunity, equalized odds) exceeds this.
    #[arg(long, default_value_t = 0.05)]
    max_difference: f64,
    /// Alert when the demographic parity ratio falls below this (four-fifths rule).
    #[arg(long, default_value_t = 0.8)]
    min_ratio: f64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Language of the table and the chart: es or en.
    #[arg(long, default_value = "es")]
    lang: String,
    /// Also draw the approval rates by group with their intervals to this PNG.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Also write each row's groups, probability, decision and label to this CSV (for audit, or
    /// to recompute the numbers with another tool).
    #[arg(long)]
    rows: Option<PathBuf>,
}

impl Args {
    fn config(&self) -> Result<FairnessConfig> {
        if self.n_boot > MAX_BOOT {
            return Err(Error::Usage(format!("--n-boot must be at most {MAX_BOOT}, got {}", self.n_boot)));
        }
        if self.min_group == 0 {
            return Err(Error::Usage("--min-group must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.max_difference) {
            return Err(Error::Usage(format!(
                "--max-difference must be within [0, 1], got {}",
                self.max_difference
            )));
        }
        if !(0.0..=1.0).contains(&self.min_ratio) {
            return Err(Error::Usage(format!("--min-ratio must be within [0, 1], got {}", self.min_ratio)));
        }
        Ok(FairnessConfig {
            by: self.by.iter().map(|b| b.trim().to_string()).filter(|b| !b.is_empty()).collect(),
            bands: fairness::parse_bands(&self.bands)?,
            min_group: self.min_group,
            n_boot: self.n_boot,
            seed: self.seed,
            thresholds: Thresholds { max_difference: self.max_difference, min_ratio: self.min_ratio },
        })
    }
}

/// Runs the command; the exit code is 1 when an alert was raised.
pub fn run(args: Args) -> Result<i32> {
    let lang: Lang = args.lang.parse().map_err(Error::Usage)?;
    let config = args.config()?;
    if !args.data.is_file() {
        return Err(Error::Usage(format!("--data {}: no such file", args.data.display())));
    }
    let (model, _) = args.model.load()?;
    let table = data::read_table(&args.data, model.schema())?;
    if table.is_empty() {
        return Err(Error::bad_file(&args.data, "has no rows: nothing to judge"));
    }
    let probabilities = crate::monitor::score_table(&model, &table);
    let report = fairness::evaluate(&table, &probabilities, model.threshold, &config)?;
    if let Some(path) = &args.rows {
        fairness::write_rows_csv(path, &table, &probabilities, model.threshold, &config)?;
    }
    if let Some(png) = &args.png {
        fairness::selection_rates_png(png, &report, model.schema(), lang)?;
    }
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))? + "\n"
    } else {
        fairness::render(&report, model.schema(), lang)
    };
    print_out(&text)?;
    if args.json {
        // The table prints its notes; beside JSON they go to stderr too, for a person watching.
        for note in &report.notes {
            eprintln!("credrisk: note: {note}");
        }
    }
    Ok(i32::from(!report.alerts.is_empty()))
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| Error::io("<stdout>", e)),
    }
}
