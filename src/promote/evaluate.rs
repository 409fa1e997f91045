//! One model on the evaluation batch, measured the way the gate judges it: ROC-AUC, KS, Brier
//! and expected calibration error of its probabilities, its decisions' fairness by the policy's
//! groupings (`credrisk fairness`'s numbers), and its global SHAP ranking; plus the score PSI
//! between two models' probabilities on the same rows.

use super::policy::Resolved;
use crate::data::{self, ApplicantTable};
use crate::error::{Error, Result};
use crate::explain::{Explainer, FieldImpact, ModelRef, global_shap};
use crate::fairness::{self, FairnessConfig, FairnessReport, Thresholds};
use crate::metrics;
use crate::model::Model;
use crate::monitor::{self, reference::Numeric};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// What the gate knows about one model on the batch.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub roc_auc: f64,
    pub ks: f64,
    pub brier: f64,
    pub ece: f64,
    /// Share of the batch the model approves at its own threshold.
    pub approval_rate: f64,
    pub threshold: f64,
    /// Mean |φ| per reported field, largest first, on `shap_rows` rows of the batch.
    pub ranking: Vec<FieldImpact>,
    pub shap_rows: usize,
    /// `credrisk fairness`'s report on the policy's groupings (no bootstrap).
    pub fairness: FairnessReport,
    /// P(approved) of every row of the batch, in file order.
    #[serde(skip)]
    pub probabilities: Vec<f64>,
}

impl Evaluation {
    /// The 1-based rank of `field` by mean |φ| (None: not a model input).
    pub fn rank_of(&self, field: &str) -> Option<usize> {
        self.ranking.iter().position(|f| f.field == field).map(|p| p + 1)
    }
}

/// Reads the batch with the model's schema; it must have the label column and rows.
pub fn read_batch(path: &Path, model: &Model) -> Result<ApplicantTable> {
    let table = data::read_table(path, model.schema())?;
    if table.approved.is_none() {
        return Err(Error::bad_file(
            path,
            format!(
                "has no `{}` column: the gate compares models on known outcomes",
                model.schema().label().name
            ),
        ));
    }
    if table.is_empty() {
        return Err(Error::bad_file(path, "has no rows to evaluate"));
    }
    Ok(table)
}

/// Measures `model` on `table` (read with its schema by [`read_batch`]).
pub fn evaluate(
    model: &Arc<Model>,
    model_ref: ModelRef,
    table: &ApplicantTable,
    policy: &Resolved,
) -> Result<Evaluation> {
    let y = table.approved.as_deref().expect("read_batch checks labels");
    let p = monitor::score_table(model, table);
    let m = metrics::evaluate(y, &p, model.threshold)?;
    let cm = &m.confusion_matrix;
    let by: Vec<String> = policy.gated.iter().chain(&policy.reported).cloned().collect();
    let config = FairnessConfig {
        by,
        min_group: policy.min_group,
        n_boot: 0,
        thresholds: Thresholds {
            max_difference: policy.max_eodds_difference.unwrap_or(Thresholds::default().max_difference),
            min_ratio: policy.min_dp_ratio.unwrap_or(Thresholds::default().min_ratio),
        },
        ..FairnessConfig::default()
    };
    let fairness = fairness::evaluate(table, &p, model.threshold, &config)?;
    let explainer = Explainer::new(Arc::clone(model), model_ref, None)?;
    let shap = global_shap(&explainer, table, policy.shap_rows, policy.seed)?;
    Ok(Evaluation {
        roc_auc: m.roc_auc,
        ks: m.ks,
        brier: m.brier,
        ece: m.ece,
        approval_rate: (cm.tp + cm.fp) as f64 / cm.total() as f64,
        threshold: model.threshold,
        ranking: shap.ranking,
        shap_rows: shap.rows.len(),
        fairness,
        probabilities: p,
    })
}

/// PSI of the candidate's scores against the champion's, over the deciles of the champion's
/// (the binning `credrisk monitor` uses for the score).
pub fn score_psi(champion: &[f64], candidate: &[f64]) -> f64 {
    let reference = Numeric::build(champion, &[]);
    let (counts, _) = monitor::reference::bin_counts(&reference.edges, candidate);
    monitor::stats::psi(&reference.counts, &counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_is_zero_for_the_same_scores_and_grows_with_a_shift() {
        let a: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        assert!(score_psi(&a, &a).abs() < 1e-12);
        let shifted: Vec<f64> = a.iter().map(|x| (x + 0.1).min(1.0)).collect();
        let far: Vec<f64> = a.iter().map(|x| (x + 0.3).min(1.0)).collect();
        let (near, far) = (score_psi(&a, &shifted), score_psi(&a, &far));
        assert!(near > 0.05 && far > near, "{near} {far}");
    }
}
