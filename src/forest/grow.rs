//! Growing one CART tree on binned data: depth-first over an in-place partitioned buffer of the
//! tree's in-bag rows, with a histogram split search (Gini) over the features sampled at each node.

use super::bins::BinnedData;
use super::tree::{Node, Tree};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// One in-bag training row: its bootstrap count and the part of it that is class 1.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub row: u32,
    pub weight: u32,
    pub positive: u32,
}

impl Sample {
    pub fn new(row: usize, count: u32, label: bool) -> Sample {
        Sample { row: row as u32, weight: count, positive: if label { count } else { 0 } }
    }
}

/// What a set of samples adds up to: distinct rows (for `min_samples_leaf`, as scikit-learn
/// counts), bootstrap weight (the cover) and class-1 weight. Exact integers, so a parent's cover
/// is the sum of its children's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub rows: u32,
    pub weight: u32,
    pub positive: u32,
}

impl Counts {
    #[inline]
    fn add_sample(&mut self, s: &Sample) {
        self.rows += 1;
        self.weight += s.weight;
        self.positive += s.positive;
    }

    #[inline]
    fn add(&mut self, other: &Counts) {
        self.rows += other.rows;
        self.weight += other.weight;
        self.positive += other.positive;
    }

    #[inline]
    fn minus(&self, other: &Counts) -> Counts {
        Counts {
            rows: self.rows - other.rows,
            weight: self.weight - other.weight,
            positive: self.positive - other.positive,
        }
    }

    pub fn of(samples: &[Sample]) -> Counts {
        let mut c = Counts::default();
        samples.iter().for_each(|s| c.add_sample(s));
        c
    }

    fn is_pure(&self) -> bool {
        self.positive == 0 || self.positive == self.weight
    }

    /// The class-1 fraction.
    fn value(&self) -> f64 {
        self.positive as f64 / self.weight as f64
    }

    /// Σ_class weight² / weight: the larger the sum of this over the children, the lower their
    /// weighted Gini impurity (scikit-learn's `proxy_impurity_improvement`).
    #[inline]
    fn gini_proxy(&self) -> f64 {
        let (w, p) = (self.weight as f64, self.positive as f64);
        let n = w - p;
        (p * p + n * n) / w
    }
}

/// How child histograms are obtained. `Subtract` builds every feature's histogram for the smaller
/// child and derives the larger one as parent − smaller; `Sampled` builds only the sampled
/// features' histograms for each node. With per-split sampling of k of p features, `Sampled`
/// costs k·n per node against p·n/2 or more for `Subtract` (see benches/forest_fit.rs).
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

/// The best way found to split a node.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    /// Last bin (non-empty in the node) that goes left, and first non-empty bin that goes right.
    left_bin: usize,
    right_bin: usize,
    left: Counts,
    proxy: f64,
}

/// A node waiting to be grown: its samples are `samples[start..end]`.
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    totals: Counts,
    /// Every feature's histogram of this node (only in `HistogramMode::Subtract`).
    full_histogram: Option<Vec<Counts>>,
}

/// Grows one tree; `samples` are the tree's in-bag rows in ascending row order (kept ascending
/// within every node by a stable partition, so codes are read front to back).
pub struct Grower<'a> {
    data: &'a BinnedData,
    limits: Limits,
    mode: HistogramMode,
    /// `offsets[f]..offsets[f + 1]` is feature f's slice of a full histogram.
    offsets: Vec<usize>,
    samples: Vec<Sample>,
    scratch: Vec<Sample>,
    /// Sampled features' histograms, laid out one after the other in draw order.
    histogram: Vec<Counts>,
    /// 0..p, permuted by partial Fisher–Yates draws at each node.
    features: Vec<usize>,
    spare_histograms: Vec<Vec<Counts>>,
    nodes: Vec<Node>,
}

impl<'a> Grower<'a> {
    pub fn new(data: &'a BinnedData, limits: Limits, mode: HistogramMode, samples: Vec<Sample>) -> Self {
        let mut offsets = vec![0];
        for b in &data.bins {
            offsets.push(offsets.last().copied().unwrap_or(0) + b.n_bins());
        }
        let total_bins = *offsets.last().unwrap_or(&0);
        Grower {
            data,
            limits,
            mode,
            offsets,
            scratch: Vec::with_capacity(samples.len()),
            samples,
            histogram: Vec::with_capacity(total_bins),
            features: (0..data.n_features).collect(),
            spare_histograms: Vec::new(),
            nodes: Vec::new(),
        }
    }

    pub fn grow(mut self, rng: &mut ChaCha8Rng) -> Tree {
        let totals = Counts::of(&self.samples);
        let full_histogram = match self.mode {
            HistogramMode::Subtract => Some(self.full_histogram_of(0, self.samples.len())),
            HistogramMode::Sampled => None,
        };
        self.nodes.push(Node::leaf(totals.value(), totals.weight as f64));
        let mut stack =
            vec![Pending { node: 0, start: 0, end: self.samples.len(), depth: 0, totals, full_histogram }];
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

    fn grow_node(&mut self, task: Pending, rng: &mut ChaCha8Rng, stack: &mut Vec<Pending>) {
        let Pending { node, start, end, depth, totals, full_histogram } = task;
        self.nodes[node] = Node::leaf(totals.value(), totals.weight as f64);
        if self.must_be_leaf(&totals, depth) {
            self.recycle(full_histogram);
            return;
        }
        let Some(split) = self.best_split(start, end, &totals, full_histogram.as_deref(), rng) else {
            self.recycle(full_histogram);
            return;
        };
        let middle = self.partition(start, end, &split);
        debug_assert_eq!(middle - start, split.left.rows as usize);
        let right_totals = totals.minus(&split.left);
        let (left, right) = (self.nodes.len(), self.nodes.len() + 1);
        let bins = &self.data.bins[split.feature];
        self.nodes[node] = Node {
            threshold: bins.threshold_between(split.left_bin, split.right_bin),
            value: totals.value(),
            cover: totals.weight as f64,
            feature: split.feature as u32,
            left: left as u32,
            right: right as u32,
        };
        self.nodes.push(Node::leaf(split.left.value(), split.left.weight as f64));
        self.nodes.push(Node::leaf(right_totals.value(), right_totals.weight as f64));
        let (left_hist, right_hist) =
            self.children_histograms(full_histogram, (start, middle, &split.left), (middle, end, &right_totals), depth + 1);
        // Right pushed first so the left subtree is grown first (depth-first, like scikit-learn).
        let child = |node, start, end, totals, full_histogram| Pending { node, start, end, depth: depth + 1, totals, full_histogram };
        stack.push(child(right, middle, end, right_totals, right_hist));
        stack.push(child(left, start, middle, split.left, left_hist));
    }

    /// Draws features without replacement, like scikit-learn: `max_features` of them, then one at
    /// a time while every feature drawn so far is constant in the node. Returns the split with the
    /// largest Gini decrease among the drawn features (first found wins ties), if any is allowed.
    fn best_split(
        &mut self,
        start: usize,
        end: usize,
        totals: &Counts,
        full_histogram: Option<&[Counts]>,
        rng: &mut ChaCha8Rng,
    ) -> Option<Split> {
        let p = self.data.n_features;
        let mut drawn = 0;
        let mut best: Option<Split> = None;
        let mut found_non_constant = false;
        while drawn < p && (drawn < self.limits.max_features || !found_non_constant) {
            let batch = if drawn < self.limits.max_features { self.limits.max_features - drawn } else { 1 };
            for i in drawn..drawn + batch {
                let j = rng.random_range(i..p);
                self.features.swap(i, j);
            }
            let batch_features = drawn..drawn + batch;
            drawn += batch;
            if full_histogram.is_none() {
                self.build_sampled_histograms(start, end, batch_features.clone());
            }
            let mut local = 0;
            for i in batch_features {
                let f = self.features[i];
                let n_bins = self.offsets[f + 1] - self.offsets[f];
                let hist = match full_histogram {
                    Some(full) => &full[self.offsets[f]..self.offsets[f + 1]],
                    None => &self.histogram[local..local + n_bins],
                };
                local += n_bins;
                let (non_constant, cut) = best_cut(hist, totals, self.limits.min_samples_leaf);
                found_non_constant |= non_constant;
                if let Some((left_bin, right_bin, left, proxy)) = cut
                    && best.is_none_or(|b| proxy > b.proxy)
                {
                    best = Some(Split { feature: f, left_bin, right_bin, left, proxy });
                }
            }
        }
        best
    }

    /// Histograms of the features `self.features[range]`, one after the other in `self.histogram`.
    fn build_sampled_histograms(&mut self, start: usize, end: usize, range: std::ops::Range<usize>) {
        let features = &self.features[range];
        let mut layout: Vec<(usize, usize)> = Vec::with_capacity(features.len());
        let mut size = 0;
        for &f in features {
            layout.push((f, size));
            size += self.offsets[f + 1] - self.offsets[f];
        }
        self.histogram.clear();
        self.histogram.resize(size, Counts::default());
        let histogram = &mut self.histogram[..];
        for s in &self.samples[start..end] {
            let row = self.data.row(s.row as usize);
            for &(f, offset) in &layout {
                histogram[offset + row[f] as usize].add_sample(s);
            }
        }
    }

    /// Every feature's histogram of `samples[start..end]`, in a recycled buffer.
    fn full_histogram_of(&mut self, start: usize, end: usize) -> Vec<Counts> {
        let total_bins = *self.offsets.last().unwrap_or(&0);
        let mut hist = self.spare_histograms.pop().unwrap_or_default();
        hist.clear();
        hist.resize(total_bins, Counts::default());
        for s in &self.samples[start..end] {
            let row = self.data.row(s.row as usize);
            for (offset, &code) in self.offsets.iter().zip(row) {
                hist[offset + code as usize].add_sample(s);
            }
        }
        hist
    }

    fn recycle(&mut self, histogram: Option<Vec<Counts>>) {
        if let Some(h) = histogram {
            self.spare_histograms.push(h);
        }
    }

    /// In `Subtract` mode: the children's full histograms, built only for children that will
    /// search for a split — directly for the smaller one, by subtraction for the larger.
    fn children_histograms(
        &mut self,
        parent: Option<Vec<Counts>>,
        left: (usize, usize, &Counts),
        right: (usize, usize, &Counts),
        depth: usize,
    ) -> (Option<Vec<Counts>>, Option<Vec<Counts>>) {
        let Some(mut parent) = parent else { return (None, None) };
        let left_needed = !self.must_be_leaf(left.2, depth);
        let right_needed = !self.must_be_leaf(right.2, depth);
        if !left_needed && !right_needed {
            self.spare_histograms.push(parent);
            return (None, None);
        }
        let left_is_smaller = left.2.rows <= right.2.rows;
        let (small, large_needed, small_needed) = if left_is_smaller {
            (left, right_needed, left_needed)
        } else {
            (right, left_needed, right_needed)
        };
        let small_hist = self.full_histogram_of(small.0, small.1);
        let large_hist = if large_needed {
            for (p, s) in parent.iter_mut().zip(&small_hist) {
                *p = p.minus(s);
            }
            Some(parent)
        } else {
            self.spare_histograms.push(parent);
            None
        };
        let small_hist = if small_needed {
            Some(small_hist)
        } else {
            self.spare_histograms.push(small_hist);
            None
        };
        if left_is_smaller { (small_hist, large_hist) } else { (large_hist, small_hist) }
    }

    /// Stable in-place partition of `samples[start..end]`: rows whose code for the split feature
    /// is at most `left_bin` first. Returns where the right part begins.
    fn partition(&mut self, start: usize, end: usize, split: &Split) -> usize {
        let p = self.data.n_features;
        let codes = &self.data.codes;
        let left_bin = split.left_bin as u8;
        self.scratch.clear();
        let mut write = start;
        for i in start..end {
            let s = self.samples[i];
            if codes[s.row as usize * p + split.feature] <= left_bin {
                self.samples[write] = s;
                write += 1;
            } else {
                self.scratch.push(s);
            }
        }
        self.samples[write..end].copy_from_slice(&self.scratch);
        write
    }
}

/// Scans one feature's histogram for the best cut between two consecutive non-empty bins that
/// leaves at least `min_leaf` rows on each side. Returns whether the feature is non-constant in
/// the node, and the best cut as (left bin, right bin, left counts, Gini proxy).
fn best_cut(hist: &[Counts], totals: &Counts, min_leaf: u32) -> (bool, Option<(usize, usize, Counts, f64)>) {
    let mut left = Counts::default();
    let mut last_non_empty: Option<usize> = None;
    let mut best: Option<(usize, usize, Counts, f64)> = None;
    let mut non_constant = false;
    for (b, h) in hist.iter().enumerate() {
        if h.rows == 0 {
            continue;
        }
        if let Some(lb) = last_non_empty {
            non_constant = true;
            let right_rows = totals.rows - left.rows;
            if right_rows < min_leaf {
                break;
            }
            if left.rows >= min_leaf {
                let proxy = left.gini_proxy() + totals.minus(&left).gini_proxy();
                if best.is_none_or(|(_, _, _, p)| proxy > p) {
                    best = Some((lb, b, left, proxy));
                }
            }
        }
        left.add(h);
        last_non_empty = Some(b);
    }
    (non_constant, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rows: u32, weight: u32, positive: u32) -> Counts {
        Counts { rows, weight, positive }
    }

    #[test]
    fn best_cut_maximises_the_gini_decrease_by_brute_force() {
        // Bins with (rows, weight, positive); empty bins in between must be skipped.
        let hist = [
            counts(3, 4, 0),
            counts(0, 0, 0),
            counts(2, 3, 1),
            counts(4, 4, 4),
            counts(0, 0, 0),
            counts(3, 5, 2),
        ];
        let mut totals = Counts::default();
        hist.iter().for_each(|h| totals.add(h));
        let gini = |c: &Counts| {
            let v = c.positive as f64 / c.weight as f64;
            c.weight as f64 * 2.0 * v * (1.0 - v)
        };
        // Brute force over every prefix of non-empty bins.
        let non_empty: Vec<usize> = (0..hist.len()).filter(|&b| hist[b].rows > 0).collect();
        let mut best = (f64::INFINITY, 0, 0, Counts::default());
        for w in non_empty.windows(2) {
            let mut left = Counts::default();
            hist[..=w[0]].iter().for_each(|h| left.add(h));
            let impurity = gini(&left) + gini(&totals.minus(&left));
            if impurity < best.0 {
                best = (impurity, w[0], w[1], left);
            }
        }
        let (non_constant, cut) = best_cut(&hist, &totals, 1);
        let (lb, rb, left, _) = cut.unwrap();
        assert!(non_constant);
        assert_eq!((lb, rb, left), (best.1, best.2, best.3));
        // By hand: the cut after bin 2 (impurity 1.714 + 4.0) beats after bin 3 (5.45 + 2.4).
        assert_eq!((lb, rb), (2, 3));
        // Rows per side: after bin 0 3|9, after bin 2 5|7, after bin 3 9|3. With at least 6 rows
        // per leaf no cut is allowed, with 5 only the one after bin 2.
        assert!(best_cut(&hist, &totals, 6).1.is_none());
        assert_eq!(best_cut(&hist, &totals, 5).1.map(|c| (c.0, c.1)), Some((2, 3)));
    }

    #[test]
    fn a_single_non_empty_bin_is_constant() {
        let hist = [counts(0, 0, 0), counts(5, 7, 3), counts(0, 0, 0)];
        let (non_constant, cut) = best_cut(&hist, &hist[1], 1);
        assert!(!non_constant && cut.is_none());
    }
}
