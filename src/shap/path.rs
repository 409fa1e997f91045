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

use super::quadrature::GaussLegendre;
use crate::error::{Error, Result};
use crate::forest::{Forest, Tree};

/// Marks a leaf child in [`Child::index`].
const LEAF: u32 = u32::MAX;

/// Deepest tree TreeSHAP accepts (recursion depth; also bounds the scratch).
pub(crate) const MAX_DEPTH: usize = 512;

/// An internal node in preorder; its children (leaf or internal) are stored inline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
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
    /// Per feature, integrands to integrate at the end of the row.
    with_w: Vec<f64>,
    with_w_1mt: Vec<f64>,
}

impl PathForest {
    pub(crate) fn new(forest: &Forest) -> Result<PathForest> {
        let mut builder = Builder { splits: Vec::new(), last: vec![(0, 1.0); forest.n_features], slots: 1, unique: 0 };
        let mut roots = Vec::with_capacity(forest.trees.len());
        let mut base_sum = 0.0;
        for (t, tree) in forest.trees.iter().enumerate() {
            super::check_tree(tree, forest.n_features).map_err(|e| Error::Internal(format!("tree {t}: {e}")))?;
            base_sum += cover_weighted_mean(tree);
            let root = &tree.nodes[0];
            roots.push(if root.is_leaf() {
                Root::Leaf(root.value)
            } else {
                Root::Split(builder.add(tree, 0, 0, 0).map_err(|e| Error::Internal(format!("tree {t}: {e}")))?)
            });
        }
        // A path with d distinct features gives integrands of degree ≤ d − 1 ≤ 2n − 1.
        let lanes = supported_lanes(builder.unique.div_ceil(2).max(1)).ok_or_else(|| {
            Error::Internal(format!("a path splits on {} distinct features; TreeSHAP supports 128", builder.unique))
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

    /// Sizes `s` for this forest (allocates only if it is too small).
    fn fit_scratch(&self, s: &mut PathScratch) {
        let (slots, lanes, features) = (self.slots, self.lanes, self.n_features);
        if s.a.len() != slots || s.inv_l.len() != slots * lanes || s.with_w.len() != features * lanes {
            s.a = vec![0.0; slots];
            s.inv_l = vec![0.0; slots * lanes];
            s.acc = vec![0.0; slots * lanes];
            s.with_w = vec![0.0; features * lanes];
            s.with_w_1mt = vec![0.0; features * lanes];
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

    /// Adds the forest's SHAP values for `x` into `phi` (zeroed by the caller) and scales them
    /// to the forest mean. No allocation once `scratch` fits.
    pub(crate) fn shap_into(&self, x: &[f64], scratch: &mut PathScratch, phi: &mut [f64]) {
        self.fit_scratch(scratch);
        macro_rules! run {
            ($($n:literal)*) => {
                match self.lanes {
                    $($n => self.shap_lanes::<$n>(x, scratch, phi),)*
                    other => unreachable!("unsupported lane count {other}"),
                }
            };
        }
        run!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 24 32 48 64);
        let scale = 1.0 / self.roots.len() as f64;
        phi.iter_mut().for_each(|v| *v *= scale);
    }

    fn shap_lanes<const N: usize>(&self, x: &[f64], scratch: &mut PathScratch, phi: &mut [f64]) {
        let with_w = scratch.with_w.as_chunks_mut::<N>().0;
        let with_w_1mt = scratch.with_w_1mt.as_chunks_mut::<N>().0;
        with_w.fill([0.0; N]);
        with_w_1mt.fill([0.0; N]);
        let mut walk = Walk {
            splits: &self.splits,
            t: array(&self.rule.t),
            inv_1mt: array(&self.inv_1mt),
            x,
            a: &mut scratch.a,
            inv_l: scratch.inv_l.as_chunks_mut::<N>().0,
            acc: scratch.acc.as_chunks_mut::<N>().0,
            with_w,
            with_w_1mt,
        };
        for root in &self.roots {
            if let Root::Split(n) = *root {
                walk.visit(n as usize, 0, &[1.0; N]);
            }
        }
        let (w, w_over_1mt) = (array::<N>(&self.rule.w), array::<N>(&self.w_over_1mt));
        for (f, value) in phi.iter_mut().enumerate() {
            *value += dot(&w, &walk.with_w[f]) + dot(&w_over_1mt, &walk.with_w_1mt[f]);
        }
    }
}

fn array<const N: usize>(values: &[f64]) -> [f64; N] {
    let mut out = [0.0; N];
    out.copy_from_slice(values);
    out
}

/// Lane counts compiled in: every count to 16, then a few wider ones (more nodes than needed
/// stay exact).
fn supported_lanes(needed: usize) -> Option<usize> {
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 24, 32, 48, 64].into_iter().find(|&n| n >= needed)
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
    fn add(&mut self, tree: &Tree, i: usize, depth: usize, unique: usize) -> std::result::Result<u32, String> {
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
        self.splits.push(Split { threshold: node.threshold, feature: node.feature, prev, children: [blank; 2] });
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

/// One row's traversal state.
struct Walk<'a, const N: usize> {
    splits: &'a [Split],
    t: [f64; N],
    /// 1 / (1 − t): an edge x does not follow has L = b (1 − t).
    inv_1mt: [f64; N],
    x: &'a [f64],
    a: &'a mut [f64],
    inv_l: &'a mut [[f64; N]],
    acc: &'a mut [[f64; N]],
    /// Per feature, the integrands still to be integrated: `with_w` against w, `with_w_1mt`
    /// against w / (1 − t). Integrating once per feature and row, not once per edge.
    with_w: &'a mut [[f64; N]],
    with_w_1mt: &'a mut [[f64; N]],
}

/// A node being visited: its feature, the slot of that feature's previous edge, each child
/// edge's a, and the path polynomial without the feature's earlier factor.
struct Open<const N: usize> {
    feature: usize,
    prev: usize,
    a: [f64; 2],
    base: [f64; N],
}

impl<const N: usize> Walk<'_, N> {
    /// Visits internal node `n` at `depth`, whose incoming path polynomial is `p` (values at the
    /// nodes t); returns S(n) = Σ_{leaves under n} value · P_leaf(t) and books the integrands of
    /// the edges into its two children.
    fn visit(&mut self, n: usize, depth: usize, p: &[f64; N]) -> [f64; N] {
        let splits = self.splits;
        let split = &splits[n];
        let node = self.open(split, p);
        let mut leaves = Leaves::default();
        let mut s = [0.0; N];
        for (child, a) in split.children.iter().zip(node.a) {
            if child.index == LEAF {
                leaves.add(child, a);
            } else {
                add_to(&mut s, &self.internal_child(child, a, depth + 1, &node.base, node.feature));
            }
        }
        self.close(&node, &leaves, s)
    }

    /// [`Walk::visit`] for a node whose children are both leaves, inlined into its parent.
    #[inline(always)]
    fn visit_twig(&mut self, n: usize, p: &[f64; N]) -> [f64; N] {
        let splits = self.splits;
        let split = &splits[n];
        let node = self.open(split, p);
        let mut leaves = Leaves::default();
        leaves.add(&split.children[0], node.a[0]);
        leaves.add(&split.children[1], node.a[1]);
        self.close(&node, &leaves, [0.0; N])
    }

    #[inline(always)]
    fn open(&self, split: &Split, p: &[f64; N]) -> Open<N> {
        let feature = split.feature as usize;
        let prev = split.prev as usize;
        let (a_prev, base) = if prev == 0 { (1.0, *p) } else { (self.a[prev], mul(p, &self.inv_l[prev])) };
        let a = if self.x[feature] <= split.threshold { [a_prev, 0.0] } else { [0.0, a_prev] };
        Open { feature, prev, a, base }
    }

    /// Adds the leaf children's share to S, books their integrand, and hands S to the previous
    /// edge on this feature.
    #[inline(always)]
    fn close(&mut self, node: &Open<N>, leaves: &Leaves, mut s: [f64; N]) -> [f64; N] {
        if leaves.any {
            let t = self.t;
            let integrand = &mut self.with_w[node.feature];
            for j in 0..N {
                s[j] += node.base[j] * (leaves.alpha + leaves.beta * t[j]);
                integrand[j] += leaves.beta * node.base[j];
            }
        }
        if node.prev != 0 {
            add_to(&mut self.acc[node.prev], &s);
        }
        s
    }

    /// Enters internal child `child` at `slot` (edge factor a t + b (1 − t)), and books the
    /// edge's integrand (a − b) · (S(c) − deeper same-feature part) / L once its subtree is summed.
    fn internal_child(&mut self, child: &Child, a: f64, slot: usize, base: &[f64; N], feature: usize) -> [f64; N] {
        let (b, t) = (child.b, self.t);
        let mut p = [0.0; N];
        for j in 0..N {
            p[j] = base[j] * (b + (a - b) * t[j]);
        }
        if a == 0.0 {
            // L = b (1 − t), so (a − b) / L = −1 / (1 − t): no division.
            if child.repeats {
                self.enter(slot, 0.0, mul(&self.inv_1mt, &[child.value_or_inv_b; N]));
            }
            let s = self.visit_child(child, slot, &p);
            let own = self.own_part(&s, slot, child.repeats);
            let integrand = &mut self.with_w_1mt[feature];
            for j in 0..N {
                integrand[j] -= own[j];
            }
            s
        } else {
            let mut inv_l = [0.0; N];
            for j in 0..N {
                inv_l[j] = 1.0 / (b + (1.0 - b) * t[j]);
            }
            if child.repeats {
                self.enter(slot, 1.0, inv_l);
            }
            let s = self.visit_child(child, slot, &p);
            let own = self.own_part(&s, slot, child.repeats);
            let integrand = &mut self.with_w[feature];
            for j in 0..N {
                integrand[j] += (1.0 - b) * own[j] * inv_l[j];
            }
            s
        }
    }

    #[inline(always)]
    fn visit_child(&mut self, child: &Child, slot: usize, p: &[f64; N]) -> [f64; N] {
        if child.twig { self.visit_twig(child.index as usize, p) } else { self.visit(child.index as usize, slot, p) }
    }

    /// Opens depth `slot` for an edge whose feature is split again below it.
    fn enter(&mut self, slot: usize, a: f64, inv_l: [f64; N]) {
        self.a[slot] = a;
        self.inv_l[slot] = inv_l;
        self.acc[slot] = [0.0; N];
    }

    /// S(c) minus the part booked at deeper edges on the same feature.
    fn own_part(&self, s: &[f64; N], slot: usize, repeats: bool) -> [f64; N] {
        if !repeats {
            return *s;
        }
        let mut out = [0.0; N];
        for j in 0..N {
            out[j] = s[j] - self.acc[slot][j];
        }
        out
    }
}

/// Leaf children fold into S = base · (alpha + beta t), with integrand beta · base.
#[derive(Default)]
struct Leaves {
    alpha: f64,
    beta: f64,
    any: bool,
}

impl Leaves {
    #[inline(always)]
    fn add(&mut self, leaf: &Child, a: f64) {
        self.alpha += leaf.value_or_inv_b * leaf.b;
        self.beta += leaf.value_or_inv_b * (a - leaf.b);
        self.any = true;
    }
}

#[inline(always)]
fn add_to<const N: usize>(y: &mut [f64; N], x: &[f64; N]) {
    for k in 0..N {
        y[k] += x[k];
    }
}

#[inline(always)]
fn mul<const N: usize>(u: &[f64; N], v: &[f64; N]) -> [f64; N] {
    let mut out = [0.0; N];
    for k in 0..N {
        out[k] = u[k] * v[k];
    }
    out
}

#[inline]
fn dot<const N: usize>(u: &[f64; N], v: &[f64; N]) -> f64 {
    let mut sum = 0.0;
    for k in 0..N {
        sum += u[k] * v[k];
    }
    sum
}

#[cfg(test)]
pub(crate) fn lanes_of(forest: &PathForest) -> usize {
    forest.lanes
}
