//! Path-dependent TreeSHAP (the game of Lundberg et al. 2018, Algorithm 2) in O(nodes × n) per
//! tree, with n = ⌈unique features on a path / 2⌉ ≤ 6 at depth 12.
//!
//! For a leaf v, let F_v be the features split on its path; for j ∈ F_v, a_j ∈ {0, 1} says x
//! satisfies every split on j along the path and b_j is the product of those edges' cover
//! ratios. The game is v(S) = Σ_v value_v Π_{j∈F_v} (a_j if j ∈ S else b_j), and its Shapley
//! value is φ_i = Σ_v value_v (a_i − b_i) ∫₀¹ Π_{j∈F_v, j≠i} (a_j t + b_j (1 − t)) dt
//! (the Shapley weights |S|!(d−|S|−1)!/d! are Beta integrals). As in Linear TreeSHAP (Yu et al.,
//! NeurIPS 2022), the products are summed bottom-up as polynomials in t, but each polynomial is
//! held by its values at Gauss–Legendre nodes: integration is then exact in f64 at any depth,
//! and dividing out a feature's factor is a pointwise division.
//!
//! A feature split twice on a path: its contribution is booked at its deepest edge, so the edge
//! into node c (feature i) takes S(c) = Σ_{leaves under c} value · P_v(t) minus S(n) of the
//! nearest nodes below c that split on i again (collected in an accumulator), divided by the
//! edge's factor L = a t + b (1 − t). A leaf's edge needs no division: S(leaf) / L = value ·
//! (the path polynomial without the feature's factor).
//!
//! Speed: each tree is straight passes over its internal nodes (see `walk.rs`): down, in
//! preorder, every split computes its path polynomial and its children's a; then every bottom
//! node (both children leaves, 40% of a depth-12 forest's) its whole subtree at once; up, in
//! reverse preorder, every split sums its subtree and books the integrand of its incoming edge.
//! All per-row state lives in a few arrays (per node a polynomial and an a, per depth a sum),
//! the records are read in order, and no branch depends on the row. The passes are compiled for
//! AVX and AVX-512 and picked at run time; every variant computes the same bits. A batch runs
//! blocks of 16 rows with the rows in the vector lanes (`block.rs`): one 4-wide operation per
//! quadrature node serves four rows.
//!
//! Issue #20, per internal node per row on the bench forest (fastest of 200 one-thread calls;
//! no hardware counters in this VM, so `perf record -e cpu-clock`, callgrind's instruction
//! counts and ablations): 22.2 ns one row at 67 instructions a node — an IPC near 1. Deleting
//! whole parts of the arithmetic (both divisions, the path polynomial, the leaf sums) changed
//! nothing; the disassembly showed why: LLVM had compiled the choice of a child's `a` into a jump
//! x's direction mispredicts half the time. Masking bits instead: 18.2 ns. The leaves' share of S
//! as c + gain · t rather than Σ value · L (ten multiply-adds a node fewer): 14.9 ns. Four rows
//! interleaved as separate streams: 17.5 ns a row; four rows in the lanes: 10.0 (divisions 0.1 ns:
//! throughput bound); eight: 8.8; sixteen: 7.4; 32: 26.6 (spills). Dropped: 8 lanes per polynomial
//! with AVX-512 (no faster than 6 with AVX), L stored instead of recomputed.
//! On a Zen 4 (one row 11.8 ns a node): instruction-bound, ~100 instructions a node down and 48
//! up at ~3.4 a cycle; the same ns with 3 trees in L2, 2% less without the divisions, 10% more
//! as one stream instead of the two halves interleaved; 8 lanes in one AVX-512 register 1.1×
//! slower; b and the leaf constant read from the records 7% faster alone but 10% slower in
//! blocks; FMA (12 instructions a node fewer, other bits) 2–4%: all dropped. Kept: leaf children's
//! a_in index fixed at build, streams' common nodes unchecked: 161 → 151 instructions a node.
//! Bottom nodes without an up step (their down and up fused, a division fewer): 133; base and a
//! per node instead of per depth slot, b from the records (no slot stores): 124 (blocks 63.5 →
//! 59 a node and row, their bases per depth: per node 58 but 3–5% slower, out of cache).
//! Dropped: routes by order keys (no NaN test a node): 1.7 instructions fewer one row, 2.3 more
//! in blocks. Then (2026-12-04): FMA in every variant (`mul_add`, same bits everywhere): 122.6 →
//! 114.8 instructions a node, ~3% faster one row, but the reference path of an x86 CPU without
//! FMA would call libm for each lane; each node's S pushed into its parent's leaf sum instead of
//! per-depth child sums: 2.7 instructions fewer, no faster, blocks slower; four streams instead
//! of two: no faster; skipping a new feature's division by 1 and its sink behind a branch on
//! the record: 1.3× slower (mispredicted).

mod block;
mod build;
mod walk;

pub(crate) use block::ROWS as BLOCK;

/// `$body` with `$n` the forest's lane count as a compile-time constant: one arm per count of
/// [`LANES`] (the passes are compiled for each).
macro_rules! with_lanes {
    ($lanes:expr, $n:ident => $body:expr) => {
        with_lanes!(@arms $lanes, $n, $body, 2 4 6 8 16 24 32 64)
    };
    (@arms $lanes:expr, $n:ident, $body:expr, $($count:literal)*) => {
        match $lanes {
            $($count => {
                const $n: usize = $count;
                $body
            })*
            other => unreachable!("unsupported lane count {other}"),
        }
    };
}

use super::isa::Isa;
use super::quadrature::GaussLegendre;
use crate::error::{Error, Result};
use crate::forest::{Forest, Tree};
use build::{Bottom, Place, Split, Up};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Deepest tree TreeSHAP accepts (recursion depth of the builder; also bounds the scratch).
pub(crate) const MAX_DEPTH: usize = 512;

/// Accumulator slot that stays zero (read by edges whose feature is not split again below).
const ZERO_ACC: u32 = 0;
/// Accumulator slots written and never read, by nodes whose feature is new on their path: node
/// n writes 1 + n mod `SINKS`, so consecutive nodes do not wait on each other's stores.
const SINKS: u32 = 8;

/// Where a tree's records are: its splits (and ups) and its bottom nodes; a tree without
/// either is the leaf `value`.
#[derive(Debug, Clone, Copy)]
struct TreeSpan {
    splits: usize,
    n_splits: usize,
    bottoms: usize,
    n_bottoms: usize,
    n_acc: usize,
    value: f64,
}

/// A forest laid out for path-dependent TreeSHAP; built once, shared read-only across threads.
#[derive(Debug, Clone)]
pub(crate) struct PathForest {
    trees: Vec<TreeSpan>,
    splits: Vec<Split>,
    ups: Vec<Up>,
    bottoms: Vec<Bottom>,
    /// Gauss–Legendre nodes and weights; `lanes` = their number.
    rule: GaussLegendre,
    lanes: usize,
    /// Largest internal node count (splits and bottoms) and accumulator count of any tree;
    /// depths the up pass sums children at (deepest split + 2).
    max_nodes: usize,
    max_acc: usize,
    depths: usize,
    n_features: usize,
    base_value: f64,
    /// The instruction set the passes run with (the widest the CPU has; same results).
    isa: Isa,
}

/// Per-thread working memory: one [`PartScratch`] per half of the forest, and a batch's block
/// of rows (sized on first use by [`PathForest::shap_block`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct PathScratch {
    halves: [PartScratch; 2],
    block8: block::BlockScratch<8>,
    block16: block::BlockScratch<BLOCK>,
}

/// Working memory for one half of the forest, sized for the largest tree; polynomials are
/// `lanes` values each.
#[derive(Debug, Clone, Default)]
struct PartScratch {
    lanes: usize,
    /// Per depth: Σ S of the finished children of the node being summed at the depth above.
    child_sum: Vec<f64>,
    /// Per split: its base, the path polynomial without its feature's factor (its children's
    /// P is it times their own L), and its leaf and bottom children's share of S; one more
    /// entry: a root's parent (base 1; a bottom root's share, thrown away).
    base: Vec<f64>,
    leaf_sum: Vec<f64>,
    /// Per internal node: a of its edge (L = b + (a − b) t is recomputed where it is read, in
    /// the same operations, rather than stored); then the entry where leaf children's a goes
    /// and one that stays 1 (a feature's edge before it is on the path).
    a_in: Vec<f64>,
    /// Per accumulator slot: Σ S of the nearest nodes below an edge splitting on its feature.
    acc: Vec<f64>,
    /// Per feature and a sink row (see `Bottom::in_feature`): the integrand booked by splits,
    /// and the one booked by bottom nodes (apart, so that the order of its sums is the same
    /// whether bottom nodes run after the down pass or in it, as in a block), integrated once
    /// at the end; per feature the (unscaled) result.
    integrand: Vec<f64>,
    bottom_integrand: Vec<f64>,
    phi: Vec<f64>,
}

impl PathForest {
    pub(crate) fn new(forest: &Forest) -> Result<PathForest> {
        let mut builder = build::Builder::new(forest.n_features);
        let mut base_sum = 0.0;
        for (t, tree) in forest.trees.iter().enumerate() {
            super::check_tree(tree, forest.n_features)
                .map_err(|e| Error::Internal(format!("tree {t}: {e}")))?;
            base_sum += cover_weighted_mean(tree);
            builder.add_tree(tree).map_err(|e| Error::Internal(format!("tree {t}: {e}")))?;
        }
        // A path with d distinct features gives integrands of degree ≤ d − 1 ≤ 2n − 1.
        let lanes = supported_lanes(builder.unique.div_ceil(2).max(1)).ok_or_else(|| {
            Error::Internal(format!(
                "a path splits on {} distinct features; TreeSHAP supports 128",
                builder.unique
            ))
        })?;
        let forest = PathForest {
            max_nodes: builder.finish(),
            max_acc: builder.trees.iter().map(|t| t.n_acc).max().unwrap_or(0),
            depths: builder.depth + 2,
            trees: builder.trees,
            splits: builder.splits,
            ups: builder.ups,
            bottoms: builder.bottoms,
            rule: GaussLegendre::new(lanes),
            lanes,
            n_features: forest.n_features,
            base_value: base_sum / forest.trees.len() as f64,
            isa: Isa::detect(),
        };
        forest.check_layout().map_err(|e| Error::Internal(format!("TreeSHAP layout: {e}")))?;
        Ok(forest)
    }

    pub(crate) fn base_value(&self) -> f64 {
        self.base_value
    }

    pub(crate) fn scratch(&self) -> PathScratch {
        let mut s = PathScratch::default();
        self.fit_scratch(&mut s);
        s
    }

    /// Sizes `s` for this forest (allocates only if it does not fit) and sets its constants:
    /// a root's parent's base 1 and a new feature's previous a = 1.
    fn fit_scratch(&self, scratch: &mut PathScratch) {
        for half in &mut scratch.halves {
            self.fit_part(half);
        }
    }

    fn fit_part(&self, s: &mut PartScratch) {
        let n = self.lanes;
        if s.lanes == n
            && s.child_sum.len() == self.depths * n
            && s.a_in.len() == self.max_nodes + 2
            && s.acc.len() == self.max_acc * n
            && s.phi.len() == self.n_features
        {
            return;
        }
        *s = PartScratch {
            lanes: n,
            child_sum: vec![0.0; self.depths * n],
            base: vec![0.0; (self.max_nodes + 1) * n],
            leaf_sum: vec![0.0; (self.max_nodes + 1) * n],
            a_in: vec![0.0; self.max_nodes + 2],
            acc: vec![0.0; self.max_acc * n],
            integrand: vec![0.0; (self.n_features + 1) * n],
            bottom_integrand: vec![0.0; (self.n_features + 1) * n],
            phi: vec![0.0; self.n_features],
        };
        s.base[self.max_nodes * n..].fill(1.0);
        s.a_in[self.max_nodes + 1] = 1.0;
    }

    /// The bounds the passes rely on instead of checking every access: every node, accumulator,
    /// depth and feature index of a tree is in range of the scratch `fit_scratch` sizes.
    fn check_layout(&self) -> std::result::Result<(), String> {
        let acc_ok = |tree: &TreeSpan, a: u32| (a as usize) < tree.n_acc && tree.n_acc <= self.max_acc;
        for tree in &self.trees {
            let internal = tree.n_splits + tree.n_bottoms;
            if internal > self.max_nodes {
                return Err("node count".into());
            }
            let place_ok = |place: &Place| {
                ((place.parent as usize) < tree.n_splits || place.parent as usize == self.max_nodes)
                    && ((place.prev_node as usize) < internal
                        || place.prev_node as usize == self.max_nodes + 1)
            };
            let bottoms =
                self.bottoms.get(tree.bottoms..tree.bottoms + tree.n_bottoms).ok_or("bottom range")?;
            for bottom in bottoms {
                if !place_ok(&bottom.place)
                    || (bottom.feature as usize) >= self.n_features
                    || (bottom.in_feature as usize) > self.n_features
                    || !acc_ok(tree, bottom.prev_acc)
                {
                    return Err(format!("a record out of range: {bottom:?}"));
                }
            }
            let splits = self.splits.get(tree.splits..tree.splits + tree.n_splits).ok_or("split range")?;
            let ups = self.ups.get(tree.splits..tree.splits + tree.n_splits).ok_or("up range")?;
            for (split, up) in splits.iter().zip(ups) {
                let kid_ok = |k: u32| (k as usize) < internal || k as usize == self.max_nodes;
                if !(place_ok(&split.place) && split.kid_split.iter().all(|&k| kid_ok(k)))
                    || (split.feature as usize) >= self.n_features
                    || (up.feature as usize) > self.n_features
                    || !(acc_ok(tree, up.own_acc) && acc_ok(tree, up.prev_acc))
                    || (up.depth as usize) + 1 >= self.depths
                {
                    return Err(format!("a record out of range: {split:?} {up:?}"));
                }
            }
        }
        Ok(())
    }

    /// Mean over trees of the leaf value `x` reaches.
    pub(crate) fn predict(&self, x: &[f64]) -> f64 {
        let total: f64 = self.trees.iter().map(|tree| self.tree_predict(tree, x)).sum();
        total / self.trees.len() as f64
    }

    fn tree_predict(&self, tree: &TreeSpan, x: &[f64]) -> f64 {
        let mut n = 0;
        while n < tree.n_splits {
            let split = &self.splits[tree.splits + n];
            let k = usize::from(split.route.goes_right(x[split.feature as usize]));
            n = split.kid_split[k] as usize;
            if n == self.max_nodes {
                return split.kids.value[k];
            }
        }
        match self.bottoms[tree.bottoms..tree.bottoms + tree.n_bottoms].get(n - tree.n_splits) {
            Some(bottom) => {
                bottom.kids.value[usize::from(bottom.route.goes_right(x[bottom.feature as usize]))]
            }
            None => tree.value,
        }
    }

    /// Adds the forest's SHAP values of `x` into `phi` (`n_features` values, zeroed by the
    /// caller), scaled to the forest mean. No allocation once `scratch` fits.
    ///
    /// The forest is summed in two halves, each alone, added in order: the bits are the same
    /// whether the halves ran on one thread or two (see [`PathForest::shap_parallel`]).
    pub(crate) fn shap_into(&self, x: &[f64], scratch: &mut PathScratch, phi: &mut [f64]) {
        assert_eq!(x.len(), self.n_features, "rows are checked before they get here");
        self.fit_scratch(scratch);
        let [a, b] = &mut scratch.halves;
        a.phi.fill(0.0);
        b.phi.fill(0.0);
        self.run([
            walk::Stream { trees: self.first_half(), x, part: a },
            walk::Stream { trees: self.second_half(), x, part: b },
        ]);
        self.add_halves(&scratch.halves[0].phi, &scratch.halves[1].phi, phi);
    }

    /// [`PathForest::shap_into`] for up to [`BLOCK`] rows at once (a batch's), the rows in the
    /// vector lanes (see `block.rs`); `phi[r]` gets row r's. Up to 8 rows run in a block of 8,
    /// more in one of 16; a short block repeats its first row in the empty lanes. Each row's
    /// values are the same bits as alone.
    pub(crate) fn shap_block(&self, x: &[&[f64]], scratch: &mut PathScratch, phi: &mut [&mut [f64]]) {
        assert!(
            (1..=BLOCK).contains(&x.len()) && phi.len() == x.len(),
            "one to {BLOCK} rows, a value vector each"
        );
        assert!(x.iter().all(|x| x.len() == self.n_features), "rows are checked before they get here");
        if x.len() <= 8 {
            self.block_of(x, &mut scratch.block8, phi);
        } else {
            self.block_of(x, &mut scratch.block16, phi);
        }
    }

    fn block_of<const R: usize>(
        &self,
        x: &[&[f64]],
        block: &mut block::BlockScratch<R>,
        phi: &mut [&mut [f64]],
    ) {
        let lanes: [&[f64]; R] = std::array::from_fn(|r| x.get(r).copied().unwrap_or(x[0]));
        block.fit(self);
        for (h, trees) in [self.first_half(), self.second_half()].into_iter().enumerate() {
            with_lanes!(self.lanes, N => block::run::<N, R>(self, trees, lanes, block, h));
        }
        let [first, second] = &block.phi;
        for (r, phi) in phi.iter_mut().enumerate() {
            self.add_halves(&first[r], &second[r], phi);
        }
    }

    /// [`PathForest::shap_into`] for a lone request on an idle machine: the second half is
    /// offered to a pool thread while this thread computes the first; if no pool thread has
    /// started it by then, this thread computes it too (the halves then one after the other,
    /// not interleaved: ~10% slower than one thread). The bits are the same either way.
    pub(crate) fn shap_parallel(self: &Arc<Self>, x: &[f64], scratch: &mut PathScratch, phi: &mut [f64]) {
        assert_eq!(x.len(), self.n_features, "rows are checked before they get here");
        self.fit_scratch(scratch);
        let offer = Arc::new(Offer::default());
        let (forest, taken, row) = (Arc::clone(self), Arc::clone(&offer), x.to_vec());
        rayon::spawn(move || {
            if !taken.claimed.swap(true, Ordering::AcqRel) {
                let mut part = PartScratch::default();
                forest.fit_part(&mut part);
                forest.shap_part(forest.second_half(), &row, &mut part);
                *lock(&taken.result) = Some(part.phi);
                taken.ready.notify_one();
            }
        });
        let [a, b] = &mut scratch.halves;
        self.shap_part(self.first_half(), x, a);
        if offer.claimed.swap(true, Ordering::AcqRel) {
            // A pool thread has it. It cannot vanish without an answer: a panic in a job given
            // to `rayon::spawn` aborts the process (rayon's default), so this wait ends.
            let mut result = lock(&offer.result);
            while result.is_none() {
                result = offer.ready.wait(result).unwrap_or_else(PoisonError::into_inner);
            }
            b.phi = result.take().unwrap_or_default();
        } else {
            self.shap_part(self.second_half(), x, b);
        }
        self.add_halves(&scratch.halves[0].phi, &scratch.halves[1].phi, phi);
    }

    fn first_half(&self) -> &[TreeSpan] {
        &self.trees[..self.trees.len().div_ceil(2)]
    }

    fn second_half(&self) -> &[TreeSpan] {
        &self.trees[self.trees.len().div_ceil(2)..]
    }

    /// φ += (first half + second half) / trees.
    fn add_halves(&self, first: &[f64], second: &[f64], phi: &mut [f64]) {
        let scale = 1.0 / self.trees.len() as f64;
        for (value, (a, b)) in phi.iter_mut().zip(first.iter().zip(second)) {
            *value += (a + b) * scale;
        }
    }

    /// The unscaled SHAP values of `x` over `trees`, into `part.phi`.
    fn shap_part(&self, trees: &[TreeSpan], x: &[f64], part: &mut PartScratch) {
        part.phi.fill(0.0);
        self.run([walk::Stream { trees, x, part }]);
    }

    /// Runs the streams interleaved (see `walk::streams`), each into its `part.phi`.
    fn run<const R: usize>(&self, streams: [walk::Stream<'_>; R]) {
        with_lanes!(self.lanes, N => walk::streams::<N, R>(self, streams));
    }
}

/// The second half of a lone explanation: whoever claims it first computes it.
#[derive(Default)]
struct Offer {
    claimed: AtomicBool,
    result: Mutex<Option<Vec<f64>>>,
    ready: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lane counts compiled in. 6 is what depth-12 forests need (12 distinct features on a path:
/// degree 11 = 2 · 6 − 1): it is a 4- and a 2-wide vector with AVX, and a quarter less
/// arithmetic than the 8 lanes they ran with before (measured in the note in `path.rs`'s
/// header). More quadrature nodes than needed stay exact, and the count does not depend on the
/// CPU: every instruction set gives the same bits.
const LANES: [usize; 8] = [2, 4, 6, 8, 16, 24, 32, 64];

fn supported_lanes(needed: usize) -> Option<usize> {
    LANES.into_iter().find(|&n| n >= needed)
}

/// Σ over leaves of value × Π cover ratios: v(∅) of the game, i.e. the tree's expected value.
fn cover_weighted_mean(tree: &Tree) -> f64 {
    let mut weight = vec![0.0; tree.nodes.len()];
    weight[0] = 1.0;
    let mut mean = 0.0;
    for (i, node) in tree.nodes.iter().enumerate() {
        if node.is_leaf() {
            mean += weight[i] * node.value;
        } else {
            for c in [node.left as usize, node.right as usize] {
                weight[c] = weight[i] * (tree.nodes[c].cover / node.cover);
            }
        }
    }
    mean
}

#[cfg(test)]
pub(crate) fn lanes_of(forest: &PathForest) -> usize {
    forest.lanes
}

/// The same forest with the passes compiled for `isa`, to check every variant gives the same bits.
#[cfg(test)]
pub(crate) fn with_isa(forest: &PathForest, isa: Isa) -> PathForest {
    PathForest { isa, ..forest.clone() }
}
