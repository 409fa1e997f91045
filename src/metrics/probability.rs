//! Metrics of the probabilities themselves: the Brier score, log loss (clipped like scikit-learn
//! 1.9), the calibration table behind the reliability diagram and its expected calibration error.

use super::usable;
use serde::Serialize;

/// Number of equal-width calibration buckets on [0, 1].
pub const CALIBRATION_BUCKETS: usize = 10;

/// Mean squared difference between probability and outcome; NaN for unusable input (empty,
/// lengths differ, a NaN probability).
pub fn brier(y: &[bool], p: &[f64]) -> f64 {
    if !usable(y, p) {
        return f64::NAN;
    }
    let sum: f64 = y.iter().zip(p).map(|(&yi, &pi)| (pi - label(yi)).powi(2)).sum();
    sum / p.len() as f64
}

/// Mean negative log-likelihood, as sklearn 1.9's `log_loss`: both class probabilities `1 − p`
/// and `p` are clipped to [ε, 1 − ε] with ε = `f64::EPSILON` (numpy's `finfo(float64).eps`), so a
/// confident mistake costs about 36, not infinity. Defined with one class present (sklearn
/// insists on both labels, we do not); NaN for unusable input.
pub fn log_loss(y: &[bool], p: &[f64]) -> f64 {
    if !usable(y, p) {
        return f64::NAN;
    }
    let clip = |q: f64| q.clamp(f64::EPSILON, 1.0 - f64::EPSILON);
    let sum: f64 = y.iter().zip(p).map(|(&yi, &pi)| -(if yi { clip(pi) } else { clip(1.0 - pi) }).ln()).sum();
    sum / p.len() as f64
}

fn label(y: bool) -> f64 {
    if y { 1.0 } else { 0.0 }
}

/// One bucket of the reliability diagram. Every one of the 10 buckets is present; an empty one has
/// `count` 0 and `mean_predicted`/`observed_rate` `None` (JSON `null`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBucket {
    /// Bucket edges: a row belongs to the bucket when `lower < p <= upper` (the first bucket also
    /// takes `p == 0`), the binning of sklearn's `calibration_curve(strategy="uniform")`, whose
    /// edges are numpy's `i · 0.1`; shown rounded (0.3).
    pub lower: f64,
    pub upper: f64,
    /// Mean probability of the bucket's rows.
    pub mean_predicted: Option<f64>,
    /// Fraction of the bucket's rows that are positive.
    pub observed_rate: Option<f64>,
    pub count: u64,
}

/// The edges numpy's `linspace(0, 1, 11)` produces (`i · 0.1`, e.g. 0.30000000000000004), so a
/// probability exactly on an edge falls in the same bucket as in sklearn.
fn bucket_edge(i: usize) -> f64 {
    if i == CALIBRATION_BUCKETS { 1.0 } else { i as f64 * (1.0 / CALIBRATION_BUCKETS as f64) }
}

/// An edge as a person writes it (0.3, not numpy's 0.30000000000000004); binning uses
/// [`bucket_edge`].
fn shown_edge(i: usize) -> f64 {
    i as f64 / CALIBRATION_BUCKETS as f64
}

/// numpy's `searchsorted(inner_edges, p, side="left")`: how many inner edges lie strictly below `p`.
fn bucket_of(p: f64) -> usize {
    (1..CALIBRATION_BUCKETS).take_while(|&i| bucket_edge(i) < p).count()
}

/// The 10-bucket calibration table (see [`CalibrationBucket`]). Unusable input (empty, lengths
/// differ, a NaN probability) gives 10 empty buckets.
pub fn calibration(y: &[bool], p: &[f64]) -> Vec<CalibrationBucket> {
    let mut sum_p = [0.0f64; CALIBRATION_BUCKETS];
    let mut positives = [0u64; CALIBRATION_BUCKETS];
    let mut counts = [0u64; CALIBRATION_BUCKETS];
    if usable(y, p) {
        for (&yi, &pi) in y.iter().zip(p) {
            let b = bucket_of(pi);
            sum_p[b] += pi;
            positives[b] += u64::from(yi);
            counts[b] += 1;
        }
    }
    (0..CALIBRATION_BUCKETS)
        .map(|b| {
            let n = counts[b];
            let mean = |total: f64| (n > 0).then(|| total / n as f64);
            CalibrationBucket {
                lower: shown_edge(b),
                upper: shown_edge(b + 1),
                mean_predicted: mean(sum_p[b]),
                observed_rate: mean(positives[b] as f64),
                count: n,
            }
        })
        .collect()
}

/// Expected calibration error over the 10 uniform buckets of [`calibration`]: Σ (n_b / n) ·
/// |observed rate_b − mean probability_b|, the usual definition (Naeini et al. 2015; the one
/// torchmetrics' `binary_calibration_error(norm="l1", n_bins=10)` computes). NaN for unusable input.
pub fn ece(y: &[bool], p: &[f64]) -> f64 {
    if !usable(y, p) {
        return f64::NAN;
    }
    let n = p.len() as f64;
    calibration(y, p)
        .iter()
        .filter_map(|b| Some(b.count as f64 / n * (b.observed_rate? - b.mean_predicted?).abs()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brier_by_hand() {
        // (0.9−1)² + (0.2−0)² + (0.6−0)² = 0.01 + 0.04 + 0.36 = 0.41, over 3.
        assert!((brier(&[true, false, false], &[0.9, 0.2, 0.6]) - 0.41 / 3.0).abs() < 1e-15);
        assert!(brier(&[], &[]).is_nan());
    }

    #[test]
    fn log_loss_by_hand_and_clipped_at_the_extremes() {
        let expected = -(0.8f64.ln() + 0.7f64.ln()) / 2.0;
        assert!((log_loss(&[true, false], &[0.8, 0.3]) - expected).abs() < 1e-15);
        // A certain and wrong prediction costs −ln(ε) = 52·ln 2, not infinity.
        let worst = 52.0 * std::f64::consts::LN_2;
        assert!((log_loss(&[true], &[0.0]) - worst).abs() < 1e-12);
        assert!((log_loss(&[false], &[1.0]) - worst).abs() < 1e-9);
        // A certain and right prediction costs −ln(1 − ε) ≈ ε, not exactly 0.
        assert!(log_loss(&[true], &[1.0]) > 0.0 && log_loss(&[true], &[1.0]) < 1e-15);
        assert!(log_loss(&[true], &[f64::NAN]).is_nan());
    }

    #[test]
    fn ece_by_hand() {
        // Buckets: [0.05] observed 0 → 0.05; [0.15, 0.18] observed 1 → 0.835; [0.95, 1.0] observed
        // 0.5 → 0.475. Weighted: (1·0.05 + 2·0.835 + 2·0.475) / 5.
        let (y, p) = ([false, true, true, false, true], [0.05, 0.15, 0.18, 0.95, 1.0]);
        assert!((ece(&y, &p) - (0.05 + 2.0 * 0.835 + 2.0 * 0.475) / 5.0).abs() < 1e-15);
        assert_eq!(ece(&[true, false], &[1.0, 0.0]), 0.0);
        assert!(ece(&[], &[]).is_nan());
        assert_eq!(calibration(&y, &p)[3].lower, 0.3);
    }

    #[test]
    fn calibration_buckets_by_hand() {
        let y = [false, true, true, false, true];
        let p = [0.05, 0.15, 0.18, 0.95, 1.0];
        let table = calibration(&y, &p);
        assert_eq!(table.len(), 10);
        assert_eq!(
            (table[0].count, table[0].mean_predicted, table[0].observed_rate),
            (1, Some(0.05), Some(0.0))
        );
        assert_eq!(table[1].count, 2);
        assert!((table[1].mean_predicted.unwrap() - 0.165).abs() < 1e-15);
        assert_eq!(table[1].observed_rate, Some(1.0));
        assert_eq!((table[9].count, table[9].observed_rate), (2, Some(0.5)));
        assert_eq!((table[5].count, table[5].mean_predicted), (0, None));
        assert_eq!((table[3].lower, table[9].upper), (0.3, 1.0));
    }

    #[test]
    fn edges_belong_to_the_lower_bucket_like_sklearn() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(0.1), 0);
        assert_eq!(bucket_of(f64::from_bits(0.1f64.to_bits() + 1)), 1);
        assert_eq!(bucket_of(0.3), 2); // 0.3 < 0.30000000000000004, the upper edge of bucket 2
        assert_eq!(bucket_of(0.5), 4);
        assert_eq!(bucket_of(0.5000001), 5);
        assert_eq!(bucket_of(1.0), 9);
    }

    #[test]
    fn empty_buckets_serialise_as_null() {
        let json = serde_json::to_value(&calibration(&[true], &[0.95])[0]).unwrap();
        assert_eq!(json["mean_predicted"], serde_json::Value::Null);
        assert_eq!(json["count"], 0);
    }
}
