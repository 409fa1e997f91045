//! Growing one CART tree on binned data: depth-first over the tree's in-bag rows (a contiguous run
//! per node, partitioned in place), with a histogram split search (Gini) over the features
//! sampled at each node (each feature's cut chosen by `split`).

use super::bins::{BinnedData, MAX_BINS};
use super::split::{Candidate, Cut, PRESENT_LEFT_THRESHOLD, best_cut};
use super::tally::{Counts, Tally};
use super::tree::{Node, Tree};
use super::workspace::{LocalRow, Workspace};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// How child histograms are obtained. `Subtract` builds every feature's histogram for the smaller
/// child and derives the larger one as parent − smaller; `Sampled` builds only the sampled
/// features' histograms for each node. With k of p features sampled per split, `Sampled` costs
/// k·n per node against at least p·n/2 for `Subtract` (measured in benches/forest_fit.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistogramMode {
    Sampled,
    Subtract,
}

impl HistogramMode {
    /// The cheaper mode by the cost model above: subtraction only pays when more than half the
    /// features are sampled at each split.
    pub fn cheaper(max_features: usize, n_features: usize) -> HistogramMode {
        if 2 * max_features > n_features { HistogramMode::Subtract } else { HistogramMode::Sampled }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub min_samples_leaf: u32,
    pub max_features: usize,
}

/// A set of feature indices (below `workspace::MAX_FEATURES`).
#[derive(Debug, Clone, Copy, Default)]
struct FeatureSet([u64; 8]);

impl FeatureSet {
    fn contains(&self, f: usize) -> bool {
        self.0[f / 64] >> (f % 64) & 1 == 1
    }

    fn insert(&mut self, f: usize) {
        self.0[f / 64] |= 1 << (f % 64);
    }
}

/// One feature's histogram, indexed by bin code.
type Histogram<T> = [T; MAX_BINS];

/// Every feature's histogram of one node (`HistogramMode::Subtract`).
type FullHistograms<T> = Vec<Histogram<T>>;

/// Where a node's rows are: `start..end` of the buffer for `depth` (see `node_rows`).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    depth: usize,
}

/// The best way found to split a node.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    best: Candidate,
}

/// A node waiting to be grown: its rows are `rows[start..end]`.
struct Pending<T> {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    totals: Counts,
    /// Features found constant in an ancestor, hence constant here.
    constant: FeatureSet,
    /// Every feature's histogram of this node (only in `HistogramMode::Subtract`).
    full: Option<FullHistograms<T>>,
}

/// Grows one tree from its in-bag rows (in `ws.rows`, ascending row order at the start). A node's
/// rows are a contiguous run of `ws.rows` at even depths and of `ws.scratch` at odd depths: each
/// partition streams a node's rows from one buffer into its children's runs in the other.
pub struct Grower<'a, T: Tally, R: LocalRow> {
    data: &'a BinnedData,
    limits: Limits,
    mode: HistogramMode,
    ws: &'a mut Workspace<R>,
    /// The sampled features' histograms, in draw order.
    sampled: Vec<Histogram<T>>,
    /// 0..p, permuted by partial Fisher–Yates draws at each node.
    features: Vec<usize>,
    /// The drawn features whose histograms a node builds (those not known to be constant).
    searched: Vec<usize>,
    spare_full: Vec<FullHistograms<T>>,
    nodes: Vec<Node>,
}

impl<'a, T: Tally, R: LocalRow> Grower<'a, T, R> {
    pub fn new(data: &'a BinnedData, limits: Limits, mode: HistogramMode, ws: &'a mut Workspace<R>) -> Self {
        // Odd-depth nodes live here; partitions write before anything reads, so stale rows from
        // the previous tree do no harm.
        let n = ws.rows.len();
        if ws.scratch.len() < n {
            ws.scratch.resize(n, R::ZERO);
        }
        Grower {
            data,
            limits,
            mode,
            ws,
            sampled: Vec::new(),
            features: (0..data.n_features).collect(),
            searched: Vec::new(),
            spare_full: Vec::new(),
            nodes: Vec::new(),
        }
    }

    pub fn grow(mut self, rng: &mut ChaCha8Rng) -> Tree {
        let mut totals = Counts::default();
        self.ws.rows.iter().for_each(|r| totals.add(Counts::one(r.sample())));
        let n = self.ws.rows.len();
        let full = match self.mode {
            HistogramMode::Subtract => Some(self.full_histograms(0, n, 0)),
            HistogramMode::Sampled => None,
        };
        self.nodes.push(Node::leaf(totals.value(), totals.weight as f64));
        let mut stack = vec![Pending {
            node: 0,
            start: 0,
            end: n,
            depth: 0,
            totals,
            constant: FeatureSet::default(),
            full,
        }];
        while let Some(task) = stack.pop() {
            self.grow_node(task, rng, &mut stack);
        }
        Tree { nodes: self.nodes }
    }

    /// Whether a node with these totals at this depth is a leaf before any split is searched
    /// (scikit-learn's rules with min_samples_split = 2).
    fn must_be_leaf(&self, totals: &Counts, depth: usize) -> bool {
        depth >= self.limits.max_depth
            || totals.rows < 2
            || totals.rows < 2 * self.limits.min_samples_leaf
            || totals.is_pure()
    }

    fn grow_node(&mut self, task: Pending<T>, rng: &mut ChaCha8Rng, stack: &mut Vec<Pending<T>>) {
        let Pending { node, start, end, depth, totals, mut constant, full } = task;
        if self.must_be_leaf(&totals, depth) {
            self.recycle(full);
            return;
        }
        let Some(split) =
            self.best_split(Span { start, end, depth }, &totals, full.as_deref(), &mut constant, rng)
        else {
            self.recycle(full);
            return;
        };
        let Split { feature, best } = split;
        let right_totals = totals.minus(best.left);
        let (left_grows, right_grows) =
            (!self.must_be_leaf(&best.left, depth + 1), !self.must_be_leaf(&right_totals, depth + 1));
        // Leaves need no ordered rows: skip the partition when neither child splits further.
        let middle = if left_grows || right_grows {
            self.partition(start, end, depth, &split)
        } else {
            start + best.left.rows as usize
        };
        let (left, right) = (self.nodes.len(), self.nodes.len() + 1);
        let threshold = match best.cut {
            Cut::Between { left_bin, right_bin } => {
                self.data.bins[feature].threshold_between(left_bin, right_bin)
            }
            Cut::PresentLeft { .. } => PRESENT_LEFT_THRESHOLD,
        };
        self.nodes[node] = Node {
            threshold,
            value: totals.value(),
            cover: totals.weight as f64,
            feature: feature as u32,
            left: left as u32,
            right: right as u32,
            default_left: best.default_left,
        };
        self.nodes.push(Node::leaf(best.left.value(), best.left.weight as f64));
        self.nodes.push(Node::leaf(right_totals.value(), right_totals.weight as f64));
        let depth = depth + 1;
        let (left_full, right_full) = self.children_full_histograms(
            full,
            depth,
            (start, middle, left_grows, best.left.rows),
            (middle, end, right_grows, right_totals.rows),
        );
        // Right pushed first so the left subtree is grown first (depth-first, like scikit-learn).
        if right_grows {
            stack.push(Pending {
                node: right,
                start: middle,
                end,
                depth,
                totals: right_totals,
                constant,
                full: right_full,
            });
        }
        if left_grows {
            stack.push(Pending {
                node: left,
                start,
                end: middle,
                depth,
                totals: best.left,
                constant,
                full: left_full,
            });
        }
    }

    /// Draws features without replacement, like scikit-learn: `max_features` of them, then one at
    /// a time while every feature drawn so far is constant in the node. Returns the split with the
    /// largest Gini decrease among the drawn features (first found wins ties), if any is allowed.
    /// Features known to be constant need no histogram; those found constant join `constant`.
    fn best_split(
        &mut self,
        span: Span,
        totals: &Counts,
        full: Option<&[Histogram<T>]>,
        constant: &mut FeatureSet,
        rng: &mut ChaCha8Rng,
    ) -> Option<Split> {
        let p = self.data.n_features;
        let mut drawn = 0;
        let mut best: Option<Split> = None;
        let mut found_non_constant = false;
        let mut searched = std::mem::take(&mut self.searched);
        while drawn < p && (drawn < self.limits.max_features || !found_non_constant) {
            let batch = if drawn < self.limits.max_features { self.limits.max_features - drawn } else { 1 };
            for i in drawn..drawn + batch {
                let j = rng.random_range(i..p);
                self.features.swap(i, j);
            }
            searched.clear();
            searched.extend(self.features[drawn..drawn + batch].iter().filter(|&&f| !constant.contains(f)));
            drawn += batch;
            if full.is_none() {
                self.build_sampled_histograms(span, &searched);
            }
            for (local, &f) in searched.iter().enumerate() {
                let hist = match full {
                    Some(full) => &full[f],
                    None => &self.sampled[local],
                };
                let bins = &self.data.bins[f];
                let n_bins = bins.n_bins();
                let missing = if bins.has_missing { hist[n_bins].counts() } else { Counts::default() };
                let (non_constant, cut) =
                    best_cut(&hist[..n_bins], missing, totals, self.limits.min_samples_leaf);
                if !non_constant {
                    constant.insert(f);
                }
                found_non_constant |= non_constant;
                if let Some(cut) = cut
                    && best.is_none_or(|b| cut.proxy > b.best.proxy)
                {
                    best = Some(Split { feature: f, best: cut });
                }
            }
        }
        self.searched = searched;
        best
    }

    /// Histograms of `features` into `self.sampled[..features.len()]`.
    fn build_sampled_histograms(&mut self, span: Span, features: &[usize]) {
        if self.sampled.len() < features.len() {
            self.sampled.resize(features.len(), [T::default(); MAX_BINS]);
        }
        let histograms = &mut self.sampled[..features.len()];
        for (h, &f) in histograms.iter_mut().zip(features) {
            h[..self.data.bins[f].n_codes()].fill(T::default());
        }
        accumulate(&node_rows(self.ws, span.depth)[span.start..span.end], features, histograms);
    }

    /// Every feature's histogram of the rows `start..end` at `depth`, in a recycled buffer.
    fn full_histograms(&mut self, start: usize, end: usize, depth: usize) -> FullHistograms<T> {
        let p = self.data.n_features;
        let mut full = self.spare_full.pop().unwrap_or_default();
        full.clear();
        full.resize(p, [T::default(); MAX_BINS]);
        let all: Vec<usize> = (0..p).collect();
        accumulate(&node_rows(self.ws, depth)[start..end], &all, &mut full);
        full
    }

    fn recycle(&mut self, full: Option<FullHistograms<T>>) {
        if let Some(h) = full {
            self.spare_full.push(h);
        }
    }

    /// In `Subtract` mode: full histograms for the children that will search for a split, the
    /// smaller child's built from its rows and the larger's as parent − smaller.
    /// Each child is (start, end, grows, rows); `depth` is theirs.
    fn children_full_histograms(
        &mut self,
        parent: Option<FullHistograms<T>>,
        depth: usize,
        left: (usize, usize, bool, u32),
        right: (usize, usize, bool, u32),
    ) -> (Option<FullHistograms<T>>, Option<FullHistograms<T>>) {
        let Some(mut parent) = parent else { return (None, None) };
        if !left.2 && !right.2 {
            self.spare_full.push(parent);
            return (None, None);
        }
        let left_is_smaller = left.3 <= right.3;
        let (small, large) = if left_is_smaller { (left, right) } else { (right, left) };
        let small_full = self.full_histograms(small.0, small.1, depth);
        let large_full = if large.2 {
            for (p, s) in parent.iter_mut().zip(&small_full) {
                for (pb, sb) in p.iter_mut().zip(s) {
                    *pb = pb.minus(*sb);
                }
            }
            Some(parent)
        } else {
            self.spare_full.push(parent);
            None
        };
        let small_full = if small.2 {
            Some(small_full)
        } else {
            self.spare_full.push(small_full);
            None
        };
        if left_is_smaller { (small_full, large_full) } else { (large_full, small_full) }
    }

    /// Streams the node's rows (`start..end` at `depth`) into its children's runs at `depth + 1`:
    /// rows whose code for the split feature goes left to `start..middle`, the others to
    /// `middle..end`, where `middle` comes from the histogram's left count. Returns `middle`.
    fn partition(&mut self, start: usize, end: usize, depth: usize, split: &Split) -> usize {
        let feature = split.feature;
        let last_left = split.best.cut.last_left_bin() as u8;
        let n_left = split.best.left.rows as usize;
        let bins = &self.data.bins[feature];
        let Workspace { rows, scratch, .. } = &mut *self.ws;
        let (from, to) =
            if depth.is_multiple_of(2) { (&*rows, &mut *scratch) } else { (&*scratch, &mut *rows) };
        let (from, to) = (&from[start..end], &mut to[start..end]);
        if split.best.default_left && bins.has_missing {
            let missing = bins.n_bins() as u8;
            stream_partition(from, to, n_left, |row: &R| {
                let code = row.code(feature);
                (code <= last_left) | (code == missing)
            });
        } else {
            // Missing rows, if any, have the code after every value bin: they go right.
            stream_partition(from, to, n_left, |row: &R| row.code(feature) <= last_left);
        }
        start + n_left
    }
}

/// Copies `from` into `to`, the rows `goes_left` accepts (`n_left` of them) first, the others
/// after, each in order: one read and one write per row, the destination picked without a branch.
#[inline(always)]
fn stream_partition<R: LocalRow>(from: &[R], to: &mut [R], n_left: usize, goes_left: impl Fn(&R) -> bool) {
    let (mut left, mut right) = (0, n_left);
    for row in from {
        let l = goes_left(row);
        to[if l { left } else { right }] = *row;
        left += usize::from(l);
        right += usize::from(!l);
    }
    debug_assert_eq!((left, right), (n_left, from.len()));
}

/// The buffer holding the rows of nodes at `depth`.
fn node_rows<R: LocalRow>(ws: &Workspace<R>, depth: usize) -> &[R] {
    if depth.is_multiple_of(2) { &ws.rows } else { &ws.scratch }
}

/// Adds every row to the histogram of each feature in `features` (histograms in the same order):
/// the hot loop, reading the node's contiguous rows front to back. Features go in groups of at
/// most 8 with the group size a compile-time constant, so the per-row loop is unrolled and keeps
/// the features' offsets in registers.
fn accumulate<T: Tally, R: LocalRow>(rows: &[R], features: &[usize], histograms: &mut [Histogram<T>]) {
    for (group, hists) in features.chunks(8).zip(histograms.chunks_mut(8)) {
        match group.len() {
            1 => accumulate_group::<T, R, 1>(rows, group, hists),
            2 => accumulate_group::<T, R, 2>(rows, group, hists),
            3 => accumulate_group::<T, R, 3>(rows, group, hists),
            4 => accumulate_group::<T, R, 4>(rows, group, hists),
            5 => accumulate_group::<T, R, 5>(rows, group, hists),
            6 => accumulate_group::<T, R, 6>(rows, group, hists),
            7 => accumulate_group::<T, R, 7>(rows, group, hists),
            _ => accumulate_group::<T, R, 8>(rows, group, hists),
        }
    }
}

fn accumulate_group<T: Tally, R: LocalRow, const K: usize>(
    rows: &[R],
    features: &[usize],
    histograms: &mut [Histogram<T>],
) {
    let features: &[usize; K] = features.try_into().expect("a group of K features");
    let histograms: &mut [Histogram<T>; K] = histograms.try_into().expect("a group of K histograms");
    for row in rows {
        let one = T::one(row.sample());
        for (h, &f) in histograms.iter_mut().zip(features) {
            h[usize::from(row.code(f))].add(one);
        }
    }
}
