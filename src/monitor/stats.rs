//! The drift statistics, each from its textbook definition: population stability index over
//! fixed bins, the two-sample Kolmogorov–Smirnov test, the chi-squared test of a 2×k table and
//! the two-proportion z-test; p-values from `statrs` distributions (chi-squared, normal) and
//! the Pelz–Good series for the Kolmogorov distribution, which `statrs` does not have.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};
use std::f64::consts::PI;

/// What an empty bin's share is replaced by, on either side, so PSI stays finite.
pub const PSI_EPSILON: f64 = 1e-4;

/// PSI = Σ (batch − reference) · ln(batch / reference) over the bins' shares, an empty bin's
/// share counted as [`PSI_EPSILON`]. Bins are counts; an all-empty side gives NaN.
pub fn psi(reference: &[u64], batch: &[u64]) -> f64 {
    let (r_total, b_total) = (reference.iter().sum::<u64>() as f64, batch.iter().sum::<u64>() as f64);
    if r_total == 0.0 || b_total == 0.0 {
        return f64::NAN;
    }
    let share = |count: u64, total: f64| if count == 0 { PSI_EPSILON } else { count as f64 / total };
    reference
        .iter()
        .zip(batch)
        .map(|(&r, &b)| {
            let (r, b) = (share(r, r_total), share(b, b_total));
            (b - r) * (b / r).ln()
        })
        .sum()
}

/// The bin of `x` among sorted `edges`: the number of edges strictly below it, so a value equal
/// to an edge falls in the lower bin (NumPy's `searchsorted(edges, x, side="left")`), below
/// the first edge is bin 0, above the last is bin `edges.len()`. Missing values are not binned.
#[inline]
pub fn bin_of(edges: &[f64], x: f64) -> usize {
    edges.partition_point(|&e| e < x)
}

/// A test's result.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
    /// Degrees of freedom (chi-squared) or the effective sample size n·m/(n+m) (KS).
    pub df: f64,
}

/// Two-sample KS on sorted, non-missing samples: D = sup |F₁ − F₂| over every value (ties
/// handled as SciPy's `ks_2samp` does), and the two-sided p-value of the asymptotic method
/// (SciPy's `method="asymp"`): the Kolmogorov distribution of n = round(n₁n₂/(n₁+n₂)).
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Option<TestResult> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    let en = n1 * n2 / (n1 + n2);
    Some(TestResult { statistic: d, p_value: kolmogorov_sf(en.round(), d), df: en })
}

/// P(D_n ≥ x) for the one-sample two-sided KS statistic, by the Pelz–Good expansion to order
/// n^(-3/2) (as SciPy's `kstwo` for large n).
pub fn kolmogorov_sf(n: f64, x: f64) -> f64 {
    if x <= 0.0 || n <= 0.0 {
        return 1.0;
    }
    if x >= 1.0 || n * x * x >= 370.0 {
        return 0.0;
    }
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -PI * PI / 8.0 / z2;
    if qlog < -708.0 {
        return 1.0;
    }
    let q = qlog.exp();
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let (k1a, k1b) = (-z2, pi2 / 4.0);
    let (k2a, k2b, k2c) =
        (6.0 * z6 + 2.0 * z4, (2.0 * z4 - 5.0 * z2) * pi2 / 4.0, pi4 * (1.0 - 2.0 * z2) / 16.0);
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let maxk = (16.0 * z / PI).ceil() as i32;
    let mut k = [0.0f64; 4];
    for kk in (1..=maxk).rev() {
        let m = f64::from(2 * kk - 1);
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powi(8 * kk);
        let coeffs = [1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
        for (slot, c) in k.iter_mut().zip(coeffs) {
            *slot = *slot * qpower + c;
        }
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let divisors = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (slot, d) in k.iter_mut().zip(divisors) {
        *slot *= q * sqrt2pi / d;
    }
    let q = (-pi2 / 2.0 / z2).exp();
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    let sqrt3z = 3f64.sqrt() * z;
    for kk in (1..=maxk).rev() {
        let kf = f64::from(kk);
        let qk = q.powi(kk * kk);
        k2extra += kf * kf * qk;
        k3extra += (sqrt3z + PI * kf) * (sqrt3z - PI * kf) * kf * kf * qk;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    let cdf: f64 = k.iter().enumerate().map(|(i, v)| v / n.powf(i as f64 / 2.0)).sum();
    (1.0 - cdf).clamp(0.0, 1.0)
}

/// Pearson's chi-squared test of independence of the 2×k table (reference counts, batch counts)
/// without continuity correction (SciPy's `chi2_contingency(..., correction=False)`); bins
/// empty on both sides are dropped. None when fewer than two bins remain.
pub fn chi2_two_samples(reference: &[u64], batch: &[u64]) -> Option<TestResult> {
    let cells: Vec<(f64, f64)> = reference
        .iter()
        .zip(batch)
        .filter(|(r, b)| **r + **b > 0)
        .map(|(&r, &b)| (r as f64, b as f64))
        .collect();
    let (r_total, b_total): (f64, f64) = (cells.iter().map(|c| c.0).sum(), cells.iter().map(|c| c.1).sum());
    if cells.len() < 2 || r_total == 0.0 || b_total == 0.0 {
        return None;
    }
    let total = r_total + b_total;
    let statistic: f64 = cells
        .iter()
        .map(|&(r, b)| {
            let column = r + b;
            let (er, eb) = (r_total * column / total, b_total * column / total);
            (r - er).powi(2) / er + (b - eb).powi(2) / eb
        })
        .sum();
    let df = (cells.len() - 1) as f64;
    let p_value = ChiSquared::new(df).map(|d| d.sf(statistic)).unwrap_or(f64::NAN);
    Some(TestResult { statistic, p_value, df })
}

/// Two-sided p-value of the pooled two-proportion z-test of k₁/n₁ against k₂/n₂ (1 when either
/// side is empty or the pooled rate is 0 or 1: nothing can be told apart).
pub fn two_proportion_p(k1: u64, n1: u64, k2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let pooled = (k1 + k2) as f64 / (n1f + n2f);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    if se == 0.0 {
        return 1.0;
    }
    let z = (k1 as f64 / n1f - k2 as f64 / n2f) / se;
    2.0 * Normal::standard().sf(z.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_is_zero_for_equal_shares_and_follows_the_definition() {
        assert_eq!(psi(&[10, 20, 30], &[20, 40, 60]), 0.0);
        let expected = (0.5f64 - 0.25) * (0.5f64 / 0.25).ln() + (0.5f64 - 0.75) * (0.5f64 / 0.75).ln();
        assert!((psi(&[1, 3], &[2, 2]) - expected).abs() < 1e-15);
        // An empty batch bin counts as 1e-4, not as zero (ln 0).
        let empty = (1e-4f64 - 0.5) * (1e-4f64 / 0.5).ln() + (1.0f64 - 0.5) * (1.0f64 / 0.5).ln();
        assert!((psi(&[5, 5], &[0, 7]) - empty).abs() < 1e-12);
    }

    #[test]
    fn bins_put_a_value_on_an_edge_in_the_lower_bin() {
        let edges = [1.0, 2.0, 3.0];
        assert_eq!([0.5, 1.0, 1.5, 3.0, 3.5].map(|x| bin_of(&edges, x)), [0, 0, 1, 2, 3]);
    }

    #[test]
    fn ks_statistic_handles_ties() {
        // F1 and F2 at 1: 2/3 vs 1/4; at 2: 1 vs 3/4 → D = 5/12.
        let r = ks_2samp(&[1.0, 1.0, 2.0], &[1.0, 2.0, 2.0, 3.0]).unwrap();
        assert!((r.statistic - 5.0 / 12.0).abs() < 1e-15);
    }

    #[test]
    fn kolmogorov_sf_matches_known_values() {
        // scipy.stats.kstwo.sf(0.03, 2000) and kstwo.sf(0.05, 1000), computed by SciPy 1.17.1.
        assert!((kolmogorov_sf(2000.0, 0.03) - 0.05354694793932557).abs() < 1e-4);
        assert!((kolmogorov_sf(1000.0, 0.05) - 0.013012074781090332).abs() < 1e-4);
        assert_eq!(kolmogorov_sf(1000.0, 0.0), 1.0);
    }

    #[test]
    fn two_proportions_that_are_equal_are_not_told_apart() {
        assert!((two_proportion_p(50, 100, 500, 1000) - 1.0).abs() < 1e-12);
        assert!(two_proportion_p(30, 100, 500, 1000) < 1e-3);
    }
}
