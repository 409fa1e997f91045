//! The fitted model's shape: a tree of split nodes that keeps everything prediction and TreeSHAP
//! need (feature, threshold, children, class-1 value, cover), and the forest that averages trees.

use serde::{Deserialize, Serialize};

/// One node. Leaves have `left == right == Node::LEAF`. Routing: left iff `x[feature] <= threshold`;
/// a missing value (NaN) goes to the side training chose for missing values (`default_left`), as
/// scikit-learn's `missing_go_to_left` and shap's `children_default` say.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub threshold: f64,
    /// Class-1 fraction of the (bootstrap-weighted) training rows that reached this node.
    pub value: f64,
    /// Bootstrap-weighted count of training rows that reached this node; a parent's cover is the
    /// sum of its children's.
    pub cover: f64,
    pub feature: u32,
    pub left: u32,
    pub right: u32,
    /// Where a missing value goes; false (right) when training saw no missing value here.
    #[serde(default)]
    pub default_left: bool,
}

impl Node {
    pub const LEAF: u32 = u32::MAX;

    pub fn leaf(value: f64, cover: f64) -> Node {
        Node {
            threshold: 0.0,
            value,
            cover,
            feature: 0,
            left: Node::LEAF,
            right: Node::LEAF,
            default_left: false,
        }
    }

    pub fn is_leaf(&self) -> bool {
        self.left == Node::LEAF
    }

    /// Whether `value` goes left: `value <= threshold`, or the default side when it is missing.
    #[inline]
    pub fn goes_left(&self, value: f64) -> bool {
        value <= self.threshold || (value.is_nan() && self.default_left)
    }

    /// The child `x` goes to.
    #[inline]
    pub fn child(&self, x: &[f64]) -> usize {
        if self.goes_left(x[self.feature as usize]) { self.left as usize } else { self.right as usize }
    }
}

/// A binary tree; node 0 is the root, children always come after their parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Index of the leaf `x` lands in.
    #[inline]
    pub fn leaf_index(&self, x: &[f64]) -> usize {
        let mut i = 0;
        loop {
            let node = &self.nodes[i];
            if node.is_leaf() {
                return i;
            }
            i = node.child(x);
        }
    }

    #[inline]
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.nodes[self.leaf_index(x)].value
    }

    pub fn n_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_leaf()).count()
    }

    /// Number of edges on the longest root-to-leaf path.
    pub fn depth(&self) -> usize {
        let mut depth = vec![0usize; self.nodes.len()];
        let mut max = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.is_leaf() {
                for c in [n.left as usize, n.right as usize] {
                    depth[c] = depth[i] + 1;
                    max = max.max(depth[c]);
                }
            }
        }
        max
    }
}

/// Bagged trees; the prediction is the mean of the trees' leaf values (class-1 probability).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub n_features: usize,
    pub trees: Vec<Tree>,
}

impl Forest {
    /// P(class 1 | x): the mean of the trees' leaf values.
    pub fn predict(&self, x: &[f64]) -> f64 {
        debug_assert_eq!(x.len(), self.n_features);
        let sum: f64 = self.trees.iter().map(|t| t.predict(x)).sum();
        sum / self.trees.len() as f64
    }

    /// Predictions for row-major rows of `n_features` values each, in parallel.
    pub fn predict_rows(&self, rows: &[f64]) -> Vec<f64> {
        use rayon::prelude::*;
        rows.par_chunks(self.n_features).map(|x| self.predict(x)).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The hand-checked tree of `shared/specs/forest-dump.md`.
    pub fn spec_tree() -> Tree {
        let split = |feature, threshold, left, right, value, cover| Node {
            threshold,
            value,
            cover,
            feature,
            left,
            right,
            default_left: false,
        };
        Tree {
            nodes: vec![
                split(0, 0.5, 1, 2, 0.64, 10.0),
                split(1, 2.0, 3, 4, 0.4, 4.0),
                split(0, 1.5, 5, 6, 0.8, 6.0),
                Node::leaf(0.1, 1.0),
                Node::leaf(0.5, 3.0),
                Node::leaf(0.6, 2.0),
                Node::leaf(0.9, 4.0),
            ],
        }
    }

    #[test]
    fn routes_left_on_the_threshold_itself() {
        let t = spec_tree();
        assert_eq!(t.predict(&[0.0, 3.0, 0.0]), 0.5);
        assert_eq!(t.predict(&[1.0, 0.0, 7.0]), 0.6);
        assert_eq!(t.predict(&[0.5, 2.0, 0.0]), 0.1);
        assert_eq!(t.predict(&[1.5, 5.0, 0.0]), 0.6);
        assert_eq!(t.depth(), 2);
        assert_eq!(t.n_leaves(), 4);
    }
}
