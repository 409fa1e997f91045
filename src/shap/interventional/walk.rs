//! The per-row walk of interventional TreeSHAP (the method is in `interventional.rs`): a scan
//! of each tree in preorder carrying sets of background rows as bitsets (bit r of word r / 64
//! is row r), and integer counts at the leaves; nothing allocated.
//!
//! For the node at depth d on the path it holds the alive rows and the rows failing the
//! feature of the edge into it. A node is one edge's few word operations from its parent's sets
//! (at depth d − 1) with the parent's precomputed routing: the rows not taking it fail the
//! feature; below an edge x fails, those die. What the path is (each edge's feature position,
//! the depth of its previous edge, where the subtree ends) is fixed per node (`Link`), so the
//! scan is a plain loop over the nodes that jumps past a subtree where no row is alive: no
//! stack of frames, no path bookkeeping per row. A leaf counts each alive row's failed path
//! features from the failing sets of the path's positions (packed into one word when at most 64
//! rows are alive). One `#[inline(always)]` body is compiled for every instruction set the CPU
//! may offer.
//!
//! Tried and dropped (one thread, 200 background rows, `SHAP_BENCH_PROFILE=40`): a bit-sliced
//! counter of every row's p carried on the edges (10.2 ms a row, against 8.0 counting at the
//! leaf); a leaf packing every path position instead of only those x passes, so its loop runs a
//! count fixed by the tree (8.7); the credit loop padded to whole chunks of four classes
//! (8.0–8.3); a shortcut for one alive row (no gain beyond noise); PEXT in software where the
//! instruction is slow (12.0 ms; counting on the whole width there: 7.9).

// The row sets are indexed word by word in step; that is the point.
#![allow(clippy::needless_range_loop)]

mod block;
mod leaf;

pub(in crate::shap) use block::BLOCK_ROWS;
pub(super) use block::{BlockScratch, rows as block_rows};

use super::{InterventionalForest, InterventionalScratch, LEAF, Link, MAX_UNIQUE};
use crate::shap::isa::Isa;

/// Bit planes a counter of up to `MAX_UNIQUE` (64) failed features needs.
const MAX_PLANES: usize = 7;

/// Adds the unscaled SHAP values of `x` (sums over trees and background rows) into `s.phi`.
pub(super) fn trees(forest: &InterventionalForest, x: &[f64], s: &mut InterventionalScratch) {
    run(forest, &mut Row { x, s });
}

/// One row's walk, as a `Scan`.
struct Row<'a> {
    x: &'a [f64],
    s: &'a mut InterventionalScratch,
}

impl Scan for Row<'_> {
    #[inline(always)]
    fn scan<N: Width, const PEXT: bool>(&mut self, forest: &InterventionalForest, width: N) {
        let mut walk = Walk::<N, PEXT> { forest, x: self.x, s: &mut *self.s, width };
        for root in split_roots(forest) {
            walk.tree(root);
        }
    }
}

/// A scan of every tree, compiled per row-set width and per `PEXT` (as `Walk`'s): the single-row
/// walk and the block walk (`block.rs`); `run` picks the variant for the forest and the CPU.
trait Scan {
    fn scan<N: Width, const PEXT: bool>(&mut self, forest: &InterventionalForest, width: N);
}

/// Runs `scan` with the forest's row-set width compiled in where it is one of a few (loops
/// unrolled into vector operations; `words` is padded to one of these, see `padded_words`), for
/// the widest instruction set the forest was built for.
fn run(forest: &InterventionalForest, scan: &mut impl Scan) {
    match forest.words {
        1 => on_isa(forest, scan, Fixed::<1>),
        2 => on_isa(forest, scan, Fixed::<2>),
        4 => on_isa(forest, scan, Fixed::<4>),
        8 => on_isa(forest, scan, Fixed::<8>),
        16 => on_isa(forest, scan, Fixed::<16>),
        words => on_isa(forest, scan, Any(words)),
    }
}

/// The words a row set of `rows` rows takes: 1, 2, 4, 8, 16 (compiled-in widths) or more.
pub(super) fn padded_words(rows: usize) -> usize {
    let words = rows.div_ceil(64).max(1);
    if words <= 16 { words.next_power_of_two() } else { words }
}

fn on_isa<S: Scan, N: Width>(forest: &InterventionalForest, scan: &mut S, width: N) {
    match forest.isa {
        Isa::Baseline => scan.scan::<N, false>(forest, width),
        // SAFETY (the four below): `Isa::Avx` and `Isa::Avx512` are only chosen (by
        // `Isa::detect`, or a test from `Isa::available`) when the CPU has that instruction set,
        // BMI2 (PEXT) included.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx if forest.fast_extract => unsafe { avx2::<S, N, true>(forest, scan, width) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx => unsafe { avx2::<S, N, false>(forest, scan, width) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if forest.fast_extract => unsafe { avx512::<S, N, true>(forest, scan, width) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512::<S, N, false>(forest, scan, width) },
    }
}

/// `scan`, compiled with AVX2 (and what the AVX tier requires).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1,bmi2")]
fn avx2<S: Scan, N: Width, const PEXT: bool>(forest: &InterventionalForest, scan: &mut S, width: N) {
    scan.scan::<N, PEXT>(forest, width);
}

/// `scan`, compiled with AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2,popcnt,bmi1,bmi2")]
fn avx512<S: Scan, N: Width, const PEXT: bool>(forest: &InterventionalForest, scan: &mut S, width: N) {
    scan.scan::<N, PEXT>(forest, width);
}

/// The trees that are not a lone leaf (one is constant: every value 0), by their roots.
#[inline(always)]
fn split_roots(forest: &InterventionalForest) -> impl Iterator<Item = usize> + '_ {
    forest.roots.iter().map(|&root| root as usize).filter(|&root| forest.steps[root].right != LEAF)
}

/// PEXT: packs the bits of `bits` that `mask` selects into the low bits. Only walks with
/// `PEXT` call it: the AVX variants (compiled with BMI2, chosen on CPUs that have it) where the
/// instruction is quick.
#[inline(always)]
fn pext(bits: u64, mask: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: see above; `on_isa` builds a walk with `PEXT` only in those variants.
    return unsafe { std::arch::x86_64::_pext_u64(bits, mask) };
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("walks with PEXT are built on x86_64 only (`on_isa`), not {bits} {mask}")
}

/// Row set `i` of `v`, sets of `words` words.
///
/// SAFETY (of every use here): the walk runs on a scratch `fit_scratch` sized for its forest,
/// so depth-indexed sets exist for depths 0..=depth + 1 (`fails` one more: the all-zero set),
/// `counters` holds `planes` sets, `classes` one, and `routes` holds every internal node's set;
/// the walk only asks for those (the depths and sets a `Link` names are among them).
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

/// `PEXT`: whether a leaf whose alive rows do not fold into one word packs them with PEXT (else
/// it counts them on the whole width).
struct Walk<'a, N: Width, const PEXT: bool> {
    forest: &'a InterventionalForest,
    x: &'a [f64],
    s: &'a mut InterventionalScratch,
    width: N,
}

impl<N: Width, const PEXT: bool> Walk<'_, N, PEXT> {
    /// Scans the tree rooted at internal node `root` in preorder: every row alive at depth 0,
    /// no feature on the path.
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
                self.leaf(d, &link, step.threshold);
            } else {
                self.s.x_left[d] = step.goes_left(self.x[step.feature as usize]);
            }
            i += 1;
        }
    }

    /// The edge `link` into a node at depth d: from its parent's sets at d − 1, writes the
    /// node's failing rows of the edge's feature and alive rows, the positions x fails, and the
    /// edge's feature at its position. Whether any row is alive.
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
        // The rows failing the feature above this edge (`Link::before`).
        let before = link.before as usize;
        // Where the feature is not new this writes what is there (the path above is the same).
        s.on_path[position] = link.feature;
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
        // Where x takes the edge every alive row lives; where x fails the feature, only rows
        // passing it live.
        let mut any = 0;
        for w in 0..words {
            let failing = saved[w] | (route[w] ^ flip);
            fails[w] = failing;
            child_alive[w] = alive[w] & !(failing & !takes);
            any |= child_alive[w];
        }
        any != 0
    }
}
