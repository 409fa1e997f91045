//! `credrisk schema show|infer|check`: print a schema as a file to copy and edit (the built-in one
//! or a model's), draft one from a table, and check one (with a table: which columns match, which
//! are missing, which values fall outside). Exit 0 ok, 1 a table that does not match, 2 a bad
//! schema or bad usage.

use crate::data::{ColumnCheck, TableCheck, check_table, infer_schema};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::loader;
use crate::schema::{self, CHILE_TOML, Positive, Schema};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print a schema as TOML you can copy and edit: the built-in Chilean one, or a model's.
    Show(ShowArgs),
    /// Draft a schema from a table: types, categories and ranges from what it holds, for review.
    Infer(InferArgs),
    /// Check a schema file and, with --data, a table against it (exit 1 when it does not match).
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// The schema of this model (a directory, runs:/<id>/model, models:/<name>/<version> or
    /// models:/<name>@<alias>) instead of the built-in one.
    #[arg(long)]
    model: Option<String>,
    /// MLflow tracking URI for runs:/ and models:/ URIs; default ./mlruns.
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    tracking_uri: Option<String>,
}

#[derive(Debug, clap::Args)]
struct InferArgs {
    /// The table (.parquet or .csv).
    #[arg(long)]
    data: PathBuf,
    /// The label column: the outcome the model learns.
    #[arg(long)]
    label: String,
    /// The label's value that means approved / good (the positive class), e.g. true, good, 1.
    #[arg(long)]
    positive: String,
    /// The schema's name (default: the table's file name).
    #[arg(long)]
    name: Option<String>,
    /// Write the draft here instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The schema file (TOML).
    file: PathBuf,
    /// A table (.parquet or .csv) to check against the schema.
    #[arg(long)]
    data: Option<PathBuf>,
}

/// Runs a `schema` subcommand; the exit code is 1 when a checked table does not match.
pub fn run(args: Args) -> Result<i32> {
    match args.command {
        Command::Show(a) => show(a).map(|()| 0),
        Command::Infer(a) => infer(a).map(|()| 0),
        Command::Check(a) => check(a),
    }
}

fn show(args: ShowArgs) -> Result<()> {
    let text = match &args.model {
        None => CHILE_TOML.to_string(),
        Some(uri) => loader::load_model(Some(uri), args.tracking_uri.as_deref())?.0.schema().to_toml(),
    };
    print_out(&text)
}

fn infer(args: InferArgs) -> Result<()> {
    let draft = infer_schema(&args.data, &args.label, &args.positive, args.name.as_deref())?;
    let text = format!(
        "# Drafted by `credrisk schema infer` from {}: review the types, ranges and categories, add\n\
         # units, labels and roles (protected, proxy, exclude, recourse), then train with --schema.\n{}",
        args.data.display(),
        draft.to_toml()
    );
    match &args.out {
        Some(path) => {
            write_atomic(path, text.as_bytes())?;
            eprintln!(
                "wrote the draft schema {:?} ({} columns) to {}",
                draft.schema.name(),
                draft.schema.columns().len(),
                path.display()
            );
            Ok(())
        }
        None => print_out(&text),
    }
}

fn check(args: CheckArgs) -> Result<i32> {
    let schema = schema::read_file(&args.file)?;
    let mut out = summary_line(&args.file, &schema);
    let code = match &args.data {
        None => 0,
        Some(data) => {
            let report = check_table(data, &schema)?;
            out += &render_check(data, &report);
            i32::from(!report.matches())
        }
    };
    print_out(&out)?;
    Ok(code)
}

fn summary_line(path: &Path, schema: &Schema) -> String {
    let positive = match schema.positive() {
        Positive::Boolean(b) => b.to_string(),
        Positive::Category(c) => format!("{c:?}"),
        Positive::Integer(i) => i.to_string(),
    };
    let excluded = schema.fields().filter(|f| f.exclude).count();
    let excluded = if excluded > 0 { format!(", {excluded} excluded") } else { String::new() };
    format!(
        "{}: schema {:?} is valid: {} columns, {} features{excluded}, label {} = {positive}\n",
        path.display(),
        schema.name(),
        schema.columns().len(),
        schema.n_fields(),
        schema.label().name,
    )
}

fn render_check(data: &Path, report: &TableCheck) -> String {
    let mut out = format!("{}: {} rows\n", data.display(), report.rows);
    let mut problems = 0;
    for (name, check) in &report.columns {
        let line = match check {
            ColumnCheck::Matches => format!("  ok        {name}"),
            ColumnCheck::Missing { required: true, expected } => {
                problems += 1;
                format!("  MISSING   {name}: expected {expected}")
            }
            ColumnCheck::Missing { required: false, .. } => format!("  absent    {name} (optional)"),
            ColumnCheck::Repeated(n) => {
                problems += 1;
                format!("  REPEATED  {name}: {n} columns of this name")
            }
            ColumnCheck::Bad { count, row, message } => {
                problems += 1;
                let values = if *count == 1 { "value" } else { "values" };
                format!(
                    "  OUTSIDE   {name}: {count} {values} the schema rejects; first at row {row}: {message}"
                )
            }
        };
        out += &line;
        out.push('\n');
    }
    for name in &report.extra {
        out += &format!("  ignored   {name} (not in the schema)\n");
    }
    if problems == 0 {
        out += "the table matches the schema\n";
    } else {
        out += &format!("the table does not match the schema: {problems} column(s) above\n");
    }
    out
}

/// Prints to stdout; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| Error::io("<stdout>", e)),
    }
}
