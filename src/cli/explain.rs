//! `credrisk explain`: why was this customer approved or denied? Reads one or many customers
//! (JSON object, `{"customer": …}`, a JSON array, or a Parquet/CSV file), answers each with the
//! `explain` module, and prints a terminal report or JSON Lines.

use super::model_args::{self, CompareArgs, ModelArgs};
use crate::data::{self, ApplicantTable};
use crate::error::{Error, Result};
use crate::explain::{Answer, ExplainOptions, Lang, Reference};
use crate::schema::json::{self, JsonError};
use crate::schema::{Applicant, FieldError, Schema};
use crate::{fsutil, progress};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Customer file: JSON (`{"customer": {...}}`, the bare object, or an array), Parquet or CSV.
    #[arg(long)]
    customer: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    compare: CompareArgs,
    /// text: a report per customer; json: one answer per line (as /explain returns it)
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Language of the reasons and warnings: es or en.
    #[arg(long, default_value = "es")]
    lang: String,
    /// How many reasons to give for a denial.
    #[arg(long, default_value_t = crate::explain::DEFAULT_TOP)]
    top: usize,
    /// One contribution per encoded column (as in the forest dump) instead of per field.
    #[arg(long)]
    per_column: bool,
    /// No progress bar (it is drawn only on a terminal, for a file of many customers).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Customers answered per block: the answers of one block are in memory at a time, whatever the
/// number of customers, and a block keeps both cores busy.
const BLOCK: usize = 4096;
/// The largest JSON customer file: a JSON list is for a handful of customers; a portfolio
/// belongs in Parquet or CSV, which are read column by column.
pub const MAX_JSON_BYTES: u64 = 64 << 20;

pub fn run(args: Args) -> Result<()> {
    let lang: Lang = args.lang.parse().map_err(Error::Usage)?;
    if args.top == 0 {
        return Err(Error::Usage("--top must be at least 1".into()));
    }
    let explainer = model_args::load_explainer(&args.model, &args.compare)?;
    // Customers are the model's applicants: checked against the schema it was trained on.
    let customers = read_customers(&args.customer, explainer.schema())?;
    // One customer gets both cores; many are spread over them instead.
    let parallel = customers.len() == 1;
    let options =
        ExplainOptions { lang, top: args.top, per_column: args.per_column, parallel, reference: None };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let bar = progress::bar(!args.quiet && customers.len() > 1, customers.len() as u64, "customers");
    for start in (0..customers.len()).step_by(BLOCK) {
        let block = customers.block(start..(start + BLOCK).min(customers.len()));
        // One batch (TreeSHAP's blocks of rows; the same values as one by one), unless a lone
        // customer, who gets both cores.
        let answers: Vec<Answer> = if parallel {
            block.iter().map(|c| explainer.explain(c, options)).collect::<Result<_>>()?
        } else {
            let applicants: Vec<_> = block.iter().map(|c| (c, lang)).collect();
            explainer.explain_many(&applicants, options)?
        };
        bar.inc(block.len() as u64);
        match write_answers(&mut out, start, &answers, &block, explainer.schema(), args.format, lang) {
            // The reader went away (`| head`): what it wanted is printed.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other.map_err(|e| Error::io("<stdout>", e))?,
        }
    }
    bar.finish_and_clear();
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| Error::io("<stdout>", e)),
    }
}

fn write_answers(
    out: &mut impl Write,
    first: usize,
    answers: &[Answer],
    customers: &[Applicant],
    schema: &Schema,
    format: Format,
    lang: Lang,
) -> std::io::Result<()> {
    answers.iter().zip(customers).enumerate().try_for_each(|(i, (a, customer))| match format {
        Format::Json => {
            // Keeps an I/O error's kind (a closed pipe is no error).
            serde_json::to_writer(&mut *out, a).map_err(std::io::Error::from)?;
            writeln!(out)
        }
        Format::Text => write!(out, "{}", text_report(first + i + 1, a, customer, schema, lang)),
    })
}

/// Validated customers: a table read from Parquet or CSV (kept in its compact form until a
/// block of it is answered), or the ones of a JSON file.
pub enum Customers {
    Table(ApplicantTable),
    List(Vec<Applicant>),
}

impl Customers {
    pub fn len(&self) -> usize {
        match self {
            Customers::Table(t) => t.len(),
            Customers::List(l) => l.len(),
        }
    }

    /// The customers in `range`.
    pub fn block(&self, range: std::ops::Range<usize>) -> Vec<Applicant> {
        match self {
            Customers::Table(t) => range.map(|i| t.applicant(i)).collect(),
            Customers::List(l) => l[range].to_vec(),
        }
    }
}

/// Reads customers from JSON, Parquet or CSV, validating each one against `schema`; every
/// problem names the item. A JSON file must be a regular file of at most [`MAX_JSON_BYTES`],
/// checked before it is read.
pub fn read_customers(path: &Path, schema: &Arc<Schema>) -> Result<Customers> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext == "parquet" || ext == "csv" {
        let table = data::read_table(path, schema)?;
        if table.is_empty() {
            return Err(Error::bad_file(path, "has no customers"));
        }
        return Ok(Customers::Table(table));
    }
    let bytes = fsutil::read_limited(path, MAX_JSON_BYTES).map_err(|e| match e {
        Error::BadFile { path, message } => Error::BadFile {
            path,
            message: format!("{message} (a larger portfolio belongs in a .parquet or .csv file)"),
        },
        other => other,
    })?;
    // A file that is not UTF-8 is the user's mistake (exit 2), like a CSV that is not UTF-8.
    if let Err(e) = std::str::from_utf8(&bytes) {
        return Err(Error::bad_file(path, format!("is not UTF-8 text (byte {})", e.valid_up_to())));
    }
    let json = json::parse_strict(&bytes).map_err(|e| match e {
        JsonError::Syntax(e) => Error::bad_file(path, format!("is not valid JSON: {e}")),
        JsonError::DuplicateKeys(paths) => Error::invalid(
            path.display().to_string(),
            paths.into_iter().map(|p| FieldError::new(p, json::DUPLICATE_KEY)).collect(),
        ),
    })?;
    let items: Vec<&Value> = match &json {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::Array(_) => return Err(Error::bad_file(path, "is an empty list of customers")),
        one => vec![one],
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let customer = item.get("customer").unwrap_or(item);
            schema.parse_applicant(customer).map_err(|errors| {
                let location = if items.len() == 1 {
                    path.display().to_string()
                } else {
                    format!("{} customer {}", path.display(), i + 1)
                };
                Error::invalid(location, errors)
            })
        })
        .collect::<Result<_>>()
        .map(Customers::List)
}

/// A compact terminal report in `lang`: the decision, what the base value and the bars mean, one
/// bar per field (its label and its value in the field's unit), the reasons and the warnings.
fn text_report(n: usize, a: &Answer, customer: &Applicant, schema: &Schema, lang: Lang) -> String {
    let es = lang == Lang::Es;
    let decision = match (a.approved, es) {
        (true, true) => "APROBADO",
        (false, true) => "RECHAZADO",
        (true, false) => "APPROVED",
        (false, false) => "DENIED",
    };
    let num = |v: f64, decimals: usize| {
        let text = format!("{v:.decimals$}");
        if es { text.replace('.', ",") } else { text }
    };
    let signed = |v: f64, decimals: usize| {
        let text = format!("{v:+.decimals$}");
        if es { text.replace('.', ",") } else { text }
    };
    let run = match a.model.run_id.as_deref() {
        Some(r) if !a.model.uri.contains(r) => format!(" (run {r})"),
        _ => String::new(),
    };
    let method = match (a.method, es) {
        ("interventional", true) => "SHAP intervencional",
        ("interventional", false) => "interventional SHAP",
        (_, true) => "TreeSHAP por caminos del árbol",
        (_, false) => "path-dependent TreeSHAP",
    };
    // What the base is the mean of: the reference the bars compare the customer with.
    let base_is = match (a.reference, es) {
        (Reference::Path, true) => "probabilidad media del modelo".to_string(),
        (Reference::Path, false) => "the model's average probability".to_string(),
        (r, true) => format!("probabilidad media de {}", r.compared_with(true)),
        (r, false) => format!("the average probability of {}", r.compared_with(false)),
    };
    let mut s = if es {
        format!(
            "#{n} {decision}  P(aprobación) = {}  umbral {}  margen {}\n   \
             base {} = {base_is}; cada barra suma (→) o resta (←) a la base \
             hasta llegar a {} ({method})\n   modelo {}{run}\n",
            num(a.probability, 3),
            num(a.threshold, 2),
            signed(a.margin, 3),
            num(a.base_value, 3),
            num(a.probability, 3),
            a.model.uri,
        )
    } else {
        format!(
            "#{n} {decision}  P(approval) = {:.3}  threshold {:.2}  margin {:+.3}\n   \
             base {:.3} = {base_is}; each bar adds (→) or subtracts (←) \
             from the base to reach {:.3} ({method})\n   model {}{run}\n",
            a.probability, a.threshold, a.margin, a.base_value, a.probability, a.model.uri,
        )
    };
    let scale = a.contributions.iter().map(|c| c.shap.abs()).fold(1e-12, f64::max);
    for c in &a.contributions {
        let width = ((c.shap.abs() / scale) * 20.0).round() as usize;
        let (left, right) = if c.shap < 0.0 {
            (format!("{:>20}", "█".repeat(width)), String::new())
        } else {
            (" ".repeat(20), "█".repeat(width))
        };
        // A field's label and its value in its unit; an encoded column (--per-column) as named.
        let (label, value) = match schema.group_named(&c.feature) {
            Some(g) => (
                schema.group_labels(g).get(es).to_string(),
                crate::explain::value_text(schema, g, customer.values(), lang),
            ),
            None => (c.feature.clone(), crate::explain::json_value_text(&c.value, lang)),
        };
        s += &format!(
            "   {:<32} {:>14} {:>8} {left}|{right}\n",
            truncate(&label, 32),
            truncate(&value, 14),
            signed(c.shap, 4)
        );
    }
    if !a.reasons.is_empty() {
        s += if es { "   Motivos:\n" } else { "   Reasons:\n" };
        for (i, r) in a.reasons.iter().enumerate() {
            s += &format!("     {}. {}\n", i + 1, r.text);
        }
    }
    for w in &a.warnings {
        s += &format!("   ! {}\n", w.message);
    }
    s + "\n"
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).collect::<String>() + "…" }
}
