//! Fairness of a model's decisions on a batch: groups from the schema's protected and proxy
//! fields (or `--by`, intersections `a*b`, numeric fields banded), per group selection rate and,
//! with labels, TPR, FPR, precision, ROC-AUC and calibration; Fairlearn's disparities between
//! groups and to overall with seeded bootstrap intervals; alerts past the thresholds.
//!
//! [`evaluate`] is the one library call (`credrisk fairness`, `train` on its test split and
//! `monitor` use it); [`FairnessReport`] serialises as the documented JSON and
//! [`FairnessReport::mlflow_metrics`] names its values for MLflow.

mod bootstrap;
mod groups;
mod metrics;
mod plot;
mod report;
mod rows;
mod table;

pub use groups::{Banding, GroupBy, Grouping, band_label, band_of, banding, default_by, parse_bands};
pub use metrics::{Disparities, Rates, Tally};
pub use plot::selection_rates_png;
pub use report::{
    Alert, ByReport, Disparity, FairnessReport, Flag, GroupReport, Rate, Stat, Thresholds, metric_part,
};
pub use rows::write_rows_csv;
pub use table::{alert_line, by_title, render};

use crate::data::ApplicantTable;
use crate::error::{Error, Result};
use bootstrap::{Judged, Layout, Rows};
use std::collections::BTreeMap;

/// The interval level: 95%.
pub const CONFIDENCE: f64 = 0.95;

/// How to judge a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct FairnessConfig {
    /// Groupings (`gender`, `gender*region`); empty: the schema's protected and proxy fields.
    pub by: Vec<String>,
    /// Band edges per numeric field (`age` → 18, 26, …).
    pub bands: BTreeMap<String, Vec<f64>>,
    /// Groups with fewer rows are listed and flagged, never judged.
    pub min_group: u64,
    /// Bootstrap replicates (0: no intervals).
    pub n_boot: usize,
    pub seed: u64,
    pub thresholds: Thresholds,
}

impl Default for FairnessConfig {
    fn default() -> FairnessConfig {
        FairnessConfig {
            by: Vec::new(),
            bands: BTreeMap::new(),
            min_group: 50,
            n_boot: 200,
            seed: 42,
            thresholds: Thresholds::default(),
        }
    }
}

/// Judges the decisions `probabilities >= threshold` on `table` (labels from the table when it
/// has them). Errors: an empty batch, probabilities that do not match the rows, a `--by` or
/// `--bands` naming no field, no grouping at all (a schema without protected or proxy fields and
/// no `--by`).
pub fn evaluate(
    table: &ApplicantTable,
    probabilities: &[f64],
    threshold: f64,
    config: &FairnessConfig,
) -> Result<FairnessReport> {
    let schema = table.schema();
    if table.is_empty() {
        return Err(Error::Usage("the batch has no rows: nothing to judge".into()));
    }
    if probabilities.len() != table.len() {
        return Err(Error::Internal(format!(
            "{} probabilities for {} rows",
            probabilities.len(),
            table.len()
        )));
    }
    let (bys, groupings): (Vec<GroupBy>, Vec<Grouping>) = groupings(table, config)?.into_iter().unzip();

    let labelled = table.approved.is_some();
    let selected: Vec<bool> = probabilities.iter().map(|&p| p >= threshold).collect();
    let positive = table.approved.clone().unwrap_or_else(|| vec![false; table.len()]);
    let rows = Rows { selected: &selected, positive: &positive, probability: probabilities, labelled };

    let tallies: Vec<Vec<Tally>> = groupings.iter().map(|g| tally(&rows, g)).collect();
    let judged: Vec<Judged> = groupings
        .iter()
        .zip(&tallies)
        .map(|(grouping, t)| Judged {
            grouping,
            judged: t.iter().map(|t| flag(t, labelled, config.min_group).is_none()).collect(),
        })
        .collect();
    let layout = Layout::new(&judged);
    let point = bootstrap::point(&rows, &judged, &layout);
    let ci = (config.n_boot > 0)
        .then(|| bootstrap::intervals(&rows, &judged, &layout, config.n_boot, config.seed, CONFIDENCE));
    let stats = |range: std::ops::Range<usize>| -> Vec<Stat> {
        range.map(|s| Stat { value: point[s], ci: ci.as_ref().map(|c| c[s]) }).collect()
    };
    let auc_of = |members: &dyn Fn(usize) -> bool| -> f64 {
        let Some(y) = &table.approved else { return f64::NAN };
        let (ys, ps): (Vec<bool>, Vec<f64>) =
            (0..table.len()).filter(|&i| members(i)).map(|i| (y[i], probabilities[i])).unzip();
        crate::metrics::roc_auc(&ys, &ps)
    };

    let mut overall_tally = Tally::default();
    for i in 0..table.len() {
        overall_tally.add(selected[i], positive[i], probabilities[i], 1);
    }
    let overall = GroupReport {
        label: "overall".into(),
        n: overall_tally.n,
        positives: labelled.then_some(overall_tally.positives),
        flag: None,
        rates: to_array(stats(layout.overall())),
        roc_auc: auc_of(&|_| true),
    };
    let mut by_reports = Vec::with_capacity(bys.len());
    for (b, ((by, grouping), t)) in bys.iter().zip(&groupings).zip(&tallies).enumerate() {
        let groups = grouping
            .labels
            .iter()
            .enumerate()
            .map(|(g, label)| GroupReport {
                label: label.clone(),
                n: t[g].n,
                positives: labelled.then_some(t[g].positives),
                flag: flag(&t[g], labelled, config.min_group),
                rates: to_array(stats(layout.group(b, g))),
                roc_auc: auc_of(&|i| grouping.index[i] as usize == g),
            })
            .collect();
        by_reports.push(ByReport {
            name: by.name.clone(),
            fields: by.fields.iter().map(|(i, _)| schema.field(*i).name.clone()).collect(),
            groups,
            disparities: to_array(stats(layout.disparities(b, grouping.labels.len()))),
        });
    }
    let alerts = by_reports.iter().flat_map(|b| alerts(b, &config.thresholds, labelled)).collect();
    let mut notes = Vec::new();
    if !labelled {
        notes.push(format!(
            "the batch has no `{}` column: observed rate, TPR, FPR, precision, ROC-AUC and the \
             equal-opportunity and equalized-odds differences are skipped",
            schema.label().name
        ));
    }
    Ok(FairnessReport {
        n: table.len() as u64,
        labelled,
        label: schema.label().name.clone(),
        threshold,
        n_boot: config.n_boot,
        seed: config.seed,
        confidence: CONFIDENCE,
        min_group: config.min_group,
        thresholds: config.thresholds,
        overall,
        by: by_reports,
        alerts,
        notes,
    })
}

/// The MLflow metrics `credrisk train` logs for its test split: the default groupings (the
/// schema's protected and proxy fields), no bootstrap (a run's metrics are point values). Empty
/// when the schema names no such field or the split cannot be judged.
pub fn train_metrics(test: &ApplicantTable, probabilities: &[f64], threshold: f64) -> Vec<(String, f64)> {
    let config = FairnessConfig { n_boot: 0, ..FairnessConfig::default() };
    evaluate(test, probabilities, threshold, &config).map(|r| r.mlflow_metrics()).unwrap_or_default()
}

/// The groupings `config` asks for (the schema's protected and proxy fields by default), each
/// with every row's group. Errors: a `--by` or `--bands` naming no field, or no grouping at all.
pub fn groupings(table: &ApplicantTable, config: &FairnessConfig) -> Result<Vec<(GroupBy, Grouping)>> {
    let schema = table.schema();
    for name in config.bands.keys() {
        if schema.field_index(name).is_none() {
            return Err(Error::Usage(format!("--bands {name}: no such field in schema {:?}", schema.name())));
        }
    }
    let specs = if config.by.is_empty() { default_by(schema) } else { config.by.clone() };
    if specs.is_empty() {
        return Err(Error::Usage(format!(
            "schema {:?} marks no field protected, proxy or reported: name the groups with --by FIELD",
            schema.name()
        )));
    }
    let mut out: Vec<(GroupBy, Grouping)> = Vec::with_capacity(specs.len());
    for spec in &specs {
        let by = GroupBy::parse(schema, spec, &config.bands, table)?;
        if out.iter().any(|(b, _)| b.name == by.name) {
            return Err(Error::Usage(format!("--by {}: asked for twice", by.name)));
        }
        let grouping = by.assign(table);
        out.push((by, grouping));
    }
    Ok(out)
}

fn to_array<const N: usize>(v: Vec<Stat>) -> [Stat; N] {
    v.try_into().expect("the layout gives every range its length")
}

fn tally(rows: &Rows, grouping: &Grouping) -> Vec<Tally> {
    let mut out = vec![Tally::default(); grouping.labels.len()];
    for (i, &g) in grouping.index.iter().enumerate() {
        out[g as usize].add(rows.selected[i], rows.positive[i], rows.probability[i], 1);
    }
    out
}

/// Why a group is not judged (None: it is).
fn flag(t: &Tally, labelled: bool, min_group: u64) -> Option<Flag> {
    if t.n < min_group {
        Some(Flag::TooSmall)
    } else if labelled && t.positives == 0 {
        Some(Flag::NoPositives)
    } else if labelled && t.negatives() == 0 {
        Some(Flag::NoNegatives)
    } else {
        None
    }
}

/// The between-groups disparities of `by` past their thresholds (label ones only with labels).
fn alerts(by: &ByReport, thresholds: &Thresholds, labelled: bool) -> Vec<Alert> {
    let judged: Vec<&GroupReport> = by.groups.iter().filter(|g| g.judged()).collect();
    let mut out = Vec::new();
    for d in Disparity::JUDGED {
        if d.needs_label() && !labelled {
            continue;
        }
        let stat = by.disparity(d);
        let (past, threshold) = if d.is_ratio() {
            (stat.value < thresholds.min_ratio, thresholds.min_ratio)
        } else {
            (stat.value > thresholds.max_difference, thresholds.max_difference)
        };
        if !past {
            continue;
        }
        let rate = match d {
            Disparity::DpDifference | Disparity::DpRatio => Rate::SelectionRate,
            Disparity::EoppDifference => Rate::Tpr,
            _ => {
                let gap = |r: Rate| {
                    metrics::difference(&judged.iter().map(|g| g.rate(r).value).collect::<Vec<_>>())
                };
                if gap(Rate::Fpr) > gap(Rate::Tpr) { Rate::Fpr } else { Rate::Tpr }
            }
        };
        let ends = judged
            .iter()
            .filter(|g| !g.rate(rate).value.is_nan())
            .map(|g| (g.label.clone(), g.rate(rate).value));
        let highest = ends.clone().max_by(|a, b| a.1.total_cmp(&b.1));
        let lowest = ends.min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(highest), Some(lowest)) = (highest, lowest) {
            out.push(Alert {
                by: by.name.clone(),
                metric: d,
                value: stat.value,
                ci: stat.ci,
                threshold,
                rate,
                highest,
                lowest,
            });
        }
    }
    out
}
