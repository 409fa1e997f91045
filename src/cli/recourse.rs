//! `credrisk recourse`: what would it take for each customer to be approved? Reads the same
//! customer files as `explain` (one or many), asks the `recourse` module, and prints the options
//! in words or as JSON Lines.

use super::explain::read_customers;
use super::model_args::ModelArgs;
use crate::error::{Error, Result};
use crate::explain::Lang;
use crate::recourse::{DEFAULT_MAX_CHANGES, MAX_CHANGES_LIMIT, Plan, Planner, RecourseOptions};
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Customer file: JSON (`{"customer": {...}}`, the bare object, or an array), Parquet or CSV.
    #[arg(long)]
    customer: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// text: the options as sentences; json: the plan as POST /recourse returns it
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Language of the options: es or en.
    #[arg(long, default_value = "es")]
    lang: String,
    /// The most fields one option may change (1 to 3).
    #[arg(long, default_value_t = DEFAULT_MAX_CHANGES)]
    max_changes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> Result<()> {
    let lang: Lang = args.lang.parse().map_err(Error::Usage)?;
    if !(1..=MAX_CHANGES_LIMIT).contains(&args.max_changes) {
        return Err(Error::Usage(format!(
            "--max-changes must be 1..={MAX_CHANGES_LIMIT}, got {}",
            args.max_changes
        )));
    }
    let (model, _) = args.model.load()?;
    let customers = read_customers(&args.customer, model.schema())?;
    let customers = customers.block(0..customers.len());
    let planner = Planner::new(model);
    let options = RecourseOptions { max_changes: args.max_changes, lang, ..RecourseOptions::default() };
    let plans: Vec<Plan> = customers.par_iter().map(|c| planner.plan(c, options)).collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result: std::io::Result<()> = plans.iter().enumerate().try_for_each(|(i, p)| match args.format {
        Format::Json => {
            serde_json::to_writer(&mut out, p).map_err(std::io::Error::other)?;
            writeln!(out)
        }
        Format::Text => write!(out, "{}", text_report(i + 1, p, lang)),
    });
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| Error::io("<stdout>", e)),
    }
}

fn text_report(n: usize, plan: &Plan, lang: Lang) -> String {
    let es = lang == Lang::Es;
    let mut s = format!("#{n} {}\n", plan.text);
    for (k, o) in plan.options.iter().enumerate() {
        let cost = if es { "costo" } else { "cost" };
        s += &format!("   {}. {}  ({cost} {:.1})\n", k + 1, o.text, o.cost);
    }
    s + "\n"
}
