//! Interventional TreeSHAP (shap's `feature_perturbation="interventional"`): φ is the mean over
//! background rows z of the exact baseline Shapley values of the game v(S) = f(x_S, z_¬S).
//!
//! Per leaf v and features F_v split on its path: x "passes" feature j if it satisfies every
//! split on j along the path (A: the features x passes, B: those it fails, n = |B|); likewise z.
//! The hybrid (x_S, z_¬S) reaches v iff every j ∈ B is taken from z and z passes it, and every
//! j ∈ A that z fails is taken from x. So a background row z is *alive* at v iff it passes every
//! feature of B, and then, with M the features of A that z fails (p = |M|), the leaf's game is
//! value · [M ⊆ S, B ∩ S = ∅], whose Shapley values are value · W(p − 1, n) for each i ∈ M and
//! −value · W(p, n − 1) for each i ∈ B, with W(p, n) = p! n! / (p + n + 1)!.
//!
//! The contributions depend on z only through p and M, so a leaf needs, over its alive rows,
//! how many have each p, and per feature of A how many of those failing it have each p: integer
//! counts. They are gathered by one preorder scan of each tree per row x (see `walk.rs`) over
//! sets of background rows held as bitsets (one bit per row): which rows go left at each node
//! is computed once, here, and so is what the path above each node is (`Link`), so a node is a
//! few word operations whatever the data; the scan carries per depth the alive rows and the rows
//! failing the feature of the edge into it, and jumps past a subtree where no row is alive. At a
//! leaf the counts are popcounts. A batch's rows go through each tree together, grouped by the
//! way they went (`walk/block.rs`): a group's edges and leaf counts are worked out once. The
//! counts are exact, so every instruction set and block gives the same bits (and the same as
//! the row-list walk this replaced, kept as the tests' reference in `list.rs`).

#[cfg(test)]
mod list;
mod walk;

pub(super) use walk::BLOCK_ROWS;

use super::isa::Isa;
use crate::error::{Error, Result};
use crate::forest::{Forest, Tree};

/// Most distinct features on one path: a background row's failed features at a leaf are one
/// 64-bit mask.
const MAX_UNIQUE: usize = 64;

/// `right` of a leaf step.
const LEAF: u32 = u32::MAX;

/// A node in preorder: the left child is the next node. Leaves keep their value in `threshold`.
#[derive(Debug, Clone, Copy)]
struct Step {
    threshold: f64,
    feature: u32,
    right: u32,
    /// Internal nodes: their index among internal nodes, where their routing is in `routes`.
    route: u32,
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

/// How the walk reaches a node from its parent (`walk.rs` scans each tree in preorder): what
/// the path above it is, which is fixed by the tree, so none of it is worked out per row.
#[derive(Debug, Clone, Copy, Default)]
struct Link {
    /// The parent's routing (its index among internal nodes) and feature.
    route: u32,
    feature: u32,
    /// One past the node's subtree in preorder: where the walk goes on when no row is alive.
    end: u32,
    depth: u16,
    /// Where the rows failing the parent's feature above this edge are: the walk's set at the
    /// depth of the feature's previous edge on the path, or its all-zero set if there is none.
    before: u16,
    /// The parent's feature's position on the path (order of first appearance), and whether
    /// the node is its parent's left child.
    position: u8,
    left: bool,
    /// The distinct features on the path from the root to the node; at a leaf, where in
    /// `InterventionalForest::latest` the depth of each one's latest edge is listed.
    n_path: u8,
    latest: u32,
}

/// A forest and its background, laid out for interventional TreeSHAP; shared read-only (boxed
/// slices, not vectors: `TreeShap`'s engine holds it inline).
#[derive(Debug, Clone)]
pub(crate) struct InterventionalForest {
    steps: Box<[Step]>,
    /// Per step, how it is reached from its parent (a root's is unused but for `end`).
    links: Box<[Link]>,
    /// Per leaf, `n_path` entries from its link's `latest`: the depth of the last edge on each
    /// path position's feature, whose set holds the rows failing it at the leaf.
    latest: Box<[u16]>,
    roots: Box<[u32]>,
    background: Box<[f64]>,
    n_features: usize,
    /// Per internal node, `words` words: bit r of word r / 64 is set iff background row r goes
    /// left there (a missing value by the node's default side). Bits past the last row are 0.
    routes: Box<[u64]>,
    /// Words per row set: ⌈background rows / 64⌉, padded (`walk::padded_words`).
    words: usize,
    /// Every background row's bit, `words` words.
    all_rows: Box<[u64]>,
    /// Bit planes of the per-row counter of failed path features (p ≤ `stride` − 1).
    planes: usize,
    /// W(p, n) = p! n! / (p + n + 1)!, row-major with stride `stride`.
    weights: Box<[f64]>,
    stride: usize,
    /// Deepest node (bounds the walk's per-depth scratch).
    depth: usize,
    base_value: f64,
    isa: Isa,
    /// Whether the CPU's PEXT is quick (`isa::fast_bit_extract`): the walk packs with it a leaf's
    /// rows that do not fold into one word.
    fast_extract: bool,
}

/// Per-thread working memory (see `walk.rs`); row sets are `words` words each.
#[derive(Debug, Clone, Default)]
pub(crate) struct InterventionalScratch {
    /// Per depth: the node's alive rows (at a leaf of the block walk, one group's).
    alive: Vec<u64>,
    /// A leaf's rows' p, bit-sliced (`planes` sets), when they are too many to pack in a word.
    counters: Vec<u64>,
    /// Per depth d: the rows failing the feature of the edge into the node at d (all its
    /// splits down to there); one more, all zero, for a feature new on the path.
    fails: Vec<u64>,
    /// Per depth: the path positions x fails, and whether x goes left at the node.
    x_fails: Vec<u64>,
    x_left: Vec<bool>,
    /// The distinct features on the path, by position.
    on_path: Vec<u32>,
    /// A leaf's rows of one p.
    classes: Vec<u64>,
    /// A leaf's failing alive rows per path position, packed (`walk/leaf.rs`), and its nonempty
    /// classes of packed rows by p ≥ 1, with their credit weights.
    packed: Vec<u64>,
    class_rows: Vec<u64>,
    class_weights: Vec<f64>,
    /// Per path position, a wide leaf's credit sum.
    credit: Vec<f64>,
    /// The (unscaled) sums of the SHAP values.
    phi: Vec<f64>,
    /// The block walk's (`walk/block.rs`), sized on its first use.
    block: walk::BlockScratch,
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
        let n_rows = background.len() / n_features;
        let mut builder = Builder {
            steps: Vec::new(),
            links: Vec::new(),
            latest: Vec::new(),
            position: vec![u8::MAX; n_features],
            edge_depth: vec![0; MAX_UNIQUE],
            n_path: 0,
            max_unique: 0,
            depth: 0,
        };
        let mut roots = Vec::with_capacity(forest.trees.len());
        for (t, tree) in forest.trees.iter().enumerate() {
            super::check_tree(tree, n_features).map_err(|e| Error::Internal(format!("tree {t}: {e}")))?;
            roots.push(builder.steps.len() as u32);
            builder
                .push_preorder(tree, 0, 0, Link::default())
                .map_err(|e| Error::Internal(format!("tree {t}: {e}")))?;
        }
        if builder.max_unique > MAX_UNIQUE {
            return Err(Error::Internal(format!(
                "a path splits on {} distinct features; interventional TreeSHAP supports {MAX_UNIQUE}",
                builder.max_unique
            )));
        }
        let stride = builder.max_unique + 1;
        let words = walk::padded_words(n_rows);
        let (mut steps, mut links) = (builder.steps, builder.links);
        let routes = routes(&mut steps, &roots, background, n_features, words);
        // A link's `route` was its parent's step; now that step's routing. A `before` of
        // u16::MAX (none) is now the all-zero set past the walk's depths.
        let zeros = (builder.depth + 2) as u16;
        for link in &mut links {
            link.route = steps[link.route as usize].route;
            if link.before == u16::MAX {
                link.before = zeros;
            }
        }
        let mut all_rows = vec![0; words];
        for r in 0..n_rows {
            all_rows[r / 64] |= 1 << (r % 64);
        }
        let mut forest = InterventionalForest {
            steps: steps.into(),
            links: links.into(),
            latest: builder.latest.into(),
            roots: roots.into(),
            background: background.into(),
            n_features,
            routes: routes.into(),
            words,
            all_rows: all_rows.into(),
            planes: (usize::BITS - builder.max_unique.leading_zeros()).max(1) as usize,
            weights: shapley_weights(stride).into(),
            stride,
            depth: builder.depth,
            base_value: 0.0,
            isa: Isa::detect(),
            fast_extract: super::isa::fast_bit_extract(),
        };
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
        let mut s = InterventionalScratch::default();
        self.fit_scratch(&mut s);
        s
    }

    /// Sizes `s` for this forest; allocates only if it does not fit.
    fn fit_scratch(&self, s: &mut InterventionalScratch) {
        let levels = self.depth + 2;
        let words = self.words;
        if s.alive.len() == levels * words
            && s.counters.len() == self.planes * words
            && s.fails.len() == (levels + 1) * words
            && s.credit.len() == self.stride
        {
            return;
        }
        *s = InterventionalScratch {
            alive: vec![0; levels * words],
            counters: vec![0; self.planes * words],
            fails: vec![0; (levels + 1) * words],
            x_fails: vec![0; levels],
            x_left: vec![false; levels],
            on_path: vec![0; MAX_UNIQUE],
            classes: vec![0; words],
            packed: vec![0; MAX_UNIQUE],
            class_rows: vec![0; MAX_UNIQUE + 1],
            class_weights: vec![0.0; MAX_UNIQUE + 1],
            credit: vec![0.0; self.stride],
            phi: vec![0.0; self.n_features],
            block: std::mem::take(&mut s.block),
        };
    }

    pub(crate) fn predict(&self, x: &[f64]) -> f64 {
        let total: f64 =
            self.roots.iter().map(|&root| self.steps[leaf_of(&self.steps, root as usize, x)].threshold).sum();
        total / self.roots.len() as f64
    }

    /// Adds the forest's SHAP values for `x` into `phi` (zeroed by the caller), averaged over
    /// trees and background rows. No allocation once `scratch` fits.
    pub(crate) fn shap_into(&self, x: &[f64], scratch: &mut InterventionalScratch, phi: &mut [f64]) {
        assert_eq!(x.len(), self.n_features, "rows are checked before they get here");
        self.fit_scratch(scratch);
        scratch.phi.fill(0.0);
        walk::trees(self, x, scratch);
        let scale = 1.0 / (self.roots.len() * self.n_background()) as f64;
        for (value, sum) in phi.iter_mut().zip(&scratch.phi) {
            *value += sum * scale;
        }
    }

    /// `shap_into` for each row of `xs` (at most `BLOCK_ROWS`) into `phis`, the same bits, from
    /// one scan of each tree for the whole block (`walk/block.rs`).
    pub(crate) fn shap_block(
        &self,
        xs: &[&[f64]],
        scratch: &mut InterventionalScratch,
        phis: &mut [&mut [f64]],
    ) {
        assert!(xs.iter().all(|x| x.len() == self.n_features), "rows are checked before they get here");
        assert_eq!(xs.len(), phis.len());
        self.fit_scratch(scratch);
        scratch.block.fit(self);
        let scale = 1.0 / (self.roots.len() * self.n_background()) as f64;
        for (xs, phis) in xs.chunks(BLOCK_ROWS).zip(phis.chunks_mut(BLOCK_ROWS)) {
            walk::block_rows(self, xs, scratch);
            for (phi, sums) in phis.iter_mut().zip(scratch.block.phi.chunks_exact(self.n_features)) {
                for (value, sum) in phi.iter_mut().zip(sums) {
                    *value += sum * scale;
                }
            }
        }
    }
}

/// Sets each internal step's `route` and returns the background's routing at every internal
/// node, `words` words a node (see `InterventionalForest::routes`).
///
/// Within a tree the rows take bits in the order of the leaves they reach (preorder), ties by
/// row: rows alive together at a deep leaf are mostly rows that reach leaves near it, so they
/// have neighbouring bits, and OR-ing a set's words packs them into one (`walk/leaf.rs`; 8.0 →
/// 7.4–7.7 ms a row, one thread, 200 rows, from the order alone). The counts do not depend on
/// which bit a row has, so neither do the values.
fn routes(
    steps: &mut [Step],
    roots: &[u32],
    background: &[f64],
    n_features: usize,
    words: usize,
) -> Vec<u64> {
    // Column by column, so a node reads its feature's values in a row.
    let n_rows = background.len() / n_features;
    let mut columns = vec![0.0; background.len()];
    for (r, z) in background.chunks_exact(n_features).enumerate() {
        for (j, &v) in z.iter().enumerate() {
            columns[j * n_rows + r] = v;
        }
    }
    let internal = steps.iter().filter(|s| s.right != LEAF).count();
    let mut routes = vec![0u64; internal * words];
    let mut next_route = 0;
    let mut ordered = vec![0.0; columns.len()];
    for (t, &root) in roots.iter().enumerate() {
        let (start, end) = (root as usize, roots.get(t + 1).map_or(steps.len(), |&r| r as usize));
        // The rows in the order of their leaves in this tree, column by column.
        let leaves: Vec<usize> =
            background.chunks_exact(n_features).map(|z| leaf_of(steps, start, z)).collect();
        let mut order: Vec<usize> = (0..n_rows).collect();
        order.sort_by_key(|&r| (leaves[r], r));
        for (column, values) in ordered.chunks_exact_mut(n_rows).zip(columns.chunks_exact(n_rows)) {
            for (value, &r) in column.iter_mut().zip(&order) {
                *value = values[r];
            }
        }
        for step in steps[start..end].iter_mut().filter(|s| s.right != LEAF) {
            step.route = next_route as u32;
            let route = &mut routes[next_route * words..][..words];
            let column = &ordered[step.feature as usize * n_rows..][..n_rows];
            for (word, values) in route.iter_mut().zip(column.chunks(64)) {
                let mut bits = 0;
                for (b, &v) in values.iter().enumerate() {
                    bits |= u64::from(step.goes_left(v)) << b;
                }
                *word = bits;
            }
            next_route += 1;
        }
    }
    routes
}

/// The step of the leaf `x` reaches from `n`.
fn leaf_of(steps: &[Step], mut n: usize, x: &[f64]) -> usize {
    while steps[n].right != LEAF {
        n = if steps[n].goes_left(x[steps[n].feature as usize]) { n + 1 } else { steps[n].right as usize };
    }
    n
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

/// Lays trees out in preorder, with each node's link to its parent.
struct Builder {
    steps: Vec<Step>,
    links: Vec<Link>,
    latest: Vec<u16>,
    /// Each feature's position on the current path (`u8::MAX` off it), how many there are,
    /// and the depth of each position's latest edge.
    position: Vec<u8>,
    edge_depth: Vec<u16>,
    n_path: usize,
    /// Most distinct features on a path, and the deepest node, over all trees.
    max_unique: usize,
    depth: usize,
}

impl Builder {
    /// Appends node `i` and its subtree in preorder; `link` says how its parent reaches it
    /// (`route` holding the parent's step until `routes` numbers the internal nodes).
    fn push_preorder(
        &mut self,
        tree: &Tree,
        i: usize,
        depth: usize,
        link: Link,
    ) -> std::result::Result<(), String> {
        if depth > super::path::MAX_DEPTH {
            return Err(format!("deeper than {}, which TreeSHAP supports", super::path::MAX_DEPTH));
        }
        self.depth = self.depth.max(depth);
        self.max_unique = self.max_unique.max(self.n_path);
        let node = &tree.nodes[i];
        let at = self.steps.len();
        // Past MAX_UNIQUE the positions no longer fit; `new` refuses such a forest.
        let n_path = self.n_path.min(MAX_UNIQUE) as u8;
        self.links.push(Link { depth: depth as u16, n_path, ..link });
        if node.is_leaf() {
            self.links[at].latest = self.latest.len() as u32;
            self.latest.extend_from_slice(&self.edge_depth[..n_path as usize]);
            self.steps.push(Step {
                threshold: node.value,
                feature: 0,
                right: LEAF,
                route: 0,
                nan_left: false,
            });
            self.links[at].end = self.steps.len() as u32;
            return Ok(());
        }
        let step = Step {
            threshold: node.threshold,
            feature: node.feature,
            right: 0,
            route: 0,
            nan_left: node.default_left,
        };
        self.steps.push(step);
        let f = node.feature as usize;
        let new = self.position[f] == u8::MAX;
        if new {
            self.position[f] = self.n_path.min(MAX_UNIQUE - 1) as u8;
            self.n_path += 1;
        }
        let k = self.position[f] as usize;
        let before = if new { u16::MAX } else { self.edge_depth[k] };
        let child = Link { route: at as u32, feature: node.feature, position: k as u8, before, ..link };
        // Depths fit a u16: MAX_DEPTH is checked above.
        self.edge_depth[k] = (depth + 1) as u16;
        self.push_preorder(tree, node.left as usize, depth + 1, Link { left: true, ..child })?;
        self.steps[at].right = self.steps.len() as u32;
        self.push_preorder(tree, node.right as usize, depth + 1, Link { left: false, ..child })?;
        self.edge_depth[k] = before;
        if new {
            self.position[f] = u8::MAX;
            self.n_path -= 1;
        }
        self.links[at].end = self.steps.len() as u32;
        Ok(())
    }
}

/// The same forest with the walk compiled for `isa`, without PEXT, to check every variant gives
/// the same bits.
#[cfg(test)]
pub(crate) fn with_isa(forest: &InterventionalForest, isa: Isa) -> InterventionalForest {
    InterventionalForest { isa, fast_extract: false, ..forest.clone() }
}

/// Every variant of the walk this CPU runs: each instruction set without PEXT and, beyond the
/// baseline (whose CPUs have BMI2, see `Isa::available`), with it.
#[cfg(test)]
pub(crate) fn variants(forest: &InterventionalForest) -> Vec<InterventionalForest> {
    let mut variants = Vec::new();
    for isa in Isa::available() {
        variants.push(with_isa(forest, isa));
        if isa != Isa::Baseline {
            variants.push(InterventionalForest { fast_extract: true, ..with_isa(forest, isa) });
        }
    }
    variants
}
