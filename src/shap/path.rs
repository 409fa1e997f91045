//! Path-dependent TreeSHAP (the game of Lundberg et al. 2018, Algorithm 2) in O(nodes × n) per
//! tree, with n = ⌈unique features on a path / 2⌉ ≤ 6 at depth 12.
//!
//! For a leaf v, let F_v be the features split on its path; for j ∈ F_v, a_j ∈ {0, 1} says x
//! satisfies every split on j along the path and b_j is the product of those edges' cover
//! ratios. The game is v(S) = Σ_v value_v Π_{j∈F_v} (a_j if j ∈ S else b_j), and its Shapley
//! value is φ_i = Σ_v value_v (a_i − b_i) ∫₀¹ Π_{j∈F_v, j≠i} (a_j t + b_j (1 − t)) dt
//! (the Shapley weights |S|!(d−|S|−1)!/d! are Beta integrals). As in Linear TreeSHAP (Yu et al.,
//! NeurIPS 2022), the products are summed bottom-up as polynomials in t, but each polynomial is
//! held by its values at Gauss–Legendre nodes: integration is then exact in f64 at any depth,
//! and dividing out a feature's factor is a pointwise division.
//!
//! A feature split twice on a path: its contribution is booked at its deepest edge, so the edge
//! into node c (feature i) takes S(c) = Σ_{leaves under c} value · P_v(t) minus S(c') of the
//! next edges on i below c (collected in `acc`), divided by c's factor of i.
//!
//! Speed: the layout is preorder with leaves stored inline in their parent; an edge x does not
//! follow has L = b (1 − t), which needs no division; a node whose children are both leaves is
//! visited inline; batches walk 4 rows through each tree together (shared node loads and
//! calls); the traversal is also compiled for AVX and picked at run time. Every variant computes
//! the same bits for a row.

mod walk;

use super::quadrature::GaussLegendre;
use crate::error::{Error, Result};
use crate::forest::{Forest, Tree};
use walk::{Isa, Walk};

/// Marks a leaf child in [`Child::index`].
const LEAF: u32 = u32::MAX;

/// Rows walked together by [`PathForest::shap_rows`] in batches.
pub(crate) const BLOCK: usize = 4;

/// Deepest tree TreeSHAP accepts (recursion depth; also bounds the scratch).
pub(crate) const MAX_DEPTH: usize = 512;

/// An internal node in preorder; its children (leaf or internal) are stored inline.
#[derive(Debug, Clone, Copy)]
struct Split {
    threshold: f64,
    feature: u32,
    /// Depth slot of the nearest ancestor edge that split on `feature` (0: none, and slot 0 is
    /// never written because no edge enters the root).
    prev: u32,
    children: [Child; 2],
}

#[derive(Debug, Clone, Copy)]
struct Child {
    /// Product of the cover ratios of the edges on this feature from the root down to here.
    b: f64,
    /// A leaf child's value; for an internal child, 1 / b.
    value_or_inv_b: f64,
    /// Index of the internal child in `PathForest::splits`, or `LEAF`.
    index: u32,
    /// Whether the internal child's subtree splits on this feature again (then its slot must
    /// hold a, 1/L and the accumulator of the deeper edges).
    repeats: bool,
    /// Whether the internal child's two children are leaves (visited inline, no recursion).
    twig: bool,
}

/// Where a tree starts: its root split, or the value of a tree that is a single leaf.
#[derive(Debug, Clone, Copy)]
enum Root {
    Split(u32),
    Leaf(f64),
}

/// A forest laid out for path-dependent TreeSHAP; built once, shared read-only across threads.
#[derive(Debug, Clone)]
pub(crate) struct PathForest {
    splits: Vec<Split>,
    roots: Vec<Root>,
    /// Gauss–Legendre nodes and weights; `lanes` = their number.
    rule: GaussLegendre,
    /// w / (1 − t) and 1 / (1 − t) at the rule's nodes.
    w_over_1mt: Vec<f64>,
    inv_1mt: Vec<f64>,
    lanes: usize,
    /// Depth slots needed: the deepest internal child's depth + 1.
    slots: usize,
    n_features: usize,
    base_value: f64,
    /// The instruction set the traversal runs with (AVX when the CPU has it; same results).
    isa: Isa,
}

/// Per-thread working memory: one slot per depth.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathScratch {
    /// a_i of the feature entering each depth slot (1 or 0).
    a: Vec<f64>,
    /// 1 / (a t + b (1 − t)) at each node, per slot.
    inv_l: Vec<f64>,
    /// Σ S(c') of the next same-feature edges below each slot.
    acc: Vec<f64>,
    /// Per row and feature, integrands to integrate at the end of the rows.
    with_w: Vec<f64>,
    with_w_1mt: Vec<f64>,
}

impl PathForest {
    pub(crate) fn new(forest: &Forest) -> Result<PathForest> {
        let mut builder =
            Builder { splits: Vec::new(), last: vec![(0, 1.0); forest.n_features], slots: 1, unique: 0 };
        let mut roots = Vec::with_capacity(forest.trees.len());
        let mut base_sum = 0.0;
        for (t, tree) in forest.trees.iter().enumerate() {
            super::check_tree(tree, forest.n_features)
                .map_err(|e| Error::Internal(format!("tree {t}: {e}")))?;
            base_sum += cover_weighted_mean(tree);
            let root = &tree.nodes[0];
            roots.push(if root.is_leaf() {
                Root::Leaf(root.value)
            } else {
                Root::Split(
                    builder.add(tree, 0, 0, 0).map_err(|e| Error::Internal(format!("tree {t}: {e}")))?,
                )
            });
        }
        // A path with d distinct features gives integrands of degree ≤ d − 1 ≤ 2n − 1.
        let lanes = supported_lanes(builder.unique.div_ceil(2).max(1)).ok_or_else(|| {
            Error::Internal(format!(
                "a path splits on {} distinct features; TreeSHAP supports 128",
                builder.unique
            ))
        })?;
        let rule = GaussLegendre::new(lanes);
        Ok(PathForest {
            splits: builder.splits,
            roots,
            w_over_1mt: rule.t.iter().zip(&rule.w).map(|(t, w)| w / (1.0 - t)).collect(),
            inv_1mt: rule.t.iter().map(|t| 1.0 / (1.0 - t)).collect(),
            rule,
            lanes,
            slots: builder.slots,
            n_features: forest.n_features,
            isa: Isa::detect(),
            base_value: base_sum / forest.trees.len() as f64,
        })
    }

    pub(crate) fn base_value(&self) -> f64 {
        self.base_value
    }

    pub(crate) fn scratch(&self) -> PathScratch {
        let mut s = PathScratch::default();
        self.fit_scratch(&mut s);
        s
    }

    /// Sizes `s` for this forest and up to `BLOCK` rows (allocates only if it does not fit).
    fn fit_scratch(&self, s: &mut PathScratch) {
        let (slots, lanes, features) = (self.slots, self.lanes, self.n_features);
        if s.a.len() != slots * BLOCK
            || s.inv_l.len() != slots * lanes * BLOCK
            || s.with_w.len() != features * lanes * BLOCK
        {
            s.a = vec![0.0; slots * BLOCK];
            s.inv_l = vec![0.0; slots * lanes * BLOCK];
            s.acc = vec![0.0; slots * lanes * BLOCK];
            s.with_w = vec![0.0; features * lanes * BLOCK];
            s.with_w_1mt = vec![0.0; features * lanes * BLOCK];
        }
    }

    /// Mean over trees of the leaf value `x` reaches.
    pub(crate) fn predict(&self, x: &[f64]) -> f64 {
        let total: f64 = self.roots.iter().map(|root| self.tree_predict(*root, x)).sum();
        total / self.roots.len() as f64
    }

    fn tree_predict(&self, root: Root, x: &[f64]) -> f64 {
        let mut n = match root {
            Root::Leaf(value) => return value,
            Root::Split(n) => n as usize,
        };
        loop {
            let split = &self.splits[n];
            let child = &split.children[usize::from(x[split.feature as usize] > split.threshold)];
            if child.index == LEAF {
                return child.value_or_inv_b;
            }
            n = child.index as usize;
        }
    }

    /// Adds the forest's SHAP values of R rows into `phi` (row-major, `R × n_features`, zeroed by
    /// the caller), scaled to the forest mean. Each row gets exactly the bits it would get alone.
    /// No allocation once `scratch` fits.
    pub(crate) fn shap_rows<const R: usize>(
        &self,
        xs: [&[f64]; R],
        scratch: &mut PathScratch,
        phi: &mut [f64],
    ) {
        const { assert!(R <= BLOCK) };
        self.fit_scratch(scratch);
        macro_rules! run {
            ($($n:literal)*) => {
                match self.lanes {
                    $($n => self.shap_lanes::<$n, R>(xs, scratch, phi),)*
                    other => unreachable!("unsupported lane count {other}"),
                }
            };
        }
        run!(1 2 3 4 5 6 7 8 10 12 16 24 32 64);
        let scale = 1.0 / self.roots.len() as f64;
        phi.iter_mut().for_each(|v| *v *= scale);
    }

    fn shap_lanes<const N: usize, const R: usize>(
        &self,
        xs: [&[f64]; R],
        scratch: &mut PathScratch,
        phi: &mut [f64],
    ) {
        let (slots, nf) = (self.slots, self.n_features);
        let with_w = scratch.with_w[..R * nf * N].as_chunks_mut::<N>().0;
        let with_w_1mt = scratch.with_w_1mt[..R * nf * N].as_chunks_mut::<N>().0;
        with_w.fill([0.0; N]);
        with_w_1mt.fill([0.0; N]);
        let mut walk = Walk {
            splits: &self.splits,
            t: array(&self.rule.t),
            inv_1mt: array(&self.inv_1mt),
            xs,
            n_features: nf,
            a: scratch.a[..slots * R].as_chunks_mut::<R>().0,
            inv_l: scratch.inv_l[..slots * R * N].as_chunks_mut::<N>().0.as_chunks_mut::<R>().0,
            acc: scratch.acc[..slots * R * N].as_chunks_mut::<N>().0.as_chunks_mut::<R>().0,
            with_w,
            with_w_1mt,
        };
        let roots = self.roots.iter().filter_map(|root| match root {
            Root::Split(n) => Some(*n as usize),
            Root::Leaf(_) => None,
        });
        walk.trees(roots, self.isa);
        let (w, w_over_1mt) = (array::<N>(&self.rule.w), array::<N>(&self.w_over_1mt));
        for (i, value) in phi.iter_mut().enumerate().take(R * nf) {
            *value += walk::dot(&w, &walk.with_w[i]) + walk::dot(&w_over_1mt, &walk.with_w_1mt[i]);
        }
    }
}

fn array<const N: usize>(values: &[f64]) -> [f64; N] {
    let mut out = [0.0; N];
    out.copy_from_slice(values);
    out
}

/// Lane counts compiled in: every count to 8, then a few wider ones (more quadrature nodes than
/// needed stay exact).
fn supported_lanes(needed: usize) -> Option<usize> {
    [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 32, 64].into_iter().find(|&n| n >= needed)
}

/// Σ over leaves of value × Π cover ratios: v(∅) of the game, i.e. the tree's expected value.
fn cover_weighted_mean(tree: &Tree) -> f64 {
    let mut weight = vec![0.0; tree.nodes.len()];
    weight[0] = 1.0;
    let mut mean = 0.0;
    for (i, node) in tree.nodes.iter().enumerate() {
        if node.is_leaf() {
            mean += weight[i] * node.value;
        } else {
            for c in [node.left as usize, node.right as usize] {
                weight[c] = weight[i] * (tree.nodes[c].cover / node.cover);
            }
        }
    }
    mean
}

/// Lays trees out in preorder, computing each edge's same-feature cover product and the slot of
/// its previous same-feature edge.
struct Builder {
    splits: Vec<Split>,
    /// Per feature, on the current path: (slot of its deepest edge, its cover product); slot 0
    /// means "not on the path".
    last: Vec<(u32, f64)>,
    slots: usize,
    unique: usize,
}

impl Builder {
    /// Adds internal node `i` (at `depth`, with `unique` distinct features above it).
    fn add(
        &mut self,
        tree: &Tree,
        i: usize,
        depth: usize,
        unique: usize,
    ) -> std::result::Result<u32, String> {
        if depth >= MAX_DEPTH {
            return Err(format!("deeper than {MAX_DEPTH}, which TreeSHAP supports"));
        }
        let node = &tree.nodes[i];
        let feature = node.feature as usize;
        let (prev, b_prev) = self.last[feature];
        let unique = unique + usize::from(prev == 0);
        self.unique = self.unique.max(unique);
        let index = self.splits.len();
        let blank = Child { b: 0.0, value_or_inv_b: 0.0, index: LEAF, repeats: false, twig: false };
        self.splits.push(Split {
            threshold: node.threshold,
            feature: node.feature,
            prev,
            children: [blank; 2],
        });
        for (k, c) in [node.left as usize, node.right as usize].into_iter().enumerate() {
            let b = b_prev * (tree.nodes[c].cover / node.cover);
            if !(b > 0.0 && (1.0 / b).is_finite()) {
                return Err(format!("node {c}: the cover product along its path is {b}, not > 0"));
            }
            let child = if tree.nodes[c].is_leaf() {
                Child { b, value_or_inv_b: tree.nodes[c].value, index: LEAF, repeats: false, twig: false }
            } else {
                let slot = depth + 1;
                self.slots = self.slots.max(slot + 1);
                let saved = std::mem::replace(&mut self.last[feature], (slot as u32, b));
                let first = self.add(tree, c, slot, unique)?;
                self.last[feature] = saved;
                // The subtree is contiguous in preorder: does it split on `feature` again?
                let repeats = self.splits[first as usize..].iter().any(|s| s.feature as usize == feature);
                let grandchildren = [tree.nodes[c].left, tree.nodes[c].right];
                let twig = grandchildren.iter().all(|&g| tree.nodes[g as usize].is_leaf());
                Child { b, value_or_inv_b: 1.0 / b, index: first, repeats, twig }
            };
            self.splits[index].children[k] = child;
        }
        Ok(index as u32)
    }
}

#[cfg(test)]
pub(crate) fn lanes_of(forest: &PathForest) -> usize {
    forest.lanes
}

/// The same forest with the plain (non-AVX) traversal, to check both variants agree.
#[cfg(test)]
pub(crate) fn baseline_variant(forest: &PathForest) -> PathForest {
    PathForest { isa: Isa::Baseline, ..forest.clone() }
}
