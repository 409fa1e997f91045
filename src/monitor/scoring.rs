//! Scoring whole tables fast, bit-identical to `Forest::predict`: each tree flattened breadth
//! first into small steps whose two children sit side by side and whose leaves point to
//! themselves, the rows of a block stepped down one level at a time without a branch (a core
//! overlaps the rows' loads instead of waiting on one row's path), and, when the forest allows,
//! every encoded value replaced by its rank among the forest's thresholds for that feature, so a
//! step is 8 bytes and a row 2 bytes per feature (see [`Bins`]).

use crate::data::ApplicantTable;
use crate::forest::{Node, Tree};
use crate::model::Model;
use rayon::prelude::*;

/// Rows scored together: their ranks (about 20 KB) and one tree's steps stay in a core's L1/L2
/// cache while every tree walks them (measured on the 100 × 12 forest: 256 rows beat 1,024 and
/// 4,096 by 5-10 %).
const BLOCK: usize = 256;
/// From this level on, every [`CHECK_EVERY`] levels, the walk stops early when every row has
/// reached its leaf (a deep, unbalanced tree lands most rows long before its deepest leaf; in a
/// shallow one the check would cost more than the levels it saves).
const CHECK_FROM: usize = 12;
const CHECK_EVERY: usize = 4;
/// An exact step's `feature` bit: a missing value goes left.
const DEFAULT_LEFT: u32 = 1 << 31;
/// A ranked step's `feature` bit: a missing value goes left.
const RANK_DEFAULT_LEFT: u16 = 1 << 15;
/// The rank of a missing value: above every real rank, so it goes right unless the step's
/// default side is left.
const MISSING_RANK: u16 = u16::MAX;
/// Thresholds one feature may have for ranks to fit in a `u16` below [`MISSING_RANK`].
const MAX_CUTS: usize = MISSING_RANK as usize - 1;

/// One node as a walk needs it: where a row's value sends it (`left` or `left + 1`).
trait Step: Copy + Send + Sync {
    /// What a row holds per feature: the encoded value or its rank.
    type Value: Copy + Default + Send + Sync;
    /// The next step of a row with values `x`, as `Node::goes_left` decides (`x <= threshold`,
    /// or missing and the default side is left). With `MISSING` false the caller knows that no
    /// value is missing or that no split sends a missing value left, so a missing value may be
    /// sent right without looking.
    fn next<const MISSING: bool>(&self, x: &[Self::Value]) -> u32;
    /// The left child; a leaf's is itself.
    fn left(&self) -> u32;
}

/// A split on the encoded value itself (any forest).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ExactStep {
    /// Left iff `x <= threshold`; a leaf's is +inf, so every number stays where it is.
    threshold: f64,
    /// The feature read, with [`DEFAULT_LEFT`]; a leaf reads feature 0 and keeps a NaN too.
    feature: u32,
    left: u32,
}

impl Step for ExactStep {
    type Value = f64;

    #[inline(always)]
    fn next<const MISSING: bool>(&self, x: &[f64]) -> u32 {
        let value = x[(self.feature & !DEFAULT_LEFT) as usize];
        let left = (value <= self.threshold) | (value.is_nan() & (self.feature & DEFAULT_LEFT != 0));
        self.left + u32::from(!left)
    }

    fn left(&self) -> u32 {
        self.left
    }
}

/// A split on the value's rank: `x <= t` iff `rank(x) <= rank(t)` (see [`Bins`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
struct RankStep {
    /// The feature read, with [`RANK_DEFAULT_LEFT`]; a leaf reads feature 0.
    feature: u16,
    /// Left iff the value's rank is at most this; a leaf's is [`MISSING_RANK`], so every row,
    /// missing or not, stays where it is.
    rank: u16,
    left: u32,
}

impl Step for RankStep {
    type Value = u16;

    #[inline(always)]
    fn next<const MISSING: bool>(&self, x: &[u16]) -> u32 {
        let value = x[(self.feature & !RANK_DEFAULT_LEFT) as usize];
        let left = if MISSING {
            (value <= self.rank) | ((value == MISSING_RANK) & (self.feature & RANK_DEFAULT_LEFT != 0))
        } else {
            value <= self.rank
        };
        self.left + u32::from(!left)
    }

    fn left(&self) -> u32 {
        self.left
    }
}

/// A tree renumbered breadth first (so each node's children are adjacent), with its leaves'
/// values by the same numbers and the number of levels a row descends at most.
#[derive(Debug)]
struct FlatTree<S> {
    steps: Vec<S>,
    values: Vec<f64>,
    depth: usize,
}

impl<S: Step> FlatTree<S> {
    /// `split(node, left)` makes a split's step, `leaf(k)` the step of the leaf numbered `k`.
    fn new(tree: &Tree, split: impl Fn(&Node, u32) -> S, leaf: impl Fn(u32) -> S) -> FlatTree<S> {
        let nodes = &tree.nodes;
        // `order[k]` is the original index of new node k.
        let mut order = vec![0usize];
        let mut steps = Vec::with_capacity(nodes.len());
        let mut values = Vec::with_capacity(nodes.len());
        let mut k = 0;
        while k < order.len() {
            let node = &nodes[order[k]];
            if node.is_leaf() {
                steps.push(leaf(k as u32));
            } else {
                steps.push(split(node, order.len() as u32));
                order.extend([node.left as usize, node.right as usize]);
            }
            values.push(node.value);
            k += 1;
        }
        FlatTree { steps, values, depth: tree.depth() }
    }

    fn is_leaf(&self, at: u32) -> bool {
        self.steps[at as usize].left() == at
    }

    /// Adds this tree's leaf value for each row of `rows` (rows of `n` values) to `sums`; `at`
    /// is scratch, one slot per row.
    fn add<const MISSING: bool>(&self, rows: &[S::Value], n: usize, at: &mut [u32], sums: &mut [f64]) {
        at.fill(0);
        let steps = &self.steps[..];
        for level in 0..self.depth {
            for (i, x) in at.iter_mut().zip(rows.chunks_exact(n)) {
                *i = steps[*i as usize].next::<MISSING>(x);
            }
            // (No check after the last level: every row is at its leaf.)
            let stepped = level + 1;
            if stepped >= CHECK_FROM
                && stepped < self.depth
                && stepped.is_multiple_of(CHECK_EVERY)
                && at.iter().all(|&i| self.is_leaf(i))
            {
                break;
            }
        }
        for (sum, &i) in sums.iter_mut().zip(at.iter()) {
            *sum += self.values[i as usize];
        }
    }
}

/// How one feature's value becomes its rank.
#[derive(Debug, Clone, Copy)]
enum Rank {
    /// No split reads the feature.
    Unused,
    /// One threshold (a one-hot column's 0.5): the rank is whether the value is above it.
    One(f64),
    /// Several thresholds: the rank is how many lie below the value.
    Many(Sorted),
}

/// A feature's thresholds, `cuts[start..start + len]` (sorted, `lo` the first and `hi` the
/// last), and a guide: `guides[guide + b]` is the rank of the start of the `b`-th of
/// `buckets` equal slices of `lo..hi`. A value's slice gives a rank at most a step or two
/// from its own, found by walking the few thresholds between: two or three loads instead of a
/// binary search's eleven dependent ones (ranking took a third of the walk's time before).
#[derive(Debug, Clone, Copy)]
struct Sorted {
    start: usize,
    len: usize,
    lo: f64,
    hi: f64,
    /// Buckets per unit of value.
    scale: f64,
    guide: usize,
    buckets: usize,
}

/// Guide buckets per threshold: a value's bucket holds a threshold or two on average.
const BUCKETS_PER_CUT: usize = 4;

/// Every feature's distinct split thresholds, sorted. A value's rank is how many of its
/// feature's thresholds lie below it, so for the threshold `t` with rank `k`, `x <= t` iff
/// `rank(x) <= k` (the thresholds below `x` are exactly those before some `t >= x`): a split
/// on ranks sends every row where the split on values does, to the bit.
#[derive(Debug)]
struct Bins {
    ranks: Vec<Rank>,
    cuts: Vec<f64>,
    guides: Vec<u16>,
}

impl Bins {
    /// None when ranks cannot stand in for values: a feature with more than [`MAX_CUTS`]
    /// thresholds or a NaN threshold, or more features than a ranked step can name.
    fn of(trees: &[Tree], n_features: usize) -> Option<Bins> {
        if n_features > usize::from(!RANK_DEFAULT_LEFT) + 1 {
            return None;
        }
        let mut thresholds = vec![Vec::new(); n_features];
        for node in trees.iter().flat_map(|t| &t.nodes).filter(|n| !n.is_leaf()) {
            thresholds.get_mut(node.feature as usize)?.push(node.threshold);
        }
        let mut bins = Bins { ranks: Vec::with_capacity(n_features), cuts: Vec::new(), guides: Vec::new() };
        for mut t in thresholds {
            if t.iter().any(|v| v.is_nan()) {
                return None;
            }
            t.sort_by(f64::total_cmp);
            t.dedup_by(|a, b| a == b); // -0.0 and 0.0 split alike
            let rank = match t.len() {
                0 => Rank::Unused,
                1 => Rank::One(t[0]),
                len if len <= MAX_CUTS => Rank::Many(bins.add_sorted(&t)),
                _ => return None,
            };
            bins.ranks.push(rank);
        }
        Some(bins)
    }

    /// Keeps `cuts` (sorted, distinct, at least two) and their guide.
    fn add_sorted(&mut self, cuts: &[f64]) -> Sorted {
        let (lo, hi) = (cuts[0], cuts[cuts.len() - 1]);
        let buckets = (BUCKETS_PER_CUT * cuts.len()).min(1 << 16);
        // An infinite span gives a scale of 0: every value starts at rank 0 (slow, still exact).
        let scale = buckets as f64 / (hi - lo);
        let scale = if scale.is_finite() { scale } else { 0.0 };
        let sorted = Sorted {
            start: self.cuts.len(),
            len: cuts.len(),
            lo,
            hi,
            scale,
            guide: self.guides.len(),
            buckets,
        };
        let edge = |b: usize| lo + b as f64 / scale;
        self.guides.extend((0..=buckets).map(|b| cuts.partition_point(|&c| c < edge(b)) as u16));
        self.cuts.extend_from_slice(cuts);
        sorted
    }

    /// The rank of `value` (not NaN) among `feature`'s thresholds.
    #[inline]
    fn rank(&self, feature: usize, value: f64) -> u16 {
        match self.ranks[feature] {
            Rank::Unused => 0,
            Rank::One(cut) => u16::from(cut < value),
            Rank::Many(s) => {
                if value <= s.lo {
                    return 0;
                }
                if value > s.hi {
                    return s.len as u16;
                }
                // The guess may be off either way (rounding at a bucket's edge, several
                // thresholds in one bucket): the walks below end where `cuts[r - 1] < value
                // <= cuts[r]`, whatever the guess.
                let bucket = (((value - s.lo) * s.scale) as usize).min(s.buckets);
                let mut r = usize::from(self.guides[s.guide + bucket]);
                let cuts = &self.cuts[s.start..s.start + s.len];
                while r > 0 && cuts[r - 1] >= value {
                    r -= 1;
                }
                while r < cuts.len() && cuts[r] < value {
                    r += 1;
                }
                r as u16
            }
        }
    }

    /// The ranks of one row into `out`, `value(j)` being its encoded feature `j`; whether any
    /// value was missing.
    #[inline]
    fn rank_into(&self, out: &mut [u16], value: impl Fn(usize) -> f64) -> bool {
        let mut missing = false;
        for (j, slot) in out.iter_mut().take(self.ranks.len()).enumerate() {
            let value = value(j);
            missing |= value.is_nan();
            *slot = if value.is_nan() { MISSING_RANK } else { self.rank(j, value) };
        }
        missing
    }
}

/// How a forest is walked: on ranks when [`Bins`] can stand in for the values, else on them.
enum Walk {
    Ranked { bins: Bins, trees: Vec<FlatTree<RankStep>> },
    Exact(Vec<FlatTree<ExactStep>>),
}

/// A model's forest made ready to score many rows (build it once per run, not per batch).
pub struct Scorer<'m> {
    model: &'m Model,
    walk: Walk,
    /// Some split sends a missing value left (otherwise a missing value always goes right).
    missing_left: bool,
}

/// One worker's buffers for a block.
#[derive(Default)]
struct Scratch<V> {
    rows: Vec<V>,
    at: Vec<u32>,
}

impl<'m> Scorer<'m> {
    pub fn new(model: &'m Model) -> Scorer<'m> {
        Scorer::with_bins(model, Bins::of(&model.forest.trees, model.encoder.n_features()))
    }

    /// A scorer that walks ranks with `bins` (the model's), or values without.
    fn with_bins(model: &'m Model, bins: Option<Bins>) -> Scorer<'m> {
        let trees = &model.forest.trees;
        let missing_left = trees.iter().flat_map(|t| &t.nodes).any(|n| !n.is_leaf() && n.default_left);
        let walk = match bins {
            Some(bins) => {
                let split = |node: &Node, left| {
                    let default = if node.default_left { RANK_DEFAULT_LEFT } else { 0 };
                    let rank = bins.rank(node.feature as usize, node.threshold);
                    RankStep { feature: node.feature as u16 | default, rank, left }
                };
                let leaf = |k| RankStep { feature: RANK_DEFAULT_LEFT, rank: MISSING_RANK, left: k };
                let trees = trees.iter().map(|t| FlatTree::new(t, &split, &leaf)).collect();
                Walk::Ranked { bins, trees }
            }
            None => {
                let split = |node: &Node, left| {
                    let default = if node.default_left { DEFAULT_LEFT } else { 0 };
                    ExactStep { threshold: node.threshold, feature: node.feature | default, left }
                };
                let leaf = |k| ExactStep { threshold: f64::INFINITY, feature: DEFAULT_LEFT, left: k };
                Walk::Exact(trees.iter().map(|t| FlatTree::new(t, &split, &leaf)).collect())
            }
        };
        Scorer { model, walk, missing_left }
    }

    /// P(approved) of every row of `table`, in parallel blocks.
    pub fn score(&self, table: &ApplicantTable) -> Vec<f64> {
        let (schema, columns) = (self.model.encoder.schema(), self.model.encoder.columns());
        self.score_rows(table.values(), table.stride(), |row, j| columns[j].encode(schema, row))
    }

    /// P(approved) of each row of `values` (`stride` values each) whose encoded feature `j` is
    /// `feature(row, j)`.
    fn score_rows(
        &self,
        values: &[f64],
        stride: usize,
        feature: impl Fn(&[f64], usize) -> f64 + Sync,
    ) -> Vec<f64> {
        let stride = stride.max(1);
        let n = self.model.encoder.n_features();
        let mut out = vec![0.0; values.len() / stride];
        let blocks = values.par_chunks(stride * BLOCK).zip(out.par_chunks_mut(BLOCK));
        match &self.walk {
            Walk::Ranked { bins, trees } => blocks.for_each_init(Scratch::default, |scratch, (rows, out)| {
                // Encoded and ranked in one pass: no encoded row is stored.
                let convert = |row: &[f64], slot: &mut [u16]| bins.rank_into(slot, |j| feature(row, j));
                self.block(trees, rows.chunks_exact(stride), convert, scratch, out)
            }),
            Walk::Exact(trees) => blocks.for_each_init(Scratch::default, |scratch, (rows, out)| {
                let convert = |row: &[f64], slot: &mut [f64]| {
                    for (j, slot) in slot.iter_mut().take(n).enumerate() {
                        *slot = feature(row, j);
                    }
                    slot.iter().any(|v| v.is_nan())
                };
                self.block(trees, rows.chunks_exact(stride), convert, scratch, out)
            }),
        }
        out
    }

    /// Scores one block of rows into `out`: each row turned by `convert` into what the steps
    /// read (it says whether a value was missing), then every tree's leaf value added in forest
    /// order from `predict`'s start (-0.0), so each row's sum has the same bits.
    fn block<'r, S: Step>(
        &self,
        trees: &[FlatTree<S>],
        rows: impl Iterator<Item = &'r [f64]>,
        convert: impl Fn(&[f64], &mut [S::Value]) -> bool,
        scratch: &mut Scratch<S::Value>,
        out: &mut [f64],
    ) {
        let n = self.model.encoder.n_features().max(1);
        let m = out.len();
        scratch.rows.resize(m * n, S::Value::default());
        scratch.at.resize(m, 0);
        let mut missing = false;
        for (slot, row) in scratch.rows.chunks_exact_mut(n).zip(rows) {
            missing |= convert(row, slot);
        }
        let (values, at) = (&scratch.rows[..m * n], &mut scratch.at[..m]);
        out.fill(-0.0);
        // Without a missing value in the block (or a split that sends one left), the walk
        // skips the missing-value test.
        let missing = missing && self.missing_left;
        for tree in trees {
            if missing {
                tree.add::<true>(values, n, at, out);
            } else {
                tree.add::<false>(values, n, at, out);
            }
        }
        let count = trees.len() as f64;
        for o in out.iter_mut() {
            *o /= count;
        }
    }
}

/// P(approved) of every row, in parallel blocks, tree by tree within a block, without
/// materialising the encoded table; bit-identical to `Forest::predict`.
pub fn score_table(model: &Model, table: &ApplicantTable) -> Vec<f64> {
    Scorer::new(model).score(table)
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
