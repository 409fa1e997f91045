//! Drift monitoring behind `credrisk monitor`: a new batch scored by a trained model and compared
//! with the model's train-time reference and with the previous batch (PSI, KS, chi-squared,
//! approval rates overall and per protected, proxy or reported group, the batch's fairness as
//! `credrisk fairness` judges it), alerts on what moved, and one MLflow monitoring run per model
//! in which each batch is a step.

pub mod reference;
pub mod report;
mod scoring;
pub mod stats;
mod text;
pub mod track;

use crate::data::{self, ApplicantTable};
use crate::error::{Error, Result};
use crate::explain::Lang;
use crate::fairness::{self, FairnessConfig};
use crate::loader;
use crate::model::Model;
use crate::tracking;
use rayon::prelude::*;
use std::path::PathBuf;

pub use reference::{REFERENCE_FILE, Reference};
pub use report::{Alert, BatchReport, Thresholds};
pub use scoring::{Scorer, score_table};
pub use text::render;

/// A validated `credrisk monitor` invocation.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub model: Option<String>,
    pub tracking_uri: Option<String>,
    pub data: PathBuf,
    pub period: Option<Period>,
    /// Log the batch to the model's monitoring run (and compare with the previous batch there).
    pub track: bool,
    pub experiment: String,
    pub thresholds: Thresholds,
    /// How the batch's fairness is judged (groups, bootstrap, thresholds): as `credrisk fairness`.
    pub fairness: FairnessConfig,
    pub lang: Lang,
}

/// A batch's period, `YYYY-MM` or `YYYY-MM-DD`; its first instant (UTC) is the MLflow timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub text: String,
    pub timestamp_ms: i64,
}

impl std::str::FromStr for Period {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Period, String> {
        let bad = || format!("period {text:?} must be YYYY-MM or YYYY-MM-DD (e.g. 2027-03)");
        let parts: Vec<&str> = text.split('-').collect();
        let number = |s: &str, len: usize| {
            (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<i64>().ok()).flatten()
        };
        let (year, month, day) = match parts.as_slice() {
            [y, m] => (number(y, 4), number(m, 2), Some(1)),
            [y, m, d] => (number(y, 4), number(m, 2), number(d, 2)),
            _ => return Err(bad()),
        };
        let (Some(y), Some(m), Some(d)) = (year, month, day) else { return Err(bad()) };
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || y < 1970 {
            return Err(bad());
        }
        Ok(Period { text: text.to_string(), timestamp_ms: days_from_civil(y, m, d) * 86_400_000 })
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm, the inverse of
/// [`tracking::civil_from_days`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Scores the batch, compares it with the reference (and the previous batch in the model's
/// monitoring run), and logs it as the run's next step. The report's `alerts` decide the exit.
pub fn monitor(config: &MonitorConfig) -> Result<BatchReport> {
    let found = loader::find_model(config.model.as_deref(), config.tracking_uri.as_deref())?;
    let dir = found.dir().to_path_buf();
    let (model, model_ref) = loader::load_found(found)?;
    let reference = Reference::load(&dir, model.schema())?;
    let table = data::read_table(&config.data, model.schema())?;
    if table.is_empty() {
        return Err(Error::bad_file(&config.data, "has no rows: there is no batch to monitor"));
    }
    let scores = score_table(&model, &table);
    let fairness = if fairness::default_by(model.schema()).is_empty() && config.fairness.by.is_empty() {
        None
    } else {
        Some(fairness::evaluate(
            &table,
            &scores,
            model.threshold,
            &reference_bands(&config.fairness, &reference),
        )?)
    };
    let counts = count_batch(&model, &reference, &table, scores);
    drop(table);

    let store = if config.track { Some(tracking::open(config.tracking_uri.as_deref())?) } else { None };
    let model_key = model.info.run_id.clone().unwrap_or_else(|| {
        format!("{}-{}", &model.info.data_sha256.get(..12).unwrap_or("unknown"), model.info.created_ms)
    });
    let run = match store.as_deref() {
        Some(store) => Some(track::open_run(store, &config.experiment, &model_key, &model_ref.uri)?),
        None => None,
    };
    let previous = run.as_ref().and_then(|r| r.previous.as_ref());
    let t = &config.thresholds;
    let found = judge(&reference, &counts, previous.map(|p| &p.approval), t, config.lang);
    let report = BatchReport {
        format: report::BATCH_FORMAT.into(),
        batch: run.as_ref().map_or(1, |r| r.batch),
        period: config.period.as_ref().map(|p| p.text.clone()),
        timestamp_ms: config.period.as_ref().map_or_else(tracking::now_ms, |p| p.timestamp_ms),
        // "The latest finished run" names no model: say which one it was.
        model: match (&config.model, &model.info.run_id) {
            (None, Some(id)) => format!("runs:/{id}/model"),
            _ => model_ref.uri.clone(),
        },
        model_run_id: model.info.run_id.clone(),
        data: std::path::absolute(&config.data).unwrap_or_else(|_| config.data.clone()).display().to_string(),
        n_rows: counts.n,
        inputs: found.inputs,
        score: found.score,
        approval: found.approval,
        thresholds: *t,
        alerts: found.alerts,
        warnings: found.warnings,
        fairness,
        tracking: run.as_ref().map(|r| r.tracking_ref()),
    };
    if let Some(run) = run {
        run.log(&report)?;
    }
    Ok(report)
}

/// What one batch's counts say against the reference (and the previous batch's approvals).
struct Judged {
    inputs: Vec<report::InputDrift>,
    score: report::InputDrift,
    approval: report::ApprovalDrift,
    alerts: Vec<Alert>,
    warnings: Vec<Alert>,
}

fn judge(
    reference: &Reference,
    counts: &report::BatchCounts,
    previous: Option<&report::ApprovalDrift>,
    t: &Thresholds,
    lang: Lang,
) -> Judged {
    let inputs: Vec<report::InputDrift> = reference
        .inputs
        .iter()
        .zip(&counts.inputs)
        .map(|(r, b)| report::input_drift(&r.name, &r.distribution, b, t))
        .collect();
    let score = report::input_drift(
        reference::SCORE_NAME,
        &reference::Distribution::Numeric(reference.score.clone()),
        &counts.score,
        t,
    );
    let approval = report::approvals(reference, counts, previous, t);
    let (alerts, warnings) = report::findings(&inputs, &score, &approval, t);
    let word = |f: &report::Finding| text::alert(f, lang);
    Judged {
        alerts: alerts.iter().map(word).collect(),
        warnings: warnings.iter().map(word).collect(),
        inputs,
        score,
        approval,
    }
}

/// `table` (its rows' `scores` from [`score_table`]) against the model's `reference` alone, at
/// the default thresholds: no previous batch, nothing logged (what
/// `credrisk report` shows as stability). The same numbers `credrisk monitor --no-tracking`
/// reports for the table.
pub fn compare(
    model: &Model,
    model_uri: &str,
    reference: &Reference,
    table: &ApplicantTable,
    scores: Vec<f64>,
    data: &str,
    lang: Lang,
) -> BatchReport {
    let thresholds = &Thresholds::default();
    let counts = count_batch(model, reference, table, scores);
    let found = judge(reference, &counts, None, thresholds, lang);
    BatchReport {
        format: report::BATCH_FORMAT.into(),
        batch: 1,
        period: None,
        timestamp_ms: tracking::now_ms(),
        model: model_uri.to_string(),
        model_run_id: model.info.run_id.clone(),
        data: data.to_string(),
        n_rows: counts.n,
        inputs: found.inputs,
        score: found.score,
        approval: found.approval,
        thresholds: *thresholds,
        alerts: found.alerts,
        warnings: found.warnings,
        fairness: None,
        tracking: None,
    }
}

/// `config` with the reference's bands for every banded field it does not band itself: a
/// numeric field without schema `bands` is cut at the *training* quintiles for the approval
/// groups, and fairness must use the same groups, not the batch's own quintiles.
fn reference_bands(config: &FairnessConfig, reference: &Reference) -> FairnessConfig {
    let mut config = config.clone();
    for r in &reference.approval.by {
        if let reference::Grouping::Bands { edges, .. } = &r.grouping {
            config.bands.entry(r.field.clone()).or_insert_with(|| edges.clone());
        }
    }
    config
}

/// The batch's bins, categories, sorted numbers and approvals, per watched input and group, from
/// the table and its `scores`.
fn count_batch(
    model: &Model,
    reference: &Reference,
    table: &ApplicantTable,
    scores: Vec<f64>,
) -> report::BatchCounts {
    let schema = model.schema();
    let watched = reference::watched_inputs(schema);
    let inputs = watched
        .par_iter()
        .zip(reference.inputs.par_iter())
        .map(|(&(g, _), r)| {
            let values: Vec<f64> = table.rows().map(|row| schema.group_raw(g, row)).collect();
            counts_of(&r.distribution, values)
        })
        .collect();
    let approved: Vec<bool> = scores.iter().map(|&p| p >= model.threshold).collect();
    let by = reference
        .approval
        .by
        .iter()
        .map(|r| {
            let field = schema.field_index(&r.field).expect("the reference's fields are the schema's");
            let values: Vec<f64> = table.column(field).collect();
            reference::count_groups(&r.grouping, &values, &approved)
        })
        .collect();
    let n_approved = approved.iter().filter(|&&a| a).count() as u64;
    let score = counts_of(&reference::Distribution::Numeric(reference.score.clone()), scores);
    report::BatchCounts { inputs, score, n: table.len() as u64, approved: n_approved, by }
}

fn counts_of(distribution: &reference::Distribution, mut values: Vec<f64>) -> report::InputCounts {
    match distribution {
        reference::Distribution::Numeric(r) => {
            let (counts, missing) = reference::bin_counts(&r.edges, &values);
            values.retain(|v| !v.is_nan());
            values.par_sort_unstable_by(f64::total_cmp);
            report::InputCounts { counts, missing, sorted: Some(values) }
        }
        reference::Distribution::Categorical(r) => {
            let (counts, missing) = reference::category_counts(r.categories.len(), &values);
            report::InputCounts { counts, missing, sorted: None }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_months_or_days_at_utc_midnight() {
        let p: Period = "2027-03".parse().unwrap();
        assert_eq!(p.timestamp_ms, 1_803_859_200_000); // 2027-03-01T00:00:00Z
        assert_eq!(tracking::civil_from_days(p.timestamp_ms / 86_400_000), (2027, 3, 1));
        let d: Period = "2024-02-29".parse().unwrap();
        assert_eq!(tracking::civil_from_days(d.timestamp_ms / 86_400_000), (2024, 2, 29));
        for bad in ["2027-13", "2027-3", "2023-02-29", "March", "2027-03-01-01", ""] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }
}
