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
//! count fixed by the tree (8.7); the credit loop padded to whole chunks of four classes (8.0–8.3).

// The row sets are indexed word by word in step; that is the point.
#![allow(clippy::needless_range_loop)]

use super::{InterventionalForest, InterventionalScratch, LEAF, Link, MAX_UNIQUE};
use crate::shap::isa::Isa;

/// Bit planes a counter of up to `MAX_UNIQUE` (64) failed features needs.
const MAX_PLANES: usize = 7;

/// Adds the unscaled SHAP values of `x` (sums over trees and background rows) into `s.phi`.
pub(super) fn trees(forest: &InterventionalForest, x: &[f64], s: &mut InterventionalScratch) {
    // Row sets of a few words get their length compiled in (loops unrolled into vector
    // operations); `words` is padded to one of these (see `padded_words`).
    match forest.words {
        1 => on_isa(forest, x, s, Fixed::<1>),
        2 => on_isa(forest, x, s, Fixed::<2>),
        4 => on_isa(forest, x, s, Fixed::<4>),
        8 => on_isa(forest, x, s, Fixed::<8>),
        16 => on_isa(forest, x, s, Fixed::<16>),
        words => on_isa(forest, x, s, Any(words)),
    }
}

/// The words a row set of `rows` rows takes: 1, 2, 4, 8, 16 (compiled-in widths) or more.
pub(super) fn padded_words(rows: usize) -> usize {
    let words = rows.div_ceil(64).max(1);
    if words <= 16 { words.next_power_of_two() } else { words }
}

fn on_isa<N: Width>(forest: &InterventionalForest, x: &[f64], s: &mut InterventionalScratch, width: N) {
    match forest.isa {
        Isa::Baseline => Walk { forest, x, s, width, extract: Soft }.all(),
        // SAFETY (the two below): `Isa::Avx` and `Isa::Avx512` are only chosen (by
        // `Isa::detect`, or a test from `Isa::available`) when the CPU has that instruction set,
        // BMI2 included, which `Bmi2` needs.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx if forest.fast_extract => unsafe { Walk { forest, x, s, width, extract: Bmi2 }.all_avx2() },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx => unsafe { Walk { forest, x, s, width, extract: Soft }.all_avx2() },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if forest.fast_extract => unsafe {
            Walk { forest, x, s, width, extract: Bmi2 }.all_avx512()
        },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { Walk { forest, x, s, width, extract: Soft }.all_avx512() },
    }
}

/// Packs the bits of a word that a mask selects into the low bits (x86's PEXT), in software or
/// with the instruction.
trait Extract: Copy {
    fn extract(bits: u64, mask: u64) -> u64;
}

/// PEXT, one mask bit at a time: the baseline, and CPUs whose PEXT is microcoded.
#[derive(Clone, Copy)]
struct Soft;

impl Extract for Soft {
    #[inline(always)]
    fn extract(bits: u64, mask: u64) -> u64 {
        let (mut out, mut at, mut mask) = (0, 0, mask);
        while mask != 0 {
            let low = mask & mask.wrapping_neg();
            out |= u64::from(bits & low != 0) << at;
            at += 1;
            mask ^= low;
        }
        out
    }
}

/// The PEXT instruction (BMI2).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Bmi2;

#[cfg(target_arch = "x86_64")]
impl Extract for Bmi2 {
    #[inline(always)]
    fn extract(bits: u64, mask: u64) -> u64 {
        // SAFETY: a `Walk` with `Bmi2` only runs inside the AVX variants (`on_isa`), compiled
        // with BMI2 and only chosen on CPUs that have it.
        unsafe { std::arch::x86_64::_pext_u64(bits, mask) }
    }
}

/// Row set `i` of `v`, sets of `words` words.
///
/// SAFETY (of every use here): the walk runs on a scratch `fit_scratch` sized for its forest,
/// so depth-indexed sets exist for depths 0..=depth + 1 (`fails` one more: the all-zero set),
/// `counters` holds `planes` sets, `classes` one, and `routes` holds every internal node's set; the walk only
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

struct Walk<'a, N: Width, E: Extract> {
    forest: &'a InterventionalForest,
    x: &'a [f64],
    s: &'a mut InterventionalScratch,
    width: N,
    /// Only its type is used.
    #[allow(dead_code)]
    extract: E,
}

impl<N: Width, E: Extract> Walk<'_, N, E> {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,bmi1,bmi2")]
    fn all_avx2(&mut self) {
        self.all();
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx2,popcnt,bmi1,bmi2")]
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

    /// A leaf of `value` at depth `d` (reached by `link`), with its alive rows, reached with x
    /// failing the path positions `x_fails` (B, at depth `d`); every alive row passes those,
    /// and fails the positions whose failing rows hold it (M ⊆ A, p = |M|). Books
    /// value · W(p − 1, n_b) to each feature of M, per row, and −value · W(p, n_b − 1) to each
    /// feature of B, per row, from integer counts: how many rows have each p, and how many of
    /// those fail each feature.
    ///
    /// The float sums run over p ascending and skip the p no row has: the row-list walk added
    /// 0 · W = +0.0 there, an exact identity on these sums of non-negative terms (they start at
    /// +0.0), so the bits are the same. A feature gets one update a leaf (B and M are apart), so
    /// the order of the features does not matter.
    #[inline(always)]
    fn leaf(&mut self, d: usize, link: &Link, value: f64) {
        let words = self.width.words();
        // SAFETY: see `set`.
        let alive = unsafe { set(&self.s.alive, d, words) };
        let mut n_alive = 0;
        for w in 0..words {
            n_alive += alive[w].count_ones();
        }
        // The counter's planes compiled in (in registers): 4 for up to 15 features on a path.
        if n_alive > 64 {
            self.wide_leaf(d, link, value);
        } else if self.forest.planes <= 4 {
            self.packed_leaf::<4>(d, link, value, n_alive);
        } else {
            self.packed_leaf::<MAX_PLANES>(d, link, value, n_alive);
        }
    }

    /// `leaf` with at most `n_alive` ≤ 64 rows alive (most leaves: 7.5 on average, 3 the median,
    /// on the peer's forest at 200 background rows), scattered over the words of a set: each
    /// position's failing alive rows are first packed into one word (bit i: the i-th alive row),
    /// so the counting runs on one word, not on every word of the background.
    #[inline(always)]
    fn packed_leaf<const PLANES: usize>(&mut self, d: usize, link: &Link, value: f64, n_alive: u32) {
        let forest = self.forest;
        let (words, stride) = (self.width.words(), forest.stride);
        let s = &mut *self.s;
        let x_fails = s.x_fails[d];
        let n_b = x_fails.count_ones() as usize;
        let n_path = link.n_path as usize;
        // Where each path position's failing rows are.
        let latest = &forest.latest[link.latest as usize..][..n_path];
        // SAFETY: see `set`.
        let alive = unsafe { set(&s.alive, d, words) };
        // Where each word's alive rows start among the packed bits (a compiled-in width).
        let mut offsets = [0u32; 16];
        let mut at = 0;
        for w in 0..words.min(16) {
            offsets[w] = at;
            at += alive[w].count_ones();
        }
        // Only positions x passes can hold alive rows that fail them; those that do, and the
        // packed rows' p, bit-sliced.
        let mut failing = 0u64;
        let mut counter = [0u64; PLANES];
        let mut a = (if n_path >= 64 { u64::MAX } else { (1u64 << n_path) - 1 }) & !x_fails;
        while a != 0 {
            let k = a.trailing_zeros() as usize;
            a &= a - 1;
            // SAFETY: see `set`.
            let rows = unsafe { set(&s.fails, latest[k] as usize, words) };
            // Past the 64th alive row no word has alive rows: 0, shifted anywhere.
            let mut bits = 0u64;
            if words <= 16 {
                for w in 0..words {
                    bits |= E::extract(rows[w], alive[w]).wrapping_shl(offsets[w]);
                }
            } else {
                let mut at = 0;
                for w in 0..words {
                    bits |= E::extract(rows[w], alive[w]).wrapping_shl(at);
                    at += alive[w].count_ones();
                }
            }
            s.packed[k] = bits;
            failing |= u64::from(bits != 0) << k;
            count_into(&mut counter, bits);
        }
        // The rows of each p (a class: the rows whose counter planes spell p), ascending; a p
        // row's p counts failing positions. The debit adds every class (+0.0 for an empty one);
        // the nonempty classes of p ≥ 1 are listed with their credit weight W(p − 1, n_b).
        // Without B the debit is computed from a weight it does not need, and not used.
        let all = u64::MAX >> (64 - n_alive);
        let debit_weights = &forest.weights[n_b.max(1) - 1..];
        let mut debit = 0.0;
        let mut n_classes = 0;
        for p in 0..=failing.count_ones() as usize {
            let mut rows = all;
            for (q, plane) in counter.iter().enumerate() {
                // All ones where bit q of p is 0: the plane's zeros are wanted there.
                let zeros = 0u64.wrapping_sub(u64::from(p >> q & 1 == 0));
                rows &= plane ^ zeros;
            }
            debit += f64::from(rows.count_ones()) * debit_weights[p * stride];
            s.class_rows[n_classes] = rows;
            s.class_weights[n_classes] = forest.weights[(p.max(1) - 1) * stride + n_b];
            n_classes += usize::from((rows != 0) & (p > 0));
        }
        let (class_rows, class_weights) = (&s.class_rows[..n_classes], &s.class_weights[..n_classes]);
        while failing != 0 {
            let k = failing.trailing_zeros() as usize;
            failing &= failing - 1;
            let bits = s.packed[k];
            let mut credit = 0.0;
            for (rows, weight) in class_rows.iter().zip(class_weights) {
                // With no row of the class failing k this adds +0.0 to a sum ≥ +0.0: no bit changes.
                credit += f64::from((bits & rows).count_ones()) * weight;
            }
            s.phi[s.on_path[k] as usize] += value * credit;
        }
        let mut b = x_fails;
        while b != 0 {
            s.phi[s.on_path[b.trailing_zeros() as usize] as usize] -= value * debit;
            b &= b - 1;
        }
    }

    /// `leaf` with more than 64 rows alive: counts on sets of the background's width, each
    /// row's p counted from the failing sets here.
    #[inline(always)]
    fn wide_leaf(&mut self, d: usize, link: &Link, value: f64) {
        let forest = self.forest;
        let (words, planes) = (self.width.words(), forest.planes);
        let s = &mut *self.s;
        let x_fails = s.x_fails[d];
        let n_b = x_fails.count_ones() as usize;
        let n_path = link.n_path as usize;
        let latest = &forest.latest[link.latest as usize..][..n_path];
        // SAFETY: see `set`; `counters` holds `planes` sets.
        let (alive, counter) =
            unsafe { (set(&s.alive, d, words), set_mut(&mut s.counters, 0, planes * words)) };
        counter.fill(0);
        // The positions some alive row fails (only positions x passes can be), in order.
        let mut listed = [0u8; MAX_UNIQUE];
        let mut n_failing = 0;
        let mut a = (if n_path >= 64 { u64::MAX } else { (1u64 << n_path) - 1 }) & !x_fails;
        while a != 0 {
            let k = a.trailing_zeros() as usize;
            a &= a - 1;
            // SAFETY: see `set`.
            let rows = unsafe { set(&s.fails, latest[k] as usize, words) };
            let mut any = 0;
            for w in 0..words {
                let bits = rows[w] & alive[w];
                any |= bits;
                let mut carry = bits;
                for q in 0..planes {
                    let plane = &mut counter[q * words + w];
                    let next = *plane & carry;
                    *plane ^= carry;
                    carry = next;
                }
            }
            listed[n_failing] = k as u8;
            n_failing += usize::from(any != 0);
            s.credit[k] = 0.0;
        }
        let failing_sets = &s.fails;
        // SAFETY: see `set`.
        let fails = |j: usize| unsafe { set(failing_sets, latest[listed[j] as usize] as usize, words) };
        let counts = Counts { all: alive, counter, listed: &listed[..n_failing] };
        // SAFETY: see `set`; `classes` holds a set.
        let class = unsafe { set_mut(&mut s.classes, 0, words) };
        let debit = counts.book(forest, n_b, fails, class, &mut s.credit);
        let mut b = x_fails;
        while b != 0 {
            s.phi[s.on_path[b.trailing_zeros() as usize] as usize] -= value * debit;
            b &= b - 1;
        }
        for &k in &listed[..n_failing] {
            let k = k as usize;
            s.phi[s.on_path[k] as usize] += value * s.credit[k];
        }
    }
}

/// Adds the one-bit-per-row set `bits` to the bit-sliced counter `planes` (one word a plane).
#[inline(always)]
fn count_into(planes: &mut [u64], bits: u64) {
    let mut carry = bits;
    for plane in planes {
        let next = *plane & carry;
        *plane ^= carry;
        carry = next;
    }
}

/// A leaf's alive rows as sets of the background's width: all of them, their p as a bit-sliced counter (plane q, a set, holds bit q of every row's p), and
/// the path positions some of them fail.
struct Counts<'a> {
    all: &'a [u64],
    counter: &'a [u64],
    listed: &'a [u8],
}

impl Counts<'_> {
    /// Adds to `credit[k]` Σ_p W(p − 1, n_b) · (rows of that p failing k), for each listed
    /// position k (`fails(j)`: the rows failing the j-th), and returns Σ_p W(p, n_b − 1) ·
    /// (rows of that p); `class` is room for one set.
    ///
    /// The sums run over p ascending and skip the p no row has: the row-list walk added
    /// 0 · W = +0.0 there, an exact identity on these sums of non-negative terms (they start at
    /// +0.0), so the bits are the same.
    #[inline(always)]
    fn book<'f>(
        &self,
        forest: &InterventionalForest,
        n_b: usize,
        fails: impl Fn(usize) -> &'f [u64],
        class: &mut [u64],
        credit: &mut [f64],
    ) -> f64 {
        let words = self.all.len();
        let stride = forest.stride;
        // Planes above the rows' highest p bit split nothing (found without branches).
        let mut used = 0;
        for (q, plane) in self.counter.chunks_exact(words).enumerate() {
            let mut any = 0;
            for w in 0..words {
                any |= plane[w];
            }
            used = if any != 0 { q + 1 } else { used };
        }
        // A row's p counts listed positions, so p ≤ their number.
        let mut debit = 0.0;
        for p in 0..(1usize << used).min(self.listed.len() + 1) {
            // In registers for one word or a compiled-in width; else in `class`.
            let mut local = [0u64; 16];
            let rows: &mut [u64] = if words <= 16 { &mut local[..words] } else { &mut *class };
            rows.copy_from_slice(self.all);
            for (q, plane) in self.counter.chunks_exact(words).take(used).enumerate() {
                // All ones where bit q of p is 0: the plane's zeros are wanted there.
                let zeros = 0u64.wrapping_sub(u64::from(p >> q & 1 == 0));
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
                debit += f64::from(n) * forest.weights[p * stride + n_b - 1];
            }
            if p == 0 {
                continue;
            }
            let weight = forest.weights[(p - 1) * stride + n_b];
            for (j, &k) in self.listed.iter().enumerate() {
                let fails = fails(j);
                let mut n = 0;
                for w in 0..words {
                    n += (fails[w] & rows[w]).count_ones();
                }
                // Branch-free: with n = 0 this adds +0.0 to a sum ≥ +0.0, which changes no bit.
                credit[k as usize] += f64::from(n) * weight;
            }
        }
        debit
    }
}
