//! What training data looked like, per reported group: the range seen, medians over all rows and
//! over approved ones, and per category the rows seen and their approval rate. Missing values
//! (NaN) are left out of every statistic.

use serde::{Deserialize, Serialize};

/// What training data looked like for one group: the range seen, and reference values that make
/// reasons concrete ("approved applicants' median is 2%").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    pub name: String,
    /// Smallest and largest value seen (category index for categories); NaN (null) when every
    /// training value was missing.
    #[serde(with = "nan_as_null")]
    pub min: f64,
    #[serde(with = "nan_as_null")]
    pub max: f64,
    /// Median over all training rows and over approved ones (numeric groups).
    #[serde(with = "nan_as_null")]
    pub median: f64,
    #[serde(with = "nan_as_null")]
    pub median_approved: f64,
    /// Per category (categorical and boolean groups): rows seen and approval rate among them.
    pub category_counts: Vec<u64>,
    #[serde(with = "nan_as_null::vec")]
    pub category_approval: Vec<f64>,
    /// Numeric groups: the 0th, 1st, …, 100th percentiles of the present training values
    /// (linear interpolation, NumPy's default), so recourse can price a move in percentiles.
    /// Empty for categorical groups and in models written before they were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<f64>,
}

impl GroupStats {
    /// The statistics of one group's training values; `categories` is the number of categories
    /// of a categorical (or 2 for a boolean) group, 0 for a numeric one.
    pub fn of(name: &str, values: &[f64], approved: &[bool], categories: usize) -> GroupStats {
        let present = || values.iter().copied().filter(|v| !v.is_nan());
        let (min, max) = present().fold((f64::NAN, f64::NAN), |(lo, hi), v| (v.min(lo), v.max(hi)));
        let approved_values: Vec<f64> =
            values.iter().zip(approved).filter(|(v, ok)| **ok && !v.is_nan()).map(|(v, _)| *v).collect();
        let (category_counts, category_approval) = if categories > 0 {
            category_rates(categories, values, approved)
        } else {
            (Vec::new(), Vec::new())
        };
        let mut sorted: Vec<f64> = present().collect();
        sorted.sort_by(f64::total_cmp);
        let percentiles =
            if categories == 0 && !sorted.is_empty() { percentiles_of_sorted(&sorted) } else { Vec::new() };
        GroupStats {
            name: name.to_string(),
            min,
            max,
            median: median(sorted),
            median_approved: median(approved_values),
            category_counts,
            category_approval,
            percentiles,
        }
    }

    /// The approval rate over every row whose category is known.
    pub fn overall_rate(&self) -> f64 {
        let total: u64 = self.category_counts.iter().sum();
        let approved: f64 = self
            .category_counts
            .iter()
            .zip(&self.category_approval)
            .filter(|(n, _)| **n > 0)
            .map(|(&n, &r)| n as f64 * r)
            .sum();
        approved / total as f64
    }
}

/// JSON has no NaN: "no value" (a median of no rows, the rate of an unseen category) is `null`.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() { s.serialize_f64(*v) } else { s.serialize_none() }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    pub mod vec {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|x| x.is_finite().then_some(*x)))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            let v = Vec::<Option<f64>>::deserialize(d)?;
            Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        }
    }
}

fn category_rates(n: usize, codes: &[f64], approved: &[bool]) -> (Vec<u64>, Vec<f64>) {
    let mut counts = vec![0u64; n];
    let mut yes = vec![0u64; n];
    for (&c, &ok) in codes.iter().zip(approved) {
        if c.is_nan() || c < 0.0 || c as usize >= n {
            continue;
        }
        counts[c as usize] += 1;
        yes[c as usize] += u64::from(ok);
    }
    let rates = counts.iter().zip(&yes).map(|(&n, &y)| if n == 0 { f64::NAN } else { y as f64 / n as f64 });
    let rates = rates.collect();
    (counts, rates)
}

/// The 101 percentiles 0, 1, …, 100 of sorted values, interpolated linearly between order
/// statistics (`numpy.percentile`'s default method).
fn percentiles_of_sorted(sorted: &[f64]) -> Vec<f64> {
    let last = (sorted.len() - 1) as f64;
    (0..=100)
        .map(|p| {
            let at = last * p as f64 / 100.0;
            let (lo, frac) = (at.floor() as usize, at - at.floor());
            let hi = (lo + 1).min(sorted.len() - 1);
            sorted[lo] + frac * (sorted[hi] - sorted[lo])
        })
        .collect()
}

/// The median (mean of the two middle values for an even count); NaN when empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_are_left_out_of_every_statistic() {
        let values = [3.0, f64::NAN, 1.0, 2.0, f64::NAN];
        let approved = [true, true, false, true, false];
        let s = GroupStats::of("x", &values, &approved, 0);
        assert_eq!((s.min, s.max, s.median, s.median_approved), (1.0, 3.0, 2.0, 2.5));
        let c = GroupStats::of("c", &[0.0, 1.0, f64::NAN, 1.0], &[true, false, true, true], 3);
        assert_eq!(c.category_counts, [1, 2, 0]);
        assert_eq!(c.category_approval[..2], [1.0, 0.5]);
        assert!((c.overall_rate() - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(s.percentiles.len(), 101);
        assert_eq!(
            (s.percentiles[0], s.percentiles[25], s.percentiles[50], s.percentiles[100]),
            (1.0, 1.5, 2.0, 3.0)
        );
        assert!(c.percentiles.is_empty(), "categorical groups have none");
        let empty = GroupStats::of("e", &[f64::NAN], &[true], 0);
        assert!(empty.min.is_nan() && empty.median.is_nan());
        let json = serde_json::to_string(&empty).unwrap();
        let back: GroupStats = serde_json::from_str(&json).unwrap();
        assert!(back.min.is_nan(), "null round-trips as missing: {json}");
    }
}
