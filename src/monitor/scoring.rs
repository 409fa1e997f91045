//! Scoring a whole batch fast, bit-identical to `Forest::predict`: each tree flattened into
//! 16-byte steps whose two children sit side by side and whose leaves point to themselves, and the
//! rows of a block stepped down one level at a time without a branch, so that a core overlaps
//! the rows' loads instead of waiting on (and mispredicting) one row's path at a time.

use crate::data::ApplicantTable;
use crate::forest::Tree;
use crate::model::Model;
use rayon::prelude::*;

/// Rows scored together: their encoded values (a few hundred KB) stay in a core's L2 cache
/// while every tree walks them.
const BLOCK: usize = 1024;
/// From this level on, every [`CHECK_EVERY`] levels, the walk stops early when every row has
/// reached its leaf (a deep, unbalanced tree lands most rows long before its deepest leaf; in a
/// shallow one the check would cost more than the levels it saves).
const CHECK_FROM: usize = 12;
const CHECK_EVERY: usize = 4;
/// A step's `feature` bit: a missing value goes left.
const DEFAULT_LEFT: u32 = 1 << 31;

/// One node as the walk needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Step {
    /// Left iff `x <= threshold`; a leaf's is +inf, so every number stays where it is.
    threshold: f64,
    /// The feature read, with [`DEFAULT_LEFT`]; a leaf reads feature 0 and keeps a NaN too.
    feature: u32,
    /// The left child; the right child is the step after it. A leaf's is itself.
    left: u32,
}

impl Step {
    /// The next step of a row with encoded values `x`: `left` or `left + 1`, as
    /// `Node::goes_left` decides (`x <= t`, or missing and the default side is left).
    #[inline(always)]
    fn next(&self, x: &[f64]) -> u32 {
        let value = x[(self.feature & !DEFAULT_LEFT) as usize];
        let left = (value <= self.threshold) | (value.is_nan() & (self.feature & DEFAULT_LEFT != 0));
        self.left + u32::from(!left)
    }

    fn is_leaf(&self, at: u32) -> bool {
        self.left == at
    }
}

/// A tree renumbered breadth first (so each node's children are adjacent), with its leaves'
/// values by the same numbers and the number of levels a row descends at most.
#[derive(Debug)]
pub struct FlatTree {
    steps: Vec<Step>,
    values: Vec<f64>,
    depth: usize,
}

impl FlatTree {
    pub fn new(tree: &Tree) -> FlatTree {
        let nodes = &tree.nodes;
        // `order[k]` is the original index of new node k; `level[k]` its depth.
        let (mut order, mut level) = (vec![0usize], vec![0usize]);
        let mut steps = Vec::with_capacity(nodes.len());
        let mut values = Vec::with_capacity(nodes.len());
        let mut k = 0;
        while k < order.len() {
            let node = &nodes[order[k]];
            if node.is_leaf() {
                steps.push(Step { threshold: f64::INFINITY, feature: DEFAULT_LEFT, left: k as u32 });
            } else {
                let left = order.len() as u32;
                order.extend([node.left as usize, node.right as usize]);
                level.extend([level[k] + 1; 2]);
                let default = if node.default_left { DEFAULT_LEFT } else { 0 };
                steps.push(Step { threshold: node.threshold, feature: node.feature | default, left });
            }
            values.push(node.value);
            k += 1;
        }
        FlatTree { steps, values, depth: level.into_iter().max().unwrap_or(0) }
    }

    /// Adds this tree's leaf value for each row of `encoded` (rows of `n` values) to `sums`;
    /// `at` is scratch, one slot per row.
    fn add(&self, encoded: &[f64], n: usize, at: &mut [u32], sums: &mut [f64]) {
        at.fill(0);
        let steps = &self.steps[..];
        for level in 0..self.depth {
            for (i, x) in at.iter_mut().zip(encoded.chunks_exact(n)) {
                *i = steps[*i as usize].next(x);
            }
            let stepped = level + 1;
            if stepped >= CHECK_FROM
                && stepped.is_multiple_of(CHECK_EVERY)
                && at.iter().all(|&i| steps[i as usize].is_leaf(i))
            {
                break;
            }
        }
        for (sum, &i) in sums.iter_mut().zip(at.iter()) {
            *sum += self.values[i as usize];
        }
    }
}

/// P(approved) of every row, in parallel blocks, tree by tree within a block, without
/// materialising the encoded table. Each row's trees are summed in forest order, so the result is
/// bit-identical to `Forest::predict`.
pub fn score_table(model: &Model, table: &ApplicantTable) -> Vec<f64> {
    let trees: Vec<FlatTree> = model.forest.trees.iter().map(FlatTree::new).collect();
    let (n, stride) = (model.encoder.n_features().max(1), table.stride());
    table
        .values()
        .par_chunks(stride * BLOCK)
        .flat_map_iter(|rows| {
            let m = rows.len() / stride;
            let mut encoded = vec![0.0; m * n];
            for (slot, row) in encoded.chunks_mut(n).zip(rows.chunks(stride)) {
                model.encoder.encode_into(row, slot);
            }
            score_block(&trees, &encoded, n)
        })
        .collect()
}

/// The forest's mean leaf value for each row of `encoded` (rows of `n` values).
fn score_block(trees: &[FlatTree], encoded: &[f64], n: usize) -> impl Iterator<Item = f64> + use<> {
    let m = encoded.len() / n;
    let (mut sums, mut at) = (vec![0.0; m], vec![0u32; m]);
    for tree in trees {
        tree.add(encoded, n, &mut at, &mut sums);
    }
    let count = trees.len() as f64;
    sums.into_iter().map(move |s| s / count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    #[test]
    fn block_scores_are_the_forests_own_bit_for_bit_with_and_without_gaps() {
        let table = crate::data::generate_table(3 * BLOCK as u64 + 3, 9).unwrap(); // a block's tail of 3
        let encoder = crate::features::Encoder::fit(&table).unwrap();
        let n = encoder.n_features();
        // Gaps in three encoded columns, in training too, so splits learn where they go.
        let gap = |j: usize, r: usize| {
            [(3, 4), (9, 6), (n - 1, 5)].iter().any(|&(c, every)| c == j && r.is_multiple_of(every))
        };
        let mut columns = encoder.encode_columns(&table);
        for (j, column) in columns.iter_mut().enumerate() {
            for (r, v) in column.iter_mut().enumerate() {
                if gap(j, r) {
                    *v = f64::NAN;
                }
            }
        }
        let params = crate::forest::ForestParams {
            n_estimators: 12,
            max_depth: Some(9),
            min_samples_leaf: 5,
            ..Default::default()
        };
        let fitted =
            crate::forest::fit(&params, &columns, table.approved.as_deref().unwrap(), &|_| {}).unwrap();
        let model = Model { encoder, forest: fitted.forest, threshold: 0.5, info: Default::default() };
        let defaults = model.forest.trees.iter().flat_map(|t| &t.nodes).filter(|n| n.default_left).count();
        assert!(defaults > 0, "some splits send missing values left");
        let scores = score_table(&model, &table);
        for (i, s) in scores.iter().enumerate() {
            let expected = model.forest.predict(&model.encoder.encode(table.row(i)));
            assert_eq!(s.to_bits(), expected.to_bits(), "row {i}");
        }
        let rows: Vec<f64> =
            (0..table.len()).flat_map(|r| (0..n).map(move |j| (r, j))).map(|(r, j)| columns[j][r]).collect();
        let trees: Vec<FlatTree> = model.forest.trees.iter().map(FlatTree::new).collect();
        let with_gaps: Vec<f64> =
            rows.chunks(BLOCK * n).flat_map(|block| score_block(&trees, block, n)).collect();
        for (r, s) in with_gaps.iter().enumerate() {
            let expected = model.forest.predict(&rows[r * n..(r + 1) * n]);
            assert_eq!(s.to_bits(), expected.to_bits(), "row {r} with gaps");
        }
    }

    #[test]
    fn flattened_children_are_adjacent_and_leaves_stay_put() {
        let table = crate::data::generate_table(2000, 3).unwrap();
        let encoder = crate::features::Encoder::fit(&table).unwrap();
        let params = crate::forest::ForestParams { n_estimators: 1, max_depth: None, ..Default::default() };
        let fitted = crate::forest::fit(
            &params,
            &encoder.encode_columns(&table),
            table.approved.as_deref().unwrap(),
            &|_| {},
        )
        .unwrap();
        let tree = &fitted.forest.trees[0];
        let flat = FlatTree::new(tree);
        assert_eq!(flat.steps.len(), tree.nodes.len());
        assert_eq!(flat.depth, tree.depth());
        let x = vec![f64::NAN; encoder.n_features()];
        for (k, s) in flat.steps.iter().enumerate() {
            if s.is_leaf(k as u32) {
                assert_eq!(s.next(&x), k as u32, "a leaf keeps a missing value too");
                assert_eq!(s.next(&vec![f64::INFINITY; encoder.n_features()]), k as u32);
            } else {
                assert!(s.left as usize > k && (s.left as usize + 1) < flat.steps.len());
            }
        }
    }
}
