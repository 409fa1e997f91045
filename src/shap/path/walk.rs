//! The passes of path-dependent TreeSHAP over a tree (the method and the layout are described in
//! `path.rs`), polynomials held by their values at the N quadrature nodes, nothing allocated.
//!
//! Why passes and not a recursion: the recursive walk this replaced ran 1.8× slower on the
//! bench forest (4.5 vs 2.5 ms a row), and neither removing its branches nor moving its state
//! into per-node arrays helped; what did was reading the records in order and keeping every
//! per-row value in a few arrays the passes read ahead of where they write. Every node runs the
//! same straight-line code: x's direction selects a number, a feature new on the path reads the
//! entry that stays 1 (L = 1, a = 1), a leaf child has value v and an internal one value 0.
//! Three passes a tree: the splits' down steps in preorder, the bottom nodes' (both children
//! leaves: their subtree is known once their parent's base is, so they need no up step), the
//! splits' up steps in reverse preorder.

// Index loops walk several fixed-size arrays in step (quadrature nodes); that is the point.
#![allow(clippy::needless_range_loop)]

use super::{Bottom, PartScratch, PathForest, Place, Split, TreeSpan, Up};
use crate::shap::isa::Isa;

type Poly<const N: usize> = [f64; N];

/// One independent sum: the (unscaled) SHAP values of `x` over `trees`, added into `part.phi`.
pub(super) struct Stream<'a> {
    pub trees: &'a [TreeSpan],
    pub x: &'a [f64],
    pub part: &'a mut PartScratch,
}

/// Runs `R` streams interleaved node by node. Each stream's arithmetic, and its order, is that
/// of the stream run alone (same bits); interleaving only gives the CPU independent work to
/// overlap with each node's chain of loads, divisions and stores on its parent's results.
pub(super) fn streams<const N: usize, const R: usize>(forest: &PathForest, streams: [Stream<'_>; R]) {
    let mut lanes = streams.map(|Stream { trees, x, part }| {
        let PartScratch { child_sum, base, leaf_sum, a_in, acc, integrand, bottom_integrand, phi, .. } = part;
        let integrand = integrand.as_chunks_mut::<N>().0;
        let bottom_integrand = bottom_integrand.as_chunks_mut::<N>().0;
        integrand.fill([0.0; N]);
        bottom_integrand.fill([0.0; N]);
        Lane {
            trees,
            x,
            work: Work {
                child_sum: child_sum.as_chunks_mut::<N>().0,
                base: base.as_chunks_mut::<N>().0,
                leaf_sum: leaf_sum.as_chunks_mut::<N>().0,
                a_in,
                acc: acc.as_chunks_mut::<N>().0,
            },
            integrand,
            bottom_integrand,
            phi,
        }
    });
    let pass = Pass::<N> { forest, t: array(&forest.rule.t) };
    match forest.isa {
        Isa::Baseline => pass.trees(&mut lanes),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx` and `Isa::Avx512` are only chosen (by `Isa::detect`, or a test
        // from `Isa::available`) when the CPU has that instruction set.
        Isa::Avx => unsafe { pass.trees_avx(&mut lanes) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { pass.trees_avx512(&mut lanes) },
    }
    let w = array::<N>(&forest.rule.w);
    for lane in lanes {
        let integrands = lane.integrand.iter().zip(lane.bottom_integrand.iter());
        for (value, (integrand, bottom)) in lane.phi.iter_mut().zip(integrands) {
            *value += dot(&w, &each(|j| integrand[j] + bottom[j]));
        }
    }
}

/// Which pass a node's step belongs to: a split's down or up, or a bottom node's only step.
#[derive(Clone, Copy)]
enum Step {
    Down,
    Bottom,
    Up,
}

impl Step {
    /// How many nodes of `tree` take this step.
    fn count(self, tree: &TreeSpan) -> usize {
        match self {
            Step::Down | Step::Up => tree.n_splits,
            Step::Bottom => tree.n_bottoms,
        }
    }
}

/// What every stream reads: the forest and the quadrature nodes.
struct Pass<'a, const N: usize> {
    forest: &'a PathForest,
    t: Poly<N>,
}

/// A stream's trees, row and working memory.
struct Lane<'a, const N: usize> {
    trees: &'a [TreeSpan],
    x: &'a [f64],
    work: Work<'a, N>,
    integrand: &'a mut [Poly<N>],
    bottom_integrand: &'a mut [Poly<N>],
    phi: &'a mut [f64],
}

/// The row's working memory seen as polynomials (see `PathScratch`).
struct Work<'a, const N: usize> {
    child_sum: &'a mut [Poly<N>],
    base: &'a mut [Poly<N>],
    leaf_sum: &'a mut [Poly<N>],
    a_in: &'a mut [f64],
    acc: &'a mut [Poly<N>],
}

impl<const N: usize> Work<'_, N> {
    /// Ready for `tree`: accumulators and child sums at 0; the root's a_in = 1 (with b = 1 its
    /// missing incoming edge books nothing).
    #[inline(always)]
    fn start(&mut self, tree: &TreeSpan) {
        self.acc[..tree.n_acc].fill([0.0; N]);
        self.child_sum.fill([0.0; N]);
        self.a_in[0] = 1.0;
    }

    /// What node `own` at `place` reads of the nodes above it: its parent's base, its own
    /// edge's a and its feature's previous edge's a.
    ///
    /// # Safety
    /// `own` and `place` are in range (`PathForest::check_layout`).
    #[inline(always)]
    unsafe fn above(&self, own: usize, place: &Place) -> (Poly<N>, f64, f64) {
        // SAFETY: the caller's.
        unsafe {
            let parent_base = *self.base.get_unchecked(place.parent as usize);
            (parent_base, *self.a_in.get_unchecked(own), *self.a_in.get_unchecked(place.prev_node as usize))
        }
    }
}

impl<const N: usize> Pass<'_, N> {
    fn trees<const R: usize>(&self, lanes: &mut [Lane<'_, N>; R]) {
        self.all_trees(lanes);
    }

    /// [`Pass::trees`] compiled for AVX (no FMA: every variant rounds identically).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn trees_avx<const R: usize>(&self, lanes: &mut [Lane<'_, N>; R]) {
        self.all_trees(lanes);
    }

    /// [`Pass::trees`] compiled for AVX-512 (no FMA, as above).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn trees_avx512<const R: usize>(&self, lanes: &mut [Lane<'_, N>; R]) {
        self.all_trees(lanes);
    }

    /// Tree i of every stream at once: their splits' down steps node by node in step, then their
    /// bottom nodes', then their splits' up steps. A stream with fewer trees or nodes just sits
    /// out the rest.
    #[inline(always)]
    fn all_trees<const R: usize>(&self, lanes: &mut [Lane<'_, N>; R]) {
        let n_trees = lanes.iter().map(|lane| lane.trees.len()).max().unwrap_or(0);
        for i in 0..n_trees {
            let spans: [TreeSpan; R] = std::array::from_fn(|r| {
                let empty =
                    TreeSpan { splits: 0, n_splits: 0, bottoms: 0, n_bottoms: 0, n_acc: 0, value: 0.0 };
                lanes[r].trees.get(i).copied().unwrap_or(empty)
            });
            for (lane, tree) in lanes.iter_mut().zip(&spans) {
                if tree.n_splits + tree.n_bottoms > 0 {
                    lane.work.start(tree);
                }
            }
            // Every stream has its first `fewest` nodes: those run without asking each stream.
            for step in [Step::Down, Step::Bottom, Step::Up] {
                let fewest = spans.iter().map(|tree| step.count(tree)).min().unwrap_or(0);
                let most = spans.iter().map(|tree| step.count(tree)).max().unwrap_or(0);
                if let Step::Up = step {
                    for n in (fewest..most).rev() {
                        self.node(step, lanes, &spans, n, true);
                    }
                    for n in (0..fewest).rev() {
                        self.node(step, lanes, &spans, n, false);
                    }
                } else {
                    for n in 0..fewest {
                        self.node(step, lanes, &spans, n, false);
                    }
                    for n in fewest..most {
                        self.node(step, lanes, &spans, n, true);
                    }
                }
            }
        }
    }

    /// Node `n`'s `step` in every stream (`checked`: only in those whose tree has it).
    #[inline(always)]
    fn node<const R: usize>(
        &self,
        step: Step,
        lanes: &mut [Lane<'_, N>; R],
        spans: &[TreeSpan; R],
        n: usize,
        checked: bool,
    ) {
        for (lane, tree) in lanes.iter_mut().zip(spans) {
            if !checked || n < step.count(tree) {
                let at = tree.splits + n;
                // SAFETY: n < the step's count, and `check_layout` proved the tree's ranges.
                match step {
                    Step::Down => self.down(lane, n, unsafe { self.forest.splits.get_unchecked(at) }),
                    Step::Bottom => {
                        let bottom = unsafe { self.forest.bottoms.get_unchecked(tree.bottoms + n) };
                        self.bottom(lane, tree.n_splits + n, bottom);
                    }
                    Step::Up => self.up(lane, n, unsafe { self.forest.ups.get_unchecked(at) }),
                }
            }
        }
    }

    /// Node `n` leaves its base (its path polynomial P = parent's base · own L, without its
    /// feature's previous factor) and its children's a and b, books its leaf children's
    /// integrand (value · (a − b) · P / L) and keeps their share of S. Each L is computed as
    /// b + (a − b) t wherever it is needed, in the same operations, so the same bits.
    #[inline(always)]
    fn down(&self, lane: &mut Lane<'_, N>, n: usize, split: &Split) {
        let t = self.t;
        let Lane { x, work, integrand, .. } = lane;
        // SAFETY (every `get_unchecked` here and in `up`): `PathForest::check_layout` proved
        // at build time that every node, accumulator, depth and feature index of a tree is in
        // range of the scratch `fit_scratch` sized, and `shap_into` asserted `x` has
        // `n_features` values.
        unsafe {
            let (parent_base, a_own, a_prev) = work.above(n, &split.place);
            let (b_own, b_prev) = (split.place.b_own, split.place.b_prev);
            let p: Poly<N> = each(|j| parent_base[j] * (b_own + (a_own - b_own) * t[j]));
            let base: Poly<N> = each(|j| p[j] / (b_prev + (a_prev - b_prev) * t[j]));
            *work.base.get_unchecked_mut(n) = base;
            let kids_a = kids_a(split.route.goes_right(*x.get_unchecked(split.feature as usize)), a_prev);
            for (kid, a) in split.kid_split.into_iter().zip(kids_a) {
                *work.a_in.get_unchecked_mut(kid as usize) = a;
            }
            let leaf_gain = split.kids.gain(kids_a);
            let constant = split.kids.leaf_constant();
            *work.leaf_sum.get_unchecked_mut(n) = each(|j| base[j] * (constant + leaf_gain * t[j]));
            let integrand = integrand.get_unchecked_mut(split.feature as usize);
            for j in 0..N {
                integrand[j] += leaf_gain * base[j];
            }
        }
    }

    /// Bottom node `own` (its `a_in` index), after the down pass: its base is its parent's times
    /// its own L over its feature's previous L (as in `down`, in another order: q = parent /
    /// L_prev first, which its incoming edge's integrand needs too); its S = base · (the leaf
    /// constant + gain · t); its incoming edge books (a − b) · S / L_own = (a − b) · q · (…).
    #[inline(always)]
    fn bottom(&self, lane: &mut Lane<'_, N>, own: usize, bottom: &Bottom) {
        let t = self.t;
        let Lane { x, work, bottom_integrand: integrand, .. } = lane;
        // SAFETY: as in `down`.
        unsafe {
            let (parent_base, a_own, a_prev) = work.above(own, &bottom.place);
            let (b_own, b_prev) = (bottom.place.b_own, bottom.place.b_prev);
            let q: Poly<N> = each(|j| parent_base[j] / (b_prev + (a_prev - b_prev) * t[j]));
            let base: Poly<N> = each(|j| q[j] * (b_own + (a_own - b_own) * t[j]));
            let kids_a = kids_a(bottom.route.goes_right(*x.get_unchecked(bottom.feature as usize)), a_prev);
            let gain = bottom.kids.gain(kids_a);
            let constant = bottom.kids.leaf_constant();
            let g: Poly<N> = each(|j| constant + gain * t[j]);
            let own_integrand = integrand.get_unchecked_mut(bottom.feature as usize);
            for j in 0..N {
                own_integrand[j] += gain * base[j];
            }
            let in_integrand = integrand.get_unchecked_mut(bottom.in_feature as usize);
            for j in 0..N {
                in_integrand[j] += (a_own - b_own) * (q[j] * g[j]);
            }
            let s: Poly<N> = each(|j| base[j] * g[j]);
            add_to(work.acc.get_unchecked_mut(bottom.prev_acc as usize), &s);
            add_to(work.leaf_sum.get_unchecked_mut(bottom.place.parent as usize), &s);
        }
    }

    /// Node `n`, reached in reverse preorder with its children summed, completes S and books
    /// its incoming edge: (a − b) · (S − the deeper same-feature part) / L.
    #[inline(always)]
    fn up(&self, lane: &mut Lane<'_, N>, n: usize, up: &Up) {
        let t = self.t;
        let Lane { work, integrand, .. } = lane;
        // SAFETY: as in `down`.
        unsafe {
            let depth = up.depth as usize;
            let children = std::mem::replace(work.child_sum.get_unchecked_mut(depth + 1), [0.0; N]);
            let leaves = *work.leaf_sum.get_unchecked(n);
            let s: Poly<N> = each(|j| leaves[j] + children[j]);
            // First: the previous edge on this node's feature may be the node's own edge.
            add_to(work.acc.get_unchecked_mut(up.prev_acc as usize), &s);
            let deeper = *work.acc.get_unchecked(up.own_acc as usize);
            let (a, b) = (*work.a_in.get_unchecked(n), up.b);
            let integrand = integrand.get_unchecked_mut(up.feature as usize);
            for j in 0..N {
                integrand[j] += (a - b) * (s[j] - deeper[j]) / (b + (a - b) * t[j]);
            }
            add_to(work.child_sum.get_unchecked_mut(depth), &s);
        }
    }
}

/// The children's a: a_prev on x's side, +0 on the other, by masking bits: LLVM compiled an
/// `if` (and `select_unpredictable`) to a jump x mispredicted half the time, which cost 4 of the
/// 22 ns a node took (issue #20's note). The toolchain of 2026-12 turns this masking into a jump
/// again in the one-row passes (blocks stay vectorized); measured then, the jump costs nothing: a
/// branch-free form (the mask hidden from LLVM) ran one row no faster and blocks 1.6× slower.
#[inline(always)]
pub(super) fn kids_a(goes_right: bool, a_prev: f64) -> [f64; 2] {
    let right = 0u64.wrapping_sub(u64::from(goes_right));
    [f64::from_bits(a_prev.to_bits() & !right), f64::from_bits(a_prev.to_bits() & right)]
}

#[inline(always)]
fn add_to<const N: usize>(y: &mut Poly<N>, x: &Poly<N>) {
    for j in 0..N {
        y[j] += x[j];
    }
}

/// `std::array::from_fn` as an always-inlined loop, for the passes' per-node arrays: whether
/// LLVM inlined `from_fn` depended on the codegen units, and the `dist` build's blocks (one unit,
/// fat LTO) ran 1.89 ms a row instead of release's 0.71 through its calls (0.77–0.80 with this).
#[inline(always)]
pub(super) fn each<T: Copy + Default, const N: usize>(mut f: impl FnMut(usize) -> T) -> [T; N] {
    let mut out = [T::default(); N];
    for (i, value) in out.iter_mut().enumerate() {
        *value = f(i);
    }
    out
}

/// The quadrature rule's nodes or weights as the passes' fixed-size array (`values` has N).
pub(super) fn array<const N: usize>(values: &[f64]) -> [f64; N] {
    let mut out = [0.0; N];
    out.copy_from_slice(values);
    out
}

fn dot<const N: usize>(u: &Poly<N>, v: &Poly<N>) -> f64 {
    let mut sum = 0.0;
    for j in 0..N {
        sum += u[j] * v[j];
    }
    sum
}
