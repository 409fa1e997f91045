//! Fitting the forest: validates the training data, bins it once, grows the bootstrapped trees in
//! parallel (each from its own RNG stream, so the forest never depends on the thread count) and
//! optionally scores the out-of-bag rows.

use super::bins::BinnedData;
use super::grow::{Grower, HistogramMode, Limits};
use super::oob::{OobScore, out_of_bag_score};
use super::params::ForestParams;
use super::tally::{Counts, Packed, Sample, Tally};
use super::tree::{Forest, Tree};
use super::workspace::{LocalRow, MAX_FEATURES, RECORD_BYTES, Workspace, code_stride, record_bytes};
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
/// bar; trees finish in any order). NaN is a missing value: every split learns which side it goes
/// to. Bad data (no rows, no features, ragged columns, an infinite value, a single class) is an
/// `Error::Usage` naming the problem.
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
    fit_impl(params, columns, y, on_tree_done, mode, false)
}

/// What every tree is grown from.
struct Job<'a> {
    data: &'a BinnedData,
    y: &'a [bool],
    params: &'a ForestParams,
    limits: Limits,
    mode: HistogramMode,
    on_tree_done: &'a (dyn Fn(usize) + Sync),
}

/// `wide_tallies` forces three-`u32` histogram cells even when packed ones would do (tests check
/// that both grow the same forest).
pub(super) fn fit_impl(
    params: &ForestParams,
    columns: &[Vec<f64>],
    y: &[bool],
    on_tree_done: &(dyn Fn(usize) + Sync),
    mode: Option<HistogramMode>,
    wide_tallies: bool,
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
    let data = BinnedData::new(columns, code_stride(n_features));
    let job = Job { data: &data, y, params, limits, mode, on_tree_done };
    let grown = if !wide_tallies && data.n_rows <= Packed::MAX_ROWS {
        grow_trees_with_tally::<Packed>(&job)
    } else {
        grow_trees_with_tally::<Counts>(&job)
    };
    let (trees, in_bag): (Vec<Tree>, Vec<Vec<u64>>) = grown.into_iter().unzip();
    let forest = Forest { n_features, trees };
    let oob = params.oob_score.then(|| out_of_bag_score(&forest, &in_bag, columns, y));
    Ok(FittedForest { forest, oob })
}

// The arms of `grow_trees_with_tally` are `RECORD_BYTES`, one by one (the row stride of
// `BinnedData` comes from the same table): this stops the build if the two drift apart.
const _: () = assert!(
    RECORD_BYTES.len() == 6
        && RECORD_BYTES[0] == 16
        && RECORD_BYTES[1] == 32
        && RECORD_BYTES[2] == 48
        && RECORD_BYTES[3] == 64
        && RECORD_BYTES[4] == 128
        && RECORD_BYTES[5] == 512
);

/// Picks the smallest row record that holds a row's sample and codes.
fn grow_trees_with_tally<T: Tally>(job: &Job) -> Vec<(Tree, Vec<u64>)> {
    match record_bytes(job.data.n_features) {
        16 => grow_trees::<T, [u8; 16]>(job),
        32 => grow_trees::<T, [u8; 32]>(job),
        48 => grow_trees::<T, [u8; 48]>(job),
        64 => grow_trees::<T, [u8; 64]>(job),
        128 => grow_trees::<T, [u8; 128]>(job),
        _ => grow_trees::<T, [u8; 512]>(job),
    }
}

/// Grows every tree, in parallel; each thread reuses one workspace for all its trees.
fn grow_trees<T: Tally, R: LocalRow>(job: &Job) -> Vec<(Tree, Vec<u64>)> {
    (0..job.params.n_estimators)
        .into_par_iter()
        .map_init(Workspace::<R>::default, |ws, t| {
            let grown = grow_tree::<T, R>(job, ws, t);
            (job.on_tree_done)(t);
            grown
        })
        .collect()
}

/// Tree `t`'s random stream: the same for a given (seed, t) whatever thread grows it.
pub fn tree_rng(seed: u64, tree: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(tree as u64);
    rng
}

/// Grows tree `t`; also returns its in-bag rows as a bitset (empty unless OOB scoring needs it).
fn grow_tree<T: Tally, R: LocalRow>(job: &Job, ws: &mut Workspace<R>, t: usize) -> (Tree, Vec<u64>) {
    let mut rng = tree_rng(job.params.seed, t);
    let n = job.data.n_rows;
    ws.counts.clear();
    ws.counts.resize(n, 0);
    if job.params.bootstrap {
        // scikit-learn's bootstrap: n draws with replacement, kept as a count per row.
        for _ in 0..n {
            ws.counts[rng.random_range(0..n)] += 1;
        }
    } else {
        ws.counts.fill(1);
    }
    // The in-bag rows, sample and codes side by side, in ascending row order.
    ws.rows.clear();
    for (row, &count) in ws.counts.iter().enumerate().filter(|&(_, &c)| c > 0) {
        ws.rows.push(R::new(Sample::new(row, count, job.y[row]), job.data.row(row)));
    }
    let in_bag = if job.params.oob_score { in_bag_bitset(&ws.counts) } else { Vec::new() };
    let tree = Grower::<T, R>::new(job.data, job.limits, job.mode, ws).grow(&mut rng);
    (tree, in_bag)
}

fn in_bag_bitset(counts: &[u32]) -> Vec<u64> {
    let mut bits = vec![0u64; counts.len().div_ceil(64)];
    for (row, _) in counts.iter().enumerate().filter(|&(_, &c)| c > 0) {
        bits[row / 64] |= 1 << (row % 64);
    }
    bits
}

fn validate_training_data(columns: &[Vec<f64>], y: &[bool]) -> Result<()> {
    let usage = |m: String| Err(Error::Usage(m));
    if columns.is_empty() {
        return usage("the training data has no feature columns".into());
    }
    if columns.len() > MAX_FEATURES {
        return usage(format!(
            "the forest takes at most {MAX_FEATURES} feature columns, got {}",
            columns.len()
        ));
    }
    if y.is_empty() {
        return usage("the training data has no rows".into());
    }
    // Node weights are u32 sums of n draws, bootstrap counts 31-bit.
    let max_rows = (u32::MAX >> 1) as usize;
    if y.len() > max_rows {
        return usage(format!("the forest trains on at most {max_rows} rows, got {}", y.len()));
    }
    for (f, column) in columns.iter().enumerate() {
        if column.len() != y.len() {
            return usage(format!(
                "feature column {f} has {} rows but there are {} labels",
                column.len(),
                y.len()
            ));
        }
        if let Some(row) = column.iter().position(|x| x.is_infinite()) {
            return usage(format!(
                "feature column {f}, row {row}: {} is not a finite number (a missing value is NaN)",
                column[row]
            ));
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
