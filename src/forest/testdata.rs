//! Seeded synthetic training data for the forest's unit tests: a logistic model over ten features
//! of the kinds the applicant table has (continuous, skewed, counts, binary, pure noise), and the
//! same with gaps.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Column-major features and labels.
pub struct Synthetic {
    pub columns: Vec<Vec<f64>>,
    pub y: Vec<bool>,
}

impl Synthetic {
    pub fn n_rows(&self) -> usize {
        self.y.len()
    }

    /// Row `i` as a feature vector.
    pub fn row(&self, i: usize) -> Vec<f64> {
        self.columns.iter().map(|c| c[i]).collect()
    }

    /// Rows `range` as their own data set.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Synthetic {
        Synthetic {
            columns: self.columns.iter().map(|c| c[range.clone()].to_vec()).collect(),
            y: self.y[range].to_vec(),
        }
    }
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller: enough for test data, and independent of any distribution crate's algorithm.
    let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// `n` rows: P(y) = sigmoid(logit) with main effects, an interaction and a step.
pub fn logistic(n: usize, seed: u64) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut columns: Vec<Vec<f64>> = (0..10).map(|_| Vec::with_capacity(n)).collect();
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let x = [
            normal(&mut rng),
            (13.0 + 0.6 * normal(&mut rng)).exp().round(),
            (rng.random_range(0..6) + rng.random_range(0..6)) as f64,
            f64::from(u8::from(rng.random_bool(0.45))),
            rng.random::<f64>(),
            (normal(&mut rng) * 10.0).round() / 10.0,
            f64::from(u8::from(rng.random_bool(0.1))),
            rng.random_range(18..80) as f64,
            normal(&mut rng),
            rng.random::<f64>(),
        ];
        let logit = 0.9 * x[0] + 1.2 * (x[1] / 440_000.0).ln() - 0.25 * (x[2] - 5.0) - 0.7 * x[3]
            + 1.5 * (x[4] - 0.5) * x[5]
            + if x[7] > 40.0 { 0.6 } else { -0.2 }
            - 0.8 * x[6];
        y.push(rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp()));
        for (c, v) in columns.iter_mut().zip(x) {
            c.push(v);
        }
    }
    Synthetic { columns, y }
}

/// `logistic(n, seed)` with gaps (NaN): 20 % of feature 0 at random, feature 1 (income) missing
/// for 40 % of the rows above 600k (not at random), 10 % of the binary feature 3 and 15 % of the
/// age (feature 7) at random.
pub fn logistic_with_gaps(n: usize, seed: u64) -> Synthetic {
    let mut data = logistic(n, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6a70);
    for row in 0..n {
        for (f, share) in [(0, 0.2), (3, 0.1), (7, 0.15)] {
            if rng.random_bool(share) {
                data.columns[f][row] = f64::NAN;
            }
        }
        if data.columns[1][row] > 600_000.0 && rng.random_bool(0.4) {
            data.columns[1][row] = f64::NAN;
        }
    }
    data
}
