//! A leaf of the interventional walk (`walk.rs`): counts its alive background rows by how many
//! of the path's features each fails, and books the leaf's value to the SHAP sums.

// The row sets are indexed word by word in step; that is the point.
#![allow(clippy::needless_range_loop)]

use super::{InterventionalScratch, Link, MAX_PLANES, MAX_UNIQUE, Walk, Width, pext, set, set_mut};
use crate::shap::interventional::InterventionalForest;

/// A leaf as the walk reaches it.
struct Reached<'f> {
    /// Its depth, and how many path features x fails (B).
    d: usize,
    n_b: usize,
    /// The positions x passes: only those can hold alive rows that fail them.
    passed: u64,
    /// Per path position, the depth whose failing set holds the rows failing it.
    latest: &'f [u16],
}

impl<N: Width, const PEXT: bool> Walk<'_, N, PEXT> {
    /// A leaf of `value` at depth `d` (reached by `link`): books its `sums` to x's SHAP sums.
    #[inline(always)]
    pub(super) fn leaf(&mut self, d: usize, link: &Link, value: f64) {
        let (credited, debit) = self.sums(d, link);
        let s = &mut *self.s;
        book(&mut s.phi, &s.on_path, &s.credit, credited, s.x_fails[d], value, debit);
    }

    /// The counts of a leaf at depth `d` (reached by `link`), with its alive rows, reached with
    /// x failing the path positions `x_fails` (B, at depth `d`); every alive row passes those,
    /// and fails the positions whose failing rows hold it (M ⊆ A, p = |M|). Each feature of M
    /// is owed value · W(p − 1, n_b) per row, each feature of B −value · W(p, n_b − 1) per row;
    /// both are summed from integer counts: how many rows have each p, and how many of those
    /// fail each feature. Returns the positions credited (their sums Σ W(p − 1, n_b) left in
    /// `credit`) and the debit Σ W(p, n_b − 1) (meaningless without B).
    ///
    /// The float sums run over p ascending and skip the p no row has: the row-list walk added
    /// 0 · W = +0.0 there, an exact identity on these sums of non-negative terms (they start at
    /// +0.0), so the bits are the same.
    #[inline(always)]
    pub(super) fn sums(&mut self, d: usize, link: &Link) -> (u64, f64) {
        let forest = self.forest;
        let words = self.width.words();
        let x_fails = self.s.x_fails[d];
        let n_path = link.n_path as usize;
        let leaf = Reached {
            d,
            n_b: x_fails.count_ones() as usize,
            passed: (if n_path >= 64 { u64::MAX } else { (1u64 << n_path) - 1 }) & !x_fails,
            latest: &forest.latest[link.latest as usize..][..n_path],
        };
        // SAFETY: see `set`.
        let alive = unsafe { set(&self.s.alive, d, words) };
        // How many, and every word's alive rows OR-ed into one word (see `packed`).
        let (mut n_alive, mut folded) = (0, 0);
        for w in 0..words {
            n_alive += alive[w].count_ones();
            folded |= alive[w];
        }
        // Rows that neither fold into one word nor (without PEXT) pack count on the whole width;
        // else the counter's planes are compiled in (registers): 4 for up to 15 path features.
        if n_alive > 64 || (!PEXT && folded.count_ones() != n_alive) {
            self.wide(&leaf)
        } else if forest.planes <= 4 {
            self.packed::<4>(&leaf, n_alive, folded)
        } else {
            self.packed::<MAX_PLANES>(&leaf, n_alive, folded)
        }
    }

    /// `leaf` with at most `n_alive` ≤ 64 rows alive (most leaves: 7.5 on average, 3 the median,
    /// on the peer's forest at 200 background rows), scattered over the words of a set: each
    /// position's failing alive rows are first packed into one word (bit i: the i-th alive row),
    /// so the counting runs on one word, not on every word of the background. `sums`' result.
    #[inline(always)]
    fn packed<const PLANES: usize>(&mut self, leaf: &Reached<'_>, n_alive: u32, folded: u64) -> (u64, f64) {
        let forest = self.forest;
        let (words, stride, n_b) = (self.width.words(), forest.stride, leaf.n_b);
        let s: &mut InterventionalScratch = self.s;
        // SAFETY: see `set`.
        let alive = unsafe { set(&s.alive, leaf.d, words) };
        // `folded`, every word's alive rows in one word: where no two words have a row at the
        // same bit (89% of these leaves on the bench forest: rows alive together have
        // neighbouring bits, see `routes`), that packs them as well as PEXT does, for less; else
        // PEXT (`leaf` only sends such leaves here with it).
        let fold = folded.count_ones() == n_alive;
        // Where each word's alive rows start among the packed bits (a compiled-in width).
        let mut offsets = [0u32; 16];
        if !fold {
            let mut at = 0;
            for w in 0..words.min(16) {
                offsets[w] = at;
                at += alive[w].count_ones();
            }
        }
        // Each position x passes: its failing alive rows packed (`packed[k]`), the positions some
        // row fails, and the rows' p as a bit-sliced counter. (Plain code, not closures: a
        // closure is not always inlined, and then not compiled with the caller's BMI2.)
        let (mut failing, mut counter) = (0u64, [0u64; PLANES]);
        let mut a = leaf.passed;
        while a != 0 {
            let k = a.trailing_zeros() as usize;
            a &= a - 1;
            // SAFETY: see `set`.
            let rows = unsafe { set(&s.fails, leaf.latest[k] as usize, words) };
            let mut bits = 0u64;
            if fold {
                for w in 0..words {
                    bits |= rows[w] & alive[w];
                }
            } else if words <= 16 {
                // Past the 64th alive row no word has alive rows: 0, shifted anywhere.
                for w in 0..words {
                    bits |= pext(rows[w], alive[w]).wrapping_shl(offsets[w]);
                }
            } else {
                let mut at = 0;
                for w in 0..words {
                    bits |= pext(rows[w], alive[w]).wrapping_shl(at);
                    at += alive[w].count_ones();
                }
            }
            s.packed[k] = bits;
            failing |= u64::from(bits != 0) << k;
            count_into(&mut counter, bits);
        }
        let all = if fold { folded } else { u64::MAX >> (64 - n_alive) };
        // The rows of each p (a class: the rows whose counter planes spell p), ascending; a
        // row's p counts failing positions. The debit adds every class (+0.0 for an empty one);
        // the nonempty classes of p ≥ 1 are listed with their credit weight W(p − 1, n_b).
        // Without B the debit is computed from a weight it does not need, and not used.
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
        let credited = failing;
        while failing != 0 {
            let k = failing.trailing_zeros() as usize;
            failing &= failing - 1;
            let bits = s.packed[k];
            let mut credit = 0.0;
            for (rows, weight) in class_rows.iter().zip(class_weights) {
                // With no row of the class failing k this adds +0.0 to a sum ≥ +0.0: no bit changes.
                credit += f64::from((bits & rows).count_ones()) * weight;
            }
            s.credit[k] = credit;
        }
        (credited, debit)
    }

    /// `leaf` with more than 64 rows alive, or rows that do not fold into one word where PEXT is
    /// not to be used: counts on sets of the background's width, each row's p counted from the
    /// failing sets here. `sums`' result.
    #[inline(always)]
    fn wide(&mut self, leaf: &Reached<'_>) -> (u64, f64) {
        let forest = self.forest;
        let (words, planes) = (self.width.words(), forest.planes);
        let s: &mut InterventionalScratch = self.s;
        // SAFETY: see `set`; `counters` holds `planes` sets.
        let (alive, counter) =
            unsafe { (set(&s.alive, leaf.d, words), set_mut(&mut s.counters, 0, planes * words)) };
        counter.fill(0);
        // The positions some alive row fails, in order.
        let mut listed = [0u8; MAX_UNIQUE];
        let mut n_failing = 0;
        let mut a = leaf.passed;
        while a != 0 {
            let k = a.trailing_zeros() as usize;
            a &= a - 1;
            // SAFETY: see `set`.
            let rows = unsafe { set(&s.fails, leaf.latest[k] as usize, words) };
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
        let fails = |j: usize| unsafe { set(failing_sets, leaf.latest[listed[j] as usize] as usize, words) };
        let counts = Counts { all: alive, counter, listed: &listed[..n_failing] };
        // SAFETY: see `set`; `classes` holds a set.
        let class = unsafe { set_mut(&mut s.classes, 0, words) };
        let debit = counts.book(forest, leaf.n_b, fails, class, &mut s.credit);
        (listed[..n_failing].iter().fold(0, |credited, &k| credited | 1 << k), debit)
    }
}

/// Adds a leaf of `value`'s sums to `phi`: value · `credit[k]` to the feature at each position
/// k of `credited`, −value · `debit` to each of `x_fails`. A feature gets one update a leaf
/// (the two sets are apart), so their order does not matter.
#[inline(always)]
pub(super) fn book(
    phi: &mut [f64],
    on_path: &[u32],
    credit: &[f64],
    credited: u64,
    x_fails: u64,
    value: f64,
    debit: f64,
) {
    let mut k = credited;
    while k != 0 {
        let at = k.trailing_zeros() as usize;
        phi[on_path[at] as usize] += value * credit[at];
        k &= k - 1;
    }
    let mut b = x_fails;
    while b != 0 {
        phi[on_path[b.trailing_zeros() as usize] as usize] -= value * debit;
        b &= b - 1;
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

/// A leaf's alive rows as sets of the background's width: all of them, their p as a bit-sliced
/// counter (plane q, a set, holds bit q of every row's p), and the path positions some of them
/// fail.
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
