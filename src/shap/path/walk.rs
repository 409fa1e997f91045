//! The two passes of path-dependent TreeSHAP over a tree (the method and the layout are
//! described in `path.rs`), polynomials held by their values at the N quadrature nodes, nothing
//! allocated.
//!
//! Why passes and not a recursion: the recursive walk this replaced ran 1.8× slower on the
//! bench forest (4.5 vs 2.5 ms a row), and neither removing its branches nor moving its state
//! into per-node arrays helped; what did was reading the split records in order and keeping
//! every per-row value in a few depth-indexed arrays that stay in L1. Every node runs the same
//! straight-line code: x's direction selects a number, a feature new on the path reads the
//! fresh slot (L = 1, a = 1), a leaf child has value v and an internal one value 0.

// Index loops walk several fixed-size arrays in step (quadrature nodes); that is the point.
#![allow(clippy::needless_range_loop)]

use super::{PartScratch, PathForest, Split, TreeSpan, Up};
use crate::shap::isa::Isa;

type Poly<const N: usize> = [f64; N];

/// Adds the (unscaled) SHAP values of `x` over `trees` into `part.phi`.
pub(super) fn trees<const N: usize>(
    forest: &PathForest,
    trees: &[TreeSpan],
    x: &[f64],
    part: &mut PartScratch,
) {
    let PartScratch { p, l, a, child_sum, leaf_sum, a_in, acc, integrand, phi, .. } = part;
    let mut work = Work {
        p: p.as_chunks_mut::<N>().0,
        l: l.as_chunks_mut::<N>().0,
        a,
        child_sum: child_sum.as_chunks_mut::<N>().0,
        leaf_sum: leaf_sum.as_chunks_mut::<N>().0,
        a_in,
        acc: acc.as_chunks_mut::<N>().0,
    };
    let integrand = integrand.as_chunks_mut::<N>().0;
    integrand.fill([0.0; N]);
    let pass = Pass::<N> { forest, x, t: array(&forest.rule.t) };
    match forest.isa {
        Isa::Baseline => pass.trees(trees, &mut work, integrand),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx` and `Isa::Avx512` are only chosen (by `Isa::detect`, or a test
        // from `Isa::available`) when the CPU has that instruction set.
        Isa::Avx => unsafe { pass.trees_avx(trees, &mut work, integrand) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { pass.trees_avx512(trees, &mut work, integrand) },
    }
    let w = array::<N>(&forest.rule.w);
    for (value, integrand) in phi.iter_mut().zip(integrand.iter()) {
        *value += dot(&w, integrand);
    }
}

/// What the passes read: the forest, the row and the quadrature nodes.
struct Pass<'a, const N: usize> {
    forest: &'a PathForest,
    x: &'a [f64],
    t: Poly<N>,
}

/// The row's working memory seen as polynomials (see `PathScratch`).
struct Work<'a, const N: usize> {
    p: &'a mut [Poly<N>],
    l: &'a mut [Poly<N>],
    a: &'a mut [f64],
    child_sum: &'a mut [Poly<N>],
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
}

impl<const N: usize> Pass<'_, N> {
    fn trees(&self, trees: &[TreeSpan], work: &mut Work<'_, N>, integrand: &mut [Poly<N>]) {
        self.all_trees(trees, work, integrand);
    }

    /// [`Pass::trees`] compiled for AVX (no FMA: every variant rounds identically).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn trees_avx(&self, trees: &[TreeSpan], work: &mut Work<'_, N>, integrand: &mut [Poly<N>]) {
        self.all_trees(trees, work, integrand);
    }

    /// [`Pass::trees`] compiled for AVX-512 (no FMA, as above).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn trees_avx512(&self, trees: &[TreeSpan], work: &mut Work<'_, N>, integrand: &mut [Poly<N>]) {
        self.all_trees(trees, work, integrand);
    }

    #[inline(always)]
    fn all_trees(&self, trees: &[TreeSpan], work: &mut Work<'_, N>, integrand: &mut [Poly<N>]) {
        let forest = self.forest;
        for tree in trees {
            let range = tree.splits..tree.splits + tree.n_splits;
            work.start(tree);
            for (n, split) in forest.splits[range.clone()].iter().enumerate() {
                self.down(work, n, split, integrand);
            }
            for (n, up) in forest.ups[range].iter().enumerate().rev() {
                self.up(work, n, up, integrand);
            }
        }
    }

    /// Node `n` gives its children their factor L, a and path polynomial, books its leaf
    /// children's integrand (value · (a − b) · P / L) and keeps their share of S.
    #[inline(always)]
    fn down(&self, work: &mut Work<'_, N>, n: usize, split: &Split, integrand: &mut [Poly<N>]) {
        let t = self.t;
        let throwaway = self.forest.max_splits;
        // SAFETY (every `get_unchecked` here and in `up`): `PathForest::check_layout` proved
        // at build time that every slot, split, accumulator and feature index of a tree is in
        // range of the scratch `fit_scratch` sized, and `shap_into` asserted `x` has
        // `n_features` values.
        unsafe {
            let p = *work.p.get_unchecked(split.slot as usize);
            let l_prev = *work.l.get_unchecked(split.prev_slot as usize);
            let base: Poly<N> = std::array::from_fn(|j| p[j] / l_prev[j]);
            let a_prev = *work.a.get_unchecked(split.prev_slot as usize);
            let goes_right = split.goes_right(*self.x.get_unchecked(split.feature as usize));
            let first_slot = (split.slot as usize & !1) + 2;
            let mut leaf_l = [0.0; N];
            let mut leaf_gain = 0.0;
            for k in 0..2 {
                let a = if goes_right == (k == 1) { a_prev } else { 0.0 };
                let (b, value) = (split.kid_b[k], split.kid_value[k]);
                let l: Poly<N> = std::array::from_fn(|j| b + (a - b) * t[j]);
                *work.p.get_unchecked_mut(first_slot + k) = std::array::from_fn(|j| base[j] * l[j]);
                *work.l.get_unchecked_mut(first_slot + k) = l;
                *work.a.get_unchecked_mut(first_slot + k) = a;
                *work.a_in.get_unchecked_mut((split.kid_split[k] as usize).min(throwaway)) = a;
                for j in 0..N {
                    leaf_l[j] += value * l[j];
                }
                leaf_gain += value * (a - b);
            }
            *work.leaf_sum.get_unchecked_mut(n) = std::array::from_fn(|j| base[j] * leaf_l[j]);
            let integrand = integrand.get_unchecked_mut(split.feature as usize);
            for j in 0..N {
                integrand[j] += leaf_gain * base[j];
            }
        }
    }

    /// Node `n`, reached in reverse preorder with its children summed, completes S and books
    /// its incoming edge: (a − b) · (S − the deeper same-feature part) / L.
    #[inline(always)]
    fn up(&self, work: &mut Work<'_, N>, n: usize, up: &Up, integrand: &mut [Poly<N>]) {
        let t = self.t;
        // SAFETY: as in `down`.
        unsafe {
            let depth = up.depth as usize;
            let children = std::mem::replace(work.child_sum.get_unchecked_mut(depth + 1), [0.0; N]);
            let leaves = *work.leaf_sum.get_unchecked(n);
            let s: Poly<N> = std::array::from_fn(|j| leaves[j] + children[j]);
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

#[inline(always)]
fn add_to<const N: usize>(y: &mut Poly<N>, x: &Poly<N>) {
    for j in 0..N {
        y[j] += x[j];
    }
}

fn array<const N: usize>(values: &[f64]) -> Poly<N> {
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
