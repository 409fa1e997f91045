//! Fitting the forest: validates the training data, bins it once, grows the bootstrapped trees in
//! parallel (each from its own RNG stream, so the forest never depends on the thread count) and
//! optionally scores the out-of-bag rows.

use super::bins::BinnedData;
use super::grow::{Grower, HistogramMode, Limits, Sample};
use super::oob::{OobScore, out_of_bag_score};
use super::params::ForestParams;
use super::tree::{Forest, Tree};
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// A fitted forest and, if asked for, its out-of-bag score.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedForest {
    pub forest: Forest,
    pub oob: Option<OobScore>,
}

/// Fits a random forest on column-major data (`columns[f][row]`, every column as long as `y`).
/// `on_tree_done(t)` is called from a worker thread as soon as tree `t` is grown (for a progress
/// bar; trees finish in any order). Bad data (no rows, no features, ragged columns, a non-finite
/// value, a single class) is an `Error::Usage` naming the problem.
pub fn fit(
    params: &ForestParams,
    columns: &[Vec<f64>],
    y: &[bool],
    on_tree_done: &(dyn Fn(usize) + Sync),
) -> Result<FittedForest> {
    fit_with_histogram_mode(params, columns, y, on_tree_done, None)
}

/// `fit` with the histogram strategy forced (`None`: the cheaper one by the cost model). Both
/// strategies grow identical trees; this exists so benchmarks can time them side by side.
pub fn fit_with_histogram_mode(
    params: &ForestParams,
    columns: &[Vec<f64>],
    y: &[bool],
    on_tree_done: &(dyn Fn(usize) + Sync),
    mode: Option<HistogramMode>,
) -> Result<FittedForest> {
    params.validate()?;
    validate_training_data(columns, y)?;
    let n_features = columns.len();
    let limits = Limits {
        max_depth: params.max_depth.unwrap_or(usize::MAX),
        min_samples_leaf: u32::try_from(params.min_samples_leaf).unwrap_or(u32::MAX),
        max_features: params.max_features.resolve(n_features)?,
    };
    let mode = mode.unwrap_or_else(|| HistogramMode::cheaper(limits.max_features, n_features));
    let data = BinnedData::new(columns);
    let grown: Vec<(Tree, Vec<u64>)> = (0..params.n_estimators)
        .into_par_iter()
        .map(|t| {
            let grown = grow_tree(&data, y, params, limits, mode, t);
            on_tree_done(t);
            grown
        })
        .collect();
    let (trees, in_bag): (Vec<Tree>, Vec<Vec<u64>>) = grown.into_iter().unzip();
    let forest = Forest { n_features, trees };
    let oob = params.oob_score.then(|| out_of_bag_score(&forest, &in_bag, columns, y));
    Ok(FittedForest { forest, oob })
}

/// Tree `t`'s random stream: the same for a given (seed, t) whatever thread grows it.
pub fn tree_rng(seed: u64, tree: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(tree as u64);
    rng
}

/// Grows tree `t`; also returns its in-bag rows as a bitset (empty unless OOB scoring needs it).
fn grow_tree(
    data: &BinnedData,
    y: &[bool],
    params: &ForestParams,
    limits: Limits,
    mode: HistogramMode,
    t: usize,
) -> (Tree, Vec<u64>) {
    let mut rng = tree_rng(params.seed, t);
    let samples = if params.bootstrap {
        bootstrap_samples(data.n_rows, y, &mut rng)
    } else {
        (0..data.n_rows).map(|row| Sample::new(row, 1, y[row])).collect()
    };
    let in_bag = if params.oob_score { in_bag_bitset(&samples, data.n_rows) } else { Vec::new() };
    let tree = Grower::new(data, limits, mode, samples).grow(&mut rng);
    (tree, in_bag)
}

/// scikit-learn's bootstrap: n draws with replacement, kept as a count per drawn row.
fn bootstrap_samples(n_rows: usize, y: &[bool], rng: &mut ChaCha8Rng) -> Vec<Sample> {
    let mut counts = vec![0u32; n_rows];
    for _ in 0..n_rows {
        counts[rng.random_range(0..n_rows)] += 1;
    }
    counts
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c > 0)
        .map(|(row, &c)| Sample::new(row, c, y[row]))
        .collect()
}

fn in_bag_bitset(samples: &[Sample], n_rows: usize) -> Vec<u64> {
    let mut bits = vec![0u64; n_rows.div_ceil(64)];
    for s in samples {
        bits[s.row as usize / 64] |= 1 << (s.row % 64);
    }
    bits
}

fn validate_training_data(columns: &[Vec<f64>], y: &[bool]) -> Result<()> {
    let usage = |m: String| Err(Error::Usage(m));
    if columns.is_empty() {
        return usage("the training data has no feature columns".into());
    }
    if y.is_empty() {
        return usage("the training data has no rows".into());
    }
    // Bootstrap counts and node weights are u32 sums of n draws.
    if y.len() > u32::MAX as usize {
        return usage(format!("the forest trains on at most {} rows, got {}", u32::MAX, y.len()));
    }
    for (f, column) in columns.iter().enumerate() {
        if column.len() != y.len() {
            return usage(format!(
                "feature column {f} has {} rows but there are {} labels",
                column.len(),
                y.len()
            ));
        }
        if let Some(row) = column.iter().position(|x| !x.is_finite()) {
            return usage(format!("feature column {f}, row {row}: {} is not a finite number", column[row]));
        }
    }
    let positives = y.iter().filter(|&&label| label).count();
    if positives == 0 || positives == y.len() {
        return usage(format!(
            "every training label is {}: the forest needs rows of both classes",
            positives > 0
        ));
    }
    Ok(())
}
