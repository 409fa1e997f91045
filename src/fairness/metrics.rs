//! Group metrics from counts (selection rate, TPR, FPR, precision, …) and Fairlearn's disparity
//! definitions over them: differences and ratios between groups and to the overall value.

/// The counts a group's rate metrics come from: rows by (decision, label), and the sum of the
/// predicted probabilities. With weights (bootstrap multiplicities) every count is weighted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub n: u64,
    /// Rows the model approves (decision = positive class).
    pub selected: u64,
    /// Rows whose label is the positive class (0 without labels).
    pub positives: u64,
    /// Approved and positive.
    pub tp: u64,
    /// Approved and negative.
    pub fp: u64,
    pub sum_probability: f64,
}

impl Tally {
    #[inline]
    pub fn add(&mut self, selected: bool, positive: bool, probability: f64, weight: u64) {
        self.n += weight;
        self.selected += weight * u64::from(selected);
        self.positives += weight * u64::from(positive);
        self.tp += weight * u64::from(selected && positive);
        self.fp += weight * u64::from(selected && !positive);
        self.sum_probability += weight as f64 * probability;
    }

    pub fn negatives(&self) -> u64 {
        self.n - self.positives
    }

    /// The rate metrics (NaN where a denominator is 0); label metrics only when `labelled`.
    pub fn rates(&self, labelled: bool) -> Rates {
        let ratio = |a: u64, b: u64| if b == 0 { f64::NAN } else { a as f64 / b as f64 };
        let label = |v: f64| if labelled { v } else { f64::NAN };
        Rates {
            selection_rate: ratio(self.selected, self.n),
            mean_probability: if self.n == 0 { f64::NAN } else { self.sum_probability / self.n as f64 },
            observed_rate: label(ratio(self.positives, self.n)),
            tpr: label(ratio(self.tp, self.positives)),
            fpr: label(ratio(self.fp, self.negatives())),
            precision: label(ratio(self.tp, self.selected)),
        }
    }
}

/// A group's rate metrics, each NaN when undefined (or skipped: label metrics without labels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Share of the group the model approves (Fairlearn `selection_rate` of the decisions).
    pub selection_rate: f64,
    /// Mean predicted P(approved): beside `observed_rate`, the group's calibration.
    pub mean_probability: f64,
    /// Share of the group whose label is positive (approved in the data).
    pub observed_rate: f64,
    /// Approved among the positives (Fairlearn `true_positive_rate`).
    pub tpr: f64,
    /// Approved among the negatives (Fairlearn `false_positive_rate`).
    pub fpr: f64,
    /// Positives among the approved (scikit-learn `precision_score`).
    pub precision: f64,
}

/// Which rate a statistic is about, in the order [`Rates::values`] lists them.
pub const RATE_NAMES: [&str; 6] =
    ["selection_rate", "mean_probability", "observed_rate", "tpr", "fpr", "precision"];

impl Rates {
    pub fn values(&self) -> [f64; 6] {
        [self.selection_rate, self.mean_probability, self.observed_rate, self.tpr, self.fpr, self.precision]
    }
}

/// The disparities of one grouping, as Fairlearn defines them (`MetricFrame.difference` and
/// `.ratio`, `equalized_odds_difference` with `agg="worst_case"`), over the judged groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Disparities {
    pub dp_difference: f64,
    pub dp_difference_to_overall: f64,
    pub dp_ratio: f64,
    pub dp_ratio_to_overall: f64,
    pub eopp_difference: f64,
    pub eopp_difference_to_overall: f64,
    pub eodds_difference: f64,
    pub eodds_difference_to_overall: f64,
}

/// The order [`Disparities::values`] lists them in.
pub const DISPARITY_COUNT: usize = 8;

impl Disparities {
    /// From the judged groups' rates and the overall rates. With fewer than two judged groups
    /// the between-groups values are NaN (nothing to compare).
    pub fn of(groups: &[Rates], overall: &Rates) -> Disparities {
        let sel: Vec<f64> = groups.iter().map(|r| r.selection_rate).collect();
        let tpr: Vec<f64> = groups.iter().map(|r| r.tpr).collect();
        let fpr: Vec<f64> = groups.iter().map(|r| r.fpr).collect();
        let comparable = groups.len() >= 2;
        let between = |d: f64| if comparable { d } else { f64::NAN };
        Disparities {
            dp_difference: between(difference(&sel)),
            dp_difference_to_overall: difference_to(&sel, overall.selection_rate),
            dp_ratio: between(ratio(&sel)),
            dp_ratio_to_overall: ratio_to(&sel, overall.selection_rate),
            eopp_difference: between(difference(&tpr)),
            eopp_difference_to_overall: difference_to(&tpr, overall.tpr),
            eodds_difference: between(nan_max(difference(&tpr), difference(&fpr))),
            eodds_difference_to_overall: nan_max(
                difference_to(&tpr, overall.tpr),
                difference_to(&fpr, overall.fpr),
            ),
        }
    }

    pub fn values(&self) -> [f64; DISPARITY_COUNT] {
        [
            self.dp_difference,
            self.dp_difference_to_overall,
            self.dp_ratio,
            self.dp_ratio_to_overall,
            self.eopp_difference,
            self.eopp_difference_to_overall,
            self.eodds_difference,
            self.eodds_difference_to_overall,
        ]
    }
}

/// Python's `max(a, b)` over a pandas Series that may hold NaN: the larger defined value.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() {
        b
    } else if b.is_nan() {
        a
    } else {
        a.max(b)
    }
}

/// Smallest and largest defined value (pandas `min`/`max` skip NaN); None when none is defined.
fn extremes(values: &[f64]) -> Option<(f64, f64)> {
    values.iter().filter(|v| !v.is_nan()).fold(None, |acc, &v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// `group_max() - group_min()`.
pub fn difference(values: &[f64]) -> f64 {
    extremes(values).map_or(f64::NAN, |(lo, hi)| hi - lo)
}

/// `group_min() / group_max()` (NaN when the largest is 0, as 0/0 in pandas).
pub fn ratio(values: &[f64]) -> f64 {
    match extremes(values) {
        Some((lo, hi)) if hi != 0.0 => lo / hi,
        _ => f64::NAN,
    }
}

/// `max |group - overall|`.
pub fn difference_to(values: &[f64], overall: f64) -> f64 {
    values.iter().map(|v| (v - overall).abs()).filter(|d| !d.is_nan()).fold(f64::NAN, f64::max)
}

/// `min` over groups of `group / overall`, each ratio above 1 inverted (Fairlearn's
/// `ratio_sub_one`).
pub fn ratio_to(values: &[f64], overall: f64) -> f64 {
    values
        .iter()
        .map(|v| v / overall)
        .map(|r| if r > 1.0 { 1.0 / r } else { r })
        .filter(|r| !r.is_nan())
        .fold(f64::NAN, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_their_definitions() {
        let mut t = Tally::default();
        // (selected, positive): 2 TP, 1 FP, 1 FN, 2 TN.
        for (s, y, p) in [(true, true, 0.9), (true, true, 0.8), (true, false, 0.7), (false, true, 0.4)] {
            t.add(s, y, p, 1);
        }
        t.add(false, false, 0.1, 2);
        let r = t.rates(true);
        assert_eq!(r.selection_rate, 3.0 / 6.0);
        assert_eq!(r.observed_rate, 3.0 / 6.0);
        assert_eq!(r.tpr, 2.0 / 3.0);
        assert_eq!(r.fpr, 1.0 / 3.0);
        assert_eq!(r.precision, 2.0 / 3.0);
        assert!((r.mean_probability - 3.0 / 6.0).abs() < 1e-15);
        let unlabelled = t.rates(false);
        assert!(unlabelled.tpr.is_nan() && unlabelled.observed_rate.is_nan());
        assert_eq!(unlabelled.selection_rate, 0.5);
    }

    #[test]
    fn differences_and_ratios_match_fairlearns_formulas() {
        let v = [0.5, 0.2, f64::NAN, 0.4];
        assert_eq!(difference(&v), 0.3);
        assert_eq!(ratio(&v), 0.2 / 0.5);
        assert!((difference_to(&v, 0.4) - 0.2).abs() < 1e-15);
        // 0.5/0.4 = 1.25 → 0.8; 0.2/0.4 = 0.5; 0.4/0.4 = 1.
        assert_eq!(ratio_to(&v, 0.4), 0.5);
        assert!(ratio(&[0.0, 0.0]).is_nan());
        assert!(difference(&[f64::NAN]).is_nan());
        assert_eq!(nan_max(f64::NAN, 0.1), 0.1);
    }
}
