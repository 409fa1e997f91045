//! The per-row walk of interventional TreeSHAP (the method is in `interventional.rs`): a
//! depth-first pass over each tree carrying the alive background rows, each with the mask of
//! the path's features it fails, and integer counts at the leaves; nothing allocated.
//!
//! The walk is a loop over an explicit stack of frames (not a recursion) so that one
//! `#[inline(always)]` body is compiled for every instruction set the CPU may offer.

// The count tables are indexed by p and by path position in step; that is the point.
#![allow(clippy::needless_range_loop)]

use super::{InterventionalForest, InterventionalScratch, LEAF};
use crate::shap::isa::Isa;

/// Adds the unscaled SHAP values of `x` (sums over trees and background rows) into `s.phi`.
pub(super) fn trees(forest: &InterventionalForest, x: &[f64], s: &mut InterventionalScratch) {
    let mut walk = Walk { forest, x, s };
    match forest.isa {
        Isa::Baseline => walk.all(),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx` and `Isa::Avx512` are only chosen (by `Isa::detect`, or a test
        // from `Isa::available`) when the CPU has that instruction set.
        Isa::Avx => unsafe { walk.all_avx2() },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { walk.all_avx512() },
    }
}

/// An internal node on the current path.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Frame {
    node: u32,
    /// 0: the left edge is next, 1: the right edge, 2: both done.
    next: u8,
    /// Whether the node's feature was new on the path (pushed on `on_path`).
    pushed: bool,
    /// The path positions of the features x fails below each edge.
    child_x_fails: [u64; 2],
}

/// An alive background row: its index and the path positions of the features it fails.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Alive {
    row: u32,
    fails: u64,
}

struct Walk<'a> {
    forest: &'a InterventionalForest,
    x: &'a [f64],
    s: &'a mut InterventionalScratch,
}

impl Walk<'_> {
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
        let n_rows = forest.n_background();
        for (r, alive) in self.s.alive[..n_rows].iter_mut().enumerate() {
            *alive = Alive { row: r as u32, fails: 0 };
        }
        for &root in &forest.roots {
            let root = root as usize;
            if forest.steps[root].right != LEAF {
                // A lone leaf: f is constant, every value 0.
                self.tree(root, n_rows);
            }
        }
    }

    /// Walks the tree rooted at internal node `root`, every row alive at level 0 (side 0).
    #[inline(always)]
    fn tree(&mut self, root: usize, n_rows: usize) {
        self.s.counts[0] = [n_rows as u32, 0];
        self.enter(0, root, 0, 0);
        let mut d = 0;
        loop {
            let frame = self.s.frames[d];
            if frame.next < 2 {
                let side = frame.next as usize;
                self.s.frames[d].next += 1;
                let alive = self.s.counts[d + 1][side] as usize;
                if alive > 0 {
                    let x_fails = frame.child_x_fails[side];
                    let step = self.forest.steps[frame.node as usize];
                    let child = if side == 0 { frame.node as usize + 1 } else { step.right as usize };
                    let child_step = self.forest.steps[child];
                    if child_step.right == LEAF {
                        self.leaf(d + 1, side, alive, x_fails, child_step.threshold);
                    } else {
                        d += 1;
                        self.enter(d, child, side, x_fails);
                    }
                }
                continue;
            }
            if frame.pushed {
                let j = self.s.on_path.pop().unwrap_or_default();
                self.s.position[j as usize] = NOT_ON_PATH;
            }
            if d == 0 {
                return;
            }
            d -= 1;
        }
    }

    /// Internal node `node` at depth `d` (on `side` of its parent), reached with x failing the
    /// path positions `x_fails`: puts its feature on the path and splits its alive rows into its
    /// children's lists at level d + 1. A row not taking an edge fails the feature below it;
    /// below an edge where x fails the feature, only rows passing it stay alive.
    #[inline(always)]
    fn enter(&mut self, d: usize, node: usize, side: usize, x_fails: u64) {
        let forest = self.forest;
        let step = forest.steps[node];
        let j = step.feature as usize;
        let s = &mut *self.s;
        let pushed = s.position[j] == NOT_ON_PATH;
        if pushed {
            s.position[j] = s.on_path.len() as u8;
            s.on_path.push(j as u32);
        }
        let bit = 1u64 << s.position[j];
        let x_left = step.goes_left(self.x[j]);
        let child_x_fails = [x_fails | if x_left { 0 } else { bit }, x_fails | if x_left { bit } else { 0 }];
        // A row failing a feature x fails below the edge is dead there.
        let dead = [child_x_fails[0] & bit, child_x_fails[1] & bit];
        let stride = forest.n_background();
        let column = &forest.columns[j * stride..][..stride];
        let (parents, children) = s.alive.split_at_mut((d + 1) * 2 * stride);
        let parent = &parents[(2 * d + side) * stride..][..s.counts[d][side] as usize];
        let (left, right) = children[..2 * stride].split_at_mut(stride);
        let (left, right) = (&mut left[..parent.len()], &mut right[..parent.len()]);
        let (mut n_left, mut n_right) = (0, 0);
        for &alive in parent {
            let goes_left = step.goes_left(column[alive.row as usize]);
            let (fails_left, fails_right) =
                if goes_left { (alive.fails, alive.fails | bit) } else { (alive.fails | bit, alive.fails) };
            left[n_left] = Alive { row: alive.row, fails: fails_left };
            right[n_right] = Alive { row: alive.row, fails: fails_right };
            n_left += usize::from(fails_left & dead[0] == 0);
            n_right += usize::from(fails_right & dead[1] == 0);
        }
        s.counts[d + 1] = [n_left as u32, n_right as u32];
        s.frames[d] = Frame { node: node as u32, next: 0, pushed, child_x_fails };
    }

    /// A leaf of `value` reached with `n` alive rows at `level` (on `side`) and x failing the path
    /// positions `x_fails` (B); every alive row passes those, and fails the positions of its
    /// mask (M ⊆ A). Books value · W(p − 1, n_b) to each feature of M, per row, and
    /// −value · W(p, n_b − 1) to each feature of B, per row, from integer counts.
    #[inline(always)]
    fn leaf(&mut self, level: usize, side: usize, n: usize, x_fails: u64, value: f64) {
        let forest = self.forest;
        let stride = forest.n_background();
        let w_stride = forest.stride;
        let s = &mut *self.s;
        let mut top = 0;
        let mut failing = 0u64;
        for alive in &s.alive[(2 * level + side) * stride..][..n] {
            let p = alive.fails.count_ones() as usize;
            top = top.max(p);
            failing |= alive.fails;
            s.count[p] += 1;
            let mut m = alive.fails;
            while m != 0 {
                s.credit_count[m.trailing_zeros() as usize * w_stride + p] += 1;
                m &= m - 1;
            }
        }
        let n_b = x_fails.count_ones() as usize;
        let weight = |p: usize, n: usize| forest.weights[p * w_stride + n];
        if n_b > 0 {
            let mut debit = 0.0;
            for p in 0..=top {
                debit += f64::from(s.count[p]) * weight(p, n_b - 1);
            }
            let mut b = x_fails;
            while b != 0 {
                s.phi[s.on_path[b.trailing_zeros() as usize] as usize] -= value * debit;
                b &= b - 1;
            }
        }
        s.count[..=top].fill(0);
        while failing != 0 {
            let k = failing.trailing_zeros() as usize;
            failing &= failing - 1;
            let counts = &mut s.credit_count[k * w_stride..][..=top];
            let mut credit = 0.0;
            for p in 1..=top {
                credit += f64::from(counts[p]) * weight(p - 1, n_b);
            }
            counts.fill(0);
            s.phi[s.on_path[k] as usize] += value * credit;
        }
    }
}

/// `position` of a feature not on the current path.
pub(super) const NOT_ON_PATH: u8 = u8::MAX;
