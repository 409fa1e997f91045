//! The two passes of `walk.rs` for a block of a batch's rows at once, the rows in the vector lanes:
//! each polynomial is N quadrature nodes × 4 rows, so one 4-wide operation serves the four rows
//! at one node, and a node's records and indices are read once for the four.
//!
//! Every value of row r is computed by the operations `walk.rs` runs for r alone, in the same
//! order (no FMA, no reassociation), so the bits are the same as a row alone. What differs is
//! only where the numbers live: the cover products b of the edges do not depend on the row and
//! stay scalars; a, the path polynomials, the sums and the integrands get one value per row.
//! Measured (issue #20's note): 4 rows interleaved as separate streams took 17.5 ns a node per
//! row; in lanes, see the note in `path.rs`.

// Index loops walk fixed-size arrays in step (quadrature nodes × rows); that is the point.
#![allow(clippy::needless_range_loop)]

use super::build::Route;
use super::walk::{array, each, kids_a};
use super::{Bottom, PathForest, Place, Split, TreeSpan, Up};
use crate::shap::isa::Isa;

/// Most rows in a block (blocks of 8 are compiled too: see `PathForest::shap_block`).
pub(crate) const ROWS: usize = 16;

type Rows<const R: usize> = [f64; R];
type Poly<const N: usize, const R: usize> = [Rows<R>; N];

/// Working memory of a block for one half of the forest (see `PartScratch` for what each holds;
/// here every polynomial and every a has a value per row). Sized by [`BlockScratch::fit`].
#[derive(Debug, Clone, Default)]
pub(crate) struct BlockScratch<const R: usize> {
    lanes: usize,
    child_sum: Vec<Rows<R>>,
    /// Per depth d + 1, unlike one row's per split: the base of the split at depth d being
    /// walked (at 0 the root's parent's, 1).
    base: Vec<Rows<R>>,
    leaf_sum: Vec<Rows<R>>,
    a_in: Vec<Rows<R>>,
    acc: Vec<Rows<R>>,
    integrand: Vec<Rows<R>>,
    bottom_integrand: Vec<Rows<R>>,
    /// Per half of the forest, per row: the unscaled SHAP values.
    pub(super) phi: [Vec<Vec<f64>>; 2],
}

impl<const R: usize> BlockScratch<R> {
    /// Sizes the scratch for `forest` (allocates only if it does not fit) and sets its
    /// constants: the root's parent's base 1 and a new feature's previous a = 1.
    pub(super) fn fit(&mut self, forest: &PathForest) {
        let n = forest.lanes;
        if self.lanes == n
            && self.child_sum.len() == forest.depths * n
            && self.a_in.len() == forest.max_nodes + 2
            && self.acc.len() == forest.max_acc * n
            && self.phi[0].first().map_or(0, Vec::len) == forest.n_features
        {
            return;
        }
        let zero = [0.0; R];
        *self = BlockScratch {
            lanes: n,
            child_sum: vec![zero; forest.depths * n],
            base: vec![zero; forest.depths * n],
            leaf_sum: vec![zero; (forest.max_nodes + 1) * n],
            a_in: vec![zero; forest.max_nodes + 2],
            acc: vec![zero; forest.max_acc * n],
            integrand: vec![zero; (forest.n_features + 1) * n],
            bottom_integrand: vec![zero; (forest.n_features + 1) * n],
            phi: std::array::from_fn(|_| vec![vec![0.0; forest.n_features]; R]),
        };
        self.base[..n].fill([1.0; R]);
        self.a_in[forest.max_nodes + 1] = [1.0; R];
    }
}

/// The unscaled SHAP values of the R rows `x` over `trees`, into `s.phi[half]` (overwritten).
pub(super) fn run<const N: usize, const R: usize>(
    forest: &PathForest,
    trees: &[TreeSpan],
    x: [&[f64]; R],
    s: &mut BlockScratch<R>,
    half: usize,
) {
    let BlockScratch { child_sum, base, leaf_sum, a_in, acc, integrand, bottom_integrand, phi, .. } = s;
    let integrand = integrand.as_chunks_mut::<N>().0;
    let bottom_integrand = bottom_integrand.as_chunks_mut::<N>().0;
    integrand.fill([[0.0; R]; N]);
    bottom_integrand.fill([[0.0; R]; N]);
    let mut work = Work {
        x,
        child_sum: child_sum.as_chunks_mut::<N>().0,
        base: base.as_chunks_mut::<N>().0,
        leaf_sum: leaf_sum.as_chunks_mut::<N>().0,
        a_in,
        acc: acc.as_chunks_mut::<N>().0,
        integrand,
        bottom_integrand,
    };
    let pass = Pass::<N, R> { forest, t: array(&forest.rule.t) };
    match forest.isa {
        Isa::Baseline => pass.trees(trees, &mut work),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx` and `Isa::Avx512` are only chosen (by `Isa::detect`, or a test
        // from `Isa::available`) when the CPU has that instruction set.
        Isa::Avx => unsafe { pass.trees_avx(trees, &mut work) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { pass.trees_avx512(trees, &mut work) },
    }
    let w: [f64; N] = array(&forest.rule.w);
    for (r, phi) in phi[half].iter_mut().enumerate() {
        let integrands = work.integrand.iter().zip(work.bottom_integrand.iter());
        for (value, (integrand, bottom)) in phi.iter_mut().zip(integrands) {
            // `walk.rs`'s dot of the two integrands' sum, row r's lane: the same sums in the same
            // order.
            let mut sum = 0.0;
            for j in 0..N {
                sum += w[j] * (integrand[j][r] + bottom[j][r]);
            }
            *value = 0.0 + sum;
        }
    }
}

struct Pass<'a, const N: usize, const R: usize> {
    forest: &'a PathForest,
    t: [f64; N],
}

/// The block's rows and working memory seen as polynomials.
struct Work<'a, const N: usize, const R: usize> {
    x: [&'a [f64]; R],
    child_sum: &'a mut [Poly<N, R>],
    base: &'a mut [Poly<N, R>],
    leaf_sum: &'a mut [Poly<N, R>],
    a_in: &'a mut [Rows<R>],
    acc: &'a mut [Poly<N, R>],
    integrand: &'a mut [Poly<N, R>],
    bottom_integrand: &'a mut [Poly<N, R>],
}

impl<const N: usize, const R: usize> Work<'_, N, R> {
    /// Per row, for node `own` at `place`: its feature's previous edge's a, and a − b of its
    /// own edge and of that previous edge.
    ///
    /// # Safety
    /// `own` and `place` are in range (`PathForest::check_layout`).
    #[inline(always)]
    unsafe fn above(&self, own: usize, place: &Place) -> (Rows<R>, Rows<R>, Rows<R>) {
        // SAFETY: the caller's.
        let (a_own, a_prev) =
            unsafe { (*self.a_in.get_unchecked(own), *self.a_in.get_unchecked(place.prev_node as usize)) };
        (a_prev, each(|r| a_own[r] - place.b_own), each(|r| a_prev[r] - place.b_prev))
    }

    /// Per row, the children's a at a node with `route` on `feature` (`walk::kids_a`).
    ///
    /// # Safety
    /// `feature` < every row's length (`shap_block` asserted `n_features` values).
    #[inline(always)]
    unsafe fn kids_a(&self, route: &Route, feature: usize, a_prev: &Rows<R>) -> [Rows<R>; 2] {
        let mut out = [[0.0; R]; 2];
        for r in 0..R {
            // SAFETY: the caller's.
            let [left, right] =
                kids_a(route.goes_right(unsafe { *self.x[r].get_unchecked(feature) }), a_prev[r]);
            (out[0][r], out[1][r]) = (left, right);
        }
        out
    }
}

impl<const N: usize, const R: usize> Pass<'_, N, R> {
    fn trees(&self, trees: &[TreeSpan], work: &mut Work<'_, N, R>) {
        self.all_trees(trees, work);
    }

    /// [`Pass::trees`] compiled for AVX (no FMA: every variant rounds identically).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn trees_avx(&self, trees: &[TreeSpan], work: &mut Work<'_, N, R>) {
        self.all_trees(trees, work);
    }

    /// [`Pass::trees`] compiled for AVX-512 (no FMA, as above).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn trees_avx512(&self, trees: &[TreeSpan], work: &mut Work<'_, N, R>) {
        self.all_trees(trees, work);
    }

    #[inline(always)]
    fn all_trees(&self, trees: &[TreeSpan], work: &mut Work<'_, N, R>) {
        let forest = self.forest;
        for tree in trees.iter().filter(|tree| tree.n_splits + tree.n_bottoms > 0) {
            work.acc[..tree.n_acc].fill([[0.0; R]; N]);
            work.child_sum.fill([[0.0; R]; N]);
            work.a_in[0] = [1.0; R];
            if tree.n_splits == 0 {
                // A bottom root: its parent's base is the root's, 1.
                // SAFETY: `check_layout` proved the tree's bottom range (one bottom here).
                self.bottom(work, 0, 0, unsafe { forest.bottoms.get_unchecked(tree.bottoms) });
            }
            for n in 0..tree.n_splits {
                // SAFETY: n < n_splits, and `check_layout` proved the tree's range.
                let (split, up) = unsafe {
                    (forest.splits.get_unchecked(tree.splits + n), forest.ups.get_unchecked(tree.splits + n))
                };
                self.down(work, n, split, up.depth as usize);
                for own in split.kid_split.map(|kid| kid as usize) {
                    if (tree.n_splits..tree.n_splits + tree.n_bottoms).contains(&own) {
                        // SAFETY: as above, own − n_splits < n_bottoms.
                        let bottom =
                            unsafe { forest.bottoms.get_unchecked(tree.bottoms + own - tree.n_splits) };
                        self.bottom(work, up.depth as usize + 1, own, bottom);
                    }
                }
            }
            for n in (0..tree.n_splits).rev() {
                // SAFETY: as above.
                let up = unsafe { forest.ups.get_unchecked(tree.splits + n) };
                self.up(work, n, up);
            }
        }
    }

    /// `walk.rs`'s `down`, each row in its lane, one quadrature node at a time (the four
    /// rows' values of a polynomial at a node are one 4-wide register; going node by node
    /// keeps a handful of them live instead of spilling whole polynomials). Its base goes to
    /// its depth's entry, not its own (16 rows' polynomials per split did not stay in cache:
    /// blocks 3–5% slower), so its bottom children run right after it, in the order `walk.rs`
    /// runs them.
    #[inline(always)]
    fn down(&self, work: &mut Work<'_, N, R>, n: usize, split: &Split, depth: usize) {
        let t = self.t;
        // SAFETY (every `get_unchecked` here and in `up`): `PathForest::check_layout` proved
        // at build time that every node, accumulator, depth and feature index of a tree is in
        // range of the scratch `BlockScratch::fit` sized, and `shap_block` asserted every row
        // has `n_features` values.
        unsafe {
            let (b_own, b_prev) = (split.place.b_own, split.place.b_prev);
            let (a_prev, d_own, d_prev) = work.above(n, &split.place);
            let feature = split.feature as usize;
            let kids_a = work.kids_a(&split.route, feature, &a_prev);
            for (kid, a) in split.kid_split.into_iter().zip(kids_a) {
                *work.a_in.get_unchecked_mut(kid as usize) = a;
            }
            let gain: Rows<R> = each(|r| split.kids.gain([kids_a[0][r], kids_a[1][r]]));
            let constant = split.kids.leaf_constant();
            let (above, below) = work.base.split_at_mut_unchecked(depth + 1);
            let (parent_base, base) = (above.get_unchecked(depth), below.get_unchecked_mut(0));
            let leaf_sum = work.leaf_sum.get_unchecked_mut(n);
            let integrand = work.integrand.get_unchecked_mut(feature);
            for j in 0..N {
                let value: Rows<R> = each(|r| {
                    let p = parent_base[j][r] * (b_own + d_own[r] * t[j]);
                    p / (b_prev + d_prev[r] * t[j])
                });
                base[j] = value;
                leaf_sum[j] = each(|r| value[r] * (constant + gain[r] * t[j]));
                integrand[j] = each(|r| integrand[j][r] + gain[r] * value[r]);
            }
        }
    }

    /// `walk.rs`'s `bottom`, each row in its lane, its parent's base at depth entry `base_at`.
    #[inline(always)]
    fn bottom(&self, work: &mut Work<'_, N, R>, base_at: usize, own: usize, bottom: &Bottom) {
        let t = self.t;
        // SAFETY: as in `down`.
        unsafe {
            let (b_own, b_prev) = (bottom.place.b_own, bottom.place.b_prev);
            let (a_prev, d_own, d_prev) = work.above(own, &bottom.place);
            let feature = bottom.feature as usize;
            let kids_a = work.kids_a(&bottom.route, feature, &a_prev);
            let gain: Rows<R> = each(|r| bottom.kids.gain([kids_a[0][r], kids_a[1][r]]));
            let constant = bottom.kids.leaf_constant();
            let parent_base = work.base.get_unchecked(base_at);
            let acc = work.acc.get_unchecked_mut(bottom.prev_acc as usize);
            let leaf_sum = work.leaf_sum.get_unchecked_mut(bottom.place.parent as usize);
            for j in 0..N {
                let q: Rows<R> = each(|r| parent_base[j][r] / (b_prev + d_prev[r] * t[j]));
                let base: Rows<R> = each(|r| q[r] * (b_own + d_own[r] * t[j]));
                let g: Rows<R> = each(|r| constant + gain[r] * t[j]);
                let own_integrand = work.bottom_integrand.get_unchecked_mut(feature);
                own_integrand[j] = each(|r| own_integrand[j][r] + gain[r] * base[r]);
                let in_integrand = work.bottom_integrand.get_unchecked_mut(bottom.in_feature as usize);
                in_integrand[j] = each(|r| in_integrand[j][r] + d_own[r] * (q[r] * g[r]));
                let s: Rows<R> = each(|r| base[r] * g[r]);
                acc[j] = each(|r| acc[j][r] + s[r]);
                leaf_sum[j] = each(|r| leaf_sum[j][r] + s[r]);
            }
        }
    }

    /// `walk.rs`'s `up`, each row in its lane, one quadrature node at a time (as `down`).
    #[inline(always)]
    fn up(&self, work: &mut Work<'_, N, R>, n: usize, up: &Up) {
        let t = self.t;
        // SAFETY: as in `down`; `prev_acc` and `own_acc` may be the same slot (a node whose
        // own edge is its feature's previous one), so they are raw pointers, read and written
        // in `walk.rs`'s order: the sum added to the first, then the second read.
        unsafe {
            let depth = up.depth as usize;
            let (above, below) = work.child_sum.split_at_mut_unchecked(depth + 1);
            let (child_sum, children) = (above.get_unchecked_mut(depth), below.get_unchecked_mut(0));
            let leaves = work.leaf_sum.get_unchecked(n);
            let prev_acc = work.acc.as_mut_ptr().add(up.prev_acc as usize).cast::<Rows<R>>();
            let own_acc = work.acc.as_ptr().add(up.own_acc as usize).cast::<Rows<R>>();
            let (a, b) = (*work.a_in.get_unchecked(n), up.b);
            let d: Rows<R> = each(|r| a[r] - b);
            let integrand = work.integrand.get_unchecked_mut(up.feature as usize);
            for j in 0..N {
                let sum: Rows<R> = each(|r| leaves[j][r] + children[j][r]);
                children[j] = [0.0; R];
                let acc = prev_acc.add(j).read();
                prev_acc.add(j).write(each(|r| acc[r] + sum[r]));
                let deeper = own_acc.add(j).read();
                let booked: Rows<R> = each(|r| d[r] * (sum[r] - deeper[r]) / (b + d[r] * t[j]));
                integrand[j] = each(|r| integrand[j][r] + booked[r]);
                child_sum[j] = each(|r| child_sum[j][r] + sum[r]);
            }
        }
    }
}
