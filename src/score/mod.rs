//! Scoring a portfolio: applicants streamed in batches from Parquet, CSV or an Arrow IPC stream,
//! each batch scored on every core (probability, decision, optionally per-field SHAP values and
//! the reasons for a denial) and written in order to Parquet, CSV or Arrow IPC, atomically.

mod columns;
mod write;

use crate::data::stream::{BatchReader, OnError, RowBatch, Source};
use crate::data::{self};
use crate::error::{Error, Result};
use crate::explain::{ExplainOptions, Explainer, Lang};
use crate::progress;
use arrow::array::RecordBatch;
use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

pub use columns::Columns;

/// The table formats `score` reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Parquet,
    Csv,
    /// The Arrow IPC streaming format.
    Arrow,
}

impl TableFormat {
    /// The format a path's extension names: `.parquet`/`.pq`, `.csv`, `.arrow`/`.arrows`/`.ipc`.
    pub fn of(path: &std::path::Path) -> Result<TableFormat> {
        let extension = path.extension().map(|e| e.to_string_lossy().to_lowercase());
        match extension.as_deref() {
            Some("parquet" | "pq") => Ok(TableFormat::Parquet),
            Some("csv") => Ok(TableFormat::Csv),
            Some("arrow" | "arrows" | "ipc") => Ok(TableFormat::Arrow),
            _ => Err(Error::Usage(format!(
                "{}: unknown file type; use .parquet, .csv or .arrow, or say which with --format",
                path.display()
            ))),
        }
    }
}

/// Where applicants come from or scores go.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    File(PathBuf, TableFormat),
    /// stdin or stdout, always an Arrow IPC stream.
    Std,
}

/// What to compute for each row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extras {
    /// One SHAP column per reported field, and the base value.
    pub explain: bool,
    /// The reasons for a denial, in this language.
    pub reasons: Option<Lang>,
    /// How many reasons at most.
    pub top: usize,
}

/// One `credrisk score` run.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreConfig {
    pub input: Place,
    pub output: Place,
    pub extras: Extras,
    pub on_error: OnError,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSummary {
    pub rows: u64,
    pub approved: u64,
    /// Rows that failed validation (only with `OnError::Skip`).
    pub invalid: u64,
    pub elapsed: Duration,
}

/// Scores `config.input` into `config.output` with `explainer`. Reading, scoring and writing run
/// at once (one batch in flight each way), so memory stays at a few batches whatever the size.
pub fn score(explainer: &Explainer, config: &ScoreConfig) -> Result<ScoreSummary> {
    let start = Instant::now();
    let schema = explainer.schema();
    let source = match &config.input {
        Place::File(path, TableFormat::Parquet) => Source::File(path.clone(), data::Format::Parquet),
        Place::File(path, TableFormat::Csv) => Source::File(path.clone(), data::Format::Csv),
        Place::File(path, TableFormat::Arrow) => {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let reader: Box<dyn Read + Send> = Box::new(std::io::BufReader::new(file));
            Source::ArrowStream { name: path.display().to_string(), reader }
        }
        Place::Std => {
            let reader: Box<dyn Read + Send> = Box::new(std::io::BufReader::new(std::io::stdin()));
            Source::ArrowStream { name: "<stdin>".into(), reader }
        }
    };
    let reader = BatchReader::open(source, schema, config.on_error)?;
    let columns = Columns::new(explainer, reader.id_names(), config.extras, config.on_error);
    let mut sink = write::Sink::create(&config.output, &columns.schema())?;
    let bar = match reader.total_rows() {
        Some(n) => progress::bar(config.progress, n, "rows"),
        None => progress::counter(config.progress, "rows"),
    };
    let mut summary = ScoreSummary { rows: 0, approved: 0, invalid: 0, elapsed: Duration::ZERO };

    std::thread::scope(|scope| -> Result<()> {
        let (batches_tx, batches_rx) = sync_channel::<Result<RowBatch>>(1);
        let (scored_tx, scored_rx) = sync_channel::<RecordBatch>(1);
        let reading = scope.spawn(move || {
            for batch in reader {
                let failed = batch.is_err();
                // The scorer stopped (an error): nothing more to read.
                if batches_tx.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        let writing = scope.spawn(move || -> Result<write::Sink> {
            for batch in scored_rx {
                sink.write(&batch)?;
            }
            Ok(sink)
        });
        let scored = (|| -> Result<()> {
            for batch in batches_rx {
                let batch = batch?;
                let (out, counts) = columns.score(explainer, &batch)?;
                summary.rows += batch.len() as u64;
                summary.approved += counts.approved;
                summary.invalid += counts.invalid;
                bar.inc(batch.len() as u64);
                if scored_tx.send(out).is_err() {
                    break; // the writer failed: its error is reported below
                }
            }
            Ok(())
        })();
        drop(scored_tx);
        let written = writing.join().map_err(|_| Error::Internal("the writer thread panicked".into()))?;
        reading.join().map_err(|_| Error::Internal("the reader thread panicked".into()))?;
        // A scoring error comes first (the writer only stopped because of it); the temp file of
        // a failed run is removed when its sink is dropped.
        scored?;
        written?.commit()
    })?;
    bar.finish_and_clear();
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// The default options of the reasons `score` writes.
pub(crate) fn reason_options(extras: Extras) -> ExplainOptions {
    ExplainOptions { lang: extras.reasons.unwrap_or(Lang::Es), top: extras.top, ..ExplainOptions::default() }
}
