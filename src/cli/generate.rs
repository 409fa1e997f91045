//! `credrisk generate`: options → a validated [`GenerateConfig`] → the seeded population written
//! as Parquet (optionally CSV and a JSON summary), with a progress bar on a terminal and the
//! dataset summary printed at the end.

use crate::data::{GenerateConfig, Generated, Scenario, generate_files};
use crate::error::{Error, Result};
use crate::monitor::Period;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of applicants to generate (1 to 1,000,000,000).
    #[arg(long, default_value_t = 250_000, value_parser = parse_rows, allow_negative_numbers = true)]
    pub rows: u64,
    /// Seed of the population: the same seed and rows give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output path without extension: writes <PREFIX>.parquet (and .csv, .summary.json).
    #[arg(long, default_value = "data/chilean_credit_data")]
    pub prefix: PathBuf,
    /// Also write <PREFIX>.csv.
    #[arg(long)]
    pub csv: bool,
    /// Also write the dataset summary as <PREFIX>.summary.json.
    #[arg(long)]
    pub summary_json: bool,
    /// Print nothing but errors (no progress bar, no summary).
    #[arg(long, short)]
    pub quiet: bool,
    /// The batch's period (YYYY-MM or YYYY-MM-DD): each period draws other applicants from
    /// the same seed (a monthly batch); without it, the seed alone decides.
    #[arg(long)]
    pub period: Option<String>,
    /// Add this to the regional unemployment rate (0.03 = 3 points).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub unemployment_shift: f64,
    /// Multiply incomes by this.
    #[arg(long, default_value_t = 1.0)]
    pub income_scale: f64,
    /// Add this to the regional CPI inflation (0.01 = 1 point).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub cpi_shift: f64,
    /// Apply the unemployment, income and CPI shocks only in this region (repeat, or separate
    /// with commas); default: every region.
    #[arg(long, value_delimiter = ',')]
    pub shock_region: Vec<String>,
    /// Add this to every applicant's approval latent: the lending policy changed (negative is
    /// stricter), so the same applicant is approved with another probability (concept drift).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub policy_shift: f64,
}

/// A row count: a whole number, at least 1.
fn parse_rows(text: &str) -> std::result::Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(rows) => Ok(rows),
        Err(_) => Err("must be a whole number of rows, at least 1".into()),
    }
}

pub fn run(args: Args) -> Result<()> {
    let period = args.period.as_deref().map(str::parse::<Period>).transpose().map_err(Error::Usage)?;
    let scenario = Scenario {
        period: period.map(|p| p.text),
        unemployment_shift: args.unemployment_shift,
        income_scale: args.income_scale,
        cpi_shift: args.cpi_shift,
        regions: Scenario::region_indices(&args.shock_region)?,
        policy_shift: args.policy_shift,
    };
    let config = GenerateConfig::new(args.rows, args.seed, args.prefix, args.csv, args.summary_json)?
        .with_scenario(scenario)?;
    let bar = progress_bar(config.rows, args.quiet);
    let generated = generate_files(&config, &|rows| {
        if let Some(bar) = &bar {
            bar.set_position(rows);
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let generated = generated?;
    if !args.quiet {
        print!("{}", report(&config, &generated));
    }
    Ok(())
}

/// A progress bar on stderr, only for a person watching a terminal.
fn progress_bar(rows: u64, quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(rows);
    let style =
        ProgressStyle::with_template("{spinner} generating {bar:40} {human_pos}/{human_len} rows ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn report(config: &GenerateConfig, generated: &Generated) -> String {
    let mut files = vec![generated.parquet.display().to_string()];
    files.extend(generated.csv.iter().map(|p| p.display().to_string()));
    files.extend(generated.summary_json.iter().map(|p| p.display().to_string()));
    let period = config.scenario.period.as_deref().map(|p| format!(", period {p}")).unwrap_or_default();
    format!("wrote {} (seed {}{period})\n\n{}", files.join(", "), config.seed, generated.summary.render())
}
