//! Evaluation metrics of a binary classifier: pure functions over labels `y` and class-1
//! probabilities `p` (no I/O), matching scikit-learn's definitions, and the [`Metrics`] record that
//! `credrisk train` writes to `metrics.json`.
//!
//! Degenerate input never panics. The single-metric functions return NaN when a value is undefined
//! (empty input, lengths that differ, a NaN probability; for AUC, PR-AUC, KS and Gini also a missing
//! class); [`confusion_matrix`] and [`evaluate`] return a [`crate::Error`] for unusable input, and
//! [`evaluate`] reports an undefined metric (one class present) as NaN, which JSON writes as `null`.

mod probability;
mod ranking;
mod threshold;

pub use probability::{CALIBRATION_BUCKETS, CalibrationBucket, brier, calibration, ece, log_loss};
pub use ranking::{PrCurve, RocCurve, gini, ks, ks_cutoff, pr_auc, pr_curve, roc_auc, roc_curve};
pub use threshold::{ConfusionMatrix, accuracy, confusion_matrix, f1, precision, recall};

use crate::error::{Error, Result};
use serde::Serialize;

/// Test-set metrics at one decision threshold; serialised with exactly these keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub brier: f64,
    pub log_loss: f64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub confusion_matrix: ConfusionMatrix,
    pub ks: f64,
    /// The score at which KS is reached.
    pub ks_cutoff: f64,
    pub gini: f64,
    pub calibration: Vec<CalibrationBucket>,
    /// Expected calibration error over the calibration buckets.
    pub ece: f64,
    /// Share of positive rows (the positive class's base rate).
    pub base_rate: f64,
    pub threshold: f64,
}

/// All metrics of `p` against `y`, the hard decision being `p >= threshold`.
///
/// Errors: empty input, lengths that differ, a probability that is NaN or outside [0, 1] (see
/// [`check_scores`]), or a threshold outside [0, 1]. With one class only, `roc_auc`, `ks` and `gini`
/// are NaN (and `pr_auc` too when there is no positive); the other metrics are defined.
pub fn evaluate(y: &[bool], p: &[f64], threshold: f64) -> Result<Metrics> {
    check_scores(y, p)?;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(Error::Usage(format!("the decision threshold must be within [0, 1], got {threshold}")));
    }
    let ranking = ranking::ranking(y, p);
    let cm = threshold::count_outcomes(y, p, threshold);
    Ok(Metrics {
        roc_auc: ranking.roc_auc,
        pr_auc: ranking.pr_auc,
        brier: brier(y, p),
        log_loss: log_loss(y, p),
        accuracy: cm.accuracy(),
        precision: cm.precision(),
        recall: cm.recall(),
        f1: cm.f1(),
        confusion_matrix: cm,
        ks: ranking.ks,
        ks_cutoff: ranking.ks_cutoff,
        gini: 2.0 * ranking.roc_auc - 1.0,
        calibration: calibration(y, p),
        ece: ece(y, p),
        base_rate: y.iter().filter(|&&v| v).count() as f64 / y.len() as f64,
        threshold,
    })
}

/// Checks that `y` and `p` can be evaluated: same non-zero length and every probability a number
/// in [0, 1]. An empty set is the user's (too small a test split: exit 2); the others mean the
/// model produced something impossible (an internal error: exit 3).
pub fn check_scores(y: &[bool], p: &[f64]) -> Result<()> {
    if y.len() != p.len() {
        return Err(Error::Internal(format!(
            "cannot evaluate {} probabilities against {} labels",
            p.len(),
            y.len()
        )));
    }
    if y.is_empty() {
        return Err(Error::Usage("no rows to evaluate: the test set is empty".into()));
    }
    if let Some((row, bad)) = p.iter().enumerate().find(|&(_, q)| !(0.0..=1.0).contains(q)) {
        return Err(Error::Internal(format!(
            "the model's probability for test row {row} is {bad}, not in [0, 1]"
        )));
    }
    Ok(())
}

/// Whether the single-metric functions can compute anything (else they return NaN).
fn usable(y: &[bool], p: &[f64]) -> bool {
    !y.is_empty() && y.len() == p.len() && !p.iter().any(|q| q.is_nan())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_are_exactly_the_documented_ones() {
        let m = evaluate(&[true, false, true, false], &[0.9, 0.3, 0.6, 0.7], 0.5).unwrap();
        let json = serde_json::to_value(&m).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = [
            "roc_auc",
            "pr_auc",
            "brier",
            "log_loss",
            "accuracy",
            "precision",
            "recall",
            "f1",
            "confusion_matrix",
            "ks",
            "ks_cutoff",
            "gini",
            "calibration",
            "ece",
            "base_rate",
            "threshold",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        // Positives 0.9, 0.6 vs negatives 0.3, 0.7: 3 of 4 pairs ordered right.
        assert_eq!(json["roc_auc"], 0.75);
        assert_eq!(json["confusion_matrix"], serde_json::json!({"tn": 1, "fp": 1, "fn": 0, "tp": 2}));
        assert_eq!(json["calibration"].as_array().unwrap().len(), 10);
    }

    #[test]
    fn one_class_gives_null_ranking_metrics_and_defined_others() {
        let m = evaluate(&[true, true, true], &[0.9, 0.4, 0.6], 0.5).unwrap();
        assert!(m.roc_auc.is_nan() && m.ks.is_nan() && m.gini.is_nan());
        assert_eq!(m.pr_auc, 1.0);
        assert_eq!(m.recall, 2.0 / 3.0);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["roc_auc"], serde_json::Value::Null);
    }

    #[test]
    fn unusable_input_is_a_clear_error() {
        let empty = evaluate(&[], &[], 0.5).unwrap_err();
        assert!(empty.to_string().contains("test set is empty"), "{empty}");
        assert_eq!(empty.exit_code(), 2);
        let nan = evaluate(&[true, false], &[0.5, f64::NAN], 0.5).unwrap_err();
        assert!(nan.to_string().contains("row 1 is NaN"), "{nan}");
        assert!(evaluate(&[true], &[1.2], 0.5).is_err());
        assert!(evaluate(&[true], &[0.2, 0.3], 0.5).unwrap_err().to_string().contains("2 probabilities"));
        assert!(evaluate(&[true], &[0.2], f64::NAN).unwrap_err().to_string().contains("threshold"));
    }
}
