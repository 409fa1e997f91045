//! Metrics of the hard decision at a threshold (predicted positive iff `p >= threshold`): the
//! confusion matrix and accuracy, precision, recall and F1 derived from it, with scikit-learn's
//! `zero_division=0` convention for empty denominators.

use super::check_scores;
use crate::error::Result;
use serde::Serialize;

/// Counts of the four outcomes; serialises as `{"tn": .., "fp": .., "fn": .., "tp": ..}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ConfusionMatrix {
    pub tn: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tp: u64,
}

impl ConfusionMatrix {
    pub fn total(&self) -> u64 {
        self.tn + self.fp + self.fn_ + self.tp
    }

    /// (tp + tn) / n; NaN for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        ratio_or_nan(self.tp + self.tn, self.total())
    }

    /// tp / (tp + fp); 0 when nothing is predicted positive (sklearn's `zero_division=0`).
    pub fn precision(&self) -> f64 {
        ratio_or_zero(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); 0 when there is no positive row (sklearn's `zero_division=0`).
    pub fn recall(&self) -> f64 {
        ratio_or_zero(self.tp, self.tp + self.fn_)
    }

    /// 2·tp / (2·tp + fp + fn), the harmonic mean of precision and recall; 0 when the denominator
    /// is 0 (sklearn's `zero_division=0`).
    pub fn f1(&self) -> f64 {
        ratio_or_zero(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio_or_zero(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

fn ratio_or_nan(num: u64, den: u64) -> f64 {
    if den == 0 { f64::NAN } else { num as f64 / den as f64 }
}

/// The confusion matrix at `threshold`. Errors (instead of guessing) when the input is empty, the
/// lengths differ, or a probability is not a number in [0, 1]; see [`super::check_scores`].
pub fn confusion_matrix(y: &[bool], p: &[f64], threshold: f64) -> Result<ConfusionMatrix> {
    check_scores(y, p)?;
    Ok(count_outcomes(y, p, threshold))
}

pub(super) fn count_outcomes(y: &[bool], p: &[f64], threshold: f64) -> ConfusionMatrix {
    let mut cm = ConfusionMatrix::default();
    for (&actual, &prob) in y.iter().zip(p) {
        match (actual, prob >= threshold) {
            (false, false) => cm.tn += 1,
            (false, true) => cm.fp += 1,
            (true, false) => cm.fn_ += 1,
            (true, true) => cm.tp += 1,
        }
    }
    cm
}

/// Accuracy at `threshold`; NaN for unusable input (see [`confusion_matrix`]).
pub fn accuracy(y: &[bool], p: &[f64], threshold: f64) -> f64 {
    confusion_matrix(y, p, threshold).map_or(f64::NAN, |cm| cm.accuracy())
}

/// Precision at `threshold`; NaN for unusable input, 0 when nothing is predicted positive.
pub fn precision(y: &[bool], p: &[f64], threshold: f64) -> f64 {
    confusion_matrix(y, p, threshold).map_or(f64::NAN, |cm| cm.precision())
}

/// Recall at `threshold`; NaN for unusable input, 0 when there is no positive row.
pub fn recall(y: &[bool], p: &[f64], threshold: f64) -> f64 {
    confusion_matrix(y, p, threshold).map_or(f64::NAN, |cm| cm.recall())
}

/// F1 at `threshold`; NaN for unusable input, 0 when there is neither a positive row nor a
/// positive prediction.
pub fn f1(y: &[bool], p: &[f64], threshold: f64) -> f64 {
    confusion_matrix(y, p, threshold).map_or(f64::NAN, |cm| cm.f1())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rates_by_hand() {
        let y = [true, true, true, false, false, false, false];
        let p = [0.9, 0.5, 0.2, 0.7, 0.5, 0.1, 0.0];
        // 0.5 is predicted positive (>=): tp 2 (0.9, 0.5), fn 1 (0.2), fp 2 (0.7, 0.5), tn 2.
        let cm = confusion_matrix(&y, &p, 0.5).unwrap();
        assert_eq!(cm, ConfusionMatrix { tn: 2, fp: 2, fn_: 1, tp: 2 });
        assert_eq!(accuracy(&y, &p, 0.5), 4.0 / 7.0);
        assert_eq!(precision(&y, &p, 0.5), 0.5);
        assert_eq!(recall(&y, &p, 0.5), 2.0 / 3.0);
        // Harmonic mean of ½ and ⅔ = 4/7.
        assert!((f1(&y, &p, 0.5) - 4.0 / 7.0).abs() < 1e-15);
    }

    #[test]
    fn serialises_with_self_describing_keys() {
        let cm = ConfusionMatrix { tn: 1, fp: 2, fn_: 3, tp: 4 };
        assert_eq!(serde_json::to_string(&cm).unwrap(), r#"{"tn":1,"fp":2,"fn":3,"tp":4}"#);
    }

    #[test]
    fn empty_denominators_follow_sklearn_zero_division() {
        let y = [false, false];
        let p = [0.1, 0.2];
        assert_eq!(precision(&y, &p, 0.5), 0.0);
        assert_eq!(recall(&y, &p, 0.5), 0.0);
        assert_eq!(f1(&y, &p, 0.5), 0.0);
        assert_eq!(accuracy(&y, &p, 0.5), 1.0);
    }

    #[test]
    fn unusable_input_is_an_error_or_nan() {
        assert!(confusion_matrix(&[], &[], 0.5).is_err());
        assert!(confusion_matrix(&[true], &[0.5, 0.2], 0.5).is_err());
        assert!(confusion_matrix(&[true], &[f64::NAN], 0.5).is_err());
        assert!(accuracy(&[true], &[1.5], 0.5).is_nan());
    }
}
