//! The command line: clap derive `Opts` per subcommand, each validated into a config in its own
//! file and run by one library call. Errors become one line on stderr and an exit code
//! (1 a check that found something, 2 bad usage or input, 3 internal failure).

use crate::error::Result;
use clap::{Parser, Subcommand};

mod describe;
mod encode;
mod explain;
mod export_forest;
mod fairness;
mod generate;
mod interrupt;
mod model_args;
mod monitor;
mod recourse;
mod register;
mod runs;
mod schema;
mod score;
mod serve;
mod train;

#[derive(Debug, Parser)]
#[command(
    name = "credrisk",
    version,
    about = "Credit-risk scoring: generate Chilean applicants, or bring your own table; train, explain, serve"
)]
struct Opts {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a seeded synthetic population of Chilean credit applicants (Parquet, optional CSV).
    Generate(generate::Args),
    /// Print the dataset summary of an applicant file.
    Describe(describe::Args),
    /// Train the random forest: metrics, plots, the model, and an MLflow run.
    Train(train::Args),
    /// Export a model's forest as `credrisk-forest/1` JSON.
    ExportForest(export_forest::Args),
    /// Write applicants' feature vectors exactly as the forest sees them (CSV).
    Encode(encode::Args),
    /// Explain decisions: probability, SHAP contributions per field and reasons for a denial.
    Explain(explain::Args),
    /// Judge a model's decisions on a batch by group: approval rates, error rates, disparities.
    Fairness(fairness::Args),
    /// What would it take to be approved: up to three realistic changes the model approves.
    Recourse(recourse::Args),
    /// Score a portfolio: Parquet, CSV or Arrow IPC in, probability and decision (SHAP, reasons) out.
    Score(score::Args),
    /// Register a run's model in the MLflow model registry (optionally with an alias).
    Register(register::Args),
    /// List the runs of an experiment.
    Runs(runs::Args),
    /// Serve /predict and /explain over HTTP.
    Serve(serve::Args),
    /// The applicant schema: show the built-in or a model's, draft one from a table, check one.
    Schema(schema::Args),
    /// Compare a new batch with the model's training reference and the previous batch: drift
    /// (PSI, KS, chi-squared), approval rates per group; exit 1 on an alert.
    Monitor(monitor::Args),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let opts = match Opts::try_parse() {
        Ok(opts) => opts,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(opts.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("credrisk: error: {e}");
            e.exit_code()
        }
    }
}

/// Runs one subcommand; the exit code is 0 unless a check found something (`schema check`).
fn run(command: Command) -> Result<i32> {
    // The service answers its signals itself (graceful stop, SIGHUP); every other command
    // removes its unfinished files when interrupted.
    if !matches!(command, Command::Serve(_)) {
        interrupt::watch();
    }
    let done = match command {
        Command::Generate(args) => generate::run(args),
        Command::Describe(args) => describe::run(args),
        Command::Train(args) => train::run(args),
        Command::ExportForest(args) => export_forest::run(args),
        Command::Encode(args) => encode::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Recourse(args) => recourse::run(args),
        Command::Score(args) => score::run(args),
        Command::Register(args) => register::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Schema(args) => return schema::run(args),
        Command::Fairness(args) => return fairness::run(args),
        Command::Monitor(args) => return monitor::run(args),
    };
    done.map(|()| 0)
}
