//! The per-row walk of interventional TreeSHAP (the method is in `interventional.rs`): a
//! depth-first pass over each tree with the alive background rows as a bit set, skipping
//! subtrees where none is alive, and integer counts at the leaves, nothing allocated.
//!
//! The walk is a loop over an explicit stack of frames (not a recursion) so that one
//! `#[inline(always)]` body is compiled for every instruction set the CPU may offer.

// Index loops walk several word arrays and count tables in step; that is the point.
#![allow(clippy::needless_range_loop)]

use super::{InterventionalForest, InterventionalScratch, LEAF, Step};
use crate::shap::isa::Isa;

/// Adds the unscaled SHAP values of `x` (sums over trees and background rows) into `s.phi`.
pub(super) fn trees(forest: &InterventionalForest, x: &[f64], s: &mut InterventionalScratch) {
    let mut walk = Walk { forest, x, s, frames: Vec::new() };
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

/// One internal node on the current path.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Frame {
    node: u32,
    /// 0: the left edge is next, 1: the right edge, 2: both done.
    next: u8,
    /// Whether the node's feature was new on the path (pushed on `on_path`).
    pushed: bool,
    /// The feature's state before this node's edges.
    saved_depth: u32,
    saved_pass: bool,
}

struct Walk<'a> {
    forest: &'a InterventionalForest,
    x: &'a [f64],
    s: &'a mut InterventionalScratch,
    frames: Vec<Frame>,
}

impl Walk<'_> {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,bmi1")]
    fn all_avx2(&mut self) {
        self.all();
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt,bmi1")]
    fn all_avx512(&mut self) {
        self.all();
    }

    #[inline(always)]
    fn all(&mut self) {
        let forest = self.forest;
        self.frames = std::mem::take(&mut self.s.frames);
        self.frames.resize(forest.depth + 2, Frame::default());
        for &root in &forest.roots {
            let root = root as usize;
            if forest.steps[root].right == LEAF {
                continue; // a lone leaf: f is constant, every value 0
            }
            self.s.alive[..forest.words].copy_from_slice(&forest.valid);
            self.tree(root);
        }
        self.s.frames = std::mem::take(&mut self.frames);
    }

    /// Walks the tree rooted at internal node `root`; its alive rows are at level 0.
    #[inline(always)]
    fn tree(&mut self, root: usize) {
        self.enter(0, root);
        let mut d = 0;
        loop {
            let frame = self.frames[d];
            if frame.next < 2 {
                self.frames[d].next += 1;
                let step = self.forest.steps[frame.node as usize];
                let child = if frame.next == 0 { frame.node as usize + 1 } else { step.right as usize };
                if self.edge(d, &step, frame, frame.next == 0) {
                    if self.forest.steps[child].right == LEAF {
                        self.leaf(d + 1, self.forest.steps[child].threshold);
                    } else {
                        d += 1;
                        self.enter(d, child);
                    }
                }
                continue;
            }
            self.leave(d);
            if d == 0 {
                return;
            }
            d -= 1;
        }
    }

    /// Internal node `node` at depth `d`: its frame, and its feature on the path.
    #[inline(always)]
    fn enter(&mut self, d: usize, node: usize) {
        let j = self.forest.steps[node].feature as usize;
        let s = &mut *self.s;
        let pushed = s.feature_depth[j] == 0;
        if pushed {
            s.on_path.push(j as u32);
        }
        self.frames[d] = Frame {
            node: node as u32,
            next: 0,
            pushed,
            saved_depth: s.feature_depth[j],
            saved_pass: s.x_passes[j],
        };
    }

    /// Restores the path as it was before the node at depth `d`.
    #[inline(always)]
    fn leave(&mut self, d: usize) {
        let frame = self.frames[d];
        let j = self.forest.steps[frame.node as usize].feature as usize;
        self.s.feature_depth[j] = frame.saved_depth;
        self.s.x_passes[j] = frame.saved_pass;
        if frame.pushed {
            self.s.on_path.pop();
        }
    }

    /// Takes the edge from the node at depth `d` to its left (or right) child: the feature's
    /// failing rows and x's side, and the rows still alive at level d + 1. False if none is.
    #[inline(always)]
    fn edge(&mut self, d: usize, step: &Step, frame: Frame, left: bool) -> bool {
        let forest = self.forest;
        let words = forest.words;
        let j = step.feature as usize;
        let x_goes = step.goes_left(self.x[j]) == left;
        let x_passes = frame.saved_pass & x_goes;
        let s = &mut *self.s;
        let bits = &forest.z_left[step.bits as usize * words..][..words];
        let (parent, child) = s.alive.split_at_mut((d + 1) * words);
        let parent = &parent[d * words..];
        let child = &mut child[..words];
        let (before, failed) = s.failed.split_at_mut((d + 1) * words);
        let failed = &mut failed[..words];
        let previous = frame.saved_depth as usize;
        let mut any = 0;
        for w in 0..words {
            // Rows that do not take this edge fail the feature from here down.
            let fails_here = if left { !bits[w] & forest.valid[w] } else { bits[w] };
            let prior = if previous == 0 { 0 } else { before[previous * words + w] };
            let f = prior | fails_here;
            failed[w] = f;
            // Where x fails the feature, only rows passing it stay alive.
            let a = if x_passes { parent[w] } else { parent[w] & !f };
            child[w] = a;
            any |= a;
        }
        s.feature_depth[j] = (d + 1) as u32;
        s.x_passes[j] = x_passes;
        any != 0
    }

    /// A leaf of `value` reached with alive rows at `level`: books its contributions.
    #[inline(always)]
    fn leaf(&mut self, level: usize, value: f64) {
        let forest = self.forest;
        let words = forest.words;
        let s = &mut *self.s;
        let stride = forest.stride;
        // Positions in A (features x passes) and B (features x fails).
        let mut a_depths = [0usize; super::MAX_UNIQUE];
        let mut a_features = [0usize; super::MAX_UNIQUE];
        let mut n_a = 0;
        let mut n_b = 0;
        for &j in &s.on_path {
            let j = j as usize;
            if s.x_passes[j] {
                a_depths[n_a] = s.feature_depth[j] as usize;
                a_features[n_a] = j;
                n_a += 1;
            } else {
                n_b += 1;
            }
        }
        let alive = &s.alive[level * words..][..words];
        for w in 0..words {
            let mut rows = alive[w];
            while rows != 0 {
                let r = rows.trailing_zeros();
                rows &= rows - 1;
                let mut m = 0u64;
                for k in 0..n_a {
                    m |= ((s.failed[a_depths[k] * words + w] >> r) & 1) << k;
                }
                let p = m.count_ones() as usize;
                s.count[p] += 1;
                while m != 0 {
                    let k = m.trailing_zeros() as usize;
                    m &= m - 1;
                    s.credit_count[k * stride + p] += 1;
                }
            }
        }
        let w = |p: usize, n: usize| forest.weights[p * stride + n];
        if n_b > 0 {
            let mut debit = 0.0;
            for p in 0..=n_a {
                debit += s.count[p] as f64 * w(p, n_b - 1);
            }
            for &j in &s.on_path {
                if !s.x_passes[j as usize] {
                    s.phi[j as usize] -= value * debit;
                }
            }
        }
        s.count[..=n_a].fill(0);
        for k in 0..n_a {
            let counts = &mut s.credit_count[k * stride..][..=n_a];
            let mut credit = 0.0;
            for p in 1..=n_a {
                credit += counts[p] as f64 * w(p - 1, n_b);
            }
            counts.fill(0);
            s.phi[a_features[k]] += value * credit;
        }
    }
}
