//! `credrisk report`: the model-risk reviewer's report of one model on its data — summary, model
//! card, data, performance, interpretability, fairness and stability — as one self-contained
//! HTML page (inline CSS and SVG, a JSON twin of every number) or as Markdown with PNG charts.
//!
//! Every number comes from the module that owns it (metrics, fairness, monitor, explain); this
//! module only chooses the rows, lays the numbers out and says what to look for.

mod card;
mod charts;
mod doc;
mod eda;
mod html;
mod inputs;
mod interpret;
mod markdown;
mod performance;
mod stability;
mod summary;
mod text;
mod walkthrough;

pub use inputs::{EvalRows, Inputs, Scope};

use crate::error::{Error, Result};
use crate::fsutil::{self, write_atomic};
use doc::Doc;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The JSON twin's format name.
pub const DATA_FORMAT: &str = "credrisk-report/1";
/// The report `train` logs with its run, in the run's artifact root.
pub const RUN_REPORT_FILE: &str = "report.html";
/// Rows explained for the global SHAP picture, the beeswarm and the reason-code coverage: a
/// seeded sample. Exact TreeSHAP of the default forest (200 trees, depth 14, ~2 200 leaves a
/// tree) costs ~30 ms a row on two busy cores, so 500 rows keep a report within seconds while
/// the mean |φ| of each field is known to a few percent.
pub const DEFAULT_SHAP_ROWS: usize = 500;
/// At most this many points per scatter plot (dependence plots, beeswarm rows).
pub const MAX_POINTS: usize = 600;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Format, String> {
        match s {
            "html" => Ok(Format::Html),
            "md" | "markdown" => Ok(Format::Markdown),
            other => Err(format!("--format must be html or md, got {other:?}")),
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    /// Other files written beside it (PNG charts, the JSON twin of a Markdown report).
    pub assets: Vec<PathBuf>,
    pub seconds: f64,
}

/// The JSON twin: every number the report shows, at full precision, under the names of the
/// module that computed it (`performance.metrics` is `metrics.json`'s shape, `fairness` is
/// `credrisk fairness --json`, `stability` is `credrisk monitor --json`).
#[derive(Debug, Serialize)]
pub struct ReportData {
    pub format: &'static str,
    pub lang: &'static str,
    pub summary: summary::SummaryData,
    pub card: card::CardData,
    pub data: eda::EdaData,
    pub performance: performance::PerformanceData,
    pub interpretability: interpret::InterpretData,
    pub fairness: Option<crate::fairness::FairnessReport>,
    pub stability: Option<crate::monitor::BatchReport>,
}

/// Computes every section and returns the document.
pub fn document(inputs: &Inputs) -> Result<Doc> {
    let lang = inputs.lang;
    let card = card::build(inputs)?;
    let eda = eda::build(inputs)?;
    let perf = performance::build(inputs)?;
    let interp = interpret::build(inputs, &inputs.eval.probabilities)?;
    let stab = stability::build(inputs, &inputs.eval.probabilities)?;
    let summary = summary::build(inputs, &perf.data, &eda.data, &interp.data, &stab);
    let data = ReportData {
        format: DATA_FORMAT,
        lang: text::code(lang),
        summary: summary.data,
        card: card.data,
        data: eda.data,
        performance: perf.data,
        interpretability: interp.data,
        fairness: stab.fairness.clone(),
        stability: stab.monitor.clone(),
    };
    let data_json = serde_json::to_string(&data).map_err(|e| Error::Internal(format!("report data: {e}")))?;
    Ok(Doc {
        lang: text::code(lang),
        title: text::tr(lang, "Informe del modelo de riesgo de crédito", "Credit risk model report").into(),
        subtitle: summary.subtitle,
        preface: summary.policy,
        sections: vec![
            summary.section,
            card.section,
            eda.section,
            perf.section,
            interp.section,
            stab.section,
        ],
        data_json,
    })
}

/// Builds the report and writes it to `out` atomically (HTML), or as Markdown with its PNGs in
/// `<stem>_files/` and its JSON twin in `<stem>.json` beside it.
pub fn write(inputs: &Inputs, out: &Path, format: Format) -> Result<Written> {
    let started = Instant::now();
    let doc = document(inputs)?;
    let mut assets = Vec::new();
    let text = match format {
        Format::Html => html::render(&doc)?,
        Format::Markdown => {
            let stem =
                out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
            let dir_name = format!("{stem}_files");
            let dir = out.with_file_name(&dir_name);
            fsutil::create_dir_all(&dir)?;
            let md = markdown::render(&doc, &dir, &dir_name)?;
            let twin = out.with_extension("json");
            write_atomic(&twin, doc.data_json.as_bytes())?;
            assets.push(dir);
            assets.push(twin);
            md
        }
    };
    write_atomic(out, text.as_bytes())?;
    Ok(Written {
        path: out.to_path_buf(),
        bytes: text.len() as u64,
        assets,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `credrisk train`'s report of the model it just wrote (in `out/model`), on its own rows:
/// the data section over the training rows, the rest over the held-out ones; no stability
/// section (the monitoring reference is these held-out rows). `shap`: the train's global SHAP
/// picture of the held-out rows drawn with `seed`, when it drew one (else the report explains
/// [`DEFAULT_SHAP_ROWS`] of them). Written to `out/report.html`.
pub fn write_for_training(
    model: std::sync::Arc<crate::model::Model>,
    run_id: Option<&str>,
    train_rows: &crate::data::ApplicantTable,
    test_rows: &crate::data::ApplicantTable,
    shap: Option<crate::explain::GlobalShap>,
    seed: u64,
    out: &Path,
) -> Result<Written> {
    let mut inputs = Inputs::for_training(model, run_id, train_rows, test_rows, &out.join("model"))?;
    inputs.shap = shap;
    inputs.seed = seed;
    write(&inputs, &out.join(RUN_REPORT_FILE), Format::Html)
}
