//! Gauss–Legendre quadrature on [0, 1]: `n` nodes integrate every polynomial of degree ≤ 2n − 1
//! exactly, with positive weights (no cancellation). This is what makes the polynomial form of
//! TreeSHAP exact in f64 at any depth, where monomial or equispaced-interpolation forms lose digits.

/// Nodes `t` (ascending, strictly inside (0, 1)) and weights `w` (summing to 1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GaussLegendre {
    pub t: Vec<f64>,
    pub w: Vec<f64>,
}

impl GaussLegendre {
    /// The `n`-point rule, by Newton's method on the Legendre polynomial P_n (to full precision).
    pub(crate) fn new(n: usize) -> GaussLegendre {
        assert!(n >= 1, "a quadrature rule needs at least one node");
        let mut t = vec![0.0; n];
        let mut w = vec![0.0; n];
        for i in 0..n.div_ceil(2) {
            // Tricomi's initial guess for the i-th largest root on [-1, 1].
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut derivative = 0.0;
            for _ in 0..100 {
                let (p, dp) = legendre(n, x);
                derivative = dp;
                let step = p / dp;
                x -= step;
                if step.abs() <= 1e-17 {
                    break;
                }
            }
            let (_, dp) = legendre(n, x);
            derivative = if dp.is_finite() { dp } else { derivative };
            let weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
            // Map [-1, 1] → [0, 1]; the rule is symmetric about 1/2.
            t[n - 1 - i] = 0.5 + 0.5 * x;
            t[i] = 0.5 - 0.5 * x;
            w[n - 1 - i] = 0.5 * weight;
            w[i] = 0.5 * weight;
        }
        GaussLegendre { t, w }
    }
}

/// P_n(x) and P_n'(x) by the three-term recurrence.
fn legendre(n: usize, x: f64) -> (f64, f64) {
    let (mut p_prev, mut p) = (1.0, x);
    for k in 1..n {
        let k = k as f64;
        let next = ((2.0 * k + 1.0) * x * p - k * p_prev) / (k + 1.0);
        p_prev = p;
        p = next;
    }
    if n == 0 {
        return (1.0, 0.0);
    }
    let dp = n as f64 * (x * p - p_prev) / (x * x - 1.0);
    (p, dp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_polynomials_up_to_degree_2n_minus_1_exactly() {
        for n in [1, 2, 3, 6, 8, 16, 33, 64] {
            let rule = GaussLegendre::new(n);
            assert!(rule.t.windows(2).all(|p| p[0] < p[1]) && rule.t[0] > 0.0 && rule.t[n - 1] < 1.0);
            for k in 0..2 * n {
                let integral: f64 = rule.t.iter().zip(&rule.w).map(|(t, w)| w * t.powi(k as i32)).sum();
                let exact = 1.0 / (k as f64 + 1.0);
                assert!((integral - exact).abs() < 1e-15 * (n as f64), "n={n} k={k}: {integral} vs {exact}");
            }
            // And ∫ t^a (1 − t)^b, the Shapley weights' Beta integrals, for a + b ≤ 2n − 1.
            for a in 0..n {
                let b = 2 * n - 1 - a - usize::from(a > 0);
                let integral: f64 = rule
                    .t
                    .iter()
                    .zip(&rule.w)
                    .map(|(t, w)| w * t.powi(a as i32) * (1.0 - t).powi(b as i32))
                    .sum();
                assert!((integral - beta(a, b)).abs() < 1e-15, "n={n} a={a} b={b}");
            }
        }
    }

    /// a! b! / (a + b + 1)!, from the definition.
    fn beta(a: usize, b: usize) -> f64 {
        let fact = |k: usize| (1..=k).map(|i| i as f64).product::<f64>();
        fact(a) * fact(b) / fact(a + b + 1)
    }
}
