//! Threshold-free ranking metrics: ROC AUC, the ROC curve, average precision (PR AUC), KS and Gini,
//! all computed from one descending sweep over the distinct scores, as scikit-learn's
//! `_binary_clf_curve` does, so ties between scores are handled exactly like sklearn.

use super::usable;
use serde::Serialize;

/// Cumulative counts at each distinct score, highest score first: predicting "positive" for every
/// row with `p >= score` gives `tp` true and `fp` false positives.
struct Sweep {
    scores: Vec<f64>,
    tp: Vec<u64>,
    fp: Vec<u64>,
}

impl Sweep {
    /// `None` when the input is unusable (empty, lengths differ, a NaN probability).
    fn new(y: &[bool], p: &[f64]) -> Option<Sweep> {
        if !usable(y, p) {
            return None;
        }
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_unstable_by(|&a, &b| p[b].total_cmp(&p[a]));
        let mut sweep = Sweep { scores: Vec::new(), tp: Vec::new(), fp: Vec::new() };
        let (mut tp, mut fp) = (0u64, 0u64);
        for (rank, &row) in order.iter().enumerate() {
            if y[row] {
                tp += 1;
            } else {
                fp += 1;
            }
            // `==` (not total_cmp) so that -0.0 and 0.0 form one group, as in numpy's diff.
            let last_of_group = order.get(rank + 1).is_none_or(|&next| p[next] != p[row]);
            if last_of_group {
                sweep.scores.push(p[row]);
                sweep.tp.push(tp);
                sweep.fp.push(fp);
            }
        }
        Some(sweep)
    }

    fn positives(&self) -> u64 {
        self.tp.last().copied().unwrap_or(0)
    }

    fn negatives(&self) -> u64 {
        self.fp.last().copied().unwrap_or(0)
    }

    fn has_both_classes(&self) -> bool {
        self.positives() > 0 && self.negatives() > 0
    }

    /// Exact area under the ROC step curve: the trapezoid rule over integer counts (a tie between a
    /// positive and a negative counts one half, the Mann-Whitney convention).
    fn roc_auc(&self) -> f64 {
        if !self.has_both_classes() {
            return f64::NAN;
        }
        let (mut twice_area, mut prev_tp, mut prev_fp) = (0u128, 0u64, 0u64);
        for (&tp, &fp) in self.tp.iter().zip(&self.fp) {
            twice_area += u128::from(fp - prev_fp) * u128::from(tp + prev_tp);
            (prev_tp, prev_fp) = (tp, fp);
        }
        twice_area as f64 / (2.0 * self.positives() as f64 * self.negatives() as f64)
    }

    /// sklearn's step-function integral: Σ (recall_k − recall_{k−1}) · precision_k.
    fn average_precision(&self) -> f64 {
        let positives = self.positives();
        if positives == 0 {
            return f64::NAN;
        }
        let mut sum = 0.0;
        let mut prev_tp = 0u64;
        for (&tp, &fp) in self.tp.iter().zip(&self.fp) {
            let precision = tp as f64 / (tp + fp) as f64;
            sum += (tp - prev_tp) as f64 * precision;
            prev_tp = tp;
        }
        sum / positives as f64
    }

    /// max |TPR − FPR| over all thresholds (the curve's start (0, 0) contributes 0), and the score
    /// at which it is reached (the first, i.e. highest, such score; NaN when there is none).
    fn ks(&self) -> (f64, f64) {
        if !self.has_both_classes() {
            return (f64::NAN, f64::NAN);
        }
        let (pos, neg) = (self.positives() as f64, self.negatives() as f64);
        let mut best = (0.0, f64::NAN);
        for ((&tp, &fp), &score) in self.tp.iter().zip(&self.fp).zip(&self.scores) {
            let gap = (tp as f64 / pos - fp as f64 / neg).abs();
            if gap > best.0 {
                best = (gap, score);
            }
        }
        best
    }

    /// Indices sklearn keeps with `drop_intermediate=True`: the ends and every corner (where the
    /// second difference of the fp or the tp counts is non-zero).
    fn corner_indices(&self) -> Vec<usize> {
        let n = self.scores.len();
        if n <= 2 {
            return (0..n).collect();
        }
        let second_diff_nonzero = |v: &[u64], i: usize| v[i + 1] + v[i - 1] != 2 * v[i];
        (0..n)
            .filter(|&i| {
                i == 0 || i == n - 1 || second_diff_nonzero(&self.fp, i) || second_diff_nonzero(&self.tp, i)
            })
            .collect()
    }
}

/// Points of the ROC curve, as `sklearn.metrics.roc_curve(y, p, drop_intermediate=True)` returns
/// them: the first point is (0, 0) at threshold +∞, then one point per kept distinct score,
/// highest first. With one class missing, the rate of the missing class is NaN (as in sklearn).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// ROC AUC, equal to sklearn's `roc_auc_score` (ties count one half). NaN when the input is empty,
/// the lengths differ, a probability is NaN, or only one class is present (sklearn raises there).
pub fn roc_auc(y: &[bool], p: &[f64]) -> f64 {
    Sweep::new(y, p).map_or(f64::NAN, |s| s.roc_auc())
}

/// The ROC curve for plotting (see [`RocCurve`]); empty vectors for unusable input (empty, lengths
/// differ, a NaN probability).
pub fn roc_curve(y: &[bool], p: &[f64]) -> RocCurve {
    let Some(sweep) = Sweep::new(y, p) else {
        return RocCurve { fpr: Vec::new(), tpr: Vec::new(), thresholds: Vec::new() };
    };
    let kept = sweep.corner_indices();
    let rate = |count: u64, total: u64| if total == 0 { f64::NAN } else { count as f64 / total as f64 };
    let (pos, neg) = (sweep.positives(), sweep.negatives());
    let mut curve =
        RocCurve { fpr: vec![rate(0, neg)], tpr: vec![rate(0, pos)], thresholds: vec![f64::INFINITY] };
    for i in kept {
        curve.fpr.push(rate(sweep.fp[i], neg));
        curve.tpr.push(rate(sweep.tp[i], pos));
        curve.thresholds.push(sweep.scores[i]);
    }
    curve
}

/// Points of the precision-recall curve, highest score first: at each distinct score `s`, the
/// precision and recall of predicting positive for `p >= s` (sklearn's `precision_recall_curve`
/// without its final (recall 0, precision 1) point, in the opposite order). Empty vectors for
/// unusable input or no positive row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrCurve {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// The precision-recall curve for plotting (see [`PrCurve`]).
pub fn pr_curve(y: &[bool], p: &[f64]) -> PrCurve {
    let mut curve = PrCurve { precision: Vec::new(), recall: Vec::new(), thresholds: Vec::new() };
    let Some(sweep) = Sweep::new(y, p) else { return curve };
    let pos = sweep.positives();
    if pos == 0 {
        return curve;
    }
    for ((&tp, &fp), &s) in sweep.tp.iter().zip(&sweep.fp).zip(&sweep.scores) {
        curve.precision.push(tp as f64 / (tp + fp) as f64);
        curve.recall.push(tp as f64 / pos as f64);
        curve.thresholds.push(s);
    }
    curve
}

/// Average precision, equal to sklearn's `average_precision_score` (no interpolation). NaN when
/// there is no positive row (sklearn warns and returns 0 there) or the input is unusable.
pub fn pr_auc(y: &[bool], p: &[f64]) -> f64 {
    Sweep::new(y, p).map_or(f64::NAN, |s| s.average_precision())
}

/// Two-sample Kolmogorov-Smirnov statistic between the scores of positives and negatives, i.e.
/// max |TPR − FPR| over thresholds. NaN with one class missing or unusable input.
pub fn ks(y: &[bool], p: &[f64]) -> f64 {
    Sweep::new(y, p).map_or(f64::NAN, |s| s.ks().0)
}

/// The score at which [`ks`] is reached: approving every row with `p >= ks_cutoff` separates the
/// classes best. NaN whenever [`ks`] is, or when no cut-off separates them at all.
pub fn ks_cutoff(y: &[bool], p: &[f64]) -> f64 {
    Sweep::new(y, p).map_or(f64::NAN, |s| s.ks().1)
}

/// Gini coefficient = 2·AUC − 1 (NaN whenever [`roc_auc`] is).
pub fn gini(y: &[bool], p: &[f64]) -> f64 {
    2.0 * roc_auc(y, p) - 1.0
}

/// The ranking metrics of one sweep, for [`super::evaluate`] (which sorts once).
pub(super) struct Ranking {
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub ks: f64,
    pub ks_cutoff: f64,
}

pub(super) fn ranking(y: &[bool], p: &[f64]) -> Ranking {
    match Sweep::new(y, p) {
        Some(s) => {
            let (ks, ks_cutoff) = s.ks();
            Ranking { roc_auc: s.roc_auc(), pr_auc: s.average_precision(), ks, ks_cutoff }
        }
        None => Ranking { roc_auc: f64::NAN, pr_auc: f64::NAN, ks: f64::NAN, ks_cutoff: f64::NAN },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AUC from its definition: P(score of a random positive > score of a random negative), ties ½.
    fn brute_force_auc(y: &[bool], p: &[f64]) -> f64 {
        let positives: Vec<f64> = p.iter().zip(y).filter(|&(_, &yi)| yi).map(|(&pi, _)| pi).collect();
        let negatives: Vec<f64> = p.iter().zip(y).filter(|&(_, &yi)| !yi).map(|(&pi, _)| pi).collect();
        let mut wins = 0.0;
        for &pos in &positives {
            for &neg in &negatives {
                wins += if pos > neg {
                    1.0
                } else if pos == neg {
                    0.5
                } else {
                    0.0
                };
            }
        }
        wins / (positives.len() * negatives.len()) as f64
    }

    #[test]
    fn auc_of_a_hand_computed_case_with_ties() {
        // Positives 0.9, 0.5, 0.5; negatives 0.5, 0.1. Pairs: 0.9 beats both (2), each 0.5 ties
        // 0.5 (½) and beats 0.1 (1): total 2 + 1.5 + 1.5 = 5 of 6.
        let y = [true, true, true, false, false];
        let p = [0.9, 0.5, 0.5, 0.5, 0.1];
        assert!((roc_auc(&y, &p) - 5.0 / 6.0).abs() < 1e-15);
        assert!((gini(&y, &p) - (2.0 * 5.0 / 6.0 - 1.0)).abs() < 1e-15);
    }

    #[test]
    fn auc_equals_the_pairwise_definition_on_many_ties() {
        let y: Vec<bool> = (0..200).map(|i| (i * 7919) % 3 == 0).collect();
        let p: Vec<f64> = (0..200).map(|i| ((i * 104_729) % 11) as f64 / 10.0).collect();
        assert!((roc_auc(&y, &p) - brute_force_auc(&y, &p)).abs() < 1e-12);
    }

    #[test]
    fn perfect_and_reversed_rankings() {
        let y = [false, false, true, true];
        assert_eq!(roc_auc(&y, &[0.1, 0.2, 0.8, 0.9]), 1.0);
        assert_eq!(roc_auc(&y, &[0.9, 0.8, 0.2, 0.1]), 0.0);
        assert_eq!(ks(&y, &[0.1, 0.2, 0.8, 0.9]), 1.0);
        // KS is an absolute difference: a perfectly reversed ranking separates perfectly too.
        assert_eq!(ks(&y, &[0.9, 0.8, 0.2, 0.1]), 1.0);
        assert_eq!(pr_auc(&y, &[0.1, 0.2, 0.8, 0.9]), 1.0);
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked: 0.9 (+), 0.8 (−), 0.7 (+), 0.1 (−). Recall steps ½ at precision 1 and ½ at ⅔.
        let y = [true, false, true, false];
        let p = [0.9, 0.8, 0.7, 0.1];
        assert!((pr_auc(&y, &p) - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-15);
        // A tie between a positive and a negative at the top is one step at precision ½.
        assert!((pr_auc(&[true, false], &[0.5, 0.5]) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn pr_curve_by_hand() {
        // Ranked: 0.9 (+), 0.8 (−), 0.7 (+), 0.1 (−).
        let c = pr_curve(&[true, false, true, false], &[0.9, 0.8, 0.7, 0.1]);
        assert_eq!(c.thresholds, vec![0.9, 0.8, 0.7, 0.1]);
        assert_eq!(c.recall, vec![0.5, 0.5, 1.0, 1.0]);
        assert_eq!(c.precision, vec![1.0, 0.5, 2.0 / 3.0, 0.5]);
        assert!(pr_curve(&[false], &[0.3]).precision.is_empty());
    }

    #[test]
    fn ks_by_hand() {
        // Positives 0.9, 0.4; negatives 0.6, 0.2. At threshold 0.9: TPR ½, FPR 0 → ½.
        let y = [true, true, false, false];
        let p = [0.9, 0.4, 0.6, 0.2];
        assert!((ks(&y, &p) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn roc_curve_drops_collinear_points_like_sklearn() {
        // sklearn.metrics.roc_curve([0,0,1,1], [0.1,0.4,0.35,0.8]) gives
        // fpr [0, 0, .5, .5, 1], tpr [0, .5, .5, 1, 1], thresholds [inf, .8, .4, .35, .1].
        let curve = roc_curve(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]);
        assert_eq!(curve.fpr, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(curve.tpr, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(curve.thresholds, vec![f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
        // Four positives in a row above four negatives: the middle points are collinear.
        let y = [true, true, true, true, false, false, false, false];
        let p = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1];
        let curve = roc_curve(&y, &p);
        assert_eq!(curve.fpr, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(curve.tpr, vec![0.0, 0.25, 1.0, 1.0]);
    }

    #[test]
    fn single_class_and_unusable_input_give_nan_not_a_panic() {
        assert!(roc_auc(&[true, true], &[0.2, 0.3]).is_nan());
        assert!(ks(&[false, false], &[0.2, 0.3]).is_nan());
        assert!(gini(&[false], &[0.2]).is_nan());
        assert!(pr_auc(&[false, false], &[0.2, 0.3]).is_nan());
        assert_eq!(pr_auc(&[true, true], &[0.2, 0.3]), 1.0);
        assert!(roc_auc(&[], &[]).is_nan());
        assert!(roc_auc(&[true, false], &[0.2]).is_nan());
        assert!(roc_auc(&[true, false], &[f64::NAN, 0.2]).is_nan());
        assert!(roc_curve(&[], &[]).fpr.is_empty());
        let one_class = roc_curve(&[true, true], &[0.2, 0.3]);
        assert!(one_class.fpr.iter().all(|f| f.is_nan()));
        assert_eq!(one_class.tpr, vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn negative_zero_and_zero_are_one_score() {
        assert_eq!(roc_auc(&[true, false], &[0.0, -0.0]), 0.5);
    }
}
