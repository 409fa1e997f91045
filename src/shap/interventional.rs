//! Interventional TreeSHAP (shap's `feature_perturbation="interventional"`): φ is the mean over
//! background rows z of the exact baseline Shapley values of the game v(S) = f(x_S, z_¬S).
//!
//! Per (x, z) and tree, the recursion of shap's interventional code: where x and z go the same
//! way, follow; where they differ on a feature already decided, follow that side; otherwise
//! branch: the x side adds the feature to the "from x" set, the z side to the "from z" set. A
//! leaf reached with p features from x and n from z gives each x-side feature
//! value · p'!n!/(p'+n+1)! (p' = p − 1) and takes value · p!n'!/(p+n'+1)! (n' = n − 1) from each
//! z-side one; sums of these come back up the recursion so every branching feature is credited
//! once. Cost O(rows × background × leaves visited).

use crate::error::{Error, Result};
use crate::forest::{Forest, Tree};

const LEAF: u32 = u32::MAX;

/// Which side a feature was assigned to on the current path.
const UNSEEN: u8 = 0;
const FROM_X: u8 = 1;
const FROM_Z: u8 = 2;

/// A node in preorder: the left child is the next node. Leaves keep their value in `threshold`.
#[derive(Debug, Clone, Copy)]
struct Step {
    threshold: f64,
    feature: u32,
    right: u32,
    /// A missing value (NaN) goes left (the node's `default_left`).
    nan_left: bool,
}

impl Step {
    /// The node's routing, as `Node::goes_left`.
    #[inline(always)]
    fn goes_left(&self, v: f64) -> bool {
        (v <= self.threshold) | (v.is_nan() & self.nan_left)
    }
}

/// A forest and its background, laid out for interventional TreeSHAP; shared read-only.
#[derive(Debug, Clone)]
pub(crate) struct InterventionalForest {
    steps: Vec<Step>,
    roots: Vec<u32>,
    background: Vec<f64>,
    n_features: usize,
    /// W(p, n) = p! n! / (p + n + 1)!, row-major with stride `stride`.
    weights: Vec<f64>,
    stride: usize,
    base_value: f64,
}

/// Per-thread working memory: each feature's side on the current path.
#[derive(Debug, Clone, Default)]
pub(crate) struct InterventionalScratch {
    side: Vec<u8>,
}

impl InterventionalForest {
    /// `background`: row-major, `forest.n_features` values per row, at least one row.
    pub(crate) fn new(forest: &Forest, background: &[f64]) -> Result<InterventionalForest> {
        let n_features = forest.n_features;
        if background.is_empty() || !background.len().is_multiple_of(n_features) {
            return Err(Error::Usage(format!(
                "the background must hold whole rows of {n_features} values (got {} values)",
                background.len()
            )));
        }
        // NaN is a missing value (routed by each node's default side); infinities are not inputs.
        if let Some(i) = background.iter().position(|v| v.is_infinite()) {
            return Err(Error::Usage(format!(
                "background row {} column {} is {}: inputs must be finite or missing (NaN)",
                i / n_features,
                i % n_features,
                background[i]
            )));
        }
        let mut steps = Vec::new();
        let mut roots = Vec::with_capacity(forest.trees.len());
        let mut max_unique = 0;
        for (t, tree) in forest.trees.iter().enumerate() {
            super::check_tree(tree, n_features).map_err(|e| Error::Internal(format!("tree {t}: {e}")))?;
            roots.push(steps.len() as u32);
            let mut on_path = vec![false; n_features];
            push_preorder(tree, 0, 0, &mut steps, &mut on_path, &mut max_unique)
                .map_err(|e| Error::Internal(format!("tree {t}: {e}")))?;
        }
        let stride = max_unique + 1;
        let mut forest = InterventionalForest {
            steps,
            roots,
            background: background.to_vec(),
            n_features,
            weights: shapley_weights(stride),
            stride,
            base_value: 0.0,
        };
        let n_rows = forest.n_background();
        let total: f64 = forest.background.chunks_exact(n_features).map(|z| forest.predict(z)).sum();
        forest.base_value = total / n_rows as f64;
        Ok(forest)
    }

    pub(crate) fn base_value(&self) -> f64 {
        self.base_value
    }

    pub(crate) fn n_background(&self) -> usize {
        self.background.len() / self.n_features
    }

    pub(crate) fn scratch(&self) -> InterventionalScratch {
        InterventionalScratch { side: vec![UNSEEN; self.n_features] }
    }

    pub(crate) fn predict(&self, x: &[f64]) -> f64 {
        let total: f64 =
            self.roots.iter().map(|&root| self.steps[self.leaf(root as usize, x)].threshold).sum();
        total / self.roots.len() as f64
    }

    fn leaf(&self, mut n: usize, x: &[f64]) -> usize {
        loop {
            let step = &self.steps[n];
            if step.right == LEAF {
                return n;
            }
            n = if step.goes_left(x[step.feature as usize]) { n + 1 } else { step.right as usize };
        }
    }

    /// Adds the forest's SHAP values for `x` into `phi` (zeroed by the caller), averaged over
    /// trees and background rows. No allocation once `scratch` fits.
    pub(crate) fn shap_into(&self, x: &[f64], scratch: &mut InterventionalScratch, phi: &mut [f64]) {
        if scratch.side.len() != self.n_features {
            scratch.side = vec![UNSEEN; self.n_features];
        }
        for &root in &self.roots {
            for z in self.background.chunks_exact(self.n_features) {
                let mut pair = Pair { forest: self, x, z, side: &mut scratch.side, phi };
                pair.walk(root as usize, 0, 0);
            }
        }
        let scale = 1.0 / (self.roots.len() * self.n_background()) as f64;
        phi.iter_mut().for_each(|v| *v *= scale);
    }
}

/// W(p, n) = p! n! / (p + n + 1)! for p, n < size, by W(p, n) = W(p − 1, n) · p / (p + n + 1).
fn shapley_weights(size: usize) -> Vec<f64> {
    let mut w = vec![0.0; size * size];
    for n in 0..size {
        w[n] = 1.0 / (n as f64 + 1.0);
        for p in 1..size {
            w[p * size + n] = w[(p - 1) * size + n] * p as f64 / (p + n + 1) as f64;
        }
    }
    w
}

/// Appends node `i` and its subtree in preorder; tracks the most distinct features on a path.
fn push_preorder(
    tree: &Tree,
    i: usize,
    depth: usize,
    steps: &mut Vec<Step>,
    on_path: &mut [bool],
    max_unique: &mut usize,
) -> std::result::Result<(), String> {
    if depth > super::path::MAX_DEPTH {
        return Err(format!("deeper than {}, which TreeSHAP supports", super::path::MAX_DEPTH));
    }
    let node = &tree.nodes[i];
    let at = steps.len();
    if node.is_leaf() {
        steps.push(Step { threshold: node.value, feature: 0, right: LEAF, nan_left: false });
        *max_unique = (*max_unique).max(on_path.iter().filter(|&&b| b).count());
        return Ok(());
    }
    steps.push(Step {
        threshold: node.threshold,
        feature: node.feature,
        right: 0,
        nan_left: node.default_left,
    });
    let f = node.feature as usize;
    let was = std::mem::replace(&mut on_path[f], true);
    push_preorder(tree, node.left as usize, depth + 1, steps, on_path, max_unique)?;
    steps[at].right = steps.len() as u32;
    push_preorder(tree, node.right as usize, depth + 1, steps, on_path, max_unique)?;
    on_path[f] = was;
    Ok(())
}

/// One (x, z) pair's recursion through one tree.
struct Pair<'a> {
    forest: &'a InterventionalForest,
    x: &'a [f64],
    z: &'a [f64],
    side: &'a mut [u8],
    phi: &'a mut [f64],
}

impl Pair<'_> {
    /// Returns (Σ value·W(p−1, n), Σ value·W(p, n−1)) over the leaves reached below `n`, where
    /// p, n count the features taken from x and from z at each leaf.
    fn walk(&mut self, n: usize, from_x: usize, from_z: usize) -> (f64, f64) {
        let step = self.forest.steps[n];
        if step.right == LEAF {
            let w = |p: usize, q: usize| self.forest.weights[p * self.forest.stride + q];
            let credit = if from_x > 0 { step.threshold * w(from_x - 1, from_z) } else { 0.0 };
            let debit = if from_z > 0 { step.threshold * w(from_x, from_z - 1) } else { 0.0 };
            return (credit, debit);
        }
        let f = step.feature as usize;
        let x_left = step.goes_left(self.x[f]);
        let z_left = step.goes_left(self.z[f]);
        let child = |left: bool| if left { n + 1 } else { step.right as usize };
        if x_left == z_left {
            return self.walk(child(x_left), from_x, from_z);
        }
        match self.side[f] {
            FROM_X => self.walk(child(x_left), from_x, from_z),
            FROM_Z => self.walk(child(z_left), from_x, from_z),
            _ => {
                self.side[f] = FROM_X;
                let (x_credit, x_debit) = self.walk(child(x_left), from_x + 1, from_z);
                self.side[f] = FROM_Z;
                let (z_credit, z_debit) = self.walk(child(z_left), from_x, from_z + 1);
                self.side[f] = UNSEEN;
                self.phi[f] += x_credit - z_debit;
                (x_credit + z_credit, x_debit + z_debit)
            }
        }
    }
}
