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
//! position, whether the feature is new, where the subtree ends) is fixed per node
//! (`Link`), so the scan is a plain loop over the nodes that jumps past a subtree where no row
//! is alive: no stack of frames, no path bookkeeping per row. One `#[inline(always)]` body is
//! compiled for every instruction set the CPU may offer.

// The row sets are indexed word by word in step; that is the point.
#![allow(clippy::needless_range_loop)]

use super::{InterventionalForest, InterventionalScratch, LEAF, Link, MAX_UNIQUE};
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
/// so depth-indexed sets exist for depths 0..=depth + 1, position-indexed ones for every path
/// position (< `stride`), counters for `planes` planes, and `routes` holds every internal
/// node's set; the walk only asks for those.
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
        let step = forest.steps[root];
        self.s.alive[..words].copy_from_slice(&forest.all_rows);
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
                self.leaf(d, link.n_path as usize, step.threshold);
            } else {
                self.s.x_left[d] = step.goes_left(self.x[step.feature as usize]);
            }
            i += 1;
        }
    }

    /// The edge `link` into a node at depth d: from its parent's sets at d − 1, writes the
    /// node's failing rows of the edge's feature, alive rows, counters, which depth holds each
    /// path position's failing rows, and the positions x fails. Whether any row is alive.
    #[inline(always)]
    fn edge(&mut self, link: &Link) -> bool {
        let forest = self.forest;
        let words = self.width.words();
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
        // The rows failing the feature above: at the depth of its latest edge, or none (the
        // all-zero set past the depths) if it is new.
        let zeros = s.latest.len() as u16;
        let mut latest = s.latest[d - 1];
        let before = if link.new { zeros } else { latest[position] } as usize;
        latest[position] = d as u16;
        s.latest[d] = latest;
        if link.new {
            s.on_path[position] = link.feature;
        }
        // Rows taking the other edge fail the feature: all ones flip to left.
        let flip = if link.left { u64::MAX } else { 0 };
        // SAFETY: see `set`; `fails` holds a set per depth and the zero set past them, and
        // `before` (a depth above d, or the zero set) is never d, so the two do not overlap.
        let (route, saved, fails, (alive, child_alive)) = unsafe {
            let base = s.fails.as_mut_ptr();
            debug_assert!(before != d && (before.max(d) + 1) * words <= s.fails.len());
            (
                set(&forest.routes, link.route as usize, words),
                std::slice::from_raw_parts(base.add(before * words), words),
                std::slice::from_raw_parts_mut(base.add(d * words), words),
                pair_mut(&mut s.alive, d - 1, words),
            )
        };
        // Where x passes the feature every alive row lives; where x fails it, only the rows
        // passing it.
        let mut any = 0;
        for w in 0..words {
            let failing = saved[w] | route[w] ^ flip;
            fails[w] = failing;
            child_alive[w] = alive[w] & !(failing & !takes);
            any |= child_alive[w];
        }
        any != 0
    }

    /// A leaf of `value` at depth `d` below `n_path` distinct features, with its alive rows,
    /// reached with x failing the path positions `x_fails` (B, at depth `d`); every alive row
    /// passes those, and fails the positions of A whose failing rows hold it (M, p = |M|).
    /// Books value · W(p − 1, n_b) to each feature of M, per row, and −value · W(p, n_b − 1) to
    /// each feature of B, per row, from integer counts.
    ///
    /// The counts are taken row by row: a leaf the walk reaches holds few alive rows (on the
    /// bench's forest at 200 background rows 7 on average, 2 the median), so each row's M is
    /// gathered from the failing rows of the positions of A (one step per row failing one),
    /// and p is its popcount. The sums are then taken over p ascending from the counts, as the
    /// row-list walk (`list.rs`) takes them, so the bits are its.
    #[inline(always)]
    fn leaf(&mut self, d: usize, n_path: usize, value: f64) {
        let forest = self.forest;
        let words = self.width.words();
        let stride = forest.stride;
        let s = &mut *self.s;
        let x_fails = s.x_fails[d];
        let n_b = x_fails.count_ones() as usize;
        let passed = if n_path >= 64 { u64::MAX } else { (1u64 << n_path) - 1 } & !x_fails;
        // The positions x passes (A), listed: the j-th is `positions[j]`, its failing rows at
        // depth `sets[j]`; a row's M is held as a mask of j.
        let mut positions = [0u8; MAX_UNIQUE];
        let mut sets = [0u16; MAX_UNIQUE];
        let mut n_sets = 0;
        let latest = &s.latest[d];
        let mut a = passed;
        while a != 0 {
            let k = a.trailing_zeros() as usize;
            a &= a - 1;
            positions[n_sets] = k as u8;
            sets[n_sets] = latest[k];
            n_sets += 1;
        }
        // SAFETY: see `set`.
        let alive = unsafe { set(&s.alive, d, words) };
        let fails = &s.fails;
        let (count, credit_count) = (&mut s.count[..stride], &mut s.credit_count[..stride * stride]);
        let mut top = 0;
        let mut failing = 0u64;
        // Per bit of a word, that row's M; each entry is 0 again once read.
        let mut m_of = [0u64; 64];
        for w in 0..words {
            let a = alive[w];
            if a == 0 {
                continue;
            }
            for j in 0..n_sets {
                // SAFETY: `sets[j]` is a depth whose failing rows are a set in `fails`.
                let mut rows = unsafe { *fails.get_unchecked(*sets.get_unchecked(j) as usize * words + w) } & a;
                while rows != 0 {
                    m_of[rows.trailing_zeros() as usize] |= 1 << j;
                    rows &= rows - 1;
                }
            }
            let mut rows = a;
            while rows != 0 {
                let b = rows.trailing_zeros() as usize;
                rows &= rows - 1;
                let m = std::mem::take(&mut m_of[b]);
                let p = m.count_ones() as usize;
                top = top.max(p);
                failing |= m;
                // SAFETY: p ≤ n_sets < stride and j < n_sets: `count` holds `stride` counts,
                // `credit_count` `stride` per j.
                unsafe { *count.get_unchecked_mut(p) += 1 };
                let mut m = m;
                while m != 0 {
                    let j = m.trailing_zeros() as usize;
                    m &= m - 1;
                    // SAFETY: as above.
                    unsafe { *credit_count.get_unchecked_mut(j * stride + p) += 1 };
                }
            }
        }
        let weight = |p: usize, n: usize| forest.weights[p * stride + n];
        if n_b > 0 {
            let mut debit = 0.0;
            for p in 0..=top {
                debit += f64::from(count[p]) * weight(p, n_b - 1);
            }
            let mut b = x_fails;
            while b != 0 {
                s.phi[s.on_path[b.trailing_zeros() as usize] as usize] -= value * debit;
                b &= b - 1;
            }
        }
        count[..=top].fill(0);
        while failing != 0 {
            let j = failing.trailing_zeros() as usize;
            failing &= failing - 1;
            let counts = &mut credit_count[j * stride..][..=top];
            let mut credit = 0.0;
            for p in 1..=top {
                credit += f64::from(counts[p]) * weight(p - 1, n_b);
            }
            counts.fill(0);
            s.phi[s.on_path[positions[j] as usize] as usize] += value * credit;
        }
    }
}
