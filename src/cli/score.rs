//! `credrisk score`: flags → a validated `ScoreConfig` → `score::score`, and a one-line summary
//! on a terminal.

use super::model_args::{self, CompareArgs, ModelArgs};
use crate::data::stream::OnError;
use crate::error::{Error, Result};
use crate::explain::Lang;
use crate::score::{self, Extras, Place, ScoreConfig, TableFormat};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Applicants: .parquet, .csv or .arrow (Arrow IPC stream); `-` reads an Arrow IPC stream on stdin.
    #[arg(long)]
    data: PathBuf,
    /// Scores: .parquet, .csv or .arrow; `-` writes an Arrow IPC stream on stdout.
    #[arg(long)]
    out: PathBuf,
    /// Format of --out when its extension does not say.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Format of --data when its extension does not say.
    #[arg(long, value_enum)]
    data_format: Option<FormatArg>,
    /// Add the base value and one SHAP column per reported field (`shap_<field>`).
    #[arg(long)]
    explain: bool,
    /// Add the reasons for each denial as text (`reasons`), in --lang.
    #[arg(long)]
    reasons: bool,
    /// Language of the reasons: es or en.
    #[arg(long, default_value = "es")]
    lang: String,
    /// How many reasons to give for a denial.
    #[arg(long, default_value_t = crate::explain::DEFAULT_TOP)]
    top: usize,
    /// A row that breaks the schema: fail (exit 2 naming row and field) or skip (an `error` column says why).
    #[arg(long, value_enum, default_value = "fail")]
    on_error: OnErrorArg,
    #[command(flatten)]
    compare: CompareArgs,
    /// No progress bar and no summary line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum FormatArg {
    Parquet,
    Csv,
    Arrow,
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum OnErrorArg {
    Fail,
    Skip,
}

fn place(path: &Path, format: Option<FormatArg>, flag: &str) -> Result<Place> {
    let stdio = path.as_os_str() == "-";
    let format = match format {
        Some(FormatArg::Parquet) => Some(TableFormat::Parquet),
        Some(FormatArg::Csv) => Some(TableFormat::Csv),
        Some(FormatArg::Arrow) => Some(TableFormat::Arrow),
        None => None,
    };
    match (stdio, format) {
        (true, None | Some(TableFormat::Arrow)) => Ok(Place::Std),
        (true, Some(_)) => {
            Err(Error::Usage(format!("{flag} -: stdin and stdout carry Arrow IPC streams only")))
        }
        (false, Some(f)) => Ok(Place::File(path.to_path_buf(), f)),
        (false, None) => Ok(Place::File(path.to_path_buf(), TableFormat::of(path)?)),
    }
}

/// The flags as a run's configuration, checked before the model is loaded.
fn config(args: &Args) -> Result<ScoreConfig> {
    let lang: Lang = args.lang.parse().map_err(Error::Usage)?;
    if args.top == 0 {
        return Err(Error::Usage("--top must be at least 1".into()));
    }
    let input = place(&args.data, args.data_format, "--data")?;
    let output = place(&args.out, args.format, "--out")?;
    if let Place::File(path, _) = &input
        && !path.is_file()
    {
        return Err(Error::Usage(format!("--data {}: no such file", path.display())));
    }
    if let (Place::File(a, _), Place::File(b, _)) = (&input, &output)
        && std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok()
    {
        return Err(Error::Usage(format!("--out {} would overwrite --data", b.display())));
    }
    Ok(ScoreConfig {
        input,
        output,
        extras: Extras { explain: args.explain, reasons: args.reasons.then_some(lang), top: args.top },
        on_error: match args.on_error {
            OnErrorArg::Fail => OnError::Fail,
            OnErrorArg::Skip => OnError::Skip,
        },
        progress: !args.quiet,
    })
}

pub fn run(args: Args) -> Result<()> {
    let config = config(&args)?;
    let explainer = model_args::load_explainer(&args.model, &args.compare)?;
    let summary = score::score(&explainer, &config)?;
    if !args.quiet && std::io::stderr().is_terminal() {
        let seconds = summary.elapsed.as_secs_f64();
        let skipped = if summary.invalid > 0 {
            format!(", {} invalid (see the error column)", summary.invalid)
        } else {
            String::new()
        };
        eprintln!(
            "scored {} rows ({} approved{skipped}) in {seconds:.1} s, {:.0} rows/s → {}",
            summary.rows,
            summary.approved,
            summary.rows as f64 / seconds.max(1e-9),
            args.out.display()
        );
    }
    Ok(())
}
