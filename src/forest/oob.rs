//! Out-of-bag scoring, as scikit-learn's `oob_score`: every training row is predicted by the trees
//! whose bootstrap did not draw it, giving an honest estimate without a held-out set.

use super::tree::Forest;
use rayon::prelude::*;
use serde::Serialize;

/// The out-of-bag evaluation of a fitted forest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OobScore {
    /// Share of the scored rows whose OOB class (probability > 0.5, as sklearn's argmax) is their
    /// label: scikit-learn's `oob_score_`.
    pub accuracy: f64,
    /// ROC-AUC of the OOB probabilities on the scored rows (`None` if they hold one class only).
    pub roc_auc: Option<f64>,
    /// Rows that at least one tree left out of its bootstrap (the others are not scored; with
    /// 100 trees a row is in every bootstrap with probability 0.63^100).
    pub n_scored: usize,
    /// Per training row, the mean class-1 probability of the trees that did not draw it
    /// (scikit-learn's `oob_decision_function_[:, 1]`); `None` if every tree drew it.
    pub predictions: Vec<Option<f64>>,
}

/// Scores each training row with the trees whose `in_bag` bitset lacks it, summing in tree order
/// so the result does not depend on the thread count.
pub fn out_of_bag_score(forest: &Forest, in_bag: &[Vec<u64>], columns: &[Vec<f64>], y: &[bool]) -> OobScore {
    let predictions: Vec<Option<f64>> = (0..y.len())
        .into_par_iter()
        .map_init(
            || vec![0.0; columns.len()],
            |x, row| {
                for (value, column) in x.iter_mut().zip(columns) {
                    *value = column[row];
                }
                let (mut sum, mut n) = (0.0, 0usize);
                for (tree, bag) in forest.trees.iter().zip(in_bag) {
                    if bag[row / 64] >> (row % 64) & 1 == 0 {
                        sum += tree.predict(x);
                        n += 1;
                    }
                }
                (n > 0).then(|| sum / n as f64)
            },
        )
        .collect();
    let scored: Vec<(f64, bool)> =
        predictions.iter().zip(y).filter_map(|(p, &label)| p.map(|p| (p, label))).collect();
    let correct = scored.iter().filter(|&&(p, label)| (p > 0.5) == label).count();
    OobScore {
        accuracy: correct as f64 / scored.len().max(1) as f64,
        roc_auc: roc_auc(&scored),
        n_scored: scored.len(),
        predictions,
    }
}

/// ROC-AUC by the Mann–Whitney rank sum, ties sharing their mean rank (as sklearn's
/// `roc_auc_score`, which counts a tied positive–negative pair as one half).
pub fn roc_auc(scored: &[(f64, bool)]) -> Option<f64> {
    let n_pos = scored.iter().filter(|s| s.1).count();
    let n_neg = scored.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut sorted = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut positive_rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let j = i + sorted[i..].iter().take_while(|s| s.0 == sorted[i].0).count();
        let mean_rank = (i + 1 + j) as f64 / 2.0; // ranks i+1 ..= j
        positive_rank_sum += mean_rank * sorted[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// The definition: the share of (positive, negative) pairs ordered correctly, ties half.
    fn pairwise_auc(scored: &[(f64, bool)]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for &(p, _) in scored.iter().filter(|s| s.1) {
            for &(n, _) in scored.iter().filter(|s| !s.1) {
                pairs += 1.0;
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        wins / pairs
    }

    #[test]
    fn roc_auc_equals_the_pairwise_definition_with_ties() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let scored: Vec<(f64, bool)> = (0..400)
            .map(|_| {
                let label = rng.random_bool(0.4);
                // Coarse scores so there are many ties.
                let score = (rng.random_range(0..10) + if label { 2 } else { 0 }) as f64 / 10.0;
                (score, label)
            })
            .collect();
        let auc = roc_auc(&scored).unwrap();
        assert!((auc - pairwise_auc(&scored)).abs() < 1e-12, "{auc}");
        assert!(roc_auc(&[(0.3, true), (0.2, true)]).is_none());
        assert_eq!(roc_auc(&[(0.3, true), (0.2, false)]), Some(1.0));
        assert_eq!(roc_auc(&[(0.2, true), (0.2, false)]), Some(0.5));
    }
}
