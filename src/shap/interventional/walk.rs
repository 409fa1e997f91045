//! The per-row walk of interventional TreeSHAP (the method is in `interventional.rs`): a scan
//! of each tree in preorder carrying sets of background rows as bitsets (bit r of word r / 64
//! is row r), and integer counts at the leaves; nothing allocated.
//!
//! For the node at depth d on the path it holds the alive rows, each row's p (how many path
//! features it fails) as a bit-sliced counter (plane q holds bit q of every row's p), and the
//! rows failing the feature of the edge into it. A node is one edge's few word operations
//! from its parent's sets (at depth d − 1) with the parent's precomputed routing: the rows not
//! taking it fail the feature; below an edge x fails, those die; below an edge x takes, the
//! rows newly failing the feature count one more. What the path is (each edge's feature
//! position, the depth of its previous edge, where the subtree ends) is fixed per node
//! (`Link`), so the scan is a plain loop over the nodes that jumps past a subtree where no row
//! is alive: no stack of frames, no path bookkeeping per row. One `#[inline(always)]` body is
//! compiled for every instruction set the CPU may offer.

// The row sets are indexed word by word in step; that is the point.
#![allow(clippy::needless_range_loop)]

use super::{InterventionalForest, InterventionalScratch, LEAF, Link};
use crate::shap::isa::Isa;

/// Adds the unscaled SHAP values of `x` (sums over trees and background rows) into `s.phi`.
pub(super) fn trees(forest: &InterventionalForest, x: &[f64], s: &mut InterventionalScratch) {
    // Row sets of a few words get their length compiled in (loops unrolled into vector
    // operations); `words` is padded to one of these (see `padded_words`).
    match forest.words {
        1 => on_isa(Walk { forest, x, s, width: Fixed::<1> }),
        2 => on_isa(Walk { forest, x, s, width: Fixed::<2> }),
        4 => on_isa(Walk { forest, x, s, width: Fixed::<4> }),
        8 => on_isa(Walk { forest, x, s, width: Fixed::<8> }),
        16 => on_isa(Walk { forest, x, s, width: Fixed::<16> }),
        words => on_isa(Walk { forest, x, s, width: Any(words) }),
    }
}

/// The words a row set of `rows` rows takes: 1, 2, 4, 8, 16 (compiled-in widths) or more.
pub(super) fn padded_words(rows: usize) -> usize {
    let words = rows.div_ceil(64).max(1);
    if words <= 16 { words.next_power_of_two() } else { words }
}

fn on_isa<N: Width>(mut walk: Walk<'_, N>) {
    match walk.forest.isa {
        Isa::Baseline => walk.all(),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx` and `Isa::Avx512` are only chosen (by `Isa::detect`, or a test
        // from `Isa::available`) when the CPU has that instruction set.
        Isa::Avx => unsafe { walk.all_avx2() },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { walk.all_avx512() },
    }
}

/// Row set `i` of `v`, sets of `words` words.
///
/// SAFETY (of every use here): the walk runs on a scratch `fit_scratch` sized for its forest,
/// so depth-indexed sets exist for depths 0..=depth + 1 (`fails` one more: the all-zero set),
/// counters for `planes` planes, and `routes` holds every internal node's set; the walk only
/// asks for those (the depths and sets a `Link` names are among them).
#[inline(always)]
unsafe fn set(v: &[u64], i: usize, words: usize) -> &[u64] {
    debug_assert!((i + 1) * words <= v.len());
    // A slice of exactly `words` words, so a compiled-in width unrolls the loops over it.
    unsafe { std::slice::from_raw_parts(v.as_ptr().add(i * words), words) }
}

/// `set`, writable.
#[inline(always)]
unsafe fn set_mut(v: &mut [u64], i: usize, words: usize) -> &mut [u64] {
    debug_assert!((i + 1) * words <= v.len());
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().add(i * words), words) }
}

/// Sets `i` and `i + 1` of `v`, the second writable.
#[inline(always)]
unsafe fn pair_mut(v: &mut [u64], i: usize, words: usize) -> (&[u64], &mut [u64]) {
    debug_assert!((i + 2) * words <= v.len());
    let base = unsafe { v.as_mut_ptr().add(i * words) };
    unsafe {
        (std::slice::from_raw_parts(base, words), std::slice::from_raw_parts_mut(base.add(words), words))
    }
}

/// The words in a row set: a compile-time constant, or any count.
trait Width: Copy {
    fn words(self) -> usize;
}

#[derive(Clone, Copy)]
struct Fixed<const W: usize>;

impl<const W: usize> Width for Fixed<W> {
    #[inline(always)]
    fn words(self) -> usize {
        W
    }
}

#[derive(Clone, Copy)]
struct Any(usize);

impl Width for Any {
    #[inline(always)]
    fn words(self) -> usize {
        self.0
    }
}

struct Walk<'a, N: Width> {
    forest: &'a InterventionalForest,
    x: &'a [f64],
    s: &'a mut InterventionalScratch,
    width: N,
}

impl<N: Width> Walk<'_, N> {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,bmi1")]
    fn all_avx2(&mut self) {
        self.all();
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,popcnt,bmi1")]
    fn all_avx512(&mut self) {
        self.all();
    }

    #[inline(always)]
    fn all(&mut self) {
        let forest = self.forest;
        for &root in &forest.roots {
            let root = root as usize;
            if forest.steps[root].right != LEAF {
                // A lone leaf: f is constant, every value 0.
                self.tree(root);
            }
        }
    }

    /// Scans the tree rooted at internal node `root` in preorder: every row alive at depth 0,
    /// p = 0, no feature on the path.
    #[inline(always)]
    fn tree(&mut self, root: usize) {
        let forest = self.forest;
        let words = self.width.words();
        let planes = forest.planes;
        let step = forest.steps[root];
        self.s.alive[..words].copy_from_slice(&forest.all_rows);
        self.s.counters[..planes * words].fill(0);
        self.s.x_fails[0] = 0;
        self.s.x_left[0] = step.goes_left(self.x[step.feature as usize]);
        let end = forest.links[root].end as usize;
        let mut i = root + 1;
        while i < end {
            let link = forest.links[i];
            if !self.edge(&link) {
                i = link.end as usize;
                continue;
            }
            let step = forest.steps[i];
            let d = link.depth as usize;
            if step.right == LEAF {
                self.leaf(d, &link, step.threshold);
            } else {
                self.s.x_left[d] = step.goes_left(self.x[step.feature as usize]);
            }
            i += 1;
        }
    }

    /// The edge `link` into a node at depth d: from its parent's sets at d − 1, writes the
    /// node's failing rows of the edge's feature, alive rows and counters, the positions x
    /// fails, and the edge's feature at its position. Whether any row is alive.
    #[inline(always)]
    fn edge(&mut self, link: &Link) -> bool {
        let forest = self.forest;
        let (words, planes) = (self.width.words(), forest.planes);
        let d = link.depth as usize;
        let position = link.position as usize;
        let bit = 1u64 << position;
        let s = &mut *self.s;
        // x fails the feature below this edge if it did above or goes the other way here.
        let x_fails = s.x_fails[d - 1] | if link.left == s.x_left[d - 1] { 0 } else { bit };
        s.x_fails[d] = x_fails;
        // All ones if x passes the feature below this edge, else 0: one code path for both
        // cases, not a branch on x's side that mispredicts half the time.
        let takes = 0u64.wrapping_sub(u64::from(x_fails & bit == 0));
        // The rows failing the feature above this edge (`Link::before`).
        let before = link.before as usize;
        // Where the feature is not new this writes what is there (the path above is the same).
        s.on_path[position] = link.feature;
        // Rows taking the other edge fail the feature: all ones flip to left.
        let flip = if link.left { u64::MAX } else { 0 };
        // SAFETY: see `set`; `fails` holds a set per depth and the zero set past them, and
        // `before` (a depth above d, or the zero set) is never d, so the two do not overlap.
        let (route, saved, fails, (alive, child_alive), (counters, child_counters)) = unsafe {
            let base = s.fails.as_mut_ptr();
            debug_assert!(before != d && (before.max(d) + 1) * words <= s.fails.len());
            (
                set(&forest.routes, link.route as usize, words),
                std::slice::from_raw_parts(base.add(before * words), words),
                std::slice::from_raw_parts_mut(base.add(d * words), words),
                pair_mut(&mut s.alive, d - 1, words),
                pair_mut(&mut s.counters, d - 1, planes * words),
            )
        };
        let mut any = 0;
        // Where x takes the edge every alive row lives and those newly failing count one more;
        // where x fails the feature, only rows passing it live and no count changes (the
        // carries are 0). In chunks of 16 words, the carries in registers (one chunk for a
        // compiled-in width).
        for start in (0..words).step_by(16) {
            let n = (words - start).min(16);
            let mut carry = [0u64; 16];
            for w in 0..n {
                let (at, off) = (start + w, route[start + w] ^ flip);
                let failing = saved[at] | off;
                fails[at] = failing;
                child_alive[at] = alive[at] & !(failing & !takes);
                any |= child_alive[at];
                carry[w] = off & !saved[at] & alive[at] & takes;
            }
            for q in 0..planes {
                // SAFETY: see `set`.
                let (plane, child) = unsafe { (set(counters, q, words), set_mut(child_counters, q, words)) };
                let (plane, child) = (&plane[start..][..n], &mut child[start..][..n]);
                for w in 0..n {
                    child[w] = plane[w] ^ carry[w];
                    carry[w] &= plane[w];
                }
            }
        }
        any != 0
    }

    /// A leaf of `value` at depth `d` (reached by `link`), with its alive rows and counters,
    /// reached with x failing the path positions `x_fails` (B, at depth `d`); every alive row
    /// passes those, and fails the positions whose failing rows hold it (M ⊆ A). Books value · W(p − 1, n_b) to each feature of M, per
    /// row, and −value · W(p, n_b − 1) to each feature of B, per row, from integer counts
    /// (popcounts of the rows of each p, and of those among them failing each feature).
    ///
    /// The sums run over p ascending and skip the p no row has: the row-list walk added
    /// 0 · W = +0.0 there, an exact identity on these sums of non-negative terms (they start at
    /// +0.0), so the bits are the same.
    #[inline(always)]
    fn leaf(&mut self, d: usize, link: &Link, value: f64) {
        let forest = self.forest;
        let (words, planes) = (self.width.words(), forest.planes);
        let w_stride = forest.stride;
        let s = &mut *self.s;
        let x_fails = s.x_fails[d];
        let n_b = x_fails.count_ones() as usize;
        // Where each path position's failing rows are.
        let n_path = link.n_path as usize;
        let latest = &forest.latest[link.latest as usize..][..n_path];
        // SAFETY: see `set`.
        let (alive, counters) = unsafe { (set(&s.alive, d, words), set(&s.counters, d, planes * words)) };
        let passed = if n_path >= 64 { u64::MAX } else { (1u64 << n_path) - 1 } & !x_fails;
        // The positions some alive row fails (only positions x passes can be), as a mask and
        // as a list (walked once per class below).
        let mut failing = 0u64;
        let mut listed = [0u8; 64];
        let mut n_failing = 0;
        let mut a = passed;
        while a != 0 {
            let k = a.trailing_zeros() as usize;
            a &= a - 1;
            // SAFETY: see `set`.
            let rows = unsafe { set(&s.fails, latest[k] as usize, words) };
            let mut any = 0;
            for w in 0..words {
                any |= rows[w] & alive[w];
            }
            let fails = any != 0;
            failing |= u64::from(fails) << k;
            listed[n_failing] = k as u8;
            n_failing += usize::from(fails);
            s.credit[k] = 0.0;
        }
        // Planes above the alive rows' highest p bit split nothing (found without branches).
        let mut used = 0;
        for q in 0..planes {
            // SAFETY: see `set`.
            let plane = unsafe { set(counters, q, words) };
            let mut any = 0;
            for w in 0..words {
                any |= plane[w] & alive[w];
            }
            used = if any != 0 { q + 1 } else { used };
        }
        // The alive rows of each p in turn, ascending (a class is the rows whose counter
        // planes spell p); an empty class is skipped. A row's p counts positions some alive
        // row fails, so p ≤ n_failing.
        let mut debit = 0.0;
        for p in 0..(1usize << used).min(n_failing + 1) {
            // In registers for a compiled-in width; in the scratch (one set) beyond 16 words.
            let mut local = [0u64; 16];
            let rows: &mut [u64] = if words <= 16 {
                &mut local[..words]
            } else {
                // SAFETY: see `set`; `classes` holds a set.
                unsafe { set_mut(&mut s.classes, 0, words) }
            };
            rows.copy_from_slice(alive);
            for q in 0..used {
                // All ones where bit q of p is 0: the plane's zeros are wanted there.
                let zeros = 0u64.wrapping_sub(u64::from(p >> q & 1 == 0));
                // SAFETY: see `set`.
                let plane = unsafe { set(counters, q, words) };
                for w in 0..words {
                    rows[w] &= plane[w] ^ zeros;
                }
            }
            let mut n = 0;
            for w in 0..words {
                n += rows[w].count_ones();
            }
            // Needed, not only quicker: a p no row has may pass the weights' table (p ≤ the most
            // features on a path only for p some row has).
            if n == 0 {
                continue;
            }
            if n_b > 0 {
                debit += f64::from(n) * forest.weights[p * w_stride + n_b - 1];
            }
            if p == 0 {
                continue;
            }
            let weight = forest.weights[(p - 1) * w_stride + n_b];
            for &k in &listed[..n_failing] {
                let k = k as usize;
                // SAFETY: see `set`.
                let fails = unsafe { set(&s.fails, latest[k] as usize, words) };
                let mut n = 0;
                for w in 0..words {
                    n += (fails[w] & rows[w]).count_ones();
                }
                // Branch-free: with n = 0 this adds +0.0 to a sum ≥ +0.0, which changes no bit.
                s.credit[k] += f64::from(n) * weight;
            }
        }
        if n_b > 0 {
            let mut b = x_fails;
            while b != 0 {
                s.phi[s.on_path[b.trailing_zeros() as usize] as usize] -= value * debit;
                b &= b - 1;
            }
        }
        while failing != 0 {
            let k = failing.trailing_zeros() as usize;
            failing &= failing - 1;
            s.phi[s.on_path[k] as usize] += value * s.credit[k];
        }
    }
}
