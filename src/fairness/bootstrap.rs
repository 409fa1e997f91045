//! Percentile bootstrap intervals, resampling rows of the whole batch with replacement as
//! Fairlearn's `MetricFrame(n_boot=…)` does: every replicate draws from its own ChaCha stream
//! (seed, replicate number), so the intervals are the same bytes whatever the thread count.

use super::groups::Grouping;
use super::metrics::{DISPARITY_COUNT, Disparities, RATE_NAMES, Rates, Tally};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// The rows being judged: the model's decisions, the labels (all false when the batch has
/// none), the probabilities.
pub struct Rows<'a> {
    pub selected: &'a [bool],
    pub positive: &'a [bool],
    pub probability: &'a [f64],
    pub labelled: bool,
}

/// One grouping with which of its groups are judged (disparities are computed over those only).
pub struct Judged<'a> {
    pub grouping: &'a Grouping,
    pub judged: Vec<bool>,
}

/// Statistics per replicate: the overall rates, then per grouping each group's rates and the
/// grouping's disparities. [`Layout`] says where each one sits.
pub struct Layout {
    offsets: Vec<usize>,
    len: usize,
}

const RATES: usize = RATE_NAMES.len();

impl Layout {
    pub fn new(groupings: &[Judged]) -> Layout {
        let mut offsets = Vec::with_capacity(groupings.len());
        let mut at = RATES;
        for g in groupings {
            offsets.push(at);
            at += g.grouping.labels.len() * RATES + DISPARITY_COUNT;
        }
        Layout { offsets, len: at }
    }

    pub fn overall(&self) -> std::ops::Range<usize> {
        0..RATES
    }

    /// Group `group`'s rates in grouping `by`.
    pub fn group(&self, by: usize, group: usize) -> std::ops::Range<usize> {
        let start = self.offsets[by] + group * RATES;
        start..start + RATES
    }

    /// Grouping `by`'s disparities.
    pub fn disparities(&self, by: usize, n_groups: usize) -> std::ops::Range<usize> {
        let start = self.offsets[by] + n_groups * RATES;
        start..start + DISPARITY_COUNT
    }
}

/// Every statistic of [`Layout`] computed from tallies (the point estimate when every weight
/// is 1, one replicate otherwise). One pass over the rows feeds the overall tally and every
/// grouping's; each tally still sums its rows in row order, so the values do not depend on how
/// many groupings there are.
fn statistics(rows: &Rows, groupings: &[Judged], layout: &Layout, weight: impl Fn(usize) -> u64) -> Vec<f64> {
    let mut out = vec![f64::NAN; layout.len];
    let mut overall = Tally::default();
    let mut tallies: Vec<Vec<Tally>> =
        groupings.iter().map(|j| vec![Tally::default(); j.grouping.labels.len()]).collect();
    for i in 0..rows.selected.len() {
        let w = weight(i);
        if w == 0 {
            continue;
        }
        let (selected, positive, probability) = (rows.selected[i], rows.positive[i], rows.probability[i]);
        overall.add(selected, positive, probability, w);
        for (t, judged) in tallies.iter_mut().zip(groupings) {
            t[judged.grouping.index[i] as usize].add(selected, positive, probability, w);
        }
    }
    let overall = overall.rates(rows.labelled);
    out[layout.overall()].copy_from_slice(&overall.values());
    for (b, (judged, tallies)) in groupings.iter().zip(&tallies).enumerate() {
        let n_groups = judged.grouping.labels.len();
        let rates: Vec<Rates> = tallies.iter().map(|t| t.rates(rows.labelled)).collect();
        for (g, r) in rates.iter().enumerate() {
            out[layout.group(b, g)].copy_from_slice(&r.values());
        }
        let judged_rates: Vec<Rates> =
            rates.iter().zip(&judged.judged).filter(|(_, j)| **j).map(|(r, _)| *r).collect();
        out[layout.disparities(b, n_groups)]
            .copy_from_slice(&Disparities::of(&judged_rates, &overall).values());
    }
    out
}

/// The point estimates (every row once).
pub fn point(rows: &Rows, groupings: &[Judged], layout: &Layout) -> Vec<f64> {
    statistics(rows, groupings, layout, |_| 1)
}

/// The `(1 - level) / 2` and `(1 + level) / 2` quantiles of every statistic over `n_boot`
/// replicates (NaN replicates left out, as `numpy.nanquantile`), with numpy's default linear
/// interpolation.
pub fn intervals(
    rows: &Rows,
    groupings: &[Judged],
    layout: &Layout,
    n_boot: usize,
    seed: u64,
    level: f64,
) -> Vec<[f64; 2]> {
    let n = rows.selected.len();
    let replicates: Vec<Vec<f64>> = (0..n_boot)
        .into_par_iter()
        .map_init(
            || vec![0u32; n],
            |counts, b| {
                counts.fill(0);
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(b as u64);
                for _ in 0..n {
                    counts[rng.random_range(0..n)] += 1;
                }
                statistics(rows, groupings, layout, |i| u64::from(counts[i]))
            },
        )
        .collect();
    let (low, high) = ((1.0 - level) / 2.0, (1.0 + level) / 2.0);
    (0..layout.len)
        .map(|s| {
            let mut values: Vec<f64> = replicates.iter().map(|r| r[s]).filter(|v| !v.is_nan()).collect();
            values.sort_unstable_by(f64::total_cmp);
            [quantile(&values, low), quantile(&values, high)]
        })
        .collect()
}

/// numpy's `quantile(method="linear")` of sorted values; NaN when there are none.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        // numpy.quantile([1, 2, 3, 4], [0.025, 0.5, 0.975]) = [1.075, 2.5, 3.925]
        let v = [1.0, 2.0, 3.0, 4.0];
        assert!((quantile(&v, 0.025) - 1.075).abs() < 1e-12);
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert!((quantile(&v, 0.975) - 3.925).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.3), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn intervals_do_not_depend_on_the_thread_count() {
        let n = 3000;
        let selected: Vec<bool> = (0..n).map(|i| (i * 7919) % 10 < 6).collect();
        let positive: Vec<bool> = (0..n).map(|i| (i * 104729) % 10 < 5).collect();
        let probability: Vec<f64> = (0..n).map(|i| ((i * 31) % 100) as f64 / 100.0).collect();
        let grouping = Grouping {
            labels: vec!["a".into(), "b".into(), "c".into()],
            index: (0..n).map(|i| (i % 3) as u32).collect(),
        };
        let rows =
            Rows { selected: &selected, positive: &positive, probability: &probability, labelled: true };
        let groupings = [Judged { grouping: &grouping, judged: vec![true; 3] }];
        let layout = Layout::new(&groupings);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| intervals(&rows, &groupings, &layout, 40, 9, 0.95))
        };
        let one = run(1);
        let bits = |v: &[[f64; 2]]| v.iter().flat_map(|c| c.map(f64::to_bits)).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&run(3)));
        // The point estimate sits inside its interval for the overall selection rate.
        let p = point(&rows, &groupings, &layout);
        assert!(one[0][0] <= p[0] && p[0] <= one[0][1], "{:?} vs {}", one[0], p[0]);
        assert_ne!(bits(&one), bits(&pool_other_seed(&rows, &groupings, &layout)));
    }

    fn pool_other_seed(rows: &Rows, groupings: &[Judged], layout: &Layout) -> Vec<[f64; 2]> {
        intervals(rows, groupings, layout, 40, 10, 0.95)
    }
}
