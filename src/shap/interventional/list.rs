//! The tests' reference for the bitset walk (`walk.rs`): the row-list walk it replaced, a
//! depth-first pass over each tree carrying the alive background rows as a list, each with the
//! mask of the path's features it fails, and integer counts at the leaves. Same counts, same
//! float operations in the same order, so the two must agree bit for bit.

// The count tables are indexed by p and by path position in step; that is the point.
#![allow(clippy::needless_range_loop)]

use super::{InterventionalForest, LEAF};

/// The SHAP values of `x` by the row-list walk, scaled as `InterventionalForest::shap_into`.
pub(super) fn shap(forest: &InterventionalForest, x: &[f64]) -> Vec<f64> {
    let rows = forest.n_background();
    let levels = forest.depth + 2;
    let mut columns = vec![0.0; forest.background.len()];
    for (r, z) in forest.background.chunks_exact(forest.n_features).enumerate() {
        for (j, &v) in z.iter().enumerate() {
            columns[j * rows + r] = v;
        }
    }
    let mut s = ListScratch {
        alive: vec![Alive::default(); 2 * levels * rows],
        counts: vec![[0; 2]; levels],
        frames: vec![Frame::default(); levels],
        on_path: Vec::new(),
        position: vec![NOT_ON_PATH; forest.n_features],
        count: vec![0; forest.stride],
        credit_count: vec![0; forest.stride * forest.stride],
        phi: vec![0.0; forest.n_features],
    };
    Walk { forest, columns: &columns, x, s: &mut s }.all();
    let scale = 1.0 / (forest.roots.len() * rows) as f64;
    s.phi.iter().map(|sum| 0.0 + sum * scale).collect()
}

/// The row-list walk's working memory.
struct ListScratch {
    /// Per depth and side (left, right child): the alive rows (`n_background` slots each)
    /// and how many there are.
    alive: Vec<Alive>,
    counts: Vec<[u32; 2]>,
    frames: Vec<Frame>,
    on_path: Vec<u32>,
    position: Vec<u8>,
    count: Vec<u32>,
    credit_count: Vec<u32>,
    phi: Vec<f64>,
}

/// An internal node on the current path.
#[derive(Debug, Clone, Copy, Default)]
struct Frame {
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
struct Alive {
    row: u32,
    fails: u64,
}

struct Walk<'a> {
    forest: &'a InterventionalForest,
    columns: &'a [f64],
    x: &'a [f64],
    s: &'a mut ListScratch,
}

impl Walk<'_> {
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
        let column = &self.columns[j * stride..][..stride];
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
const NOT_ON_PATH: u8 = u8::MAX;

/// The bitset walk against this one, bit for bit, on random forests and backgrounds.
mod tests {
    use super::super::{InterventionalForest, variants, with_isa};
    use crate::forest::{Forest, Node, Tree};
    use crate::shap::isa::Isa;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random tree in preorder on `m` features, thresholds and values on a grid so that ties
    /// and repeated splits of a feature on one path happen.
    fn tree(rng: &mut ChaCha8Rng, m: usize, depth: usize, p_split: f64) -> Tree {
        fn grow(rng: &mut ChaCha8Rng, nodes: &mut Vec<Node>, m: usize, left: usize, p: f64) -> usize {
            let at = nodes.len();
            nodes.push(Node::leaf(rng.random_range(-1.0..1.0), 1.0));
            if left == 0 || !rng.random_bool(p) {
                return at;
            }
            let (feature, threshold) = (rng.random_range(0..m) as u32, rng.random_range(0..8) as f64 * 0.5);
            let l = grow(rng, nodes, m, left - 1, p);
            let r = grow(rng, nodes, m, left - 1, p);
            let cover = nodes[l].cover + nodes[r].cover;
            let default_left = rng.random_bool(0.5);
            nodes[at] =
                Node { threshold, value: 0.0, cover, feature, left: l as u32, right: r as u32, default_left };
            at
        }
        let mut nodes = Vec::new();
        grow(rng, &mut nodes, m, depth, p_split);
        Tree { nodes }
    }

    /// Grid values, a missing one (NaN) one time in eight.
    fn rows(rng: &mut ChaCha8Rng, m: usize, n: usize) -> Vec<f64> {
        (0..n * m)
            .map(
                |_| {
                    if rng.random_range(0..8) == 0 { f64::NAN } else { rng.random_range(0..17) as f64 * 0.25 }
                },
            )
            .collect()
    }

    fn bits(values: &[f64]) -> Vec<u64> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// (seed, features, trees, depth, background rows); the counter planes the forest needed.
    fn check(seed: u64, m: usize, n_trees: usize, depth: usize, n_rows: usize) -> usize {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let forest =
            Forest { n_features: m, trees: (0..n_trees).map(|_| tree(&mut rng, m, depth, 0.9)).collect() };
        let background = rows(&mut rng, m, n_rows);
        let plain = with_isa(&InterventionalForest::new(&forest, &background).unwrap(), Isa::Baseline);
        let xs = rows(&mut rng, m, 6);
        let xs: Vec<&[f64]> = xs.chunks(m).collect();
        let references: Vec<Vec<f64>> = xs.iter().map(|x| super::shap(&plain, x)).collect();
        for variant in variants(&plain) {
            let (isa, extract) = (variant.isa, variant.fast_extract);
            let case = format!("seed {seed}, {m} features, depth {depth}, {n_rows} rows, {isa:?}");
            for (x, reference) in xs.iter().zip(&references) {
                let mut values = vec![0.0; m];
                variant.shap_into(x, &mut variant.scratch(), &mut values);
                assert_eq!(bits(&values), bits(reference), "{case}, PEXT instruction {extract}");
            }
            // The block walk, on the whole block and on a part of it.
            for take in [xs.len(), 1] {
                let mut values = vec![vec![0.0; m]; take];
                let mut phi: Vec<&mut [f64]> = values.iter_mut().map(Vec::as_mut_slice).collect();
                variant.shap_block(&xs[..take], &mut variant.scratch(), &mut phi);
                for (v, reference) in values.iter().zip(&references) {
                    assert_eq!(bits(v), bits(reference), "{case}, a block of {take}");
                }
            }
        }
        plain.planes
    }

    #[test]
    fn bitsets_give_the_row_lists_bits_for_any_background_size() {
        // One row, a word but one, a word, a word and one, several words, over a thousand.
        for (seed, n_rows) in [(1, 1), (2, 63), (3, 64), (4, 65), (5, 130), (6, 200), (7, 1031)] {
            check(seed, 7, 4, 9, n_rows);
        }
    }

    #[test]
    fn a_full_block_gives_each_row_its_bits() {
        // Every word of the block's member sets in use: rows past the 64th, 256th and 511th.
        let (m, block) = (5, super::super::BLOCK_ROWS);
        let mut rng = ChaCha8Rng::seed_from_u64(30);
        let forest = Forest { n_features: m, trees: (0..3).map(|_| tree(&mut rng, m, 8, 0.9)).collect() };
        let background = rows(&mut rng, m, 100);
        let plain = with_isa(&InterventionalForest::new(&forest, &background).unwrap(), Isa::Baseline);
        let xs = rows(&mut rng, m, block);
        let xs: Vec<&[f64]> = xs.chunks(m).collect();
        let references: Vec<Vec<u64>> = xs.iter().map(|x| bits(&super::shap(&plain, x))).collect();
        for variant in variants(&plain) {
            let mut values = vec![vec![0.0; m]; block];
            let mut phi: Vec<&mut [f64]> = values.iter_mut().map(Vec::as_mut_slice).collect();
            variant.shap_block(&xs, &mut variant.scratch(), &mut phi);
            for (r, (v, reference)) in values.iter().zip(&references).enumerate() {
                assert_eq!(&bits(v), reference, "row {r} of a block of {block}, {:?}", variant.isa);
            }
        }
    }

    #[test]
    fn bitsets_give_the_row_lists_bits_with_many_features_on_a_path() {
        // Up to 20 distinct features on a path: five counter planes.
        let planes = (10..14).map(|seed| check(seed, 24, 3, 20, 150)).max();
        assert!(planes >= Some(5), "the deep trees should need five planes, got {planes:?}");
        // Few features split again and again on one path.
        for seed in 20..24 {
            check(seed, 3, 3, 14, 90);
        }
    }
}
